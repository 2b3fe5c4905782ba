//! Hash shuffles, spilling, sort, set_index and repartition equal Polars on
//! the concatenated data.

use proptest::prelude::*;
use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, ShuffleOptions};

use crate::support::{assert_frames_eq, data, random_parts, sorted};

const ALL: [&str; 4] = ["k", "g", "v", "w"];

/// Every value of `key` appears in one partition only.
fn assert_keys_apart(parts: &[DataFrame], key: &str) {
    let mut seen = std::collections::HashMap::new();
    for (i, p) in parts.iter().enumerate() {
        let c = p
            .column(key)
            .unwrap()
            .as_materialized_series()
            .cast(&DataType::String)
            .unwrap();
        for v in c.str().unwrap().iter() {
            let prev = seen.insert(v.map(str::to_string), i);
            assert!(
                prev.is_none_or(|j| j == i),
                "{key}={v:?} in partitions {prev:?} and {i}"
            );
        }
    }
}

#[test]
fn hash_shuffle_places_equal_keys_together_and_keeps_the_rows() {
    let pl = data(500, 31);
    for (n_in, n_out, seed) in [(1, 3, 1), (6, 4, 2), (9, 1, 3), (3, 8, 4)] {
        let d = dd::from_partitions(random_parts(&pl, n_in, seed)).unwrap();
        for keys in [vec!["k"], vec!["g"], vec!["k", "g"]] {
            let exprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
            let s = d.shuffle(&exprs, n_out);
            assert_eq!(s.npartitions(), n_out);
            assert_eq!(s.partitioning().unwrap().columns, keys);
            let parts = s.compute_partitions().unwrap();
            for k in &keys {
                if keys.len() == 1 {
                    assert_keys_apart(&parts, k);
                }
            }
            let all = s.compute().unwrap();
            assert_frames_eq(&sorted(&all, &ALL), &sorted(&pl, &ALL));
        }
    }
    // On an expression too.
    let d = dd::from_partitions(random_parts(&pl, 4, 9)).unwrap();
    let s = d.shuffle([col("w") % lit(7)], 3);
    assert!(s.partitioning().is_none());
    assert_eq!(s.len().unwrap(), 500);
}

