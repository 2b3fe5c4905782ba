//! [`SpillStore`]: results by key, spilled to disk (those needed last
//! first, else least recently used first) when they hold more memory than
//! the store's goal.
//!
//! # Design
//!
//! * **Shards.** Values live in [`SHARDS`] maps, each behind its own lock,
//!   picked by the high bits of the key's hash: threads that put and take
//!   different keys rarely meet. A lock is held only to look up, insert,
//!   remove or swap a slot — never while encoding, writing or reading a
//!   file.
//! * **Accounting.** Managed bytes (values in memory, by
//!   [`Value::nbytes`]) are counted per shard under its lock, and added to
//!   the store's running total when a shard's change reaches 1/1024 of the
//!   goal (at most 64 KiB) — large values and spills at once — so tiny
//!   values cost no shared write, and the goal check after an insert is
//!   two loads. Spilled and file bytes are atomics.
//! * **Which values go first.** A slot may carry when its value is next
//!   needed ([`SpillStore::set_next_use`]: for the threads scheduler, the
//!   priority of the first dependent that has not run yet). Spilling
//!   takes the value needed last first — Belady's rule, which keeps what
//!   the next tasks read — and, among values with the same next use (or
//!   none known, as on a worker), the least recently used. Every insert
//!   and read takes a recency tick (a per-thread count on top of a store
//!   clock moved once per 64 uses, so no shared write per use); a slot
//!   remembers the tick of its last insert or read.
//! * **What may be spilled.** A value in memory whose type has a codec and
//!   of which the store holds the only handle ([`Value::handle_count`] is
//!   1). A running task holds handles to its arguments, a data server to
//!   the value it sends: spilling those would free nothing, so they are
//!   *pinned* for as long as those handles live, with no bookkeeping per
//!   task. Every clone of the store's handle happens under the shard lock,
//!   so a count of 1 seen under that lock stays true while it is held.
//! * **Spilling one value**: under the lock, take a second handle; outside
//!   it, encode and write the file; under the lock again, swap the slot to
//!   "on disk" only if it still holds that value and nobody else took a
//!   handle meanwhile — otherwise delete the file and keep the value. The
//!   store's handles are then dropped outside the lock, which frees the
//!   memory.
//! * **Reading back** ([`SpillStore::get`]) reads the file outside the lock
//!   and puts the value back in memory, so a value read by several
//!   dependents is read from disk once. The file is kept until the value
//!   leaves the store: spilling it again is then free (no encode, no
//!   write), which stops a value that is read, evicted and read again from
//!   being written each time.
//! * **Spillers claim, then write.** Choosing is serialized by a short
//!   lock: a thread over the goal claims the first values in that order
//!   that cover the excess not already being written by others (a claim
//!   is a second handle, which keeps other spillers off the value), then
//!   writes them outside the lock. Producers therefore write their own
//!   share — results cannot pile up faster than the disk takes them — and
//!   several threads spill in parallel.
//! * **Files** go to a directory of their own (`rask-spill-PID-N` under
//!   [`SpillOptions::directory`]), made at the first spill and removed with
//!   everything in it when the store is dropped. The store holds a lock on
//!   a file in it for its lifetime; directories whose lock nobody holds
//!   (left by processes that died) are removed when a store makes its own
//!   (see `spill_dir`).
//!
//! Values without a codec are never spilled: they are counted in managed
//! memory and kept. Nor are values under 1 KiB, whose file would cost more
//! than the memory it frees, nor a value whose encoder failed or panicked
//! once (the panic is caught by the codec layer, the partial file removed):
//! as Dask keeps a value it cannot pickle, it stays in memory, is not tried
//! again, and the caller hears of it through
//! [`SpillStore::take_encode_failures`]. A decoder that panics reading a
//! value back is a [`SpillError::Decode`] naming the key.

use std::cmp::Reverse;
use std::hash::{BuildHasher, Hash};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rask_config::SpillCompression;
use rask_core::Value;
use rask_core::codec::CodecError;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::error::SpillError;
use crate::spill_dir::{self, SpillDir};
use crate::spill_file;

/// The next use of a value whose next use is not known: later than any
/// known one, so such values are spilled first, least recently used
/// first among them.
pub const NEXT_USE_UNKNOWN: u32 = u32::MAX;

/// Most bytes a shard's managed figure may drift from the store's total.
const MAX_UNFLUSHED: u64 = 64 << 10;

/// Uses a thread counts before it moves a store's clock (see
/// `SpillStore::tick`).
const TICK_BATCH: u64 = 64;

