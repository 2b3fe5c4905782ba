//! Reading and writing Parquet.
//!
//! A read lists the files, reads each file's footer (row groups, their row
//! counts and uncompressed sizes) and makes partitions of about
//! `partition_size` bytes (uncompressed, 128 MiB by default, as Dask's
//! `blocksize`): consecutive row groups of a file are combined up to it,
//! and a row group larger than it is split into row ranges. With
//! `row_groups_per_partition` set, each partition is that many row groups
//! instead. A partition's task is one Polars lazy plan: a scan of
//! the file whose row range is the scan's own pre-slice (so Polars decodes
//! only the row groups in the range), then the dataframe's steps. Polars
//! optimizes the plan as a whole, so only the columns the steps need are
//! decoded (projection pushdown), and a `filter` reaches the scan as its
//! predicate (predicate pushdown), where Polars skips the row groups whose
//! statistics (min, max, null count) show that no row can pass. A slice
//! written as a `slice` step would stop the predicate (a filter cannot move
//! below a slice); the scan's pre-slice is applied before its predicate,
//! which is what a partition means.
//!
//! A write makes one file per partition, `part.{i}.parquet`, each written
//! under a temporary name in the same directory and renamed when complete,
//! so a failed write leaves no half file under a final name. With
//! `partition_on` it writes a hive-partitioned dataset instead (see
//! [`WriteParquet`] and the `hive` module): one file per partition in each
//! `key=value` directory it has rows for; a read restores the key columns
//! from the paths, and a filter on them drops whole files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::polars_utils::slice_enum::Slice;
use polars::prelude::{
    DataType, DslPlan, Expr, HiveOptions, LazyFrame, ParallelStrategy, ParquetReader,
    ParquetWriter, PlRefPath, PlSmallStr, ScanArgsParquet, Schema, SchemaExt, SchemaRef, SerReader,
    col,
};
use polars_parquet::parquet::metadata::RowGroupMetadata;
use rask_core::{Error, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::files;
use crate::frame::{DataFrame, Reader, Source, layer_name};
use crate::hive;
use crate::kernels::{Part, part_arg, polars_pool};
use crate::ranges::{Bounds, KeyRanges, ranged_dtype};
use crate::steps::{Step, apply_all};

/// Options of [`read_parquet`], as a builder.
#[derive(Clone, Debug)]
pub struct ReadParquet {
    pattern: String,
    row_groups_per_partition: Option<usize>,
    partition_size: Option<u64>,
    categorical: Vec<String>,
    hive: bool,
}

/// Reads the Parquet files matching `pattern` (a file, a glob, or a
/// directory: every `.parquet` file under it, at any depth), in partitions
/// of about 128 MiB of uncompressed data, never across files (see
/// [`ReadParquet::partition_size`]); `key=value` directories in the files' paths (a
/// hive-partitioned dataset, as [`WriteParquet::partition_on`] writes it)
/// become columns. See [`ReadParquet`] for options.
///
/// ```
/// # use rask_local as _;
/// use rask_dataframe::{self as dd, polars::prelude::*};
/// let dir = std::env::temp_dir().join(format!("rask-doc-read-hive-{}", std::process::id()));
/// let pl = df!("site" => ["A", "B", "A"], "v" => [1i64, 2, 3]).unwrap();
/// dd::WriteParquet::new(&dir).partition_on(["site"]).write(&dd::from_polars(pl, 2).unwrap()).unwrap();
/// let back = dd::read_parquet(dir.to_str().unwrap()).unwrap(); // dir/site=A/part.0.parquet, ...
/// assert_eq!(back.columns(), ["v", "site"]);
/// let a = back.filter(col("site").eq(lit("A")));
/// assert_eq!(a.npartitions(), 2); // the files under site=A only
/// assert_eq!(a.len().unwrap(), 2);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn read_parquet(pattern: impl AsRef<str>) -> Result<DataFrame> {
    ReadParquet::new(pattern).finish()
}

impl ReadParquet {
    /// Options for the files matching `pattern`.
    pub fn new(pattern: impl AsRef<str>) -> Self {
        ReadParquet {
            pattern: pattern.as_ref().to_string(),
            row_groups_per_partition: None,
            partition_size: None,
            categorical: Vec::new(),
            hive: true,
        }
    }