/// With and without piece tasks, a shuffle and a sort give the same
/// partitions. (Spilling pieces under a memory limit: `memory.rs`.)
#[test]
fn shuffles_with_and_without_piece_tasks_agree() {
    let pl = data(300, 41);
    let d = dd::from_partitions(random_parts(&pl, 5, 1)).unwrap();
    let picks = ShuffleOptions::default().npartitions(4);
    assert!(picks.get_piece_tasks());
    let whole = picks.clone().piece_tasks(false);
    let parts = d
        .shuffle_with([col("g")], &picks)
        .compute_partitions()
        .unwrap();
    assert_keys_apart(&parts, "g");
    let unpicked = d
        .shuffle_with([col("g")], &whole)
        .compute_partitions()
        .unwrap();
    assert_eq!(parts.len(), unpicked.len());
    for (a, b) in parts.iter().zip(&unpicked) {
        assert_frames_eq(a, b);
    }
    let want = pl
        .sort(
            ["w"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .unwrap();
    for o in [&picks, &whole] {
        let s = d
            .sort_with(
                [col("w")],
                SortMultipleOptions::default().with_maintain_order(true),
                o,
            )
            .unwrap();
        assert_frames_eq(&s.compute().unwrap(), &want);
    }
}

fn stable() -> SortMultipleOptions {
    SortMultipleOptions::default().with_maintain_order(true)
}

#[test]
fn stable_sorts_equal_polars_exactly() {
    let pl = data(600, 51);
    for (n, n_out, seed) in [(1, 1, 1), (4, 4, 2), (8, 3, 3), (3, 9, 4)] {
        let d = dd::from_partitions(random_parts(&pl, n, seed)).unwrap();
        let opts = ShuffleOptions::default().npartitions(n_out);
        for (by, desc, nulls_last) in [
            (vec!["g"], false, false),
            (vec!["g"], true, false),
            (vec!["g"], false, true),
            (vec!["k", "w"], true, true),
            (vec!["v"], false, false),
            (vec!["k"], false, false),
            (vec!["neg"], false, false),
        ] {
            let o = stable()
                .with_order_descending(desc)
                .with_nulls_last(nulls_last);
            let exprs: Vec<Expr> = by
                .iter()
                .map(|c| match *c {
                    "neg" => lit(0) - col("w"),
                    c => col(c),
                })
                .collect();
            let got = d.sort_with(&exprs, o.clone(), &opts).unwrap();
            assert!(got.npartitions() <= n_out.max(1));
            let want = pl
                .clone()
                .lazy()
                .sort_by_exprs(&exprs, o)
                .collect()
                .unwrap();
            assert_frames_eq(&got.compute().unwrap(), &want);
            assert_frames_eq(&got.head(5).unwrap(), &want.head(Some(5)));
        }
    }
}

#[test]
fn default_sort_orders_the_key_and_keeps_the_rows() {
    let pl = data(400, 61);
    let d = dd::from_partitions(random_parts(&pl, 6, 5)).unwrap();
    // The contract's shape.
    let first = d.sort([col("w")]).unwrap().head(5).unwrap();
    let want = pl.sort(["w"], Default::default()).unwrap();
    assert!(
        first
            .column("w")
            .unwrap()
            .equals(want.head(Some(5)).column("w").unwrap())
    );
    let got = d.sort([col("g")]).unwrap().compute().unwrap();
    let want = pl.sort(["g"], Default::default()).unwrap();
    assert!(
        got.column("g")
            .unwrap()
            .equals_missing(want.column("g").unwrap())
    );
    assert_frames_eq(&sorted(&got, &ALL), &sorted(&pl, &ALL));
}

#[test]
fn set_index_records_divisions_that_hold() {
    let pl = data(500, 71);
    let d = dd::from_partitions(random_parts(&pl, 7, 2)).unwrap();
    let s = d.set_index("w").unwrap();
    let div = s.divisions().unwrap().clone();
    assert_eq!(div.column, "w");
    assert_eq!(div.bounds.len(), s.npartitions() + 1);
    assert!(div.bounds.windows(2).all(|b| b[0] <= b[1]), "{div:?}");
    let parts = s.compute_partitions().unwrap();
    let last = parts.len() - 1;
    for (i, p) in parts.iter().enumerate() {
        for w in p.column("w").unwrap().i64().unwrap().iter().flatten() {
            let w = w as f64;
            assert!(w >= div.bounds[i], "partition {i}: {w} below {div:?}");
            assert!(
                w < div.bounds[i + 1] || (i == last && w <= div.bounds[i + 1]),
                "partition {i}: {w} above {div:?}"
            );
        }
    }
    // Divisions survive a filter and a coarser repartition.
    let f = s.filter(col("w").gt(lit(10)));
    assert_eq!(f.divisions(), Some(&div));
    // And steps that pass the index through (renamed by an alias, too),
    // but not one that changes its values or takes its name.
    let kept = s.with_column((col("v") * lit(2.0)).alias("v2"));
    assert_eq!(kept.divisions(), Some(&div));
    let renamed = s.select([col("w").alias("when"), col("v")]);
    assert_eq!(renamed.divisions().unwrap().column, "when");
    assert_eq!(renamed.divisions().unwrap().bounds, div.bounds);
    assert!(s.with_column(col("w") * lit(2)).divisions().is_none());
    assert!(s.select([col("g").alias("w")]).divisions().is_none());
    let r = s.repartition(2);
    let rd = r.divisions().unwrap();
    assert_eq!(rd.bounds.first(), div.bounds.first());
    assert_eq!(rd.bounds.last(), div.bounds.last());
    assert_eq!(rd.bounds.len(), 3);
    // Bad input.
    let e = d.set_index("nope").unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("v: f64"), "{e}");
    assert!(
        d.set_index("k")
            .unwrap_err()
            .to_string()
            .contains("numeric")
    );
    let limited = SortMultipleOptions {
        limit: Some(3),
        ..Default::default()
    };
    let e = d
        .sort_with([col("w")], limited, &ShuffleOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("head"), "{e}");
    let e = d.sort([col("nope")]).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("w: i64"), "{e}");
}

