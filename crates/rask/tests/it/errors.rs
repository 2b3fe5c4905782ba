//! Bad input and failing tasks give clear errors; nothing hangs, nothing is
//! lost, and the scheduler is usable afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rask::diagnostics::callbacks;
use rask::graph::{Callback, GraphBuilder, Op, Plan, TaskId};
use rask::prelude::*;
use rask::{Key, TaskError, Value};

use crate::support::schedulers;

#[derive(Debug)]
struct FitError(&'static str);
impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "model did not converge: {}", self.0)
    }
}
impl std::error::Error for FitError {}

#[test]
fn a_returned_error_names_the_key_and_cause() {
    for sched in schedulers() {
        let bad = rask::delayed::value(3)
            .try_map(|_| Err::<i32, _>(FitError("device 7")))
            .with_name("fit");
        let ok: Vec<Delayed<i32>> = (0..20).map(|i| rask::delayed(move || i)).collect();
        let total = rask::delayed::collect(&ok).map2(&bad, |xs, b| xs.iter().sum::<i32>() + b);
        let err = total.compute_with(&sched).unwrap_err();
        assert_eq!(err.task_key(), Some(bad.key()), "{sched:?}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(&bad.key().to_string()), "{msg}");
        assert!(msg.contains("model did not converge: device 7"), "{msg}");
        assert!(matches!(
            err,
            Error::Task {
                cause: TaskError::Failed(_),
                ..
            }
        ));
    }
}

#[test]
fn a_panic_is_caught_and_reported() {
    for sched in schedulers() {
        let boom = rask::delayed(|| -> i32 { panic!("sensor table is empty") });
        let err = boom.map(|x| x + 1).compute_with(&sched).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("panicked: sensor table is empty"), "{msg}");
        assert_eq!(err.task_key(), Some(boom.key()));
    }
}

/// Sets `failed` when the task `key` is reported as failed: the scheduler
/// records the failure right after this call, on the same thread.
struct FailureSeen {
    key: Key,
    failed: Arc<AtomicBool>,
}

