//! The rask side of the benchmark harness.
//!
//! `rask-bench WORKLOAD --scheduler threads|sync [--repeat N]` builds and
//! computes one workload `N` times and prints one JSON line with the minimum
//! build and compute times, the tasks as built and as run (`tasks`,
//! `tasks_optimized`) and, for delayed workloads, the seconds of each phase
//! of one more compute ([`pipeline`]). `bench/run` runs it next to the Dask
//! version of the same workload (`bench/dask_bench.py`) and prints the
//! comparison.
//!
//! `rask-bench WORKLOAD --scheduler distributed [--repeat N]` runs one of
//! the distributed workloads on a local cluster of 2 worker processes,
//! which are this program: `main` calls `rask::distributed::init()` first
//! ([`distributed`]).
//!
//! The dataframe workloads (`df-*`, [`dataframes`]; `tpch-*`, [`tpch`])
//! need the `dataframe` feature (Polars). `rask-bench tpch-… --engine
//! polars-rs [--repeat N]` runs a TPC-H query (or a `df-*` group-by) as
//! one lazy query of the Polars crate rask is built with, without rask
//! ([`plan`]).
//!
//! `rask-bench bandwidth [--mib M] [--threads T] [--repeat N]` measures the
//! memory bandwidth instead ([`bandwidth`]).

mod arrays;
mod bandwidth;
#[cfg(feature = "dataframe")]
mod dataframes;
mod delayed;
mod distributed;
mod pipeline;
#[cfg(feature = "dataframe")]
mod plan;
mod rechunk;
mod stored;
#[cfg(feature = "dataframe")]
mod tpch;

use std::time::Instant;

use anyhow::{Context, bail, ensure};

const USAGE: &str = "usage: rask-bench WORKLOAD [--scheduler threads|sync|distributed] [--repeat N]\n       \
                     rask-bench tpch-…|df-groupby-…|df-join-groupby --engine polars-rs [--repeat N]\n       \
                     rask-bench bandwidth [--mib M] [--threads T] [--repeat N]";

/// Best build and compute seconds over the repeats.
struct Timing {
    build_s: f64,
    compute_s: f64,
}

/// Builds, computes and checks a workload `repeat` times, rebuilding the
/// graph every time; only `build` and `compute` are timed.
///
/// With `RASK_BENCH_REPORT=PATH`, the last compute is profiled: its task
/// stream goes to PATH as rask's HTML report, and the time per key prefix
/// to stderr (the profiler's callbacks cost a little; compare timings
/// without it).
fn measure<G, O>(
    repeat: usize,
    mut build: impl FnMut() -> anyhow::Result<G>,
    mut compute: impl FnMut(&G) -> anyhow::Result<O>,
    mut check: impl FnMut(&O) -> anyhow::Result<()>,
) -> anyhow::Result<Timing> {
    let mut best = Timing {
        build_s: f64::INFINITY,
        compute_s: f64::INFINITY,
    };
    let report_to = std::env::var_os("RASK_BENCH_REPORT");
    for r in 0..repeat {
        let t0 = Instant::now();
        let graph = build()?;
        let report = report_to.as_ref().filter(|_| r + 1 == repeat);
        let profiling = report
            .as_ref()
            .map(|_| rask::diagnostics::Profiler::start());
        let t1 = Instant::now();
        let out = compute(&graph)?;
        let t2 = Instant::now();
        if let (Some(path), Some(guard)) = (report, profiling) {
            profile_report(path, &guard.finish())?;
        }
        check(&out)?;
        drop((graph, out));
        let (b, c) = ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64());
        eprintln!(
            "rask-bench: run {}/{repeat}: build {b:.4}s compute {c:.4}s",
            r + 1
        );
        best.build_s = best.build_s.min(b);
        best.compute_s = best.compute_s.min(c);
    }
    Ok(best)
}

