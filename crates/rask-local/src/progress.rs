//! The terminal progress bar shown during `compute`.
//!
//! Task completions only bump an atomic counter (one relaxed add on the hot
//! path). A ticker thread, started with the compute and stopped when it ends,
//! waits for the configured delay — so short computes never draw anything —
//! then shows an `indicatif` bar on stderr and refreshes it from the counter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rask_config::Config;
use rask_core::{Callback, Plan, TaskId};

/// Whether a compute should show a bar under `config`.
pub fn enabled(config: &Config) -> bool {
    config.progress.enabled()
}

/// Counts finished tasks for the ticker.
#[derive(Default)]
pub struct ProgressCounter {
    done: AtomicU64,
}

impl Callback for ProgressCounter {
    fn on_task_finish(&self, _plan: &Plan, _task: TaskId, _worker: usize, _ok: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `f` while a ticker draws progress of `total` tasks from `counter`.
pub fn with_progress<R>(
    total: usize,
    delay: Duration,
    counter: &ProgressCounter,
    f: impl FnOnce() -> R,
) -> R {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let ticker = std::thread::Builder::new()
            .name("rask-progress".into())
            .spawn_scoped(s, move || tick(total, delay, counter, stop_rx));
        let result = f();
        drop(stop_tx);
        if let Ok(handle) = ticker {
            let _ = handle.join();
        }
        result
    })
}

fn tick(total: usize, delay: Duration, counter: &ProgressCounter, stop: mpsc::Receiver<()>) {
    let start = Instant::now();
    if stop.recv_timeout(delay) != Err(mpsc::RecvTimeoutError::Timeout) {
        return; // finished before the delay: draw nothing
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:40} {pos}/{len} tasks ({percent}%) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(counter.done.load(Ordering::Relaxed));
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(100)) {
        bar.set_position(counter.done.load(Ordering::Relaxed));
    }
    bar.set_position(counter.done.load(Ordering::Relaxed));
    bar.finish_with_message(format!("in {:.2?}", start.elapsed()));
}
