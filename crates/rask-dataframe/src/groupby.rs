//! `group_by(keys).agg(aggs)` as a tree reduction.
//!
//! Each aggregation is split into three parts ([`decompose`]):
//!
//! * a *chunk* aggregation, run per partition, fused with the partition's
//!   other steps (a reader's too): `mean(x)` → `sum(x)`, `count(x)`;
//! * a *combine* aggregation over stacked chunk results, which is a
//!   re-aggregation (sums of sums) so it can run at every level of the tree
//!   (see [`crate::tree`]);
//! * a *finish* expression on the last level: `sum / count`.
//!
//! Intermediate columns are named `__rask_{i}_{part}`. The result is cast
//! to the types Polars gives for the same aggregation on one frame (found
//! on an empty frame), so results equal Polars' on the concatenated data
//! up to floating-point rounding and row order.
//!
//! Variance and standard deviation combine per-partition counts, means and
//! sums of squared deviations with Chan's parallel formula, which stays
//! accurate where sums of squares would cancel.

use polars::prelude::{AggExpr, DataType, Expr, NULL, PlSmallStr, col, lit, when};

use crate::frame::DataFrame;
use crate::steps::{SerExpr, Step, output_schema};

/// A pending `group_by`: keys chosen, aggregations not yet.
#[derive(Clone, Debug)]
#[must_use = "call .agg(...) to aggregate"]
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<Expr>,
    split_every: Option<usize>,
}

impl DataFrame {
    /// Groups rows by the values of `keys` (Polars expressions, usually
    /// columns); aggregate with [`GroupBy::agg`].
    pub fn group_by<E: AsRef<[Expr]>>(&self, keys: E) -> GroupBy {
        GroupBy {
            df: self.clone(),
            keys: keys.as_ref().to_vec(),
            split_every: None,
        }
    }
}

impl GroupBy {
    /// How many partial results each combining task reads (the tree's
    /// fan-in); the configuration's `array.split-every` (4) by default.
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = Some(n.max(2));
        self
    }

    /// Aggregates every group: one row per group, the key columns first,
    /// then one column per aggregation. Supported: `sum`, `mean`, `count`,
    /// `len`, `min`, `max`, `first`, `last`, `var(ddof)`, `std(ddof)` of an
    /// expression, each
    /// optionally aliased. The result has one partition; rows are in no
    /// particular order.
    pub fn agg<E: AsRef<[Expr]>>(&self, aggs: E) -> DataFrame {
        let df = &self.df;
        if df.error().is_some() {
            return df.clone();
        }
        let aggs = aggs.as_ref();
        let ser = |v: &[Expr]| v.iter().cloned().map(SerExpr).collect::<Vec<_>>();
        // What Polars gives on one frame: names and types of the result.
        let oracle = match output_schema(df.schema(), &[Step::GroupBy(ser(&self.keys), ser(aggs))])
        {
            Ok(s) => s,
            Err(e) => {
                return df.with_error(format!(
                    "group_by/agg: {e}; the dataframe's schema is {}",
                    crate::frame::fmt_schema(df.schema())
                ));
            }
        };
        let nkeys = self.keys.len();
        let key_names: Vec<PlSmallStr> = oracle.iter_names().take(nkeys).cloned().collect();
        let mut chunk = Vec::new();
        let mut combine = Vec::new();
        let mut finish: Vec<Expr> = key_names.iter().map(|k| col(k.clone())).collect();
        for (i, (agg, (name, dtype))) in aggs.iter().zip(oracle.iter().skip(nkeys)).enumerate() {
            match decompose(agg, i) {
                Ok(parts) => {
                    chunk.extend(parts.chunk);
                    combine.extend(parts.combine);
                    finish.push(parts.finish.cast(dtype.clone()).alias(name.clone()));
                }
                Err(msg) => return df.with_error(format!("group_by/agg: {msg}")),
            }
        }
        let key_cols: Vec<Expr> = key_names.iter().map(|k| col(k.clone())).collect();
        let partial = df.with_step("group_by", Step::GroupBy(ser(&self.keys), ser(&chunk)));
        let split_every = match self.split_every {
            Some(n) => n,
            None => rask_config::try_get().map_or(4, |c| c.split_every),
        };
        crate::tree::reduce(
            &partial,
            "group_by-agg",
            vec![Step::GroupBy(ser(&key_cols), ser(&combine))],
            vec![Step::Select(ser(&finish))],
            split_every,
        )
    }
}

