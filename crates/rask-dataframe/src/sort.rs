//! `sort` and `set_index`: a global sort by sampled quantiles.
//!
//! Sorting `n` partitions takes three passes, as Dask's `set_index` does:
//!
//! 1. **Sample** (computed at once): every partition sorts the values of
//!    the first sort key and keeps evenly spaced ones (its minimum and
//!    maximum among them), each weighted by how many rows it stands for.
//! 2. **Boundaries**: the weighted quantiles `1/n, 2/n, …` of the pooled
//!    sample, repeated values dropped (so a key with few distinct values
//!    gives fewer partitions).
//! 3. **Range shuffle** (lazy): every row goes to the partition of its key's
//!    range (see [`crate::shuffle`]), and each output partition is sorted
//!    by all the keys with Polars. Rows with equal first keys land in the
//!    same partition, so the partitions in order are the sorted frame.
//!
//! The sample also gives every partition's exact key range. Partitions
//! whose ranges are already disjoint and in order skip step 3: each is
//! sorted where it is made (as Dask's `set_index` of presorted data).
//! Otherwise each output of the shuffle reads only the partitions whose
//! range reaches it.
//!
//! Nulls of the first key go to the first partition (the last with
//! `nulls_last`). A sort by one plain numeric or temporal column, ascending,
//! records the partitions' [`Divisions`] (the sample's minimum, the
//! boundaries, the maximum); null keys, which sort first, lie outside them.

use std::sync::Arc;

