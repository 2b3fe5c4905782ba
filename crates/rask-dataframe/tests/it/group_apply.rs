//! group_by(..).apply(f) equals Polars' group_by(..).apply(f) on the
//! concatenated data: closures locally, registered functions portably.

use rask_core::Value;
use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{assert_frames_eq, data, portable, random_parts, sorted};

/// Per group: each row's `w` minus the group's mean `w`, and the group's
/// row count — output rows per input row, so the whole group is needed.
fn demean(g: &DataFrame) -> PolarsResult<DataFrame> {
    g.clone()
        .lazy()
        .with_columns([
            (col("w").cast(DataType::Float64) - col("w").mean()).alias("dw"),
            len().alias("n"),
        ])
        .collect()
}

/// Per group: the two rows of largest `w` (ties broken by the other
/// columns, so the answer does not depend on row order).
fn top2(g: DataFrame) -> PolarsResult<DataFrame> {
    let s = g.sort(
        ["w", "v", "k", "g"],
        SortMultipleOptions::default()
            .with_order_descending(true)
            .with_nulls_last(true),
    )?;
    Ok(s.head(Some(2)))
}

crate::remote_frame_fn!(
    DemeanKernel,
    demean,
    "rask_dataframe_it::group_apply::demean"
);

/// Polars' answer on the whole frame.
fn oracle(
    pl: &DataFrame,
    keys: &[&str],
    f: impl Fn(DataFrame) -> PolarsResult<DataFrame> + Send + Sync,
) -> DataFrame {
    pl.group_by(keys.iter().copied()).unwrap().apply(f).unwrap()
}

const ALL: [&str; 4] = ["k", "g", "w", "v"];

#[test]
fn apply_equals_polars() {
    let pl = data(500, 71);
    for (n, seed) in [(1, 1), (5, 2), (9, 3)] {
        let d = dd::from_partitions(random_parts(&pl, n, seed)).unwrap();
        for keys in [vec!["k"], vec!["g"], vec!["k", "g"]] {
            let kexprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
            let want_demean = oracle(&pl, &keys, |g| demean(&g));
            let want_top = oracle(&pl, &keys, top2);
            for split_out in [None, Some(1), Some(3)] {
                let mut g = d.group_by(&kexprs);
                if let Some(s) = split_out {
                    g = g.split_out(s);
                }
                let got = g.apply(|p: DataFrame| demean(&p), None);
                assert_eq!(got.npartitions(), split_out.unwrap_or(n));
                assert_eq!(got.columns(), ["k", "g", "v", "w", "dw", "n"]);
                assert_frames_eq(
                    &sorted(&got.compute().unwrap(), &ALL),
                    &sorted(&want_demean, &ALL),
                );
                let got = g.apply(top2, None).compute().unwrap();
                assert_frames_eq(&sorted(&got, &ALL), &sorted(&want_top, &ALL));
            }
        }
    }
}

