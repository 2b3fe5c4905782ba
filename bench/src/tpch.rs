//! TPC-H queries 1, 3, 5, 6, 10 and 18 at scale factor 1 in rask's dataframes, on the
//! Parquet files that `bench/tpch.py` makes once (tpchgen-cli, normalised:
//! decimals as doubles, tables split into files of at most 1,000,000 rows)
//! in `$RASK_BENCH_CACHE/tpch-sf1`; answers checked against DuckDB's
//! (`reference.json` there). The same queries run in Dask, Polars and
//! DuckDB (`bench/tpch.py`), and, with `--engine polars-rs`, as one lazy
//! query of the Polars crate rask runs its partitions with (the same
//! query text as rask's, through [`Plan`]): rask's own overhead over
//! its engine, apart from the Python package's newer engine.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use rask::dataframe::DataFrame;
use rask::dataframe::polars::prelude::{
    self as pl, DataType, Expr, JoinArgs, JoinType, LazyFrame, SortMultipleOptions, col, len, lit,
};

use crate::plan::{Plan, collect};
use crate::{Timing, measure, pipeline};

/// Names of the TPC-H workloads.
pub const NAMES: &[&str] = &[
    "tpch-q1", "tpch-q3", "tpch-q5", "tpch-q6", "tpch-q10", "tpch-q18",
];

/// A date literal: `days` since 1970-01-01.
fn day(days: i32) -> Expr {
    lit(days).cast(DataType::Date)
}

