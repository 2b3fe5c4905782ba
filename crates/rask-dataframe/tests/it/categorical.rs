//! Categoricals with categories known across partitions: the same
//! category → code mapping in every partition, group-bys that equal
//! Polars', and a round trip through Parquet.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, ReadCsv, ReadParquet};

use crate::support::{assert_frames_eq, data, random_parts, sorted, temp_dir};

/// Every partition's codes of `column` agree with `categories`.
fn assert_codes_agree(parts: &[DataFrame], column: &str, categories: &[String]) {
    for (i, p) in parts.iter().enumerate() {
        let c = p.column(column).unwrap();
        assert!(matches!(c.dtype(), DataType::Enum(..)), "partition {i}");
        // Few categories: the codes are u8.
        let codes: Vec<Option<u32>> = c
            .as_materialized_series()
            .cat8()
            .unwrap()
            .physical()
            .iter()
            .map(|x| x.map(u32::from))
            .collect();
        let strings = c.cast(&DataType::String).unwrap();
        let strings: Vec<Option<String>> = (0..strings.len())
            .map(|j| strings.str().unwrap().get(j).map(str::to_string))
            .collect();
        for (code, s) in codes.into_iter().zip(strings) {
            match (code, s) {
                (Some(code), Some(s)) => assert_eq!(categories[code as usize], s, "partition {i}"),
                (None, None) => {}
                other => panic!("partition {i}: {other:?}"),
            }
        }
    }
}

#[test]
fn cast_categorical_gives_one_mapping_and_polars_group_bys() {
    let pl = data(500, 21);
    let d = dd::from_partitions(random_parts(&pl, 7, 5)).unwrap();
    let c = d.cast_categorical(["k"]).unwrap();
    let cats = c.categories("k").unwrap();
    assert_eq!(cats, ["alpha", "beta", "delta", "eps", "gamma"]);
    assert_codes_agree(&c.compute_partitions().unwrap(), "k", &cats);
    let got = c
        .group_by([col("k")])
        .split_every(2)
        .agg([col("v").mean().alias("m"), len().alias("n")])
        .compute()
        .unwrap();
    assert!(matches!(
        got.column("k").unwrap().dtype(),
        DataType::Enum(..)
    ));
    let enum_dtype = c.dtype("k").unwrap().clone();
    let want = pl
        .lazy()
        .with_column(col("k").cast(enum_dtype))
        .group_by([col("k")])
        .agg([col("v").mean().alias("m"), len().alias("n")])
        .collect()
        .unwrap();
    assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));
}

#[test]
fn categoricals_survive_the_partition_codec() {
    // Partitions travel between processes as Arrow IPC (Part's codec).
    let pl = data(50, 3);
    let d = dd::from_polars(pl, 3)
        .unwrap()
        .cast_categorical(["k"])
        .unwrap();
    let cats = d.categories("k").unwrap();
    let parts = d.compute_partitions().unwrap();
    let back: Vec<DataFrame> = parts
        .iter()
        .map(|p| {
            let bytes = postcard::to_allocvec(&dd::Part(p.clone())).unwrap();
            postcard::from_bytes::<dd::Part>(&bytes).unwrap().0
        })
        .collect();
    for (a, b) in parts.iter().zip(&back) {
        assert_eq!(a.schema(), b.schema());
        assert!(a.equals_missing(b));
    }
    assert_codes_agree(&back, "k", &cats);
}

#[test]
fn categorical_readers_and_a_parquet_round_trip() {
    let dir = temp_dir("cat-readers");
    let pl = data(300, 8);
    dd::from_partitions(random_parts(&pl, 4, 2))
        .unwrap()
        .to_parquet(dir.join("raw"))
        .unwrap();
    let d = ReadParquet::new(dir.join("raw/*.parquet").to_str().unwrap())
        .categorical("k")
        .finish()
        .unwrap();
    let cats = d.categories("k").unwrap();
    assert_eq!(cats.len(), 5);
    assert_codes_agree(&d.compute_partitions().unwrap(), "k", &cats);

    // Written with the categorical and read back: the same type.
    d.to_parquet(dir.join("cat")).unwrap();
    let back = dd::read_parquet(dir.join("cat/*.parquet").to_str().unwrap()).unwrap();
    assert_eq!(back.dtype("k"), d.dtype("k"));
    assert_frames_eq(&back.compute().unwrap(), &d.compute().unwrap());
    let got = back
        .group_by([col("k")])
        .agg([col("w").sum()])
        .compute()
        .unwrap();
    let want = d
        .compute()
        .unwrap()
        .lazy()
        .group_by([col("k")])
        .agg([col("w").sum()])
        .collect()
        .unwrap();
    assert_frames_eq(&sorted(&got, &["k"]), &sorted(&want, &["k"]));

    // From CSV too.
    let mut f = std::fs::File::create(dir.join("a.csv")).unwrap();
    CsvWriter::new(&mut f).finish(&mut pl.clone()).unwrap();
    let c = ReadCsv::new(dir.join("a.csv").to_str().unwrap())
        .blocksize(500)
        .categorical("k")
        .finish()
        .unwrap();
    assert_eq!(c.categories("k").unwrap(), cats);
    assert_codes_agree(&c.compute_partitions().unwrap(), "k", &cats);
}

