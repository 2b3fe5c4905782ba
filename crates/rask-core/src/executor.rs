//! The one trait through which collections reach an executor.
//!
//! Collections build graphs; executors run [`Plan`]s. The local schedulers
//! (sync and threads) implement [`Executor`], and so will the distributed
//! client. [`Callback`]s observe a run — the progress bar and the profiler are
//! callbacks.

use crate::error::Result;
use crate::graph::TaskId;
use crate::plan::Plan;
use crate::value::Value;

/// Runs plans.
pub trait Executor: Send + Sync {
    /// Runs `plan` and returns the values of `plan.outputs`, in order.
    ///
    /// The first task failure cancels the tasks not yet started and comes back
    /// as [`Error::Task`](crate::Error::Task); the executor stays usable.
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>>;

    /// A short name for diagnostics (`"threads"`, `"sync"`, ...).
    fn name(&self) -> &str;
}

/// Observes a run. Methods are called from worker threads and must be cheap;
/// all have empty defaults.
///
/// For each task that runs, an executor calls, in this order and on the
/// worker that runs it: [`on_task_start`](Callback::on_task_start); when the
/// task succeeded, [`on_task_result`](Callback::on_task_result) with its
/// value (before the value can be released); then
/// [`on_task_finish`](Callback::on_task_finish). Tasks cancelled after a
/// failure get no call at all. [`on_start`](Callback::on_start) and
/// [`on_end`](Callback::on_end) bracket the run on the calling thread.
/// Callbacks run on a compute's own thread and workers; one callback may see
/// several runs at once (a task that itself computes), told apart by `plan`.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use rask_core::{Callback, Plan, TaskId};
/// #[derive(Default)]
/// struct Count(AtomicUsize);
/// impl Callback for Count {
///     fn on_task_finish(&self, _plan: &Plan, _task: TaskId, _worker: usize, _ok: bool) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Callback: Send + Sync {
    /// Before the first task starts.
    fn on_start(&self, _plan: &Plan) {}
    /// Before `task` runs on `worker` (a thread index).
    fn on_task_start(&self, _plan: &Plan, _task: TaskId, _worker: usize) {}
    /// After `task` succeeded with `value`, before
    /// [`on_task_finish`](Callback::on_task_finish) and before the value can be
    /// released; for profilers that record sizes ([`Value::nbytes`]).
    fn on_task_result(&self, _plan: &Plan, _task: TaskId, _worker: usize, _value: &Value) {}
    /// After `task` ran; `ok` is false when it failed.
    fn on_task_finish(&self, _plan: &Plan, _task: TaskId, _worker: usize, _ok: bool) {}
    /// After the run ended, successfully or not.
    fn on_end(&self, _plan: &Plan, _ok: bool) {}
}