thread_local! {
    /// Uses counted by this thread, for recency ticks.
    static LOCAL_TICKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Values smaller than this are never spilled: a file per value would cost
/// more than the memory it frees.
const MIN_SPILL: u64 = 1024;

/// Most encode failures a store keeps until they are taken.
const MAX_ENCODE_FAILURES: usize = 64;

/// Locks of a [`SpillStore`].
const SHARDS: usize = 64;
/// Where in a key's hash the shard index is taken from: bits the maps
/// inside do not use. hashbrown takes a bucket from the low bits and a tag
/// from the top 7; a shard chosen by either would leave every key of a
/// shard with the same bucket or the same tag.
const SHARD_SHIFT: u32 = 40;

/// Where and how a [`SpillStore`] writes values.
///
/// ```
/// let opts = rask_memory::SpillOptions::default();
/// assert_eq!(opts.max_spill, u64::MAX);
/// assert!(opts.directory.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpillOptions {
    /// The parent of the store's spill directory; `None` for the system's
    /// temporary directory.
    pub directory: Option<PathBuf>,
    /// Most bytes of spill files at once; past it values stay in memory.
    pub max_spill: u64,
    /// Compression of spill files.
    pub compression: SpillCompression,
}

impl Default for SpillOptions {
    fn default() -> Self {
        SpillOptions {
            directory: None,
            max_spill: u64::MAX,
            compression: SpillCompression::Lz4,
        }
    }
}

/// What [`SpillStore::remove`] and [`SpillStore::insert`] took out.
#[derive(Debug)]
pub enum Held {
    /// The value was in memory; here is the store's handle (drop it where a
    /// panicking `Drop` can be caught).
    Memory(Value),
    /// The value was on disk; its file is deleted.
    Disk,
}

/// Figures of a [`SpillStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes of the values in memory.
    pub managed: u64,
    /// Bytes (in memory, as [`Value::nbytes`]) of the values on disk.
    pub spilled: u64,
    /// Bytes of spill files: of the values on disk, and of values read back
    /// whose file is kept until they leave the store.
    pub spilled_disk: u64,
    /// Values on disk now.
    pub spilled_count: usize,
    /// Values moved to disk since the store was made (written, or dropped
    /// from memory with their file kept).
    pub spills: u64,
    /// Bytes (in memory, as [`Value::nbytes`]) of the values moved to disk
    /// since the store was made, counted at every move.
    pub spilled_total: u64,
    /// Values read back since the store was made.
    pub reads: u64,
}

/// A spill file of one value.
struct SpillFile {
    path: PathBuf,
    len: u64,
    /// Unique in the store: tells a file from a later one of the same key.
    id: u64,
    /// When the value was last asked for since it was read back from this
    /// file (`None` while it is on disk).
    read_at: Option<Instant>,
}

/// How long a value read back from disk is kept from being spilled again
/// by [`SpillStore::spill_if_needed`] after each use. Spilling it again
/// costs no write (its file is kept), but reading it once more costs a
/// whole read: a shuffle's split output, read back by the first of the
/// tasks that each take one piece of it, would otherwise go back to disk
/// between every two of them and be read again for each (ten reads of a
/// whole partition for ten pieces, measured).
const READ_BACK_GRACE: Duration = Duration::from_millis(100);

enum Slot {
    Memory {
        value: Value,
        nbytes: u64,
        used: u64,
        /// When the value is next needed (see [`SpillStore::set_next_use`]).
        next: u32,
        /// The file of a value read back from disk, kept so that spilling
        /// it again costs no write (boxed: most values never have one, and
        /// a small slot keeps the maps small).
        file: Option<Box<SpillFile>>,
        /// Its encoder failed (an error or a panic) when it was spilled:
        /// it stays in memory and is not tried again.
        unspillable: bool,
    },
    Disk {
        file: Box<SpillFile>,
        nbytes: u64,
        next: u32,
    },
}

#[repr(align(128))]
struct Shard<K>(Mutex<ShardMap<K>>);

/// One shard's values and its share of the accounting.
struct ShardMap<K> {
    map: FxHashMap<K, Slot>,
    /// Bytes of this shard's values in memory (exact).
    managed: u64,
    /// Change of `managed` not yet added to the store's total.
    unflushed: i64,
}

