//! The messages of the distributed runtime, one enum per direction.
//!
//! Keys travel as [`WireKey`]s. Values travel as bulk frames beside the
//! message: a message names them with [`BulkRef`]s (a frame position, the
//! value's type tag and its size), and the frames themselves are the bytes
//! of [`rask_core::Value::encode`]. A task's operation travels as the
//! postcard bytes of a [`rask_core::wire::WireOp`]; the scheduler never
//! decodes them (it does not need the kernels), it hands them to the worker
//! that runs the task.
//!
//! Who talks to whom:
//!
//! | from → to | message enum |
//! |---|---|
//! | client → scheduler | [`ClientToScheduler`] |
//! | scheduler → client | [`SchedulerToClient`] |
//! | worker → scheduler | [`WorkerToScheduler`] |
//! | scheduler → worker | [`SchedulerToWorker`] |
//! | client or worker → worker (data) | [`PeerRequest`] / [`PeerReply`] |

use rask_core::Annotations;
pub use rask_core::wire::WireKey;
use serde::{Deserialize, Serialize};

/// Version of this protocol; peers with another version are refused.
///
/// History: 2 added [`WorkerToScheduler::MemoryRestart`] and
/// [`FailureKind::Memory`] (a worker's supervisor restarting it above its
/// memory limit); 3 added the keys of [`SchedulerToClient::Error`].
pub const PROTOCOL_VERSION: u32 = 3;

/// What the connecting side is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A client (submits work, holds futures).
    Client,
    /// A worker registering with the scheduler.
    Worker,
    /// A client or worker asking a worker for data.
    Peer,
}

/// The first message on every connection, from the connecting side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The sender's build fingerprint (rask version, compiler, target); a
    /// different build may encode values or kernels differently.
    pub build: String,
    /// The shared auth token (`RASK_TOKEN` / config `token`); empty for none.
    pub token: String,
    /// What the sender is.
    pub role: Role,
    /// A name for messages and the dashboard (worker name, client id).
    pub name: String,
}

/// The answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HelloReply {
    /// Accepted.
    Welcome {
        /// The accepting side's name (scheduler id or worker name).
        name: String,
    },
    /// Refused; `reason` says which check failed and what to do.
    Refused {
        /// The reason, meant for people.
        reason: String,
    },
}

/// A value that travels as a bulk frame beside the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRef {
    /// Position of the frame among the message's bulk frames.
    pub frame: u32,
    /// The value's type tag ([`rask_core::codec`]).
    pub tag: String,
}

/// A task as a client submits it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmittedTask {
    /// Its key. A key the scheduler already knows (in memory or in flight)
    /// is the same work: the scheduler keeps the existing task.
    pub key: WireKey,
    /// Its operation: the postcard bytes of a [`rask_core::wire::WireOp`].
    pub op: Vec<u8>,
    /// Its dependencies. `Local(i)` is task `i` of the same submission;
    /// `Known(key)` is a key the scheduler already holds (a persisted or
    /// scattered result).
    pub deps: Vec<DepRef>,
    /// Its rank in the submission's static order (lower runs first).
    pub order: u32,
    /// Its annotations, if any.
    pub annotations: Option<Annotations>,
}

/// A dependency of a [`SubmittedTask`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DepRef {
    /// Task at this position of the same submission.
    Local(u32),
    /// A key the scheduler already has.
    Known(WireKey),
}

/// Why a key failed, as the scheduler and workers report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The task itself failed (an error returned or a panic).
    Task,
    /// A dependency failed; `message` names it.
    Dependency,
    /// The task was running on workers that died this many times.
    KilledWorker,
    /// The task's kernel or a value's codec is not in the worker's build.
    Missing,
    /// Cancelled by a client.
    Cancelled,
    /// The data was lost and cannot be recomputed (a scattered value whose
    /// worker died).
    Lost,
    /// The task was running on workers that their supervisors restarted
    /// for using too much memory, this many times; `message` gives the
    /// figure and the limit.
    Memory,
}

/// A failure of one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The key that failed.
    pub key: WireKey,
    /// The operation's display name.
    pub op: String,
    /// What kind of failure.
    pub kind: FailureKind,
    /// The cause, meant for people (a task's error text, with a panic's
    /// location; "killed 3 workers: …").
    pub message: String,
    /// The worker where it happened, if any.
    pub worker: Option<String>,
}

