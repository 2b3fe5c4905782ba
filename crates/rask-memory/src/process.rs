//! The process's memory as the operating system sees it, and handing freed
//! memory back to it.
//!
//! * [`rss_bytes`]: resident set size from `/proc/self/statm` (one short
//!   read, cheap enough to sample every 100 ms).
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
/// for reuse otherwise.
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
