//! The results a run holds, by task: only the live ones.
//!
//! A result lives from the end of its task until its last dependent has
//! run (outputs until the end), so at any moment a run of a million tasks
//! usually holds a handful. A map of the live results costs memory for
//! those only; a slot per task would cost 16 bytes for every task of the
//! plan, held for the whole run.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rask_core::{TaskId, Value};

/// Live results by task id.
pub(crate) type Slots = HashMap<u32, Value, BuildHasherDefault<IdHasher>>;

/// A hasher for task ids: one multiplication (Fibonacci hashing), with the
/// high half folded in so every bit of the id reaches the low bits too.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, id: u32) {
        let h = (self.0 ^ u64::from(id)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }
}

/// The result of `t`, when it is live.
#[inline]
pub(crate) fn get(slots: &Slots, t: TaskId) -> Option<&Value> {
    slots.get(&t.0)
}
