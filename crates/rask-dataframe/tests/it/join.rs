//! Joins equal Polars' join of the concatenated frames, for every join type
//! and every strategy (broadcast, shuffle, co-partitioned).

use rask_core::{Collection, GraphBuilder};
use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, JoinStrategy, ShuffleOptions};

use crate::support::{Rng, assert_frames_eq, data, random_parts, sorted};

/// A right-hand table keyed by `g` (with duplicates and a null key) and
/// `k`, with a column `w` that clashes with the left side's.
fn right_table(rows: usize, seed: u64) -> DataFrame {
    let mut r = Rng::new(seed);
    let kinds = ["alpha", "beta", "zeta"];
    let g: Vec<Option<i64>> = (0..rows)
        .map(|_| {
            let x = r.below(12) as i64;
            (x != 11).then_some(x - 5)
        })
        .collect();
    let k: Vec<Option<&str>> = (0..rows)
        .map(|_| {
            let i = r.below(4) as usize;
            (i < 3).then(|| kinds[i])
        })
        .collect();
    let w: Vec<i64> = (0..rows).map(|_| r.below(50) as i64).collect();
    let name: Vec<String> = (0..rows).map(|i| format!("r{i}")).collect();
    df!("g" => g, "k" => k, "w" => w, "name" => name).unwrap()
}

const HOWS: [JoinType; 6] = [
    JoinType::Inner,
    JoinType::Left,
    JoinType::Right,
    JoinType::Full,
    JoinType::Semi,
    JoinType::Anti,
];

fn all_sorted(df: &DataFrame) -> DataFrame {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    sorted(df, &names)
}

fn check(
    left: &dd::DataFrame,
    right: &dd::DataFrame,
    lpl: &DataFrame,
    rpl: &DataFrame,
    on: &[&str],
    how: JoinType,
    strategy: JoinStrategy,
) -> dd::DataFrame {
    let keys: Vec<Expr> = on.iter().map(|c| col(*c)).collect();
    let args = JoinArgs::new(how.clone());
    let got = left.join_with(right, &keys, &keys, args.clone(), strategy.clone());
    let want = lpl
        .clone()
        .lazy()
        .join(rpl.clone().lazy(), &keys, &keys, args)
        .collect()
        .unwrap();
    assert_eq!(&**got.schema(), &**want.schema(), "{how:?} {strategy:?}");
    let g = got
        .compute()
        .unwrap_or_else(|e| panic!("{how:?} {strategy:?}: {e}"));
    assert_frames_eq(&all_sorted(&g), &all_sorted(&want));
    got
}

#[test]
fn every_join_type_and_strategy_equals_polars() {
    let lpl = data(400, 21);
    let rpl = right_table(60, 22);
    for (nl, nr, seed) in [(1, 1, 1), (5, 1, 2), (7, 3, 3), (2, 6, 4)] {
        let left = dd::from_partitions(random_parts(&lpl, nl, seed)).unwrap();
        let right = dd::from_partitions(random_parts(&rpl, nr, seed + 10)).unwrap();
        for how in HOWS {
            for on in [&["g"][..], &["k", "g"][..]] {
                let mut strategies = vec![
                    JoinStrategy::Auto,
                    JoinStrategy::Shuffle(ShuffleOptions::default()),
                    JoinStrategy::Shuffle(ShuffleOptions::default().npartitions(3)),
                ];
                if how != JoinType::Full || (nl == 1 && nr == 1) {
                    strategies.push(JoinStrategy::Broadcast);
                }
                for s in strategies {
                    let _ = check(&left, &right, &lpl, &rpl, on, how.clone(), s);
                }
            }
        }
    }
}

