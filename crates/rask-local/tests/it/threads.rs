//! Regression tests of the schedulers' wake-ups, panic handling and nested
//! computes, each named after the bug it pins.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use rask_core::{Callback, Error, Executor, GraphBuilder, Key, Op, Plan, TaskError, TaskId, Value};
use rask_local::{SyncExecutor, ThreadsExecutor};

use crate::support::{unfused_plan, with_watchdog};

fn sum_i64(xs: &[Value]) -> Result<Value, TaskError> {
    let mut s = 0i64;
    for (i, x) in xs.iter().enumerate() {
        s += x.get::<i64>(i)?;
    }
    Ok(Value::new(s))
}

fn output_i64(values: &[Value]) -> i64 {
    *values[0].downcast_ref::<i64>().unwrap()
}

/// Every local executor, as trait objects.
fn executors() -> Vec<Arc<dyn Executor>> {
    vec![
        Arc::new(SyncExecutor),
        Arc::new(ThreadsExecutor::new(1).unwrap()),
        Arc::new(ThreadsExecutor::new(4).unwrap()),
    ]
}

/// One root making 2,000 tasks ready at once while the other workers sleep:
/// all four workers must run them, not the pushing worker and a single woken
/// sleeper.
#[test]
fn a_ready_batch_wakes_enough_sleepers() {
    const WORKERS: usize = 4;
    /// Yields a task waits at most for the others; ample on a loaded
    /// machine, and reached at most once (then `gave_up` ends all waits).
    const WAIT_LIMIT: usize = 1_000_000;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gave_up = Arc::new(AtomicBool::new(false));
    let markers_ran = Arc::new(AtomicUsize::new(0));
    let mut b = GraphBuilder::new();
    // The root runs first (it is the tallest branch); the other workers run
    // the markers, find nothing else and go to sleep while the root waits.
    let markers: Vec<Key> = (0..WORKERS as u32 - 1)
        .map(|i| Key::with_index("marker", &[i]))
        .collect();
    for k in &markers {
        let markers_ran = markers_ran.clone();
        let op = Op::call("marker", move |_: &[Value]| {
            markers_ran.fetch_add(1, Ordering::SeqCst);
            Ok(Value::new(0i64))
        });
        b.insert(k.clone(), op, vec![]);
    }
    let root = {
        let markers_ran = markers_ran.clone();
        Op::call("root", move |_: &[Value]| {
            let mut waited = 0;
            while markers_ran.load(Ordering::SeqCst) < WORKERS - 1 && waited < WAIT_LIMIT {
                waited += 1;
                std::thread::yield_now();
            }
            // Time for the markers' workers to fall asleep; the test passes
            // without it, it only makes the old bug show reliably.
            for _ in 0..10_000 {
                std::thread::yield_now();
            }
            Ok(Value::new(1i64))
        })
    };
    b.insert(Key::new("root"), root, vec![]);
    let parts: Vec<Key> = (0..2_000).map(|i| Key::with_index("spin", &[i])).collect();
    for k in &parts {
        let (running, peak, gave_up) = (running.clone(), peak.clone(), gave_up.clone());
        let op = Op::call("spin", move |xs: &[Value]| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // A little CPU work, then wait until every worker was busy once.
            let mut x = *xs[0].get::<i64>(0)?;
            for i in 0..200i64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i)) % 1_000_003;
            }
            let mut waited = 0;
            while peak.load(Ordering::SeqCst) < WORKERS && !gave_up.load(Ordering::SeqCst) {
                if waited == WAIT_LIMIT {
                    gave_up.store(true, Ordering::SeqCst);
                }
                waited += 1;
                std::thread::yield_now();
            }
            running.fetch_sub(1, Ordering::SeqCst);
            std::hint::black_box(x);
            Ok(Value::new(1i64))
        });
        b.insert(k.clone(), op, vec![Key::new("root")]);
    }
    let mut inputs = parts;
    inputs.extend(markers);
    b.insert(Key::new("sum"), Op::call("sum", sum_i64), inputs);
    let plan = unfused_plan(b, &[Key::new("sum")]);
    let out = ThreadsExecutor::new(WORKERS)
        .unwrap()
        .execute(&plan, &[])
        .unwrap();
    assert_eq!(output_i64(&out), 2_000);
    assert_eq!(
        peak.load(Ordering::SeqCst),
        WORKERS,
        "sleeping workers were not woken for a batch of ready tasks"
    );
}

/// Panics in `on_task_finish` of the task named `target`.
struct PanicOnFinish {
    target: &'static str,
}

impl Callback for PanicOnFinish {
    fn on_task_finish(&self, plan: &Plan, task: TaskId, _worker: usize, _ok: bool) {
        if plan.graph.task(task).key.name() == self.target {
            panic!("callback bomb");
        }
    }
}

