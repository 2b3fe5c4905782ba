//! The rask side of the benchmark harness.
//!
//! `rask-bench WORKLOAD --scheduler threads|sync [--repeat N]` builds and
//! computes one workload `N` times and prints one JSON line with the minimum
//! build and compute times. `bench/run` runs it next to the Dask version of
//! the same workload (`bench/dask_bench.py`) and prints the comparison.

use std::time::Instant;

use anyhow::{Context, bail};
use rask::delayed::Delayed;

fn inc(x: &u64) -> u64 {
    x + 1
}

fn add(a: &u64, b: &u64) -> u64 {
    a + b
}

/// Groups a level into chunks of `fan_in` and sums each, until one remains.
fn tree_sum(mut level: Vec<Delayed<u64>>, fan_in: usize) -> (Delayed<u64>, usize) {
    let mut tasks = 0;
    while level.len() > 1 {
        level = level
            .chunks(fan_in)
            .map(|c| rask::delayed::collect(c).map(|xs| xs.iter().sum::<u64>()))
            .collect();
        tasks += level.len();
    }
    (level.pop().expect("a non-empty level"), tasks)
}

/// `n` independent `inc` tasks, then a tree sum with fan-in 64.
fn independent(n: u64) -> (Delayed<u64>, usize, u64) {
    let leaves: Vec<Delayed<u64>> = (0..n).map(|i| rask::delayed(move || inc(&i))).collect();
    let (total, sums) = tree_sum(leaves, 64);
    (total, n as usize + sums, (1..=n).sum())
}

/// `n` dependent `inc` tasks.
fn chain(n: u64) -> (Delayed<u64>, usize, u64) {
    let mut x = rask::delayed(|| inc(&0));
    for _ in 1..n {
        x = x.map(inc);
    }
    (x, n as usize, n)
}

/// A binary tree reduction over `n` leaves.
fn tree(n: u64) -> (Delayed<u64>, usize, u64) {
    let mut level: Vec<Delayed<u64>> = (0..n).map(|i| rask::delayed(move || inc(&i))).collect();
    let mut tasks = level.len();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    p[0].map2(&p[1], add)
                } else {
                    p[0].clone()
                }
            })
            .collect();
        tasks += level.len();
    }
    (level.pop().expect("one root"), tasks - 1 + 1, (1..=n).sum())
}

fn build(workload: &str) -> anyhow::Result<(Delayed<u64>, usize, u64)> {
    Ok(match workload {
        "delayed-independent" => independent(100_000),
        "delayed-chain" => chain(10_000),
        "delayed-tree" => tree(65_536),
        "delayed-million" => independent(1_000_000),
        other => bail!(
            "unknown workload {other:?}; known: delayed-independent, delayed-chain, delayed-tree, delayed-million"
        ),
    })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut workload = None;
    let mut scheduler = "threads".to_string();
    let mut repeat = 3usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scheduler" => scheduler = args.next().context("--scheduler needs a value")?,
            "--repeat" => {
                repeat = args
                    .next()
                    .context("--repeat needs a value")?
                    .parse()
                    .context("--repeat takes a number")?
            }
            w if !w.starts_with('-') && workload.is_none() => workload = Some(w.to_string()),
            other => bail!(
                "unexpected argument {other:?}; usage: rask-bench WORKLOAD [--scheduler threads|sync] [--repeat N]"
            ),
        }
    }
    let workload =
        workload.context("usage: rask-bench WORKLOAD [--scheduler threads|sync] [--repeat N]")?;
    let sched = match scheduler.as_str() {
        "threads" => rask::Scheduler::default(),
        "sync" => rask::Scheduler::sync(),
        other => bail!("unknown scheduler {other:?}: use threads or sync"),
    };
    let mut best_build = f64::INFINITY;
    let mut best_compute = f64::INFINITY;
    let mut tasks = 0;
    for _ in 0..repeat.max(1) {
        let t0 = Instant::now();
        let (graph, n, expected) = build(&workload)?;
        let t1 = Instant::now();
        let got = graph.compute_with(&sched)?;
        let t2 = Instant::now();
        if got != expected {
            bail!("{workload}: got {got}, expected {expected}");
        }
        tasks = n;
        best_build = best_build.min((t1 - t0).as_secs_f64());
        best_compute = best_compute.min((t2 - t1).as_secs_f64());
        drop(graph);
    }
    println!(
        "{}",
        serde_json::json!({
            "workload": workload, "engine": "rask", "scheduler": scheduler, "tasks": tasks,
            "build_s": best_build, "compute_s": best_compute, "repeat": repeat,
        })
    );
    Ok(())
}
