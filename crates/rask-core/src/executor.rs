//! The one interface through which collections reach an executor, and the
//! executor in force.
//!
//! Collections build graphs; executors run [`Plan`]s. The local schedulers
//! (sync and threads, in `rask-local`) implement [`Executor`], and so will
//! the distributed client. No collection depends on a scheduler crate: they
//! all go through [`crate::compute`], which asks [`current`] for the
//! executor in force:
//!
//! 1. the innermost executor set on this thread with [`scoped`];
//! 2. else the process-wide default set with [`set_default`];
//! 3. else the one the configuration names (`scheduler = "threads"`),
//!    made by the [`ExecutorFactory`] registered under that name. The local
//!    schedulers register `"sync"` and `"threads"`; a third executor is
//!    plugged in by registering its factory (or by [`set_default`]) without
//!    touching any collection.
//!
//! [`Callback`]s observe a run — the progress bar and the profiler are
//! callbacks.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use rask_config::Config;

use crate::error::{Error, Result};
use crate::graph::{Op, TaskId};
use crate::key::Key;
use crate::plan::Plan;
use crate::value::Value;

/// Runs plans.
pub trait Executor: Send + Sync {
    /// Runs `plan` and returns the values of `plan.outputs`, in order.
    ///
    /// The first task failure cancels the tasks not yet started and comes back
    /// as [`Error::Task`]; the executor stays usable.
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>>;

    /// A short name for diagnostics (`"threads"`, `"sync"`, ...).
    fn name(&self) -> &str;

    /// Like [`Executor::execute`], stopping early with [`Error::Cancelled`]
    /// once `cancel` is cancelled. The default checks `cancel` only before
    /// the run starts; executors that can stop in the middle override it.
    fn execute_cancellable(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: &CancelToken,
    ) -> Result<Vec<Value>> {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        self.execute(plan, callbacks)
    }

