//! Task records, kept in an arena and addressed by `u32` ids.
//!
//! A forgotten task's slot is reused by the next new task; its id is only
//! valid while the key is in the scheduler's key map. Per task the scheduler
//! keeps no strings beyond the key (a `rask_core::Key`, 32 bytes, names
//! shared) and the opaque op bytes; type tags are interned.

use std::sync::Arc;

use rask_core::Key;
use rask_protocol::Failure;
use rustc_hash::FxHashSet;

use crate::{ClientId, WorkerId};

/// Index of a task record in the arena.
pub(crate) type TaskId = u32;

/// Run order: smaller first. `(-(annotation priority), submission
/// generation, order within the submission)`.
pub(crate) type Priority = (i64, u64, u32);

/// The state of a task; see the crate docs for the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Known for lineage, not held, not needed now.
    Released,
    /// Needed; some inputs are not in memory yet.
    Waiting,
    /// A ready root task withheld on the scheduler.
    Queued,
    /// Ready, but no connected worker may run it.
    NoWorker,
    /// Sent to a worker.
    Processing,
    /// Held by one or more workers.
    Memory,
    /// Failed.
    Erred,
    /// Removed (a record in this state is a free arena slot).
    Forgotten,
}

impl TaskState {
    /// Whether a task in this state still needs its inputs.
    pub(crate) fn is_active(self) -> bool {
        matches!(
            self,
            TaskState::Waiting | TaskState::Queued | TaskState::NoWorker | TaskState::Processing
        )
    }
}

/// Where a task may run.
#[derive(Debug)]
pub(crate) struct Restrictions {
    /// Abstract resources it needs, like `("GPU", 1.0)`.
    pub resources: Vec<(String, f64)>,
    /// Allowed workers by name or address; empty is any.
    pub workers: Vec<String>,
}

/// One client's interest in a task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Want {
    pub client: ClientId,
    /// Whether this client has been told the outcome (so it is told once).
    pub told: bool,
}

/// A set of task ids: a vector while small, a hash set once large, so a
/// task with a million dependents does not make removal quadratic.
#[derive(Debug)]
pub(crate) enum IdSet {
    Small(Vec<TaskId>),
    Large(FxHashSet<TaskId>),
}

const SMALL_SET: usize = 32;

impl Default for IdSet {
    fn default() -> Self {
        IdSet::Small(Vec::new())
    }
}

impl IdSet {
    pub fn insert(&mut self, id: TaskId) {
        match self {
            IdSet::Small(v) => {
                if v.contains(&id) {
                    return;
                }
                if v.len() < SMALL_SET {
                    v.push(id);
                } else {
                    let mut s: FxHashSet<TaskId> = v.drain(..).collect();
                    s.insert(id);
                    *self = IdSet::Large(s);
                }
            }
            IdSet::Large(s) => {
                s.insert(id);
            }
        }
    }

    pub fn remove(&mut self, id: TaskId) {
        match self {
            IdSet::Small(v) => {
                if let Some(i) = v.iter().position(|&x| x == id) {
                    v.swap_remove(i);
                }
            }
            IdSet::Large(s) => {
                s.remove(&id);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            IdSet::Small(v) => v.is_empty(),
            IdSet::Large(s) => s.is_empty(),
        }
    }

    /// The ids, copied into `out` (cleared first), in a deterministic order.
    pub fn copy_into(&self, out: &mut Vec<TaskId>) {
        out.clear();
        match self {
            IdSet::Small(v) => out.extend_from_slice(v),
            IdSet::Large(s) => {
                out.extend(s.iter().copied());
                out.sort_unstable();
            }
        }
    }
}

/// One task.
#[derive(Debug)]
pub(crate) struct Task {
    pub key: Key,
    /// The op bytes, forwarded to the worker; empty for scattered data.
    pub op: Vec<u8>,
    /// Scattered data: no op, cannot be recomputed.
    pub scattered: bool,
    /// Distinct inputs, in order of first use.
    pub deps: Box<[TaskId]>,
    /// The arguments as positions in `deps`, when they differ from `deps`
    /// (an input used twice).
    pub args: Option<Box<[u32]>>,
    pub dependents: IdSet,
    pub priority: Priority,
    pub restrictions: Option<Box<Restrictions>>,
    pub retries_left: u32,
    /// Workers that died while running it.
    pub failures: u32,
    pub who_has: Vec<WorkerId>,
    pub nbytes: u64,
    /// Interned type tag.
    pub tag: u32,
    pub wanted_by: Vec<Want>,
    pub state: TaskState,
    pub processing_on: Option<WorkerId>,
    /// Distinct inputs not in memory (meaningful while waiting).
    pub waiting_on: u32,
    /// Active dependents.
    pub waiters: u32,
    /// Traversal stamp.
    pub visit: u32,
    /// Why it erred (the root cause; dependents share it).
    pub cause: Option<Arc<Failure>>,
}

impl Task {
    pub fn blank() -> Task {
        Task {
            key: Key::new(""),
            op: Vec::new(),
            scattered: false,
            deps: Box::default(),
            args: None,
            dependents: IdSet::default(),
            priority: (0, 0, 0),
            restrictions: None,
            retries_left: 0,
            failures: 0,
            who_has: Vec::new(),
            nbytes: 0,
            tag: 0,
            wanted_by: Vec::new(),
            state: TaskState::Forgotten,
            processing_on: None,
            waiting_on: 0,
            waiters: 0,
            visit: 0,
            cause: None,
        }
    }
}
