//! Finding input files: glob patterns, sorted, errors that name the pattern.

use std::path::{Path, PathBuf};

use rask_core::{Error, Result};

/// The files matching `pattern` (a path or a glob: `*`, `?`, `[..]`),
/// sorted by name; an error naming the pattern when none does.
pub(crate) fn expand(what: &str, pattern: &str) -> Result<Vec<PathBuf>> {
    let bad = |msg: String| Error::invalid(what, format!("{pattern}: {msg}"));
    let paths = glob::glob(pattern).map_err(|e| {
        bad(format!(
            "not a valid glob pattern ({e}); use *, ? and [..] in file names, as in data/*.csv"
        ))
    })?;
    let mut files: Vec<PathBuf> = paths
        .map(|p| p.map_err(|e| bad(format!("cannot list {}", e.path().display()))))
        .collect::<Result<_>>()?;
    files.retain(|p| !p.is_dir());
    files.sort_by(|a, b| natural_cmp(a, b));
    if files.is_empty() {
        return Err(bad(
            "no file matches it; check the path, the directory and the pattern".into(),
        ));
    }
    Ok(files)
}

/// The files under directory `dir`, at any depth, whose names end with
/// `.{ext}`, in [`natural_cmp`] order. Names that start with `.` or `_`
/// (temporary files, `_SUCCESS`, `_metadata`, `_temporary/`) are skipped,
/// as Dask and pyarrow skip them. An error naming the directory when there
/// is none.
pub(crate) fn walk(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    fn visit(d: &Path, ext: &str, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(d).map_err(|e| io(d, e))? {
            let entry = entry.map_err(|e| io(d, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                visit(&path, ext, out)?;
            } else if name.ends_with(&format!(".{ext}")) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(dir, ext, &mut out)?;
    out.sort_by(|a, b| natural_cmp(a, b));
    if out.is_empty() {
        return Err(Error::invalid(
            "parquet directory",
            format!(
                "{}: no .{ext} file in it or in its subdirectories; check the path",
                dir.display()
            ),
        ));
    }
    Ok(out)
}

/// Orders paths as people do: runs of digits compare as numbers, so
/// `part.2` comes before `part.10` (Dask's order of `part.{i}` files).
pub(crate) fn natural_cmp(a: &Path, b: &Path) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (sa, sb) = (a.to_string_lossy(), b.to_string_lossy());
    let (ca, cb) = (chunks(&sa), chunks(&sb));
    for ((da, xa), (db, xb)) in ca.iter().zip(&cb) {
        let o = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            xa.cmp(xb)
        };
        if o.is_ne() {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| sa.cmp(&sb))
}

/// An I/O error on `path`.
pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}

/// Writes partition `index` as `dir/part.{index}.{ext}` through a temporary
/// file in `dir` (named with `token`) that is renamed when complete and
/// removed on failure, so a failed write leaves nothing behind. `write`
/// encodes the frame into the file; the value is the number of rows.
pub(crate) fn write_part_file<R, E: std::fmt::Display>(
    dir: &std::path::Path,
    index: usize,
    ext: &str,
    token: &str,
    df: &mut polars::prelude::DataFrame,
    write: impl FnOnce(std::fs::File, &mut polars::prelude::DataFrame) -> std::result::Result<R, E>,
) -> std::result::Result<rask_core::Value, rask_core::TaskError> {
    let name = format!("part.{index}.{ext}");
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.{token}.tmp"));
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        let _ = std::fs::remove_file(&tmp);
        rask_core::TaskError::failed(format!("{}: {what}: {e}", path.display()))
    };
    let file = std::fs::File::create(&tmp).map_err(|e| fail("cannot create", &e))?;
    let rows = df.height() as u64;
    write(file, df).map_err(|e| fail("cannot write", &e))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail("cannot rename the temporary file", &e))?;
    Ok(rask_core::Value::new(rows))
}

/// The writes of every partition of a dataframe, as a collection: one task
/// per partition, `kernel(index)`, whose value is the rows it wrote; the
/// output is the total.
pub(crate) struct WriteParts<'a, F> {
    pub(crate) df: &'a crate::frame::DataFrame,
    /// Name of the write tasks' layer (`to_csv-…`).
    pub(crate) name: String,
    pub(crate) kernel: F,
}

impl<F: Fn(usize) -> rask_core::Op> rask_core::Collection for WriteParts<'_, F> {
    type Output = u64;
    fn add_to_graph(&self, b: &mut rask_core::GraphBuilder, outputs: &mut Vec<rask_core::Key>) {
        let parts = self.df.add_parts(b, 0..self.df.npartitions());
        for (i, p) in parts.into_iter().enumerate() {
            let k = crate::frame::part_key(&self.name, i);
            b.insert(k.clone(), (self.kernel)(i), [p]);
            outputs.push(k);
        }
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = rask_core::Value>) -> Result<u64> {
        Ok(values
            .take(self.df.npartitions())
            .map(|v| v.downcast_ref::<u64>().copied().unwrap_or(0))
            .sum())
    }
    fn validate(&self) -> Result<()> {
        self.df.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_names_sort_as_numbers() {
        let mut v: Vec<PathBuf> = [
            "d/part.10.parquet",
            "d/part.2.parquet",
            "d/part.1.parquet",
            "c/x",
            "d/part.02.parquet",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        v.sort_by(|a, b| natural_cmp(a, b));
        let got: Vec<String> = v.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(
            got,
            [
                "c/x",
                "d/part.1.parquet",
                "d/part.02.parquet",
                "d/part.2.parquet",
                "d/part.10.parquet"
            ]
        );
    }
}
