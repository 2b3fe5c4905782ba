//! Hive-style partitioned Parquet datasets: `dir/key=value/…/part.{i}.parquet`.
//!
//! **Layout.** A write with `partition_on(["site", "kind"])` puts the rows
//! of input partition `i` whose keys are `(A, x)` into
//! `dir/site=A/kind=x/part.{i}.parquet`, without the key columns (they are
//! in the path). That is the layout Dask, pyarrow (`write_to_dataset`) and
//! Polars (`partition_by`) write and read.
//!
//! **Values in paths.** A value is written as its string form (integers in
//! decimal, booleans `true`/`false`, categoricals by their category) and
//! percent-encoded as pyarrow does: every byte other than `A-Z a-z 0-9 - _
//! . ~` becomes `%XX`, so `/`, `=`, `%`, spaces and non-ASCII text can
//! never break the path; a null is `__HIVE_DEFAULT_PARTITION__`; an empty
//! string is the empty segment `key=` (pyarrow and Polars read it back as
//! an empty string, and so does rask).
//!
//! **Reading.** The directories between the dataset's base (the directory
//! given, or the part of a glob before its first wildcard) and a file that
//! have the form `key=value` give the file's values of the partition
//! columns. They become columns after the files' own columns, with a type
//! inferred from every file's value: `Int64` when all parse as integers,
//! `Float64` when all parse as numbers, `Boolean` when all are
//! `true`/`false`, `String` otherwise (what Polars infers; Dask gives
//! categoricals, which `ReadParquet::categorical` gives here, with the
//! categories taken from the paths without reading any data).
//!
//! **Pruning.** A filter on partition columns only, directly after the
//! read, is evaluated on the files' path values when the dataframe is
//! planned: files that cannot have a matching row are not partitions at
//! all (see `prune`).

use std::path::{Component, Path, PathBuf};

use polars::prelude::{
    BooleanFunction, Column, DataFrame as PlFrame, DataType, Expr, FrozenCategories, FunctionExpr,
    IntoLazy, NULL, PolarsResult, lit,
};
use rask_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::kernels::strings_in_one_chunk;

