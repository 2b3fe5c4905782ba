//! The data store: results held by this worker, with their sizes and tags.
//!
//! The store is shared between the worker's state machine, which alone adds
//! and removes values, and the data server, which reads them to answer
//! peers. Values live in a [`SpillStore`] (sharded maps of cheap
//! [`Value`] handles, locks held only to insert, remove or clone a handle,
//! never while encoding or sending).
//!
//! With a memory limit (`--memory-limit`), results above the target are
//! spilled to disk least recently used first, and read back when a task or
//! a peer needs them; a task that runs, or a value being sent, pins its
//! values (see `rask_memory::SpillStore`). The runtime samples memory every
//! 100 ms ([`Store::sample`]); while the worker is over the pause threshold
//! the state machine starts no new root task ([`Store::paused`]), and the
//! data server keeps serving peers.
//!
//! A spill file that cannot be read back (damaged, removed) makes the value
//! missing: the error is logged with the key, and the scheduler recomputes
//! or fetches the value as it does for any missing input.

use rask_core::{Key, Value};
use rask_memory::{MemoryGauge, MemoryPolicy, SpillStore};

/// How often task threads sample the worker's memory between tasks, at
/// most.
const INLINE_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// One value in the store.
#[derive(Clone)]
pub(crate) struct Entry {
    /// The value.
    pub(crate) value: Value,
    /// Its size in bytes ([`Value::nbytes`]).
    pub(crate) nbytes: u64,
    /// Its type tag ("" when the type has no codec).
    pub(crate) tag: String,
}

impl Entry {
    /// An entry for `value`, its size and tag taken from the value.
    pub(crate) fn new(value: Value) -> Entry {
        let tag = tag_of(&value);
        Entry {
            nbytes: value.nbytes() as u64,
            tag,
            value,
        }
    }
}

/// The registered tag of a value's type, or "" when it has no codec.
pub(crate) fn tag_of(value: &Value) -> String {
    rask_core::codec::entry_of(value.value_type_id())
        .filter(|e| e.has_codec())
        .map(|e| e.tag().to_string())
        .unwrap_or_default()
}

/// Results held by this worker.
pub(crate) struct Store {
    values: SpillStore<Key>,
    /// The memory limit, when the worker has one.
    gauge: Option<MemoryGauge>,
}

impl Default for Store {
    /// A store without a memory limit: nothing is spilled or paused.
    fn default() -> Self {
        Store::new(None)
    }
}

impl Store {
    /// A store that keeps to `policy` (none: no limit).
    pub(crate) fn new(policy: Option<MemoryPolicy>) -> Store {
        let options = policy
            .as_ref()
            .map(|p| p.spill_options.clone())
            .unwrap_or_default();
        let values = SpillStore::new(options);
        let gauge = policy.filter(|p| p.limit > 0).map(MemoryGauge::new);
        if let Some(g) = &gauge {
            g.attach(&values);
        }
        Store { values, gauge }
    }

    /// Keeps `entry` under `key`, replacing a previous value, and spills
    /// others if that takes the store over its goal.
    pub(crate) fn insert(&self, key: Key, entry: Entry) {
        drop(self.values.insert(key, entry.value));
        if let Err(e) = self.values.spill_if_needed() {
            // The value stays in memory: the worker goes on, over its
            // target, and the log says why.
            tracing::error!("{e}");
        }
    }

    /// Drops the value of `key`; whether there was one.
    pub(crate) fn remove(&self, key: &Key) -> bool {
        self.values.remove(key).is_some()
    }

    /// The entry of `key`, if held (read back from disk if spilled).
    pub(crate) fn get(&self, key: &Key) -> Option<Entry> {
        match self.values.get(key) {
            Ok(v) => v.map(Entry::new),
            Err(e) => {
                tracing::error!("{e}; the value is treated as missing");
                None
            }
        }
    }

