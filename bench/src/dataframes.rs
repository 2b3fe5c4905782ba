//! The dataframe workloads (`df-*`) on the synthetic telemetry that
//! `bench/df_workloads.py` writes once into `$RASK_BENCH_DF_DIR` (CSV and
//! Parquet files, the device table, and `reference.json` with every
//! workload's answer). The definitions are those of `bench/df_workloads.py`,
//! whose Dask and Polars sides run the same workloads on the same files.
//!
//! Built only with rask-bench's `dataframe` feature (Polars), which
//! `bench/run` turns on when a `df-*` workload is asked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use rask::dataframe::polars::prelude::{
    self as pl, DataType, JoinArgs, JoinType, LazyFrame, PolarsResult, col, df,
};
use rask::dataframe::{self as dd, DataFrame};

use crate::plan::{Plan, collect};
use crate::{Timing, measure, pipeline};

/// Names of the dataframe workloads.
pub const NAMES: &[&str] = &[
    "df-csv-to-parquet",
    "df-groupby-low",
    "df-groupby-high",
    "df-join-groupby",
    "df-set-index",
];

/// The telemetry directory (`RASK_BENCH_DF_DIR`) and its `reference.json`.
fn input() -> anyhow::Result<(PathBuf, serde_json::Value)> {
    let dir = std::env::var_os("RASK_BENCH_DF_DIR").context(
        "RASK_BENCH_DF_DIR is not set: the df workloads read the telemetry that bench/run \
         generates (bench/df_workloads.py); run them through bench/run",
    )?;
    let dir = PathBuf::from(dir);
    let path = dir.join("reference.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: generate the telemetry with bench/run",
            path.display()
        )
    })?;
    let json =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok((dir, json))
}

/// Reads the telemetry's Parquet files.
fn parquet<F: Plan>(dir: &Path) -> anyhow::Result<F> {
    F::parquet(&format!("{}/parquet/*.parquet", dir.display()))
}

/// The workloads that also run as one Polars query (`--engine polars-rs`):
/// those that are a query (not a write, and not `set_index`, which Polars
/// does not have).
pub const QUERIES: &[&str] = &["df-groupby-low", "df-groupby-high", "df-join-groupby"];

/// The query of one of [`QUERIES`].
fn query<F: Plan>(name: &str, dir: &Path) -> anyhow::Result<F> {
    let v = || col("value");
    Ok(match name {
        "df-groupby-low" => parquet::<F>(dir)?.group_by_agg(
            [col("part_kind")],
            [
                v().mean().alias("mean"),
                v().std(1).alias("std"),
                v().count().alias("count"),
            ],
        ),
        "df-groupby-high" => parquet::<F>(dir)?.group_by_agg(
            [col("device_id")],
            [
                v().mean().alias("mean"),
                v().max().alias("max"),
                v().count().alias("count"),
            ],
        ),
        "df-join-groupby" => {
            let devices = F::parquet(&format!("{}/devices.parquet", dir.display()))?;
            parquet::<F>(dir)?
                .join(
                    &devices,
                    [col("device_id")],
                    [col("device_id")],
                    JoinArgs::new(JoinType::Inner),
                )
                .group_by_agg(
                    [col("firmware"), col("supplier")],
                    [v().mean().alias("mean"), v().count().alias("count")],
                )
        }
        other => bail!(
            "{other:?} is not one of the query workloads ({})",
            QUERIES.join(", ")
        ),
    })
}

/// The dataframe a workload computes (for `df-csv-to-parquet`, the one it
/// writes; for `df-set-index`, the one before the index is set).
fn frame(name: &str, dir: &Path) -> anyhow::Result<DataFrame> {
    match name {
        "df-csv-to-parquet" => Ok(dd::read_csv(format!("{}/csv/*.csv", dir.display()))?),
        "df-set-index" => parquet(dir),
        q if QUERIES.contains(&q) => query(q, dir),
        other => bail!("unknown dataframe workload {other:?}"),
    }
}