#[test]
fn broadcast_keeps_the_big_side_partitions_and_shuffle_uses_the_larger_count() {
    let lpl = data(200, 3);
    let rpl = right_table(30, 4);
    let left = dd::from_partitions(random_parts(&lpl, 6, 1)).unwrap();
    let right = dd::from_polars(rpl.clone(), 1).unwrap();
    let on = [col("g")];
    let inner = JoinArgs::new(JoinType::Inner);
    // The contract's shape: a one-partition table is broadcast.
    assert_eq!(
        left.join(&right, on.clone(), on.clone(), inner.clone())
            .npartitions(),
        6
    );
    // Right joins broadcast the left side, so one output per right partition.
    let right3 = dd::from_partitions(random_parts(&rpl, 3, 2)).unwrap();
    let small_left = dd::from_polars(lpl.clone(), 1).unwrap();
    let j = small_left.join(
        &right3,
        on.clone(),
        on.clone(),
        JoinArgs::new(JoinType::Right),
    );
    assert_eq!(j.npartitions(), 3);
    // A full join of partitioned sides shuffles, into the larger count.
    let j = left.join(
        &right3,
        on.clone(),
        on.clone(),
        JoinArgs::new(JoinType::Full),
    );
    assert_eq!(j.npartitions(), 6);
    let _ = check(
        &left,
        &right3,
        &lpl,
        &rpl,
        &["g"],
        JoinType::Full,
        JoinStrategy::Auto,
    );
    // A full join cannot broadcast either side.
    let e = small_left
        .join_with(
            &right3,
            on.clone(),
            on.clone(),
            JoinArgs::new(JoinType::Full),
            JoinStrategy::Broadcast,
        )
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot broadcast"), "{e}");
}

fn task_count(c: &impl Collection) -> usize {
    let mut b = GraphBuilder::new();
    c.add_to_graph(&mut b, &mut Vec::new());
    b.len()
}

#[test]
fn co_partitioned_sides_join_without_another_shuffle() {
    let lpl = data(300, 8);
    let rpl = right_table(80, 9);
    let left = dd::from_partitions(random_parts(&lpl, 5, 3))
        .unwrap()
        .shuffle([col("g")], 4);
    let right = dd::from_partitions(random_parts(&rpl, 3, 4))
        .unwrap()
        .shuffle([col("g")], 4);
    assert_eq!(left.partitioning().unwrap().columns, ["g"]);
    for how in HOWS {
        let j = check(
            &left,
            &right,
            &lpl,
            &rpl,
            &["g"],
            how.clone(),
            JoinStrategy::Auto,
        );
        assert_eq!(
            task_count(&j),
            task_count(&left) + task_count(&right) + 4,
            "{how:?}: only the join tasks are added"
        );
    }
    // A join's result keeps its partitioning, so joining it again on the
    // same key adds only join tasks; a filter keeps it too.
    let on = [col("g")];
    let j = left
        .join(
            &right,
            on.clone(),
            on.clone(),
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("w").gt(lit(0)));
    assert!(j.partitioning().is_some());
    let again = j.join(
        &right.select([col("g"), col("name")]).shuffle([col("g")], 4),
        on.clone(),
        on.clone(),
        JoinArgs::new(JoinType::Semi),
    );
    assert!(again.error().is_none(), "{:?}", again.error());
    // Different partition counts do shuffle.
    let other = dd::from_polars(rpl.clone(), 2)
        .unwrap()
        .shuffle([col("g")], 2);
    let j = left.join(
        &other,
        on.clone(),
        on.clone(),
        JoinArgs::new(JoinType::Full),
    );
    assert!(task_count(&j) > task_count(&left) + task_count(&other) + 4);
    let _ = check(
        &left,
        &other,
        &lpl,
        &rpl,
        &["g"],
        JoinType::Full,
        JoinStrategy::Auto,
    );
}

#[test]
fn keys_of_different_integer_types_meet_in_a_shuffle() {
    let lpl = data(200, 5);
    let rpl = right_table(40, 6)
        .lazy()
        .with_columns([col("g").cast(DataType::Int32)])
        .collect()
        .unwrap();
    let left = dd::from_partitions(random_parts(&lpl, 4, 1)).unwrap();
    let right = dd::from_partitions(random_parts(&rpl, 3, 2)).unwrap();
    let keys = [col("g")];
    let want = lpl
        .clone()
        .lazy()
        .join(
            rpl.clone().lazy(),
            keys.clone(),
            keys.clone(),
            JoinArgs::new(JoinType::Inner),
        )
        .collect();
    let got = left.join_with(
        &right,
        keys.clone(),
        keys.clone(),
        JoinArgs::new(JoinType::Inner),
        JoinStrategy::Shuffle(ShuffleOptions::default()),
    );
    match want {
        Ok(want) => assert_frames_eq(&all_sorted(&got.compute().unwrap()), &all_sorted(&want)),
        // Polars refuses it on one frame too; so must the join.
        Err(_) => assert!(got.error().is_some()),
    }
}

