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
