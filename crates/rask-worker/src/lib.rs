//! The worker of rask's distributed runtime: runs tasks by kernel name,
//! keeps their results and serves them to peers and clients.
//!
//! A worker connects to the scheduler, registers (name, data-server
//! address, threads, memory limit, resources), and then does what the
//! scheduler says: run a task ([`ComputeTask`](rask_protocol::ComputeTask)),
//! drop results, give back a task that has not started, keep values handed
//! to it, fetch values from peers, retire, close. It reports each finished
//! or failed task, and heartbeats every second with its figures.
//!
//! Inside, three parts:
//!
//! * the **state machine** (`state`): which tasks wait for which inputs,
//!   which are ready, which run, what is being fetched from whom — events
//!   in, actions out, no I/O;
//! * the **task threads** (`execute`): `nthreads` OS threads that decode a
//!   task's operation, run it, and catch its panics;
//! * the **network** (`runtime`, `peer`): a tokio runtime on a thread of its
//!   own that talks to the scheduler, fetches inputs from peers (batched
//!   per peer, a few requests in flight per peer), and runs the data
//!   server that answers peers' and clients' `GetData`.
//!
//! Start one in-process with [`Worker::start`], or run one to completion
//! with [`run`] (the `rask worker` command) or [`run_from_env`] (a user's
//! program started as a worker by a cluster).
//!
//! ```no_run
//! use rask_worker::{Worker, WorkerOptions};
//!
//! let worker = Worker::start(WorkerOptions {
//!     nthreads: 2,
//!     ..WorkerOptions::new("tcp://127.0.0.1:8786")
//! })?;
//! println!("worker {} serves data at {}", worker.name(), worker.address());
//! worker.wait()?; // until the scheduler closes it
//! # Ok::<(), rask_worker::WorkerError>(())
//! ```

mod error;
mod execute;
mod options;
mod peer;
mod runtime;
mod scheduler_file;
mod state;
mod store;
pub mod supervisor;

pub use error::{Result, WorkerError};
pub use options::{WorkerOptions, auto_memory_limit, parse_memory_limit};
pub use runtime::{Worker, WorkerHandle};

/// Runs a worker until the scheduler closes it (blocking); for the
/// `rask worker` command.
///
/// SIGTERM or SIGINT (Ctrl-C) asks the scheduler to retire the worker: its
/// data moves to peers, then the scheduler closes it and `run` returns
/// `Ok`. A second signal stops it at once.
///
/// # Errors
///
/// Those of [`Worker::start`], and [`WorkerError::SchedulerLost`] when the
/// connection to the scheduler breaks.
pub fn run(opts: WorkerOptions) -> Result<()> {
    runtime::start(opts, true)?.wait()
}

/// Runs this process as a worker when a cluster launched it as one.
///
/// When the environment variable `RASK_WORKER_SCHEDULER` is set (to the
/// scheduler's address), runs a worker to completion and returns
/// `Some(result)`; otherwise returns `None` at once. The worker's options
/// come from the environment too: `RASK_WORKER_NTHREADS`,
/// `RASK_WORKER_NAME`, `RASK_WORKER_MEMORY_LIMIT` (like `4 GiB`),
/// `RASK_WORKER_LISTEN`, `RASK_WORKER_CONTACT_ADDRESS` and `RASK_TOKEN`.
///
/// With `RASK_WORKER_SUPERVISE=1` too (a `LocalCluster` of processes sets
/// it), this process becomes the worker's supervisor instead
/// ([`supervisor`]): it starts this program again, with the same arguments,
/// as the worker, and restarts it when it uses more than
/// `memory.terminate` of its memory limit or crashes.
///
/// This backs `rask::distributed::init()`: called at the top of a user's
/// `main`, it turns the program into a worker that knows the program's own
/// `#[rask::remote]` functions.
///
/// ```
/// // Not launched as a worker: nothing happens.
/// if std::env::var_os("RASK_WORKER_SCHEDULER").is_none() {
///     assert!(rask_worker::run_from_env().is_none());
/// }
/// ```
pub fn run_from_env() -> Option<Result<()>> {
    let (vars, not_unicode) = rask_vars(std::env::vars_os());
    if vars.iter().any(|(k, _)| k == "RASK_WORKER_SCHEDULER")
        && let Some(name) = not_unicode
    {
        return Some(Err(WorkerError::InvalidOption {
            what: name,
            message: "its value is not valid UTF-8; set it to text".into(),
        }));
    }
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let supervise =
        get(supervisor::SUPERVISE_ENV) == Some("1") && get(supervisor::SUPERVISED_ENV) != Some("1");
    let opts = WorkerOptions::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if !supervise {
        return Some(opts.and_then(run));
    }
    Some(opts.and_then(|opts| {
        let program = std::env::current_exe().map_err(|e| {
            WorkerError::Supervisor(format!("cannot find this program to start its worker: {e}"))
        })?;
        let mut s = supervisor::SupervisorOptions::new(program);
        s.args = std::env::args_os().skip(1).collect();
        s.memory_limit = opts.memory_limit;
        s.terminate = terminate_fraction()?;
        supervisor::supervise(s)
    }))
}

/// `memory.terminate` from the configuration: the fraction of a worker's
/// memory limit above which its supervisor restarts it.
///
/// # Errors
///
/// [`WorkerError::InvalidOption`] when the `memory.*` settings are invalid.
pub fn terminate_fraction() -> Result<f64> {
    rask_memory::MemoryPolicy::from_config(&rask_config::get())
        .map(|p| p.terminate)
        .map_err(|e| WorkerError::InvalidOption {
            what: "memory thresholds".into(),
            message: e.to_string(),
        })
}

/// This process's resident set size in bytes (0 where it cannot be read).
pub(crate) fn rss_bytes() -> u64 {
    // VmRSS is resident pages × page size, in kB.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The `RASK_*` variables of `vars` (the only ones a worker reads), and
/// the name of one whose value is not UTF-8, if any. Other variables may
/// hold any bytes: reading them all as text (`std::env::vars`) panics on
/// the first that is not.
fn rask_vars(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> (Vec<(String, String)>, Option<String>) {
    let mut out = Vec::new();
    let mut not_unicode = None;
    for (k, v) in vars {
        let Some(k) = k.to_str().filter(|k| k.starts_with("RASK_")) else {
            continue;
        };
        match v.into_string() {
            Ok(v) => out.push((k.to_string(), v)),
            Err(_) => not_unicode = Some(k.to_string()),
        }
    }
    (out, not_unicode)
}

#[cfg(test)]
mod env_tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn variables_that_are_not_text_are_skipped_or_named() {
        let bytes = |b: &[u8]| OsString::from_vec(b.to_vec());
        let (vars, bad) = super::rask_vars([
            (bytes(b"OTHER"), bytes(b"\xff\xfe")),
            (bytes(b"\xffKEY"), bytes(b"x")),
            (bytes(b"RASK_WORKER_SCHEDULER"), bytes(b"tcp://h:1")),
            (bytes(b"RASK_WORKER_NAME"), bytes(b"\xff")),
        ]);
        assert_eq!(
            vars,
            vec![("RASK_WORKER_SCHEDULER".to_string(), "tcp://h:1".to_string())]
        );
        assert_eq!(bad.as_deref(), Some("RASK_WORKER_NAME"));
    }
}