#[test]
fn cast_categorical_refuses_unknown_and_non_string_columns() {
    let d = dd::from_polars(data(10, 1), 2).unwrap();
    let e = d.cast_categorical(["nope"]).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("schema"), "{e}");
    let e = d.cast_categorical(["w"]).unwrap_err().to_string();
    assert!(e.contains("`w`") && e.contains("string"), "{e}");
}

#[test]
fn files_with_other_categories_are_unified() {
    let dir = temp_dir("cat-unify");
    let a = df!("k" => ["x", "y", "x"], "v" => [1i64, 2, 3]).unwrap();
    let b = df!("k" => ["z", "y"], "v" => [4i64, 5]).unwrap();
    // Each file written with its own categories.
    dd::from_polars(a.clone(), 1)
        .unwrap()
        .cast_categorical(["k"])
        .unwrap()
        .to_parquet(dir.join("a"))
        .unwrap();
    dd::from_polars(b.clone(), 1)
        .unwrap()
        .cast_categorical(["k"])
        .unwrap()
        .to_parquet(dir.join("b"))
        .unwrap();
    std::fs::rename(dir.join("b/part.0.parquet"), dir.join("a/part.1.parquet")).unwrap();
    let pattern = dir.join("a/*.parquet");
    // Without the option the schemas differ, and the error says so.
    let e = dd::read_parquet(pattern.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema"), "{e}");
    let d = ReadParquet::new(pattern.to_str().unwrap())
        .categorical("k")
        .finish()
        .unwrap();
    let cats = d.categories("k").unwrap();
    assert_eq!(cats, ["x", "y", "z"]);
    assert_codes_agree(&d.compute_partitions().unwrap(), "k", &cats);
    let got = d
        .group_by([col("k")])
        .agg([col("v").sum()])
        .compute()
        .unwrap();
    let got = got
        .lazy()
        .with_column(col("k").cast(DataType::String))
        .collect()
        .unwrap();
    let want = df!("k" => ["x", "y", "z"], "v" => [4i64, 7, 4]).unwrap();
    assert_frames_eq(&sorted(&got, &["k"]), &want);
}

#[test]
fn distinct_values_and_counts_of_a_categorical() {
    let pl = data(200, 13);
    let c = dd::from_partitions(random_parts(&pl, 5, 1))
        .unwrap()
        .cast_categorical(["k"])
        .unwrap();
    let n = c.nunique(["k"]).compute().unwrap();
    let want = pl
        .clone()
        .lazy()
        .select([col("k").n_unique()])
        .collect()
        .unwrap();
    assert_frames_eq(&n, &want);
    let as_strings = |df: DataFrame| {
        df.lazy()
            .with_column(col("k").cast(DataType::String))
            .collect()
            .unwrap()
    };
    let vc = as_strings(c.value_counts("k").compute().unwrap());
    let want = pl
        .clone()
        .lazy()
        .group_by([col("k")])
        .agg([len().alias("count")])
        .collect()
        .unwrap();
    assert_frames_eq(&sorted(&vc, &["k"]), &sorted(&want, &["k"]));
    let u = as_strings(c.drop_duplicates(Some(&["k"])).compute().unwrap());
    let want = pl
        .unique_stable(Some(&["k".into()]), UniqueKeepStrategy::First, None)
        .unwrap();
    assert_frames_eq(&sorted(&u, &["k"]), &sorted(&want, &["k"]));
    // Sorted by the categorical is sorted by the strings.
    let all = c.compute().unwrap();
    let s = all.sort(["k"], Default::default()).unwrap();
    let s2 = pl.sort(["k"], Default::default()).unwrap();
    assert_eq!(
        as_strings(s).column("k").unwrap().as_materialized_series(),
        s2.column("k").unwrap().as_materialized_series()
    );
}

#[test]
fn join_and_sort_on_a_categorical_across_partitions() {
    let pl = data(300, 17);
    let left = dd::from_partitions(random_parts(&pl, 6, 3))
        .unwrap()
        .cast_categorical(["k"])
        .unwrap();
    let enum_dtype = left.dtype("k").unwrap().clone();
    // A table keyed by the same categories (cast to the left's type).
    let table = df!("k" => ["alpha", "gamma", "eps"], "label" => [1i64, 3, 5]).unwrap();
    let right = dd::from_polars(table.clone(), 2)
        .unwrap()
        .with_column(col("k").cast(enum_dtype.clone()));
    let got = left
        .join(
            &right,
            [col("k")],
            [col("k")],
            JoinArgs::new(JoinType::Inner),
        )
        .compute()
        .unwrap();
    assert!(matches!(
        got.column("k").unwrap().dtype(),
        DataType::Enum(..)
    ));
    let want = pl
        .clone()
        .lazy()
        .join(
            table.lazy(),
            [col("k")],
            [col("k")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(col("k").cast(enum_dtype))
        .collect()
        .unwrap();
    let by = ["k", "g", "v", "w"];
    assert_frames_eq(&sorted(&got, &by), &sorted(&want, &by));
    // A global sort by the categorical orders by the strings.
    let s = left.sort([col("k")]).unwrap().compute().unwrap();
    let strings = s.column("k").unwrap().cast(&DataType::String).unwrap();
    let want = pl.column("k").unwrap().sort(Default::default()).unwrap();
    assert!(
        strings
            .as_materialized_series()
            .equals_missing(want.as_materialized_series())
    );
}