#[test]
fn bad_join_keys_are_named() {
    let d = dd::from_polars(data(20, 1), 2).unwrap();
    let r = dd::from_polars(right_table(5, 1), 1).unwrap();
    let inner = JoinArgs::new(JoinType::Inner);
    let e = d
        .join(&r, [col("nope")], [col("g")], inner.clone())
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("v: f64"), "{e}");
    let e = d
        .join(&r, [col("g")], [col("missing_right")], inner.clone())
        .len()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing_right") && e.contains("name: str"),
        "{e}"
    );
    let e = d
        .join(&r, [col("g")], [col("g"), col("k")], inner.clone())
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 left key(s) and 2 right key(s)"), "{e}");
    let e = d
        .join(&r, Vec::<Expr>::new(), Vec::<Expr>::new(), inner.clone())
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one"), "{e}");
    // An invalid input's error flows through.
    let e = d
        .select([col("zz")])
        .join(&r, [col("g")], [col("g")], inner)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("zz"), "{e}");
}

#[test]
fn categorical_keys_join_like_polars() {
    let cat = DataType::from_categories(Categories::global());
    let lpl = data(200, 12)
        .lazy()
        .with_columns([col("k").cast(cat.clone())])
        .collect()
        .unwrap();
    let rpl = right_table(30, 13)
        .lazy()
        .with_columns([col("k").cast(cat)])
        .collect()
        .unwrap();
    let left = dd::from_partitions(random_parts(&lpl, 4, 1)).unwrap();
    let right = dd::from_partitions(random_parts(&rpl, 3, 2)).unwrap();
    for how in [
        JoinType::Inner,
        JoinType::Left,
        JoinType::Full,
        JoinType::Anti,
    ] {
        let got = left.join_with(
            &right,
            [col("k")],
            [col("k")],
            JoinArgs::new(how.clone()),
            JoinStrategy::Shuffle(ShuffleOptions::default()),
        );
        let want = lpl
            .clone()
            .lazy()
            .join(
                rpl.clone().lazy(),
                [col("k")],
                [col("k")],
                JoinArgs::new(how.clone()),
            )
            .collect()
            .unwrap();
        // Compare as strings (sorting a categorical sorts its codes).
        let strs = |df: DataFrame| {
            df.lazy()
                .with_columns([dtype_col(&DataType::from_categories(Categories::global()))
                    .as_selector()
                    .as_expr()
                    .cast(DataType::String)])
                .collect()
                .unwrap()
        };
        let (g, w) = (strs(got.compute().unwrap()), strs(want));
        assert_frames_eq(&all_sorted(&g), &all_sorted(&w));
    }
}

#[test]
fn broadcasting_the_right_side_keeps_the_left_divisions() {
    let lpl = data(300, 14);
    let rpl = right_table(20, 15);
    let left = dd::from_partitions(random_parts(&lpl, 4, 1))
        .unwrap()
        .set_index("w")
        .unwrap();
    let right = dd::from_polars(rpl.clone(), 1).unwrap();
    let on = [col("g")];
    for how in [
        JoinType::Inner,
        JoinType::Left,
        JoinType::Semi,
        JoinType::Anti,
    ] {
        let j = left.join(&right, on.clone(), on.clone(), JoinArgs::new(how.clone()));
        assert_eq!(j.divisions(), left.divisions(), "{how:?}");
        let _ = check(&left, &right, &lpl, &rpl, &["g"], how, JoinStrategy::Auto);
    }
}

