//! Helpers shared by the integration tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask::Scheduler;

/// Counts live values and the most alive at once.
#[derive(Default)]
pub struct LiveCounter {
    live: AtomicUsize,
    peak: AtomicUsize,
    made: AtomicUsize,
}

impl LiveCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn track(self: &Arc<Self>, value: i64) -> Tracked {
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.made.fetch_add(1, Ordering::SeqCst);
        Tracked {
            value,
            counter: self.clone(),
        }
    }
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }
}

/// A value that the counter sees being made and dropped.
pub struct Tracked {
    pub value: i64,
    counter: Arc<LiveCounter>,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.counter.track(self.value)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counter.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every local scheduler flavour worth testing.
pub fn schedulers() -> Vec<Scheduler> {
    vec![
        Scheduler::sync(),
        Scheduler::threads(1).unwrap(),
        Scheduler::threads(2).unwrap(),
        Scheduler::threads(4).unwrap(),
    ]
}
