//! Categoricals whose categories are known across partitions.
//!
//! **The problem.** Polars 0.55 has two dictionary-encoded string types.
//! `DataType::Categorical(Categories, mapping)` assigns codes as strings
//! are first seen, in a mapping that lives in the process (a named
//! `Categories` object, by default the global one): two processes, or two
//! runs, give the same string different codes, and a partition that
//! travels as Arrow IPC is re-encoded against the receiving process's
//! mapping. `DataType::Enum(FrozenCategories, mapping)` has a fixed, ordered
//! list of categories, and the code of a string is its position in that
//! list. `FrozenCategories` are content-addressed: the same list gives the
//! same object (in a process) and the same codes (in every process).
//!
//! **The design.** rask makes categoricals `Enum`s whose categories are
//! computed once, when the graph is built: a tree reduction of the
//! column's distinct values (per partition `unique`, then `unique` of the
//! stacked results; only that column is read), sorted lexically. The cast
//! is then an ordinary per-partition step with the `Enum` type in it, so
//! every partition — read anywhere, sent as Arrow IPC, written to Parquet
//! and read back — has the same category → code mapping; a group-by or a
//! join on the column compares codes, never strings; and sorting by it
//! sorts by the strings (the codes follow lexical order). The cost is one
//! pass over the column at graph-build time (Dask's `categorize` makes the
//! same pass).

use polars::prelude::{DataType, ExplodeOptions, Expr, FrozenCategories, col};
use rask_core::{Error, Executor, Result};

use crate::frame::{DataFrame, fmt_schema, polars_error};
use crate::steps::{SerExpr, Step};

impl DataFrame {
    /// This dataframe with the string columns `columns` cast to categoricals
    /// whose categories are the same in every partition: a Polars
    /// `DataType::Enum` of the columns' distinct values, sorted. Computes
    /// the distinct values now (one pass over those columns); see the
    /// architecture notes (`docs/architecture.md`, "Dataframes") for why.
    ///
    /// To join another dataframe on such a column, give its column the same
    /// type: `other.with_column(col(c).cast(df.dtype(c).unwrap().clone()))`
    /// (a value outside the categories fails that cast).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("kind" => ["b", "a", "c", "a"], "v" => [1i64, 2, 3, 4]).unwrap();
    /// let d = dd::from_polars(pl, 3).unwrap().cast_categorical(["kind"]).unwrap();
    /// assert_eq!(d.categories("kind").unwrap(), ["a", "b", "c"]);
    /// for part in d.compute_partitions().unwrap() {
    ///     assert!(matches!(part.column("kind").unwrap().dtype(), DataType::Enum(..)));
    /// }
    /// ```
    pub fn cast_categorical<I, S>(&self, columns: I) -> Result<DataFrame>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.cast_categorical_with(columns, &*rask_core::executor::current()?)
    }

    /// Like [`DataFrame::cast_categorical`], computing the categories on
    /// `executor`.
    pub fn cast_categorical_with<I, S>(
        &self,
        columns: I,
        executor: &(impl Executor + ?Sized),
    ) -> Result<DataFrame>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check()?;
        let columns: Vec<String> = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        if columns.is_empty() {
            return Ok(self.clone());
        }
        for c in &columns {
            match self.dtype(c) {
                None => {
                    return Err(Error::invalid(
                        "cast_categorical",
                        format!(
                            "there is no column `{c}`; the dataframe's schema is {}",
                            fmt_schema(self.schema())
                        ),
                    ));
                }
                Some(DataType::String | DataType::Categorical(..) | DataType::Enum(..)) => {}
                Some(other) => {
                    return Err(Error::invalid(
                        "cast_categorical",
                        format!(
                            "column `{c}` is {other}, not a string; only string columns \
                             become categoricals (cast it to String first)"
                        ),
                    ));
                }
            }
        }
        let values = crate::ops::distinct_values(self, &columns, true, executor)?;
        let mut casts = Vec::with_capacity(columns.len());
        for (c, series) in columns.iter().zip(values) {
            let strings = series
                .cast(&DataType::String)
                .map_err(|e| polars_error("cast_categorical", e))?;
            let strings = strings
                .str()
                .map_err(|e| polars_error("cast_categorical", e))?;
            let mut cats: Vec<&str> = strings
                .downcast_iter()
                .flat_map(|a| a.iter().flatten())
                .collect();
            cats.sort_unstable();
            cats.dedup();
            let frozen =
                FrozenCategories::new(cats).map_err(|e| polars_error("cast_categorical", e))?;
            let dtype = DataType::from_frozen_categories(frozen);
            casts.push(SerExpr(
                col(c.as_str())
                    .cast(DataType::String)
                    .cast(dtype)
                    .alias(c.as_str()),
            ));
        }
        Ok(self.with_step("cast_categorical", Step::WithColumns(casts)))
    }

    /// The categories of column `name`, in code order (code `i` is
    /// `categories[i]`), when it is a categorical with known categories
    /// (see [`DataFrame::cast_categorical`]); `None` otherwise.
    pub fn categories(&self, name: &str) -> Option<Vec<String>> {
        match self.dtype(name)? {
            DataType::Enum(frozen, _) => Some(
                frozen
                    .categories()
                    .values_iter()
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Options that flatten stacked lists of distinct values without adding a
/// null for an empty list (an empty partition has none).
pub(crate) fn flatten() -> ExplodeOptions {
    ExplodeOptions {
        empty_as_null: false,
        keep_nulls: true,
    }
}

/// `e`'s distinct values as a one-row list, named `name`.
pub(crate) fn distinct_list(e: Expr, name: &str) -> Expr {
    e.unique().implode(false).alias(name)
}