    /// Whether `key` is held.
    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.values.contains(key)
    }

    /// The values of `keys` (cloned handles), `None` for keys not held.
    pub(crate) fn get_many<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k Key>,
    ) -> Vec<Option<Entry>> {
        keys.into_iter().map(|k| self.get(k)).collect()
    }

    /// Whether some values are on disk (reading them blocks).
    pub(crate) fn has_spilled(&self) -> bool {
        self.values.stats().spilled_count > 0
    }

    /// Bytes of the values in memory.
    pub(crate) fn managed_bytes(&self) -> u64 {
        self.values.managed()
    }

    /// Bytes (in memory) of the values on disk.
    pub(crate) fn spilled_bytes(&self) -> u64 {
        self.values.stats().spilled
    }

    /// Takes one memory sample (blocking: it may spill); returns whether
    /// the worker was paused before and is after.
    pub(crate) fn sample(&self) -> (bool, bool) {
        let Some(g) = &self.gauge else {
            return (false, false);
        };
        let was = g.paused();
        let sampled = g.sample(&self.values);
        self.warn_unspillable();
        match sampled {
            Ok(now) => (was, now),
            Err(e) => {
                tracing::error!("{e}");
                (was, g.paused())
            }
        }
    }

    /// Names, once each, the values a sample could not spill (their type's
    /// encoder failed or panicked): they stay in memory, as Dask keeps a
    /// value it cannot pickle.
    fn warn_unspillable(&self) {
        for (key, error) in self.values.take_encode_failures() {
            tracing::warn!("the value of `{key}` stays in memory: it cannot be spilled: {error}");
        }
    }

    /// Takes a memory sample like [`Store::sample`] if none was taken in the
    /// last [`INLINE_SAMPLE_INTERVAL`] (task threads call it between
    /// tasks); `None` when none was due.
    pub(crate) fn sample_if_due(&self) -> Option<(bool, bool)> {
        let g = self.gauge.as_ref()?;
        let was = g.paused();
        let sampled = g.sample_if_due(&self.values, INLINE_SAMPLE_INTERVAL);
        self.warn_unspillable();
        match sampled {
            Ok(now) => now.map(|now| (was, now)),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    }

    /// Whether new root tasks should wait for memory.
    pub(crate) fn paused(&self) -> bool {
        self.gauge
            .as_ref()
            .is_some_and(|g| g.should_pause(&self.values))
    }

    /// Whether the worker has a memory limit to watch.
    pub(crate) fn has_limit(&self) -> bool {
        self.gauge.is_some()
    }

    /// Number of values held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_inserts_and_removes() {
        let store = Store::default();
        store.insert(Key::new("a"), Entry::new(Value::new(vec![0u8; 100])));
        store.insert(Key::new("b"), Entry::new(Value::new(7u64)));
        let a = store.get(&Key::new("a")).unwrap();
        assert_eq!(a.nbytes, 124);
        assert!(!a.tag.is_empty());
        assert_eq!(store.managed_bytes(), 124 + 8);
        store.insert(Key::new("b"), Entry::new(Value::new(vec![1u8; 10])));
        assert_eq!(store.managed_bytes(), 124 + 34);
        assert!(store.remove(&Key::new("a")));
        assert!(!store.remove(&Key::new("a")));
        assert_eq!(store.managed_bytes(), 34);
        assert_eq!(store.len(), 1);
        struct Local;
        assert_eq!(tag_of(&Value::new(Local)), "");
    }

    #[test]
    fn a_small_limit_spills_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("rask-worker-store-{}", std::process::id()));
        let policy = MemoryPolicy {
            spill_options: rask_memory::SpillOptions {
                directory: Some(dir.clone()),
                ..Default::default()
            },
            ..MemoryPolicy::with_limit(100_000)
        };
        let store = Store::new(Some(policy));
        for i in 0..10 {
            store.insert(
                Key::new(format!("x-{i}")),
                Entry::new(Value::new(vec![i as f64; 2000])),
            );
        }
        // Target 60 kB: most of the 160 kB went to disk.
        assert!(store.managed_bytes() <= 60_000, "{}", store.managed_bytes());
        assert!(store.spilled_bytes() >= 100_000);
        assert!(store.has_spilled());
        for i in 0..10 {
            let e = store.get(&Key::new(format!("x-{i}"))).unwrap();
            assert_eq!(e.value.downcast_ref::<Vec<f64>>().unwrap()[1999], i as f64);
            assert!(!e.tag.is_empty());
        }
        drop(store);
        assert_eq!(std::fs::read_dir(&dir).map_or(0, |d| d.count()), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
