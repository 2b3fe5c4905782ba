//! group_by(..).agg(..) as a tree reduction equals Polars' group_by.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{assert_frames_eq, data, random_parts, sorted};

fn aggs() -> Vec<Expr> {
    vec![
        col("v").sum().alias("sum"),
        col("v").mean().alias("mean"),
        col("v").count().alias("count"),
        col("v").min().alias("min"),
        col("w").max().alias("wmax"),
        col("w").mean().alias("wmean"),
        col("w").sum(),
        col("v").std(1).alias("std"),
        col("v").var(0).alias("var0"),
        // An integer mean beside its variance: pooled from the variance's
        // partials.
        col("w").var(1).alias("wvar"),
        len().alias("rows"),
        col("v").first().alias("first"),
        col("w").last().alias("last"),
    ]
}

#[test]
fn group_by_agg_equals_polars() {
    let pl = data(700, 11);
    for (n, seed, split_every) in [(1, 1, 2), (5, 2, 2), (9, 3, 3), (16, 4, 4)] {
        let d = dd::from_partitions(random_parts(&pl, n, seed)).unwrap();
        for keys in [vec!["k"], vec!["g"], vec!["k", "g"]] {
            let kexprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
            let got = d
                .group_by(&kexprs)
                .split_every(split_every)
                .agg(aggs())
                .compute()
                .unwrap();
            let want = pl
                .clone()
                .lazy()
                .group_by(&kexprs)
                .agg(aggs())
                .collect()
                .unwrap();
            assert_frames_eq(&sorted(&got, &keys), &sorted(&want, &keys));
        }
    }
}

#[test]
fn group_by_after_filter_and_on_expressions() {
    let pl = data(300, 5);
    let d = dd::from_partitions(random_parts(&pl, 6, 9)).unwrap();
    let q = |lf: LazyFrame| {
        lf.filter(col("w").gt(lit(10)))
            .with_columns([(col("g") * lit(2)).alias("g2")])
            .group_by([col("g2")])
            .agg([col("v").mean().alias("m"), col("w").min().alias("lo")])
    };
    let got = d
        .filter(col("w").gt(lit(10)))
        .with_columns([(col("g") * lit(2)).alias("g2")])
        .group_by([col("g2")])
        .agg([col("v").mean().alias("m"), col("w").min().alias("lo")]);
    assert_eq!(got.columns(), ["g2", "m", "lo"]);
    let want = q(pl.lazy()).collect().unwrap();
    assert_frames_eq(
        &sorted(&got.compute().unwrap(), &["g2"]),
        &sorted(&want, &["g2"]),
    );
}

#[test]
fn unsupported_aggregation_is_an_error_naming_it() {
    let d = dd::from_polars(data(10, 1), 2).unwrap();
    let e = d
        .group_by([col("k")])
        .agg([col("v").median()])
        .compute()
        .unwrap_err();
    assert!(e.to_string().contains("median"), "{e}");
}

/// Every partition count `split_out` may choose: 1 (the tree), 3, and
/// automatic.
const SPLIT_OUTS: [Option<usize>; 3] = [Some(1), Some(3), None];

#[test]
fn split_out_equals_polars_for_every_aggregation() {
    let pl = data(900, 17);
    // 40 partitions: automatic split_out shuffles into 40 / 16 → 3.
    for (n, seed) in [(1, 1), (6, 2), (40, 3)] {
        let d = dd::from_partitions(random_parts(&pl, n, seed)).unwrap();
        for keys in [vec!["k"], vec!["g"], vec!["k", "g"]] {
            let kexprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
            let want = pl
                .clone()
                .lazy()
                .group_by(&kexprs)
                .agg(aggs())
                .collect()
                .unwrap();
            for split_out in SPLIT_OUTS {
                let mut g = d.group_by(&kexprs);
                if let Some(s) = split_out {
                    g = g.split_out(s);
                }
                let out = g.agg(aggs());
                let parts = match split_out {
                    Some(s) => s,
                    None => n.div_ceil(dd::AUTO_INPUTS_PER_OUTPUT),
                };
                assert_eq!(out.npartitions(), parts, "{keys:?} {split_out:?}");
                if parts > 1 {
                    let p = out
                        .partitioning()
                        .expect("a split-out result is partitioned");
                    assert_eq!(p.columns, keys);
                    assert_eq!(p.npartitions, parts);
                }
                let got = out.compute().unwrap();
                assert_frames_eq(&sorted(&got, &keys), &sorted(&want, &keys));
            }
        }
    }
}

#[test]
fn split_out_puts_each_group_in_one_partition() {
    let pl = data(400, 3);
    let d = dd::from_partitions(random_parts(&pl, 7, 2)).unwrap();
    let parts = d
        .group_by([col("k"), col("g")])
        .split_out(4)
        .agg([len().alias("n")])
        .compute_partitions()
        .unwrap();
    let all = parts
        .iter()
        .cloned()
        .reduce(|mut a, b| {
            a.vstack_mut_owned(b).unwrap();
            a
        })
        .unwrap();
    let most = all
        .lazy()
        .group_by([col("k"), col("g")])
        .agg([len().alias("c")])
        .select([col("c").max()])
        .collect()
        .unwrap();
    assert_eq!(
        most.column("c").unwrap().u32().unwrap().get(0),
        Some(1),
        "no group appears twice"
    );
}