    /// Runs `plan` and keeps the outputs where they were computed,
    /// returning for each output an operation that stands for it in later
    /// graphs: the value itself for a local executor, a reference to data
    /// held on a worker ([`Op::Held`]) for a cluster.
    fn persist(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Op>> {
        Ok(self
            .execute(plan, callbacks)?
            .into_iter()
            .map(Op::value)
            .collect())
    }

    /// Releases results this executor keeps for `keys` (persisted ones).
    /// Local executors keep nothing, so the default does nothing.
    fn release(&self, _keys: &[Key]) -> Result<()> {
        Ok(())
    }

    /// Whether tasks must be portable to run here (they leave the process).
    /// The pipeline then refuses a graph with a closure before sending it,
    /// naming the task.
    fn requires_portable(&self) -> bool {
        false
    }

    /// Number of tasks that can run at once, when known.
    fn workers(&self) -> Option<usize> {
        None
    }
}

impl<E: Executor + ?Sized> Executor for Arc<E> {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
        (**self).execute(plan, callbacks)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn execute_cancellable(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: &CancelToken,
    ) -> Result<Vec<Value>> {
        (**self).execute_cancellable(plan, callbacks, cancel)
    }
    fn persist(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Op>> {
        (**self).persist(plan, callbacks)
    }
    fn release(&self, keys: &[Key]) -> Result<()> {
        (**self).release(keys)
    }
    fn requires_portable(&self) -> bool {
        (**self).requires_portable()
    }
    fn workers(&self) -> Option<usize> {
        (**self).workers()
    }
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

/// Asks a running compute to stop: executors check it between tasks.
///
/// ```
/// use rask_core::CancelToken;
/// let t = CancelToken::new();
/// let u = t.clone();
/// assert!(!u.is_cancelled());
/// t.cancel();
/// assert!(u.is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every compute watching this token (or a clone of it).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Makes the executor the configuration names: registered under that name
/// with `inventory` (see [`register_executor!`](crate::register_executor)).
pub struct ExecutorFactory {
    /// The configuration's name for it (`"threads"`, `"sync"`).
    pub name: &'static str,
    /// Makes one from the configuration.
    pub make: fn(&Config) -> Result<Arc<dyn Executor>>,
}

inventory::collect!(ExecutorFactory);

/// Registers an [`ExecutorFactory`] under a configuration name.
///
/// ```ignore
/// rask_core::register_executor!("threads", |config| Ok(Arc::new(MyPool::new(config))));
/// ```
#[macro_export]
macro_rules! register_executor {
    ($name:expr, $make:expr) => {
        $crate::inventory::submit! {
            $crate::executor::ExecutorFactory { name: $name, make: $make }
        }
    };
}

/// The factory registered under `name`.
pub fn factory(name: &str) -> Option<&'static ExecutorFactory> {
    inventory::iter::<ExecutorFactory>
        .into_iter()
        .find(|f| f.name == name)
}

static DEFAULT: RwLock<Option<Arc<dyn Executor>>> = RwLock::new(None);

thread_local! {
    static SCOPED: RefCell<Vec<Arc<dyn Executor>>> = const { RefCell::new(Vec::new()) };
}

/// The executor in force on this thread (see the module docs).
pub fn current() -> Result<Arc<dyn Executor>> {
    if let Some(e) = SCOPED.with(|s| s.borrow().last().cloned()) {
        return Ok(e);
    }
    if let Some(e) = DEFAULT.read().unwrap_or_else(|p| p.into_inner()).clone() {
        return Ok(e);
    }
    let config = rask_config::try_get()?;
    from_config(&config)
}

/// The executor a configuration names, from its registered factory.
pub fn from_config(config: &Config) -> Result<Arc<dyn Executor>> {
    let name = config.scheduler.to_string();
    match factory(&name) {
        Some(f) => (f.make)(config),
        None => Err(Error::Scheduler(format!(
            "the configuration asks for the `{name}` scheduler, but no executor of that name is \
             linked into this program; depend on the `rask` crate (or `rask-local`, which \
             provides `sync` and `threads`) and use it, or set one with \
             `rask_core::executor::set_default`"
        ))),
    }
}

/// Makes `executor` the process-wide default until the guard is dropped
/// (scoped executors still win on their threads).
pub fn set_default(executor: Arc<dyn Executor>) -> DefaultExecutorGuard {
    let mut slot = DEFAULT.write().unwrap_or_else(|p| p.into_inner());
    let previous = slot.replace(executor);
    DefaultExecutorGuard { previous }
}

/// Restores the previous default executor when dropped.
#[must_use = "the default executor is restored when the guard is dropped"]
pub struct DefaultExecutorGuard {
    previous: Option<Arc<dyn Executor>>,
}

impl Drop for DefaultExecutorGuard {
    fn drop(&mut self) {
        *DEFAULT.write().unwrap_or_else(|p| p.into_inner()) = self.previous.take();
    }
}

/// Makes `executor` the one in force on this thread until the guard is
/// dropped (Dask's `with dask.config.set(scheduler=...)` for one block of
/// code). Guards nest.
///
/// ```
/// use std::sync::Arc;
/// use rask_core::{Callback, Executor, Plan, Result, Value, executor};
/// struct Refuse;
/// impl Executor for Refuse {
///     fn execute(&self, _: &Plan, _: &[&dyn Callback]) -> Result<Vec<Value>> {
///         Err(rask_core::Error::Scheduler("not here".into()))
///     }
///     fn name(&self) -> &str { "refuse" }
/// }
/// let guard = executor::scoped(Arc::new(Refuse));
/// assert_eq!(executor::current().unwrap().name(), "refuse");
/// drop(guard);
/// ```
pub fn scoped(executor: Arc<dyn Executor>) -> ScopedExecutorGuard {
    SCOPED.with(|s| s.borrow_mut().push(executor));
    ScopedExecutorGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// Removes the scoped executor when dropped; stays on its thread.
#[must_use = "the scoped executor is removed when the guard is dropped"]
pub struct ScopedExecutorGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ScopedExecutorGuard {
    fn drop(&mut self) {
        SCOPED.with(|s| {
            s.borrow_mut().pop();
        });
    }
}
