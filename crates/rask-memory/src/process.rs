//! The process's memory as the operating system sees it, and handing freed
//! memory back to it.
//!
//! * [`rss_bytes`]: resident set size from `/proc/self/statm` (one short
//!   read, cheap enough to sample every 100 ms).
//! * [`private_rss_bytes`]: the part of it that is the process's own
//!   memory — RSS minus file-backed pages (the program's code, mapped
//!   files), which the kernel drops and reads again under memory pressure
//!   instead of running out. It is what the memory gauge measures: a
//!   program's code is no job's working set, and a large binary (Polars
//!   alone is tens of megabytes of code) would otherwise look like
//!   unmanaged memory that never goes away.
//! * [`release_free_memory`]: allocators keep freed memory for reuse, so RSS
//!   does not fall when a task's buffers are dropped — the "memory not
//!   returned to the OS" that makes Dask users restart workers by hand.
//!   With glibc's malloc (the default global allocator of a Rust program on
//!   Linux) this calls `malloc_trim(0)`. A program with another global
//!   allocator registers its purge with [`set_release_hook`]; mimalloc, which
//!   the `rask` facade's `mimalloc` feature installs, also returns freed
//!   pages on its own after a short delay.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

/// The process's resident set size in bytes; `None` where `/proc` cannot be
/// read (not Linux).
///
/// ```
/// if let Some(rss) = rask_memory::rss_bytes() {
///     assert!(rss > 0);
/// }
/// ```
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The resident memory of this process that is its own, in bytes: the
/// resident set size minus resident pages shared with files (the program's
/// code and libraries, mapped files), from `/proc/self/statm`; `None` where
/// it cannot be read (not Linux). See the module docs for why the memory
/// gauge measures this rather than RSS.
///
/// ```
/// if let (Some(private), Some(rss)) = (rask_memory::private_rss_bytes(), rask_memory::rss_bytes()) {
///     assert!(private <= rss);
/// }
/// ```
pub fn private_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut words = statm.split_ascii_whitespace().skip(1);
    let resident: u64 = words.next()?.parse().ok()?;
    let shared: u64 = words.next()?.parse().ok()?;
    Some(resident.saturating_sub(shared) * page_size())
}

/// The resident set size in bytes of process `pid` (from
/// `/proc/PID/statm`); `None` where it cannot be read (the process is gone,
/// or not Linux). A worker's supervisor samples its worker with it.
///
/// ```
/// if let Some(rss) = rask_memory::rss_of(std::process::id()) {
///     assert!(rss > 0);
/// }
/// ```
pub fn rss_of(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The value of `field` in a `/proc` file of `Name:   123 kB` lines
/// (`/proc/meminfo`, `/proc/self/status`), in bytes.
pub(crate) fn kib_field(text: &str, field: &str) -> Option<u64> {
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: sysconf reads a constant of the system and has no
            // preconditions.
            let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            if n > 0 {
                return n as u64;
            }
        }
        4096
    })
}

/// Large blocks glibc's malloc serves from fresh mappings, and the free
/// memory at the top of its heap above which it shrinks the heap, while the
/// process is under memory pressure (see [`set_memory_pressure`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_PRESSED: i32 = 128 << 10;

/// The same two thresholds once the pressure ends: glibc's own ceiling for
/// its dynamic mmap threshold (32 MiB), and twice that for trimming, so
/// blocks are again reused from the heap without page faults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_RELAXED: (i32, i32) = (32 << 20, 64 << 20);