impl<K> std::ops::Deref for ShardMap<K> {
    type Target = FxHashMap<K, Slot>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<K> std::ops::DerefMut for ShardMap<K> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

/// A value on a cache line of its own.
#[repr(align(128))]
struct Padded<T>(T);

/// Results by key that spill to disk above a goal.
///
/// `K` is any hashable key: a task id in the local scheduler, a
/// [`Key`](rask_core::Key) on a worker. Errors name the key through its
/// `Display` (or map it with [`SpillError::map_key`]).
///
/// ```
/// use rask_core::Value;
/// use rask_memory::{SpillOptions, SpillStore};
///
/// let store = SpillStore::<u32>::new(SpillOptions::default());
/// store.insert(1, Value::new(vec![1.0f64; 1000]));
/// store.insert(2, Value::new(vec![2.0f64; 1000]));
/// // Hold at most 10 kB: the least recently used value goes to disk.
/// store.set_goal(10_000);
/// store.spill_if_needed().unwrap();
/// assert_eq!(store.is_spilled(&1), Some(true));
/// assert_eq!(store.is_spilled(&2), Some(false));
/// // Reading it back is transparent.
/// let v = store.get(&1).unwrap().unwrap();
/// assert_eq!(v.downcast_ref::<Vec<f64>>().unwrap()[999], 1.0);
/// ```
pub struct SpillStore<K> {
    shards: Box<[Shard<K>]>,
    /// Written by every insert and removal: on a cache line of its own.
    managed: Padded<AtomicU64>,
    spilled: AtomicU64,
    spilled_disk: AtomicU64,
    spilled_count: AtomicUsize,
    spills: AtomicU64,
    spilled_total: AtomicU64,
    reads: AtomicU64,
    clock: Padded<AtomicU64>,
    /// Managed bytes above which [`SpillStore::over_pause`] says so.
    pause_at: AtomicU64,
    /// Bytes of values claimed by spillers and being written.
    in_flight: AtomicU64,
    /// How far a shard's managed bytes may drift from the total before
    /// they are added to it (see `SpillStore::account`).
    flush_at: AtomicU64,
    /// Whether managed bytes are above `pause_at`: written only when that
    /// changes, so schedulers read it for every root task at little cost.
    over_pause: std::sync::atomic::AtomicBool,
    goal: AtomicU64,
    spiller: Mutex<()>,
    dir: OnceLock<SpillDir>,
    next_file: AtomicU64,
    options: SpillOptions,
    /// [`READ_BACK_GRACE`] (tests set their own).
    grace: Duration,
    /// Values whose encoder failed, not yet taken
    /// ([`SpillStore::take_encode_failures`]).
    encode_failures: Mutex<Vec<(K, CodecError)>>,
    /// Whether `encode_failures` may hold any.
    has_encode_failures: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while holding these locks (values are encoded,
    // written, read and dropped outside them).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Drops `value`, swallowing a panic of its `Drop`: the store cannot name
/// a task to blame, and the memory is gone either way.
fn drop_quietly<T>(value: T) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value)));
}

impl<K: Hash + Eq + Clone> SpillStore<K> {
    /// An empty store that never spills until [`SpillStore::set_goal`] is
    /// called. Makes no directory until the first spill.
    pub fn new(options: SpillOptions) -> Self {
        SpillStore {
            shards: (0..SHARDS)
                .map(|_| {
                    Shard(Mutex::new(ShardMap {
                        map: FxHashMap::default(),
                        managed: 0,
                        unflushed: 0,
                    }))
                })
                .collect(),
            managed: Padded(AtomicU64::new(0)),
            spilled: AtomicU64::new(0),
            spilled_disk: AtomicU64::new(0),
            spilled_count: AtomicUsize::new(0),
            spills: AtomicU64::new(0),
            spilled_total: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            clock: Padded(AtomicU64::new(0)),
            pause_at: AtomicU64::new(u64::MAX),
            flush_at: AtomicU64::new(MAX_UNFLUSHED),
            in_flight: AtomicU64::new(0),
            over_pause: std::sync::atomic::AtomicBool::new(false),
            goal: AtomicU64::new(u64::MAX),
            spiller: Mutex::new(()),
            dir: OnceLock::new(),
            next_file: AtomicU64::new(0),
            options,
            grace: READ_BACK_GRACE,
            encode_failures: Mutex::new(Vec::new()),
            has_encode_failures: std::sync::atomic::AtomicBool::new(false),
        }
    }

    #[inline]
    fn shard(&self, key: &K) -> &Mutex<ShardMap<K>> {
        let h = FxBuildHasher.hash_one(key);
        &self.shards[(h >> SHARD_SHIFT) as usize % SHARDS].0
    }

    /// Keeps `value` under `key` (in memory), returning what was there.
    /// Does not spill: call [`SpillStore::spill_if_needed`] after it.
    /// When it is next needed is not known ([`NEXT_USE_UNKNOWN`]).
    pub fn insert(&self, key: K, value: Value) -> Option<Held> {
        self.insert_with_next_use(key, value, NEXT_USE_UNKNOWN)
    }