use polars::prelude::{
    ChunkCompareIneq, DataFrame as PlFrame, DataType, Expr, IdxCa, IdxSize, IntoLazy, NamedFrom,
    Series, SortMultipleOptions, col,
};
use rask_core::{Error, GraphBuilder, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::frame::{
    DataFrame, Divisions, Layer, Source, fmt_schema, layer_name, part_key, polars_error,
};
use crate::kernels::{Part, failed, part_arg, polars_pool};
use crate::shuffle::{
    Partitioner, PlBytes, ShuffleOptions, SortSpec, plain_column, range_targets, shuffle,
};
use crate::steps::{SerExpr, Step};

impl DataFrame {
    /// Sorts the rows by `by` (Polars expressions, usually columns),
    /// ascending with nulls first, like Polars' `sort`. Samples the first
    /// key at once to choose the partitions' ranges (see the module docs),
    /// so it returns a `Result`; the sort itself is lazy.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("ts" => [5i64, 3, 9, 1, 7, 2], "v" => [0i64, 1, 2, 3, 4, 5]).unwrap();
    /// let d = dd::from_polars(pl, 3).unwrap();
    /// let first = d.sort([col("ts")]).unwrap().head(2).unwrap();
    /// assert_eq!(first.column("ts").unwrap().i64().unwrap().to_vec(), [Some(1), Some(2)]);
    /// ```
    pub fn sort<E: AsRef<[Expr]>>(&self, by: E) -> Result<DataFrame> {
        self.sort_with(
            by,
            SortMultipleOptions::default(),
            &ShuffleOptions::default(),
        )
    }

    /// Like [`DataFrame::sort`], with Polars' sort options (descending,
    /// nulls last, stable order of equal keys) and shuffle options (the
    /// partition count, by default the input's; spilling).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, ShuffleOptions, polars::prelude::*};
    /// let pl = df!("x" => [Some(2i64), None, Some(8), Some(4)]).unwrap();
    /// let d = dd::from_polars(pl, 2).unwrap();
    /// let opts = SortMultipleOptions::default().with_order_descending(true).with_nulls_last(true);
    /// let s = d.sort_with([col("x")], opts, &ShuffleOptions::default()).unwrap().compute().unwrap();
    /// assert_eq!(s.column("x").unwrap().i64().unwrap().to_vec(), [Some(8), Some(4), Some(2), None]);
    /// ```
    pub fn sort_with<E: AsRef<[Expr]>>(
        &self,
        by: E,
        options: SortMultipleOptions,
        shuffle_options: &ShuffleOptions,
    ) -> Result<DataFrame> {
        self.check()?;
        let by = by.as_ref().to_vec();
        let Some(first) = by.first().cloned() else {
            return Err(Error::invalid(
                "sort",
                "no sort key given; pass at least one expression",
            ));
        };
        if options.limit.is_some() {
            return Err(Error::invalid(
                "sort",
                "a sort with a limit is not supported; sort, then take head(n)",
            ));
        }
        // Checks names and types on an empty frame.
        let key_dtype = crate::steps::planned(|| {
            PlFrame::empty_with_schema(self.schema())
                .lazy()
                .sort_by_exprs(by.clone(), options.clone())
                .collect_schema()?;
            PlFrame::empty_with_schema(self.schema())
                .lazy()
                .select([first.clone()])
                .collect_schema()
        })
        .map_err(|e| {
            Error::invalid(
                "sort",
                format!(
                    "{e}; the dataframe's schema is {}",
                    fmt_schema(self.schema())
                ),
            )
        })?
        .iter_values()
        .next()
        .cloned()
        .unwrap_or(DataType::Null);
        let descending = options.descending.first().copied().unwrap_or(false);
        let nulls_last = options.nulls_last.first().copied().unwrap_or(false);
        let n_out = shuffle_options
            .get_npartitions()
            .unwrap_or(self.npartitions());
        let may_divide = by.len() == 1
            && !descending
            && plain_column(&first).is_some()
            && (key_dtype.is_primitive_numeric() || key_dtype.is_temporal());
        let sampled = if n_out <= 1 && !may_divide {
            None
        } else {
            let per_part = (4 * n_out).clamp(16, 1024) as u32;
            Some(sample_layer(self, &first, per_part).compute()?)
        };
        // Partitions that already hold disjoint ranges of the first key,
        // in the sort's order, need no shuffle, only a sort each (as in
        // Dask).
        let ordered_key =
            key_dtype.is_integer() || key_dtype.is_temporal() || key_dtype.is_string();
        let stats = match &sampled {
            Some(sampled) if ordered_key => Some(partition_stats(sampled, self.npartitions())?),
            _ => None,
        };
        if let Some(stats) = &stats
            && n_out == self.npartitions()
            && let Some((lo, hi)) = presorted(stats, descending)?
        {
            let spec = SortSpec {
                by: by.iter().cloned().map(SerExpr).collect(),
                options: PlBytes(
                    options
                        .clone()
                        .with_multithreaded(options.multithreaded && n_out == 1),
                ),
            };
            let out = self.with_step("sort", Step::Sort(spec));
            let divisions = match plain_column(&first) {
                Some(column) if may_divide => as_f64(&lo).zip(as_f64(&hi)).map(|(lo, hi)| {
                    let mut bounds = lo;
                    bounds.extend(hi.last());
                    Divisions { column, bounds }
                }),
                _ => None,
            };
            let partitioning = out.inner.partitioning.clone();
            return Ok(out.with_meta(divisions, partitioning));
        }
        let (bounds, range) = match &sampled {
            None => (
                Series::new_empty(first_name(&first).into(), &key_dtype),
                None,
            ),
            Some(sampled) => boundaries(sampled, n_out)?,
        };
        let n = bounds.len() + 1;
        // Each output partition is sorted in its own task, in parallel with
        // the others: a sort of its own on every core (Polars' parallel
        // merge sort) would only compete with them, and Rust's sort on one
        // thread costs less CPU (on `df-set-index`, 13% of the run's CPU
        // samples against 23%).
        let threads = options.multithreaded && n == 1;
        let spec = SortSpec {
            by: by.iter().cloned().map(SerExpr).collect(),
            options: PlBytes(options.with_multithreaded(threads)),
        };
        let partitioner = Partitioner::Range {
            key: SerExpr(first.clone()),
            bounds: PlBytes(bounds.clone()),
            descending,
            nulls_last,
        };
        // With every partition's key range known, each output reads only
        // the partitions whose range reaches it (nearly sorted data, such
        // as files in time order whose rows are not, shuffles between
        // neighbours).
        let reach = match &stats {
            Some(stats) => reach(stats, &bounds, descending, nulls_last)?,
            None => None,
        };
        let out = shuffle(
            self,
            "sort",
            partitioner,
            n,
            Some(spec),
            shuffle_options,
            reach,
        );
        let divisions = match (plain_column(&first), range) {
            (Some(column), Some((lo, hi))) if may_divide => as_f64(&bounds).map(|inner| {
                let mut b = vec![lo];
                b.extend(inner);
                b.push(hi);
                Divisions { column, bounds: b }
            }),
            _ => None,
        };
        Ok(out.with_meta(divisions, None))
    }

    /// Sorts by `column` and records the partitions' [`Divisions`] (Polars
    /// frames have no index, so the column stays a column): the basis of
    /// Dask's `set_index`. Nulls go first, outside the divisions.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("t" => (0..100i64).rev().collect::<Vec<_>>()).unwrap();
    /// let d = dd::from_polars(pl, 4).unwrap().set_index("t").unwrap();
    /// let div = d.divisions().unwrap();
    /// assert_eq!(div.column, "t");
    /// assert_eq!(div.bounds.first(), Some(&0.0));
    /// assert_eq!(div.bounds.last(), Some(&99.0));
    /// ```
    pub fn set_index(&self, column: &str) -> Result<DataFrame> {
        self.check()?;
        match self.dtype(column) {
            Some(t) if t.is_primitive_numeric() || t.is_temporal() => self.sort([col(column)]),
            Some(t) => Err(Error::invalid(
                "set_index",
                format!(
                    "column `{column}` is {t}; divisions need a numeric or temporal column \
                     (use sort for others)"
                ),
            )),
            None => Err(Error::invalid(
                "set_index",
                format!(
                    "no column `{column}`; the dataframe's schema is {}",
                    fmt_schema(self.schema())
                ),
            )),
        }
    }
}

/// The output name of a key expression, for an empty boundary series.
fn first_name(e: &Expr) -> String {
    plain_column(e).unwrap_or_else(|| "key".to_string())
}

/// The values of a numeric or temporal series as `f64`.
fn as_f64(s: &Series) -> Option<Vec<f64>> {
    let f = s.to_physical_repr().cast(&DataType::Float64).ok()?;
    let f = f.f64().ok()?;
    f.iter().collect()
}

/// What the sample says of every partition's first key.
struct PartitionStats {
    /// The smallest key of each partition; null where the partition has
    /// no key that is not null (it is empty, or all null).
    lo: Series,
    /// The largest key of each partition, null likewise.
    hi: Series,
    /// The null keys of each partition (0 where `lo` is null: unknown).
    nulls: Vec<u64>,
}

/// Every partition's key range and null count, from the sample
/// ([`sample_layer`]), which holds each partition's exact minimum and
/// maximum.
fn partition_stats(sampled: &PlFrame, n: usize) -> Result<PartitionStats> {
    let err = |e| polars_error("sort: sampling", e);
    let per = sampled
        .clone()
        .lazy()
        .group_by([col("p")])
        .agg([
            col("key").min().alias("lo"),
            col("key").max().alias("hi"),
            col("nulls").max().alias("nulls"),
        ])
        .collect()
        .map_err(err)?;
    // Row of `per` for each partition (none where it has no sample).
    let mut row: Vec<Option<IdxSize>> = vec![None; n];
    let ps = per
        .column("p")
        .and_then(|c| c.u32().cloned())
        .map_err(err)?;
    for (r, p) in ps.iter().enumerate() {
        if let Some(slot) = p.and_then(|p| row.get_mut(p as usize)) {
            *slot = Some(r as IdxSize);
        }
    }
    let idx: IdxCa = row.iter().copied().collect();
    let column = |name: &str| -> Result<Series> {
        per.column(name)
            .and_then(|c| c.as_materialized_series().take(&idx))
            .map_err(err)
    };
    let (lo, hi) = (column("lo")?, column("hi")?);
    let nulls = column("nulls")?;
    let nulls = nulls
        .u64()
        .map_err(err)?
        .iter()
        .map(|c| c.unwrap_or(0))
        .collect();
    Ok(PartitionStats { lo, hi, nulls })
}

/// Every partition's minimum and maximum of the first key, when the
/// partitions hold disjoint ranges in the sort's order (each maximum below
/// the next minimum; with `descending`, each minimum above the next
/// maximum) and no key is null; `None` when a partition is empty or all
/// null, a key is null, or the ranges overlap or are out of order.
fn presorted(stats: &PartitionStats, descending: bool) -> Result<Option<(Series, Series)>> {
    let (lo, hi) = (&stats.lo, &stats.hi);
    let n = lo.len();
    if stats.nulls.iter().any(|&c| c > 0) || lo.null_count() > 0 || hi.null_count() > 0 {
        return Ok(None);
    }
    if n > 1 {
        let apart = if descending {
            lo.slice(0, n - 1).gt(&hi.slice(1, n - 1))
        } else {
            hi.slice(0, n - 1).lt(&lo.slice(1, n - 1))
        }
        .map_err(|e| polars_error("sort: sampling", e))?;
        if !apart.all() {
            return Ok(None);
        }
    }
    Ok(Some((lo.clone(), hi.clone())))
}

/// For every partition, the outputs of a range shuffle by `bounds` its
/// rows can go to: those between its minimum's and its maximum's, and the
/// nulls' when it has null keys; every output for a partition with no key
/// range (empty, or all null). `None` when every partition reaches every
/// output.
fn reach(
    stats: &PartitionStats,
    bounds: &Series,
    descending: bool,
    nulls_last: bool,
) -> Result<Option<Vec<Vec<u32>>>> {
    let err = |e| polars_error("sort: sampling", e);
    let outputs = bounds.len() as u32 + 1;
    let targets = |s: &Series| range_targets(s, bounds, descending, nulls_last).map_err(err);
    let (from, to) = (targets(&stats.lo)?, targets(&stats.hi)?);
    let null_target = if nulls_last { outputs - 1 } else { 0 };
    let reach: Vec<Vec<u32>> = (0..stats.lo.len())
        .map(|p| {
            if stats.lo.get(p).map_or(true, |v| v.is_null()) {
                return (0..outputs).collect();
            }
            let (a, b) = (from[p].min(to[p]), from[p].max(to[p]));
            let mut outs: Vec<u32> = (a..=b).collect();
            if stats.nulls[p] > 0 && !outs.contains(&null_target) {
                outs.push(null_target);
                outs.sort_unstable();
            }
            outs
        })
        .collect();
    let full = reach.iter().all(|r| r.len() == outputs as usize);
    Ok((!full).then_some(reach))
}

/// The range boundaries of `n` partitions from the sample of the first key
/// ([`sample_layer`]), and the sample's (min, max) as `f64` when the key is
/// a number.
fn boundaries(sampled: &PlFrame, n: usize) -> Result<(Series, Option<(f64, f64)>)> {
    let sampled = sampled
        .sort(["key"], Default::default())
        .map_err(|e| polars_error("sort: sampling", e))?;
    let key = sampled
        .column("key")
        .map_err(|e| polars_error("sort: sampling", e))?
        .as_materialized_series()
        .clone();
    let w = sampled
        .column("w")
        .and_then(|c| c.f64().cloned())
        .map_err(|e| polars_error("sort: sampling", e))?;
    let total: f64 = w.iter().flatten().sum();
    let mut rows: Vec<IdxSize> = Vec::new();
    let mut cum = 0.0;
    let mut next = 1usize;
    for (r, wi) in w.iter().enumerate() {
        cum += wi.unwrap_or(0.0);
        while next < n && cum >= total * next as f64 / n as f64 {
            rows.push(r as IdxSize);
            next += 1;
        }
    }
    let picked = key
        .take(&IdxCa::from_vec("".into(), rows))
        .map_err(|e| polars_error("sort: sampling", e))?;
    // Drop repeated boundaries (a repeated one makes an empty partition).
    let mut keep: Vec<IdxSize> = Vec::new();
    for i in 0..picked.len() {
        let same = i > 0
            && picked.get(i).ok() == picked.get(keep.last().copied().unwrap_or(0) as usize).ok();
        if !same {
            keep.push(i as IdxSize);
        }
    }
    let bounds = picked
        .take(&IdxCa::from_vec("".into(), keep))
        .map_err(|e| polars_error("sort: sampling", e))?;
    let range = if key.is_empty() {
        None
    } else {
        as_f64(&key.slice(0, 1))
            .zip(as_f64(&key.slice(key.len() as i64 - 1, 1)))
            .map(|(lo, hi)| (lo[0], hi[0]))
    };
    Ok((bounds, range))
}

/// One sample task per partition of `df`: up to `count` evenly spaced
/// values of the sorted, non-null `key`, each weighted by the rows it
/// stands for, and the key's minimum and maximum (weight 0); beside each,
/// the partition's number (`p`) and its count of null keys (`nulls`).
/// Only the key is read (a reader is asked for its columns alone).
fn sample_layer(df: &DataFrame, key: &Expr, count: u32) -> DataFrame {
    let keys = df.select([key.clone().alias("key")]);
    let name = layer_name("sort-sample", &count, &[keys.name()]);
    let schema = {
        let mut s = (**keys.schema()).clone();
        s.insert("w".into(), DataType::Float64);
        s.insert("p".into(), DataType::UInt32);
        s.insert("nulls".into(), DataType::UInt64);
        Arc::new(s)
    };
    let (keys2, name2) = (keys.clone(), name.clone());
    let add = Box::new(move |b: &mut GraphBuilder| {
        let parts = keys2.add_parts(b, 0..keys2.npartitions());
        for (i, p) in parts.into_iter().enumerate() {
            let kernel = Sample {
                count,
                part: i as u32,
            };
            b.insert(
                part_key(&name2, i),
                Op::from_kernel(Arc::new(kernel), false),
                [p],
            );
        }
    });
    DataFrame::from_source(
        Source::Layer(Arc::new(Layer {
            name,
            npartitions: df.npartitions(),
            schema,
            add,
            fuse: None,
            inline: None,
        })),
        None,
    )
}

/// Rows a sample task sorts at most: beyond this many non-null keys it
/// sorts a pseudo-random subset of this size instead of the whole column
/// (a sort of every key cost as much as the shuffle's own sorts). The
/// pooled subsets place the boundaries within a fraction of a percent of
/// the true quantiles, which only moves rows between partitions, never
/// out of order.
const SAMPLE_SORT_MAX: usize = 1 << 14;

/// Samples the key column `key` of the partition in argument 0 (see
/// [`sample_layer`]).
#[derive(Serialize, Deserialize)]
pub(crate) struct Sample {
    count: u32,
    /// The partition's number.
    part: u32,
}

impl rask_core::Kernel for Sample {
    const NAME: &'static str = "rask.dataframe.sort_sample";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let df = part_arg(args, 0)?.clone();
        let out = polars_pool(|| {
            let all = df.column("key")?.as_materialized_series();
            let key = all.drop_nulls();
            let nulls = (all.len() - key.len()) as u64;
            let m = key.len();
            let (sorted, extremes) = if m <= SAMPLE_SORT_MAX {
                (key.sort(Default::default())?, None)
            } else {
                let rows = sample_rows(m, SAMPLE_SORT_MAX);
                let sub = key.take(&IdxCa::from_vec("".into(), rows))?;
                let lo = key.min_reduce()?.into_series("key".into());
                let hi = key.max_reduce()?.into_series("key".into());
                (sub.sort(Default::default())?, Some((lo, hi)))
            };
            let s_len = sorted.len();
            let take = (self.count as usize).min(s_len);
            let rows: Vec<IdxSize> = match take {
                0 => Vec::new(),
                1 => vec![0],
                t => (0..t)
                    .map(|i| (i * (s_len - 1) / (t - 1)) as IdxSize)
                    .collect(),
            };
            let mut picked = sorted.take(&IdxCa::from_vec("".into(), rows))?;
            let w = if take == 0 {
                0.0
            } else {
                m as f64 / take as f64
            };
            let mut weights = vec![w; take];
            // The subset may miss the extremes; they bound the divisions.
            if let Some((lo, hi)) = extremes {
                let lo = lo.cast(picked.dtype())?;
                let hi = hi.cast(picked.dtype())?;
                picked.append(&lo)?;
                picked.append(&hi)?;
                weights.extend([0.0, 0.0]);
            }
            let rows = picked.len();
            PlFrame::new(
                rows,
                vec![
                    picked.with_name("key".into()).into(),
                    Series::new("w".into(), weights).into(),
                    Series::new("p".into(), vec![self.part; rows]).into(),
                    Series::new("nulls".into(), vec![nulls; rows]).into(),
                ],
            )
        })
        .map_err(failed)?;
        Ok(Part::value(out))
    }
}

/// `k` row numbers below `m` (`k < m`), pseudo-random but the same every
/// run (SplitMix64 with the row count as its key), in increasing order so
/// the take reads memory forwards.
fn sample_rows(m: usize, k: usize) -> Vec<IdxSize> {
    let mut rows: Vec<IdxSize> = (0..k as u64)
        .map(|i| {
            let z = rask_core::splitmix::bits(m as u64, i);
            ((z as u128 * m as u128) >> 64) as IdxSize
        })
        .collect();
    rows.sort_unstable();
    rows
}