/// Steps on a shuffle's or a sort's partitions run in its gather tasks
/// (no task of their own), on the gathered and sorted rows.
#[test]
fn steps_after_a_shuffle_run_in_its_gathers() {
    let pl = data(400, 81);
    let d = dd::from_partitions(random_parts(&pl, 5, 3)).unwrap();
    let count = |c: &dd::DataFrame| {
        let mut b = rask_core::GraphBuilder::new();
        rask_core::Collection::add_to_graph(c, &mut b, &mut Vec::new());
        b.len()
    };
    let sorted_by_w = d.sort([col("w")]).unwrap();
    let narrowed = sorted_by_w
        .filter(col("v").is_not_null())
        .select([col("w"), (col("v") * lit(2.0)).alias("v2")]);
    assert_eq!(count(&narrowed), count(&sorted_by_w));
    let got = narrowed.compute().unwrap();
    let want = pl
        .clone()
        .lazy()
        .sort(["w"], Default::default())
        .filter(col("v").is_not_null())
        .select([col("w"), (col("v") * lit(2.0)).alias("v2")])
        .collect()
        .unwrap();
    // The sort order holds across partitions after the steps.
    assert!(got.column("w").unwrap().equals(want.column("w").unwrap()));
    assert_frames_eq(&sorted(&got, &["w", "v2"]), &sorted(&want, &["w", "v2"]));
    // A plain and a fused use of one shuffle share its split tasks.
    // (Both in one graph: only the fused gathers are added for the second.)
    let hashed = d.shuffle([col("k")], 3);
    let mut b = rask_core::GraphBuilder::new();
    rask_core::Collection::add_to_graph(&hashed, &mut b, &mut Vec::new());
    let alone = b.len();
    let filtered = hashed.filter(col("w").gt(lit(0)));
    rask_core::Collection::add_to_graph(&filtered, &mut b, &mut Vec::new());
    assert_eq!(b.len() - alone, 3);
}

/// Partitions larger than the sample sorts (a subset of the keys is
/// sorted): the divisions still start at the true minimum and end at the
/// true maximum, every row lies inside its partition's range, the rows
/// equal Polars' sort, and the partitions come out about equal.
#[test]
fn set_index_of_large_partitions_samples_a_subset() {
    let n = 60_000usize;
    let mut r = crate::support::Rng::new(5);
    let t: Vec<i64> = (0..3 * n)
        .map(|_| r.below(1_000_000_000) as i64 - 7)
        .collect();
    let pl = df!("t" => &t, "i" => (0..3 * n as i64).collect::<Vec<_>>()).unwrap();
    let parts: Vec<DataFrame> = (0..3).map(|i| pl.slice((i * n) as i64, n)).collect();
    let d = dd::from_partitions(parts).unwrap();
    let s = d.set_index("t").unwrap();
    let div = s.divisions().unwrap().clone();
    assert_eq!(div.bounds.first(), Some(&(*t.iter().min().unwrap() as f64)));
    assert_eq!(div.bounds.last(), Some(&(*t.iter().max().unwrap() as f64)));
    let got = s.compute_partitions().unwrap();
    assert_eq!(got.len(), 3);
    for (i, p) in got.iter().enumerate() {
        let c = p.column("t").unwrap().i64().unwrap();
        let (lo, hi) = (c.min().unwrap() as f64, c.max().unwrap() as f64);
        assert!(
            lo >= div.bounds[i] && hi <= div.bounds[i + 1],
            "{i}: {lo}..{hi} {div:?}"
        );
        let off = (p.height() as f64 - n as f64).abs() / n as f64;
        assert!(
            off < 0.05,
            "partition {i} has {} rows of {n} expected",
            p.height()
        );
    }
    let all = dd::from_partitions(got).unwrap().compute().unwrap();
    let want = pl.sort(["t"], Default::default()).unwrap();
    assert!(all.column("t").unwrap().equals(want.column("t").unwrap()));
    assert_frames_eq(&sorted(&all, &["t", "i"]), &sorted(&want, &["t", "i"]));
}