/// Per-partition steps after a join run inside the join's tasks, on sides
/// narrowed to the columns the steps need (read from Parquet, so the
/// narrowing reaches the readers, before any shuffle). Names stay what the
/// whole join gives them: `w` of the right side is still `w_right` when
/// the left `w` is not asked for.
#[test]
fn steps_after_a_join_run_in_its_tasks_on_narrowed_sides() {
    let dir = crate::support::temp_dir("join-steps");
    let lpl = data(300, 31);
    let rpl = right_table(40, 32);
    dd::from_partitions(random_parts(&lpl, 4, 5))
        .unwrap()
        .to_parquet(dir.join("left"))
        .unwrap();
    let left = dd::read_parquet(format!("{}/left/*.parquet", dir.display())).unwrap();
    dd::from_partitions(random_parts(&rpl, 2, 6))
        .unwrap()
        .to_parquet(dir.join("right"))
        .unwrap();
    let right = dd::read_parquet(format!("{}/right/*.parquet", dir.display())).unwrap();
    let on = [col("g")];
    type Steps = fn(LazyFrame) -> LazyFrame;
    let full: [(&str, Steps); 3] = [
        ("right w only", |f| f.select([col("w_right"), col("name")])),
        ("filter, derive, narrow", |f| {
            f.filter(col("w").gt(lit(10)))
                .with_columns([(col("v") * lit(2.0)).alias("v2")])
                .select([col("g"), col("v2")])
        }),
        ("partial aggregation", |f| {
            f.group_by([col("k")]).agg([col("v").sum().alias("s")])
        }),
    ];
    // Semi and anti joins give the left columns only.
    let left_only: [(&str, Steps); 2] = [
        ("left w only", |f| f.select([col("w")])),
        ("filter", |f| {
            f.filter(col("v").gt(lit(0.0))).select([col("k"), col("g")])
        }),
    ];
    for how in HOWS {
        let cases: &[(&str, Steps)] = if matches!(how, JoinType::Semi | JoinType::Anti) {
            &left_only
        } else {
            &full
        };
        let mut strategies = vec![
            JoinStrategy::Auto,
            JoinStrategy::Shuffle(ShuffleOptions::default().npartitions(3)),
        ];
        if how != JoinType::Full {
            strategies.push(JoinStrategy::Broadcast);
        }
        for s in strategies {
            let args = JoinArgs::new(how.clone());
            let j = left.join_with(&right, on.clone(), on.clone(), args.clone(), s.clone());
            let joined = lpl
                .clone()
                .lazy()
                .join(rpl.clone().lazy(), on.clone(), on.clone(), args);
            for (what, f) in cases {
                let want = f(joined.clone()).collect().unwrap();
                let got_df = rask_steps(what, &j);
                if *what != "partial aggregation" {
                    assert_eq!(
                        task_count(&got_df),
                        task_count(&j),
                        "{how:?} {s:?} {what}: the steps run in the join's tasks"
                    );
                }
                let got = got_df
                    .compute()
                    .unwrap_or_else(|e| panic!("{how:?} {s:?} {what}: {e}"));
                assert_frames_eq(&all_sorted(&got), &all_sorted(&want));
            }
        }
    }
}

/// The rask spelling of the steps named `what` in the test above.
fn rask_steps(what: &str, j: &dd::DataFrame) -> dd::DataFrame {
    match what {
        "right w only" => j.select([col("w_right"), col("name")]),
        "filter, derive, narrow" => j
            .filter(col("w").gt(lit(10)))
            .with_columns([(col("v") * lit(2.0)).alias("v2")])
            .select([col("g"), col("v2")]),
        "partial aggregation" => j.group_by([col("k")]).agg([col("v").sum().alias("s")]),
        "left w only" => j.select([col("w")]),
        "filter" => j.filter(col("v").gt(lit(0.0))).select([col("k"), col("g")]),
        other => unreachable!("{other}"),
    }
}

/// A uniqueness check still runs, and still fails, when the join's tasks
/// also aggregate (on the streaming engine).
#[test]
fn uniqueness_checks_hold_in_aggregating_join_tasks() {
    let lpl = data(200, 41);
    let left = dd::from_partitions(random_parts(&lpl, 4, 1)).unwrap();
    let unique = df!("g" => [-3i64, -2, -1, 0, 1, 2, 3], "x" => [1i64, 2, 3, 4, 5, 6, 7]).unwrap();
    let dup = df!("g" => [1i64, 1], "x" => [1i64, 2]).unwrap();
    let mut m2o = JoinArgs::new(JoinType::Inner);
    m2o.validation = JoinValidation::ManyToOne;
    let agg = |right: &DataFrame| {
        left.join_with(
            &dd::from_polars(right.clone(), 1).unwrap(),
            [col("g")],
            [col("g")],
            m2o.clone(),
            JoinStrategy::Shuffle(ShuffleOptions::default().npartitions(2)),
        )
        .group_by([col("k")])
        .agg([col("x").sum().alias("xs")])
    };
    let want = lpl
        .clone()
        .lazy()
        .join(unique.clone().lazy(), [col("g")], [col("g")], m2o.clone())
        .group_by([col("k")])
        .agg([col("x").sum().alias("xs")])
        .collect()
        .unwrap();
    let got = agg(&unique).compute().unwrap();
    assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));
    let e = agg(&dup).compute().unwrap_err().to_string();
    assert!(e.contains("m:1 validation"), "{e}");
}

