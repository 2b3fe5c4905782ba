//! map_partitions: closures locally, registered functions portably.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};

use crate::support::{assert_frames_eq, data, portable, random_parts};

fn add_w(df: &DataFrame) -> PolarsResult<DataFrame> {
    df.clone()
        .lazy()
        .with_column((col("w") * lit(2)).alias("w2"))
        .filter(col("w").gt(lit(0)))
        .collect()
}

crate::remote_frame_fn!(AddWKernel, add_w, "rask_dataframe_it::map::add_w");

#[test]
fn closures_and_registered_functions_equal_polars() {
    let pl = data(300, 61);
    let want = add_w(&pl).unwrap();
    let d = dd::from_partitions(random_parts(&pl, 6, 7)).unwrap();

    let m = d.map_partitions(|p: DataFrame| add_w(&p), None);
    assert_eq!(m.columns(), ["k", "g", "v", "w", "w2"]);
    assert_frames_eq(&m.compute().unwrap(), &want);
    assert!(!portable(&m), "a closure is local only");

    let r = d.map_partitions_remote(add_w, None);
    assert_eq!(r.columns(), ["k", "g", "v", "w", "w2"]);
    assert_frames_eq(&r.compute().unwrap(), &want);
    assert!(portable(&r), "a registered function is portable");
    // Later steps and reductions run on top.
    assert_eq!(
        r.filter(col("w2").gt(lit(50))).len().unwrap(),
        want.clone()
            .lazy()
            .filter(col("w2").gt(lit(50)))
            .collect()
            .unwrap()
            .height()
    );
}

#[test]
fn meta_given_and_checked() {
    let d = dd::from_polars(data(40, 2), 3).unwrap();
    // A function that fails on an empty frame needs its schema given.
    let picky = |p: DataFrame| -> PolarsResult<DataFrame> {
        if p.height() == 0 {
            polars_bail!(ComputeError: "no rows");
        }
        p.lazy().select([col("w")]).collect()
    };
    let no_meta = d.map_partitions(picky, None);
    let e = no_meta.error().unwrap();
    assert!(e.contains("meta") && e.contains("no rows"), "{e}");
    let meta = Schema::from_iter([Field::new("w".into(), DataType::Int64)]);
    let with_meta = d.map_partitions(picky, Some(meta.clone()));
    assert_eq!(with_meta.compute().unwrap().height(), 40);
    // A wrong meta is found when partitions are computed.
    let wrong = Schema::from_iter([Field::new("x".into(), DataType::Int64)]);
    let e = d
        .map_partitions(
            |p: DataFrame| p.lazy().select([col("w")]).collect(),
            Some(wrong),
        )
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema"), "{e}");
    // A function not marked remote.
    fn plain(df: &DataFrame) -> DataFrame {
        df.clone()
    }
    let e = d
        .map_partitions_remote(plain, None)
        .error()
        .unwrap()
        .to_string();
    assert!(e.contains("rask::remote"), "{e}");
}

#[test]
fn a_panicking_function_is_an_error_not_a_crash() {
    let d = dd::from_polars(data(20, 3), 2).unwrap();
    let m = d.map_partitions(
        |_: DataFrame| -> PolarsResult<DataFrame> { panic!("boom") },
        None,
    );
    let e = m.error().unwrap();
    assert!(e.contains("boom") && e.contains("meta"), "{e}");
    let schema = (**d.schema()).clone();
    let m = d.map_partitions(
        |p: DataFrame| -> PolarsResult<DataFrame> {
            if p.height() > 0 {
                panic!("boom on data")
            }
            Ok(p)
        },
        Some(schema),
    );
    let e = m.compute().unwrap_err().to_string();
    assert!(e.contains("boom on data"), "{e}");
    // Nothing numeric to sum: an empty result, not an error.
    let s = dd::from_polars(df!("k" => ["a"]).unwrap(), 1).unwrap();
    assert_eq!(s.sum().compute().unwrap().width(), 0);
}