/// Partitions `0..n` of 100 rows each: partition `i` holds `t` in
/// `100·i .. 100·i + 99`, shuffled, beside a string and a row number.
fn ranged_parts(n: usize, seed: u64) -> Vec<DataFrame> {
    let mut r = crate::support::Rng::new(seed);
    (0..n)
        .map(|i| {
            let mut t: Vec<i64> = (0..100).map(|j| (100 * i + j) as i64).collect();
            for j in (1..t.len()).rev() {
                t.swap(j, r.below(j as u64 + 1) as usize);
            }
            let s: Vec<String> = t.iter().map(|t| format!("s{}", t % 7)).collect();
            let row: Vec<i64> = (0..100).map(|j| (100 * i + j) as i64).collect();
            df!("t" => t, "s" => s, "row" => row).unwrap()
        })
        .collect()
}

/// Tasks in the graph of `f`.
fn tasks(f: &dd::DataFrame) -> usize {
    rask_core::compute::plan(f).unwrap().graph.len()
}

#[test]
fn presorted_partitions_are_sorted_in_place_without_a_shuffle() {
    let parts = ranged_parts(6, 3);
    let whole = concat_frames(&parts);
    let d = dd::from_partitions(parts.clone()).unwrap();
    let s = d.set_index("t").unwrap();
    // As in Dask: the minima and the last maximum are the divisions.
    let div = s.divisions().unwrap();
    assert_eq!(div.column, "t");
    assert_eq!(div.bounds, [0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 599.0]);
    // One task per partition (the sort runs where the partition is made),
    // not a split, pieces and gathers.
    assert_eq!(tasks(&s), 6, "{}", s.name());
    let got = s.compute_partitions().unwrap();
    for (i, p) in got.iter().enumerate() {
        let want = parts[i].sort(["t"], Default::default()).unwrap();
        assert_frames_eq(p, &want);
    }
    assert_frames_eq(
        &s.compute().unwrap(),
        &whole.sort(["t"], Default::default()).unwrap(),
    );
    // Later keys sort within the partitions too; a string key as well.
    let two = d
        .sort_with([col("s"), col("t")], stable(), &ShuffleOptions::default())
        .unwrap();
    let want = whole.sort(["s", "t"], Default::default()).unwrap();
    assert_frames_eq(&two.compute().unwrap(), &want);
    let by_t_s = d.sort([col("t"), col("s")]).unwrap();
    assert_eq!(tasks(&by_t_s), 6);
    assert_frames_eq(
        &by_t_s.compute().unwrap(),
        &whole.sort(["t", "s"], Default::default()).unwrap(),
    );
    // Partitions in decreasing order, sorted descending: no shuffle
    // either (and no divisions, which rask records for ascending sorts).
    let reversed: Vec<DataFrame> = parts.iter().rev().cloned().collect();
    let desc = SortMultipleOptions::default().with_order_descending(true);
    let r = dd::from_partitions(reversed)
        .unwrap()
        .sort_with([col("t")], desc.clone(), &ShuffleOptions::default())
        .unwrap();
    assert_eq!(tasks(&r), 6);
    assert!(r.divisions().is_none());
    assert_frames_eq(&r.compute().unwrap(), &whole.sort(["t"], desc).unwrap());
    // Steps before and after fuse into the same tasks.
    let f = d
        .filter(col("t").gt(lit(50)))
        .set_index("t")
        .unwrap()
        .head(3)
        .unwrap();
    assert_eq!(
        f.column("t").unwrap().i64().unwrap().to_vec(),
        [Some(51), Some(52), Some(53)]
    );
}