const AUTO: JoinStrategy = JoinStrategy::Auto;

/// Writes `df` sorted by `key` as `files` Parquet files of row groups of
/// `group` rows, so their statistics give each row group's key range.
fn write_sorted(dir: &std::path::Path, df: &DataFrame, key: &str, files: usize, group: usize) {
    let df = df
        .sort([key], SortMultipleOptions::default().with_nulls_last(true))
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let per = df.height().div_ceil(files);
    for i in 0..files {
        let mut part = df.slice((i * per) as i64, per);
        let f = std::fs::File::create(dir.join(format!("part-{i}.parquet"))).unwrap();
        ParquetWriter::new(f)
            .with_row_group_size(Some(group))
            .finish(&mut part)
            .unwrap();
    }
}

/// The Parquet files in `dir/side`, `groups` row groups per partition.
fn read_side(dir: &std::path::Path, side: &str, groups: usize) -> dd::DataFrame {
    dd::ReadParquet::new(dir.join(side).to_string_lossy())
        .row_groups_per_partition(groups)
        .finish()
        .unwrap()
}

/// Sorted keys with runs of equal keys (so a key can straddle two row
/// groups, whose ranges then touch), nulls at the end, and gaps.
fn sorted_table(rows: usize, keys: i64, seed: u64, prefix: &str) -> DataFrame {
    let mut r = Rng::new(seed);
    let key: Vec<Option<i64>> = (0..rows)
        .map(|_| {
            let x = r.below(keys as u64 + 2) as i64;
            (x < keys).then_some(x * 3)
        })
        .collect();
    let day: Vec<Option<i32>> = key.iter().map(|k| k.map(|k| k as i32 / 2)).collect();
    let v: Vec<i64> = (0..rows).map(|_| r.below(1000) as i64).collect();
    df!("key" => key, "day" => day, format!("{prefix}v").as_str() => v)
        .unwrap()
        .lazy()
        .with_column(col("day").cast(DataType::Date))
        .collect()
        .unwrap()
}