    /// [`SpillStore::insert`] of a value that is next needed at `next`
    /// (see [`SpillStore::set_next_use`]).
    ///
    /// ```
    /// use rask_core::Value;
    /// use rask_memory::{SpillOptions, SpillStore};
    ///
    /// let store = SpillStore::<u32>::new(SpillOptions::default());
    /// store.insert_with_next_use(1, Value::new(vec![1.0f64; 1000]), 5);
    /// store.insert_with_next_use(2, Value::new(vec![2.0f64; 1000]), 9);
    /// // 2 is the newer, but needed later: it goes to disk first.
    /// store.set_goal(10_000);
    /// store.spill_if_needed().unwrap();
    /// assert_eq!(store.is_spilled(&2), Some(true));
    /// assert_eq!(store.is_spilled(&1), Some(false));
    /// ```
    pub fn insert_with_next_use(&self, key: K, value: Value, next: u32) -> Option<Held> {
        let nbytes = value.nbytes() as u64;
        let used = self.tick();
        let mut g = lock(self.shard(&key));
        self.account(&mut g, nbytes as i64, false);
        let old = g.insert(
            key,
            Slot::Memory {
                value,
                nbytes,
                used,
                next,
                file: None,
                unspillable: false,
            },
        );
        if let Some(Slot::Memory { nbytes, .. }) = &old {
            self.account(&mut g, -(*nbytes as i64), false);
        }
        drop(g);
        old.map(|s| self.forget(s))
    }

    /// Takes `key` out of the store; `None` if it was not there.
    pub fn remove(&self, key: &K) -> Option<Held> {
        let mut g = lock(self.shard(key));
        let old = g.remove(key);
        if let Some(Slot::Memory { nbytes, .. }) = &old {
            self.account(&mut g, -(*nbytes as i64), false);
        }
        drop(g);
        old.map(|s| self.forget(s))
    }

    /// Adds `delta` to a shard's managed bytes (its lock held as `g`), and
    /// to the store's total once the shard's unflushed change reaches
    /// `flush_at` (or at once with `force`). Small values therefore cost
    /// no shared write; large ones, and spills, are counted at once. The
    /// total is off by at most `flush_at` per shard, which the goal keeps
    /// at a 1/1024 of itself.
    #[inline]
    fn account(&self, g: &mut ShardMap<K>, delta: i64, force: bool) {
        g.managed = g.managed.wrapping_add(delta as u64);
        g.unflushed += delta;
        if force || g.unflushed.unsigned_abs() >= self.flush_at.load(Ordering::Relaxed) {
            let d = std::mem::take(&mut g.unflushed);
            let m = self
                .managed
                .0
                .fetch_add(d as u64, Ordering::Relaxed)
                .wrapping_add(d as u64);
            self.note(m);
        }
    }

    /// Adds every shard's unflushed change to the store's total.
    fn flush_all(&self) {
        for shard in self.shards.iter() {
            let mut g = lock(&shard.0);
            if g.unflushed != 0 {
                self.account(&mut g, 0, true);
            }
        }
    }

    /// Releases a slot that left the map (its managed bytes already
    /// accounted for): disk figures, and its file deleted.
    fn forget(&self, slot: Slot) -> Held {
        match slot {
            Slot::Memory { value, file, .. } => {
                if let Some(f) = file {
                    self.delete(*f);
                }
                Held::Memory(value)
            }
            Slot::Disk { file, nbytes, .. } => {
                self.spilled.fetch_sub(nbytes, Ordering::Relaxed);
                self.spilled_count.fetch_sub(1, Ordering::Relaxed);
                self.delete(*file);
                Held::Disk
            }
        }
    }

    fn delete(&self, file: SpillFile) {
        self.spilled_disk.fetch_sub(file.len, Ordering::Relaxed);
        let _ = std::fs::remove_file(file.path);
    }

    /// Whether `key` is held (in memory or on disk).
    pub fn contains(&self, key: &K) -> bool {
        lock(self.shard(key)).contains_key(key)
    }

    /// Whether the value of `key` is on disk; `None` if it is not held.
    pub fn is_spilled(&self, key: &K) -> Option<bool> {
        lock(self.shard(key))
            .get(key)
            .map(|s| matches!(s, Slot::Disk { .. }))
    }

