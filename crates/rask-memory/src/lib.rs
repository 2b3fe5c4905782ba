//! The memory manager of rask: results counted by their real sizes, spilled
//! to disk before memory runs out, and new work paused while it is short.
//!
//! Shared by the local threads scheduler (`rask-local`) and the distributed
//! worker (`rask-worker`):
//!
//! * [`SpillStore`] — results by key, counted with [`Value::nbytes`]; above
//!   its *goal* the values needed last (least recently used among equals)
//!   that nothing else holds are
//!   written to disk through their codecs ([`rask_core::codec`]), optionally
//!   LZ4-compressed, and read back transparently by [`SpillStore::get`].
//!   Spill files live in a directory of their own that is removed when the
//!   store is dropped (and, for a process that died without dropping it,
//!   by the next store that starts in the same parent directory).
//! * [`MemoryPolicy`] — the limit and its thresholds, from the
//!   configuration ([`MemoryPolicy::from_config`]); `memory-limit = "auto"`
//!   is 80% of the smaller of physical RAM and the cgroup v2 `memory.max`
//!   ([`detected_limit`]).
//! * [`MemoryGauge`] — one sample of the process (its private resident
//!   memory from `/proc`, [`private_rss_bytes`]) turned
//!   into a spill goal and a pause decision ([`MemoryGauge::sample`]); the
//!   schedulers call it about every 100 ms from a thread of their own.
//! * [`MemoryStats`] — managed, unmanaged and spilled bytes, for the API and
//!   the profiler.
//! * [`release_free_memory`] — hands memory the allocator keeps back to the
//!   operating system, so RSS falls after work; [`set_memory_pressure`] —
//!   makes the allocator do so as it goes while memory is short (called by
//!   the gauge).
//!
//! # Thresholds
//!
//! All are fractions of the limit ([`MemoryPolicy`]):
//!
//! | threshold | default | measured on | what happens |
//! |---|---|---|---|
//! | target    | 0.6  | managed bytes (results held) | least recently used results are spilled |
//! | spill     | 0.7  | process RSS | results are spilled until RSS minus unmanaged memory fits |
//! | pause     | 0.8  | process RSS (or managed) | no new root task starts |
//! | terminate | 0.95 | process RSS | a worker's supervisor restarts it (not in this crate) |
//!
//! Values whose type has no codec cannot be spilled: they are counted in
//! managed memory and stay in memory.
//!
//! [`Value::nbytes`]: rask_core::Value::nbytes

mod error;
mod gauge;
mod limit;
mod process;
mod spill_dir;
mod spill_file;
mod store;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use error::SpillError;
pub use gauge::{MemoryGauge, MemoryStats};
pub use limit::{MemoryPolicy, cgroup_memory_max, detected_limit, physical_memory};
pub use process::{
    memory_pressure, private_rss_bytes, release_free_memory, release_point, rss_bytes, rss_of,
    set_memory_pressure, set_pressure_hook, set_release_hook,
};
pub use store::{Held, NEXT_USE_UNKNOWN, SpillOptions, SpillStore, StoreStats};
