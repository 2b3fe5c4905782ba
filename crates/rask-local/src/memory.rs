//! The memory figures of the threads scheduler, for the API and the
//! profiler.
//!
//! The monitor thread of a running compute publishes its figures every
//! sample (about every 100 ms), and the compute publishes its last ones
//! when it ends; [`memory_stats`] reads the latest. With several computes
//! running at once, the figures are those of whichever published last.

use std::sync::Mutex;

pub use rask_memory::MemoryStats;

static LATEST: Mutex<Option<MemoryStats>> = Mutex::new(None);

/// Publishes `stats` (a compute's gauge keeps its own peaks).
pub(crate) fn publish(stats: MemoryStats) {
    *LATEST.lock().unwrap_or_else(|p| p.into_inner()) = Some(stats);
}

/// The memory figures of the threads scheduler: those of the compute
/// running now (updated about every 100 ms), or else of the last one that
/// ran with a memory limit; `None` before any did.
///
/// After a compute, `managed` and `spilled` are 0 (its results were
/// released and its spill files removed), while `peak_rss`,
/// `peak_managed`, `spills` and `reads` tell what it went through.
///
/// ```
/// use rask_core::{GraphBuilder, Key, Op, Plan, PlanOptions, Value, Executor};
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("x"), Op::value(Value::new(vec![0u8; 1 << 20])), vec![]);
/// let plan = Plan::new(b, &[Key::new("x")], PlanOptions::default()).unwrap();
/// rask_local::ThreadsExecutor::new(2).unwrap().execute(&plan, &[]).unwrap();
/// if let Some(stats) = rask_local::memory_stats() {
///     assert!(stats.limit > 0);
///     println!("peak RSS {} bytes, {} values spilled", stats.peak_rss, stats.spills);
/// }
/// ```
pub fn memory_stats() -> Option<MemoryStats> {
    *LATEST.lock().unwrap_or_else(|p| p.into_inner())
}
