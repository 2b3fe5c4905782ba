//! Every scheduler gives the same result as a plain sequential evaluation, on
//! random graphs, with and without fusion, for any subset of outputs.

use proptest::prelude::*;
use rask::graph::{Executor, GraphBuilder, Op, Plan, PlanOptions};
use rask::{Key, Scheduler, Value};

use crate::support::schedulers;

/// A random DAG: task `i` depends on some earlier tasks and adds a constant.
#[derive(Clone, Debug)]
struct RandomDag {
    deps: Vec<Vec<usize>>,
    consts: Vec<i64>,
    outputs: Vec<usize>,
    /// Which tasks are blockwise, so fusion of trees is exercised too.
    blockwise: Vec<bool>,
}

fn random_dag() -> impl Strategy<Value = RandomDag> {
    (1usize..60).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 0..4.min(i + 1)).boxed()
                }
            })
            .collect::<Vec<_>>();
        let consts = proptest::collection::vec(-100i64..100, n);
        let outputs = proptest::collection::vec(0..n, 1..5);
        let blockwise = proptest::collection::vec(any::<bool>(), n);
        (deps, consts, outputs, blockwise).prop_map(|(deps, consts, outputs, blockwise)| {
            RandomDag {
                deps,
                consts,
                outputs,
                blockwise,
            }
        })
    })
}

fn key(i: usize) -> Key {
    Key::with_index("node-abc", &[i as u32])
}

fn expected(dag: &RandomDag) -> Vec<i64> {
    let mut vals = Vec::new();
    for i in 0..dag.consts.len() {
        let v = dag.deps[i].iter().fold(dag.consts[i], |acc, &d| {
            acc.wrapping_mul(3).wrapping_add(vals[d])
        });
        vals.push(v);
    }
    dag.outputs.iter().map(|&o| vals[o]).collect()
}

fn build(dag: &RandomDag) -> GraphBuilder {
    let mut b = GraphBuilder::new();
    // Insert in reverse so the arena is not already in topological order.
    for i in (0..dag.consts.len()).rev() {
        let c = dag.consts[i];
        let mix = move |args: &[Value]| {
            let mut acc = c;
            for (p, a) in args.iter().enumerate() {
                acc = acc.wrapping_mul(3).wrapping_add(*a.get::<i64>(p)?);
            }
            Ok(Value::new(acc))
        };
        let op = if dag.blockwise[i] {
            Op::blockwise("mix", mix)
        } else {
            Op::call("mix", mix)
        };
        b.insert(key(i), op, dag.deps[i].iter().map(|&d| key(d)));
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_match_sequential_evaluation(dag in random_dag(), fuse in any::<bool>()) {
        let want = expected(&dag);
        let keys: Vec<Key> = dag.outputs.iter().map(|&o| key(o)).collect();
        for sched in schedulers() {
            let plan = Plan::new(build(&dag), &keys, PlanOptions { fuse }).unwrap();
            let needed = plan.len();
            let got: Vec<i64> = sched
                .execute(&plan, &[])
                .unwrap()
                .iter()
                .map(|v| *v.downcast_ref::<i64>().unwrap())
                .collect();
            prop_assert_eq!(&got, &want, "{:?} fuse={}", sched, fuse);
            prop_assert!(needed <= dag.consts.len());
        }
    }
}

#[test]
fn callbacks_see_every_task_start_and_finish() {
    use rask::graph::{Callback, TaskId};
    use std::sync::atomic::{AtomicUsize, Ordering};
    #[derive(Default)]
    struct Count {
        start: AtomicUsize,
        finish: AtomicUsize,
        runs: AtomicUsize,
    }
    impl Callback for Count {
        fn on_start(&self, _: &Plan) {
            self.runs.fetch_add(1, Ordering::SeqCst);
        }
        fn on_task_start(&self, _: &Plan, _: TaskId, _: usize) {
            self.start.fetch_add(1, Ordering::SeqCst);
        }
        fn on_task_finish(&self, _: &Plan, _: TaskId, _: usize, ok: bool) {
            assert!(ok);
            self.finish.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dag = RandomDag {
        deps: (0..100)
            .map(|i| if i == 0 { vec![] } else { vec![i / 2] })
            .collect(),
        consts: vec![1; 100],
        outputs: (50..100).collect(),
        blockwise: vec![false; 100],
    };
    let keys: Vec<Key> = dag.outputs.iter().map(|&o| key(o)).collect();
    for sched in schedulers() {
        let plan = Plan::new(build(&dag), &keys, PlanOptions { fuse: false }).unwrap();
        let count = Count::default();
        sched.execute(&plan, &[&count]).unwrap();
        assert_eq!(count.start.load(Ordering::SeqCst), 100);
        assert_eq!(count.finish.load(Ordering::SeqCst), 100);
        assert_eq!(count.runs.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn large_graph_on_threads_matches_sync() {
    let leaves: Vec<rask::delayed::Delayed<u64>> = (0..20_000u64)
        .map(|i| rask::delayed(move || i * i))
        .collect();
    let sums: Vec<_> = leaves
        .chunks(64)
        .map(|c| rask::delayed::collect(c).map(|xs| xs.iter().sum::<u64>()))
        .collect();
    let total = rask::delayed::collect(&sums).map(|xs| xs.iter().sum::<u64>());
    let want: u64 = (0..20_000u64).map(|i| i * i).sum();
    assert_eq!(total.compute_with(&Scheduler::sync()).unwrap(), want);
    assert_eq!(
        total.compute_with(&Scheduler::threads(3).unwrap()).unwrap(),
        want
    );
}