    /// Whether `key=value` directories between the dataset's base (the
    /// directory given, or a glob's part before its first wildcard) and
    /// the files become columns (default true). Their values are
    /// percent-decoded, `__HIVE_DEFAULT_PARTITION__` is null, and their
    /// type is inferred from all files' values: `Int64`, `Float64`,
    /// `Boolean`, else `String` (see [`ReadParquet::categorical`] for
    /// categoricals). They come after the files' columns. A filter on them
    /// right after the read drops whole files when the dataframe is
    /// planned (see [`DataFrame::filter`]).
    pub fn hive_partitioning(mut self, on: bool) -> Self {
        self.hive = on;
        self
    }

    /// How many consecutive row groups of a file make one partition,
    /// instead of [`ReadParquet::partition_size`].
    pub fn row_groups_per_partition(mut self, n: usize) -> Self {
        self.row_groups_per_partition = Some(n.max(1));
        self
    }

    /// The uncompressed bytes (as the files' footers give them) a partition
    /// holds, about: consecutive row groups of a file are combined up to
    /// it, and a larger row group is split into ranges of rows (default
    /// 128 MiB, Dask's `blocksize` for Parquet is 256 MiB; where
    /// `memory-limit` is set, at most a sixteenth of it per worker
    /// thread). Fewer, larger
    /// partitions cost less per row in every later step (a group-by
    /// combines fewer partial results); smaller ones hold less memory
    /// each.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let dir = std::env::temp_dir().join(format!("rask-doc-pq-size-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("x.parquet");
    /// let mut pl = df!("v" => (0..1000i64).collect::<Vec<_>>()).unwrap();
    /// ParquetWriter::new(std::fs::File::create(&path).unwrap())
    ///     .with_row_group_size(Some(100))
    ///     .finish(&mut pl)
    ///     .unwrap();
    /// let whole = dd::read_parquet(path.to_str().unwrap()).unwrap();
    /// assert_eq!(whole.npartitions(), 1); // 8 kB: one partition
    /// let small = dd::ReadParquet::new(path.to_str().unwrap())
    ///     .partition_size(2000)
    ///     .finish()
    ///     .unwrap();
    /// assert!(small.npartitions() >= 4);
    /// assert_eq!(small.len().unwrap(), 1000);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn partition_size(mut self, bytes: u64) -> Self {
        self.partition_size = Some(bytes.max(1));
        self
    }

    /// Reads string column `name` as a categorical whose categories are the
    /// same in every partition (see [`DataFrame::cast_categorical`]; the
    /// categories are found when [`ReadParquet::finish`] runs, reading only
    /// that column). For a hive partition column, the categories are its
    /// values in the paths (whatever they look like, numbers too), found
    /// without reading any data: what Dask gives for partition columns.
    pub fn categorical(mut self, name: impl Into<String>) -> Self {
        self.categorical.push(name.into());
        self
    }

    /// Lists the files, reads their footers and plans the partitions.
    pub fn finish(self) -> Result<DataFrame> {
        let dir = Path::new(&self.pattern);
        let paths = if dir.is_dir() {
            files::walk(dir, "parquet")?
        } else {
            files::expand("parquet pattern", &self.pattern)?
        };
        let partition_size = self.partition_size.unwrap_or_else(default_partition_size);
        let mut schema: Option<SchemaRef> = None;
        let mut parts = Vec::new();
        // Per column that can have ranges, its bounds in each partition
        // (`None` once a file does not tell).
        let mut bounds: Vec<(PlSmallStr, Option<Vec<Bounds>>)> = Vec::new();
        for (file, path) in paths.iter().enumerate() {
            let (file_schema, groups, ranged) = footer(path)?;
            if file == 0 {
                bounds = ranged
                    .iter()
                    .map(|c| (c.clone(), Some(Vec::new())))
                    .collect();
            }
            match &schema {
                None => schema = Some(Arc::new(file_schema)),
                Some(s) if !same_schema(s, &file_schema, &self.categorical) => {
                    return Err(Error::invalid(
                        "parquet files",
                        format!(
                            "{} has schema {} but {} has {}; read them separately and cast",
                            path.display(),
                            crate::frame::fmt_schema(&file_schema),
                            paths[0].display(),
                            crate::frame::fmt_schema(s)
                        ),
                    ));
                }
                Some(_) => {}
            }
            let mut offset = 0usize;
            let first = parts.len();
            if groups.is_empty() {
                parts.push(RowRange {
                    file,
                    offset: 0,
                    len: 0,
                });
            }
            let ranges = match self.row_groups_per_partition {
                Some(n) => groups
                    .chunks(n)
                    .map(|c| c.iter().map(|g| g.rows).sum())
                    .collect(),
                None => sized_ranges(&groups, partition_size),
            };
            for len in ranges {
                parts.push(RowRange { file, offset, len });
                offset += len;
            }
            // Where each row group ends, in rows of the file.
            let ends: Vec<usize> = groups
                .iter()
                .scan(0, |end, g| {
                    *end += g.rows;
                    Some(*end)
                })
                .collect();
            for (name, known) in &mut bounds {
                let column = ranged.iter().position(|c| c == name);
                *known = known.take().and_then(|mut v| {
                    for p in &parts[first..] {
                        v.push(part_bounds(&groups, &ends, column?, p.offset, p.len)?);
                    }
                    Some(v)
                });
            }
        }
        let file_schema = schema.expect("at least one file (expand never returns none)");
        let mut hive = match self.hive {
            true => hive::discover(&hive::base_of(&self.pattern), &paths)?,
            false => None,
        };
        let mut categorical = self.categorical.clone();
        let mut schema = (*file_schema).clone();
        if let Some(h) = &mut hive {
            categorical.retain(|c| !h.make_categorical(c));
            for c in &h.columns {
                if file_schema.contains(&c.name) {
                    return Err(Error::invalid(
                        "parquet files",
                        format!(
                            "column `{}` is both in the files ({}) and in their directories \
                             ({}=…); read with hive_partitioning(false), or rename one",
                            c.name,
                            paths[0].display(),
                            c.name
                        ),
                    ));
                }
                let dtype =
                    c.ty.dtype()
                        .map_err(|e| Error::invalid("parquet files", e.to_string()))?;
                schema.with_column(c.name.as_str().into(), dtype);
            }
        }
        let paths: Vec<String> = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let hive_columns = hive.as_ref().map(|h| h.columns.clone());
        let token = layer_name("read_parquet", &(&paths, &parts, &hive_columns), &[]);
        let ranges = bounds
            .into_iter()
            .filter_map(|(column, parts)| {
                Some(KeyRanges {
                    column,
                    parts: parts?.into(),
                })
            })
            .collect();
        let reader = ParquetSource {
            paths,
            parts,
            ranges,
            file_schema,
            schema: Arc::new(schema),
            hive: hive.map(Arc::new),
            token,
        };
        let df = DataFrame::from_source(Source::Read(Arc::new(reader)), None);
        if categorical.is_empty() {
            return Ok(df);
        }
        df.cast_categorical(&categorical)
    }
}

