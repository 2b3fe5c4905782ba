//! # rask — parallel computing for Rust in the spirit of Dask
//!
//! rask runs your existing functions on every core without rewriting them.
//! Wrap calls in [`delayed`](fn@delayed), chain them into a lazy task graph,
//! and compute it: rask culls what is not needed, fuses linear chains, orders
//! tasks so that memory stays low, and runs them on a work-stealing thread
//! pool (or on one thread, for debugging).
//!
//! ```
//! use rask::prelude::*;
//!
//! fn load(i: u64) -> Vec<f64> { (0..1_000).map(|x| ((x * (i + 1)) % 97) as f64).collect() }
//! fn fit(v: &[f64]) -> f64 { v.iter().sum::<f64>() / v.len() as f64 }
//!
//! # fn main() -> rask::Result<()> {
//! let parts: Vec<Delayed<Vec<f64>>> = (0..8).map(|i| rask::delayed(move || load(i))).collect();
//! let fitted: Vec<Delayed<f64>> = parts.iter().map(|p| p.map(|v| fit(&v))).collect();
//! let total: Delayed<f64> = rask::delayed::collect(fitted).map(|xs| xs.iter().sum());
//! let count: Delayed<usize> = rask::delayed::collect(&parts).map(|ps| ps.iter().map(Vec::len).sum());
//!
//! let x: f64 = total.compute()?;                              // threads, one per core
//! let y: f64 = total.compute_with(&rask::Scheduler::sync())?; // one thread, deterministic
//! assert_eq!(x, y);
//! let (t, n) = rask::compute((&total, &count))?;              // shared `load`s run once
//! assert_eq!((t, n), (x, 8_000));
//! let pair = total.zip(&count);                               // Delayed<(f64, usize)>
//! assert_eq!(pair.compute()?, (x, 8_000));
//! let kept = total.persist()?;                                // backed by the computed value
//! assert_eq!(kept.compute()?, x);
//! # Ok(())
//! # }
//! ```
//!
//! ## Map of the crate
//!
//! * [`delayed`](mod@delayed) — lazy calls of ordinary functions.
//! * [`array`](mod@array) — chunked n-d arrays with NumPy semantics.
//! * `dataframe` (cargo feature `dataframe`) — partitioned dataframes on
//!   Polars.
//! * [`distributed`] — clusters: scheduler, workers, clients and futures.
//! * [`compute`], [`compute_with`], [`get`] — run collections or hand-built
//!   graphs.
//! * [`Scheduler`] — `sync`, `threads(n)`, or any [`graph::Executor`].
//! * [`config`] — defaults, `rask.toml`, `RASK_*` environment variables.
//! * [`diagnostics`] — the task and resource profilers and their HTML report.
//! * [`graph`] — keys, graphs, optimizations and ordering, for building graphs
//!   by hand and for writing collections.
//! * [`Error`] — what goes wrong, with the key of the task that failed.

pub use rask_core::{
    Annotations, Collection, Error, Key, Result, SizeOf, TaskError, Value, register_codec,
    register_size, register_type,
};

/// With the `mimalloc` feature, mimalloc is the program's global allocator
/// (see the feature's description in `Cargo.toml`).
#[cfg(all(feature = "mimalloc", not(target_os = "linux")))]
#[global_allocator]
static GLOBAL_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// On Linux, mimalloc with large blocks mapped one by one and a bounded
/// cache of freed ones (see the module).
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
mod big_blocks;
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[global_allocator]
static GLOBAL_ALLOCATOR: big_blocks::Allocator = big_blocks::Allocator;

/// mimalloc's settings for block-sized work, applied before `main`.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[allow(unsafe_code)]
mod allocator_settings {
    /// Freed memory goes back to the system after this many milliseconds
    /// instead of mimalloc's 10: array blocks of several MiB are freed and
    /// allocated again within milliseconds, and every return to the system
    /// costs the kernel zeroing the pages again on the next allocation
    /// (a fifth of the CPU time of a Zarr copy, measured).
    const PURGE_DELAY_MS: std::ffi::c_long = 1000;
    /// `mi_option_purge_delay` in mimalloc 2's `mimalloc.h` (the one after
    /// `mi_option_eager_commit_delay`, 14); the Rust bindings leave it out.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

