//! Static priorities keep memory low: the number of intermediate values alive
//! at once follows the tree depth or the thread count, not the graph size.

use std::sync::Arc;

use rask::graph::{Executor, GraphBuilder, Plan, PlanOptions};
use rask::prelude::*;

use crate::support::{LiveCounter, Tracked};

/// Runs without fusion, so every intermediate value really exists.
fn run_unfused<C: Collection>(c: &C, sched: &Scheduler) -> C::Output {
    let mut b = GraphBuilder::new();
    let mut keys = Vec::new();
    c.add_to_graph(&mut b, &mut keys);
    let plan = Plan::new(b, &keys, PlanOptions { fuse: false }).unwrap();
    let values = sched.execute(&plan, &[]).unwrap();
    c.finalize(&mut values.into_iter()).unwrap()
}

fn tree_reduction(counter: &Arc<LiveCounter>, leaves: usize) -> Delayed<i64> {
    let mut level: Vec<Delayed<Tracked>> = (0..leaves as i64)
        .map(|i| {
            let c = counter.clone();
            rask::delayed(move || c.track(i))
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                let c = counter.clone();
                p[0].map2(&p[1], move |a, b| c.track(a.value + b.value))
            })
            .collect();
    }
    level[0].map(|t| t.value)
}

#[test]
fn tree_reduction_on_sync_keeps_about_one_value_per_level() {
    let counter = LiveCounter::new();
    let leaves = 4096;
    let depth = 12; // log2(4096)
    let total = tree_reduction(&counter, leaves);
    let got = run_unfused(&total, &Scheduler::sync());
    assert_eq!(got, (0..leaves as i64).sum::<i64>());
    assert_eq!(counter.made(), 2 * leaves - 1);
    assert_eq!(counter.live(), 0, "every intermediate value is released");
    let peak = counter.peak();
    assert!(
        peak <= depth + 2,
        "peak {peak} values alive for a tree of depth {depth}"
    );
}

#[test]
fn tree_reduction_on_threads_stays_within_threads_times_depth() {
    for threads in [2, 4] {
        let counter = LiveCounter::new();
        let total = tree_reduction(&counter, 4096);
        let got = run_unfused(&total, &Scheduler::threads(threads).unwrap());
        assert_eq!(got, (0..4096).sum::<i64>());
        assert_eq!(counter.live(), 0);
        let peak = counter.peak();
        assert!(
            peak <= 2 * threads * (12 + 2),
            "{threads} threads: peak {peak}"
        );
    }
}

/// `chains` independent chains of `len` steps; the last step of each leaves
/// the tracked world, and a binary tree sums the chain ends.
fn chains_then_sum(counter: &Arc<LiveCounter>, chains: usize, len: usize) -> Delayed<i64> {
    let mut ends: Vec<Delayed<i64>> = (0..chains as i64)
        .map(|i| {
            let c = counter.clone();
            let mut x = rask::delayed(move || c.track(i));
            for _ in 1..len - 1 {
                let c = counter.clone();
                x = x.map(move |t| c.track(t.value + 1));
            }
            x.map(|t| t.value + 1)
        })
        .collect();
    while ends.len() > 1 {
        ends = ends
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    p[0].map2(&p[1], |a, b| a + b)
                } else {
                    p[0].clone()
                }
            })
            .collect();
    }
    ends.pop().unwrap()
}

#[test]
fn independent_chains_keep_values_per_thread_not_per_chain() {
    let (chains, len) = (512, 10);
    let expected: i64 = (0..chains as i64).map(|i| i + len as i64 - 1).sum();
    let sync_counter = LiveCounter::new();
    let total = chains_then_sum(&sync_counter, chains, len);
    assert_eq!(run_unfused(&total, &Scheduler::sync()), expected);
    assert!(
        sync_counter.peak() <= 2,
        "sync: peak {}",
        sync_counter.peak()
    );
    for threads in [1, 2, 4] {
        let counter = LiveCounter::new();
        let total = chains_then_sum(&counter, chains, len);
        assert_eq!(
            run_unfused(&total, &Scheduler::threads(threads).unwrap()),
            expected
        );
        assert_eq!(counter.live(), 0);
        let peak = counter.peak();
        // Each thread holds at most its current chain's input and output,
        // plus a stolen task's; independent of the 512 chains.
        assert!(
            peak <= 3 * threads,
            "{threads} threads, {chains} chains: peak {peak}"
        );
    }
}

#[test]
fn values_are_released_when_their_last_dependent_has_run() {
    let counter = LiveCounter::new();
    let c = counter.clone();
    let mut x = rask::delayed(move || c.track(0));
    for _ in 0..1000 {
        let c = counter.clone();
        x = x.map(move |t| c.track(t.value + 1));
    }
    let out = x.map(|t| t.value);
    for sched in crate::support::schedulers() {
        assert_eq!(run_unfused(&out, &sched), 1000);
    }
    assert_eq!(counter.live(), 0);
    assert!(
        counter.peak() <= 2,
        "a chain holds at most input and output: {}",
        counter.peak()
    );
}
