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
/// generation, order within the submission)`; widened to the protocol's
/// `(i64, u64, u32)` in `ComputeTask`.
pub(crate) type Priority = (i32, u32, u32);

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
    Large(Box<FxHashSet<TaskId>>),
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
                    *self = IdSet::Large(Box::new(s));
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

/// A list that holds one element without allocating (most results have
/// one holder, most tasks one wanting client).
#[derive(Debug, Clone)]
pub(crate) enum SmallList<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for SmallList<T> {
    fn default() -> Self {
        SmallList::Many(Vec::new())
    }
}

impl<T> std::ops::Deref for SmallList<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            SmallList::One(x) => std::slice::from_ref(x),
            SmallList::Many(v) => v,
        }
    }
}

impl<T> std::ops::DerefMut for SmallList<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            SmallList::One(x) => std::slice::from_mut(x),
            SmallList::Many(v) => v,
        }
    }
}

impl<T> SmallList<T> {
    pub fn push(&mut self, x: T) {
        match std::mem::take(self) {
            SmallList::Many(v) if v.is_empty() => *self = SmallList::One(x),
            SmallList::Many(mut v) => {
                v.push(x);
                *self = SmallList::Many(v);
            }
            SmallList::One(a) => *self = SmallList::Many(vec![a, x]),
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match self {
            SmallList::One(x) => {
                if !keep(x) {
                    *self = SmallList::default();
                }
            }
            SmallList::Many(v) => v.retain(keep),
        }
    }

    pub fn swap_remove(&mut self, i: usize) {
        match self {
            SmallList::One(_) => *self = SmallList::default(),
            SmallList::Many(v) => {
                v.swap_remove(i);
            }
        }
    }
}

/// One task.
#[derive(Debug)]
pub(crate) struct Task {
    pub key: Key,
    /// The op bytes, forwarded to the worker; empty for scattered data.
    pub op: Box<[u8]>,
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
    pub who_has: SmallList<WorkerId>,
    pub nbytes: u64,
    /// Interned type tag.
    pub tag: u32,
    pub wanted_by: SmallList<Want>,
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
            op: Box::default(),
            scattered: false,
            deps: Box::default(),
            args: None,
            dependents: IdSet::default(),
            priority: (0, 0, 0),
            restrictions: None,
            retries_left: 0,
            failures: 0,
            who_has: SmallList::default(),
            nbytes: 0,
            tag: 0,
            wanted_by: SmallList::default(),
            state: TaskState::Forgotten,
            processing_on: None,
            waiting_on: 0,
            waiters: 0,
            visit: 0,
            cause: None,
        }
    }
}

/// Key → task id, storing only the 4-byte id: the key itself lives in the
/// task record, so a million keys cost ~10 MB here instead of ~80 MB.
#[derive(Default)]
pub(crate) struct KeyIndex {
    table: hashbrown::HashTable<TaskId>,
    hasher: rustc_hash::FxBuildHasher,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyIndex({} keys)", self.table.len())
    }
}

impl KeyIndex {
    fn hash(&self, key: &Key) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    pub fn get(&self, key: &Key, tasks: &[Task]) -> Option<TaskId> {
        self.table
            .find(self.hash(key), |&t| tasks[t as usize].key == *key)
            .copied()
    }

    /// Look a wire key up without building a `Key` (no allocation). Hashes
    /// exactly as `Key`'s `Hash` does: name bytes, `0xff`, the index slice.
    pub fn get_wire(&self, key: &rask_protocol::WireKey, tasks: &[Task]) -> Option<TaskId> {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        h.write(key.name.as_bytes());
        h.write_u8(0xff);
        key.index.as_slice().hash(&mut h);
        self.table
            .find(h.finish(), |&t| {
                let k = &tasks[t as usize].key;
                k.name() == key.name && k.index() == key.index.as_slice()
            })
            .copied()
    }

    /// Add `t`, whose record (with its key) is already in `tasks`.
    pub fn insert(&mut self, t: TaskId, tasks: &[Task]) {
        let h = self.hash(&tasks[t as usize].key);
        let hasher = &self.hasher;
        self.table.insert_unique(h, t, |&x| {
            use std::hash::BuildHasher;
            hasher.hash_one(&tasks[x as usize].key)
        });
    }

    /// Remove `t`; call before its record is cleared.
    pub fn remove(&mut self, t: TaskId, tasks: &[Task]) {
        let h = self.hash(&tasks[t as usize].key);
        if let Ok(e) = self.table.find_entry(h, |&x| x == t) {
            e.remove();
        }
    }

    pub fn reserve(&mut self, additional: usize, tasks: &[Task]) {
        let hasher = &self.hasher;
        self.table.reserve(additional, |&x| {
            use std::hash::BuildHasher;
            hasher.hash_one(&tasks[x as usize].key)
        });
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million tasks must stay well under a gigabyte: guard the record size.
    #[test]
    fn task_record_stays_small() {
        assert!(
            std::mem::size_of::<Task>() <= 224,
            "{}",
            std::mem::size_of::<Task>()
        );
        assert_eq!(std::mem::size_of::<SmallList<WorkerId>>(), 24);
        assert_eq!(std::mem::size_of::<IdSet>(), 24);
    }

    #[test]
    fn wire_lookup_hashes_like_key() {
        let mut tasks = Vec::new();
        let mut index = KeyIndex::default();
        for (i, k) in [
            Key::new("short"),
            Key::new("a-name-longer-than-thirty-bytes-for-sure"),
            Key::with_index("x", &[1, 2]),
            Key::with_index("x", &[1, 2, 3, 4, 5]),
        ]
        .into_iter()
        .enumerate()
        {
            tasks.push(Task {
                key: k,
                ..Task::blank()
            });
            index.insert(i as TaskId, &tasks);
        }
        for (i, t) in tasks.iter().enumerate() {
            let wire = rask_protocol::WireKey::from(&t.key);
            assert_eq!(index.get_wire(&wire, &tasks), Some(i as TaskId));
            assert_eq!(index.get(&t.key, &tasks), Some(i as TaskId));
        }
        let other = rask_protocol::WireKey {
            name: "x".into(),
            index: vec![1],
        };
        assert_eq!(index.get_wire(&other, &tasks), None);
    }

    #[test]
    fn id_set_grows_into_a_hash_set_and_back_to_empty() {
        let mut s = IdSet::default();
        for i in 0..100 {
            s.insert(i);
            s.insert(i);
        }
        assert!(matches!(s, IdSet::Large(_)));
        let mut out = Vec::new();
        s.copy_into(&mut out);
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        for i in 0..100 {
            s.remove(i);
        }
        assert!(s.is_empty());
    }

    #[test]
    fn small_list_holds_one_inline() {
        let mut l: SmallList<u32> = SmallList::default();
        assert!(l.is_empty());
        l.push(7);
        assert!(matches!(l, SmallList::One(7)));
        l.push(8);
        l.push(9);
        assert_eq!(&*l, &[7, 8, 9]);
        l.retain(|&x| x != 8);
        l.swap_remove(0);
        assert_eq!(&*l, &[9]);
        l.retain(|_| false);
        assert!(l.is_empty());
        l.push(1);
        assert!(matches!(l, SmallList::One(1)));
    }
}
