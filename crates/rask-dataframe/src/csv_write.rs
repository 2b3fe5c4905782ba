//! Writing CSV: one file per partition, `part.{i}.csv`, each written under
//! a temporary name in the same directory and renamed when complete, so a
//! failed write leaves no half file under a final name (and the temporary
//! file is removed).

use std::path::{Path, PathBuf};

use polars::prelude::{CsvWriter, SerWriter};
use rask_core::{Executor, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::files;
use crate::frame::DataFrame;
use crate::kernels::{part_arg, polars_pool};

impl DataFrame {
    /// Writes one CSV file per partition into directory `dir` (created if
    /// missing), named `part.{i}.csv`, each with a header line. Each file is
    /// written under a temporary name and renamed when complete. Returns the
    /// number of rows written.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let dir = std::env::temp_dir().join(format!("rask-doc-to-csv-{}", std::process::id()));
    /// let d = dd::from_polars(df!("a" => [1i64, 2, 3]).unwrap(), 2).unwrap();
    /// assert_eq!(d.to_csv(&dir).unwrap(), 3);
    /// let back = dd::read_csv(dir.join("*.csv").to_str().unwrap()).unwrap();
    /// assert_eq!(back.len().unwrap(), 3);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn to_csv(&self, dir: impl AsRef<Path>) -> Result<u64> {
        self.to_csv_with(dir, &*rask_core::executor::current()?)
    }

    /// Like [`DataFrame::to_csv`], on `executor`.
    pub fn to_csv_with(
        &self,
        dir: impl AsRef<Path>,
        executor: &(impl Executor + ?Sized),
    ) -> Result<u64> {
        self.check()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| files::io(dir.clone(), e))?;
        let token = rask_core::fresh_token();
        let write = files::WriteParts {
            df: self,
            name: format!("to_csv-{token}"),
            kernel: |index| {
                Op::kernel(WriteCsvPart {
                    dir: dir.clone(),
                    index,
                    token: token.clone(),
                })
            },
        };
        rask_core::compute::compute_with(&write, executor)
    }
}

/// Writes the partition in argument 0 to `dir/part.{index}.csv` through a
/// temporary file renamed when complete. Its value is the number of rows.
#[derive(Serialize, Deserialize)]
struct WriteCsvPart {
    dir: PathBuf,
    index: usize,
    token: String,
}

impl rask_core::Kernel for WriteCsvPart {
    const NAME: &'static str = "rask.dataframe.write_csv";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let mut df = part_arg(args, 0)?.clone();
        files::write_part_file(
            &self.dir,
            self.index,
            "csv",
            &self.token,
            &mut df,
            |file, df| {
                polars_pool(|| {
                    CsvWriter::new(std::io::BufWriter::new(file))
                        .include_header(true)
                        .n_threads(1)
                        .finish(df)
                })
            },
        )
    }
}

rask_core::register_kernel!(WriteCsvPart);