#[test]
fn apply_on_categorical_keys_and_registered_functions() {
    let pl = data(400, 5);
    let d = dd::from_partitions(random_parts(&pl, 6, 4)).unwrap();
    let c = d.cast_categorical(["k"]).unwrap();
    let pl_enum = pl
        .clone()
        .lazy()
        .with_column(col("k").cast(c.dtype("k").unwrap().clone()))
        .collect()
        .unwrap();
    let want = oracle(&pl_enum, &["k"], |g| demean(&g));
    let local = c
        .group_by([col("k")])
        .apply(|g: DataFrame| demean(&g), None);
    assert!(!portable(&local), "a closure is local only");
    let remote = c
        .group_by([col("k")])
        .split_out(4)
        .apply_remote(demean, None);
    assert!(portable(&remote), "a registered function is portable");
    for got in [&local, &remote] {
        let got = got.compute().unwrap();
        assert!(matches!(
            got.column("k").unwrap().dtype(),
            DataType::Enum(..)
        ));
        assert_frames_eq(&sorted(&got, &ALL), &sorted(&want, &ALL));
    }
    // The remote tasks' parameters survive encoding: decoded on "another
    // worker", the kernel gives the same answer on a partition.
    let mut b = rask_core::GraphBuilder::new();
    rask_core::Collection::add_to_graph(&remote, &mut b, &mut Vec::new());
    let graph = b.build().unwrap();
    let mut checked = 0;
    for task in graph.tasks() {
        let Some((name, params)) = task.op.kernel_parts() else {
            continue;
        };
        let decoded = rask_core::kernel::decode(name, &params.unwrap()).unwrap();
        if name == "rask.dataframe.group_apply_remote" {
            let input = Value::sized(dd::Part(pl_enum.clone()));
            let out = decoded.run(&[input]).unwrap();
            let out = &out.get::<dd::Part>(0).unwrap().0;
            assert_frames_eq(&sorted(out, &ALL), &sorted(&want, &ALL));
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "one remote task per output partition");
    // A function that is not registered is a clear error.
    let e = d
        .group_by([col("k")])
        .apply_remote(top2, None)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("#[rask::remote]"), "{e}");
}

#[test]
fn apply_after_a_shuffle_on_the_keys_does_not_shuffle_again() {
    let pl = data(300, 9);
    let placed = dd::from_partitions(random_parts(&pl, 4, 1))
        .unwrap()
        .shuffle([col("g")], 4);
    let count = |d: &dd::DataFrame| {
        let mut b = rask_core::GraphBuilder::new();
        rask_core::Collection::add_to_graph(d, &mut b, &mut Vec::new());
        b.len()
    };
    // Partitioned by the key, or by one of the keys.
    for keys in [vec!["g"], vec!["g", "k"]] {
        let kexprs: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
        let got = placed.group_by(&kexprs).apply(top2, None);
        assert_eq!(count(&got), count(&placed) + 4, "one task per partition");
        let want = oracle(&pl, &keys, top2);
        assert_frames_eq(&sorted(&got.compute().unwrap(), &ALL), &sorted(&want, &ALL));
    }
    // Another partition count asked for shuffles.
    let got = placed.group_by([col("g")]).split_out(2).apply(top2, None);
    assert!(count(&got) > count(&placed) + 2);
}

#[test]
fn meta_errors_and_bad_keys() {
    let d = dd::from_polars(data(40, 2), 3).unwrap();
    // A function that fails on an empty frame needs its schema given.
    let picky = |g: DataFrame| -> PolarsResult<DataFrame> {
        if g.height() == 0 {
            polars_bail!(ComputeError: "no rows");
        }
        g.lazy()
            .select([col("k"), len().alias("n")])
            .limit(1)
            .collect()
    };
    let e = d
        .group_by([col("k")])
        .apply(picky, None)
        .error()
        .unwrap()
        .to_string();
    assert!(e.contains("meta") && e.contains("no rows"), "{e}");
    let meta = Schema::from_iter([
        Field::new("k".into(), DataType::String),
        Field::new("n".into(), DataType::UInt32),
    ]);
    let got = d
        .group_by([col("k")])
        .apply(picky, Some(meta))
        .compute()
        .unwrap();
    let want = oracle(&data(40, 2), &["k"], picky);
    assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));

    // An error of the function names the operation and the reason.
    let e = d
        .group_by([col("k")])
        .apply(
            |g: DataFrame| -> PolarsResult<DataFrame> {
                if g.height() > 0 {
                    polars_bail!(ComputeError: "bad group");
                }
                Ok(g)
            },
            None,
        )
        .compute()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad group") && e.contains("group_by/apply"),
        "{e}"
    );

    // A key that does not exist: named, with the schema.
    let e = d
        .group_by([col("nope")])
        .apply(top2, None)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("v: f64"), "{e}");
    // A computed key.
    let e = d
        .group_by([col("g") * lit(2)])
        .apply(top2, None)
        .error()
        .unwrap()
        .to_string();
    assert!(e.contains("plain columns"), "{e}");
}