fn small_sum_graph() -> (GraphBuilder, Vec<Key>) {
    let mut b = GraphBuilder::new();
    let parts: Vec<Key> = (0..16).map(|i| Key::with_index("part", &[i])).collect();
    for (i, k) in parts.iter().enumerate() {
        b.insert(k.clone(), Op::value(Value::new(i as i64)), vec![]);
    }
    b.insert(Key::new("total"), Op::call("sum", sum_i64), parts);
    (b, vec![Key::new("total")])
}

#[test]
fn a_panicking_callback_fails_the_compute_instead_of_hanging() {
    for (i, executor) in executors().into_iter().enumerate() {
        // A leaf (on any worker) and the last task.
        for target in ["part", "total"] {
            let executor = executor.clone();
            let err = with_watchdog(&format!("executor {i}, {target}"), move || {
                let (b, outputs) = small_sum_graph();
                let plan = unfused_plan(b, &outputs);
                let cb = PanicOnFinish { target };
                executor.execute(&plan, &[&cb]).map(|_| ())
            })
            .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Scheduler(_)), "{msg}");
            assert!(
                msg.contains("on_task_finish") && msg.contains("callback bomb"),
                "{msg}"
            );
            // The executor is usable again.
            let (b, outputs) = small_sum_graph();
            let out = executors()[i]
                .execute(&unfused_plan(b, &outputs), &[])
                .unwrap();
            assert_eq!(output_i64(&out), 120);
        }
    }
}

/// Panics when dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("drop bomb");
    }
}

#[test]
fn a_panicking_drop_fails_the_compute_instead_of_hanging() {
    for (i, executor) in executors().into_iter().enumerate() {
        let err = with_watchdog(&format!("executor {i}"), move || {
            // `bomb` is released when `user`, its only dependent, finishes.
            let mut b = GraphBuilder::new();
            b.insert(
                Key::new("bomb"),
                Op::call("make-bomb", |_: &[Value]| Ok(Value::new(PanicsOnDrop))),
                vec![],
            );
            b.insert(
                Key::new("user"),
                Op::call("use", |_: &[Value]| Ok(Value::new(1i64))),
                vec![Key::new("bomb")],
            );
            let plan = unfused_plan(b, &[Key::new("user")]);
            executor.execute(&plan, &[]).map(|_| ())
        })
        .unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.task_key(), Some(&Key::new("bomb")), "{msg}");
        assert!(msg.contains("drop bomb"), "{msg}");
    }
}

/// Each task of an outer graph computes an inner graph with the same
/// executor: the tasks, outer and inner, run on at most the executor's own
/// threads.
#[test]
fn a_nested_compute_starts_no_threads() {
    const WORKERS: usize = 4;
    let pool = ThreadsExecutor::new(WORKERS).unwrap();
    let seen: Arc<Mutex<HashSet<ThreadId>>> = Arc::default();
    // Records the thread and yields a little, so idle threads would steal.
    let task = |seen: &Arc<Mutex<HashSet<ThreadId>>>, value: i64| {
        seen.lock().unwrap().insert(std::thread::current().id());
        for _ in 0..100 {
            std::thread::yield_now();
        }
        value
    };
    let mut b = GraphBuilder::new();
    let outer: Vec<Key> = (0..8).map(|i| Key::with_index("outer", &[i])).collect();
    for (i, k) in outer.iter().enumerate() {
        let seen = seen.clone();
        let op = Op::call("nested", move |_: &[Value]| {
            task(&seen, 0);
            let mut inner = GraphBuilder::new();
            let parts: Vec<Key> = (0..8).map(|j| Key::with_index("inner", &[j])).collect();
            for (j, p) in parts.iter().enumerate() {
                let seen = seen.clone();
                let v = (i * 8 + j) as i64;
                let op = Op::call("leaf", move |_: &[Value]| Ok(Value::new(task(&seen, v))));
                inner.insert(p.clone(), op, vec![]);
            }
            inner.insert(Key::new("inner-sum"), Op::call("sum", sum_i64), parts);
            let plan = unfused_plan(inner, &[Key::new("inner-sum")]);
            let out = pool.execute(&plan, &[]).map_err(TaskError::failed)?;
            Ok(out[0].clone())
        });
        b.insert(k.clone(), op, vec![]);
    }
    b.insert(Key::new("outer-sum"), Op::call("sum", sum_i64), outer);
    let plan = unfused_plan(b, &[Key::new("outer-sum")]);
    let out = pool.execute(&plan, &[]).unwrap();
    assert_eq!(output_i64(&out), (0..64).sum::<i64>());
    let threads = seen.lock().unwrap().len();
    assert!(
        threads <= WORKERS,
        "64 inner and 8 outer tasks ran on {threads} threads, more than the {WORKERS} workers"
    );
}