/// The path segment value of a null key (Hive's, pyarrow's and Polars').
pub(crate) const NULL_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// `value` percent-encoded for a path segment: every byte except
/// `A-Z a-z 0-9 - _ . ~` becomes `%XX` (upper-case hex), as pyarrow's
/// default (URI) segment encoding does.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value a segment encodes: `%XX` sequences decoded (others kept as
/// they are), `__HIVE_DEFAULT_PARTITION__` as null.
pub(crate) fn unescape(segment: &str) -> Option<String> {
    if segment == NULL_VALUE {
        return None;
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let b = hi * 16 + lo;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The directory `key=value` for `value` (null: the default partition).
pub(crate) fn segment(key: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{}={}", escape(key), escape(v)),
        None => format!("{}={NULL_VALUE}", escape(key)),
    }
}

/// Checks that the columns `keys` exist in `schema` and have a type a path
/// can hold (strings, categoricals, integers, booleans).
pub(crate) fn check_keys(keys: &[String], schema: &polars::prelude::Schema) -> Result<()> {
    let what = "to_parquet partition_on";
    let fmt = crate::frame::fmt_schema(schema);
    let mut seen = std::collections::HashSet::new();
    for k in keys {
        if !schema.contains(k) {
            return Err(Error::invalid(
                what,
                format!(
                    "there is no column `{k}` to partition on; the dataframe's schema is {fmt}"
                ),
            ));
        }
        if !seen.insert(k) {
            return Err(Error::invalid(
                what,
                format!("column `{k}` is named twice; name each column once"),
            ));
        }
    }
    if !keys.is_empty() && keys.len() == schema.len() {
        return Err(Error::invalid(
            what,
            format!(
                "partitioning on every column ({}) leaves no column to write in the files; \
                 keep at least one column out of partition_on",
                keys.join(", ")
            ),
        ));
    }
    for (k, t) in keys.iter().filter_map(|k| Some((k, schema.get(k)?))) {
        if !key_type_ok(t) {
            return Err(Error::invalid(
                what,
                format!(
                    "column `{k}` is {t}; partition_on takes string, categorical, integer \
                     and boolean columns (cast it first, e.g. to String)"
                ),
            ));
        }
    }
    Ok(())
}

fn key_type_ok(t: &DataType) -> bool {
    matches!(
        t,
        DataType::String
            | DataType::Categorical(..)
            | DataType::Enum(..)
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

/// Splits `df` by the values of columns `keys`: for each combination, in
/// order of first appearance, the relative directory
/// (`k1=v1/k2=v2`) and the rows, without the key columns.
pub(crate) fn split(df: &PlFrame, keys: &[String]) -> PolarsResult<Vec<(PathBuf, PlFrame)>> {
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let strings: Vec<Column> = keys
        .iter()
        .map(|k| df.column(k.as_str())?.cast(&DataType::String))
        .collect::<PolarsResult<_>>()?;
    let rest = df.drop_many(keys.iter().map(String::as_str));
    // Each group gathers its rows: from string columns of one chunk.
    let rest = strings_in_one_chunk(&rest)?;
    let gb = df.group_by_stable(keys.iter().map(String::as_str))?;
    let mut out = Vec::new();
    for group in gb.get_groups().iter() {
        use polars::prelude::GroupsIndicator;
        let (first, rows) = match group {
            GroupsIndicator::Idx((first, idx)) => {
                let idx = polars::prelude::IdxCa::from_vec("".into(), idx.to_vec());
                (first as usize, rest.take(&idx)?)
            }
            GroupsIndicator::Slice([first, len]) => {
                (first as usize, rest.slice(first as i64, len as usize))
            }
        };
        let mut dir = PathBuf::new();
        for (k, s) in keys.iter().zip(&strings) {
            let v = s.str()?.get(first);
            dir.push(segment(k, v));
        }
        out.push((dir, rows));
    }
    Ok(out)
}

/// Writes the rows of partition `index` into `dir/k1=v1/…/part.{index}.{ext}`,
/// one file per combination of the `keys` it has rows for, without the key
/// columns. All or nothing: every file is first written under a temporary
/// name (`.part.{index}.{ext}.{token}.tmp`) in its directory, and renamed
/// once all are complete; on any failure this task's temporary files, the
/// files it already renamed and the directories it created (when empty)
/// are removed. The value is the number of rows written.
pub(crate) fn write_part<R, E: std::fmt::Display>(
    dir: &Path,
    index: usize,
    ext: &str,
    token: &str,
    keys: &[String],
    df: &PlFrame,
    mut write: impl FnMut(std::fs::File, &mut PlFrame) -> std::result::Result<R, E>,
) -> std::result::Result<rask_core::Value, rask_core::TaskError> {
    let name = format!("part.{index}.{ext}");
    let mut done = Written::default();
    let fail = |done: &mut Written, what: String| {
        done.undo();
        rask_core::TaskError::failed(what)
    };
    let groups = split(df, keys).map_err(|e| {
        rask_core::TaskError::failed(format!(
            "{}: cannot split partition {index} by {}: {e}",
            dir.display(),
            keys.join(", ")
        ))
    })?;
    for (rel, mut rows) in groups {
        let sub = dir.join(&rel);
        let path = sub.join(&name);
        let tmp = sub.join(format!(".{name}.{token}.tmp"));
        let file = match done.create(dir, &rel, &tmp) {
            Ok(f) => f,
            Err(e) => {
                return Err(fail(
                    &mut done,
                    format!("{}: cannot create: {e}", tmp.display()),
                ));
            }
        };
        done.temps.push((tmp, path.clone()));
        if let Err(e) = write(file, &mut rows) {
            return Err(fail(
                &mut done,
                format!("{}: cannot write: {e}", path.display()),
            ));
        }
    }
    let temps = std::mem::take(&mut done.temps);
    for (i, (tmp, path)) in temps.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            done.temps = temps[i..].to_vec();
            return Err(fail(
                &mut done,
                format!("{}: cannot rename the temporary file: {e}", path.display()),
            ));
        }
        done.renamed.push(path.clone());
    }
    Ok(rask_core::Value::new(df.height() as u64))
}

/// What a write task made so far, to undo on failure.
#[derive(Default)]
struct Written {
    /// Directories it created, outermost first.
    dirs: Vec<PathBuf>,
    /// Temporary files and their final names.
    temps: Vec<(PathBuf, PathBuf)>,
    /// Final files it renamed into place.
    renamed: Vec<PathBuf>,
}

impl Written {
    /// Creates the directories of `dir/rel` that are missing (remembering
    /// them), then `file`. Another task may remove an empty directory it
    /// made between the two steps; then both are tried once more.
    fn create(&mut self, dir: &Path, rel: &Path, file: &Path) -> std::io::Result<std::fs::File> {
        let mut retried = false;
        loop {
            let mut d = dir.to_path_buf();
            for c in rel.components() {
                d.push(c);
                match std::fs::create_dir(&d) {
                    Ok(()) => self.dirs.push(d.clone()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            match std::fs::File::create(file) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !retried => retried = true,
                r => return r,
            }
        }
    }

    fn undo(&mut self) {
        for (tmp, _) in self.temps.drain(..) {
            let _ = std::fs::remove_file(tmp);
        }
        for f in self.renamed.drain(..) {
            let _ = std::fs::remove_file(f);
        }
        // Innermost first; a directory another task wrote into stays.
        for d in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Removes the temporary files of write `token` left anywhere under `dir`
/// (by a task that could not clean up after itself: a killed worker).
pub(crate) fn remove_temporaries(dir: &Path, token: &str) {
    let suffix = format!(".{token}.tmp");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_temporaries(&path, token);
        } else if entry.file_name().to_string_lossy().ends_with(&suffix) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The type of a partition column read back from paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum HiveType {
    Int64,
    Float64,
    Boolean,
    String,
    /// A categorical of these categories (sorted).
    Enum(Vec<String>),
}

impl HiveType {
    /// The type that fits every one of `values` (see the module docs).
    pub(crate) fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> HiveType {
        let mut any = values.clone().peekable();
        if any.peek().is_none() {
            return HiveType::String;
        }
        if values.clone().all(|v| v.parse::<i64>().is_ok()) {
            HiveType::Int64
        } else if values.clone().all(|v| {
            v.parse::<f64>().is_ok() && !v.is_empty() && v.bytes().any(|b| b.is_ascii_digit())
        }) {
            HiveType::Float64
        } else if values.clone().all(|v| v == "true" || v == "false") {
            HiveType::Boolean
        } else {
            HiveType::String
        }
    }

    /// The Polars type.
    pub(crate) fn dtype(&self) -> PolarsResult<DataType> {
        Ok(match self {
            HiveType::Int64 => DataType::Int64,
            HiveType::Float64 => DataType::Float64,
            HiveType::Boolean => DataType::Boolean,
            HiveType::String => DataType::String,
            HiveType::Enum(cats) => DataType::from_frozen_categories(FrozenCategories::new(
                cats.iter().map(String::as_str),
            )?),
        })
    }

    /// `value` (from a path) as a literal of this type.
    pub(crate) fn literal(&self, value: Option<&str>) -> PolarsResult<Expr> {
        let Some(v) = value else {
            return Ok(lit(NULL).cast(self.dtype()?));
        };
        let bad = || polars::prelude::polars_err!(ComputeError: "partition value `{v}` is not a {self:?}");
        // Cast, since an untyped literal (an integer) takes the smallest
        // type that fits.
        Ok(match self {
            HiveType::Int64 => lit(v.parse::<i64>().map_err(|_| bad())?),
            HiveType::Float64 => lit(v.parse::<f64>().map_err(|_| bad())?),
            HiveType::Boolean => lit(v == "true"),
            HiveType::String | HiveType::Enum(_) => lit(v),
        }
        .cast(self.dtype()?))
    }
}

/// A partition column read from paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HiveColumn {
    pub name: String,
    pub ty: HiveType,
}

/// The partition columns of a set of files and each file's values.
#[derive(Clone, Debug)]
pub(crate) struct Hive {
    pub columns: Vec<HiveColumn>,
    /// Per file, per column.
    pub values: Vec<Vec<Option<String>>>,
}

/// The directory a pattern's files are under before any wildcard: a
/// directory itself, or the components of a glob before the first one with
/// `*`, `?` or `[`.
pub(crate) fn base_of(pattern: &str) -> PathBuf {
    let p = Path::new(pattern);
    if p.is_dir() {
        return p.to_path_buf();
    }
    let mut base = PathBuf::new();
    let comps: Vec<Component<'_>> = p.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[']) || i + 1 == comps.len() {
            break;
        }
        base.push(c);
    }
    base
}

/// The `key=value` directories of each of `files` below `base`: `None`
/// when no file has any; an error naming two files whose keys differ.
pub(crate) fn discover(base: &Path, files: &[PathBuf]) -> Result<Option<Hive>> {
    let mut keys_of_first: Option<(Vec<String>, &PathBuf)> = None;
    let mut values = Vec::with_capacity(files.len());
    for f in files {
        let rel = f.strip_prefix(base).unwrap_or(f);
        let mut keys = Vec::new();
        let mut vals = Vec::new();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                let Component::Normal(s) = c else { continue };
                let s = s.to_string_lossy();
                if let Some((k, v)) = s.split_once('=') {
                    keys.push(unescape(k).unwrap_or_default());
                    vals.push(unescape(v));
                }
            }
        }
        match &keys_of_first {
            None => keys_of_first = Some((keys, f)),
            Some((first, path)) if *first != keys => {
                return Err(Error::invalid(
                    "parquet files",
                    format!(
                        "{} is under partition directories [{}] but {} is under [{}]; \
                         a hive-partitioned dataset has the same keys, in the same order, \
                         above every file (read the parts separately, or turn hive \
                         partitioning off)",
                        f.display(),
                        keys.join(", "),
                        path.display(),
                        first.join(", ")
                    ),
                ));
            }
            Some(_) => {}
        }
        values.push(vals);
    }
    let Some((keys, _)) = keys_of_first else {
        return Ok(None);
    };
    if keys.is_empty() {
        return Ok(None);
    }
    let columns = keys
        .into_iter()
        .enumerate()
        .map(|(j, name)| HiveColumn {
            name,
            ty: HiveType::infer(
                values
                    .iter()
                    .filter_map(|v: &Vec<Option<String>>| v[j].as_deref()),
            ),
        })
        .collect();
    Ok(Some(Hive { columns, values }))
}

