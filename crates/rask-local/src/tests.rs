//! Tests of the executors with callbacks registered for a scope.

use std::sync::{Arc, Mutex, MutexGuard};

use rask_core::callbacks::register;
use rask_core::{Callback, GraphBuilder, Key, Op, Plan, TaskId, Value};

use crate::Scheduler;

/// Events of the runs whose plan has a task named `name`.
struct Events {
    name: &'static str,
    log: Mutex<Vec<(String, TaskId, usize)>>,
}
impl Events {
    fn push(&self, plan: &Plan, what: &str, task: TaskId, n: usize) {
        if plan.graph.tasks().iter().any(|t| t.key.name() == self.name) {
            lock_log(&self.log).push((what.to_string(), task, n));
        }
    }
}
fn lock_log<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
impl Callback for Events {
    fn on_task_start(&self, plan: &Plan, task: TaskId, _worker: usize) {
        self.push(plan, "start", task, 0);
    }
    fn on_task_result(&self, plan: &Plan, task: TaskId, _worker: usize, value: &Value) {
        self.push(plan, "result", task, value.nbytes());
    }
    fn on_task_finish(&self, plan: &Plan, task: TaskId, _worker: usize, ok: bool) {
        self.push(plan, if ok { "ok" } else { "failed" }, task, 0);
    }
}

fn graph(name: &str) -> (rask_core::Graph, Vec<Key>) {
    let mut b = GraphBuilder::new();
    let leaves: Vec<Key> = (0..8)
        .map(|i| Key::new(format!("{name}-leaf{i}")))
        .collect();
    for (i, k) in leaves.iter().enumerate() {
        let v = Value::with_nbytes(i as i64, 100 + i);
        b.insert(k.clone(), Op::value(v), vec![]);
    }
    let sum = Op::call("sum", |xs: &[Value]| {
        let mut s = 0;
        for (i, x) in xs.iter().enumerate() {
            s += x.get::<i64>(i)?;
        }
        Ok(Value::with_nbytes(s, 8))
    });
    b.insert(Key::new(name), sum, leaves);
    (b.build().unwrap(), vec![Key::new(name)])
}

#[test]
fn both_executors_report_results_between_start_and_finish() {
    for (name, scheduler) in [
        ("results-sync", Scheduler::sync()),
        ("results-threads", Scheduler::threads(3).unwrap()),
    ] {
        let events = Arc::new(Events {
            name,
            log: Mutex::new(Vec::new()),
        });
        let guard = register(events.clone());
        let (g, keys) = graph(name);
        scheduler.get(g, &keys).unwrap();
        drop(guard);
        let log = lock_log(&events.log).clone();
        assert_eq!(log.len(), 9 * 3, "{name}: {log:?}");
        let mut bytes: Vec<usize> = Vec::new();
        for t in 0..9u32 {
            let mine: Vec<_> = log.iter().filter(|e| e.1 == TaskId(t)).collect();
            let whats: Vec<&str> = mine.iter().map(|e| e.0.as_str()).collect();
            assert_eq!(whats, ["start", "result", "ok"], "{name}");
            bytes.push(mine[1].2);
        }
        bytes.sort_unstable();
        let mut want: Vec<usize> = (100..108).collect();
        want.insert(0, 8);
        assert_eq!(bytes, want, "{name}");
    }
}
