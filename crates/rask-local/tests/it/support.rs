//! Helpers shared by the integration tests.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rask_core::{GraphBuilder, Key, Plan, PlanOptions};

/// Runs `f` on its own thread and returns its result, failing the test when
/// it panics or takes longer than 30 s, so a scheduler that hangs fails the
/// test instead of hanging CI. (A generous bound, not a timing assertion.)
pub fn with_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: no result after 30 s, it hangs"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("{what}: panicked instead of returning an error")
        }
    }
}

/// A plan without fusion, so every task is scheduled on its own.
pub fn unfused_plan(builder: GraphBuilder, outputs: &[Key]) -> Plan {
    Plan::new(builder, outputs, PlanOptions { fuse: false }).unwrap()
}
