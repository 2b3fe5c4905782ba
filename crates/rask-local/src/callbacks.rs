//! Callbacks registered for a scope: Dask's `with Profiler(): ...`.
//!
//! [`register`] adds a [`Callback`] to a process-wide list and returns a
//! [`CallbackGuard`]; while the guard lives, every run through
//! [`Scheduler::run`](crate::Scheduler::run) — so every `compute` and `get` —
//! calls it, on any thread. Dropping the guard removes exactly that
//! registration, so guards nest and may be dropped in any order.
//!
//! The list is read once per run, not per task: [`Scheduler::run`] takes a
//! snapshot of it before the run starts (a callback registered during a run
//! sees the next run). When nothing is registered, a run only loads one
//! atomic counter and takes no lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rask_core::Callback;

/// Registered callbacks, each with the id of its guard.
static REGISTERED: Mutex<Vec<(u64, Arc<dyn Callback>)>> = Mutex::new(Vec::new());
/// Length of `REGISTERED`, read without the lock.
static COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Keeps a callback registered; dropping it removes the callback.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use rask_core::{Callback, GraphBuilder, Key, Op, Plan, TaskId, Value};
/// use rask_local::{Scheduler, callbacks};
///
/// /// Counts the tasks named `guard-doc` (other threads may compute too).
/// #[derive(Default)]
/// struct Count(AtomicUsize);
/// impl Callback for Count {
///     fn on_task_finish(&self, plan: &Plan, task: TaskId, _worker: usize, _ok: bool) {
///         if plan.graph.task(task).key.name() == "guard-doc" {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let graph = || {
///     let mut b = GraphBuilder::new();
///     b.insert(Key::new("guard-doc"), Op::value(Value::new(1i32)), vec![]);
///     b.build().unwrap()
/// };
/// let count = Arc::new(Count::default());
/// let guard = callbacks::register(count.clone());
/// Scheduler::sync().get(graph(), &[Key::new("guard-doc")]).unwrap();
/// drop(guard);
/// Scheduler::sync().get(graph(), &[Key::new("guard-doc")]).unwrap(); // not seen
/// assert_eq!(count.0.load(Ordering::Relaxed), 1);
/// ```
#[must_use = "the callback is removed when the guard is dropped"]
#[derive(Debug)]
pub struct CallbackGuard {
    id: u64,
}

impl CallbackGuard {
    /// Removes the callback now (the same as dropping the guard).
    pub fn unregister(self) {}
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        let mut list = lock();
        list.retain(|(id, _)| *id != self.id);
        COUNT.store(list.len(), Ordering::Release);
    }
}

/// Registers `callback` for every run until the guard is dropped.
pub fn register(callback: Arc<dyn Callback>) -> CallbackGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut list = lock();
    list.push((id, callback));
    COUNT.store(list.len(), Ordering::Release);
    CallbackGuard { id }
}

/// Number of callbacks registered now.
pub fn registered() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// The callbacks registered now, in registration order.
pub fn snapshot() -> Vec<Arc<dyn Callback>> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    lock().iter().map(|(_, cb)| cb.clone()).collect()
}

/// Nothing panics while holding the lock, but a poisoned one is still usable.
fn lock() -> MutexGuard<'static, Vec<(u64, Arc<dyn Callback>)>> {
    REGISTERED.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scheduler;
    use rask_core::{GraphBuilder, Key, Op, Plan, TaskId, Value};

    struct Nothing;
    impl Callback for Nothing {}

    #[test]
    fn guards_nest_and_remove_only_their_own_callback() {
        let a: Arc<dyn Callback> = Arc::new(Nothing);
        let b: Arc<dyn Callback> = Arc::new(Nothing);
        let ga = register(a.clone());
        let gb = register(b.clone());
        let has = |x: &Arc<dyn Callback>| snapshot().iter().any(|c| Arc::ptr_eq(c, x));
        assert!(has(&a) && has(&b));
        drop(ga);
        assert!(!has(&a) && has(&b));
        gb.unregister();
        assert!(!has(&b));
    }

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
}
