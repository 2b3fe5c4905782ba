//! The key → task id index of a graph and of a graph builder.
//!
//! A task's key lives in the task itself, so the index stores no keys: each
//! entry is the task's id and 32 bits of its key's hash (8 bytes, against 40
//! for a `HashMap<Key, TaskId>` entry). A lookup compares keys only for the
//! few entries whose hash bits match, and growing the table rehashes from the
//! stored bits without reading a single key.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;

use crate::graph::{Task, TaskId};
use crate::key::Key;

/// Task ids by key; the keys are those of a task list passed to every call.
#[derive(Clone, Default)]
pub(crate) struct KeyIndex {
    /// (task id, hash bits of its key).
    table: HashTable<(u32, u32)>,
}

/// The 32 bits of a key's hash that the index keeps.
#[inline]
fn hash_bits(key: &Key) -> u32 {
    let h = FxBuildHasher.hash_one(key);
    (h ^ (h >> 32)) as u32
}

/// The table's hash of the kept bits: the multiplication spreads them over
/// the high bits, which the table uses to filter entries, and the low ones,
/// which choose the bucket.
#[inline]
fn table_hash(bits: u32) -> u64 {
    u64::from(bits).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl KeyIndex {
    /// The index of `tasks`; of equal keys, the first task is indexed.
    /// Also returns the first task whose key repeats an earlier one's.
    pub(crate) fn of_tasks(tasks: &[Task]) -> (Self, Option<TaskId>) {
        let mut index = KeyIndex {
            table: HashTable::with_capacity(tasks.len()),
        };
        let mut repeated = None;
        for (i, t) in tasks.iter().enumerate() {
            let id = TaskId(i as u32);
            if index.insert(&t.key, id, tasks).is_err() && repeated.is_none() {
                repeated = Some(id);
            }
        }
        (index, repeated)
    }

    /// The id of the task of `tasks` with this key.
    #[inline]
    pub(crate) fn get(&self, key: &Key, tasks: &[Task]) -> Option<TaskId> {
        let bits = hash_bits(key);
        self.table
            .find(table_hash(bits), |&(id, b)| {
                b == bits && tasks[id as usize].key == *key
            })
            .map(|&(id, _)| TaskId(id))
    }

    /// Indexes `key` as the key of task `id`, or returns the id of the task
    /// of `tasks` indexed under it already. `id` need not be in `tasks` yet.
    #[inline]
    pub(crate) fn insert(&mut self, key: &Key, id: TaskId, tasks: &[Task]) -> Result<(), TaskId> {
        let bits = hash_bits(key);
        match self.table.entry(
            table_hash(bits),
            |&(i, b)| b == bits && tasks[i as usize].key == *key,
            |&(_, b)| table_hash(b),
        ) {
            Entry::Occupied(e) => Err(TaskId(e.get().0)),
            Entry::Vacant(e) => {
                e.insert((id.0, bits));
                Ok(())
            }
        }
    }

    /// Makes room for `additional` more keys.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.table
            .reserve(additional, |&(_, bits)| table_hash(bits));
    }

    /// Number of keys indexed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyIndex({} keys)", self.table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Value};

    fn task(name: &str) -> Task {
        Task::new(Key::new(name), Op::value(Value::new(0)), vec![])
    }

    #[test]
    fn finds_every_key_and_reports_repeats() {
        let mut tasks: Vec<Task> = (0..10_000).map(|i| task(&format!("t-{i}"))).collect();
        tasks.push(task("t-17"));
        let (index, repeated) = KeyIndex::of_tasks(&tasks);
        assert_eq!(repeated, Some(TaskId(10_000)));
        assert_eq!(index.len(), 10_000);
        for i in 0..10_000 {
            let key = Key::new(format!("t-{i}"));
            assert_eq!(index.get(&key, &tasks), Some(TaskId(i)));
        }
        assert_eq!(index.get(&Key::new("t-x"), &tasks), None);
        assert_eq!(index.get(&Key::with_index("t-1", &[0]), &tasks), None);
    }
}
