//! Local schedulers of rask.
//!
//! * [`SyncExecutor`] — one thread, tasks in priority order; deterministic,
//!   for debugging.
//! * [`ThreadsExecutor`] — one OS thread per core with work stealing; the
//!   default.
//!
//! [`Scheduler`] picks one of them (or any other [`Executor`]) and runs the
//! whole compute pipeline: build the graph of a [`Collection`], optimize it
//! into a [`Plan`], run it with the progress bar when the configuration asks
//! for one, and turn the values back into the collection's result.
//!
//! [`callbacks::register`] attaches a [`Callback`] (a profiler, say) to every
//! run for as long as its guard lives.

pub mod callbacks;
mod progress;
mod sync;
mod threads;

use std::sync::Arc;

use rask_config::{Config, SchedulerKind};
use rask_core::{
    Callback, Collection, Error, Executor, Graph, GraphBuilder, Key, Plan, PlanOptions, Result,
    Value,
};

pub use progress::ProgressCounter;
pub use sync::SyncExecutor;
pub use threads::ThreadsExecutor;

/// Which executor runs a compute.
///
/// Scheduler flavours are an enum: the two local ones, plus any other
/// [`Executor`] (the distributed client will be one).
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
        collection.validate()?;
        let config = rask_config::try_get()?;
        let mut builder = GraphBuilder::new();
        let mut keys = Vec::new();
        collection.add_to_graph(&mut builder, &mut keys);
        let plan = Plan::new(builder, &keys, PlanOptions { fuse: config.fuse })?;
        let values = self.run(&plan, &config, &[])?;
        let mut values = values.into_iter();
        let out = collection.finalize(&mut values)?;
        if values.next().is_some() {
            return Err(Error::Scheduler(
                "internal error: a collection did not consume all of its outputs".into(),
            ));
        }
        Ok(out)
    }

    /// Runs a hand-built graph and returns the values of `keys` (like
    /// `dask.get`).
    pub fn get(&self, graph: Graph, keys: &[Key]) -> Result<Vec<Value>> {
        let config = rask_config::try_get()?;
        let ids = graph.ids_of(keys)?;
        let plan = Plan::from_graph(graph, &ids, PlanOptions { fuse: config.fuse });
        self.run(&plan, &config, &[])
    }

    /// Runs a plan with extra callbacks, adding the callbacks registered
    /// with [`callbacks::register`] (a snapshot taken now) and the progress
    /// bar when `config` asks for it.
    pub fn run(
        &self,
        plan: &Plan,
        config: &Config,
        callbacks: &[&dyn Callback],
    ) -> Result<Vec<Value>> {
        let registered = callbacks::snapshot();
        let progress = progress::enabled(config) && !plan.is_empty();
        if registered.is_empty() && !progress {
            return self.executor().execute(plan, callbacks);
        }
        let mut all: Vec<&dyn Callback> = callbacks.to_vec();
        all.extend(registered.iter().map(|cb| cb.as_ref()));
        if !progress {
            return self.executor().execute(plan, &all);
        }
        let counter = ProgressCounter::default();
        all.push(&counter);
        progress::with_progress(plan.len(), config.progress_delay, &counter, || {
            self.executor().execute(plan, &all)
        })
    }
}

impl Executor for Scheduler {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
        self.executor().execute(plan, callbacks)
    }

    fn name(&self) -> &str {
        self.executor().name()
    }
}

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
