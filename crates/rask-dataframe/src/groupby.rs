//! `group_by(keys).agg(aggs)` as a tree reduction, or as a hash shuffle
//! of partial aggregations for many groups (`split_out`).
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
//! Intermediate columns are named `__rask_{i}_{part}`. Aggregations that
//! need the same partial share it, as Dask's intermediates are shared:
//! `sum(x)`, `mean(x)` and `count(x)` together make one sum and one count
//! of `x` per partition ([`share_parts`]; TPC-H Q1, with three sums and
//! three means over five columns, went from 11 to 9 partials and from
//! 0.197–0.199 s to 0.183–0.185 s). The result is cast
//! to the types Polars gives for the same aggregation on one frame (found
//! on an empty frame), so results equal Polars' on the concatenated data
//! up to floating-point rounding and row order.
//!
//! Variance and standard deviation combine per-partition counts, means and
//! sums of squared deviations with Chan's parallel formula, which stays
//! accurate where sums of squares would cancel. A `mean(x)` beside a
//! variance of `x` is pooled from the variance's counts and means instead
//! of a sum of its own ([`decompose_all`]), so `mean`, `std` and `count`
//! of one column take three chunk aggregations, as on one frame.
//!
//! **Split out.** With `n` output partitions ([`GroupBy::split_out`]), the
//! chunk results are hash-shuffled by their keys into `n` partitions (see
//! [`crate::shuffle`]) instead of being reduced by a tree, and every output
//! partition runs the combine and finish parts once on the partials it
//! received: all partials of a group land in one partition, so that
//! partition holds the group's whole answer. Pieces are stacked in input
//! order, so `first`/`last` still pick the first/last row. The result
//! records its hash partitioning on the key columns, so a join on those
//! keys with the same partition count needs no shuffle. When the input is
//! already hash-partitioned on the keys (or on some of them) — after a
//! shuffle, a shuffled join or a split-out aggregation — and `split_out`
//! is not set or equals its partition count, there is no shuffle and no
//! tree at all: every partition finishes its own groups, and the result
//! keeps the input's partitioning.
//!
//! **Choosing `split_out` automatically.** Nothing is computed to choose:
//! the number of groups is bounded from the key types alone, where the type
//! bounds it (an `Enum` has its categories plus null, a `Boolean` 3 values,
//! 8- and 16-bit integers 257 and 65,537; a multi-key bound is the product).
//! A bound of at most [`AUTO_TREE_MAX_GROUPS`] (the result surely fits
//! in one partition) keeps the tree. Otherwise the number of groups is
//! unknown (numbers, strings, dates) or may be large, and the result gets
//! one partition per [`AUTO_INPUTS_PER_OUTPUT`] input partitions, rounded
//! up — Dask's rule of thumb for an unknown result size, which keeps the
//! tree for up to that many input partitions. The shuffle path costs little
//! when groups are few (the partials it moves are then small), so guessing
//! high is cheap; set `split_out` explicitly when you know better.

use polars::prelude::{
    AggExpr, DataType, DataTypeExpr, Expr, NULL, PlSmallStr, col, len, lit, when,
};

use crate::frame::DataFrame;
use crate::shuffle::{HashPartitioning, ShuffleOptions, hash_dtype, hash_shuffle, plain_column};
use crate::steps::{SerExpr, Step, output_schema};

/// With automatic `split_out`, a group count bounded (by the key types) to
/// at most this keeps the tree reduction and one output partition.
pub const AUTO_TREE_MAX_GROUPS: u64 = 1_000_000;

/// With automatic `split_out` and a group count that is unknown or may be
/// over [`AUTO_TREE_MAX_GROUPS`], one output partition per this many input
/// partitions (rounded up).
pub const AUTO_INPUTS_PER_OUTPUT: usize = 16;

/// A pending `group_by`: keys chosen, aggregations not yet.
#[derive(Clone, Debug)]
#[must_use = "call .agg(...) to aggregate"]
pub struct GroupBy {
    pub(crate) df: DataFrame,
    pub(crate) keys: Vec<Expr>,
    split_every: Option<usize>,
    pub(crate) split_out: Option<usize>,
}