    /// Hands every page mimalloc holds free back to the system: the hook
    /// rask calls after a compute that held a lot of memory.
    fn collect() {
        super::big_blocks::release();
        // SAFETY: `mi_collect` only frees memory mimalloc holds unused; it
        // is thread-safe.
        unsafe { libmimalloc_sys::mi_collect(true) }
    }

    /// Sets mimalloc's purge delay (milliseconds).
    fn set_purge_delay(ms: std::ffi::c_long) {
        // SAFETY: `mi_option_set` only stores the option's value; it is
        // safe to call at any time, before or after mimalloc starts.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms);
        }
    }

    /// Under memory pressure (a memory limit's spill threshold passed),
    /// freed pages go back to the system at once; otherwise after
    /// [`PURGE_DELAY_MS`], for reuse.
    fn pressure(short: bool) {
        super::big_blocks::pressure(short);
        set_purge_delay(if short { 0 } else { PURGE_DELAY_MS });
    }

    /// [`pressure`] for a user who chose mimalloc's purge delay.
    fn pressure_blocks_only(short: bool) {
        super::big_blocks::pressure(short);
    }

    extern "C" fn apply() {
        rask_memory::set_release_hook(collect);
        // The environment variable, when set, is the user's choice.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            set_purge_delay(PURGE_DELAY_MS);
            rask_memory::set_pressure_hook(pressure);
        } else {
            rask_memory::set_pressure_hook(pressure_blocks_only);
        }
    }

    /// Runs `apply` as the program starts, as the ELF loader runs the
    /// constructors in `.init_array`.
    // SAFETY: the entry is a plain `extern "C" fn()`, the type the loader
    // calls, and `apply` needs nothing that is set up later.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static APPLY: extern "C" fn() = apply;
}
pub use rask_delayed::{delayed, try_delayed};
pub use rask_local::Scheduler;
/// Memory figures of the threads scheduler: managed, unmanaged and spilled
/// bytes, peaks, spills and reads (see the README's "Memory" section).
pub use rask_local::{MemoryStats, memory_stats};
/// Registers a function for use in other processes (a cluster's workers),
/// with a deterministic key per call.
///
/// Next to the function it adds a module of the same name whose
/// `delayed(args…)` builds a lazy, portable call; each argument is a
/// `&Delayed<T>` or a plain `T` (a `&[T]` parameter takes a `Vec<T>`, a
/// `&str` one a `String`). Argument and result types must implement
/// `Clone` and serde's `Serialize` and `Deserialize`. A function returning
/// `Result<T, E>` gives a `Delayed<T>` whose `Err` fails the task.
/// `#[rask::remote(pure = false)]` gives every call a fresh key (for side
/// effects). Mark functions at module level (not inside another function's
/// body): the registered name is the module path plus the function's name.
///
/// ```
/// #[rask::remote]
/// fn clean(raw: &[f64], limit: f64) -> Vec<f64> {
///     raw.iter().copied().filter(|x| x.abs() < limit).collect()
/// }
///
/// fn main() {
///     let raw = rask::delayed::value(vec![1.0, 50.0, -2.0]);
///     let cleaned = clean::delayed(&raw, 10.0);
///     assert_eq!(cleaned.compute().unwrap(), vec![1.0, -2.0]);
///     assert_eq!(cleaned.key(), clean::delayed(&raw, 10.0).key()); // same work, same key
///     assert!(clean(&[1.0], 2.0).len() == 1); // the function is unchanged
/// }
/// ```
pub use rask_macros::remote;

/// Lazy calls of ordinary Rust functions; see [`Delayed`](delayed::Delayed).
pub mod delayed {
    pub use rask_core::Shared;
    pub use rask_delayed::{
        AnyDelayed, Data, Delayed, IntoArg, collect, collect_shared, delayed, from_kernel,
        try_delayed, value, visualize,
    };
}

