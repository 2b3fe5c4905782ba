//! Callbacks registered for a scope: Dask's `with Profiler(): ...`.
//!
//! [`register`] adds a [`Callback`] to a process-wide list and returns a
//! [`CallbackGuard`]; while the guard lives, every run through the compute
//! pipeline ([`crate::compute`]) — so every `compute`, `persist` and `get`,
//! on any executor — calls it, on any thread. Dropping the guard removes
//! exactly that registration, so guards nest and may be dropped in any
//! order.
//!
//! The list is read once per run, not per task: the pipeline takes a
//! snapshot of it before the run starts (a callback registered during a run
//! sees the next run). When nothing is registered, a run only loads one
//! atomic counter and takes no lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::executor::Callback;

/// Registered callbacks, each with the id of its guard.
static REGISTERED: Mutex<Vec<(u64, Arc<dyn Callback>)>> = Mutex::new(Vec::new());
/// Length of `REGISTERED`, read without the lock.
static COUNT: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Keeps a callback registered; dropping it removes the callback.
///
/// ```
/// use std::sync::Arc;
/// use rask_core::{Callback, callbacks};
/// struct Quiet;
/// impl Callback for Quiet {}
/// let before = callbacks::registered();
/// let guard = callbacks::register(Arc::new(Quiet));
/// assert!(callbacks::registered() > before);
/// drop(guard); // removed again
/// ```
#[must_use = "the callback is removed when the guard is dropped"]
#[derive(Debug)]
pub struct CallbackGuard {
    id: u64,
}

impl CallbackGuard {
    /// Removes the callback now (the same as dropping the guard).
    pub fn unregister(self) {}
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        let mut list = lock();
        list.retain(|(id, _)| *id != self.id);
        COUNT.store(list.len(), Ordering::Release);
    }
}

/// Registers `callback` for every run until the guard is dropped.
pub fn register(callback: Arc<dyn Callback>) -> CallbackGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut list = lock();
    list.push((id, callback));
    COUNT.store(list.len(), Ordering::Release);
    CallbackGuard { id }
}

/// Number of callbacks registered now.
pub fn registered() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// The callbacks registered now, in registration order.
pub fn snapshot() -> Vec<Arc<dyn Callback>> {
    if COUNT.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    lock().iter().map(|(_, cb)| cb.clone()).collect()
}

/// Nothing panics while holding the lock, but a poisoned one is still usable.
fn lock() -> MutexGuard<'static, Vec<(u64, Arc<dyn Callback>)>> {
    REGISTERED.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Callback for Nothing {}

    #[test]
    fn guards_nest_and_remove_only_their_own_callback() {
        let a: Arc<dyn Callback> = Arc::new(Nothing);
        let b: Arc<dyn Callback> = Arc::new(Nothing);
        let ga = register(a.clone());
        let gb = register(b.clone());
        let has = |x: &Arc<dyn Callback>| snapshot().iter().any(|c| Arc::ptr_eq(c, x));
        assert!(has(&a) && has(&b));
        drop(ga);
        assert!(!has(&a) && has(&b));
        gb.unregister();
        assert!(!has(&b));
    }
}
