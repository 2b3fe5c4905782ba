//! Known bounds of integer key columns per partition ([`KeyRanges`]), and
//! the plan of a join that uses them to pair partitions without a
//! shuffle ([`RangePairs`]).
//!
//! A Parquet footer holds each row group's minimum and maximum of every
//! column. Files written in key order (TPC-H's `lineitem` and `orders` by
//! order key, logs by time) give partitions whose ranges of that key
//! barely overlap. When both sides of a join on one such key have known
//! ranges, left partition `i` can only match right rows whose key lies in
//! its own range: the join pairs it with the right partitions whose ranges
//! overlap that range, filtered to it, and moves no rows. This is what a
//! join on known divisions does in Dask, from statistics the files
//! already carry, and without needing the ranges to be disjoint: a key
//! split between two row groups only makes two neighbouring ranges touch.

use std::sync::Arc;

use polars::prelude::{DataType, Expr, PlSmallStr};

use crate::steps::Step;

/// The inclusive range `(min, max)` of one column's non-null values in a
/// partition; `None` when the partition has no non-null value there.
pub(crate) type Bounds = Option<(i64, i64)>;

/// Per partition, the bounds of column `column`'s values (as `i64`: the
/// physical value of integers, dates, datetimes, durations and times).
/// Every non-null value of partition `i` lies within `parts[i]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyRanges {
    pub column: PlSmallStr,
    pub parts: Arc<[Bounds]>,
}

/// Whether the values of a column of type `dt` are compared as the
/// Parquet statistics of its physical type order them, and fit an `i64`
/// exactly: signed integers, small unsigned ones, and temporal types.
pub(crate) fn ranged_dtype(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::Date
            | DataType::Datetime(..)
            | DataType::Duration(..)
            | DataType::Time
    )
}

/// The ranges that still hold after `step` runs on every partition
/// (`ranges` held before it). Filters, heads and sorts keep rows in their
/// partitions, so every range holds; a `select` keeps the ranges of the columns it
/// passes through (renamed by an alias); `with_columns` drops the ranges
/// of the columns it replaces; a group-by keeps none.
pub(crate) fn after_step(ranges: &[KeyRanges], step: &Step) -> Vec<KeyRanges> {
    let find = |name: &str| ranges.iter().find(|r| r.column == name);
    match step {
        Step::Filter(_) | Step::Head(_) | Step::Sort(_) => ranges.to_vec(),
        Step::GroupBy(..) => Vec::new(),
        Step::Select(exprs) => exprs
            .iter()
            .filter_map(|e| {
                let (from, to) = match &e.0 {
                    Expr::Column(c) => (c, c),
                    Expr::Alias(inner, to) => match &**inner {
                        Expr::Column(c) => (c, to),
                        _ => return None,
                    },
                    _ => return None,
                };
                find(from).map(|r| KeyRanges {
                    column: to.clone(),
                    parts: r.parts.clone(),
                })
            })
            .collect(),
        Step::WithColumns(exprs) => {
            let mut written = Vec::new();
            for e in exprs {
                match &e.0 {
                    // Passing a column through unchanged keeps its values.
                    Expr::Column(_) => {}
                    other => match crate::hive::output_name(other) {
                        Some(n) => written.push(n),
                        // A name this cannot tell: it may replace any column.
                        None => return Vec::new(),
                    },
                }
            }
            ranges
                .iter()
                .filter(|r| !written.contains(&r.column.as_str()))
                .cloned()
                .collect()
        }
    }
}

/// The right partitions each left partition of a join is paired with, and
/// the bounds that right rows must lie within to match.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RangePairs {
    /// Per left partition: the right partitions whose ranges overlap its
    /// range (at least one, so that every task has the right side's
    /// schema), and its own range, `None` where it has no key.
    pub pairs: Vec<(Vec<usize>, Bounds)>,
}