#[test]
fn partitions_not_in_order_are_shuffled() {
    let parts = ranged_parts(5, 4);
    let whole = concat_frames(&parts);
    let want = whole.sort(["t"], Default::default()).unwrap();
    let check = |parts: Vec<DataFrame>, why: &str| {
        let all = concat_frames(&parts);
        let d = dd::from_partitions(parts).unwrap();
        let s = d.set_index("t").unwrap();
        assert!(tasks(&s) > 10, "{why}: {} tasks", tasks(&s));
        let got = s.compute().unwrap();
        let want = all
            .sort(
                ["t"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .unwrap();
        assert!(
            got.column("t")
                .unwrap()
                .equals_missing(want.column("t").unwrap()),
            "{why}"
        );
        assert_frames_eq(&sorted(&got, &["t", "row"]), &sorted(&want, &["t", "row"]));
    };
    // Ranges out of order.
    let mut swapped = parts.clone();
    swapped.swap(1, 3);
    check(swapped, "out of order");
    // A range touching the next (a key in two partitions).
    let mut touching = parts.clone();
    touching[2] = with_t_at(&touching[2], 200, lit(300i64));
    check(touching, "touching");
    // A null key.
    let mut nulls = parts.clone();
    nulls[4] = with_t_at(&nulls[4], 450, lit(NULL).cast(DataType::Int64));
    check(nulls, "a null");
    // An empty partition.
    let mut empty = parts.clone();
    empty.insert(2, parts[0].head(Some(0)));
    check(empty, "an empty partition");
    // Descending over increasing partitions, and a float key, take the
    // shuffle too.
    let d = dd::from_partitions(parts.clone()).unwrap();
    let desc = SortMultipleOptions::default().with_order_descending(true);
    let s = d
        .sort_with([col("t")], desc.clone(), &ShuffleOptions::default())
        .unwrap();
    assert!(tasks(&s) > 10);
    assert_frames_eq(&s.compute().unwrap(), &whole.sort(["t"], desc).unwrap());
    let f = d.with_column(col("t").cast(DataType::Float64).alias("x"));
    let s = f.sort([col("x")]).unwrap();
    assert!(tasks(&s) > 10);
    assert!(
        s.compute()
            .unwrap()
            .column("t")
            .unwrap()
            .equals(want.column("t").unwrap())
    );
}

#[test]
fn nearly_sorted_partitions_shuffle_between_neighbours() {
    // Each range split in two partitions: the halves overlap each other
    // but no other range, so each output reads the splits of one range or
    // two, not all twelve.
    let halves: Vec<DataFrame> = ranged_parts(6, 5)
        .into_iter()
        .flat_map(|p| [p.slice(0, 50), p.slice(50, 50)])
        .collect();
    let whole = concat_frames(&halves);
    let d = dd::from_partitions(halves).unwrap();
    let s = d.set_index("t").unwrap();
    let plan = rask_core::compute::plan(&s).unwrap();
    let gathers: Vec<usize> = plan
        .graph
        .tasks()
        .iter()
        .filter(|t| t.key.to_string().contains("sort") && !t.key.to_string().contains("piece"))
        .filter(|t| !t.key.to_string().contains("split"))
        .map(|t| t.deps.len())
        .collect();
    assert_eq!(gathers.len(), s.npartitions());
    assert!(
        gathers.iter().all(|&n| n <= 4),
        "inputs per output: {gathers:?}"
    );
    let stable = SortMultipleOptions::default().with_maintain_order(true);
    let want = whole.sort(["t"], stable.clone()).unwrap();
    let got = s.compute().unwrap();
    assert!(got.column("t").unwrap().equals(want.column("t").unwrap()));
    assert_frames_eq(&sorted(&got, &["t", "row"]), &sorted(&want, &["t", "row"]));
    // A stable sort by a second key stays stable, descending too.
    for desc in [false, true] {
        let o = stable.clone().with_order_descending(desc);
        let got = d
            .sort_with([col("s")], o.clone(), &ShuffleOptions::default())
            .unwrap()
            .compute()
            .unwrap();
        assert_frames_eq(&got, &whole.sort(["s"], o.clone()).unwrap());
        let got = d
            .sort_with([col("t")], o.clone(), &ShuffleOptions::default())
            .unwrap()
            .compute()
            .unwrap();
        assert_frames_eq(&got, &whole.sort(["t"], o).unwrap());
    }
}

#[test]
fn an_input_that_changes_after_its_sample_is_an_error_not_lost_rows() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Partition 0 gives keys 0..100 when sampled, then 0..99 and 500.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let first = rask_delayed::delayed(move || {
        let mut t: Vec<i64> = (0..100).collect();
        if c.fetch_add(1, Ordering::SeqCst) > 0 {
            t[99] = 500;
        }
        df!("t" => t).unwrap()
    });
    let rest: Vec<_> = (1..4i64)
        .map(|i| {
            rask_delayed::delayed(move || {
                let t: Vec<i64> = (0..100).map(|j| 100 * i + (j * 37) % 100).collect();
                df!("t" => t).unwrap()
            })
        })
        .collect();
    let mut parts = vec![first];
    parts.extend(rest);
    // Partitions 0 and 1 overlap (so there is a shuffle) by a row of 1.
    let schema = Schema::from_iter([Field::new("t".into(), DataType::Int64)]);
    let d = dd::from_delayed(&parts, Some(schema)).unwrap().with_column(
        when(col("t").eq(lit(150)))
            .then(lit(50i64))
            .otherwise(col("t"))
            .alias("t"),
    );
    let s = d.set_index("t").unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "sampled once");
    let e = s.compute().unwrap_err().to_string();
    assert!(
        e.contains("changed between the sample and the shuffle"),
        "{e}"
    );
}