/// The query's dataframe (lazy); [`finish`] makes its computed result the
/// answer (the query's final order and limit, on the small result).
fn query<F: Plan>(name: &str, dir: &Path) -> anyhow::Result<F> {
    let table = |t: &str| F::parquet(&format!("{}/{t}/*.parquet", dir.display()));
    let li = table("lineitem")?;
    let one = || lit(1.0);
    let disc_price = || col("l_extendedprice") * (one() - col("l_discount"));
    Ok(match name {
        // 1998-12-01 - 90 days.
        "tpch-q1" => li
            .filter(col("l_shipdate").lt_eq(day(10471)))
            .with_columns([
                disc_price().alias("disc_price"),
                (disc_price() * (one() + col("l_tax"))).alias("charge"),
            ])
            .group_by_agg(
                [col("l_returnflag"), col("l_linestatus")],
                [
                    col("l_quantity").sum().alias("sum_qty"),
                    col("l_extendedprice").sum().alias("sum_base_price"),
                    col("disc_price").sum().alias("sum_disc_price"),
                    col("charge").sum().alias("sum_charge"),
                    col("l_quantity").mean().alias("avg_qty"),
                    col("l_extendedprice").mean().alias("avg_price"),
                    col("l_discount").mean().alias("avg_disc"),
                    len().alias("count_order"),
                ],
            ),
        "tpch-q3" => {
            let customers = table("customer")?
                .filter(col("c_mktsegment").eq(lit("BUILDING")))
                .select([col("c_custkey")]);
            let orders = table("orders")?
                .filter(col("o_orderdate").lt(day(9204)))
                .select([
                    col("o_orderkey"),
                    col("o_custkey"),
                    col("o_orderdate"),
                    col("o_shippriority"),
                ]);
            let lines = li.filter(col("l_shipdate").gt(day(9204))).select([
                col("l_orderkey"),
                col("l_extendedprice"),
                col("l_discount"),
            ]);
            let inner = || JoinArgs::new(JoinType::Inner);
            let orders = orders.join(&customers, [col("o_custkey")], [col("c_custkey")], inner());
            lines
                .join(&orders, [col("l_orderkey")], [col("o_orderkey")], inner())
                .with_column(disc_price().alias("rev"))
                .group_by_agg(
                    [col("l_orderkey"), col("o_orderdate"), col("o_shippriority")],
                    [col("rev").sum().alias("revenue")],
                )
        }
        "tpch-q5" => {
            let inner = || JoinArgs::new(JoinType::Inner);
            let nations = table("region")?
                .filter(col("r_name").eq(lit("ASIA")))
                .join(
                    &table("nation")?,
                    [col("r_regionkey")],
                    [col("n_regionkey")],
                    inner(),
                )
                .select([col("n_nationkey"), col("n_name")]);
            let suppliers = table("supplier")?
                .select([col("s_suppkey"), col("s_nationkey")])
                .join(
                    &nations,
                    [col("s_nationkey")],
                    [col("n_nationkey")],
                    inner(),
                );
            let customers = table("customer")?.select([col("c_custkey"), col("c_nationkey")]);
            let orders = table("orders")?
                .filter(
                    col("o_orderdate")
                        .gt_eq(day(8766))
                        .and(col("o_orderdate").lt(day(9131))),
                )
                .select([col("o_orderkey"), col("o_custkey")])
                .join(&customers, [col("o_custkey")], [col("c_custkey")], inner());
            li.select([
                col("l_orderkey"),
                col("l_suppkey"),
                col("l_extendedprice"),
                col("l_discount"),
            ])
            .join(&suppliers, [col("l_suppkey")], [col("s_suppkey")], inner())
            .join(&orders, [col("l_orderkey")], [col("o_orderkey")], inner())
            .filter(col("c_nationkey").eq(col("s_nationkey")))
            .with_column(disc_price().alias("rev"))
            .group_by_agg([col("n_name")], [col("rev").sum().alias("revenue")])
        }
        "tpch-q10" => {
            let inner = || JoinArgs::new(JoinType::Inner);
            let orders = table("orders")?
                .filter(
                    col("o_orderdate")
                        .gt_eq(day(8674))
                        .and(col("o_orderdate").lt(day(8766))),
                )
                .select([col("o_orderkey"), col("o_custkey")]);
            let per_customer = li
                .filter(col("l_returnflag").eq(lit("R")))
                .select([col("l_orderkey"), col("l_extendedprice"), col("l_discount")])
                .join(&orders, [col("l_orderkey")], [col("o_orderkey")], inner())
                .with_column(disc_price().alias("rev"))
                .group_by_agg([col("o_custkey")], [col("rev").sum().alias("revenue")]);
            per_customer
                .join(
                    &table("customer")?,
                    [col("o_custkey")],
                    [col("c_custkey")],
                    inner(),
                )
                .join(
                    &table("nation")?.select([col("n_nationkey"), col("n_name")]),
                    [col("c_nationkey")],
                    [col("n_nationkey")],
                    inner(),
                )
                .select([
                    col("o_custkey").alias("c_custkey"),
                    col("c_name"),
                    col("revenue"),
                    col("c_acctbal"),
                    col("n_name"),
                    col("c_address"),
                    col("c_phone"),
                    col("c_comment"),
                ])
        }
        "tpch-q18" => {
            let inner = || JoinArgs::new(JoinType::Inner);
            let big = li
                .group_by_agg(
                    [col("l_orderkey")],
                    [col("l_quantity").sum().alias("sum_qty")],
                )
                .filter(col("sum_qty").gt(lit(300.0)));
            table("orders")?
                .join(&big, [col("o_orderkey")], [col("l_orderkey")], inner())
                .join(
                    &table("customer")?.select([col("c_custkey"), col("c_name")]),
                    [col("o_custkey")],
                    [col("c_custkey")],
                    inner(),
                )
                .select([
                    col("c_name"),
                    col("o_custkey").alias("c_custkey"),
                    col("o_orderkey"),
                    col("o_orderdate"),
                    col("o_totalprice"),
                    col("sum_qty"),
                ])
        }
        // Per partition the partial sum; their sum is the answer.
        "tpch-q6" => li
            .filter(
                col("l_shipdate")
                    .gt_eq(day(8766))
                    .and(col("l_shipdate").lt(day(9131)))
                    .and(col("l_discount").gt_eq(lit(0.05)))
                    .and(col("l_discount").lt_eq(lit(0.07)))
                    .and(col("l_quantity").lt(lit(24.0))),
            )
            .select([(col("l_extendedprice") * col("l_discount"))
                .sum()
                .alias("revenue")]),
        other => bail!("unknown TPC-H workload {other:?}"),
    })
}