impl RangePairs {
    /// Pairs the partitions of two sides with key ranges `left` and
    /// `right`, when that reads few right partitions per left one: at most
    /// `left + right` pairs in all, which partitions cut from files sorted
    /// by the key give (each boundary adds one), and far from the
    /// `left × right` of ranges that all overlap.
    pub fn plan(left: &[Bounds], right: &[Bounds]) -> Option<RangePairs> {
        if left.is_empty() || right.is_empty() {
            return None;
        }
        let pairs: Vec<(Vec<usize>, Bounds)> = left
            .iter()
            .map(|l| {
                let over: Vec<usize> = match l {
                    None => Vec::new(),
                    Some((lo, hi)) => right
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.is_some_and(|(rlo, rhi)| rlo <= *hi && *lo <= rhi))
                        .map(|(j, _)| j)
                        .collect(),
                };
                // A left partition no right range overlaps still needs the
                // right side's columns: the first partition, all filtered
                // away by its (empty) bounds.
                let over = if over.is_empty() { vec![0] } else { over };
                (over, *l)
            })
            .collect();
        let total: usize = pairs.iter().map(|(o, _)| o.len()).sum();
        (total <= left.len() + right.len()).then_some(RangePairs { pairs })
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{col, lit};

    use super::*;
    use crate::steps::SerExpr;

    fn ranges(column: &str, parts: &[Bounds]) -> KeyRanges {
        KeyRanges {
            column: column.into(),
            parts: parts.into(),
        }
    }

    #[test]
    fn sorted_files_pair_with_their_neighbours_only() {
        // Seven lineitem-like partitions against two orders-like ones.
        let left: Vec<Bounds> = (0..7).map(|i| Some((i * 10, i * 10 + 10))).collect();
        let right = [Some((0, 39)), Some((40, 70))];
        let p = RangePairs::plan(&left, &right).unwrap();
        let over: Vec<Vec<usize>> = p.pairs.iter().map(|(o, _)| o.clone()).collect();
        assert_eq!(
            over,
            [
                vec![0],
                vec![0],
                vec![0],
                vec![0, 1],
                vec![1],
                vec![1],
                vec![1]
            ]
        );
        assert_eq!(p.pairs[3].1, Some((30, 40)));
        // A partition without keys, or one no right range reaches, reads
        // the first right partition (for its schema) and keeps none of it.
        let p = RangePairs::plan(&[None, Some((100, 200))], &right).unwrap();
        assert_eq!(p.pairs, [(vec![0], None), (vec![0], Some((100, 200)))]);
    }

    #[test]
    fn overlapping_ranges_are_not_paired() {
        // Unsorted keys: every range spans all of them.
        let all = [Some((0, 100)); 4];
        assert_eq!(RangePairs::plan(&all, &all), None);
        assert_eq!(RangePairs::plan(&[], &all), None);
    }

    #[test]
    fn steps_keep_the_ranges_of_columns_they_leave_alone() {
        let rs = vec![ranges("k", &[Some((1, 2))]), ranges("t", &[None])];
        let names =
            |rs: &[KeyRanges]| -> Vec<String> { rs.iter().map(|r| r.column.to_string()).collect() };
        let filter = Step::Filter(SerExpr(col("k").gt(lit(1))));
        assert_eq!(after_step(&rs, &filter), rs);
        let select = Step::Select(vec![
            SerExpr(col("k").alias("key")),
            SerExpr(col("t") + lit(1)),
        ]);
        assert_eq!(names(&after_step(&rs, &select)), ["key"]);
        assert_eq!(after_step(&rs, &select)[0].parts, rs[0].parts);
        let replace = Step::WithColumns(vec![SerExpr((col("k") * lit(2)).alias("k"))]);
        assert_eq!(names(&after_step(&rs, &replace)), ["t"]);
        let add = Step::WithColumns(vec![SerExpr(col("k").alias("k2")), SerExpr(col("t"))]);
        assert_eq!(names(&after_step(&rs, &add)), ["k", "t"]);
        let group = Step::GroupBy(vec![SerExpr(col("k"))], vec![SerExpr(col("t").sum())]);
        assert!(after_step(&rs, &group).is_empty());
    }
}
