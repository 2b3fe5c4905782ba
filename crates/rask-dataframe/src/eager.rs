//! Eager aggregation: a group-by after a join that groups by the right
//! side's columns and aggregates the left side's runs in two stages, the
//! first before the join.
//!
//! `L.join(R, K = RK).group_by(G).agg(A)`, where every key in `G` is a
//! column of `R` (or one of the join keys `K`) and every aggregation in
//! `A` reads only `L`'s columns, equals
//!
//! ```text
//! L.group_by(K).agg(A')          -- one row per key: partial aggregates
//!  .join(R, K = RK)
//!  .group_by(G).agg(combine(A'))  -- sums of sums, mins of mins
//! ```
//!
//! for inner and left joins and aggregations that combine (sums, counts,
//! lengths, minima, maxima; so means, whose chunk parts are a sum and a
//! count): each left row meets the same right rows either way, and a
//! partial aggregate stands for its rows wherever they meet. The join then
//! probes and gathers one row per key instead of one per left row, and the
//! final group-by sees as many rows. Telemetry joined to its device table
//! and grouped by the devices' attributes has about a hundred readings per
//! device: the join and the group-by by strings shrink a hundredfold, for
//! one group-by by an integer key.
//!
//! Filters and derived columns between the join and the group-by that read
//! only left columns run on the left side, before the first stage (TPC-H's
//! Q10 derives its revenue from two line-item columns, then sums it per
//! customer, a column of its orders).
//!
//! A join task uses it where its left partition holds at least
//! [`MIN_ROWS_PER_KEY`] rows per right row, known before the task runs
//! its plan (a Parquet partition's row count, or a frame in memory); with
//! about one left row per key the first stage would only add a group-by.

use std::collections::BTreeSet;

use polars::prelude::{AggExpr, DataType, Expr, JoinType, PlSmallStr, Schema, col};
use serde::{Deserialize, Serialize};

use crate::steps::{SerExpr, Step, apply_all, root_names};

/// Left rows per right row from which a join task aggregates first.
pub(crate) const MIN_ROWS_PER_KEY: usize = 2;

/// The two stages of an eager aggregation (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Eager {
    /// The left side's join keys, which the first stage groups by.
    by: Vec<String>,
    /// Filters and derived columns of left columns before the group-by:
    /// run on the left side first.
    pre: Vec<Step>,
    /// The step's aggregations, run on the left side grouped by its key.
    first: Vec<SerExpr>,
    /// The step's group keys.
    keys: Vec<SerExpr>,
    /// The first stage's columns combined, grouped by the keys, cast to
    /// the types the step gives.
    then: Vec<SerExpr>,
}

