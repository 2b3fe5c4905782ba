//! The scheduler of rask's distributed runtime, as a pure state machine.
//!
//! [`Scheduler`] holds every task the cluster knows, every worker and every
//! client, and nothing else: no sockets, no threads, no clocks. A server
//! wrapper turns what arrives on the network into [`Event`]s, calls
//! [`Scheduler::handle`] with the time since start, and the scheduler answers
//! through a [`Comm`], which the wrapper turns back into frames. Tests pass a
//! recording `Comm` and simulated workers, so every scheduling decision is
//! checked without a network.
//!
//! # Task states
//!
//! As in Dask's scheduler:
//!
//! | state | meaning |
//! |---|---|
//! | released | known (for lineage), not held, not needed now |
//! | waiting | needed; some inputs are not in memory yet |
//! | queued | a ready root task withheld on the scheduler until a worker has room |
//! | no-worker | ready, but no connected worker may run it (yet) |
//! | processing | sent to a worker (running or in its queue) |
//! | memory | held by one or more workers |
//! | erred | failed; the failure is kept while a client wants it |
//! | forgotten | removed: nothing wants it and nothing depends on it |
//!
//! A task is *needed* while a client wants it or a dependent that is not yet
//! in memory ("active": waiting, queued, no-worker, processing) needs it.
//! Each task counts its active dependents (`waiters`) and its inputs not yet
//! in memory (`waiting_on`), so every transition costs the degree of the
//! task, never a scan. A result nobody needs is freed on its workers at once;
//! a record nothing references is forgotten.
//!
//! # Placement
//!
//! A ready task goes to the worker with the smallest estimated start time:
//! bytes of its inputs that worker lacks divided by
//! [`SchedulerConfig::bandwidth`], plus the work already queued there per
//! thread. Root tasks (no inputs, no restrictions) are *withheld*: a worker
//! gets them only while it has fewer than `ceil(withhold_factor × nthreads)`
//! tasks, the rest wait in the scheduler's priority queue and go out as
//! workers free up, so loading never outruns consumption. On
//! [`Event::Tick`], idle workers steal queued tasks from workers that have
//! more than they can run.
//!
//! # What the scheduler expects of its peers
//!
//! - Each client is told the outcome of each key it wants once:
//!   `InMemory` or `Erred`. A result lost and recomputed is not reported
//!   again; a result lost for good (scattered data) is reported `Erred`
//!   even after `InMemory`. A client that asks again for a key it already
//!   wants (`UpdateGraph` or `Want`) is told again.
//! - A worker that answers a task with `TaskErred` or `MissingData` has
//!   dropped it. `Free` of a task a worker still has queued cancels it; a
//!   result that arrives for a task nobody needs is answered with `Free`.
//! - Scattered values are `processing` on their worker until it confirms
//!   them with `AddKeys`; then they are in memory and reported to the client.
//! - Retirement (the worker's `Retire`, or [`Scheduler::retire_worker`]):
//!   the worker gets no new tasks and finishes what it has; keys only it
//!   holds are copied to the least loaded peers with `Acquire`; once the
//!   peers confirm with `AddKeys` and nothing runs there, it gets `Close`.
//!   With no peer left it is closed at once (its data is recomputed later
//!   if needed).
//! - Messages to one worker leave in the order the scheduler decided them:
//!   pending `Free`s are flushed before a `Compute` or `Store` to it.
//!
//! # Example
//!
//! ```
//! use rask_scheduler::{Scheduler, SchedulerConfig, Event, ClientId, WorkerId, Comm};
//! use rask_protocol::*;
//! use std::time::Duration;
//!
//! #[derive(Default)]
//! struct Log(Vec<String>);
//! impl Comm for Log {
//!     fn to_client(&mut self, c: ClientId, msg: SchedulerToClient, _: Vec<bytes::Bytes>) {
//!         self.0.push(format!("client {}: {msg:?}", c.0));
//!     }
//!     fn to_worker(&mut self, w: WorkerId, msg: SchedulerToWorker, _: Vec<bytes::Bytes>) {
//!         self.0.push(format!("worker {}: {msg:?}", w.0));
//!     }
//! }
//!
//! let mut s = Scheduler::new(SchedulerConfig::default());
//! let mut log = Log::default();
//! let t0 = Duration::ZERO;
//! s.handle(t0, Event::WorkerConnected { worker: WorkerId(0), peer_address: "10.0.0.2:4000".into() }, &mut log);
//! s.handle(t0, Event::Worker { worker: WorkerId(0), msg: WorkerToScheduler::Register {
//!     name: "w0".into(), address: "tcp://10.0.0.2:4001".into(), nthreads: 1,
//!     memory_limit: 0, resources: vec![], pid: 1 }, bulk: vec![] }, &mut log);
//! s.handle(t0, Event::ClientConnected { client: ClientId(0), name: "c".into() }, &mut log);
//! let key = WireKey { name: "inc-1".into(), index: vec![] };
//! s.handle(t0, Event::Client { client: ClientId(0), msg: ClientToScheduler::UpdateGraph {
//!     tasks: vec![SubmittedTask { key: key.clone(), op: vec![1], deps: vec![], order: 0, annotations: None }],
//!     wanted: vec![0], inline_results: false }, bulk: vec![] }, &mut log);
//! assert!(log.0.iter().any(|m| m.starts_with("worker 0: Compute")));
//! s.handle(t0, Event::Worker { worker: WorkerId(0), msg: WorkerToScheduler::TaskFinished {
//!     key, nbytes: 8, tag: "u64".into(), duration_us: 3, inline: None }, bulk: vec![] }, &mut log);
//! assert!(log.0.iter().any(|m| m.starts_with("client 0: InMemory")));
//! assert_eq!(s.stats().memory, 1);
//! ```

