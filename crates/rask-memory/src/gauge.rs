//! [`MemoryGauge`]: samples of the process turned into a spill goal and a
//! pause decision; [`MemoryStats`]: what the API and the profiler show.
//!
//! # Policy
//!
//! Each sample reads the process's RSS — its private part, without
//! file-backed pages such as the program's code, which the kernel can drop
//! ([`private_rss_bytes`](crate::private_rss_bytes)) — and the store's
//! managed bytes; *unmanaged* memory is the difference (task intermediates, buffers, the
//! program itself, memory the allocator has not given back). Then:
//!
//! * the store's goal becomes `min(target × limit, spill × limit −
//!   unmanaged)`: managed memory gets what the process has left under the
//!   spill threshold, never more than the target — so a task that holds a
//!   lot of memory of its own makes the store spill sooner;
//! * if anything was spilled, or RSS is above the spill threshold, freed
//!   memory is handed back to the operating system
//!   ([`release_free_memory`](crate::release_free_memory)) and RSS read
//!   again — without that, memory freed by spills and finished tasks stays
//!   with the allocator and counts as unmanaged;
//! * the process is *paused* while RSS is above pause × limit.
//!
//! Between samples, schedulers ask [`MemoryGauge::should_pause`], which
//! also pauses when the store's managed bytes plus the last unmanaged
//! figure are over the threshold (a flag the store keeps as results come
//! and go), so a burst of results pauses new work at once rather than
//! 100 ms later.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::SpillError;
use crate::limit::MemoryPolicy;
use crate::process::{private_rss_bytes, release_free_memory, set_memory_pressure};
use crate::store::SpillStore;

/// Memory figures of a scheduler or worker.
///
/// ```
/// let stats = rask_memory::MemoryStats::default();
/// assert_eq!(stats.managed + stats.unmanaged, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// The memory limit in bytes (0: none).
    pub limit: u64,
    /// Resident set size at the last sample, without file-backed pages
    /// such as the program's code ([`private_rss_bytes`](crate::private_rss_bytes));
    /// 0 where it cannot be read.
    pub rss: u64,
    /// Largest RSS sampled (as `rss`).
    pub peak_rss: u64,
    /// Bytes of results held in memory.
    pub managed: u64,
    /// Largest managed figure seen at a sample.
    pub peak_managed: u64,
    /// RSS minus managed at the last sample.
    pub unmanaged: u64,
    /// Bytes (in memory) of results on disk.
    pub spilled: u64,
    /// Bytes of their spill files.
    pub spilled_disk: u64,
    /// Results on disk now.
    pub spilled_count: usize,
    /// Results written to disk so far.
    pub spills: u64,
    /// Bytes (in memory) of the results written to disk so far.
    pub spilled_total: u64,
    /// Results read back from disk so far.
    pub reads: u64,
    /// Whether new root tasks are held back.
    pub paused: bool,
}

/// The memory limit applied to one store: samples, goal, pause.
///
/// ```
/// use rask_core::Value;
/// use rask_memory::{MemoryGauge, MemoryPolicy, SpillOptions, SpillStore};
///
/// let store = SpillStore::<u32>::new(SpillOptions::default());
/// let gauge = MemoryGauge::new(MemoryPolicy::with_limit(1 << 40));
/// gauge.sample(&store).unwrap();
/// assert!(!gauge.paused());
/// store.insert(0, Value::new(vec![0u8; 1000]));
/// assert_eq!(gauge.stats(&store).managed, 1024);
/// ```
#[derive(Debug)]
pub struct MemoryGauge {
    policy: MemoryPolicy,
    target: u64,
    spill: u64,
    pause: u64,
    rss: AtomicU64,
    peak_rss: AtomicU64,
    peak_managed: AtomicU64,
    unmanaged: AtomicU64,
    paused: AtomicBool,
    /// When the gauge was made: the origin of `last_sample`.
    born: Instant,
    /// Nanoseconds after `born` of the last sample taken.
    last_sample: AtomicU64,
}