/// Writes `profiler`'s HTML report to `path` and prints its time per key
/// prefix (see [`measure`]).
fn profile_report(
    path: &std::ffi::OsStr,
    profiler: &rask::diagnostics::Profiler,
) -> anyhow::Result<()> {
    rask::diagnostics::report(path, profiler, None)
        .with_context(|| format!("writing the report {}", path.to_string_lossy()))?;
    eprintln!(
        "rask-bench: report of the last compute: {}",
        path.to_string_lossy()
    );
    for p in profiler.by_prefix() {
        eprintln!(
            "rask-bench:   {:>4} × {:<40} total {:8.1} ms, mean {:7.2} ms, {:>12} B",
            p.count,
            p.prefix,
            p.total.as_secs_f64() * 1e3,
            p.mean.as_secs_f64() * 1e3,
            p.nbytes
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // A process that a LocalCluster started as a worker runs the worker
    // here and exits; any other returns at once.
    rask::distributed::init()?;
    // The separate scheduler process of `scheduler-1m`.
    if distributed::scheduler_main()? {
        return Ok(());
    }
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("bandwidth") {
        args.next();
        return bandwidth::run(&bandwidth::Options::parse(args)?);
    }
    let mut workload = None;
    let mut scheduler = "threads".to_string();
    let mut engine = "rask".to_string();
    let mut repeat = 3usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scheduler" => scheduler = args.next().context("--scheduler needs a value")?,
            "--engine" => engine = args.next().context("--engine needs a value")?,
            "--repeat" => {
                repeat = args
                    .next()
                    .context("--repeat needs a value")?
                    .parse()
                    .context("--repeat takes a number")?
            }
            w if !w.starts_with('-') && workload.is_none() => workload = Some(w.to_string()),
            other => bail!("unexpected argument {other:?}\n{USAGE}"),
        }
    }
    let workload = workload.context(USAGE)?;
    let repeat = repeat.max(1);
    match engine.as_str() {
        "rask" => {}
        "polars-rs" => {
            #[cfg(feature = "dataframe")]
            {
                let t = if tpch::NAMES.contains(&workload.as_str()) {
                    tpch::run_polars(&workload, repeat)?
                } else if dataframes::QUERIES.contains(&workload.as_str()) {
                    dataframes::run_polars(&workload, repeat)?
                } else {
                    bail!(
                        "--engine polars-rs runs the TPC-H workloads ({}) and {}",
                        tpch::NAMES.join(", "),
                        dataframes::QUERIES.join(", ")
                    );
                };
                let line = serde_json::json!({
                    "workload": workload, "engine": "polars-rs", "scheduler": null, "tasks": 0,
                    "build_s": t.build_s, "compute_s": t.compute_s, "repeat": repeat,
                });
                println!("{line}");
                return Ok(());
            }
            #[cfg(not(feature = "dataframe"))]
            bail!("--engine polars-rs needs rask-bench built with its `dataframe` feature");
        }
        other => bail!("unknown engine {other:?}: use rask or polars-rs"),
    }
    if distributed::NAMES.contains(&workload.as_str()) {
        ensure!(
            scheduler == "distributed",
            "{workload} runs on a cluster: use --scheduler distributed"
        );
        let r = distributed::run(&workload, repeat)?;
        let line = serde_json::json!({
            "workload": workload, "engine": "rask", "scheduler": scheduler, "tasks": r.tasks,
            "tasks_optimized": r.tasks_run, "workers": 2,
            "build_s": r.build_s, "compute_s": r.compute_s, "repeat": repeat,
            "cluster": r.cluster,
        });
        println!("{line}");
        return Ok(());
    }
    let sched = match scheduler.as_str() {
        "threads" => rask::Scheduler::default(),
        "sync" => rask::Scheduler::sync(),
        "distributed" => bail!(
            "--scheduler distributed is for the distributed workloads ({})",
            distributed::NAMES.join(", ")
        ),
        other => bail!("unknown scheduler {other:?}: use threads or sync"),
    };

    if workload == rechunk::NAME {
        let o = rechunk::run(&sched, repeat)?;
        let mut line = serde_json::json!({
            "workload": workload, "engine": "rask", "scheduler": scheduler, "tasks": o.tasks,
            "tasks_optimized": o.tasks_run, "workers": sched.workers(),
            "build_s": o.build_s, "compute_s": o.compute_s, "repeat": repeat,
            "finished": o.not_finished.is_none(), "reason": o.not_finished,
        });
        line.as_object_mut()
            .expect("a JSON object literal")
            .extend(o.extra);
        println!("{line}");
        return Ok(());
    }

    let mut extra = serde_json::Map::new();
    let (tasks, timing) = if arrays::NAMES.contains(&workload.as_str()) {
        let w = arrays::workload(&workload)?;
        let timing = measure(
            repeat,
            || w.build(),
            |expr| w.compute(expr, &sched),
            |out| {
                w.check(out)
                    .with_context(|| format!("{workload}: wrong result"))
            },
        )?;
        // Counted outside the timed runs, on a fresh graph.
        let sizes = pipeline::sizes(&w.build()?)?;
        extra.insert("tasks_optimized".into(), sizes.run.into());
        (sizes.built, timing)
    } else if stored::NAMES.contains(&workload.as_str()) {
        let w = stored::Workload::new(&workload)?;
        let timing = measure(
            repeat,
            || w.build(),
            |graph| w.compute(graph, &sched),
            |out| {
                w.check(out)
                    .with_context(|| format!("{workload}: wrong result"))
            },
        )?;
        // Counted outside the timed runs, on a fresh graph (for a write: the
        // array written, one write task per block more as built).
        let graph = w.build()?;
        let sizes = match stored::Workload::countable(&graph) {
            stored::Countable::F64(a) => pipeline::sizes(a)?,
            stored::Countable::F32(a) => pipeline::sizes(a)?,
        };
        extra.insert("tasks_optimized".into(), sizes.run.into());
        (sizes.built, timing)
    } else if delayed::NAMES.contains(&workload.as_str()) {
        let check = |got: u64, expected: u64| {
            ensure!(
                got == expected,
                "{workload}: got {got}, expected {expected}"
            );
            Ok(())
        };
        let timing = measure(
            repeat,
            || delayed::build(&workload),
            |b| Ok((b.graph.compute_with(&sched)?, b.expected)),
            |&(got, expected)| check(got, expected),
        )?;
        // One more run outside the timed ones, on a fresh graph: the graph
        // sizes, and where the time of one compute goes.
        let b = delayed::build(&workload)?;
        let (phases, got) = pipeline::timed_compute(&b.graph, &sched)?;
        check(got, b.expected)?;
        let sizes = phases.sizes;
        ensure!(
            sizes.built == b.tasks,
            "{workload}: the graph has {} tasks, expected {}",
            sizes.built,
            b.tasks
        );
        drop(b);
        eprintln!(
            "rask-bench: phases: merge {:.4}s optimize {:.4}s run {:.4}s release {:.4}s; \
             tasks {} built, {} run",
            phases.merge_s,
            phases.optimize_s,
            phases.run_s,
            phases.release_s,
            sizes.built,
            sizes.run
        );
        extra.insert("tasks_optimized".into(), sizes.run.into());
        extra.insert("merge_s".into(), phases.merge_s.into());
        extra.insert("optimize_s".into(), phases.optimize_s.into());
        extra.insert("run_s".into(), phases.run_s.into());
        extra.insert("release_s".into(), phases.release_s.into());
        (sizes.built, timing)
    } else if workload.starts_with("df-") || workload.starts_with("tpch-") {
        #[cfg(feature = "dataframe")]
        {
            let (sizes, timing) = if tpch::NAMES.contains(&workload.as_str()) {
                tpch::run(&workload, &sched, repeat)?
            } else {
                ensure!(
                    dataframes::NAMES.contains(&workload.as_str()),
                    "unknown dataframe workload {workload:?}; known: {}, {}",
                    dataframes::NAMES.join(", "),
                    tpch::NAMES.join(", ")
                );
                dataframes::run(&workload, &sched, repeat)?
            };
            extra.insert("tasks_optimized".into(), sizes.run.into());
            (sizes.built, timing)
        }
        #[cfg(not(feature = "dataframe"))]
        bail!(
            "{workload} needs rask-bench built with its `dataframe` feature \
             (cargo build --release -p rask-bench --features dataframe; bench/run does this \
             when a df workload is asked for)"
        )
    } else {
        bail!(
            "unknown workload {workload:?}; known: {}, {}, {}, {}, {}, and `bandwidth`",
            delayed::NAMES.join(", "),
            arrays::NAMES.join(", "),
            stored::NAMES.join(", "),
            rechunk::NAME,
            distributed::NAMES.join(", ")
        )
    };

    let mut line = serde_json::json!({
        "workload": workload, "engine": "rask", "scheduler": scheduler, "tasks": tasks,
        "build_s": timing.build_s, "compute_s": timing.compute_s, "repeat": repeat,
        "workers": sched.workers(),
    });
    line.as_object_mut()
        .expect("a JSON object literal")
        .extend(extra);
    println!("{line}");
    Ok(())
}