/// Whether two files' schemas agree, where a column in `categorical` may
/// be a string in one and a categorical (of other categories) in another:
/// it is cast to the categories of all files anyway.
fn same_schema(a: &Schema, b: &Schema, categorical: &[String]) -> bool {
    let stringy = |t: &DataType| {
        matches!(
            t,
            DataType::String | DataType::Categorical(..) | DataType::Enum(..)
        )
    };
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((na, ta), (nb, tb))| {
            na == nb
                && (ta == tb
                    || (categorical.iter().any(|c| c == na.as_str()) && stringy(ta) && stringy(tb)))
        })
}

/// The schema and the row counts of the row groups of a Parquet file.
/// The default of [`ReadParquet::partition_size`].
const DEFAULT_PARTITION_SIZE: u64 = 128 << 20;

/// [`DEFAULT_PARTITION_SIZE`], or less where a `memory-limit` is set: at
/// most [`Config::block_memory_share`](rask_config::Config::block_memory_share)
/// (a sixteenth of it per worker thread, as a rechunk's intermediate
/// blocks). With 128 MiB partitions, a `set_index` of 10 million rows
/// (about 600 MB in memory) under a 200 MiB limit peaked at 736 MB.
fn default_partition_size() -> u64 {
    rask_config::try_get()
        .ok()
        .and_then(|c| c.block_memory_share())
        .map_or(DEFAULT_PARTITION_SIZE, |share| {
            DEFAULT_PARTITION_SIZE.min(share)
        })
}