#[test]
fn sorted_parquet_sides_join_by_key_ranges_without_a_shuffle() {
    let dir = crate::support::temp_dir("range-join");
    let lpl = sorted_table(900, 150, 31, "l");
    let rpl = sorted_table(300, 120, 32, "r");
    write_sorted(&dir.join("l"), &lpl, "key", 3, 50);
    write_sorted(&dir.join("r"), &rpl, "key", 2, 40);
    let (left, right) = (read_side(&dir, "l", 2), read_side(&dir, "r", 2));
    assert!(left.npartitions() >= 9 && right.npartitions() >= 4);
    // A filter and a select on either side keep the ranges.
    let left = left.filter(col("lv").gt(lit(100)));
    let right = right.select([col("key"), col("day"), col("rv")]);
    let lpl = lpl.lazy().filter(col("lv").gt(lit(100))).collect().unwrap();
    for how in [
        JoinType::Inner,
        JoinType::Left,
        JoinType::Semi,
        JoinType::Anti,
    ] {
        for key in ["key", "day"] {
            let j = check(&left, &right, &lpl, &rpl, &[key], how.clone(), AUTO);
            // The left side's files are scanned inside the join tasks.
            assert_eq!(
                task_count(&j),
                task_count(&right) + left.npartitions(),
                "{how:?} on {key}: only join tasks, no shuffle"
            );
        }
    }
    // The result keeps the left side's ranges: joining it again on the key
    // pairs partitions again, and steps after it run in its tasks.
    let on = [col("key")];
    let inner = || JoinArgs::new(JoinType::Inner);
    let twice = left
        .join(&right, on.clone(), on.clone(), inner())
        .join(
            &right.select([col("key"), col("rv").alias("rv2")]),
            on.clone(),
            on.clone(),
            inner(),
        )
        .group_by([col("key")])
        .agg([col("rv2").sum()]);
    let want = lpl
        .clone()
        .lazy()
        .join(rpl.clone().lazy(), on.clone(), on.clone(), inner())
        .join(
            rpl.clone()
                .lazy()
                .select([col("key"), col("rv").alias("rv2")]),
            on.clone(),
            on.clone(),
            inner(),
        )
        .group_by([col("key")])
        .agg([col("rv2").sum()])
        .collect()
        .unwrap();
    assert_frames_eq(
        &sorted(&twice.compute().unwrap(), &["key"]),
        &sorted(&want, &["key"]),
    );
    // The aggregating join runs the join on its left inside its own tasks
    // (one pipelined plan per partition): it adds only the reads of its
    // right side to the tasks of the same aggregation after one join.
    let right2 = right.select([col("key"), col("rv").alias("rv2")]);
    let once = left
        .join(&right2, on.clone(), on.clone(), inner())
        .group_by([col("key")])
        .agg([col("rv2").sum()]);
    assert_eq!(task_count(&twice), task_count(&once) + task_count(&right));
    // Those tasks travel: encoded, decoded and run as another process
    // would, they give the same answer.
    let plan = rask_core::compute::plan(&twice).unwrap();
    plan.graph.check_portable().unwrap();
    let decoded = rask_core::Plan::decode(&plan.encode().unwrap()).unwrap();
    let out = rask_core::Executor::execute(&rask_local::SyncExecutor, &decoded, &[]).unwrap();
    let parts: Vec<DataFrame> = out
        .iter()
        .map(|v| v.downcast_ref::<dd::Part>().unwrap().0.clone())
        .collect();
    assert_eq!(
        parts.iter().map(DataFrame::height).sum::<usize>(),
        want.height()
    );
    // Right and full joins would repeat unmatched right rows: they shuffle.
    for how in [JoinType::Right, JoinType::Full] {
        let j = check(&left, &right, &lpl, &rpl, &["key"], how, JoinStrategy::Auto);
        assert!(task_count(&j) > task_count(&left) + task_count(&right) + left.npartitions());
    }
    // A left file gone when the join runs is named by its task's error.
    let j = left.join(&right, on.clone(), on.clone(), inner());
    std::fs::remove_file(dir.join("l").join("part-1.parquet")).unwrap();
    let e = j.compute().unwrap_err().to_string();
    assert!(e.contains("part-1.parquet"), "{e}");
}

#[test]
fn overlapping_key_ranges_still_shuffle() {
    let dir = crate::support::temp_dir("range-join-unsorted");
    let lpl = sorted_table(600, 100, 33, "l");
    let rpl = sorted_table(200, 100, 34, "r");
    // Unsorted files: every row group spans nearly all keys.
    for (name, df) in [("l", &lpl), ("r", &rpl)] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        let f = std::fs::File::create(dir.join(name).join("part-0.parquet")).unwrap();
        ParquetWriter::new(f)
            .with_row_group_size(Some(50))
            .finish(&mut df.clone())
            .unwrap();
    }
    let (left, right) = (read_side(&dir, "l", 1), read_side(&dir, "r", 1));
    let j = check(
        &left,
        &right,
        &lpl,
        &rpl,
        &["key"],
        JoinType::Inner,
        JoinStrategy::Auto,
    );
    assert!(task_count(&j) > task_count(&left) + task_count(&right) + left.npartitions());
}

#[test]
fn temporal_columns_of_partitions_in_many_chunks_join() {
    // A partition of two row groups is two chunks; a left join gathers
    // its rows chunk by chunk, which Polars does for dates only with its
    // temporal types enabled (it panicked before they were).
    let dir = crate::support::temp_dir("join-chunks");
    let lpl = sorted_table(900, 150, 31, "l");
    let rpl = sorted_table(300, 120, 32, "r");
    write_sorted(&dir.join("l"), &lpl, "key", 3, 50);
    let left = read_side(&dir, "l", 2);
    let right = dd::from_polars(rpl.clone(), 1).unwrap();
    let broadcast = JoinStrategy::Broadcast;
    for (how, key) in [
        (JoinType::Inner, "key"),
        (JoinType::Inner, "day"),
        (JoinType::Left, "key"),
        (JoinType::Left, "day"),
    ] {
        let _ = check(&left, &right, &lpl, &rpl, &[key], how, broadcast.clone());
    }
}