impl Callback for FailureSeen {
    fn on_task_finish(&self, plan: &Plan, task: TaskId, _worker: usize, ok: bool) {
        if !ok && plan.graph.task(task).key == self.key {
            self.failed.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn failure_cancels_the_rest_and_the_scheduler_stays_usable() {
    for sched in schedulers() {
        let ran = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        // One failing root first in priority order, then many tasks. Each
        // of those waits until the failure is reported (a bounded number of
        // yields, in case it never is), so no worker can race through all
        // of them before the scheduler has recorded the failure.
        let fail = rask::delayed(|| -> u64 { panic!("first") });
        let _seen = callbacks::register(Arc::new(FailureSeen {
            key: fail.key().clone(),
            failed: failed.clone(),
        }));
        let mut parts = vec![fail];
        for i in 0..200u64 {
            let (r, failed) = (ran.clone(), failed.clone());
            parts.push(rask::delayed(move || {
                for _ in 0..1_000_000 {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::yield_now();
                }
                r.fetch_add(1, Ordering::SeqCst);
                i
            }));
        }
        let total = rask::delayed::collect(&parts).map(|xs| xs.iter().sum::<u64>());
        assert!(total.compute_with(&sched).is_err());
        let n = ran.load(Ordering::SeqCst);
        if sched.workers() == Some(1) {
            // One worker runs the failing root first and stops there.
            assert_eq!(n, 0, "{sched:?}: {n} tasks ran after the failure");
        } else {
            assert!(n < 200, "{sched:?}: {n} tasks still ran after the failure");
        }
        // Usable again, repeatedly.
        for _ in 0..3 {
            let ok = rask::delayed(|| 1).map(|x| x + 1);
            assert_eq!(ok.compute_with(&sched).unwrap(), 2);
        }
    }
}

#[test]
fn many_failures_at_once_return_one_error_without_hanging() {
    for sched in schedulers() {
        let parts: Vec<Delayed<u32>> = (0..500u32)
            .map(|i| rask::delayed(move || if i % 3 == 0 { panic!("bad {i}") } else { i }))
            .collect();
        let err = rask::compute_with(&parts, &sched).unwrap_err();
        assert!(err.to_string().contains("panicked: bad"), "{err}");
    }
}

fn lit(v: i64) -> Op {
    Op::value(Value::new(v))
}

fn inc() -> Op {
    Op::call("inc", |a: &[Value]| Ok(Value::new(a[0].get::<i64>(0)? + 1)))
}

#[test]
fn a_cycle_is_a_clear_error() {
    let mut b = GraphBuilder::new();
    b.insert(Key::new("a"), inc(), [Key::new("c")]);
    b.insert(Key::new("b"), inc(), [Key::new("a")]);
    b.insert(Key::new("c"), inc(), [Key::new("b")]);
    let err = b.build().unwrap_err();
    assert!(matches!(err, Error::Cycle { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("cycle") && msg.contains("a") && msg.contains("b") && msg.contains("c"),
        "{msg}"
    );
}

#[test]
fn a_missing_dependency_is_a_clear_error() {
    let mut b = GraphBuilder::new();
    b.insert(Key::new("load-1"), lit(1), []);
    b.insert(Key::new("fit-1"), inc(), [Key::new("clean-1")]);
    let err = b.build().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("fit-1") && msg.contains("clean-1") && msg.contains("not in the graph"),
        "{msg}"
    );
}

#[test]
fn a_missing_requested_key_is_a_clear_error() {
    let mut b = GraphBuilder::new();
    b.insert(Key::new("x"), lit(1), []);
    let g = b.build().unwrap();
    let err = rask::get(g, &[Key::new("y")], &Scheduler::sync()).unwrap_err();
    assert!(matches!(err, Error::MissingKey { .. }), "{err}");
    assert!(err.to_string().contains('y'));
}

#[test]
fn a_value_of_the_wrong_type_is_a_clear_error() {
    for sched in schedulers() {
        let mut b = GraphBuilder::new();
        b.insert(
            Key::new("text-1"),
            Op::value(Value::new(String::from("12"))),
            [],
        );
        b.insert(Key::new("inc-1"), inc(), [Key::new("text-1")]);
        let g = b.build().unwrap();
        let err = rask::get(g, &[Key::new("inc-1")], &sched).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.task_key(), Some(&Key::new("inc-1")));
        assert!(msg.contains("String") && msg.contains("i64"), "{msg}");
        assert!(matches!(
            err,
            Error::Task {
                cause: TaskError::WrongType { .. },
                ..
            }
        ));
    }
}

#[test]
fn zero_threads_is_a_clear_error() {
    let err = Scheduler::threads(0).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn duplicate_keys_in_from_tasks_are_rejected() {
    use rask::graph::{Graph, Task};
    let t = |k: &str| Task::new(Key::new(k), lit(1), vec![]);
    let err = Graph::from_tasks(vec![t("a"), t("a")]).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
}

/// Entry point of the child process in
/// `a_caught_panic_prints_nothing_and_its_error_says_where`: computes a task
/// that panics and prints the error. Run normally, it has nothing to do.
#[test]
fn child_process_computes_a_panicking_task() {
    if std::env::var_os("RASK_TEST_PANIC_CHILD").is_none() {
        return;
    }
    let fit = rask::delayed(|| -> i32 { panic!("no valid rows") }).with_name("fit");
    let err = fit.compute().unwrap_err();
    println!("ERROR: {err}");
}

#[test]
fn a_caught_panic_prints_nothing_and_its_error_says_where() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "errors::child_process_computes_a_panicking_task",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RASK_TEST_PANIC_CHILD", "1")
        .env("RASK_PROGRESS", "off")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ERROR: task fit-") && stdout.contains("no valid rows"),
        "{stdout}"
    );
    assert!(
        stdout.contains("errors.rs:"),
        "the error names where: {stdout}"
    );
    assert!(!stderr.contains("panicked at"), "stderr: {stderr}");
}

/// Entry point of the child process in
/// `a_misspelt_variable_is_warned_about_with_the_valid_name`: reads the
/// configuration. Run normally, it has nothing to do.
#[test]
fn child_process_reads_the_config() {
    if std::env::var_os("RASK_TEST_CONFIG_CHILD").is_none() {
        return;
    }
    let workers = rask::config::get().worker_threads();
    println!("WORKERS: {workers}");
}

#[test]
fn a_misspelt_variable_is_warned_about_with_the_valid_name() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "errors::child_process_reads_the_config",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RASK_TEST_CONFIG_CHILD", "1")
        .env("RASK_NUMWORKERS", "3")
        .env("RASK_PROGRESS", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "the environment variable RASK_NUMWORKERS is not a rask setting and is ignored; \
             did you mean RASK_NUM_WORKERS?"
        ),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("RASK_PROGRESS is not"), "stderr: {stderr}");
    assert!(
        !stderr.contains("RASK_TEST_CONFIG_CHILD"),
        "stderr: {stderr}"
    );
}
