//! Whole-frame reductions, nunique, value_counts, drop_duplicates and
//! describe equal Polars on the concatenated data.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{assert_frames_eq, data, random_parts, sorted};

fn partitionings(pl: &DataFrame) -> Vec<dd::DataFrame> {
    [(1, 1), (4, 2), (9, 3)]
        .into_iter()
        .map(|(n, seed)| dd::from_partitions(random_parts(pl, n, seed)).unwrap())
        .collect()
}

#[test]
fn reductions_equal_polars() {
    let pl = data(400, 31);
    let all = |f: fn(Expr) -> Expr, cols: &[&str]| -> DataFrame {
        pl.clone()
            .lazy()
            .select(cols.iter().map(|c| f(col(*c))).collect::<Vec<_>>())
            .collect()
            .unwrap()
    };
    for d in partitionings(&pl) {
        assert_frames_eq(
            &d.sum().compute().unwrap(),
            &all(Expr::sum, &["g", "v", "w"]),
        );
        assert_frames_eq(
            &d.mean().compute().unwrap(),
            &all(Expr::mean, &["g", "v", "w"]),
        );
        assert_frames_eq(
            &d.min().compute().unwrap(),
            &all(Expr::min, &["k", "g", "v", "w"]),
        );
        assert_frames_eq(
            &d.max().compute().unwrap(),
            &all(Expr::max, &["k", "g", "v", "w"]),
        );
        assert_frames_eq(
            &d.count().compute().unwrap(),
            &all(Expr::count, &["k", "g", "v", "w"]),
        );
        let aggs = [
            col("v").std(1).alias("s"),
            col("w").var(0).alias("var"),
            col("w").mean().alias("wmean"),
            col("v").mean().alias("vmean"),
            col("v").first().alias("f"),
            len().alias("n"),
        ];
        let want = pl.clone().lazy().select(aggs.clone()).collect().unwrap();
        assert_frames_eq(&d.agg(aggs).compute().unwrap(), &want);
    }
}

#[test]
fn nunique_value_counts_and_drop_duplicates_equal_polars() {
    let pl = data(300, 41);
    for d in partitionings(&pl) {
        let got = d.nunique(["k", "g", "w"]).compute().unwrap();
        let want = pl
            .clone()
            .lazy()
            .select([
                col("k").n_unique(),
                col("g").n_unique(),
                col("w").n_unique(),
            ])
            .collect()
            .unwrap();
        assert_frames_eq(&got, &want);

        let got = d.value_counts("k").compute().unwrap();
        let want = pl
            .clone()
            .lazy()
            .group_by([col("k")])
            .agg([len().alias("count")])
            .collect()
            .unwrap();
        assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));

        let got = d.drop_duplicates(None).compute().unwrap();
        let want = pl
            .unique_stable(None, UniqueKeepStrategy::First, None)
            .unwrap();
        let by = ["k", "g", "v", "w"];
        assert_frames_eq(&sorted(&got, &by), &sorted(&want, &by));

        let got = d.drop_duplicates(Some(&["k", "g"])).compute().unwrap();
        let subset = ["k".into(), "g".into()];
        let want = pl
            .unique_stable(Some(&subset), UniqueKeepStrategy::First, None)
            .unwrap();
        assert_eq!(got.get_column_names(), want.get_column_names());
        assert_frames_eq(&sorted(&got, &["k", "g"]), &sorted(&want, &["k", "g"]));
    }
}

#[test]
fn describe_equals_polars_statistics() {
    let pl = data(250, 51);
    let d = dd::from_partitions(random_parts(&pl, 5, 4)).unwrap();
    let got = d.describe().unwrap();
    assert_eq!(got.get_column_names(), ["statistic", "g", "v", "w"]);
    for c in ["g", "v", "w"] {
        let x = || col(c).cast(DataType::Float64);
        let want = pl
            .clone()
            .lazy()
            .select([
                x().count().cast(DataType::Float64).alias("count"),
                x().null_count().cast(DataType::Float64).alias("nulls"),
                x().mean().alias("mean"),
                x().std(1).alias("std"),
                x().min().alias("min"),
                x().max().alias("max"),
            ])
            .collect()
            .unwrap();
        let col_got = got.column(c).unwrap().f64().unwrap();
        for (i, w) in want.columns().iter().enumerate() {
            let w = w.f64().unwrap().get(0).unwrap();
            let g = col_got.get(i).unwrap();
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{c} stat {i}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn unknown_columns_are_named() {
    let d = dd::from_polars(data(10, 1), 2).unwrap();
    let e = d.nunique(["zz"]).compute().unwrap_err().to_string();
    assert!(e.contains("zz"), "{e}");
    let e = d
        .drop_duplicates(Some(&["zz"]))
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("zz"), "{e}");
    let e = d
        .agg([col("v").median()])
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("median"), "{e}");
}