/// Messages from a client to the scheduler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientToScheduler {
    /// New work. The client wants (holds futures for) the tasks at
    /// positions `wanted`; the scheduler reports each of them with
    /// [`SchedulerToClient::InMemory`] or [`SchedulerToClient::Erred`].
    UpdateGraph {
        /// The tasks, in dependency-respecting order or not.
        tasks: Vec<SubmittedTask>,
        /// Positions of the tasks the client wants.
        wanted: Vec<u32>,
        /// Whether the client wants small results sent inline with the
        /// report (saves a round trip to the worker).
        inline_results: bool,
    },
    /// Keys the client wants that it already knows (futures copied or
    /// re-requested).
    Want {
        /// The keys.
        keys: Vec<WireKey>,
    },
    /// The client no longer wants these keys (its last future dropped).
    Release {
        /// The keys.
        keys: Vec<WireKey>,
    },
    /// Cancel these keys: unless another client wants them, they and the
    /// work only they need are dropped and reported as cancelled.
    Cancel {
        /// The keys.
        keys: Vec<WireKey>,
    },
    /// Store values on workers. The values are bulk frames; each key is
    /// then in memory and wanted by this client.
    Scatter {
        /// The keys and their frames.
        values: Vec<(WireKey, BulkRef)>,
        /// Store every value on every worker.
        broadcast: bool,
    },
    /// Which workers hold these keys; answered with
    /// [`SchedulerToClient::WhoHas`].
    WhoHas {
        /// The keys.
        keys: Vec<WireKey>,
    },
    /// Ask for the cluster's state; answered with [`SchedulerToClient::Info`].
    Info,
    /// The client is leaving; everything it wanted is released.
    Close,
}

/// One worker as the scheduler describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its name.
    pub name: String,
    /// The address peers and clients fetch data from.
    pub address: String,
    /// Its thread count.
    pub nthreads: u32,
    /// Its memory limit in bytes (0: none).
    pub memory_limit: u64,
    /// Bytes of results it holds.
    pub managed_bytes: u64,
    /// Tasks it is running or has queued.
    pub processing: u32,
}

/// Messages from the scheduler to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SchedulerToClient {
    /// A wanted key is in memory.
    InMemory {
        /// The key.
        key: WireKey,
        /// Its size in bytes.
        nbytes: u64,
        /// Its type tag.
        tag: String,
        /// The value itself, when small enough and asked for inline.
        inline: Option<BulkRef>,
        /// Addresses of the workers that hold it.
        who_has: Vec<String>,
    },
    /// A wanted key failed.
    Erred(Failure),
    /// The answer to [`ClientToScheduler::WhoHas`].
    WhoHas {
        /// Per key, the addresses of workers holding it (empty: none).
        entries: Vec<(WireKey, Vec<String>)>,
    },
    /// The answer to [`ClientToScheduler::Info`].
    Info {
        /// The scheduler's address.
        address: String,
        /// The workers.
        workers: Vec<WorkerInfo>,
        /// Tasks the scheduler knows.
        tasks: u64,
    },
    /// A request could not be served (a graph refused, a key unknown).
    Error {
        /// What went wrong, meant for people.
        message: String,
        /// The keys whose futures the refusal fails (those the request
        /// wanted); other futures of the client are not concerned. `None`:
        /// the error cannot be tied to keys, and the client fails every
        /// future still waiting, so that none waits for ever.
        keys: Option<Vec<WireKey>>,
    },
    /// The scheduler is shutting down.
    Closing {
        /// Why.
        reason: String,
    },
}

/// A dependency of a task a worker is asked to run: where to find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepLocation {
    /// The key.
    pub key: WireKey,
    /// Its size in bytes.
    pub nbytes: u64,
    /// Addresses of workers holding it (may include the receiver itself).
    pub who_has: Vec<String>,
}

/// A task a worker should run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComputeTask {
    /// Its key.
    pub key: WireKey,
    /// Its operation: postcard bytes of a [`rask_core::wire::WireOp`].
    pub op: Vec<u8>,
    /// Its inputs in argument order, with where they are.
    pub deps: Vec<DepLocation>,
    /// Run-order among the worker's ready tasks: smaller first.
    pub priority: (i64, u64, u32),
    /// Abstract resources it holds while running.
    pub resources: Vec<(String, f64)>,
    /// Send the result inline with [`WorkerToScheduler::TaskFinished`] when
    /// it is at most this many bytes (0: never).
    pub inline_limit: u64,
}

/// Messages from the scheduler to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SchedulerToWorker {
    /// Run a task.
    Compute(ComputeTask),
    /// Drop these results (nobody needs them any more) and forget these
    /// tasks if still queued.
    Free {
        /// The keys.
        keys: Vec<WireKey>,
    },
    /// Give this queued task back if it has not started; answered with
    /// [`WorkerToScheduler::StealReply`].
    Steal {
        /// The key.
        key: WireKey,
    },
    /// Keep these values (scattered by a client or handed over by a
    /// retiring peer); the values are bulk frames.
    Store {
        /// The keys and their frames.
        values: Vec<(WireKey, BulkRef)>,
    },
    /// Fetch these keys from the given peers and keep them (replication,
    /// or a retiring worker's data moving here).
    Acquire {
        /// The keys and where they are.
        keys: Vec<DepLocation>,
    },
    /// Retiring: take no more tasks. The scheduler moves the worker's data
    /// to peers (with [`SchedulerToWorker::Acquire`] to them) and then sends
    /// `Close`.
    Retire,
    /// Shut down now.
    Close {
        /// Why.
        reason: String,
    },
}

/// A worker's periodic report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerMetrics {
    /// Bytes of results held in memory.
    pub managed_bytes: u64,
    /// Bytes of results spilled to disk.
    pub spilled_bytes: u64,
    /// Process resident set size in bytes.
    pub rss: u64,
    /// Tasks running now.
    pub executing: u32,
    /// Tasks ready or waiting for inputs.
    pub queued: u32,
}