/// The three parts of one aggregation (see the module docs).
pub(crate) struct Parts {
    pub chunk: Vec<Expr>,
    pub combine: Vec<Expr>,
    pub finish: Expr,
}

/// Splits aggregation number `i` into its chunk, combine and finish parts,
/// or says why it cannot be.
pub(crate) fn decompose(agg: &Expr, i: usize) -> Result<Parts, String> {
    let mut e = agg;
    while let Expr::Alias(inner, _) = e {
        e = inner;
    }
    let n = |part: &str| PlSmallStr::from(format!("__rask_{i}_{part}"));
    let resum = |c: &PlSmallStr| col(c.clone()).sum().alias(c.clone());
    let same = |chunk: Expr| {
        let c = n("v");
        Parts {
            chunk: vec![chunk.alias(c.clone())],
            combine: vec![resum(&c)],
            finish: col(c),
        }
    };
    Ok(match e {
        Expr::Agg(AggExpr::Sum(_)) | Expr::Agg(AggExpr::Count { .. }) | Expr::Len => {
            same(e.clone())
        }
        // Partial results are stacked in partition order at every level,
        // so the first of the firsts is the first.
        Expr::Agg(AggExpr::First(_)) => {
            let c = n("v");
            Parts {
                chunk: vec![e.clone().alias(c.clone())],
                combine: vec![col(c.clone()).first().alias(c.clone())],
                finish: col(c),
            }
        }
        Expr::Agg(AggExpr::Last(_)) => {
            let c = n("v");
            Parts {
                chunk: vec![e.clone().alias(c.clone())],
                combine: vec![col(c.clone()).last().alias(c.clone())],
                finish: col(c),
            }
        }
        Expr::Agg(AggExpr::Min { .. }) => {
            let c = n("v");
            Parts {
                chunk: vec![e.clone().alias(c.clone())],
                combine: vec![col(c.clone()).min().alias(c.clone())],
                finish: col(c),
            }
        }
        Expr::Agg(AggExpr::Max { .. }) => {
            let c = n("v");
            Parts {
                chunk: vec![e.clone().alias(c.clone())],
                combine: vec![col(c.clone()).max().alias(c.clone())],
                finish: col(c),
            }
        }
        Expr::Agg(AggExpr::Mean(x)) => {
            let (s, c) = (n("sum"), n("count"));
            let x = (**x).clone();
            Parts {
                chunk: vec![
                    x.clone().cast(DataType::Float64).sum().alias(s.clone()),
                    x.count().alias(c.clone()),
                ],
                combine: vec![resum(&s), resum(&c)],
                finish: when(col(c.clone()).eq(lit(0)))
                    .then(lit(NULL))
                    .otherwise(col(s) / col(c).cast(DataType::Float64)),
            }
        }
        Expr::Agg(AggExpr::Var(x, ddof)) | Expr::Agg(AggExpr::Std(x, ddof)) => {
            let std = matches!(e, Expr::Agg(AggExpr::Std(..)));
            let (c, m, m2) = (n("count"), n("mean"), n("m2"));
            let x = (**x).clone().cast(DataType::Float64);
            let total = col(c.clone()).sum();
            let pooled_mean = ((col(c.clone()) * col(m.clone())).sum()
                / total.clone().cast(DataType::Float64))
            .fill_nan(lit(0.0));
            let dev = col(m.clone()) - pooled_mean.clone();
            let ddof = *ddof as i64;
            let var = when(col(c.clone()).gt(lit(ddof)))
                .then(col(m2.clone()) / (col(c.clone()) - lit(ddof)).cast(DataType::Float64))
                .otherwise(lit(NULL));
            Parts {
                chunk: vec![
                    x.clone().count().alias(c.clone()),
                    x.clone().mean().fill_null(lit(0.0)).alias(m.clone()),
                    (x.clone().var(0).fill_null(lit(0.0)) * x.count().cast(DataType::Float64))
                        .alias(m2.clone()),
                ],
                combine: vec![
                    total.alias(c.clone()),
                    pooled_mean.alias(m.clone()),
                    (col(m2.clone()).sum()
                        + (col(c.clone()).cast(DataType::Float64) * dev.clone() * dev).sum())
                    .alias(m2.clone()),
                ],
                finish: if std { var.sqrt() } else { var },
            }
        }
        other => {
            return Err(format!(
                "the aggregation `{other}` cannot run as a tree reduction yet; supported are \
                 sum, mean, count, len, min, max, first, last, var and std of an expression"
            ));
        }
    })
}