/// Chunked n-d arrays with NumPy semantics; see [`Array`](array::Array).
///
/// ```
/// use rask::array::{self, Array};
/// use rask::array::ndarray::Axis;
/// let x: Array<f64> = array::random::uniform(&[400, 300], &[100, 100], 42).unwrap();
/// let col_means = x.mean_axis(Axis(0)).compute().unwrap();
/// assert_eq!(col_means.shape(), &[300]);
/// ```
#[cfg(feature = "array")]
pub mod array {
    pub use rask_array::*;
}

/// Partitioned dataframes on Polars; see
/// [`DataFrame`](dataframe::DataFrame). Needs the cargo feature
/// `dataframe`. Polars itself is [`dataframe::polars`], so your code uses
/// the same version.
///
/// ```
/// use rask::dataframe::{self as dd, DataFrame};
/// use rask::dataframe::polars::prelude::*;
///
/// let pl = df!("kind" => ["a", "b", "a"], "value" => [1.0, 2.0, 4.0]).unwrap();
/// let df: DataFrame = dd::from_polars(pl, 2).unwrap();
/// let out = df.group_by([col("kind")]).agg([col("value").sum().alias("total")]).compute().unwrap();
/// assert_eq!(out.height(), 2);
/// ```
#[cfg(feature = "dataframe")]
pub mod dataframe {
    pub use rask_dataframe::*;
}

/// A cluster: a scheduler, workers and clients, on one machine or many.
///
/// [`LocalCluster`](distributed::LocalCluster) starts one on this machine;
/// [`Client`](distributed::Client) connects to any (`rask scheduler` and
/// `rask worker ADDRESS` start one from the command line). Functions marked
/// `#[rask::remote]` are submitted by name and run on workers; any
/// collection computes there with [`Client::compute`](distributed::Client::compute)
/// or, after [`Client::as_default`](distributed::Client::as_default), with
/// its own `.compute()`. Call [`init`](distributed::init) at the top of
/// `main` so that the cluster can start this program as a worker.
///
/// ```no_run
/// use rask::distributed::{Client, LocalCluster, as_completed};
///
/// #[rask::remote]
/// fn inc(x: &u64) -> u64 { x + 1 }
///
/// fn main() -> rask::Result<()> {
///     rask::distributed::init()?;
///     let cluster = LocalCluster::builder().workers(2).threads_per_worker(1).build()?;
///     let client = cluster.client()?;
///     let f = client.submit(inc, (1u64,))?;
///     assert_eq!(f.result()?, 2);
///     let fs = client.map(inc, 0..100u64)?;
///     for done in as_completed(&fs) {
///         let _x: u64 = done.result()?;
///     }
///     Ok(())
/// }
/// ```
#[cfg(feature = "distributed")]
pub mod distributed {
    pub use rask_distributed::*;
}

/// Profilers and the HTML report: where the time and memory of a compute go.
///
/// ```
/// use rask::diagnostics::{Profiler, report};
/// let prof = Profiler::start();
/// let x = rask::delayed(|| vec![0u8; 1000]).map(|v| v.len());
/// assert_eq!(x.compute().unwrap(), 1000);
/// let prof = prof.finish();
/// assert!(!prof.records().is_empty());
/// let path = std::env::temp_dir().join(format!("rask-facade-profile-{}.html", std::process::id()));
/// report(&path, &prof, None).unwrap();
/// # std::fs::remove_file(&path).ok();
/// ```
pub mod diagnostics {
    pub use rask_core::callbacks::{self, CallbackGuard};
    pub use rask_diagnostics::*;
}

/// Configuration: defaults, `rask.toml`, and `RASK_*` environment variables.
///
/// ```
/// use rask::config::{self, SchedulerKind};
/// let _guard = config::update(|c| c.scheduler = SchedulerKind::Sync);
/// assert_eq!(config::get().scheduler, SchedulerKind::Sync);
/// ```
pub mod config {
    pub use rask_config::*;
}

