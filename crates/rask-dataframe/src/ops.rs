//! Whole-frame reductions and distinct values, as tree reductions.
//!
//! * [`DataFrame::agg`] and its shorthands (`sum`, `mean`, `min`, `max`,
//!   `count`) split each aggregation the way `group_by` does (a chunk
//!   aggregation per partition, a re-aggregation at every level of the
//!   tree, a finishing expression; see [`crate::groupby`]), with no keys.
//! * [`DataFrame::nunique`] and the categories of
//!   [`DataFrame::cast_categorical`]: per partition, each column's
//!   distinct values imploded into a one-row list; at every level, the
//!   stacked lists flattened and made distinct again.
//! * [`DataFrame::value_counts`] and [`DataFrame::drop_duplicates`] are
//!   group-bys (counts summed by value; keys kept once, the other columns'
//!   first values — partial results are stacked in partition order, so the
//!   first of the firsts is the first row), with `split_out` chosen
//!   automatically.
//! * [`DataFrame::describe`]: count, null count, mean, standard deviation,
//!   minimum and maximum of every numeric column, from one reduction.
//!   Quantiles are not decomposable and are left out.
//!
//! Every other result has one partition; results equal Polars' on the
//! concatenated data up to floating-point rounding (and row order, for
//! `value_counts` and `drop_duplicates`).

use polars::prelude::{
    Column, DataFrame as PlFrame, DataType, Expr, IntoColumn, NamedFrom, PlSmallStr, Series, col,
    len,
};
use rask_core::{Error, Executor, Result};

use crate::categorical::{distinct_list, flatten};
use crate::frame::{DataFrame, fmt_schema, polars_error};
use crate::groupby::{decompose_all, share_parts};
use crate::steps::{SerExpr, Step, output_schema};

fn ser(v: &[Expr]) -> Vec<SerExpr> {
    v.iter().cloned().map(SerExpr).collect()
}

fn split_every() -> usize {
    rask_config::try_get().map_or(4, |c| c.split_every)
}

impl DataFrame {
    /// Aggregates the whole dataframe into one row, one column per
    /// aggregation, as a tree reduction. Supported are the aggregations
    /// `group_by(..).agg(..)` supports: `sum`, `mean`, `count`, `len`,
    /// `min`, `max`, `first`, `last`, `var(ddof)`, `std(ddof)` of an
    /// expression, each optionally aliased.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("v" => [1.0, 2.0, 3.0, 6.0]).unwrap(), 3).unwrap();
    /// let out = d.agg([col("v").mean().alias("m"), col("v").max().alias("hi")]).compute().unwrap();
    /// assert_eq!(out.column("m").unwrap().f64().unwrap().get(0), Some(3.0));
    /// assert_eq!(out.column("hi").unwrap().f64().unwrap().get(0), Some(6.0));
    /// ```
    pub fn agg<E: AsRef<[Expr]>>(&self, aggs: E) -> DataFrame {
        if self.error().is_some() {
            return self.clone();
        }
        let aggs = aggs.as_ref();
        if aggs.is_empty() {
            // Nothing to aggregate (a `sum` of a frame without numbers).
            return crate::from_polars(PlFrame::empty(), 1)
                .expect("one partition is always a valid partitioning");
        }
        let oracle = match output_schema(self.schema(), &[Step::Select(ser(aggs))]) {
            Ok(s) => s,
            Err(e) => {
                return self.with_error(format!(
                    "agg: {e}; the dataframe's schema is {}",
                    fmt_schema(self.schema())
                ));
            }
        };
        let (mut chunk, mut combine, mut finish) = (Vec::new(), Vec::new(), Vec::new());
        let parts = match decompose_all(aggs) {
            Ok(p) => p,
            Err(msg) => return self.with_error(format!("agg: {msg}")),
        };
        for (parts, (name, dtype)) in parts.into_iter().zip(oracle.iter()) {
            chunk.extend(parts.chunk);
            combine.extend(parts.combine);
            finish.push(parts.finish.cast(dtype.clone()).alias(name.clone()));
        }
        share_parts(&mut chunk, &mut combine, &mut finish, self.schema());
        let partial = self.with_step("agg", Step::Select(ser(&chunk)));
        crate::tree::reduce(
            &partial,
            "agg",
            vec![Step::Select(ser(&combine))],
            vec![Step::Select(ser(&finish))],
            split_every(),
            false,
        )
    }

    /// The sum of every numeric column, as a one-row dataframe (like
    /// Polars' `sum` of those columns).
    pub fn sum(&self) -> DataFrame {
        self.agg(self.each(is_numeric, Expr::sum))
    }

