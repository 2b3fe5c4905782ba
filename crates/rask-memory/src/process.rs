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
/// memory at the top of its heap above which it shrinks the heap, once a
/// memory limit is in force (see [`return_memory_promptly`]).
const GLIBC_THRESHOLD: i32 = 128 << 10;

/// Makes the allocator hand freed memory back to the operating system as
/// it goes, once per process; the memory gauge calls it when a memory limit
/// applies. With glibc's malloc this fixes its mmap threshold and its trim
/// threshold at 128 KiB (as Dask's nanny does for its workers with
/// `MALLOC_TRIM_THRESHOLD_`). By default glibc raises the mmap threshold
/// to the largest block freed so far (up to 32 MiB), after which blocks of
/// partitions and pieces live in its heaps, and freed ones stay there —
/// fragmented, between the gauge's trims — as memory the process holds but
/// no task uses. Measured on a dataframe shuffle of 3× a 64 MiB limit: RSS
/// minus the program's code fell from about 60 MiB to 47 MiB at peak, and
/// the store's share from near nothing to 19 MiB (a quarter of the spills).
/// Settings given in the environment (`MALLOC_MMAP_THRESHOLD_`,
/// `MALLOC_TRIM_THRESHOLD_`) are left alone, and other allocators are not
/// touched (mimalloc returns memory on its own).
pub fn return_memory_promptly() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        for (param, env) in [
            (libc::M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"),
            (libc::M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
        ] {
            if std::env::var_os(env).is_none() {
                // SAFETY: mallopt only changes glibc's tuning parameters;
                // it is thread-safe and has no memory preconditions.
                unsafe {
                    libc::mallopt(param, GLIBC_THRESHOLD);
                }
            }
        }
    });
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

/// Returns memory the allocator holds but no longer uses to the operating
/// system, so RSS falls after work: `malloc_trim(0)` with glibc, then the
/// hook of [`set_release_hook`] if one is set. Costs a walk over the free
/// heap (around a millisecond for a large one): call it after work, not
/// per task.
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
        f();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
