//! Local schedulers of rask.
//!
//! * [`SyncExecutor`] — one thread, tasks in priority order; deterministic,
//!   for debugging.
//! * [`ThreadsExecutor`] — one OS thread per core with work stealing; the
//!   default.
//!
//! [`Scheduler`] picks one of them (or any other [`Executor`]) and shows the
//! progress bar while it runs when the configuration asks for one. This
//! crate registers `Scheduler` under the configuration names `"sync"` and
//! `"threads"` with `rask-core`, which is how `compute` of any collection
//! finds it (see `rask_core::executor`): collections never depend on this
//! crate.
//!
//! The threads scheduler keeps results in a store that spills to disk under
//! a memory limit and pauses new root tasks when memory is short (see
//! `rask-memory`, and [`memory_stats`] for its figures); the sync scheduler,
//! for debugging, keeps every result in memory.
//!
//! [`callbacks::register`] attaches a [`Callback`] (a profiler, say) to every
//! run for as long as its guard lives.

mod memory;
mod progress;
mod slots;
mod sync;
#[cfg(test)]
mod tests;
mod threads;

use std::sync::Arc;

use rask_config::{Config, SchedulerKind};
use rask_core::{Callback, CancelToken, Collection, Executor, Graph, Key, Plan, Result, Value};

pub use rask_core::callbacks;

pub use memory::{MemoryStats, memory_stats};
pub use progress::ProgressCounter;
pub use sync::SyncExecutor;
pub use threads::ThreadsExecutor;

/// Which executor runs a compute.
///
/// Scheduler flavours are an enum: the two local ones, plus any other
/// [`Executor`] (the distributed client will be one). It is an [`Executor`]
/// itself, so `x.compute_with(&Scheduler::sync())` works for every
/// collection.
///
/// ```
/// use rask_local::Scheduler;
/// let s = Scheduler::sync();
/// assert_eq!(s.name(), "sync");
/// let t = Scheduler::threads(4).unwrap();
/// assert_eq!(t.name(), "threads");
/// assert!(Scheduler::threads(0).is_err());
/// ```
#[derive(Clone)]
pub enum Scheduler {
    /// One thread, deterministic.
    Sync(SyncExecutor),
    /// A pool of worker threads.
    Threads(ThreadsExecutor),
    /// Any other executor.
    Custom(Arc<dyn Executor>),
}

impl Scheduler {
    /// The single-threaded scheduler.
    pub fn sync() -> Self {
        Scheduler::Sync(SyncExecutor)
    }

    /// A thread pool of `n` workers; `n == 0` is an error.
    pub fn threads(n: usize) -> Result<Self> {
        ThreadsExecutor::new(n).map(Scheduler::Threads)
    }

    /// The scheduler a configuration asks for.
    pub fn from_config(config: &Config) -> Result<Self> {
        match config.scheduler {
            SchedulerKind::Sync => Ok(Scheduler::sync()),
            SchedulerKind::Threads => Scheduler::threads(config.worker_threads()),
        }
    }

    /// The scheduler of the current process-wide configuration
    /// (`rask.toml`, `RASK_*` variables, `rask_config::set`).
    pub fn current() -> Result<Self> {
        let config = rask_config::try_get()?;
        Scheduler::from_config(&config)
    }

    /// The executor in force (a scoped or default executor, else the
    /// configuration's), as `compute` finds it.
    pub fn in_force() -> Result<Arc<dyn Executor>> {
        rask_core::executor::current()
    }

    /// Wraps any executor.
    pub fn custom(executor: Arc<dyn Executor>) -> Self {
        Scheduler::Custom(executor)
    }

    /// Number of worker threads: 1 for `sync`, the pool size for `threads`,
    /// and `None` for a custom executor.
    pub fn workers(&self) -> Option<usize> {
        match self {
            Scheduler::Sync(_) => Some(1),
            Scheduler::Threads(t) => Some(t.threads()),
            Scheduler::Custom(_) => None,
        }
    }

    /// A short name: `"sync"`, `"threads"`, or the custom executor's name.
    pub fn name(&self) -> &str {
        self.executor().name()
    }

    fn executor(&self) -> &dyn Executor {
        match self {
            Scheduler::Sync(e) => e,
            Scheduler::Threads(e) => e,
            Scheduler::Custom(e) => e.as_ref(),
        }
    }

    /// Computes a collection (or a tuple / vector of them, sharing work).
    pub fn compute<C: Collection + ?Sized>(&self, collection: &C) -> Result<C::Output> {
        rask_core::compute::compute_with(collection, self)
    }

    /// Runs a hand-built graph and returns the values of `keys` (like
    /// `dask.get`).
    pub fn get(&self, graph: Graph, keys: &[Key]) -> Result<Vec<Value>> {
        rask_core::compute::get(graph, keys, self)
    }

    /// Runs a plan with `callbacks`, the callbacks registered with
    /// [`callbacks::register`] (a snapshot taken now), and the progress bar
    /// when `config` asks for it.
    pub fn run(
        &self,
        plan: &Plan,
        config: &Config,
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>> {
        let registered = callbacks::snapshot();
        let mut all: Vec<&dyn Callback> = callbacks.to_vec();
        all.extend(registered.iter().map(|cb| cb.as_ref()));
        self.run_with(plan, config, &all, None)
    }

    fn run_with(
        &self,
        plan: &Plan,
        config: &Config,
        callbacks: &[&dyn Callback],
        cancel: Option<&CancelToken>,
    ) -> Result<Vec<Value>> {
        let exec = |cbs: &[&dyn Callback]| match cancel {
            Some(c) => self.executor().execute_cancellable(plan, cbs, c),
            None => self.executor().execute(plan, cbs),
        };
        let progress = progress::enabled(config) && !plan.is_empty();
        if !progress {
            return exec(callbacks);
        }
        let mut all: Vec<&dyn Callback> = callbacks.to_vec();
        let counter = ProgressCounter::default();
        all.push(&counter);
        progress::with_progress(plan.len(), config.progress_delay, &counter, || exec(&all))
    }
}

/// As an [`Executor`], a `Scheduler` adds the progress bar but not the
/// registered callbacks: the compute pipeline passes those in.
impl Executor for Scheduler {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
        let config = rask_config::try_get()?;
        self.run_with(plan, &config, callbacks, None)
    }

    fn execute_cancellable(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: &CancelToken,
    ) -> Result<Vec<Value>> {
        let config = rask_config::try_get()?;
        self.run_with(plan, &config, callbacks, Some(cancel))
    }

    fn name(&self) -> &str {
        self.executor().name()
    }

    fn workers(&self) -> Option<usize> {
        Scheduler::workers(self)
    }
}

fn make_sync(_config: &Config) -> Result<Arc<dyn Executor>> {
    Ok(Arc::new(Scheduler::sync()))
}

fn make_threads(config: &Config) -> Result<Arc<dyn Executor>> {
    Ok(Arc::new(Scheduler::threads(config.worker_threads())?))
}

rask_core::register_executor!("sync", make_sync);
rask_core::register_executor!("threads", make_threads);

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheduler::Sync(_) => f.write_str("Scheduler::Sync"),
            Scheduler::Threads(t) => write!(f, "Scheduler::Threads({})", t.threads()),
            Scheduler::Custom(e) => write!(f, "Scheduler::Custom({})", e.name()),
        }
    }
}

impl Default for Scheduler {
    /// The thread pool with one worker per core.
    fn default() -> Self {
        Scheduler::Threads(ThreadsExecutor::per_core())
    }
}