/// `part` with `t` set to `value` in the row whose `row` is `row`.
fn with_t_at(part: &DataFrame, row: i64, value: Expr) -> DataFrame {
    part.clone()
        .lazy()
        .with_column(
            when(col("row").eq(lit(row)))
                .then(value)
                .otherwise(col("t"))
                .alias("t"),
        )
        .collect()
        .unwrap()
}

/// The partitions one after another.
fn concat_frames(parts: &[DataFrame]) -> DataFrame {
    let mut all = parts[0].clone();
    for p in &parts[1..] {
        all.vstack_mut(p).unwrap();
    }
    all
}

#[test]
fn sorts_of_empty_and_one_valued_frames() {
    let pl = data(50, 3).head(Some(0));
    let d = dd::from_partitions(random_parts(&pl, 3, 1)).unwrap();
    let s = d.sort([col("g")]).unwrap();
    assert_eq!(s.compute().unwrap().height(), 0);
    let same = df!("x" => [4i64; 40], "y" => (0..40i64).collect::<Vec<_>>()).unwrap();
    let d = dd::from_polars(same.clone(), 5).unwrap();
    let s = d
        .sort_with([col("x")], stable(), &ShuffleOptions::default())
        .unwrap();
    assert_eq!(
        s.npartitions(),
        2,
        "one boundary, the repeated ones dropped"
    );
    assert_frames_eq(&s.compute().unwrap(), &same);
}

