//! Reading and writing Parquet.
//!
//! A read lists the files, reads each file's footer (row groups and their
//! row counts) and makes one partition per `row_groups_per_partition` row
//! groups of a file. A partition's task is one Polars lazy plan: a scan of
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
//! so a failed write leaves no half file under a final name.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::polars_utils::slice_enum::Slice;
use polars::prelude::{
    DataType, DslPlan, HiveOptions, LazyFrame, ParallelStrategy, ParquetReader, ParquetWriter,
    PlRefPath, ScanArgsParquet, Schema, SchemaExt, SchemaRef, SerReader, col,
};
use rask_core::{Error, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::files;
use crate::frame::{DataFrame, Reader, Source, layer_name};
use crate::kernels::{Part, part_arg, polars_pool};
use crate::steps::{Step, apply_all};

/// Options of [`read_parquet`], as a builder.
#[derive(Clone, Debug)]
pub struct ReadParquet {
    pattern: String,
    row_groups_per_partition: usize,
    categorical: Vec<String>,
}

/// Reads the Parquet files matching `pattern` (a path or a glob), one
/// partition per row group; see [`ReadParquet`] for options.
pub fn read_parquet(pattern: impl AsRef<str>) -> Result<DataFrame> {
    ReadParquet::new(pattern).finish()
}

impl ReadParquet {
    /// Options for the files matching `pattern`.
    pub fn new(pattern: impl AsRef<str>) -> Self {
        ReadParquet {
            pattern: pattern.as_ref().to_string(),
            row_groups_per_partition: 1,
            categorical: Vec::new(),
        }
    }

    /// How many consecutive row groups of a file make one partition
    /// (default 1).
    pub fn row_groups_per_partition(mut self, n: usize) -> Self {
        self.row_groups_per_partition = n.max(1);
        self
    }

    /// Reads string column `name` as a categorical whose categories are the
    /// same in every partition (see [`DataFrame::cast_categorical`]; the
    /// categories are found when [`ReadParquet::finish`] runs, reading only
    /// that column).
    pub fn categorical(mut self, name: impl Into<String>) -> Self {
        self.categorical.push(name.into());
        self
    }

    /// Lists the files, reads their footers and plans the partitions.
    pub fn finish(self) -> Result<DataFrame> {
        let paths = files::expand("parquet pattern", &self.pattern)?;
        let mut schema: Option<SchemaRef> = None;
        let mut parts = Vec::new();
        for (file, path) in paths.iter().enumerate() {
            let (file_schema, groups) = footer(path)?;
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
            if groups.is_empty() {
                parts.push(RowRange {
                    file,
                    offset: 0,
                    len: 0,
                });
            }
            for chunk in groups.chunks(self.row_groups_per_partition) {
                let len: usize = chunk.iter().sum();
                parts.push(RowRange { file, offset, len });
                offset += len;
            }
        }
        let schema = schema.expect("at least one file (expand never returns none)");
        let paths: Vec<String> = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let token = layer_name("read_parquet", &(&paths, &parts), &[]);
        let reader = ParquetSource {
            paths,
            parts,
            schema,
            token,
        };
        let df = DataFrame::from_source(Source::Read(Arc::new(reader)), None);
        if self.categorical.is_empty() {
            return Ok(df);
        }
        df.cast_categorical(&self.categorical)
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
fn footer(path: &Path) -> Result<(Schema, Vec<usize>)> {
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
    let groups = r
        .get_metadata()
        .map_err(not_parquet)?
        .row_groups
        .iter()
        .map(|g| g.num_rows())
        .collect();
    Ok((Schema::from_arrow_schema(&arrow), groups))
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct RowRange {
    file: usize,
    offset: usize,
    len: usize,
}

struct ParquetSource {
    paths: Vec<String>,
    parts: Vec<RowRange>,
    schema: SchemaRef,
    token: Arc<str>,
}

impl Reader for ParquetSource {
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
        let p = self.parts[i];
        Op::kernel(ReadParquetPart {
            path: self.paths[p.file].clone(),
            offset: p.offset,
            len: p.len,
            columns: columns.map(<[String]>::to_vec),
            steps: steps.to_vec(),
        })
    }
}

/// Reads rows `offset..offset + len` of a Parquet file (only `columns`)
/// and runs the partition's steps on them.
#[derive(Serialize, Deserialize)]
struct ReadParquetPart {
    path: String,
    offset: usize,
    len: usize,
    columns: Option<Vec<String>>,
    steps: Vec<Step>,
}

impl rask_core::Kernel for ReadParquetPart {
    const NAME: &'static str = "rask.dataframe.read_parquet";
    fn run(&self, _: &[Value]) -> std::result::Result<Value, TaskError> {
        if let Err(e) = File::open(&self.path) {
            return Err(TaskError::failed(format!(
                "{}: cannot open: {e}",
                self.path
            )));
        }
        let out = polars_pool(|| self.plan()?.collect())
            .map_err(|e| TaskError::failed(format!("{}: {e}", self.path)))?;
        Ok(Part::value(out))
    }
}

impl ReadParquetPart {
    /// The partition's plan: a scan of its row range (the scan's
    /// pre-slice), the needed columns, then the steps (see the module
    /// docs).
    fn plan(&self) -> polars::prelude::PolarsResult<LazyFrame> {
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

rask_core::register_kernel!(ReadParquetPart, WriteParquetPart);

impl DataFrame {
    /// Writes one Parquet file per partition into directory `dir`
    /// (created if missing), named `part.{i}.parquet`. Each file is written
    /// under a temporary name and renamed when complete.
    pub fn to_parquet(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.to_parquet_with(dir, &*rask_core::executor::current()?)
    }

    /// Like [`DataFrame::to_parquet`], on `executor`.
    pub fn to_parquet_with(
        &self,
        dir: impl AsRef<Path>,
        executor: &(impl rask_core::Executor + ?Sized),
    ) -> Result<()> {
        self.check()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| files::io(dir.clone(), e))?;
        let token = rask_core::fresh_token();
        let write = files::WriteParts {
            df: self,
            name: format!("to_parquet-{token}"),
            kernel: |index| {
                Op::kernel(WriteParquetPart {
                    dir: dir.clone(),
                    index,
                    token: token.clone(),
                })
            },
        };
        rask_core::compute::compute_with(&write, executor).map(|_| ())
    }
}