    /// The size in bytes of the value of `key` (as [`Value::nbytes`]
    /// reported it when it was put in), wherever it is.
    pub fn nbytes_of(&self, key: &K) -> Option<u64> {
        lock(self.shard(key)).get(key).map(|s| match s {
            Slot::Memory { nbytes, .. } | Slot::Disk { nbytes, .. } => *nbytes,
        })
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).len()).sum()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key`, read back from disk if it was spilled (it then
    /// stays in memory); `Ok(None)` if it is not held.
    ///
    /// Records that the value of `key` is next needed at `next` (in the
    /// caller's units: the threads scheduler passes the priority of the
    /// first task that reads it and has not run yet; [`NEXT_USE_UNKNOWN`]
    /// for none). Over the goal, the value needed last is spilled first.
    /// No effect when `key` is not held.
    pub fn set_next_use(&self, key: &K, next: u32) {
        self.update_next_use(key, |_| Some(next));
    }

    /// Changes the next use of the value of `key` to what `f` returns for
    /// the current one (`None`: unchanged), under the lock of its shard.
    /// No effect when `key` is not held.
    pub fn update_next_use(&self, key: &K, f: impl FnOnce(u32) -> Option<u32>) {
        let mut map = lock(self.shard(key));
        if let Some(Slot::Memory { next, .. } | Slot::Disk { next, .. }) = map.get_mut(key)
            && let Some(n) = f(*next)
        {
            *next = n;
        }
    }

    /// # Errors
    ///
    /// [`SpillError::Read`] or [`SpillError::Corrupt`] naming the key and
    /// the file when the spill file cannot be read or is damaged.
    pub fn get(&self, key: &K) -> Result<Option<Value>, SpillError<K>> {
        let shard = self.shard(key);
        loop {
            let (path, id, nbytes, next) = {
                let mut map = lock(shard);
                match map.get_mut(key) {
                    None => return Ok(None),
                    Some(Slot::Memory {
                        value, used, file, ..
                    }) => {
                        *used = self.tick();
                        if let Some(f) = file {
                            f.read_at = Some(Instant::now());
                        }
                        return Ok(Some(value.clone()));
                    }
                    Some(Slot::Disk { file, nbytes, next }) => {
                        (file.path.clone(), file.id, *nbytes, *next)
                    }
                }
            };
            let read = spill_file::read(&path);
            let mut map = lock(shard);
            let Some(slot) = map.get_mut(key) else {
                // Removed meanwhile.
                return Ok(None);
            };
            if disk_id(slot) != Some(id) {
                // Read back (and maybe spilled again) by another thread
                // meanwhile: look again.
                continue;
            }
            let value = match read {
                Ok(value) => value,
                Err(spill_file::ReadError::Io(source)) => {
                    return Err(SpillError::Read {
                        key: key.clone(),
                        path,
                        source,
                    });
                }
                Err(spill_file::ReadError::Corrupt(reason)) => {
                    return Err(SpillError::Corrupt {
                        key: key.clone(),
                        path,
                        reason,
                    });
                }
                Err(spill_file::ReadError::Decode(error)) => {
                    return Err(SpillError::Decode {
                        key: key.clone(),
                        path,
                        error,
                    });
                }
            };
            let used = self.tick();
            let Slot::Disk { mut file, .. } = std::mem::replace(
                slot,
                Slot::Memory {
                    value: value.clone(),
                    nbytes,
                    used,
                    next,
                    file: None,
                    unspillable: false,
                },
            ) else {
                unreachable!("the slot was checked to be on disk above");
            };
            // The file stays until the value leaves the store: spilling it
            // again is then free.
            file.read_at = Some(Instant::now());
            if let Slot::Memory { file: kept, .. } = slot {
                *kept = Some(file);
            }
            self.account(&mut map, nbytes as i64, true);
            drop(map);
            self.spilled.fetch_sub(nbytes, Ordering::Relaxed);
            self.spilled_count.fetch_sub(1, Ordering::Relaxed);
            self.reads.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(value));
        }
    }

    /// Managed bytes above which [`SpillStore::spill_if_needed`] spills.
    pub fn set_goal(&self, bytes: u64) {
        self.goal.store(bytes, Ordering::Relaxed);
        let flush_at = (bytes / 1024).clamp(1, MAX_UNFLUSHED);
        self.flush_at.store(flush_at, Ordering::Relaxed);
        self.flush_all();
    }

    /// The goal set by [`SpillStore::set_goal`] (`u64::MAX`: never spill).
    pub fn goal(&self) -> u64 {
        self.goal.load(Ordering::Relaxed)
    }

    /// Bytes of the values in memory.
    #[inline]
    pub fn managed(&self) -> u64 {
        self.shards.iter().map(|s| lock(&s.0).managed).sum()
    }

    /// Bytes of the values in memory, as the store's running total: off by
    /// at most 1/16 of the goal (small changes are added in batches), and
    /// one atomic load.
    #[inline]
    pub fn managed_fast(&self) -> u64 {
        self.managed.0.load(Ordering::Relaxed)
    }

    /// The recency tick of a use now. Each thread counts its own uses and
    /// moves the store's clock forward once every [`TICK_BATCH`] of them,
    /// so a tick costs no shared write: within one thread ticks grow
    /// strictly, across threads they are ordered to within a batch, which
    /// is all least-recently-used needs.
    #[inline]
    fn tick(&self) -> u64 {
        LOCAL_TICKS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            let sub = n % TICK_BATCH;
            if sub == 0 {
                self.clock.0.fetch_add(TICK_BATCH, Ordering::Relaxed);
            }
            self.clock.0.load(Ordering::Relaxed) + sub
        })
    }

    /// Updates the over-pause flag for managed bytes `m`, writing it only
    /// when it changes.
    #[inline]
    fn note(&self, m: u64) {
        let over = m > self.pause_at.load(Ordering::Relaxed);
        if over != self.over_pause.load(Ordering::Relaxed) {
            self.over_pause.store(over, Ordering::Relaxed);
        }
    }

    /// Managed bytes above which [`SpillStore::over_pause`] is true
    /// (`u64::MAX`, the default: never).
    pub fn set_pause_at(&self, bytes: u64) {
        self.pause_at.store(bytes, Ordering::Relaxed);
        self.note(self.managed_fast());
    }

    /// Whether managed bytes are above the mark of
    /// [`SpillStore::set_pause_at`]. One load of a flag that changes only
    /// when the answer does: cheap enough to ask for every task.
    #[inline]
    pub fn over_pause(&self) -> bool {
        self.over_pause.load(Ordering::Relaxed)
    }

    /// The store's figures.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            managed: self.managed(),
            spilled: self.spilled.load(Ordering::Relaxed),
            spilled_disk: self.spilled_disk.load(Ordering::Relaxed),
            spilled_count: self.spilled_count.load(Ordering::Relaxed),
            spills: self.spills.load(Ordering::Relaxed),
            spilled_total: self.spilled_total.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
        }
    }

    /// The spill directory, once the first value was spilled.
    pub fn directory(&self) -> Option<&Path> {
        self.dir.get().map(SpillDir::path)
    }

    /// Spills when managed bytes are above the goal; returns the bytes
    /// freed. Cheap when they are not (two atomic loads). Unlike
    /// [`SpillStore::spill_to`], leaves in memory a value read back from
    /// disk that was used in the last 100 ms: its next users are likely
    /// about to run (the tasks that each take a piece of a shuffle's
    /// split), and spilling it again would make each read it once more.
    ///
    /// # Errors
    ///
    /// As [`SpillStore::spill_to`].
    #[inline]
    pub fn spill_if_needed(&self) -> Result<u64, SpillError<K>> {
        let goal = self.goal();
        if self.managed_fast() <= goal {
            return Ok(0);
        }
        self.spill_down_to(goal, true)
    }

    /// Spills values, those needed last first (then least recently used
    /// first), until managed bytes are a little
    /// under `goal` (1/16 below, so the next insert does not spill again
    /// at once) or nothing more can be spilled; returns the bytes freed.
    ///
    /// Choosing what to spill is done by one thread at a time, writing by
    /// each spiller for itself: a thread over the goal claims (under a
    /// short lock) the first values in that order that cover the excess
    /// not already being written by others, then writes them. So threads
    /// that produce results also write their share — producers cannot
    /// outrun the disk — and spills run in parallel.
    ///
    /// # Errors
    ///
    /// [`SpillError::Write`] naming the key and the file when a spill file
    /// cannot be written (a full disk says so), and
    /// [`SpillError::Directory`] when the spill directory cannot be made.
    pub fn spill_to(&self, goal: u64) -> Result<u64, SpillError<K>> {
        self.spill_down_to(goal, false)
    }

    /// Whether the value read back from `file` was used within the grace
    /// period ([`READ_BACK_GRACE`]).
    fn in_grace(&self, file: &SpillFile) -> bool {
        file.read_at.is_some_and(|t| t.elapsed() < self.grace)
    }

    /// [`SpillStore::spill_to`]; with `grace`, values read back from disk
    /// and used in the last [`READ_BACK_GRACE`] are left in memory.
    fn spill_down_to(&self, goal: u64, grace: bool) -> Result<u64, SpillError<K>> {
        let mut freed = 0;
        let mut claimed: Vec<(K, Value, u64)> = Vec::new();
        let dir = {
            let _spiller = lock(&self.spiller);
            // Exact from here on: spills add their change at once.
            self.flush_all();
            let pending = self.in_flight.load(Ordering::Relaxed);
            let managed = self.managed_fast().saturating_sub(pending);
            if managed <= goal {
                return Ok(0);
            }
            let mut need = managed - (goal - goal / 16);
            let mut candidates: Vec<((Reverse<u32>, u64), K)> = Vec::new();
            for shard in self.shards.iter() {
                let map = lock(&shard.0);
                candidates.extend(map.iter().filter_map(|(k, s)| match s {
                    Slot::Memory {
                        value,
                        used,
                        nbytes,
                        next,
                        file,
                        unspillable: false,
                    } if *nbytes >= MIN_SPILL
                        && value.handle_count() == 1
                        && !(grace && file.as_ref().is_some_and(|f| self.in_grace(f))) =>
                    {
                        Some(((Reverse(*next), *used), k.clone()))
                    }
                    _ => None,
                }));
            }
            candidates.sort_unstable_by_key(|c| c.0);
            for (_, key) in candidates {
                if need == 0 {
                    break;
                }
                let (n, claim) = self.claim(&key);
                freed += if claim.is_some() { 0 } else { n };
                if let Some(value) = claim {
                    self.in_flight.fetch_add(n, Ordering::Relaxed);
                    claimed.push((key, value, n));
                }
                need = need.saturating_sub(n);
            }
            if claimed.is_empty() {
                return Ok(freed);
            }
            match self.dir() {
                Ok(dir) => dir.to_owned(),
                Err(e) => {
                    for (_, _, n) in &claimed {
                        self.in_flight.fetch_sub(*n, Ordering::Relaxed);
                    }
                    return Err(e);
                }
            }
        };
        // The writes happen outside the selection lock: threads that spill
        // at once write in parallel, each what it claimed.
        let mut claimed = claimed.into_iter();
        let mut error = None;
        for (key, value, n) in claimed.by_ref() {
            let written = self.write_claimed(&dir, &key, value, n);
            self.in_flight.fetch_sub(n, Ordering::Relaxed);
            match written {
                Ok(f) => freed += f,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        // After an error the other claims are let go unwritten.
        for (_, value, n) in claimed {
            self.in_flight.fetch_sub(n, Ordering::Relaxed);
            drop(value);
        }
        match error {
            Some(e) => Err(e),
            None => Ok(freed),
        }
    }

    /// Claims the value of `key` for spilling (under its shard lock): a
    /// second handle, which also keeps other spillers off it. A value
    /// read back earlier whose file was kept goes to disk at once instead
    /// (no claim). Returns its size, and the handle when claimed.
    fn claim(&self, key: &K) -> (u64, Option<Value>) {
        let mut map = lock(self.shard(key));
        match map.get_mut(key) {
            Some(Slot::Memory {
                value,
                nbytes,
                file,
                next,
                unspillable: false,
                ..
            }) if value.handle_count() == 1 && *nbytes >= MIN_SPILL => {
                let (nbytes, next) = (*nbytes, *next);
                if let Some(f) = file.take() {
                    // Read back earlier and its file kept: nothing to write.
                    let old = map.insert(
                        key.clone(),
                        Slot::Disk {
                            file: f,
                            nbytes,
                            next,
                        },
                    );
                    self.account(&mut map, -(nbytes as i64), true);
                    drop(map);
                    self.moved_to_disk(nbytes);
                    drop_quietly(old);
                    return (nbytes, None);
                }
                if !value.is_portable() {
                    return (0, None);
                }
                (nbytes, Some(value.clone()))
            }
            _ => (0, None),
        }
    }

    /// Writes a claimed value to a file in `dir` and swaps its slot to "on
    /// disk" if nobody took a handle meanwhile; the bytes freed.
    fn write_claimed(
        &self,
        dir: &Path,
        key: &K,
        value: Value,
        nbytes: u64,
    ) -> Result<u64, SpillError<K>> {
        let on_disk = self.spilled_disk.load(Ordering::Relaxed);
        if on_disk.saturating_add(nbytes) > self.options.max_spill {
            return Ok(0);
        }
        let id = self.next_file.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{id}.spill"));
        let len = match spill_file::write(&path, &value, self.options.compression) {
            Ok(len) => len,
            // A codec that fails (a serde error, a panic) leaves the value
            // in memory for good, as Dask keeps a value it cannot pickle.
            Err(spill_file::WriteError::Codec(error)) => {
                self.unspillable(key, &value, error);
                return Ok(0);
            }
            Err(spill_file::WriteError::Io(source)) => {
                return Err(SpillError::Write {
                    key: key.clone(),
                    path,
                    source,
                });
            }
        };
        self.spilled_disk.fetch_add(len, Ordering::Relaxed);
        let file = Box::new(SpillFile {
            path,
            len,
            id,
            read_at: None,
        });
        let mut map = lock(self.shard(key));
        let swapped = match map.get_mut(key) {
            Some(slot @ Slot::Memory { .. }) if memory_is(slot, &value) => {
                let (Slot::Memory { next, .. } | Slot::Disk { next, .. }) = slot;
                let next = *next;
                Ok(std::mem::replace(slot, Slot::Disk { file, nbytes, next }))
            }
            _ => Err(file),
        };
        if swapped.is_ok() {
            self.account(&mut map, -(nbytes as i64), true);
        }
        drop(map);
        match swapped {
            Ok(old) => {
                self.moved_to_disk(nbytes);
                drop_quietly((old, value));
                Ok(nbytes)
            }
            Err(file) => {
                // Taken by a task, replaced or removed while it was written.
                self.delete(*file);
                Ok(0)
            }
        }
    }

    /// Marks the value of `key` (if the slot still holds `value`) as one
    /// that is not spilled again, and keeps `error` for
    /// [`SpillStore::take_encode_failures`].
    fn unspillable(&self, key: &K, value: &Value, error: CodecError) {
        let mut map = lock(self.shard(key));
        if let Some(Slot::Memory {
            value: v,
            unspillable,
            ..
        }) = map.get_mut(key)
            && v.ptr_eq(value)
        {
            *unspillable = true;
        }
        drop(map);
        let mut failures = lock(&self.encode_failures);
        if failures.len() < MAX_ENCODE_FAILURES {
            failures.push((key.clone(), error));
        }
        self.has_encode_failures.store(true, Ordering::Release);
    }

    /// The values that could not be spilled since the last call, with why:
    /// their type's encoder failed or panicked. They stay in memory and are
    /// not tried again; the caller says so (naming the key), as Dask logs
    /// a value it cannot pickle. At most 64 are kept between calls. One
    /// atomic load when there are none.
    ///
    /// ```
    /// use rask_memory::{SpillOptions, SpillStore};
    ///
    /// let store = SpillStore::<u32>::new(SpillOptions::default());
    /// assert!(store.take_encode_failures().is_empty());
    /// ```
    pub fn take_encode_failures(&self) -> Vec<(K, CodecError)> {
        if !self.has_encode_failures.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.encode_failures))
    }

    fn moved_to_disk(&self, nbytes: u64) {
        self.spilled.fetch_add(nbytes, Ordering::Relaxed);
        self.spilled_count.fetch_add(1, Ordering::Relaxed);
        self.spills.fetch_add(1, Ordering::Relaxed);
        self.spilled_total.fetch_add(nbytes, Ordering::Relaxed);
    }

    /// The spill directory, made on first use (under the spiller lock).
    fn dir(&self) -> Result<&Path, SpillError<K>> {
        if let Some(d) = self.dir.get() {
            return Ok(d.path());
        }
        let parent = self
            .options
            .directory
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let made = spill_dir::make(&parent).map_err(|source| SpillError::Directory {
            path: parent,
            source,
        })?;
        Ok(self.dir.get_or_init(|| made).path())
    }
}

fn disk_id(slot: &Slot) -> Option<u64> {
    match slot {
        Slot::Disk { file, .. } => Some(file.id),
        Slot::Memory { .. } => None,
    }
}

/// Whether `slot` holds `value` in memory and only the store and the
/// spiller hold handles to it.
fn memory_is(slot: &Slot, value: &Value) -> bool {
    matches!(slot, Slot::Memory { value: v, .. } if v.ptr_eq(value) && v.handle_count() == 2)
}

impl<K> Drop for SpillStore<K> {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.get() {
            // Its lock is released after (when `dir` is dropped).
            let _ = std::fs::remove_dir_all(dir.path());
        }
    }
}

impl<K> std::fmt::Debug for SpillStore<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillStore")
            .field("managed", &self.managed.0.load(Ordering::Relaxed))
            .field("spilled", &self.spilled.load(Ordering::Relaxed))
            .field("goal", &self.goal.load(Ordering::Relaxed))
            .field("dir", &self.dir.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