/// Why a worker is about to stop: its supervisor (the process that
/// started it) found its memory over the terminate threshold and restarts
/// it. Sent by the worker just before it exits; the scheduler counts the
/// restart against the tasks in `executing` only (queued tasks are moved
/// elsewhere without blame).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryRestart {
    /// The worker's resident set size the supervisor measured, in bytes.
    pub rss: u64,
    /// The worker's memory limit in bytes.
    pub limit: u64,
    /// The terminate threshold as a fraction of `limit` (`memory.terminate`,
    /// 0.95 by default).
    pub fraction: f64,
    /// The tasks running on its threads at that moment.
    pub executing: Vec<WireKey>,
}

/// Messages from a worker to the scheduler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkerToScheduler {
    /// The first message after the handshake.
    Register {
        /// The worker's name (unique in the cluster).
        name: String,
        /// The address its data server listens on.
        address: String,
        /// Threads that run tasks.
        nthreads: u32,
        /// Memory limit in bytes (0: none).
        memory_limit: u64,
        /// Abstract resources it offers, like `("GPU", 1.0)`.
        resources: Vec<(String, f64)>,
        /// Its process id (for messages about it).
        pid: u32,
    },
    /// Alive; sent about every second.
    Heartbeat(WorkerMetrics),
    /// A task finished; its result is held here.
    TaskFinished {
        /// The key.
        key: WireKey,
        /// The result's size in bytes.
        nbytes: u64,
        /// The result's type tag ("" when the type has no codec).
        tag: String,
        /// Microseconds it ran.
        duration_us: u64,
        /// The result, when asked for inline and small enough.
        inline: Option<BulkRef>,
    },
    /// A task failed.
    TaskErred(Failure),
    /// Inputs of `key` could not be fetched from the workers named; the
    /// scheduler corrects who-has and reschedules.
    MissingData {
        /// The task that needed them.
        key: WireKey,
        /// The missing inputs and the addresses that did not have them.
        missing: Vec<(WireKey, Vec<String>)>,
    },
    /// The answer to [`SchedulerToWorker::Steal`].
    StealReply {
        /// The key.
        key: WireKey,
        /// Whether it was given back (it had not started).
        released: bool,
    },
    /// Keys now held here that the scheduler did not place (after
    /// [`SchedulerToWorker::Acquire`] or `Store`).
    AddKeys {
        /// The keys with their sizes and tags.
        keys: Vec<(WireKey, u64, String)>,
    },
    /// Keys this worker no longer holds (freed or lost).
    RemovedKeys {
        /// The keys.
        keys: Vec<WireKey>,
    },
    /// The worker wants to leave (it was asked to stop, say by SIGTERM):
    /// the scheduler moves its data to peers, then sends
    /// [`SchedulerToWorker::Close`].
    Retire,
    /// The worker's supervisor is restarting it for memory; the connection
    /// closes right after. Since protocol version 2.
    MemoryRestart(MemoryRestart),
}

/// A request to a worker's data server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Send these values.
    GetData {
        /// The keys.
        keys: Vec<WireKey>,
    },
}

/// The answer of a worker's data server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerReply {
    /// The values found (as bulk frames) and the keys not held here.
    Data {
        /// The values found.
        values: Vec<(WireKey, BulkRef)>,
        /// The keys not held here.
        missing: Vec<WireKey>,
    },
    /// Too many transfers in flight; ask again later.
    Busy,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(t: T) {
        let bytes = postcard::to_allocvec(&t).unwrap();
        assert_eq!(postcard::from_bytes::<T>(&bytes).unwrap(), t);
    }

    #[test]
    fn messages_roundtrip() {
        let key = WireKey {
            name: "inc-1f".into(),
            index: vec![0, 3],
        };
        roundtrip(ClientToScheduler::UpdateGraph {
            tasks: vec![SubmittedTask {
                key: key.clone(),
                op: vec![1, 2, 3],
                deps: vec![DepRef::Local(0), DepRef::Known(key.clone())],
                order: 4,
                annotations: Some(Annotations::default().retries(2)),
            }],
            wanted: vec![0],
            inline_results: true,
        });
        roundtrip(SchedulerToWorker::Compute(ComputeTask {
            key: key.clone(),
            op: vec![9],
            deps: vec![DepLocation {
                key: key.clone(),
                nbytes: 8,
                who_has: vec!["tcp://10.0.0.2:4000".into()],
            }],
            priority: (-1, 2, 3),
            resources: vec![],
            inline_limit: 65536,
        }));
        roundtrip(WorkerToScheduler::TaskErred(Failure {
            key,
            op: "inc".into(),
            kind: FailureKind::Task,
            message: "boom".into(),
            worker: Some("w0".into()),
        }));
        roundtrip(WorkerToScheduler::MemoryRestart(MemoryRestart {
            rss: 190 << 20,
            limit: 200 << 20,
            fraction: 0.95,
            executing: vec![WireKey {
                name: "hog-2a".into(),
                index: vec![],
            }],
        }));
    }
}
