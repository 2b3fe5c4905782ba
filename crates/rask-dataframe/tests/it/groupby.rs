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
