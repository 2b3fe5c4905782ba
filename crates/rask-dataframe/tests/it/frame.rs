//! from_polars, select, filter, with_columns, head, len, compute.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{assert_frames_eq, data, random_parts};

#[test]
fn partition_steps_equal_polars_over_random_partitionings() {
    let pl = data(500, 1);
    for (n, seed) in [(1, 1), (3, 2), (7, 3), (12, 4)] {
        let d = dd::from_partitions(random_parts(&pl, n, seed)).unwrap();
        assert_eq!(d.npartitions(), n);
        assert_frames_eq(&d.compute().unwrap(), &pl);

        let chain = d
            .filter(col("v").is_not_null().and(col("w").gt(lit(0))))
            .with_columns([
                (col("v") * col("w")).alias("vw"),
                (col("g") * lit(3)).alias("g"),
            ])
            .select([col("k"), col("vw"), col("g")]);
        let want = pl
            .clone()
            .lazy()
            .filter(col("v").is_not_null().and(col("w").gt(lit(0))))
            .with_columns([
                (col("v") * col("w")).alias("vw"),
                (col("g") * lit(3)).alias("g"),
            ])
            .select([col("k"), col("vw"), col("g")])
            .collect()
            .unwrap();
        assert_eq!(&**chain.schema(), &*want.schema().clone());
        assert_frames_eq(&chain.compute().unwrap(), &want);
        assert_eq!(chain.len().unwrap(), want.height());
        assert_frames_eq(&chain.head(7).unwrap(), &want.head(Some(7)));
    }
}

#[test]
fn from_polars_splits_evenly_and_head_reads_few_partitions() {
    let pl = data(103, 2);
    let d = dd::from_polars(pl.clone(), 10).unwrap();
    let sizes: Vec<usize> = d
        .compute_partitions()
        .unwrap()
        .iter()
        .map(|p| p.height())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 103);
    assert!(sizes.iter().all(|&s| s == 10 || s == 11), "{sizes:?}");
    assert_frames_eq(&d.head(25).unwrap(), &pl.head(Some(25)));
    assert_frames_eq(&d.head(1000).unwrap(), &pl);
    // More rows than a partition can index: all of them, not none.
    assert_frames_eq(&d.head(1 << 32).unwrap(), &pl);
    assert_frames_eq(&d.head(usize::MAX).unwrap(), &pl);
    assert_eq!(d.len().unwrap(), 103);
}

#[test]
fn all_empty_partitions() {
    let pl = data(0, 3);
    let d = dd::from_polars(pl.clone(), 3).unwrap();
    assert_eq!(d.len().unwrap(), 0);
    assert_frames_eq(&d.compute().unwrap(), &pl);
    assert_frames_eq(&d.head(5).unwrap(), &pl);
}

#[test]
fn graphs_are_portable() {
    let pl = data(50, 4);
    let d = dd::from_polars(pl, 3)
        .unwrap()
        .filter(col("w").gt(lit(3)))
        .group_by([col("k")])
        .agg([col("v").sum()]);
    let plan = rask_core::compute::plan(&d).unwrap();
    plan.graph.check_portable().unwrap();
}

#[test]
fn partitions_travel_as_bytes() {
    let pl = data(40, 6);
    let v = rask_core::Value::sized(dd::Part(pl.clone()));
    assert!(v.is_portable());
    assert!(v.nbytes() >= pl.estimated_size());
    let enc = v.encode().unwrap();
    let back = rask_core::Value::decode(&enc.tag, &enc.bytes).unwrap();
    assert_frames_eq(&back.downcast_ref::<dd::Part>().unwrap().0, &pl);
    // Cut anywhere, or with bytes after it, the stream is an error.
    for cut in 0..enc.bytes.len() {
        assert!(
            rask_core::Value::decode(&enc.tag, &enc.bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = enc.bytes.clone();
    longer.extend_from_slice(&[0; 8]);
    assert!(rask_core::Value::decode(&enc.tag, &longer).is_err());
}