#[test]
fn repartition_keeps_rows_in_order() {
    let pl = data(100, 81);
    let d = dd::from_partitions(random_parts(&pl, 5, 7)).unwrap();
    for n in [1, 2, 4, 5, 6, 13] {
        let r = d.repartition(n);
        assert_eq!(r.npartitions(), n);
        assert_frames_eq(&r.compute().unwrap(), &pl);
    }
    assert!(
        d.repartition(0)
            .compute()
            .unwrap_err()
            .to_string()
            .contains("at least one")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any partitioning, any output count: a stable sort equals Polars', a
    /// shuffle keeps the rows, a repartition keeps rows and order.
    #[test]
    fn sort_shuffle_repartition_over_random_partitionings(
        rows in 0usize..120,
        n_in in 1usize..7,
        n_out in 1usize..7,
        seed in 0u64..1000,
    ) {
        let pl = data(rows, seed);
        let d = dd::from_partitions(random_parts(&pl, n_in, seed + 1)).unwrap();
        let opts = ShuffleOptions::default().npartitions(n_out);
        let got = d.sort_with([col("g")], stable(), &opts).unwrap().compute().unwrap();
        assert_frames_eq(&got, &pl.sort(["g"], stable()).unwrap());
        let s = d.shuffle([col("k")], n_out).compute().unwrap();
        assert_frames_eq(&sorted(&s, &ALL), &sorted(&pl, &ALL));
        assert_frames_eq(&d.repartition(n_out).compute().unwrap(), &pl);
    }
}

#[test]
fn float_sorts_place_nan_and_null_like_polars() {
    let x: Vec<Option<f64>> = (0..90)
        .map(|i| match i % 9 {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-0.0),
            _ => Some(((i * 37) % 23) as f64 - 11.5),
        })
        .collect();
    let pl = df!("x" => x, "i" => (0..90i64).collect::<Vec<_>>()).unwrap();
    let d = dd::from_partitions(random_parts(&pl, 5, 3)).unwrap();
    for (desc, nulls_last) in [(false, false), (true, false), (false, true), (true, true)] {
        let o = stable()
            .with_order_descending(desc)
            .with_nulls_last(nulls_last);
        let got = d
            .sort_with(
                [col("x")],
                o.clone(),
                &ShuffleOptions::default().npartitions(4),
            )
            .unwrap()
            .compute()
            .unwrap();
        let want = pl.sort(["x"], o).unwrap();
        assert!(
            got.column("i").unwrap().equals(want.column("i").unwrap()),
            "descending {desc}, nulls_last {nulls_last}:\n{got}\n{want}"
        );
    }
}

/// The graphs of shuffles, joins, sorts and repartitions are portable:
/// they encode, decode (as another process of this build would) and give
/// the same partitions.
#[test]
fn shuffle_join_and_sort_graphs_are_portable() {
    use rask_core::{Executor, Plan};
    let pl = data(200, 91);
    let d = dd::from_partitions(random_parts(&pl, 4, 1)).unwrap();
    let small = dd::from_polars(pl.head(Some(20)), 1).unwrap();
    let whole = ShuffleOptions::default().piece_tasks(false);
    let inner = JoinArgs::new(JoinType::Inner);
    let frames = [
        d.shuffle_with([col("k")], &whole),
        d.shuffle([col("k")], 3),
        d.join(&small, [col("g")], [col("g")], inner.clone()),
        d.join(&d, [col("g")], [col("g")], JoinArgs::new(JoinType::Full)),
        d.sort([col("w")]).unwrap(),
        dd::from_partitions(ranged_parts(3, 1))
            .unwrap()
            .sort([col("t"), col("s")])
            .unwrap(),
        d.repartition(7),
        d.repartition(2),
    ];
    for f in frames {
        let plan = rask_core::compute::plan(&f).unwrap();
        if let Err(e) = plan.graph.check_portable() {
            panic!("{} is not portable: {e}", f.name());
        }
        let decoded = Plan::decode(&plan.encode().unwrap()).unwrap();
        let here = rask_local::SyncExecutor.execute(&plan, &[]).unwrap();
        let there = rask_local::SyncExecutor.execute(&decoded, &[]).unwrap();
        assert_eq!(here.len(), f.npartitions());
        for (a, b) in here.iter().zip(&there) {
            let a = &a.get::<dd::Part>(0).unwrap().0;
            let b = &b.get::<dd::Part>(0).unwrap().0;
            assert!(a.equals_missing(b), "{}", f.name());
        }
    }
}
