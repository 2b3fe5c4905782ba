//! read_parquet / to_parquet: row groups as partitions, projection into
//! the reader, files renamed into place.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, ReadParquet};

use crate::support::{assert_frames_eq, data, random_parts, temp_dir};

#[test]
fn round_trip_through_parquet() {
    let dir = temp_dir("pq-roundtrip");
    let pl = data(400, 7);
    let d = dd::from_partitions(random_parts(&pl, 5, 3)).unwrap();
    d.to_parquet(dir.join("out")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        (0..5)
            .map(|i| format!("part.{i}.parquet"))
            .collect::<Vec<_>>(),
        "one file per partition, no temporary files left"
    );
    let back = dd::read_parquet(dir.join("out/*.parquet").to_str().unwrap()).unwrap();
    assert_eq!(back.npartitions(), 5);
    assert_eq!(back.schema(), &pl.schema().clone());
    assert_frames_eq(&back.compute().unwrap(), &pl);
    assert_eq!(back.len().unwrap(), 400);

    let q = back
        .filter(col("g").eq(lit(1)))
        .with_columns([(col("w") + lit(1)).alias("w1")])
        .select([col("k"), col("w1")]);
    let want = pl
        .lazy()
        .filter(col("g").eq(lit(1)))
        .with_columns([(col("w") + lit(1)).alias("w1")])
        .select([col("k"), col("w1")])
        .collect()
        .unwrap();
    assert_frames_eq(&q.compute().unwrap(), &want);
}

#[test]
fn row_groups_become_partitions() {
    let dir = temp_dir("pq-rowgroups");
    let mut pl = data(1000, 8);
    let f = dir.join("one.parquet");
    let file = std::fs::File::create(&f).unwrap();
    ParquetWriter::new(file)
        .with_row_group_size(Some(100))
        .finish(&mut pl)
        .unwrap();
    // 8 kB in all: one partition by size, the default.
    let whole = dd::read_parquet(f.to_str().unwrap()).unwrap();
    assert_eq!(whole.npartitions(), 1);
    assert_frames_eq(&whole.compute().unwrap(), &pl);
    let d = ReadParquet::new(f.to_str().unwrap())
        .row_groups_per_partition(1)
        .finish()
        .unwrap();
    assert_eq!(d.npartitions(), 10);
    assert_frames_eq(&d.compute().unwrap(), &pl);
    // By size: a partition is a few row groups, or part of one.
    for size in [1u64, 500, 2_000, 5_000] {
        let s = ReadParquet::new(f.to_str().unwrap())
            .partition_size(size)
            .finish()
            .unwrap();
        assert!(s.npartitions() >= 1, "{size}");
        assert_frames_eq(&s.compute().unwrap(), &pl);
        assert_frames_eq(&s.head(333).unwrap(), &pl.head(Some(333)));
    }
    let d3 = ReadParquet::new(f.to_str().unwrap())
        .row_groups_per_partition(3)
        .finish()
        .unwrap();
    assert_eq!(d3.npartitions(), 4);
    assert_frames_eq(&d3.head(250).unwrap(), &pl.head(Some(250)));
    let got = d3
        .group_by([col("k")])
        .agg([col("v").mean().alias("m")])
        .compute()
        .unwrap();
    let want = pl
        .lazy()
        .group_by([col("k")])
        .agg([col("v").mean().alias("m")])
        .collect()
        .unwrap();
    assert_frames_eq(
        &crate::support::sorted(&got, &["k"]),
        &crate::support::sorted(&want, &["k"]),
    );
}

#[test]
fn a_directory_reads_its_files_in_partition_order() {
    let dir = temp_dir("pq-dir-order");
    let pl = df!("i" => (0..120i64).collect::<Vec<_>>()).unwrap();
    dd::from_polars(pl.clone(), 12)
        .unwrap()
        .to_parquet(dir.join("out"))
        .unwrap();
    // part.10 and part.11 come after part.9, as they were written.
    let back = dd::read_parquet(dir.join("out").to_str().unwrap()).unwrap();
    assert_eq!(back.npartitions(), 12);
    assert_frames_eq(&back.compute().unwrap(), &pl);
    let globbed = dd::read_parquet(dir.join("out/*.parquet").to_str().unwrap()).unwrap();
    assert_frames_eq(&globbed.compute().unwrap(), &pl);
}
