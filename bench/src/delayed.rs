//! The `delayed-*` workloads: many tiny tasks, to measure scheduling
//! overhead per task. Definitions match `bench/dask_bench.py`.

use anyhow::bail;
use rask::delayed::Delayed;

/// Names of the delayed workloads.
pub const NAMES: &[&str] = &[
    "delayed-independent",
    "delayed-chain",
    "delayed-tree",
    "delayed-million",
];

/// A built delayed workload: its result, its number of tasks, and the value
/// the result must have.
pub struct Built {
    pub graph: Delayed<u64>,
    pub tasks: usize,
    pub expected: u64,
}

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
fn independent(n: u64) -> Built {
    let leaves: Vec<Delayed<u64>> = (0..n).map(|i| rask::delayed(move || inc(&i))).collect();
    let (graph, sums) = tree_sum(leaves, 64);
    Built {
        graph,
        tasks: n as usize + sums,
        expected: (1..=n).sum(),
    }
}

/// `n` dependent `inc` tasks.
fn chain(n: u64) -> Built {
    let mut x = rask::delayed(|| inc(&0));
    for _ in 1..n {
        x = x.map(inc);
    }
    Built {
        graph: x,
        tasks: n as usize,
        expected: n,
    }
}

/// A binary tree reduction over `n` leaves.
fn tree(n: u64) -> Built {
    let mut level: Vec<Delayed<u64>> = (0..n).map(|i| rask::delayed(move || inc(&i))).collect();
    let mut tasks = level.len();
    while level.len() > 1 {
        // An odd node out is carried up unchanged: it is no new task.
        tasks += level.len() / 2;
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
    }
    Built {
        graph: level.pop().expect("one root"),
        tasks,
        expected: (1..=n).sum(),
    }
}

/// Builds the workload called `name`.
pub fn build(name: &str) -> anyhow::Result<Built> {
    Ok(match name {
        "delayed-independent" => independent(100_000),
        "delayed-chain" => chain(10_000),
        "delayed-tree" => tree(65_536),
        "delayed-million" => independent(1_000_000),
        other => bail!(
            "unknown delayed workload {other:?}; known: {}",
            NAMES.join(", ")
        ),
    })
}