impl MemoryGauge {
    /// A gauge for `policy`; no sample taken yet.
    pub fn new(policy: MemoryPolicy) -> Self {
        MemoryGauge {
            target: policy.target_bytes(),
            spill: policy.spill_bytes(),
            pause: policy.pause_bytes(),
            policy,
            rss: AtomicU64::new(0),
            peak_rss: AtomicU64::new(0),
            peak_managed: AtomicU64::new(0),
            unmanaged: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            born: Instant::now(),
            last_sample: AtomicU64::new(0),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &MemoryPolicy {
        &self.policy
    }

    /// Sets the store's goal to the target (call once before work starts,
    /// so spilling works before the first sample).
    pub fn attach<K: std::hash::Hash + Eq + Clone>(&self, store: &SpillStore<K>) {
        store.set_goal(self.target);
        store.set_pause_at(self.pause);
    }

    /// Takes one sample: sets the store's goal, spills if needed, returns
    /// freed memory to the OS after a spill, and decides the pause. See the
    /// module docs for the policy. Returns whether the process is paused.
    ///
    /// # Errors
    ///
    /// Those of [`SpillStore::spill_to`].
    pub fn sample<K: std::hash::Hash + Eq + Clone>(
        &self,
        store: &SpillStore<K>,
    ) -> Result<bool, SpillError<K>> {
        if self.policy.limit == 0 {
            return Ok(false);
        }
        self.last_sample
            .fetch_max(self.since_born(), Ordering::Relaxed);
        let managed = store.managed();
        self.peak_managed.fetch_max(managed, Ordering::Relaxed);
        let Some(rss) = private_rss_bytes() else {
            // No RSS here: managed memory is all that can be seen.
            store.set_goal(self.target);
            store.spill_if_needed()?;
            store.set_pause_at(self.pause);
            let paused = store.managed() > self.pause;
            self.paused.store(paused, Ordering::Relaxed);
            return Ok(paused);
        };
        let unmanaged = rss.saturating_sub(managed);
        store.set_goal(self.target.min(self.spill.saturating_sub(unmanaged)));
        let freed = store.spill_if_needed()?;
        // Memory freed by spills (here or in the workers) and by finished
        // tasks stays with the allocator until it is handed back.
        // Above the spill threshold the allocator is told to hand freed
        // memory back at once (see `set_memory_pressure`), until RSS is
        // back under the target.
        if rss > self.spill {
            set_memory_pressure(true);
        }
        let rss = if freed > 0 || rss > self.spill {
            release_free_memory();
            private_rss_bytes().unwrap_or(rss)
        } else {
            rss
        };
        if rss < self.target {
            set_memory_pressure(false);
        }
        self.rss.store(rss, Ordering::Relaxed);
        self.peak_rss.fetch_max(rss, Ordering::Relaxed);
        let unmanaged = rss.saturating_sub(store.managed());
        self.unmanaged.store(unmanaged, Ordering::Relaxed);
        store.set_pause_at(self.pause.saturating_sub(unmanaged));
        let paused = rss > self.pause;
        self.paused.store(paused, Ordering::Relaxed);
        Ok(paused)
    }

    /// Takes a sample ([`MemoryGauge::sample`]) if none was taken in the
    /// last `interval` and no other thread is starting one: worker threads
    /// call it between tasks, so memory is watched at the pace work changes
    /// it even when a busy machine delays the sampling thread. `Ok(None)`
    /// when no sample was due.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rask_memory::{MemoryGauge, MemoryPolicy, SpillOptions, SpillStore};
    ///
    /// let store = SpillStore::<u32>::new(SpillOptions::default());
    /// let gauge = MemoryGauge::new(MemoryPolicy::with_limit(1 << 40));
    /// assert_eq!(gauge.sample_if_due(&store, Duration::ZERO).unwrap(), Some(false));
    /// assert_eq!(gauge.sample_if_due(&store, Duration::from_secs(3600)).unwrap(), None);
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`MemoryGauge::sample`].
    pub fn sample_if_due<K: std::hash::Hash + Eq + Clone>(
        &self,
        store: &SpillStore<K>,
        interval: Duration,
    ) -> Result<Option<bool>, SpillError<K>> {
        let now = self.since_born();
        let last = self.last_sample.load(Ordering::Relaxed);
        let interval = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) < interval
            || self
                .last_sample
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return Ok(None);
        }
        self.sample(store).map(Some)
    }

    fn since_born(&self) -> u64 {
        // Never 0, so that the first call of `sample_if_due` is due.
        u64::try_from(self.born.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether the last sample found the process above the pause
    /// threshold.
    #[inline]
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Whether new root tasks should wait: the last sample paused, or
    /// `store`'s results plus the unmanaged memory of the last sample are
    /// above the pause threshold (the store keeps that as a flag, see
    /// [`SpillStore::over_pause`]). Two loads of rarely written flags.
    #[inline]
    pub fn should_pause<K: std::hash::Hash + Eq + Clone>(&self, store: &SpillStore<K>) -> bool {
        self.paused() || store.over_pause()
    }

    /// The figures of the gauge and `store`.
    pub fn stats<K: std::hash::Hash + Eq + Clone>(&self, store: &SpillStore<K>) -> MemoryStats {
        let s = store.stats();
        MemoryStats {
            limit: self.policy.limit,
            rss: self.rss.load(Ordering::Relaxed),
            peak_rss: self.peak_rss.load(Ordering::Relaxed),
            managed: s.managed,
            peak_managed: self.peak_managed.load(Ordering::Relaxed).max(s.managed),
            unmanaged: self.unmanaged.load(Ordering::Relaxed),
            spilled: s.spilled,
            spilled_disk: s.spilled_disk,
            spilled_count: s.spilled_count,
            spills: s.spills,
            spilled_total: s.spilled_total,
            reads: s.reads,
            paused: self.paused(),
        }
    }
}