/// One row group of a file's footer.
#[derive(Clone, Debug)]
struct Group {
    rows: usize,
    /// Uncompressed bytes.
    bytes: u64,
    /// Per column of the file that can have ranges (see [`footer`]), the
    /// bounds of its values, where the statistics tell.
    bounds: Vec<Option<Bounds>>,
}

/// The row counts of a file's partitions of about `target` bytes each:
/// consecutive row groups combined while they fit, a row group over it cut
/// into equal row ranges. Every row is in exactly one range, in order.
fn sized_ranges(groups: &[Group], target: u64) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut rows, mut bytes) = (0usize, 0u64);
    for g in groups {
        if g.bytes > target {
            if rows > 0 {
                out.push(rows);
                (rows, bytes) = (0, 0);
            }
            let pieces = g.bytes.div_ceil(target).min(g.rows.max(1) as u64) as usize;
            let (each, extra) = (g.rows / pieces, g.rows % pieces);
            out.extend((0..pieces).map(|i| each + usize::from(i < extra)));
            continue;
        }
        if rows > 0 && bytes + g.bytes > target {
            out.push(rows);
            (rows, bytes) = (0, 0);
        }
        rows += g.rows;
        bytes += g.bytes;
    }
    if rows > 0 || out.is_empty() && !groups.is_empty() {
        out.push(rows);
    }
    out
}

fn footer(path: &Path) -> Result<(Schema, Vec<Group>, Vec<PlSmallStr>)> {
    let f = File::open(path).map_err(|e| files::io(path, e))?;
    let not_parquet = |e: polars::prelude::PolarsError| {
        Error::invalid(
            "parquet file",
            format!(
                "{}: not a readable Parquet file ({e}); check that it is Parquet and complete",
                path.display()
            ),
        )
    };
    let mut r = ParquetReader::new(f);
    let arrow = r.schema().map_err(not_parquet)?;
    let schema = Schema::from_arrow_schema(&arrow);
    let ranged: Vec<&str> = schema
        .iter()
        .filter(|(_, t)| ranged_dtype(t))
        .map(|(n, _)| n.as_str())
        .collect();
    let meta = r.get_metadata().map_err(not_parquet)?;
    let groups = meta
        .row_groups
        .iter()
        .map(|g| Group {
            rows: g.num_rows(),
            bytes: g.total_byte_size() as u64,
            bounds: ranged
                .iter()
                .map(|name| group_bounds(&meta.footer_buf, g, name))
                .collect(),
        })
        .collect();
    let ranged = ranged.into_iter().map(PlSmallStr::from).collect();
    Ok((schema, groups, ranged))
}

/// The bounds of column `name`'s values in row group `g`, from its
/// statistics: `None` when they are missing or not of an integer physical
/// type, `Some(None)` when every value is null.
fn group_bounds(footer: &[u8], g: &RowGroupMetadata, name: &str) -> Option<Bounds> {
    use polars_parquet::parquet::statistics::Statistics as S;
    let mut chunks = g.columns_under_root_iter(name)?;
    if chunks.len() != 1 {
        return None;
    }
    let stats = chunks.next()?.statistics(footer)?.ok()?;
    let (min, max, nulls) = match stats {
        S::Int32(p) => (
            p.min_value.map(i64::from),
            p.max_value.map(i64::from),
            p.null_count,
        ),
        S::Int64(p) => (p.min_value, p.max_value, p.null_count),
        _ => return None,
    };
    match (min, max) {
        (Some(lo), Some(hi)) if lo <= hi => Some(Some((lo, hi))),
        (None, None) if nulls == Some(g.num_rows() as i64) => Some(None),
        _ => None,
    }
}