/// A device-like right table keyed by `g`: duplicate keys, a null key, keys
/// the left side lacks, and attributes the left side does not have.
fn attributes() -> DataFrame {
    df!(
        "g" => [Some(-3i64), Some(-2), Some(-2), Some(0), Some(1), Some(2), Some(3), None, Some(9)],
        "site" => ["north", "south", "east", "north", "south", "north", "east", "west", "west"],
        "grade" => [1i64, 2, 2, 1, 3, 1, 2, 3, 1],
    )
    .unwrap()
}

/// `df` cut into `n` random partitions, written as Parquet files in a new
/// directory named after `name` (removed when the first value is dropped),
/// and read back.
fn parquet_parts(
    name: &str,
    df: &DataFrame,
    n: usize,
    seed: u64,
) -> (crate::support::TempDir, dd::DataFrame) {
    let dir = crate::support::temp_dir(name);
    dd::from_partitions(random_parts(df, n, seed))
        .unwrap()
        .to_parquet(dir.join("left"))
        .unwrap();
    let read = dd::read_parquet(format!("{}/left/*.parquet", dir.display())).unwrap();
    (dir, read)
}

#[test]
fn group_bys_of_right_columns_after_a_join_equal_polars() {
    // Inner and left joins grouped by right columns (and the left key)
    // aggregate the left side before joining where partitions have enough
    // rows per right row (crate::eager): results equal Polars' row-level
    // join either way, whichever path each partition takes.
    let lpl = data(600, 41);
    let rpl = attributes();
    let (_dir, scanned) = parquet_parts("join-eager", &lpl, 5, 7);
    let in_memory = dd::from_partitions(random_parts(&lpl, 4, 8)).unwrap();
    let right = dd::from_polars(rpl.clone(), 1).unwrap();
    let aggs = || {
        [
            col("v").sum().alias("s"),
            col("v").mean().alias("m"),
            col("v").count().alias("c"),
            len().alias("n"),
            col("w").min().alias("lo"),
            col("v").max().alias("hi"),
        ]
    };
    let keysets: [Vec<Expr>; 3] = [
        vec![col("site")],
        vec![col("site"), col("grade")],
        vec![col("g"), col("site")],
    ];
    for how in [JoinType::Inner, JoinType::Left] {
        for keys in &keysets {
            for (what, left) in [("scanned", &scanned), ("in memory", &in_memory)] {
                let on = [col("g")];
                let args = JoinArgs::new(how.clone());
                let mut plain: Vec<Expr> = aggs().to_vec();
                // A variance does not combine as a sum: the plain path.
                let with_var: Vec<Expr> = plain
                    .iter()
                    .cloned()
                    .chain([col("v").var(1).alias("var")])
                    .collect();
                for aggs in [std::mem::take(&mut plain), with_var] {
                    let got = left
                        .join(&right, on.clone(), on.clone(), args.clone())
                        .group_by(keys)
                        .agg(&aggs)
                        .compute()
                        .unwrap_or_else(|e| panic!("{how:?} {keys:?} {what}: {e}"));
                    let want = lpl
                        .clone()
                        .lazy()
                        .join(rpl.clone().lazy(), on.clone(), on.clone(), args.clone())
                        .group_by(keys)
                        .agg(&aggs)
                        .collect()
                        .unwrap();
                    assert_eq!(got.schema(), want.schema(), "{how:?} {keys:?} {what}");
                    assert_frames_eq(&all_sorted(&got), &all_sorted(&want));
                }
            }
        }
    }
}

/// Polars' lazy join of `lpl` and `rpl` on the same keys `on`.
fn polars_join(lpl: &DataFrame, rpl: &DataFrame, on: &[Expr], args: JoinArgs) -> LazyFrame {
    lpl.clone().lazy().join(rpl.clone().lazy(), on, on, args)
}