impl Hive {
    /// Makes column `name` a categorical whose categories are its sorted
    /// distinct (non-null) path values; false if it is not a partition
    /// column.
    pub(crate) fn make_categorical(&mut self, name: &str) -> bool {
        let Some(j) = self.columns.iter().position(|c| c.name == name) else {
            return false;
        };
        let mut cats: Vec<String> = self.values.iter().filter_map(|v| v[j].clone()).collect();
        cats.sort_unstable();
        cats.dedup();
        self.columns[j].ty = HiveType::Enum(cats);
        true
    }

    /// The files (by index) that can hold a row passing `predicate`,
    /// judging by the conjuncts of `predicate` that read partition columns
    /// only, with elementwise operations (comparisons, boolean logic,
    /// casts, null tests); `None` when no conjunct can be judged that way.
    pub(crate) fn files_passing(&self, predicate: &Expr) -> Option<Vec<bool>> {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        let mut usable = Vec::new();
        conjuncts(predicate, &mut |e| {
            let mut roots = Vec::new();
            if elementwise(e, &mut roots)
                && !roots.is_empty()
                && roots.iter().all(|r| names.contains(r))
            {
                usable.push(e.clone());
            }
        });
        if usable.is_empty() {
            return None;
        }
        let frame = self.frame().ok()?;
        let exprs: Vec<Expr> = usable
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.alias(format!("c{i}")))
            .collect();
        let out = frame.lazy().select(exprs).collect().ok()?;
        if out.height() != self.values.len() {
            return None;
        }
        let mut keep = vec![true; self.values.len()];
        for c in out.columns() {
            let b = c.bool().ok()?;
            for (k, v) in keep.iter_mut().zip(b.iter()) {
                *k &= v == Some(true);
            }
        }
        Some(keep)
    }

    /// One row per file of its partition values, typed.
    fn frame(&self) -> PolarsResult<PlFrame> {
        let cols = self
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let s: Vec<Option<&str>> = self.values.iter().map(|v| v[j].as_deref()).collect();
                let col = Column::new(c.name.as_str().into(), s);
                match c.ty {
                    HiveType::Boolean => {
                        let b: Vec<Option<bool>> = self
                            .values
                            .iter()
                            .map(|v| v[j].as_deref().map(|x| x == "true"))
                            .collect();
                        Ok(Column::new(c.name.as_str().into(), b))
                    }
                    _ => col.cast(&c.ty.dtype()?),
                }
            })
            .collect::<PolarsResult<Vec<_>>>()?;
        PlFrame::new_infer_height(cols)
    }
}