/// Makes glibc's malloc hand freed memory back to the operating system as
/// it goes (`short`), or keep it for reuse again. Under pressure its mmap
/// and trim thresholds are fixed at 128 KiB (as Dask's nanny does for its
/// workers with `MALLOC_TRIM_THRESHOLD_`). By default glibc raises the mmap
/// threshold to the largest block freed so far (up to 32 MiB), after which
/// blocks of partitions and pieces live in its heaps, and freed ones stay
/// there — fragmented, between the gauge's trims — as memory the process
/// holds but no task uses. Measured on a dataframe shuffle of 3× a 64 MiB
/// limit: RSS minus the program's code fell from about 60 MiB to 47 MiB at
/// peak, and the store's share from near nothing to 19 MiB. Nothing changes
/// until the first pressure, so work that never nears its limit keeps
/// glibc's defaults. Settings given in the environment
/// (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`) are left alone;
/// other allocators are not touched (rask's mimalloc has its own hook).
fn glibc_return_promptly(short: bool) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (param, env, relaxed) in [
        (
            libc::M_MMAP_THRESHOLD,
            "MALLOC_MMAP_THRESHOLD_",
            GLIBC_RELAXED.0,
        ),
        (
            libc::M_TRIM_THRESHOLD,
            "MALLOC_TRIM_THRESHOLD_",
            GLIBC_RELAXED.1,
        ),
    ] {
        if std::env::var_os(env).is_none() {
            let value = if short { GLIBC_PRESSED } else { relaxed };
            // SAFETY: mallopt only changes glibc's tuning parameters; it is
            // thread-safe and has no memory preconditions.
            unsafe {
                libc::mallopt(param, value);
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = short;
}

/// The purge function registered with [`set_release_hook`].
static HOOK: RwLock<Option<fn()>> = RwLock::new(None);

/// Registers `hook` to be called by [`release_free_memory`], for a program
/// whose global allocator is not the system's (with mimalloc, a function
/// that calls `mi_collect(true)`).
///
/// ```
/// fn purge() {}
/// rask_memory::set_release_hook(purge);
/// rask_memory::release_free_memory();
/// ```
pub fn set_release_hook(hook: fn()) {
    *HOOK.write().unwrap_or_else(|p| p.into_inner()) = Some(hook);
}

/// The function registered with [`set_pressure_hook`].
static PRESSURE_HOOK: RwLock<Option<fn(bool)>> = RwLock::new(None);

/// Whether the last call of [`set_memory_pressure`] said the process is
/// short of memory.
static PRESSURE: AtomicBool = AtomicBool::new(false);

/// Registers `hook` to be told when the process comes under memory
/// pressure (`true`: a gauge found RSS above its spill threshold) and when
/// the pressure ends (`false`: back under the target). With mimalloc, rask
/// makes it hand freed pages back at once under pressure, and keep them
/// for reuse otherwise; glibc's malloc is switched the same way without a
/// hook.
///
/// ```
/// fn tell(short: bool) { let _ = short; }
/// rask_memory::set_pressure_hook(tell);
/// ```
pub fn set_pressure_hook(hook: fn(bool)) {
    *PRESSURE_HOOK.write().unwrap_or_else(|p| p.into_inner()) = Some(hook);
}

/// Says whether the process is short of memory; calls the hook of
/// [`set_pressure_hook`] when that changes. Gauges call it at each sample.
///
/// ```
/// rask_memory::set_memory_pressure(false);
/// assert!(!rask_memory::memory_pressure());
/// ```
pub fn set_memory_pressure(short: bool) {
    if PRESSURE.swap(short, Ordering::AcqRel) != short {
        glibc_return_promptly(short);
        let hook = *PRESSURE_HOOK.read().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = hook {
            f(short);
        }
    }
}

/// Whether the process is under memory pressure (see
/// [`set_memory_pressure`]).
pub fn memory_pressure() -> bool {
    PRESSURE.load(Ordering::Acquire)
}

/// Requests counted by [`release_free_memory`]; each thread that passes a
/// [`release_point`] after a new request runs the hook for itself.
static RELEASE_EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The last request this thread has answered.
    static SEEN_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// Returns memory the allocator holds but no longer uses to the operating
/// system, so RSS falls after work: `malloc_trim(0)` with glibc, then the
/// hook of [`set_release_hook`] if one is set. Costs a walk over the free
/// heap (around a millisecond for a large one): call it after work, not
/// per task.
///
/// Allocators with per-thread heaps (mimalloc) release only the calling
/// thread's free pages at once; every other thread releases its own at its
/// next [`release_point`], which worker threads pass between tasks.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases free memory of glibc's heap; it
        // is thread-safe and touches no memory in use.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    let hook = *HOOK.read().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = hook {
        let epoch = RELEASE_EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
        SEEN_EPOCH.with(|s| s.set(epoch));
        f();
    }
}

/// Runs the release hook on this thread if [`release_free_memory`] was
/// called (on any thread) since this thread last did: the way a thread
/// with its own heap gives its free pages back. One atomic load when
/// nothing was requested; worker threads call it between tasks.
///
/// ```
/// rask_memory::release_point(); // nothing requested: does nothing
/// ```
#[inline]
pub fn release_point() {
    let epoch = RELEASE_EPOCH.load(Ordering::Acquire);
    if epoch == 0 {
        return;
    }
    let stale = SEEN_EPOCH.with(|s| s.replace(epoch) != epoch);
    if stale {
        let hook = *HOOK.read().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = hook {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HOOK_CALLS: AtomicU64 = AtomicU64::new(0);
    static SAW_PRESSURE: AtomicBool = AtomicBool::new(false);

    fn counting_hook() {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }

    fn pressure_hook(short: bool) {
        if short {
            SAW_PRESSURE.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn other_threads_release_at_their_next_release_point() {
        set_release_hook(counting_hook);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // Up to date with every request so far.
            release_point();
            ready.send(()).unwrap();
            wait.recv().unwrap();
            let before = HOOK_CALLS.load(Ordering::SeqCst);
            release_point();
            HOOK_CALLS.load(Ordering::SeqCst) - before
        });
        started.recv().unwrap();
        let before = HOOK_CALLS.load(Ordering::SeqCst);
        release_free_memory();
        assert!(HOOK_CALLS.load(Ordering::SeqCst) > before);
        go.send(()).unwrap();
        // The request made on this thread is answered on the other one.
        assert_eq!(t.join().unwrap(), 1);
    }

    #[test]
    fn pressure_changes_reach_the_hook() {
        set_pressure_hook(pressure_hook);
        set_memory_pressure(true);
        assert!(SAW_PRESSURE.load(Ordering::SeqCst));
        set_memory_pressure(false);
    }

    #[test]
    fn rss_grows_with_touched_memory_and_trim_does_not_crash() {
        let Some(before) = rss_bytes() else {
            eprintln!("skipped: /proc/self/statm cannot be read here");
            return;
        };
        let block = vec![1u8; 64 << 20];
        let during = rss_bytes().unwrap();
        assert!(during > before + (32 << 20), "{before} -> {during}");
        drop(block);
        release_free_memory();
    }
}