impl Eager {
    /// The eager form of a join of a left side (`left` schema, keys
    /// `left_keys`) with a right side (`right`, keys `right_keys`) followed
    /// by `steps` (giving `out`), where it applies: the steps are one
    /// group-by whose keys are right columns absent from the left side (or
    /// left join keys) and whose aggregations combine and read left columns
    /// only, after filters and derived columns of left columns that do not
    /// replace a join key.
    pub(crate) fn plan(
        how: &JoinType,
        (left, left_keys): (&Schema, &[String]),
        (right, right_keys): (&Schema, &[String]),
        steps: &[Step],
        out: &Schema,
    ) -> Option<Eager> {
        if !matches!(how, JoinType::Inner | JoinType::Left) {
            return None;
        }
        let (Step::GroupBy(keys, aggs), pre) = steps.split_last()? else {
            return None;
        };
        // The left side's columns, and those the steps before the group-by
        // add from them.
        let mut names: BTreeSet<PlSmallStr> = left.iter_names().cloned().collect();
        let reads_left = |names: &BTreeSet<PlSmallStr>, x: &Expr| {
            root_names(x).is_some_and(|used| used.iter().all(|n| names.contains(n)))
        };
        // What an aggregation aggregates: row by row from left columns
        // (an aggregation inside it would see the first stage's groups,
        // and one without columns a value per group, not per row).
        let per_row = |names: &BTreeSet<PlSmallStr>, x: &Expr| {
            reads_left(names, x)
                && root_names(x).is_some_and(|used| !used.is_empty())
                && x.into_iter().all(|node| {
                    matches!(
                        node,
                        Expr::Column(_)
                            | Expr::Literal(_)
                            | Expr::Cast { .. }
                            | Expr::BinaryExpr { .. }
                            | Expr::Ternary { .. }
                    )
                })
        };
        for step in pre {
            match step {
                Step::Filter(e) if reads_left(&names, &e.0) => {}
                Step::WithColumns(es) => {
                    let mut added = Vec::with_capacity(es.len());
                    for e in es {
                        let name = match &e.0 {
                            Expr::Alias(_, n) | Expr::Column(n) => n.clone(),
                            _ => return None,
                        };
                        // A right column of that name would be replaced, and
                        // a join key changed before the join instead of after.
                        if !reads_left(&names, &e.0)
                            || right.contains(&name)
                            || left_keys.iter().any(|k| k == name.as_str())
                        {
                            return None;
                        }
                        added.push(name);
                    }
                    names.extend(added);
                }
                _ => return None,
            }
        }
        let left_has = |c: &PlSmallStr| names.contains(c);
        let key_ok = |k: &SerExpr| match &k.0 {
            Expr::Column(c) => {
                left_keys.iter().any(|k| k == c.as_str())
                    || (right.contains(c)
                        && !left_has(c)
                        && !right_keys.iter().any(|k| k == c.as_str()))
            }
            _ => false,
        };
        if !keys.iter().all(key_ok) {
            return None;
        }
        let mut then = Vec::with_capacity(aggs.len());
        for a in aggs {
            let Expr::Alias(inner, name) = &a.0 else {
                return None;
            };
            // The partial columns must not meet a right column's name.
            if right.contains(name) || left_has(name) {
                return None;
            }
            let reads_left = |x: &Expr| per_row(&names, x);
            let c = || col(name.clone());
            let combined = match &**inner {
                Expr::Len => c().sum(),
                Expr::Agg(AggExpr::Sum(x)) | Expr::Agg(AggExpr::Count { input: x, .. })
                    if reads_left(x) =>
                {
                    c().sum()
                }
                // NaNs propagate, or not, in both stages alike.
                Expr::Agg(AggExpr::Min { input: x, .. } | AggExpr::Max { input: x, .. })
                    if reads_left(x) =>
                {
                    crate::groupby::extreme_of(inner, c())?
                }
                _ => return None,
            };
            let dtype: &DataType = out.get(name)?;
            then.push(SerExpr(combined.cast(dtype.clone()).alias(name.clone())));
        }
        Some(Eager {
            by: left_keys.to_vec(),
            pre: pre.to_vec(),
            first: aggs.clone(),
            keys: keys.clone(),
            then,
        })
    }

    /// The left side aggregated by its join keys.
    pub(crate) fn first_stage(
        &self,
        left: polars::prelude::LazyFrame,
    ) -> polars::prelude::LazyFrame {
        let aggs: Vec<Expr> = self.first.iter().map(|e| e.0.clone()).collect();
        apply_all(&self.pre, left)
            .group_by(self.by.iter().map(|k| col(k.as_str())).collect::<Vec<_>>())
            .agg(aggs)
    }