#[test]
fn split_out_on_categoricals_and_expressions_equals_polars() {
    let pl = data(600, 23);
    let d = dd::from_partitions(random_parts(&pl, 40, 6)).unwrap();
    let c = d.cast_categorical(["k"]).unwrap();
    let enum_dtype = c.dtype("k").unwrap().clone();
    let pl_enum = pl
        .clone()
        .lazy()
        .with_column(col("k").cast(enum_dtype))
        .collect()
        .unwrap();
    // An Enum of 5 categories bounds the groups: automatic keeps the tree.
    assert_eq!(c.group_by([col("k")]).agg(aggs()).npartitions(), 1);
    let want = pl_enum
        .clone()
        .lazy()
        .group_by([col("k")])
        .agg(aggs())
        .collect()
        .unwrap();
    for split_out in [3, 5] {
        let got = c.group_by([col("k")]).split_out(split_out).agg(aggs());
        assert_eq!(got.npartitions(), split_out);
        let got = got.compute().unwrap();
        assert!(matches!(
            got.column("k").unwrap().dtype(),
            DataType::Enum(..)
        ));
        assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));
    }
    // A key that is an expression: the result is partitioned on its name.
    let key = (col("w") % lit(13)).alias("w13");
    let got = d
        .group_by([key.clone()])
        .split_out(3)
        .agg([col("v").mean().alias("m"), col("v").std(1).alias("s")]);
    assert_eq!(got.partitioning().unwrap().columns, ["w13"]);
    let want = pl
        .lazy()
        .group_by([key])
        .agg([col("v").mean().alias("m"), col("v").std(1).alias("s")])
        .collect()
        .unwrap();
    assert_frames_eq(
        &sorted(&got.compute().unwrap(), &["w13"]),
        &sorted(&want, &["w13"]),
    );
}

fn task_count(c: &impl rask_core::Collection) -> usize {
    let mut b = rask_core::GraphBuilder::new();
    c.add_to_graph(&mut b, &mut Vec::new());
    b.len()
}

#[test]
fn split_out_results_join_and_regroup_without_another_shuffle() {
    let pl = data(500, 41);
    let d = dd::from_partitions(random_parts(&pl, 6, 8)).unwrap();
    let per_g = d
        .group_by([col("g")])
        .split_out(4)
        .agg([col("v").sum().alias("vs")]);
    let other =
        df!("g" => [Some(-3i64), Some(0), Some(2), None], "name" => ["a", "b", "c", "n"]).unwrap();
    let right = dd::from_polars(other.clone(), 2)
        .unwrap()
        .shuffle([col("g")], 4);
    let on = [col("g")];
    let j = per_g.join(
        &right,
        on.clone(),
        on.clone(),
        JoinArgs::new(JoinType::Inner),
    );
    assert_eq!(
        task_count(&j),
        task_count(&per_g) + task_count(&right) + 4,
        "only the join tasks are added"
    );
    let want = pl
        .clone()
        .lazy()
        .group_by([col("g")])
        .agg([col("v").sum().alias("vs")])
        .join(
            other.lazy(),
            on.clone(),
            on.clone(),
            JoinArgs::new(JoinType::Inner),
        )
        .collect()
        .unwrap();
    assert_frames_eq(
        &sorted(&j.compute().unwrap(), &["g"]),
        &sorted(&want, &["g"]),
    );

    // Input already shuffled on the key (or on one of the keys) into as
    // many partitions: no second shuffle, no tree, not even a task of its
    // own — each partition's aggregation runs in the shuffle's gather
    // task; the result keeps the input's partitioning.
    let placed = d.shuffle([col("g")], 3);
    for (keys, split_out) in [
        (vec!["g"], Some(3)),
        (vec!["g"], None),
        (vec!["k", "g"], None),
    ] {
        let kexprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
        let mut g = placed.group_by(&kexprs);
        if let Some(s) = split_out {
            g = g.split_out(s);
        }
        let again = g.agg(aggs());
        assert_eq!(task_count(&again), task_count(&placed), "{keys:?}");
        assert_eq!(again.partitioning(), placed.partitioning());
        let want = pl
            .clone()
            .lazy()
            .group_by(&kexprs)
            .agg(aggs())
            .collect()
            .unwrap();
        assert_frames_eq(
            &sorted(&again.compute().unwrap(), &keys),
            &sorted(&want, &keys),
        );
    }
    // A different count asked for does shuffle.
    let other = placed.group_by([col("g")]).split_out(2).agg(aggs());
    assert!(task_count(&other) > task_count(&placed) + 2);
}

