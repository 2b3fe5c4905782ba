//! Writing CSV: one file per partition, `part.{i}.csv`, each written under
//! a temporary name in the same directory and renamed when complete, so a
//! failed write leaves no half file under a final name (and the temporary
//! file is removed).

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::{CsvWriter, SerWriter};
use rask_core::{Collection, Executor, GraphBuilder, Key, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::files;
use crate::frame::{DataFrame, part_key};
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
        let write = WriteCsvAll {
            df: self,
            dir,
            token: rask_core::fresh_token(),
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
        let name = format!("part.{}.csv", self.index);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", self.token));
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            let _ = std::fs::remove_file(&tmp);
            TaskError::failed(format!("{}: {what}: {e}", path.display()))
        };
        let file = File::create(&tmp).map_err(|e| fail("cannot create", &e))?;
        let rows = df.height() as u64;
        polars_pool(|| {
            CsvWriter::new(std::io::BufWriter::new(file))
                .include_header(true)
                .n_threads(1)
                .finish(&mut df)
        })
        .map_err(|e| fail("cannot write", &e))?;
        std::fs::rename(&tmp, &path).map_err(|e| fail("cannot rename the temporary file", &e))?;
        Ok(Value::new(rows))
    }
}

rask_core::register_kernel!(WriteCsvPart);

/// The writes of every partition, as a collection.
struct WriteCsvAll<'a> {
    df: &'a DataFrame,
    dir: PathBuf,
    token: String,
}

impl Collection for WriteCsvAll<'_> {
    type Output = u64;
    fn add_to_graph(&self, b: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        let parts = self.df.add_parts(b, 0..self.df.npartitions());
        let name = format!("to_csv-{}", self.token);
        for (i, p) in parts.into_iter().enumerate() {
            let k = part_key(&name, i);
            b.insert(
                k.clone(),
                Op::kernel(WriteCsvPart {
                    dir: self.dir.clone(),
                    index: i,
                    token: self.token.clone(),
                }),
                [p],
            );
            outputs.push(k);
        }
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<u64> {
        let mut n = 0;
        for _ in 0..self.df.npartitions() {
            if let Some(v) = values.next() {
                n += v.downcast_ref::<u64>().copied().unwrap_or(0);
            }
        }
        Ok(n)
    }
    fn validate(&self) -> Result<()> {
        self.df.check()
    }
}