/// The query's answer from its computed frame: the final order, limit and
/// columns (all on a small result).
fn finish(name: &str, out: pl::DataFrame) -> pl::PolarsResult<pl::DataFrame> {
    match name {
        "tpch-q1" => out.sort(["l_returnflag", "l_linestatus"], Default::default()),
        "tpch-q3" => Ok(out
            .sort(
                ["revenue", "o_orderdate"],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )?
            .head(Some(10))
            .select(["l_orderkey", "revenue", "o_orderdate", "o_shippriority"])?),
        "tpch-q5" => out.sort(
            ["revenue"],
            SortMultipleOptions::default().with_order_descending(true),
        ),
        "tpch-q10" => Ok(out
            .sort(
                ["revenue"],
                SortMultipleOptions::default().with_order_descending(true),
            )?
            .head(Some(20))),
        "tpch-q18" => Ok(out
            .sort(
                ["o_totalprice", "o_orderdate"],
                SortMultipleOptions::default().with_order_descending_multi([true, false]),
            )?
            .head(Some(100))),
        _ => {
            let total: f64 = out.column("revenue")?.f64()?.iter().flatten().sum();
            pl::df!("revenue" => [total])
        }
    }
}

fn data_dir() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("RASK_BENCH_CACHE").context(
        "RASK_BENCH_CACHE is not set: the TPC-H workloads read the data bench/run generates \
         (bench/tpch.py); run them through bench/run",
    )?;
    Ok(PathBuf::from(cache).join("tpch-sf1"))
}

/// DuckDB's answer to query `name` (from `reference.json`) and the data's
/// directory.
fn reference(name: &str) -> anyhow::Result<(PathBuf, Vec<serde_json::Value>)> {
    let dir = data_dir()?;
    let path = dir.join("reference.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: generate the data with bench/run",
            path.display()
        )
    })?;
    let reference: serde_json::Value = serde_json::from_str(&text)?;
    let want = reference[name]
        .as_array()
        .with_context(|| format!("{} lacks {name}", path.display()))?
        .clone();
    Ok((dir, want))
}

/// Runs one query `repeat` times; returns the tasks as built and run, and
/// the best times.
pub fn run(
    name: &str,
    sched: &rask::Scheduler,
    repeat: usize,
) -> anyhow::Result<(pipeline::Sizes, Timing)> {
    let (dir, want) = reference(name)?;
    let timing = measure(
        repeat,
        || query::<DataFrame>(name, &dir),
        |q| Ok(finish(name, q.compute_with(sched)?)?),
        |got| check(got, &want).with_context(|| format!("{name}: wrong result")),
    )?;
    Ok((pipeline::sizes(&query::<DataFrame>(name, &dir)?)?, timing))
}

/// Runs one query `repeat` times as a single lazy query of the Polars
/// crate rask is built with (its streaming engine, on all of Polars'
/// threads); returns the best times.
pub fn run_polars(name: &str, repeat: usize) -> anyhow::Result<Timing> {
    let (dir, want) = reference(name)?;
    measure(
        repeat,
        || query::<LazyFrame>(name, &dir),
        |q| Ok(finish(name, collect(q)?)?),
        |got| check(got, &want).with_context(|| format!("{name}: wrong result")),
    )
}

/// Compares the answer with DuckDB's rows (dates as days since 1970,
/// floats within 1e-6 relative).
fn check(got: &pl::DataFrame, want: &[serde_json::Value]) -> anyhow::Result<()> {
    ensure!(
        got.height() == want.len(),
        "{} rows, expected {}:\n{got}",
        got.height(),
        want.len()
    );
    for (j, c) in got.columns().iter().enumerate() {
        let c = if c.dtype() == &DataType::Date {
            c.cast(&DataType::Int32)?
        } else {
            c.clone()
        };
        let strings = c.dtype() == &DataType::String;
        let values = if strings {
            None
        } else {
            Some(c.cast(&DataType::Float64)?)
        };
        for (i, row) in want.iter().enumerate() {
            let w = &row[j];
            let ok = match &values {
                None => c.str()?.get(i) == w.as_str(),
                Some(v) => {
                    let (g, w) = (v.f64()?.get(i), w.as_f64());
                    match (g, w) {
                        (Some(g), Some(w)) => (g - w).abs() <= 1e-6 * g.abs().max(w.abs()).max(1.0),
                        _ => false,
                    }
                }
            };
            ensure!(
                ok,
                "row {i}, column {}: expected {w}, got:\n{got}",
                c.name()
            );
        }
    }
    Ok(())
}