/// Task graphs by hand, and the pieces collections are built from.
pub mod graph {
    pub use rask_core::{
        Arg, BoxError, Call, CallBody, Callback, CancelToken, Dependents, Deps, DynKernel,
        Executor, Graph, GraphBuilder, Held, Kernel, KernelOp, Op, Plan, PlanOptions, Program,
        Step, Task, TaskFn, TaskId, Tokenizer, fresh_token, register_executor, register_kernel,
    };
    pub use rask_core::{codec, compute as pipeline, executor, kernel, optimize, order, wire};
    pub use rask_local::{ProgressCounter, SyncExecutor, ThreadsExecutor};
}

/// The names most programs need: `use rask::prelude::*;`.
pub mod prelude {
    pub use crate::delayed::Delayed;
    pub use crate::{Collection, Error, Scheduler};
}

/// Computes one collection, or several at once — `compute((&a, &b))` — on the
/// configured scheduler. Work shared between them runs once.
///
/// ```
/// let a = rask::delayed(|| 2);
/// let b = a.map(|x| x * 10);
/// assert_eq!(rask::compute((&a, &b)).unwrap(), (2, 20));
/// ```
pub fn compute<C: Collection>(collection: C) -> Result<C::Output> {
    rask_core::compute::compute(&collection)
}

/// Like [`compute`], on a given scheduler.
///
/// ```
/// let xs: Vec<_> = (0..3).map(|i| rask::delayed(move || i)).collect();
/// assert_eq!(rask::compute_with(&xs, &rask::Scheduler::sync()).unwrap(), vec![0, 1, 2]);
/// ```
pub fn compute_with<C: Collection, E: graph::Executor + ?Sized>(
    collection: C,
    scheduler: &E,
) -> Result<C::Output> {
    rask_core::compute::compute_with(&collection, scheduler)
}

/// Runs a hand-built graph and returns the values of `keys` (Dask's `get`).
///
/// ```
/// use rask::graph::{GraphBuilder, Op};
/// use rask::{Key, Value};
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("x"), Op::value(Value::new(4i32)), vec![]);
/// b.insert(Key::new("sq"), Op::call("square", |a: &[Value]| Ok(Value::new(a[0].get::<i32>(0)?.pow(2)))), vec![Key::new("x")]);
/// let graph = b.build().unwrap();
/// let out = rask::get(graph, &[Key::new("sq")], &rask::Scheduler::sync()).unwrap();
/// assert_eq!(out[0].downcast_ref::<i32>(), Some(&16));
/// ```
pub fn get<E: graph::Executor + ?Sized>(
    graph: graph::Graph,
    keys: &[Key],
    scheduler: &E,
) -> Result<Vec<Value>> {
    rask_core::compute::get(graph, keys, scheduler)
}

/// Writes the graph of a collection as Graphviz DOT.
pub fn visualize<C: Collection>(collection: C, path: impl AsRef<std::path::Path>) -> Result<()> {
    rask_delayed::visualize(&collection, path)
}

/// What `#[rask::remote]` expands to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use rask_core::codec::TypeEntry;
    pub use rask_core::inventory;
    pub use rask_core::kernel::{Kernel, KernelDef, RemoteFn, type_id_of};
    pub use serde;

    use rask_core::{BoxError, TaskError, Value};

    /// Fails unless the task got `n` arguments.
    pub fn check_arity(args: &[Value], n: usize) -> Result<(), TaskError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(TaskError::WrongArity {
                expected: n,
                found: args.len(),
            })
        }
    }

    /// Argument `i` as a `T`.
    pub fn arg<T: std::any::Any>(args: &[Value], i: usize) -> Result<&T, TaskError> {
        args[i].get::<T>(i)
    }

    /// The function's result as a value.
    pub fn output<T: std::any::Any + Send + Sync>(out: T) -> Result<Value, TaskError> {
        Ok(Value::new(out))
    }

    /// A fallible function's result as a value or a task error.
    pub fn output_result<T: std::any::Any + Send + Sync, E: Into<BoxError>>(
        out: Result<T, E>,
    ) -> Result<Value, TaskError> {
        out.map(Value::new).map_err(TaskError::failed)
    }
}
