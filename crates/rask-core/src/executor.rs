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
    /// After `task` ran; `ok` is false when it failed.
    fn on_task_finish(&self, _plan: &Plan, _task: TaskId, _worker: usize, _ok: bool) {}
    /// After the run ended, successfully or not.
    fn on_end(&self, _plan: &Plan, _ok: bool) {}
}