#[test]
fn left_filters_and_derived_columns_before_such_a_group_by_equal_polars() {
    let lpl = data(500, 43);
    let rpl = attributes();
    let (_dir, left) = parquet_parts("join-eager-steps", &lpl, 3, 9);
    let right = dd::from_polars(rpl.clone(), 1).unwrap();
    let on = [col("g")];
    for how in [JoinType::Inner, JoinType::Left] {
        let args = JoinArgs::new(how.clone());
        let aggs = [col("v2").sum().alias("s"), len().alias("n")];
        let got = left
            .join(&right, on.clone(), on.clone(), args.clone())
            .filter(col("w").gt(lit(0)))
            .with_columns([(col("v") * lit(2.0)).alias("v2")])
            .group_by([col("site")])
            .agg(aggs.clone())
            .compute()
            .unwrap();
        let want = polars_join(&lpl, &rpl, &on, args)
            .filter(col("w").gt(lit(0)))
            .with_columns([(col("v") * lit(2.0)).alias("v2")])
            .group_by([col("site")])
            .agg(aggs)
            .collect()
            .unwrap();
        assert_frames_eq(&all_sorted(&got), &all_sorted(&want));
    }
}

#[test]
fn group_bys_of_right_columns_after_a_join_on_two_keys_equal_polars() {
    let lpl = data(500, 44);
    let rpl = df!(
        "k" => [Some("alpha"), Some("beta"), Some("beta"), Some("gamma"), None, Some("eps")],
        "g" => [Some(0i64), Some(1), Some(1), Some(-3), Some(2), None],
        "site" => ["north", "south", "east", "north", "west", "west"],
    )
    .unwrap();
    let (_dir, left) = parquet_parts("join-eager-two-keys", &lpl, 3, 10);
    let right = dd::from_polars(rpl.clone(), 1).unwrap();
    let on = [col("k"), col("g")];
    let aggs = [
        col("v").sum().alias("s"),
        col("w").max().alias("hi"),
        len().alias("n"),
    ];
    for how in [JoinType::Inner, JoinType::Left] {
        for keys in [vec![col("site")], vec![col("k"), col("site")]] {
            let args = JoinArgs::new(how.clone());
            let got = left
                .join(&right, on.clone(), on.clone(), args.clone())
                .group_by(&keys)
                .agg(aggs.clone())
                .compute()
                .unwrap();
            let want = polars_join(&lpl, &rpl, &on, args)
                .group_by(&keys)
                .agg(aggs.clone())
                .collect()
                .unwrap();
            assert_frames_eq(&all_sorted(&got), &all_sorted(&want));
        }
    }
}

#[test]
fn categorical_keys_of_a_scanned_left_side_are_filtered_like_polars() {
    // The right side's codes filter the left side (crate::key_filter).
    let cat = DataType::from_categories(Categories::global());
    let lpl = data(400, 45);
    let rpl = df!("k" => [Some("beta"), Some("eps"), None], "rank" => [1i64, 2, 3]).unwrap();
    let (_dir, left) = parquet_parts("join-categorical-filter", &lpl, 3, 11);
    let left = left.with_columns([col("k").cast(cat.clone())]);
    let right = dd::from_polars(rpl.clone(), 1)
        .unwrap()
        .with_columns([col("k").cast(cat.clone())]);
    let as_cat = |df: DataFrame| {
        df.lazy()
            .with_columns([col("k").cast(cat.clone())])
            .collect()
            .unwrap()
    };
    let strs = |df: DataFrame| {
        df.lazy()
            .with_columns([col("k").cast(DataType::String)])
            .collect()
            .unwrap()
    };
    for how in [JoinType::Inner, JoinType::Semi, JoinType::Right] {
        let args = JoinArgs::new(how.clone());
        let got = left
            .join(&right, [col("k")], [col("k")], args.clone())
            .compute()
            .unwrap();
        let want = as_cat(lpl.clone())
            .lazy()
            .join(as_cat(rpl.clone()).lazy(), [col("k")], [col("k")], args)
            .collect()
            .unwrap();
        assert!(got.height() > 0);
        assert_frames_eq(&all_sorted(&strs(got)), &all_sorted(&strs(want)));
    }
}
