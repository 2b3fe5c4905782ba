//! to_delayed / from_delayed: one lazy Polars frame per partition.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{assert_frames_eq, data, random_parts};

#[test]
fn to_delayed_and_back() {
    let pl = data(120, 81);
    let parts = random_parts(&pl, 5, 2);
    let d = dd::from_partitions(parts.clone()).unwrap();
    let q = d.filter(col("w").gt(lit(10)));
    let delayed = q.to_delayed().unwrap();
    assert_eq!(delayed.len(), 5);
    for (dl, p) in delayed.iter().zip(&parts) {
        let want = p
            .clone()
            .lazy()
            .filter(col("w").gt(lit(10)))
            .collect()
            .unwrap();
        assert_frames_eq(&dl.compute().unwrap(), &want);
    }
    // Delayed work on the partitions, then back into a dataframe.
    let doubled: Vec<_> = delayed
        .iter()
        .map(|dl| {
            dl.try_map(|f: &DataFrame| f.clone().lazy().with_column(col("w") * lit(2)).collect())
        })
        .collect();
    let back = dd::from_delayed(&doubled, Some((**q.schema()).clone())).unwrap();
    let want = pl
        .lazy()
        .filter(col("w").gt(lit(10)))
        .with_column(col("w") * lit(2))
        .collect()
        .unwrap();
    assert_frames_eq(&back.compute().unwrap(), &want);
    assert_eq!(back.len().unwrap(), want.height());
    // Without meta, the first partition is computed to learn the schema.
    let inferred = dd::from_delayed(&doubled, None).unwrap();
    assert_eq!(inferred.schema(), back.schema());
}

#[test]
fn from_delayed_checks_schemas() {
    assert!(dd::from_delayed(&[], None).is_err());
    let a = rask_delayed::value(df!("a" => [1i64]).unwrap());
    let b = rask_delayed::value(df!("b" => [1i64]).unwrap());
    let e = dd::from_delayed(&[a, b], None)
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema"), "{e}");
}
