//! Bad input gives clear rask errors.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{data, temp_dir};

#[test]
fn unknown_column_names_it_and_the_schema() {
    let d = dd::from_polars(data(10, 1), 2).unwrap();
    for bad in [
        d.select([col("nope")]),
        d.filter(col("nope").gt(lit(1))),
        d.with_columns([col("nope") + lit(1)]),
        d.group_by([col("nope")]).agg([col("v").sum()]),
        d.group_by([col("k")]).agg([col("nope").sum()]),
    ] {
        let e = bad.compute().unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        assert!(e.contains("v: f64"), "the schema is named: {e}");
        assert!(bad.len().is_err());
        assert!(bad.head(2).is_err());
    }
    // Errors flow through later steps.
    let later = d.select([col("nope")]).filter(col("v").gt(lit(0)));
    assert!(later.compute().unwrap_err().to_string().contains("nope"));
}

#[test]
fn missing_files_and_empty_globs() {
    let dir = temp_dir("missing");
    for pattern in [
        dir.join("none.csv"),
        dir.join("*.csv"),
        dir.join("nodir/*.parquet"),
    ] {
        let p = pattern.to_str().unwrap();
        let e = dd::read_csv(p).unwrap_err().to_string();
        assert!(e.contains(p) && e.contains("no file matches"), "{e}");
        let e = dd::read_parquet(p).unwrap_err().to_string();
        assert!(e.contains(p) && e.contains("no file matches"), "{e}");
    }
}

#[test]
fn non_parquet_and_truncated_files_are_named() {
    let dir = temp_dir("notparquet");
    let f = dir.join("x.parquet");
    std::fs::write(&f, "a,b\n1,2\n").unwrap();
    let e = dd::read_parquet(f.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.parquet") && e.contains("not a readable Parquet file"),
        "{e}"
    );

    // A real file cut short.
    let good = dir.join("good");
    dd::from_polars(data(100, 1), 1)
        .unwrap()
        .to_parquet(&good)
        .unwrap();
    let bytes = std::fs::read(good.join("part.0.parquet")).unwrap();
    let cut = dir.join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = dd::read_parquet(cut.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut.parquet"), "{e}");
}

#[test]
fn zero_partitions_is_refused() {
    assert!(dd::from_polars(data(3, 1), 0).is_err());
    // So are more partitions than a graph can hold, with their count.
    for n in [dd::MAX_PARTITIONS + 1, usize::MAX] {
        let e = dd::from_polars(data(3, 1), n).unwrap_err().to_string();
        assert!(e.contains(&n.to_string()) && e.contains("fewer"), "{e}");
        let e = dd::from_polars(data(3, 1), 2)
            .unwrap()
            .repartition(n)
            .compute()
            .unwrap_err()
            .to_string();
        assert!(e.contains("repartition") && e.contains("fewer"), "{e}");
    }
    assert!(dd::from_partitions(vec![]).is_err());
    let a = df!("a" => [1i64]).unwrap();
    let b = df!("a" => [1.5f64]).unwrap();
    let e = dd::from_partitions(vec![a, b]).unwrap_err().to_string();
    assert!(e.contains("partition 1"), "{e}");
}