/// Where `df-csv-to-parquet` writes (emptied before every run).
fn out_dir(dir: &Path) -> PathBuf {
    dir.parent()
        .unwrap_or(dir)
        .join("out")
        .join("df-csv-to-parquet-rask")
}

/// Runs one workload `repeat` times; returns the tasks as built and run,
/// and the best times.
pub fn run(
    name: &str,
    sched: &rask::Scheduler,
    repeat: usize,
) -> anyhow::Result<(pipeline::Sizes, Timing)> {
    let (dir, reference) = input()?;
    let out = out_dir(&dir);
    let timing = measure(
        repeat,
        || {
            if name == "df-csv-to-parquet" {
                let _ = std::fs::remove_dir_all(&out);
            }
            frame(name, &dir)
        },
        |df| -> anyhow::Result<Option<pl::DataFrame>> {
            Ok(match name {
                "df-csv-to-parquet" => {
                    df.to_parquet_with(&out, sched)?;
                    None
                }
                // Per partition: rows, first and last ts, by a function
                // rask cannot see into (as Dask's `map_partitions` lambda),
                // so every column is read and sorted in both engines; an
                // expression needing `ts` alone would read only `ts`.
                "df-set-index" => Some(
                    df.set_index("ts")?
                        .map_partitions(first_and_last_ts, None)
                        .compute_with(sched)?,
                ),
                _ => Some(df.compute_with(sched)?),
            })
        },
        |got| {
            check(name, got.as_ref(), &out, &reference)
                .with_context(|| format!("{name}: wrong result"))
        },
    )?;
    let _ = std::fs::remove_dir_all(&out);
    // The memory figures of the last run's compute (a diagnostic line).
    if let Some(m) = rask::memory_stats() {
        let mb = |b: u64| b as f64 / 1e6;
        eprintln!(
            "rask-bench: {name}: last run: peak results held {:.1} MB, peak private RSS {:.1} MB, \
             {} results spilled, {} read back",
            mb(m.peak_managed),
            mb(m.peak_rss),
            m.spills,
            m.reads
        );
    }
    // Counted outside the timed runs (for df-set-index, the sorted frame:
    // its divisions are sampled again).
    let df = frame(name, &dir)?;
    let sizes = if name == "df-set-index" {
        pipeline::sizes(&df.set_index("ts")?)?
    } else {
        pipeline::sizes(&df)?
    };
    Ok((sizes, timing))
}

/// Runs one of [`QUERIES`] `repeat` times as a single lazy query of the
/// Polars crate rask is built with; returns the best times.
pub fn run_polars(name: &str, repeat: usize) -> anyhow::Result<Timing> {
    let (dir, reference) = input()?;
    let out = out_dir(&dir);
    measure(
        repeat,
        || query::<LazyFrame>(name, &dir),
        collect,
        |got| {
            check(name, Some(got), &out, &reference)
                .with_context(|| format!("{name}: wrong result"))
        },
    )
}