    /// The mean of every numeric column, as a one-row dataframe.
    pub fn mean(&self) -> DataFrame {
        self.agg(self.each(is_numeric, Expr::mean))
    }

    /// The minimum of every numeric, temporal or string column.
    pub fn min(&self) -> DataFrame {
        self.agg(self.each(is_ordered, Expr::min))
    }

    /// The maximum of every numeric, temporal or string column.
    pub fn max(&self) -> DataFrame {
        self.agg(self.each(is_ordered, Expr::max))
    }

    /// The number of non-null values of every column.
    pub fn count(&self) -> DataFrame {
        self.agg(self.each(|_| true, Expr::count))
    }

    /// `f(col(c))` for every column `c` whose type passes `keep`.
    fn each(&self, keep: impl Fn(&DataType) -> bool, f: impl Fn(Expr) -> Expr) -> Vec<Expr> {
        self.schema()
            .iter()
            .filter(|(_, t)| keep(t))
            .map(|(n, _)| f(col(n.clone())))
            .collect()
    }

    /// The number of distinct values of each of `columns` (a null counts as
    /// a value, as in Polars' `n_unique`), as a one-row dataframe with one
    /// column per input column.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("k" => ["a", "b", "a", "c"]).unwrap(), 2).unwrap();
    /// let n = d.nunique(["k"]).compute().unwrap();
    /// assert_eq!(n.column("k").unwrap().u32().unwrap().get(0), Some(3));
    /// ```
    pub fn nunique<I, S>(&self, columns: I) -> DataFrame
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let columns: Vec<String> = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        let finish: Vec<Expr> = columns
            .iter()
            .map(|c| {
                col(c.as_str())
                    .explode(flatten())
                    .n_unique()
                    .alias(c.as_str())
            })
            .collect();
        distinct(self, &columns, false, vec![Step::Select(ser(&finish))])
    }

    /// How many rows have each value of `column`: a dataframe of the
    /// distinct values (nulls included) and their counts in a column
    /// `count`, in no particular order. A `group_by(column).agg(..)`: its
    /// partition count is chosen as [`GroupBy::split_out`](crate::GroupBy::split_out)
    /// chooses it (one partition unless there may be many values and
    /// many partitions).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("k" => ["a", "b", "a"]).unwrap(), 2).unwrap();
    /// let vc = d.value_counts("k").compute().unwrap().sort(["k"], Default::default()).unwrap();
    /// assert_eq!(vc.column("count").unwrap().u32().unwrap().get(0), Some(2));
    /// ```
    pub fn value_counts(&self, column: &str) -> DataFrame {
        self.group_by([col(column)]).agg([len().alias("count")])
    }

    /// The rows that are distinct in the columns `subset` (every column
    /// when `None`), keeping the first row of each (in partition order);
    /// rows come out in no particular order. A `group_by(..).agg(..)`, so
    /// its partition count is chosen as
    /// [`GroupBy::split_out`](crate::GroupBy::split_out) chooses it.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("k" => ["a", "b", "a"], "v" => [1i64, 2, 3]).unwrap(), 2).unwrap();
    /// let u = d.drop_duplicates(Some(&["k"])).compute().unwrap().sort(["k"], Default::default()).unwrap();
    /// assert_eq!(u.column("v").unwrap().i64().unwrap().get(0), Some(1));
    /// ```
    pub fn drop_duplicates(&self, subset: Option<&[&str]>) -> DataFrame {
        if self.error().is_some() {
            return self.clone();
        }
        let names = self.columns();
        let keys: Vec<String> = match subset {
            Some(s) if !s.is_empty() => s.iter().map(|c| c.to_string()).collect(),
            _ => names.clone(),
        };
        if let Some(bad) = keys.iter().find(|k| !names.contains(k)) {
            return self.with_error(format!(
                "drop_duplicates: there is no column `{bad}`; the dataframe's schema is {}",
                fmt_schema(self.schema())
            ));
        }
        let rest: Vec<Expr> = names
            .iter()
            .filter(|n| !keys.contains(n))
            .map(|n| col(n.as_str()).first())
            .collect();
        let key_exprs: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        let order: Vec<Expr> = names.iter().map(|n| col(n.as_str())).collect();
        self.group_by(key_exprs).agg(rest).select(order)
    }

    /// Summary statistics of every numeric column: a frame with a
    /// `statistic` column (`count`, `null_count`, `mean`, `std`, `min`,
    /// `max`) and one `Float64` column per numeric column, computed in one
    /// tree reduction. (Quantiles are not decomposable and not included.)
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("v" => [1.0, 2.0, 3.0]).unwrap(), 2).unwrap();
    /// let s = d.describe().unwrap();
    /// assert_eq!(s.column("v").unwrap().f64().unwrap().get(2), Some(2.0)); // the mean
    /// ```
    pub fn describe(&self) -> Result<PlFrame> {
        self.describe_with(&*rask_core::executor::current()?)
    }

    /// Like [`DataFrame::describe`], on `executor`.
    pub fn describe_with(&self, executor: &(impl Executor + ?Sized)) -> Result<PlFrame> {
        self.check()?;
        let numeric: Vec<PlSmallStr> = self
            .schema()
            .iter()
            .filter(|(_, t)| is_numeric(t))
            .map(|(n, _)| n.clone())
            .collect();
        let name = |c: &PlSmallStr, s: &str| format!("{c}\u{1f}{s}");
        let mut aggs = Vec::new();
        for c in &numeric {
            let x = col(c.clone());
            aggs.push(x.clone().count().alias(name(c, "count")));
            aggs.push(len().alias(name(c, "len")));
            aggs.push(x.clone().mean().alias(name(c, "mean")));
            aggs.push(x.clone().std(1).alias(name(c, "std")));
            aggs.push(
                x.clone()
                    .cast(DataType::Float64)
                    .min()
                    .alias(name(c, "min")),
            );
            aggs.push(x.cast(DataType::Float64).max().alias(name(c, "max")));
        }
        let one = if aggs.is_empty() {
            PlFrame::empty()
        } else {
            rask_core::compute::compute_with(&self.agg(aggs), executor)?
        };
        let stats = ["count", "null_count", "mean", "std", "min", "max"];
        let mut columns: Vec<Column> =
            vec![Series::new("statistic".into(), stats.to_vec()).into_column()];
        let get = |c: &PlSmallStr, s: &str| -> Result<Option<f64>> {
            let v = one
                .column(&name(c, s))
                .and_then(|v| v.cast(&DataType::Float64))
                .map_err(|e| polars_error("describe", e))?;
            Ok(v.f64().ok().and_then(|v| v.get(0)))
        };
        for c in &numeric {
            let count = get(c, "count")?;
            let rows = get(c, "len")?;
            let nulls = count.zip(rows).map(|(n, r)| r - n);
            let values = vec![
                count,
                nulls,
                get(c, "mean")?,
                get(c, "std")?,
                get(c, "min")?,
                get(c, "max")?,
            ];
            columns.push(Series::new(c.clone(), values).into_column());
        }
        PlFrame::new_infer_height(columns).map_err(|e| polars_error("describe", e))
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_primitive_numeric() || t.is_decimal()
}