/// The bounds of a column over the row groups of `groups` (ending at rows
/// `ends` of the file) that rows `offset..offset + len` of the file come
/// from; `None` when one of them does not tell. Only those groups are
/// visited.
fn part_bounds(
    groups: &[Group],
    ends: &[usize],
    column: usize,
    offset: usize,
    len: usize,
) -> Option<Bounds> {
    let mut out: Bounds = None;
    if len == 0 {
        return Some(out);
    }
    let first = ends.partition_point(|&end| end <= offset);
    for (g, end) in groups[first..].iter().zip(&ends[first..]) {
        if let Some((lo, hi)) = g.bounds[column]? {
            out = Some(match out {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        if *end >= offset + len {
            break;
        }
    }
    Some(out)
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct RowRange {
    file: usize,
    offset: usize,
    len: usize,
}

#[derive(Clone)]
struct ParquetSource {
    paths: Vec<String>,
    parts: Vec<RowRange>,
    /// The files' own columns.
    file_schema: SchemaRef,
    /// The files' columns, then the hive columns.
    schema: SchemaRef,
    hive: Option<Arc<hive::Hive>>,
    /// Bounds of integer columns per partition, from the statistics.
    ranges: Vec<KeyRanges>,
    token: Arc<str>,
}

impl Reader for ParquetSource {
    fn ranges(&self) -> Vec<KeyRanges> {
        self.ranges.clone()
    }
    fn npartitions(&self) -> usize {
        self.parts.len()
    }
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn token(&self) -> &str {
        &self.token
    }
    fn op(&self, i: usize, steps: &[Step], columns: Option<&[String]>) -> Op {
        Op::kernel(self.part(i, steps, columns))
    }
    fn scan(
        &self,
        i: usize,
        steps: &[Step],
        columns: Option<&[String]>,
    ) -> Option<ReadParquetPart> {
        Some(self.part(i, steps, columns))
    }
    fn prune(&self, steps: &[Step], predicate: &Expr) -> Option<Arc<dyn Reader>> {
        let hive = self.hive.as_ref()?;
        let keeps_hive_columns = steps.iter().all(|s| match s {
            Step::Filter(_) | Step::Head(_) | Step::Sort(_) => true,
            Step::WithColumns(e) => e.iter().all(|e| {
                hive::output_name(&e.0).is_some_and(|n| !hive.columns.iter().any(|c| c.name == n))
            }),
            Step::Select(_) | Step::GroupBy(..) => false,
        });
        if !keeps_hive_columns {
            return None;
        }
        let keep = hive.files_passing(predicate)?;
        let kept: Vec<usize> = (0..self.parts.len())
            .filter(|&i| keep[self.parts[i].file])
            .collect();
        if kept.len() == self.parts.len() {
            return None;
        }
        let mut parts: Vec<RowRange> = kept.iter().map(|&i| self.parts[i]).collect();
        let mut ranges: Vec<KeyRanges> = self
            .ranges
            .iter()
            .map(|r| KeyRanges {
                column: r.column.clone(),
                parts: kept.iter().map(|&i| r.parts[i]).collect(),
            })
            .collect();
        if parts.is_empty() {
            ranges.iter_mut().for_each(|r| r.parts = [None].into());
            // No file can match: one empty partition keeps the schema.
            parts.push(RowRange {
                file: self.parts[0].file,
                offset: 0,
                len: 0,
            });
        }
        let token = layer_name("read_parquet", &(&self.paths, &parts, &hive.columns), &[]);
        Some(Arc::new(ParquetSource {
            parts,
            ranges,
            token,
            ..self.clone()
        }))
    }
}

impl ParquetSource {
    /// The read of partition `i`: only `columns` (all when `None`), then
    /// `steps`.
    fn part(&self, i: usize, steps: &[Step], columns: Option<&[String]>) -> ReadParquetPart {
        let p = self.parts[i];
        let mut read = ReadParquetPart {
            path: self.paths[p.file].clone(),
            offset: p.offset,
            len: p.len,
            columns: columns.map(<[String]>::to_vec),
            hive: Vec::new(),
            output: None,
            steps: steps.to_vec(),
        };
        if let Some(h) = &self.hive {
            let wanted = |name: &str| columns.is_none_or(|c| c.iter().any(|c| c == name));
            read.hive = h
                .columns
                .iter()
                .zip(&h.values[p.file])
                .filter(|(c, _)| wanted(&c.name))
                .map(|(c, v)| (c.clone(), v.clone()))
                .collect();
            if let Some(c) = columns {
                let mut from_file: Vec<String> = c
                    .iter()
                    .filter(|n| self.file_schema.contains(n))
                    .cloned()
                    .collect();
                if from_file.len() < c.len() {
                    // Partition columns are added after the files' and the
                    // steps expect `c`'s order; with none of the files'
                    // columns, the first is read for the number of rows.
                    if from_file.is_empty()
                        && let Some(first) = self.file_schema.iter_names().next()
                    {
                        from_file.push(first.to_string());
                    }
                    read.output = Some(c.to_vec());
                }
                read.columns = Some(from_file);
            }
        }
        read
    }
}

/// Reads rows `offset..offset + len` of a Parquet file (only `columns`),
/// adds the file's partition columns (`hive`: values from its path), keeps
/// `output` (in that order) and runs the partition's steps on them.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ReadParquetPart {
    path: String,
    offset: usize,
    len: usize,
    columns: Option<Vec<String>>,
    hive: Vec<(hive::HiveColumn, Option<String>)>,
    output: Option<Vec<String>>,
    steps: Vec<Step>,
}

impl rask_core::Kernel for ReadParquetPart {
    const NAME: &'static str = "rask.dataframe.read_parquet";
    fn run(&self, _: &[Value]) -> std::result::Result<Value, TaskError> {
        self.check()?;
        let out = polars_pool(|| crate::kernels::collect(self.plan()?))
            .map_err(|e| TaskError::failed(format!("{}: {e}", self.path)))?;
        Ok(Part::value(out))
    }
}

impl ReadParquetPart {
    /// An error naming the file, when it cannot be opened.
    pub(crate) fn check(&self) -> std::result::Result<(), TaskError> {
        match File::open(&self.path) {
            Ok(_) => Ok(()),
            Err(e) => Err(TaskError::failed(format!(
                "{}: cannot open: {e}",
                self.path
            ))),
        }
    }

    /// The rows of the partition's range, before its steps.
    pub(crate) fn rows(&self) -> usize {
        self.len
    }

    /// The file this reads.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The partition's plan: a scan of its row range (the scan's
    /// pre-slice), the needed columns, then the steps (see the module
    /// docs).
    pub(crate) fn plan(&self) -> polars::prelude::PolarsResult<LazyFrame> {
        let args = ScanArgsParquet {
            parallel: ParallelStrategy::None,
            glob: false,
            hive_options: HiveOptions::new_disabled(),
            cache: false,
            ..Default::default()
        };
        let mut lf = LazyFrame::scan_parquet(PlRefPath::new(self.path.as_str()), args)?;
        match &mut lf.logical_plan {
            DslPlan::Scan {
                unified_scan_args, ..
            } => {
                unified_scan_args.pre_slice = Some(Slice::Positive {
                    offset: self.offset,
                    len: self.len,
                });
            }
            _ => polars::prelude::polars_bail!(ComputeError: "unexpected plan of a Parquet scan"),
        }
        if let Some(c) = &self.columns {
            lf = lf.select(c.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
        }
        if !self.hive.is_empty() {
            let values = self
                .hive
                .iter()
                .map(|(c, v)| Ok(c.ty.literal(v.as_deref())?.alias(c.name.as_str())))
                .collect::<polars::prelude::PolarsResult<Vec<_>>>()?;
            lf = lf.with_columns(values);
        }
        if let Some(c) = &self.output {
            lf = lf.select(c.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
        }
        Ok(apply_all(&self.steps, lf))
    }
}

/// Writes the partition in argument 0 to `dir/part.{index}.parquet`,
/// through a temporary file renamed when complete. Its value is the number
/// of rows written.
#[derive(Serialize, Deserialize)]
struct WriteParquetPart {
    dir: PathBuf,
    index: usize,
    token: String,
}

impl rask_core::Kernel for WriteParquetPart {
    const NAME: &'static str = "rask.dataframe.write_parquet";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let mut df = part_arg(args, 0)?.clone();
        files::write_part_file(
            &self.dir,
            self.index,
            "parquet",
            &self.token,
            &mut df,
            |file, df| polars_pool(|| ParquetWriter::new(file).set_parallel(false).finish(df)),
        )
    }
}

/// Writes the partition in argument 0 into hive directories under `dir`:
/// `dir/k1=v1/…/part.{index}.parquet` for each combination of the key
/// columns it has rows for, without those columns (see `hive::write_part`
/// for the all-or-nothing rule). Its value is the number of rows written.
#[derive(Serialize, Deserialize)]
struct WriteParquetHivePart {
    dir: PathBuf,
    index: usize,
    token: String,
    partition_on: Vec<String>,
}

impl rask_core::Kernel for WriteParquetHivePart {
    const NAME: &'static str = "rask.dataframe.write_parquet_hive";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let df = part_arg(args, 0)?;
        // The split by keys runs on Polars' pool too (see `kernels`).
        polars_pool(|| {
            hive::write_part(
                &self.dir,
                self.index,
                "parquet",
                &self.token,
                &self.partition_on,
                df,
                |file, df| ParquetWriter::new(file).set_parallel(false).finish(df),
            )
        })
    }
}

rask_core::register_kernel!(ReadParquetPart, WriteParquetPart, WriteParquetHivePart);

/// Options of a Parquet write, as a builder: [`WriteParquet::write`] runs
/// it.
///
/// Without [`WriteParquet::partition_on`], partition `i` becomes
/// `dir/part.{i}.parquet`. With it, the dataset is hive-partitioned as
/// Dask, pyarrow and Polars write it: the rows of partition `i` whose key
/// columns are `(A, x)` go to `dir/site=A/kind=x/part.{i}.parquet`, without
/// the key columns (they are in the path; [`read_parquet`] restores them).
/// Values are written as text (integers in decimal, booleans as
/// `true`/`false`, categoricals by category), percent-encoded as pyarrow
/// does (`/`, `=`, `%`, spaces, non-ASCII: `a/b` is `a%2Fb`); a null is
/// `__HIVE_DEFAULT_PARTITION__`.
///
/// Every file is written under a temporary name and renamed when complete.
/// A partition's files appear together or not at all: when one of them
/// fails, the task removes the others and the directories it created. The
/// files of partitions written before a failure stay (as with
/// [`DataFrame::to_csv`]). Files already in `dir` are not removed, and one
/// of the same name is replaced: write into a fresh directory.
///
/// ```
/// # use rask_local as _;
/// use rask_dataframe::{self as dd, polars::prelude::*};
/// let dir = std::env::temp_dir().join(format!("rask-doc-hive-{}", std::process::id()));
/// let pl = df!("site" => ["A", "B", "A"], "kind" => [1i64, 1, 2], "v" => [1.0, 2.0, 3.0]).unwrap();
/// let rows = dd::WriteParquet::new(&dir)
///     .partition_on(["site", "kind"])
///     .write(&dd::from_polars(pl, 1).unwrap())
///     .unwrap();
/// assert_eq!(rows, 3);
/// assert!(dir.join("site=A/kind=2/part.0.parquet").is_file());
/// let back = dd::read_parquet(dir.join("**/*.parquet").to_str().unwrap()).unwrap();
/// assert_eq!(back.columns(), ["v", "site", "kind"]);
/// assert_eq!(back.dtype("kind"), Some(&DataType::Int64));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct WriteParquet {
    dir: PathBuf,
    partition_on: Vec<String>,
}

impl WriteParquet {
    /// A write into directory `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        WriteParquet {
            dir: dir.as_ref().to_path_buf(),
            partition_on: Vec::new(),
        }
    }

    /// Partitions the files by the values of `columns` (string,
    /// categorical, integer or boolean columns), in hive directories
    /// `column=value`, outermost first (see [`WriteParquet`]).
    pub fn partition_on<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.partition_on = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        self
    }

    /// Writes `df`; returns the number of rows written.
    pub fn write(&self, df: &DataFrame) -> Result<u64> {
        self.write_with(df, &*rask_core::executor::current()?)
    }

    /// Like [`WriteParquet::write`], on `executor`.
    pub fn write_with(
        &self,
        df: &DataFrame,
        executor: &(impl rask_core::Executor + ?Sized),
    ) -> Result<u64> {
        df.check()?;
        hive::check_keys(&self.partition_on, df.schema())?;
        let dir = self.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| files::io(dir.clone(), e))?;
        let token = rask_core::fresh_token();
        let keys = self.partition_on.clone();
        let write = files::WriteParts {
            df,
            name: format!("to_parquet-{token}"),
            kernel: |index| {
                if keys.is_empty() {
                    Op::kernel(WriteParquetPart {
                        dir: dir.clone(),
                        index,
                        token: token.clone(),
                    })
                } else {
                    Op::kernel(WriteParquetHivePart {
                        dir: dir.clone(),
                        index,
                        token: token.clone(),
                        partition_on: keys.clone(),
                    })
                }
            },
        };
        let out = rask_core::compute::compute_with(&write, executor);
        if out.is_err() {
            // A task that died mid-write (a killed worker) could not
            // remove its temporary files.
            hive::remove_temporaries(&dir, &token);
        }
        out
    }
}

