//! The data store: results held by this worker, with their sizes and tags.
//!
//! The store is shared between the worker's state machine, which alone adds
//! and removes values, and the data server, which reads them to answer
//! peers. A lock guards a map of cheap handles ([`Value`] is reference
//! counted): it is held only to insert, remove or clone handles, never while
//! encoding or sending.

use std::sync::Mutex;

use rask_core::{Key, Value};
use rustc_hash::FxHashMap;

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

#[derive(Default)]
struct Inner {
    values: FxHashMap<Key, Entry>,
    managed_bytes: u64,
}

/// Results held by this worker.
#[derive(Default)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every critical section is a single insert, remove or lookup), so
        // a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `entry` under `key`, replacing a previous value.
    pub(crate) fn insert(&self, key: Key, entry: Entry) {
        let mut inner = self.lock();
        inner.managed_bytes += entry.nbytes;
        if let Some(old) = inner.values.insert(key, entry) {
            inner.managed_bytes -= old.nbytes;
        }
    }

    /// Drops the value of `key`; whether there was one.
    pub(crate) fn remove(&self, key: &Key) -> bool {
        let mut inner = self.lock();
        match inner.values.remove(key) {
            Some(old) => {
                inner.managed_bytes -= old.nbytes;
                true
            }
            None => false,
        }
    }

    /// The entry of `key`, if held.
    pub(crate) fn get(&self, key: &Key) -> Option<Entry> {
        self.lock().values.get(key).cloned()
    }

    /// Whether `key` is held.
    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.lock().values.contains_key(key)
    }

    /// The values of `keys` (cloned handles), `None` for keys not held.
    pub(crate) fn get_many<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k Key>,
    ) -> Vec<Option<Entry>> {
        let inner = self.lock();
        keys.into_iter()
            .map(|k| inner.values.get(k).cloned())
            .collect()
    }

    /// Bytes of all values held.
    pub(crate) fn managed_bytes(&self) -> u64 {
        self.lock().managed_bytes
    }

    /// Number of values held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().values.len()
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
}