fn is_ordered(t: &DataType) -> bool {
    is_numeric(t) || t.is_temporal() || matches!(t, DataType::String | DataType::Boolean)
}

/// A one-partition dataframe of one row whose columns are the lists of
/// distinct values of `columns`, then `finish`. For `categories`, the
/// values are strings without nulls (partitions may hold the column as
/// strings or as categoricals of other categories).
fn distinct(df: &DataFrame, columns: &[String], categories: bool, finish: Vec<Step>) -> DataFrame {
    if let Some(bad) = columns.iter().find(|c| df.dtype(c).is_none()) {
        return df.with_error(format!(
            "there is no column `{bad}`; the dataframe's schema is {}",
            fmt_schema(df.schema())
        ));
    }
    let chunk: Vec<Expr> = columns
        .iter()
        .map(|c| {
            let e = col(c.as_str());
            let e = if categories {
                e.cast(DataType::String).drop_nulls()
            } else {
                e
            };
            distinct_list(e, c)
        })
        .collect();
    let combine: Vec<Expr> = columns
        .iter()
        .map(|c| distinct_list(col(c.as_str()).explode(flatten()), c))
        .collect();
    let partial = df.with_step("distinct", Step::Select(ser(&chunk)));
    crate::tree::reduce(
        &partial,
        "distinct",
        vec![Step::Select(ser(&combine))],
        finish,
        split_every(),
        false,
    )
}

/// The distinct values of each of `columns`, computed now, one series
/// each (as strings without nulls, for `categories`).
pub(crate) fn distinct_values(
    df: &DataFrame,
    columns: &[String],
    categories: bool,
    executor: &(impl Executor + ?Sized),
) -> Result<Vec<Series>> {
    let one =
        rask_core::compute::compute_with(&distinct(df, columns, categories, Vec::new()), executor)?;
    columns
        .iter()
        .map(|c| {
            let list = one
                .column(c)
                .and_then(|l| l.list().cloned())
                .map_err(|e| polars_error("distinct values", e))?;
            list.get_as_series(0).ok_or_else(|| {
                Error::invalid("distinct values", format!("no values of column `{c}`"))
            })
        })
        .collect()
}