impl DataFrame {
    /// Writes one Parquet file per partition into directory `dir`
    /// (created if missing), named `part.{i}.parquet`. Each file is written
    /// under a temporary name and renamed when complete. For hive
    /// partitioning (`partition_on`), use [`WriteParquet`].
    pub fn to_parquet(&self, dir: impl AsRef<Path>) -> Result<()> {
        WriteParquet::new(dir).write(self).map(|_| ())
    }

    /// Like [`DataFrame::to_parquet`], on `executor`.
    pub fn to_parquet_with(
        &self,
        dir: impl AsRef<Path>,
        executor: &(impl rask_core::Executor + ?Sized),
    ) -> Result<()> {
        WriteParquet::new(dir)
            .write_with(self, executor)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partitions_bounds_join_those_of_its_row_groups() {
        // Rows 0..10, 10..20, 20..30; the middle group is all null, and a
        // second column's last group has no statistics.
        let g = |rows, a: Option<Bounds>, b: Option<Bounds>| Group {
            rows,
            bytes: 0,
            bounds: vec![a, b],
        };
        let groups = [
            g(10, Some(Some((1, 5))), Some(Some((0, 0)))),
            g(10, Some(None), Some(Some((0, 0)))),
            g(10, Some(Some((7, 9))), None),
        ];
        let ends = [10, 20, 30];
        let at = |column, offset, len| part_bounds(&groups, &ends, column, offset, len);
        assert_eq!(at(0, 0, 30), Some(Some((1, 9))));
        // Part of a group gets the whole group's bounds.
        assert_eq!(at(0, 5, 3), Some(Some((1, 5))));
        assert_eq!(at(0, 10, 10), Some(None));
        assert_eq!(at(0, 15, 10), Some(Some((7, 9))));
        assert_eq!(at(0, 12, 0), Some(None));
        // A group that does not tell makes the partition's bounds unknown,
        // but only for the partitions that read it.
        assert_eq!(at(1, 0, 20), Some(Some((0, 0))));
        assert_eq!(at(1, 15, 10), None);
    }

    #[test]
    fn sized_ranges_combine_small_groups_and_split_large_ones() {
        let g = |rows, bytes| Group {
            rows,
            bytes,
            bounds: Vec::new(),
        };
        // Combined while they fit.
        assert_eq!(
            sized_ranges(&[g(10, 40), g(10, 40), g(10, 40)], 100),
            [20, 10]
        );
        assert_eq!(sized_ranges(&[g(10, 40), g(10, 40)], 80), [20]);
        // A large group alone, cut into equal ranges; neighbours flushed.
        assert_eq!(
            sized_ranges(&[g(10, 40), g(10, 250), g(5, 10)], 100),
            [10, 4, 3, 3, 5]
        );
        // Never more pieces than rows; empty groups keep one range.
        assert_eq!(sized_ranges(&[g(2, 1000)], 1), [1, 1]);
        assert_eq!(sized_ranges(&[g(0, 0)], 100), [0]);
        assert!(sized_ranges(&[], 100).is_empty());
        // Every row exactly once.
        for target in 1..300u64 {
            let groups = [g(7, 90), g(0, 0), g(13, 260), g(1, 5), g(30, 31)];
            let got = sized_ranges(&groups, target);
            assert_eq!(got.iter().sum::<usize>(), 51, "{target}");
        }
    }
}