#[test]
fn missing_key_names_it_and_the_schema() {
    let d = dd::from_polars(data(30, 2), 4).unwrap();
    for split_out in [1, 3] {
        let e = d
            .group_by([col("nope")])
            .split_out(split_out)
            .agg([col("v").sum()])
            .compute()
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("v: f64"), "{e}");
    }
}

/// Partitions holding disjoint ranges of an integer key (data sorted by
/// it) give partial results that the tree stacks without re-grouping; cut
/// anywhere, their ranges touch at the cuts and only those keys' rows are
/// re-grouped. Both equal Polars, first and last included.
#[test]
fn sorted_keys_in_disjoint_partitions_equal_polars() {
    let pl = data(600, 91)
        .lazy()
        .with_columns([col("w").alias("key")])
        .sort(["key"], Default::default())
        .collect()
        .unwrap();
    let aggs = || {
        [
            col("v").sum().alias("s"),
            col("v").mean().alias("m"),
            col("v").min().alias("lo"),
            col("v").max().alias("hi"),
            col("k").first().alias("first"),
            col("k").last().alias("last"),
            col("v").count().alias("n"),
            len().alias("rows"),
        ]
    };
    let want = pl
        .clone()
        .lazy()
        .group_by([col("key")])
        .agg(aggs())
        .collect()
        .unwrap();
    // Cut between runs of equal keys (disjoint), and anywhere (touching
    // at the cuts), with a fan-in of 2 so there are several levels.
    let keys = pl.column("key").unwrap().i64().unwrap().clone();
    let mut disjoint = Vec::new();
    let mut start = 0usize;
    for i in 1..=pl.height() {
        if i == pl.height() || (i - start >= 70 && keys.get(i) != keys.get(i - 1)) {
            disjoint.push(pl.slice(start as i64, i - start));
            start = i;
        }
    }
    assert!(disjoint.len() > 4);
    for parts in [disjoint, random_parts(&pl, 7, 3)] {
        let d = dd::from_partitions(parts).unwrap();
        let got = d
            .group_by([col("key")])
            .split_every(2)
            .split_out(1)
            .agg(aggs())
            .compute()
            .unwrap();
        assert_frames_eq(&sorted(&got, &["key"]), &sorted(&want, &["key"]));
    }
}

#[test]
fn a_nan_makes_a_mean_pooled_beside_a_variance_nan() {
    // `mean` beside `std` is pooled from the variance's partials, whose
    // weighting once turned a NaN mean into 0.
    let pl = df!(
        "k" => ["a", "a", "b", "b", "b"],
        "v" => [f64::NAN, 1.0, 2.0, 3.0, 4.0]
    )
    .unwrap();
    let aggs = [col("v").mean().alias("m"), col("v").std(1).alias("s")];
    for n in [1, 2, 5] {
        let d = dd::from_polars(pl.clone(), n).unwrap();
        let got = d.group_by([col("k")]).agg(&aggs).compute().unwrap();
        let want = pl
            .clone()
            .lazy()
            .group_by([col("k")])
            .agg(&aggs)
            .collect()
            .unwrap();
        assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));
        let got = d.agg(&aggs).compute().unwrap();
        assert!(
            got.column("m")
                .unwrap()
                .f64()
                .unwrap()
                .get(0)
                .unwrap()
                .is_nan()
        );
    }
}

#[test]
fn first_and_last_skip_partitions_left_empty() {
    // A whole-frame first/last after a filter that empties a partition: its
    // partial is a null that is not a value. A null first value still is.
    let pl = df!(
        "w" => [1i64, 2, 60, 70, 3, 80, 4],
        "x" => [Some(1i64), Some(2), None, Some(7), Some(3), Some(8), Some(4)]
    )
    .unwrap();
    let aggs = [
        col("w").first().alias("wf"),
        col("w").last().alias("wl"),
        col("x").first().alias("xf"),
    ];
    let q = |lf: LazyFrame| lf.filter(col("w").gt(lit(50))).select(aggs.clone());
    let want = q(pl.clone().lazy()).collect().unwrap();
    for parts in [vec![2, 3, 2], vec![2, 2, 1, 2], vec![7]] {
        let mut at = 0;
        let frames = parts
            .iter()
            .map(|&n| {
                at += n;
                pl.slice((at - n) as i64, n)
            })
            .collect();
        let d = dd::from_partitions(frames).unwrap();
        let got = d.filter(col("w").gt(lit(50))).agg(&aggs).compute().unwrap();
        assert_frames_eq(&got, &want);
    }
    // Every partition empty: nulls, as Polars gives for no rows.
    let d = dd::from_polars(pl.clone(), 3).unwrap();
    let none = d
        .filter(col("w").gt(lit(100)))
        .agg(&aggs)
        .compute()
        .unwrap();
    let want = pl
        .lazy()
        .filter(col("w").gt(lit(100)))
        .select(aggs.clone())
        .collect()
        .unwrap();
    assert_frames_eq(&none, &want);
}