/// Calls `f` on each conjunct of `e` (the operands of top-level `&`s).
fn conjuncts(e: &Expr, f: &mut impl FnMut(&Expr)) {
    match e {
        Expr::BinaryExpr {
            left,
            op: polars::prelude::Operator::And | polars::prelude::Operator::LogicalAnd,
            right,
        } => {
            conjuncts(left, f);
            conjuncts(right, f);
        }
        _ => f(e),
    }
}

/// Whether `e` computes each row from that row alone, built from a few
/// operations known to (so evaluating it on one row per file gives what
/// it gives on the file's rows); collects the columns it reads in `roots`.
fn elementwise<'a>(e: &'a Expr, roots: &mut Vec<&'a str>) -> bool {
    match e {
        Expr::Column(name) => {
            roots.push(name.as_str());
            true
        }
        Expr::Literal(l) => l.is_scalar(),
        Expr::Alias(e, _) | Expr::KeepName(e) => elementwise(e, roots),
        Expr::Cast { expr, .. } => elementwise(expr, roots),
        Expr::BinaryExpr { left, right, .. } => {
            elementwise(left, roots) && elementwise(right, roots)
        }
        Expr::Ternary {
            predicate,
            truthy,
            falsy,
        } => {
            elementwise(predicate, roots) && elementwise(truthy, roots) && elementwise(falsy, roots)
        }
        Expr::Function { input, function } => {
            matches!(
                function,
                FunctionExpr::Boolean(
                    BooleanFunction::IsNull | BooleanFunction::IsNotNull | BooleanFunction::Not
                )
            ) && input.iter().all(|e| elementwise(e, roots))
        }
        _ => false,
    }
}