/// Column `name` of `df` as f64 values (null: NaN).
fn floats(df: &pl::DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    let c = df
        .column(name)?
        .cast(&DataType::Float64)
        .with_context(|| format!("column {name}"))?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// A sorted partition's rows and its first and last `ts` (null when it
/// is empty).
fn first_and_last_ts(p: pl::DataFrame) -> PolarsResult<pl::DataFrame> {
    let ts = p.column("ts")?.cast(&DataType::Float64)?;
    let ts = ts.f64()?;
    let n = ts.len();
    let (lo, hi) = match n {
        0 => (None, None),
        _ => (ts.get(0), ts.get(n - 1)),
    };
    df!("n" => [n as u64], "lo" => [lo], "hi" => [hi])
}

/// Column `name` of `df` as strings.
fn strings(df: &pl::DataFrame, name: &str) -> anyhow::Result<Vec<String>> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// Compares per-group `[values..., count]` with the reference's.
fn check_groups(got: BTreeMap<String, Vec<f64>>, want: &serde_json::Value) -> anyhow::Result<()> {
    let want = want.as_object().context("reference: not an object")?;
    ensure!(
        got.len() == want.len(),
        "{} groups, expected {}",
        got.len(),
        want.len()
    );
    for (k, w) in want {
        let w: Vec<f64> = w
            .as_array()
            .context("reference: not a list")?
            .iter()
            .map(|x| x.as_f64().unwrap_or(f64::NAN))
            .collect();
        let g = got
            .get(k)
            .with_context(|| format!("group {k} is missing"))?;
        let n = w.len();
        ensure!(
            g[n - 1] == w[n - 1]
                && g[..n - 1]
                    .iter()
                    .zip(&w[..n - 1])
                    .all(|(a, b)| close(*a, *b, 1e-9)),
            "group {k}: {g:?}, expected {w:?}"
        );
    }
    Ok(())
}

fn check(
    name: &str,
    got: Option<&pl::DataFrame>,
    out: &Path,
    reference: &serde_json::Value,
) -> anyhow::Result<()> {
    let want = &reference[name];
    let num = |v: &serde_json::Value, k: &str| {
        v[k].as_f64()
            .with_context(|| format!("reference: {name}.{k}"))
    };
    let Some(got) = got else {
        // df-csv-to-parquet: the rows written.
        let rows = dd::read_parquet(format!("{}/*.parquet", out.display()))?.len()?;
        let want = reference["rows"].as_u64().context("reference: rows")? as usize;
        ensure!(rows == want, "wrote {rows} rows, expected {want}");
        return Ok(());
    };
    match name {
        "df-groupby-low" => {
            let (k, m, s, n) = (
                strings(got, "part_kind")?,
                floats(got, "mean")?,
                floats(got, "std")?,
                floats(got, "count")?,
            );
            let map = (0..k.len())
                .map(|i| (k[i].clone(), vec![m[i], s[i], n[i]]))
                .collect();
            check_groups(map, want)
        }
        "df-join-groupby" => {
            let (f, s, m, n) = (
                strings(got, "firmware")?,
                strings(got, "supplier")?,
                floats(got, "mean")?,
                floats(got, "count")?,
            );
            let map = (0..f.len())
                .map(|i| (format!("{}|{}", f[i], s[i]), vec![m[i], n[i]]))
                .collect();
            check_groups(map, want)
        }
        "df-groupby-high" => {
            let (m, x, n) = (
                floats(got, "mean")?,
                floats(got, "max")?,
                floats(got, "count")?,
            );
            ensure!(
                m.len() as f64 == num(want, "groups")?,
                "{} groups, expected {}",
                m.len(),
                want["groups"]
            );
            let count: f64 = n.iter().sum();
            ensure!(
                count == num(want, "count")?,
                "count {count}, expected {}",
                want["count"]
            );
            let (ms, xs) = (m.iter().sum::<f64>(), x.iter().sum::<f64>());
            ensure!(
                close(ms, num(want, "mean_sum")?, 1e-9) && close(xs, num(want, "max_sum")?, 1e-12),
                "sums of means {ms} and maxima {xs}, expected {} and {}",
                want["mean_sum"],
                want["max_sum"]
            );
            Ok(())
        }
        "df-set-index" => {
            let (n, lo, hi) = (floats(got, "n")?, floats(got, "lo")?, floats(got, "hi")?);
            let parts: Vec<(f64, f64)> = (0..n.len())
                .filter(|&i| n[i] > 0.0)
                .map(|i| (lo[i], hi[i]))
                .collect();
            ensure!(
                parts.windows(2).all(|w| w[0].1 <= w[1].0),
                "partitions out of order: {parts:?}"
            );
            let rows: f64 = n.iter().sum();
            ensure!(
                rows == num(want, "rows")?,
                "{rows} rows, expected {}",
                want["rows"]
            );
            let (first, last) = (parts.first().map(|p| p.0), parts.last().map(|p| p.1));
            ensure!(
                first == Some(num(want, "lo")?) && last == Some(num(want, "hi")?),
                "ts from {first:?} to {last:?}, expected {} to {}",
                want["lo"],
                want["hi"]
            );
            Ok(())
        }
        other => bail!("no check for {other:?}"),
    }
}