mod graph;
mod invariants;
mod scheduler;
pub mod server;
mod task;
mod transitions;
mod workers;

use std::time::Duration;

use bytes::Bytes;
use rask_protocol::{ClientToScheduler, SchedulerToClient, SchedulerToWorker, WorkerToScheduler};

pub use scheduler::Scheduler;
pub use task::TaskState;

/// A client connection, numbered by the server wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u32);

/// A worker connection, numbered by the server wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub u32);

/// Where the scheduler's messages go. The server wrapper implements it with
/// sockets; tests record the messages.
pub trait Comm {
    /// Send `msg` with its bulk frames to a client.
    fn to_client(&mut self, client: ClientId, msg: SchedulerToClient, bulk: Vec<Bytes>);
    /// Send `msg` with its bulk frames to a worker.
    fn to_worker(&mut self, worker: WorkerId, msg: SchedulerToWorker, bulk: Vec<Bytes>);
    /// Drop the connection to a worker (it missed its heartbeats, or it
    /// retired). The scheduler has already forgotten it; no
    /// [`Event::WorkerGone`] is needed afterwards (one is ignored).
    fn close_worker(&mut self, worker: WorkerId, reason: &str) {
        let _ = (worker, reason);
    }
}

/// What happened, as the server wrapper reports it.
#[derive(Debug)]
pub enum Event {
    /// A client finished its handshake.
    ClientConnected {
        /// Its id.
        client: ClientId,
        /// The name from its handshake.
        name: String,
    },
    /// A message from a client.
    Client {
        /// Who sent it.
        client: ClientId,
        /// The message.
        msg: ClientToScheduler,
        /// Its bulk frames.
        bulk: Vec<Bytes>,
    },
    /// A client's connection closed.
    ClientGone {
        /// Who.
        client: ClientId,
    },
    /// A worker finished its handshake (its `Register` message follows).
    WorkerConnected {
        /// Its id.
        worker: WorkerId,
        /// The socket address it connected from, for messages.
        peer_address: String,
    },
    /// A message from a worker.
    Worker {
        /// Who sent it.
        worker: WorkerId,
        /// The message.
        msg: WorkerToScheduler,
        /// Its bulk frames.
        bulk: Vec<Bytes>,
    },
    /// A worker's connection closed.
    WorkerGone {
        /// Who.
        worker: WorkerId,
    },
    /// Time passed: check heartbeats, steal work, move retiring workers' data.
    /// The wrapper sends one every 100 ms or so.
    Tick,
}

/// The scheduler's knobs.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// A task errs with "killed worker" once this many workers died while
    /// running it (default 3).
    pub allowed_failures: u32,
    /// A worker silent this long is considered dead (default 5 s).
    pub worker_ttl: Duration,
    /// Root tasks are withheld beyond `ceil(withhold_factor × nthreads)`
    /// tasks per worker (default 1.1); 0 or less turns withholding off.
    pub withhold_factor: f64,
    /// When tasks are short and their results small, a worker may hold
    /// more root tasks: enough to keep each thread busy for this long
    /// (default 2 ms), so that it never idles for a round trip to the
    /// scheduler between tiny tasks. Zero keeps `withhold_factor` alone.
    pub withhold_window: Duration,
    /// At most this many root tasks per thread under `withhold_window`
    /// (default 64).
    pub withhold_max_per_thread: usize,
    /// `withhold_window` applies only while results average at most this
    /// many bytes (default 256 KiB), so fast tasks that make big results
    /// are still held back.
    pub withhold_small_result: u64,
    /// Results up to this size are sent inline to clients that asked
    /// (default 64 KiB).
    pub inline_limit: u64,
    /// How often [`Event::Tick`] looks for work to steal (default 100 ms).
    pub steal_interval: Duration,
    /// Estimated network bandwidth between workers in bytes per second,
    /// used to weigh moving inputs against waiting (default 100 MB/s).
    pub bandwidth: f64,
    /// Duration assumed for a task before any has finished (default 1 ms).
    pub default_task_duration: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            allowed_failures: 3,
            worker_ttl: Duration::from_secs(5),
            withhold_factor: 1.1,
            withhold_window: Duration::from_millis(2),
            withhold_max_per_thread: 64,
            withhold_small_result: 256 * 1024,
            inline_limit: 64 * 1024,
            steal_interval: Duration::from_millis(100),
            bandwidth: 100e6,
            default_task_duration: Duration::from_millis(1),
        }
    }
}

/// Counts of what the scheduler holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Task records (every state but forgotten).
    pub tasks: u64,
    /// Tasks released (kept for lineage).
    pub released: u64,
    /// Tasks waiting for inputs.
    pub waiting: u64,
    /// Root tasks withheld on the scheduler.
    pub queued: u64,
    /// Ready tasks no connected worker may run.
    pub no_worker: u64,
    /// Tasks sent to workers.
    pub processing: u64,
    /// Tasks held in memory.
    pub memory: u64,
    /// Failed tasks.
    pub erred: u64,
    /// Registered workers.
    pub workers: usize,
    /// Connected clients.
    pub clients: usize,
}
