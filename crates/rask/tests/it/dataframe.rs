//! Dataframes with `#[rask::remote]` partition functions and categoricals,
//! computed locally and on a cluster whose workers are other processes
//! (partitions travel as Arrow IPC; categorical codes must not change).

use rask::dataframe::polars::prelude::*;
use rask::dataframe::{self as dd};
use rask::distributed::LocalCluster;

#[rask::remote]
// `#[rask::remote]` sees a `Result` by its name: `PolarsResult<T>` would be
// taken for a value type, so spell the error type out.
fn scale_w(df: &DataFrame) -> Result<DataFrame, PolarsError> {
    df.clone()
        .lazy()
        .with_column((col("w") * lit(3)).alias("w3"))
        .collect()
}

fn data() -> DataFrame {
    let kinds = ["pump", "valve", "fan", "gear"];
    let k: Vec<&str> = (0..200).map(|i| kinds[(i * 7) % 4]).collect();
    let w: Vec<i64> = (0..200).map(|i| (i * 13 % 50) as i64).collect();
    df!("k" => k, "w" => w).unwrap()
}

fn sorted(df: DataFrame) -> DataFrame {
    df.sort(["k"], Default::default()).unwrap()
}

#[test]
fn remote_partition_functions_and_categoricals_on_a_cluster() {
    let d = dd::from_polars(data(), 4)
        .unwrap()
        .cast_categorical(["k"])
        .unwrap();
    let mapped = d.map_partitions_remote(scale_w, None);
    assert_eq!(mapped.columns(), ["k", "w", "w3"]);
    let q = mapped
        .group_by([col("k")])
        .agg([col("w3").sum().alias("s"), len().alias("n")]);
    let local = sorted(q.compute().unwrap());
    let want = sorted(
        scale_w(&data())
            .unwrap()
            .lazy()
            .with_column(col("k").cast(d.dtype("k").unwrap().clone()))
            .group_by([col("k")])
            .agg([col("w3").sum().alias("s"), len().alias("n")])
            .collect()
            .unwrap(),
    );
    assert!(local.equals_missing(&want), "{local}\n{want}");

    let cluster = LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .worker_command(
            std::env::current_exe().unwrap(),
            [
                "--exact",
                "distributed::worker_entry",
                "--test-threads=1",
                "--quiet",
            ],
        )
        .build()
        .expect("a local cluster starts");
    let client = cluster.client().unwrap();
    let remote = sorted(client.compute(&q).unwrap().result().unwrap());
    assert!(remote.equals_missing(&want), "{remote}\n{want}");
    assert_eq!(remote.column("k").unwrap().dtype(), d.dtype("k").unwrap());

    // A join whose group-by runs as an eager aggregation (its kernel's
    // stages travel to the workers with it).
    let grades = df!(
        "w" => (0..10i64).collect::<Vec<_>>(),
        "grade" => (0..10).map(|i| ["a", "b", "c"][i % 3]).collect::<Vec<_>>(),
    )
    .unwrap();
    let by_grade = |left: LazyFrame, right: LazyFrame| {
        left.join(
            right,
            [col("w")],
            [col("w")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("grade")])
        .agg([col("w").sum().alias("s"), len().alias("n")])
    };
    let j = dd::from_polars(data(), 4)
        .unwrap()
        .join(
            &dd::from_polars(grades.clone(), 1).unwrap(),
            [col("w")],
            [col("w")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("grade")])
        .agg([col("w").sum().alias("s"), len().alias("n")]);
    let by = |df: DataFrame| df.sort(["grade"], Default::default()).unwrap();
    let want = by(by_grade(data().lazy(), grades.lazy()).collect().unwrap());
    let remote = by(client.compute(&j).unwrap().result().unwrap());
    assert!(remote.equals_missing(&want), "{remote}\n{want}");
    client.close().unwrap();
}