    /// The joined partial aggregates combined by the step's keys.
    pub(crate) fn second_stage(
        &self,
        joined: polars::prelude::LazyFrame,
    ) -> polars::prelude::LazyFrame {
        let keys: Vec<Expr> = self.keys.iter().map(|e| e.0.clone()).collect();
        let then: Vec<Expr> = self.then.iter().map(|e| e.0.clone()).collect();
        joined.group_by(keys).agg(then)
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{Field, len, lit};

    use super::*;

    fn schema(cols: &[(&str, DataType)]) -> Schema {
        Schema::from_iter(
            cols.iter()
                .map(|(n, t)| Field::new(PlSmallStr::from(*n), t.clone())),
        )
    }

    fn group_by(keys: Vec<Expr>, aggs: Vec<Expr>) -> Vec<Step> {
        let ser = |v: Vec<Expr>| v.into_iter().map(SerExpr).collect();
        vec![Step::GroupBy(ser(keys), ser(aggs))]
    }

    #[test]
    fn applies_to_right_keys_and_combinable_aggregations_of_left_columns() {
        let left = schema(&[("id", DataType::Int64), ("v", DataType::Float64)]);
        let right = schema(&[("id", DataType::Int64), ("site", DataType::String)]);
        let out = schema(&[
            ("site", DataType::String),
            ("s", DataType::Float64),
            ("n", DataType::UInt32),
            ("lo", DataType::Float64),
        ]);
        let plan = |how: JoinType, keys: Vec<Expr>, aggs: Vec<Expr>| {
            Eager::plan(
                &how,
                (&left, &["id".to_string()]),
                (&right, &["id".to_string()]),
                &group_by(keys, aggs),
                &out,
            )
        };
        let ok = || {
            vec![
                col("v").sum().alias("s"),
                len().alias("n"),
                col("v").min().alias("lo"),
            ]
        };
        let e = plan(JoinType::Inner, vec![col("site")], ok()).unwrap();
        assert_eq!(e.then.len(), 3);
        assert!(plan(JoinType::Left, vec![col("site")], ok()).is_some());
        assert!(plan(JoinType::Inner, vec![col("id"), col("site")], ok()).is_some());
        // A right join keeps unmatched right rows, which `len` would count.
        assert!(plan(JoinType::Right, vec![col("site")], ok()).is_none());
        assert!(plan(JoinType::Full, vec![col("site")], ok()).is_none());
        // Keys from the left side (other than the join key) vary within a
        // key's rows.
        assert!(plan(JoinType::Inner, vec![col("v")], ok()).is_none());
        assert!(plan(JoinType::Inner, vec![col("site") + lit("x")], ok()).is_none());
        // Aggregations of right columns, ones that do not combine, and
        // unnamed ones.
        let right_agg = vec![col("site").count().alias("s")];
        assert!(plan(JoinType::Inner, vec![col("site")], right_agg).is_none());
        let first = vec![col("v").first().alias("s")];
        assert!(plan(JoinType::Inner, vec![col("site")], first).is_none());
        assert!(plan(JoinType::Inner, vec![col("site")], vec![col("v").sum()]).is_none());
        // Aggregations over something other than rows of left columns.
        let nested = vec![(col("v") - col("v").mean()).sum().alias("s")];
        assert!(plan(JoinType::Inner, vec![col("site")], nested).is_none());
        let constant = vec![lit(1).sum().alias("s")];
        assert!(plan(JoinType::Inner, vec![col("site")], constant).is_none());
        let derived = vec![(col("v") * lit(2.0)).sum().alias("s")];
        assert!(plan(JoinType::Inner, vec![col("site")], derived).is_some());
        // Filters and derived columns of left columns come first; of right
        // columns, or replacing one, they do not.
        let with = |pre: Step| {
            let mut steps = group_by(vec![col("site")], ok());
            steps.insert(0, pre);
            Eager::plan(
                &JoinType::Inner,
                (&left, &["id".to_string()]),
                (&right, &["id".to_string()]),
                &steps,
                &out,
            )
        };
        assert!(with(Step::Filter(SerExpr(col("v").gt(lit(0.0))))).is_some());
        let derived = SerExpr((col("v") * lit(2.0)).alias("v2"));
        assert!(with(Step::WithColumns(vec![derived])).is_some());
        assert!(with(Step::Filter(SerExpr(col("site").eq(lit("x"))))).is_none());
        let replaced = SerExpr(col("v").alias("site"));
        assert!(with(Step::WithColumns(vec![replaced])).is_none());
        assert!(with(Step::Head(3)).is_none());
        let rekeyed = SerExpr((col("id") * lit(2)).alias("id"));
        assert!(with(Step::WithColumns(vec![rekeyed])).is_none());
    }
}
