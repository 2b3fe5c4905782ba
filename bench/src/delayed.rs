//! The `delayed-*` workloads: many tiny tasks, to measure scheduling
//! overhead per task. Definitions match `bench/dask_bench.py`.

use std::time::{Duration, Instant};

use anyhow::bail;
use rask::delayed::Delayed;

/// Names of the delayed workloads.
pub const NAMES: &[&str] = &[
    "delayed-independent",
    "delayed-chain",
    "delayed-tree",
    "delayed-million",
    "delayed-fanout",
    "delayed-10m",
];

/// Leaves of `delayed-tree`.
const TREE_LEAVES: u64 = 100_000;
/// Tasks of `delayed-fanout` that depend on the root, and their CPU time.
const FANOUT_WIDTH: u64 = 2_000;
const FANOUT_SPIN: Duration = Duration::from_millis(1);

/// A built delayed workload: its result, its number of tasks as built
/// (before fusion), and the value the result must have.
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
/// Each sum is `collect(chunk).map(sum)`: two tasks as built (which fusion
/// makes one). Returns the root and the number of tasks added.
fn tree_sum(mut level: Vec<Delayed<u64>>, fan_in: usize) -> (Delayed<u64>, usize) {
    let mut tasks = 0;
    while level.len() > 1 {
        level = level
            .chunks(fan_in)
            .map(|c| rask::delayed::collect(c).map(|xs| xs.iter().sum::<u64>()))
            .collect();
        tasks += 2 * level.len();
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

/// A binary tree reduction over `n` `inc` leaves: each pair is
/// `a.zip(&b).map(|(a, b)| a + b)`, two tasks (which fusion makes one).
fn tree(n: u64) -> Built {
    let mut level: Vec<Delayed<u64>> = (0..n).map(|i| rask::delayed(move || inc(&i))).collect();
    let mut tasks = level.len();
    while level.len() > 1 {
        // An odd node out is carried up unchanged: it is no new task.
        tasks += 2 * (level.len() / 2);
        level = level
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    p[0].zip(&p[1]).map(|(a, b)| add(a, b))
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

/// Busy-waits on the clock for `d`: CPU work of a known duration (the same
/// loop as `spin` in `bench/dask_bench.py`).
fn spin(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// One root task, `n` tasks that each depend on it and spin for `work`,
/// then a tree sum with fan-in 64.
fn fanout(n: u64, work: Duration) -> Built {
    let root = rask::delayed(|| 1u64);
    let leaves: Vec<Delayed<u64>> = (0..n)
        .map(|i| {
            root.map(move |r| {
                spin(work);
                r + i
            })
        })
        .collect();
    let (graph, sums) = tree_sum(leaves, 64);
    Built {
        graph,
        tasks: 1 + n as usize + sums,
        expected: n + (0..n).sum::<u64>(),
    }
}

/// Builds the workload called `name`.
pub fn build(name: &str) -> anyhow::Result<Built> {
    Ok(match name {
        "delayed-independent" => independent(100_000),
        "delayed-chain" => chain(10_000),
        "delayed-tree" => tree(TREE_LEAVES),
        "delayed-million" => independent(1_000_000),
        "delayed-fanout" => fanout(FANOUT_WIDTH, FANOUT_SPIN),
        "delayed-10m" => independent(10_000_000),
        other => bail!(
            "unknown delayed workload {other:?}; known: {}",
            NAMES.join(", ")
        ),
    })
}
