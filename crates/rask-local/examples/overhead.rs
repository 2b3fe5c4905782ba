//! Per-task overhead of the threads scheduler: 100k independent tasks and
//! a tree of sums over them (informal measurement).
use std::time::Instant;

use rask_core::{Executor, GraphBuilder, Key, Op, Plan, PlanOptions, TaskError, Value};

fn main() {
    let n = 100_000u64;
    let mut b = GraphBuilder::new();
    let mut level: Vec<Key> = (0..n)
        .map(|i| {
            let k = Key::new(format!("leaf-{i}"));
            b.insert(
                k.clone(),
                Op::call("leaf", move |_: &[Value]| Ok::<_, TaskError>(Value::new(i))),
                vec![],
            );
            k
        })
        .collect();
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        level = level
            .chunks(8)
            .enumerate()
            .map(|(j, c)| {
                let k = Key::new(format!("sum-{depth}-{j}"));
                b.insert(
                    k.clone(),
                    Op::call("sum", |xs: &[Value]| {
                        let mut s = 0u64;
                        for (i, x) in xs.iter().enumerate() {
                            s += x.get::<u64>(i)?;
                        }
                        Ok(Value::new(s))
                    }),
                    c.to_vec(),
                );
                k
            })
            .collect();
    }
    let plan = Plan::new(b, &level, PlanOptions { fuse: false }).unwrap();
    let pool = rask_local::ThreadsExecutor::per_core();
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        let out = pool.execute(&plan, &[]).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(*out[0].downcast_ref::<u64>().unwrap(), n * (n - 1) / 2);
    }
    println!(
        "{} tasks: best {:.1} ms, {:.2} us/task",
        plan.len(),
        best * 1e3,
        best * 1e6 / plan.len() as f64
    );
}