/// The name of the column `e` makes, by Polars' rule (an alias, else the
/// leftmost input's name), when it is easy to tell.
pub(crate) fn output_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Alias(_, name) => Some(name.as_str()),
        Expr::Column(name) => Some(name.as_str()),
        Expr::KeepName(e) => output_name(e),
        Expr::Cast { expr, .. } => output_name(expr),
        Expr::BinaryExpr { left, .. } => output_name(left),
        Expr::Ternary { truthy, .. } => output_name(truthy),
        Expr::Function { input, .. } => input.first().and_then(output_name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_matches_pyarrow() {
        for (v, want) in [
            ("A", "A"),
            ("a/b", "a%2Fb"),
            ("x=y", "x%3Dy"),
            ("sp ace", "sp%20ace"),
            ("ü%", "%C3%BC%25"),
            (".", "."),
            ("", ""),
            ("-_.~", "-_.~"),
        ] {
            assert_eq!(escape(v), want);
            assert_eq!(unescape(want).as_deref(), Some(v));
        }
        assert_eq!(segment("k", None), "k=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(unescape(NULL_VALUE), None);
        // A stray percent sign (a directory made by hand) is kept.
        assert_eq!(unescape("50%").as_deref(), Some("50%"));
        assert_eq!(unescape("%zz").as_deref(), Some("%zz"));
        assert_eq!(unescape("%ü%4").as_deref(), Some("%ü%4"));
        // Bytes that are not UTF-8 once decoded are replaced, not a panic.
        assert_eq!(unescape("%FF").as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn a_write_s_leftover_temporaries_are_swept() {
        let dir = std::env::temp_dir().join(format!("rask-hive-sweep-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("k=a")).unwrap();
        for f in [
            ".part.0.parquet.tok1.tmp",
            ".part.1.parquet.tok2.tmp",
            "part.0.parquet",
        ] {
            std::fs::write(dir.join("k=a").join(f), b"x").unwrap();
        }
        remove_temporaries(&dir, "tok1");
        let mut left: Vec<String> = std::fs::read_dir(dir.join("k=a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".part.1.parquet.tok2.tmp", "part.0.parquet"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn types_are_inferred_from_every_value() {
        let t = |v: &[&str]| HiveType::infer(v.iter().copied());
        assert_eq!(t(&["1", "-20"]), HiveType::Int64);
        assert_eq!(t(&["1", "2.5"]), HiveType::Float64);
        assert_eq!(t(&["true", "false"]), HiveType::Boolean);
        assert_eq!(t(&["1", "x"]), HiveType::String);
        assert_eq!(t(&["inf"]), HiveType::String);
        assert_eq!(t(&[]), HiveType::String);
    }

    #[test]
    fn bases_stop_at_the_first_wildcard() {
        assert_eq!(base_of("d/**/*.parquet"), PathBuf::from("d"));
        assert_eq!(base_of("d/site=A/*.parquet"), PathBuf::from("d/site=A"));
        assert_eq!(base_of("d/x.parquet"), PathBuf::from("d"));
    }
}