impl DataFrame {
    /// Groups rows by the values of `keys` (Polars expressions, usually
    /// columns); aggregate with [`GroupBy::agg`], or run a function on
    /// every group with [`GroupBy::apply`].
    pub fn group_by<E: AsRef<[Expr]>>(&self, keys: E) -> GroupBy {
        GroupBy {
            df: self.clone(),
            keys: keys.as_ref().to_vec(),
            split_every: None,
            split_out: None,
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

    /// The number of output partitions of [`GroupBy::agg`] (and of
    /// [`GroupBy::apply`]). `1` reduces the partials by a tree into one
    /// partition; `n > 1` hash-shuffles the per-partition partial
    /// aggregations by key into `n` partitions and finishes each there, for
    /// results with many groups (see the module docs of `groupby`). `0`
    /// counts as 1. Without it, `agg` chooses from the key types and the
    /// partition count ([`AUTO_TREE_MAX_GROUPS`],
    /// [`AUTO_INPUTS_PER_OUTPUT`]) and `apply` keeps the input's count.
    /// An input already hash-partitioned on the keys (or some of them) is
    /// not moved when `split_out` is unset or equals its partition count.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("id" => [1i64, 2, 3, 1, 2, 3, 4], "v" => [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]).unwrap();
    /// let d = dd::from_polars(pl, 3).unwrap();
    /// let per_id = d.group_by([col("id")]).split_out(2).agg([col("v").sum().alias("total")]);
    /// assert_eq!(per_id.npartitions(), 2);
    /// // The result is hash-partitioned on the key: a join on `id` with
    /// // another dataframe shuffled the same way needs no shuffle.
    /// assert_eq!(per_id.partitioning().unwrap().columns, ["id"]);
    /// let out = per_id.compute().unwrap().sort(["id"], Default::default()).unwrap();
    /// assert_eq!(out.column("total").unwrap().f64().unwrap().get(0), Some(5.0));
    /// ```
    pub fn split_out(mut self, n: usize) -> Self {
        self.split_out = Some(n.max(1));
        self
    }

    /// Aggregates every group: one row per group, the key columns first,
    /// then one column per aggregation. Supported: `sum`, `mean`, `count`,
    /// `len`, `min`, `max`, `first`, `last`, `var(ddof)`, `std(ddof)` of an
    /// expression, each optionally aliased. Rows are in no particular
    /// order. The result has one partition (a tree reduction) unless
    /// [`GroupBy::split_out`] asks for more or chooses more automatically;
    /// then it is hash-partitioned on the key columns (or keeps the
    /// input's partitioning, when that already holds every group whole).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("k" => ["a", "b", "a"], "v" => [1.0, 2.0, 4.0]).unwrap();
    /// let d = dd::from_polars(pl, 2).unwrap();
    /// let out = d.group_by([col("k")]).agg([col("v").mean().alias("m"), len().alias("n")]);
    /// assert_eq!(out.npartitions(), 1); // 2 input partitions: the tree
    /// let out = out.compute().unwrap().sort(["k"], Default::default()).unwrap();
    /// assert_eq!(out.column("m").unwrap().f64().unwrap().get(0), Some(2.5));
    /// ```
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
        let parts = match decompose_all(aggs) {
            Ok(p) => p,
            Err(msg) => return df.with_error(format!("group_by/agg: {msg}")),
        };
        for (parts, (name, dtype)) in parts.into_iter().zip(oracle.iter().skip(nkeys)) {
            chunk.extend(parts.chunk);
            combine.extend(parts.combine);
            finish.push(parts.finish.cast(dtype.clone()).alias(name.clone()));
        }
        share_parts(&mut chunk, &mut combine, &mut finish, df.schema());
        let key_cols: Vec<Expr> = key_names.iter().map(|k| col(k.clone())).collect();
        let partial = df.with_step("group_by", Step::GroupBy(ser(&self.keys), ser(&chunk)));
        let key_types: Vec<DataType> = oracle.iter_values().take(nkeys).cloned().collect();
        let combine = Step::GroupBy(ser(&key_cols), ser(&combine));
        let finish = Step::Select(ser(&finish));
        // Already placed by (some of) these keys: every group is whole in
        // one partition, so each partition finishes its own groups.
        if let Some(p) = self.grouped_in_place() {
            return partial
                .with_step("group_by-combine", combine)
                .with_step("group_by-finish", finish)
                .with_meta(None, Some(p));
        }
        let n_out = self
            .split_out
            .unwrap_or_else(|| auto_split_out(&key_types, df.npartitions()));
        if n_out <= 1 {
            let split_every = match self.split_every {
                Some(n) => n,
                None => rask_config::try_get().map_or(4, |c| c.split_every),
            };
            return crate::tree::reduce(
                &partial,
                "group_by-agg",
                vec![combine],
                vec![finish],
                split_every,
                true,
            );
        }
        let placed = HashPartitioning {
            columns: key_names.iter().map(|k| k.to_string()).collect(),
            dtypes: key_types.iter().map(hash_dtype).collect(),
            npartitions: n_out,
        };
        hash_shuffle(
            &partial,
            &key_cols,
            &placed.dtypes,
            n_out,
            &ShuffleOptions::default(),
        )
        .with_step("group_by-combine", combine)
        .with_step("group_by-finish", finish)
        .with_meta(None, Some(placed))
    }

    /// The input's hash partitioning, when it places rows by columns that
    /// are all among the keys (plain columns) into the partition count
    /// asked for (any, when `split_out` is not set): then every group is
    /// whole in one partition, and results keep that partitioning (the key
    /// columns come out unchanged).
    pub(crate) fn grouped_in_place(&self) -> Option<HashPartitioning> {
        let p = self.df.partitioning()?;
        let keys: Vec<String> = self.keys.iter().map(plain_column).collect::<Option<_>>()?;
        let fits = self.split_out.is_none_or(|n| n == p.npartitions)
            && p.columns.iter().all(|c| keys.contains(c));
        fits.then(|| p.clone())
    }
}

/// The number of output partitions `agg` chooses when `split_out` is not
/// set (see the module docs).
pub(crate) fn auto_split_out(key_types: &[DataType], n_in: usize) -> usize {
    if let Some(bound) = groups_bound(key_types)
        && bound <= AUTO_TREE_MAX_GROUPS
    {
        return 1;
    }
    n_in.div_ceil(AUTO_INPUTS_PER_OUTPUT).max(1)
}

/// An upper bound on the number of groups of keys of these types (nulls
/// included), when every type bounds its values.
pub(crate) fn groups_bound(key_types: &[DataType]) -> Option<u64> {
    key_types.iter().try_fold(1u64, |acc, t| {
        let values = match t {
            DataType::Null => 1,
            DataType::Boolean => 3,
            DataType::Int8 | DataType::UInt8 => 257,
            DataType::Int16 | DataType::UInt16 => 65_537,
            DataType::Enum(frozen, _) => frozen.categories().len() as u64 + 1,
            _ => return None,
        };
        Some(acc.saturating_mul(values))
    })
}

/// Makes chunk aggregations that compute the same partial run once, as
/// Dask shares a group-by's intermediates: `sum(x)` and `mean(x)` both
/// need the sum of `x`, `count(x)` and `mean(x)` its count. A later
/// duplicate is dropped from `chunk` and from `combine` (which gives each
/// partial column its own name), and every reference to its column, in
/// `combine` and `finish`, reads the first's. A sum or count of `x` cast
/// to `Float64` is the sum or count of `x` when `x` already is one (a
/// count also when `x` is numeric: the cast makes no nulls).
pub(crate) fn share_parts(
    chunk: &mut Vec<Expr>,
    combine: &mut Vec<Expr>,
    finish: &mut [Expr],
    schema: &polars::prelude::Schema,
) {
    // The partial a chunk aggregation computes, with casts that change
    // nothing taken away.
    let normal = |e: &Expr| -> Expr {
        let plain = |x: &Expr, numeric_ok: bool| match x {
            Expr::Cast {
                expr,
                dtype: DataTypeExpr::Literal(DataType::Float64),
                ..
            } => match &**expr {
                Expr::Column(c) => match schema.get(c) {
                    Some(DataType::Float64) => Some((**expr).clone()),
                    Some(t) if numeric_ok && t.is_primitive_numeric() => Some((**expr).clone()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        match e {
            Expr::Agg(AggExpr::Sum(x)) => match plain(x, false) {
                Some(x) => x.sum(),
                None => e.clone(),
            },
            Expr::Agg(AggExpr::Count {
                input,
                include_nulls,
            }) => match plain(input, true) {
                Some(x) => Expr::Agg(AggExpr::Count {
                    input: std::sync::Arc::new(x),
                    include_nulls: *include_nulls,
                }),
                None => e.clone(),
            },
            _ => e.clone(),
        }
    };
    let mut seen: Vec<(Expr, PlSmallStr)> = Vec::new();
    let mut renamed: Vec<(PlSmallStr, PlSmallStr)> = Vec::new();
    chunk.retain(|e| {
        let Expr::Alias(inner, name) = e else {
            return true;
        };
        let body = normal(inner);
        match seen.iter().find(|(b, _)| *b == body) {
            Some((_, first)) => {
                renamed.push((name.clone(), first.clone()));
                false
            }
            None => {
                seen.push((body, name.clone()));
                true
            }
        }
    });
    if renamed.is_empty() {
        return;
    }
    let target = |n: &PlSmallStr| renamed.iter().find(|(d, _)| d == n).map(|(_, f)| f.clone());
    combine.retain(|e| !matches!(e, Expr::Alias(_, n) if target(n).is_some()));
    let redirect = |e: Expr| {
        e.map_expr(|node| match &node {
            Expr::Column(n) => target(n).map(col).unwrap_or(node),
            _ => node,
        })
    };
    for e in combine.iter_mut().chain(finish.iter_mut()) {
        *e = redirect(std::mem::replace(e, lit(0)));
    }
}

/// The parts of every aggregation of `aggs`, in order (see [`decompose`]).
///
/// Where `aggs` also take the variance or standard deviation of the input
/// of a `mean`, that mean is pooled from the count and mean the variance
/// computes per chunk anyway (as the variance's own mean is), so that
/// [`share_parts`] leaves one reduction fewer per chunk than a sum would.
pub(crate) fn decompose_all(aggs: &[Expr]) -> Result<Vec<Parts>, String> {
    let moments: Vec<&Expr> = aggs
        .iter()
        .filter_map(|a| match unalias(a) {
            Expr::Agg(AggExpr::Var(x, _)) | Expr::Agg(AggExpr::Std(x, _)) => Some(&**x),
            _ => None,
        })
        .collect();
    aggs.iter()
        .enumerate()
        .map(|(i, a)| match unalias(a) {
            Expr::Agg(AggExpr::Mean(x)) if moments.contains(&&**x) => Ok(pooled_mean(x, i)),
            _ => decompose(a, i),
        })
        .collect()
}

/// `e` without its aliases.
fn unalias(mut e: &Expr) -> &Expr {
    while let Expr::Alias(inner, _) = e {
        e = inner;
    }
    e
}

/// The chunk parts of a variance of `x` (aggregation `i`): the count and
/// mean of `x` as `Float64`, named `__rask_{i}_count` and `__rask_{i}_mean`.
fn moment_chunks(x: &Expr, i: usize) -> (Expr, Expr) {
    let x = x.clone().cast(DataType::Float64);
    (
        x.clone().count().alias(part_name(i, "count")),
        x.mean().fill_null(lit(0.0)).alias(part_name(i, "mean")),
    )
}

/// The mean of chunk means `m` weighted by their counts `c` (0 where
/// every count is 0). A NaN among the values makes its chunk's mean NaN,
/// and the pooled mean too, as Polars' mean of all of them is.
fn pooled(c: &PlSmallStr, m: &PlSmallStr) -> Expr {
    let total = col(c.clone()).sum();
    when(total.clone().eq(lit(0)))
        .then(lit(0.0))
        .otherwise((col(c.clone()) * col(m.clone())).sum() / total.cast(DataType::Float64))
}

/// `mean(x)` (aggregation `i`) pooled from the partials of a variance.
fn pooled_mean(x: &Expr, i: usize) -> Parts {
    let (c, m) = (part_name(i, "count"), part_name(i, "mean"));
    let (count, mean) = moment_chunks(x, i);
    Parts {
        chunk: vec![count, mean],
        combine: vec![
            col(c.clone()).sum().alias(c.clone()),
            pooled(&c, &m).alias(m.clone()),
        ],
        finish: when(col(c).eq(lit(0))).then(lit(NULL)).otherwise(col(m)),
    }
}

/// `agg`'s minimum or maximum, with its NaN rule (`nan_min`/`nan_max`
/// propagate NaNs, `min`/`max` skip them), taken again over `input`: the
/// combine of partial extremes. `None` when `agg` is neither.
pub(crate) fn extreme_of(agg: &Expr, input: Expr) -> Option<Expr> {
    let input = std::sync::Arc::new(input);
    match agg {
        Expr::Agg(AggExpr::Min { propagate_nans, .. }) => Some(Expr::Agg(AggExpr::Min {
            input,
            propagate_nans: *propagate_nans,
        })),
        Expr::Agg(AggExpr::Max { propagate_nans, .. }) => Some(Expr::Agg(AggExpr::Max {
            input,
            propagate_nans: *propagate_nans,
        })),
        _ => None,
    }
}

/// The name of partial column `part` of aggregation `i`.
fn part_name(i: usize, part: &str) -> PlSmallStr {
    PlSmallStr::from(format!("__rask_{i}_{part}"))
}

/// The three parts of one aggregation (see the module docs).
pub(crate) struct Parts {
    pub chunk: Vec<Expr>,
    pub combine: Vec<Expr>,
    pub finish: Expr,
}

/// Splits aggregation number `i` into its chunk, combine and finish parts,
/// or says why it cannot be.
fn decompose(agg: &Expr, i: usize) -> Result<Parts, String> {
    let e = unalias(agg);
    let n = |part: &str| part_name(i, part);
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
        // so the first of the firsts is the first — of the partials that
        // saw rows: an empty partition's first is a null that is not a
        // value (a whole-frame `agg` after a filter has them), while a
        // null first value is.
        Expr::Agg(AggExpr::First(_)) | Expr::Agg(AggExpr::Last(_)) => {
            let (c, rows) = (n("v"), n("rows"));
            let seen = col(c.clone()).filter(col(rows.clone()).gt(lit(0)));
            let again = if matches!(e, Expr::Agg(AggExpr::First(_))) {
                seen.first()
            } else {
                seen.last()
            };
            Parts {
                chunk: vec![e.clone().alias(c.clone()), len().alias(rows.clone())],
                combine: vec![again.alias(c.clone()), resum(&rows)],
                finish: col(c),
            }
        }
        Expr::Agg(AggExpr::Min { .. }) | Expr::Agg(AggExpr::Max { .. }) => {
            let c = n("v");
            let again = extreme_of(e, col(c.clone())).expect("a min or max");
            Parts {
                chunk: vec![e.clone().alias(c.clone())],
                combine: vec![again.alias(c.clone())],
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
            let (count, mean) = moment_chunks(x, i);
            let x = (**x).clone().cast(DataType::Float64);
            let total = col(c.clone()).sum();
            let pooled_mean = pooled(&c, &m);
            let dev = col(m.clone()) - pooled_mean.clone();
            let ddof = *ddof as i64;
            let var = when(col(c.clone()).gt(lit(ddof)))
                .then(col(m2.clone()) / (col(c.clone()) - lit(ddof)).cast(DataType::Float64))
                .otherwise(lit(NULL));
            Parts {
                chunk: vec![
                    count,
                    mean,
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

#[cfg(test)]
mod tests {
    use polars::prelude::{Field, Schema, len};

    use super::*;

    #[test]
    fn chunk_aggregations_of_the_same_partial_run_once() {
        let schema = Schema::from_iter([
            Field::new("v".into(), DataType::Float64),
            Field::new("w".into(), DataType::Int64),
        ]);
        let aggs = [
            col("v").sum(),
            col("v").mean(),
            col("v").count(),
            col("w").sum(),
            col("w").mean(),
            col("v").std(1),
            col("v").var(0),
            len(),
        ];
        let (chunk, combine, finish) = shared(&aggs, &schema);
        assert_eq!(chunk.len(), 8);
        // mean(v) is pooled from the count and mean its variances take;
        // that count serves count(v) too, and var(0) shares std's squared
        // deviations; sum(w) is an integer sum, mean(w)'s a float one.
        assert_eq!(
            names(&chunk),
            [
                "__rask_0_v",
                "__rask_1_count",
                "__rask_1_mean",
                "__rask_3_v",
                "__rask_4_sum",
                "__rask_4_count",
                "__rask_5_m2",
                "__rask_7_v"
            ]
        );
        assert_eq!(names(&combine), names(&chunk));
        reads_only_made_columns(&chunk, &combine, &finish);
    }

    #[test]
    fn a_mean_beside_a_standard_deviation_adds_no_chunk_aggregation() {
        let schema = Schema::from_iter([Field::new("v".into(), DataType::Int32)]);
        let v = || col("v");
        let aggs = [
            v().mean().alias("mean"),
            v().std(1).alias("std"),
            v().count().alias("n"),
        ];
        let (chunk, combine, finish) = shared(&aggs, &schema);
        // The variance's count, mean and squared deviations; nothing else.
        assert_eq!(
            names(&chunk),
            ["__rask_0_count", "__rask_0_mean", "__rask_1_m2"]
        );
        reads_only_made_columns(&chunk, &combine, &finish);
        // Without the standard deviation, the mean is a sum and a count.
        let (chunk, ..) = shared(&aggs[..1], &schema);
        assert_eq!(names(&chunk), ["__rask_0_sum", "__rask_0_count"]);
    }

    #[test]
    fn partial_extremes_are_combined_with_their_nan_rule() {
        for propagate_nans in [false, true] {
            let v = std::sync::Arc::new(col("v"));
            let aggs = [
                Expr::Agg(AggExpr::Min {
                    input: v.clone(),
                    propagate_nans,
                }),
                Expr::Agg(AggExpr::Max {
                    input: v,
                    propagate_nans,
                }),
            ];
            for (i, a) in aggs.iter().enumerate() {
                let p = decompose(a, i).unwrap();
                let Expr::Alias(combine, _) = &p.combine[0] else {
                    panic!("an unnamed combine: {:?}", p.combine[0]);
                };
                let want = Expr::Agg(match a {
                    Expr::Agg(AggExpr::Min { .. }) => AggExpr::Min {
                        input: std::sync::Arc::new(col(part_name(i, "v"))),
                        propagate_nans,
                    },
                    _ => AggExpr::Max {
                        input: std::sync::Arc::new(col(part_name(i, "v"))),
                        propagate_nans,
                    },
                });
                assert_eq!(**combine, want);
            }
        }
    }

    /// The chunk, combine and finish parts of `aggs` after sharing.
    fn shared(aggs: &[Expr], schema: &Schema) -> (Vec<Expr>, Vec<Expr>, Vec<Expr>) {
        let (mut chunk, mut combine, mut finish) = (Vec::new(), Vec::new(), Vec::new());
        for p in decompose_all(aggs).unwrap() {
            chunk.extend(p.chunk);
            combine.extend(p.combine);
            finish.push(p.finish);
        }
        share_parts(&mut chunk, &mut combine, &mut finish, schema);
        (chunk, combine, finish)
    }

    fn names(v: &[Expr]) -> Vec<String> {
        v.iter()
            .map(|e| match e {
                Expr::Alias(_, n) => n.to_string(),
                other => panic!("unnamed {other:?}"),
            })
            .collect()
    }

    /// Every column a combine or finish part reads is one that is made.
    fn reads_only_made_columns(chunk: &[Expr], combine: &[Expr], finish: &[Expr]) {
        for e in combine.iter().chain(finish) {
            for n in crate::steps::root_names(e).unwrap() {
                assert!(names(chunk).contains(&n.to_string()), "{n} in {e:?}");
            }
        }
    }
}
