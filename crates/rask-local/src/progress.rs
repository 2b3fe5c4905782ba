//! The progress report shown during `compute`.
//!
//! Task completions only bump an atomic counter (one relaxed add on the hot
//! path). A ticker thread, started with the compute and stopped when it ends,
//! waits for the configured delay — so short computes never draw anything —
//! then reports from the counter: an `indicatif` bar when stderr is a
//! terminal, or, when progress is forced on and stderr is a file or pipe (a
//! batch job's log), one plain line every few seconds and one at the end.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rask_config::Config;
use rask_core::{Callback, Plan, TaskId};

/// Whether a compute should report progress under `config`.
pub fn enabled(config: &Config) -> bool {
    config.progress.enabled()
}

/// Counts finished tasks for the ticker.
#[derive(Default)]
pub struct ProgressCounter {
    done: AtomicU64,
}

impl ProgressCounter {
    /// Tasks finished so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

impl Callback for ProgressCounter {
    fn on_task_finish(&self, _plan: &Plan, _task: TaskId, _worker: usize, _ok: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `f` while a ticker reports progress of `total` tasks from `counter`.
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
            .spawn_scoped(s, move || tick(total as u64, delay, counter, stop_rx));
        let result = f();
        drop(stop_tx);
        if let Ok(handle) = ticker {
            let _ = handle.join();
        }
        result
    })
}

fn tick(total: u64, delay: Duration, counter: &ProgressCounter, stop: mpsc::Receiver<()>) {
    let start = Instant::now();
    if stop.recv_timeout(delay) != Err(RecvTimeoutError::Timeout) {
        return; // finished before the delay: report nothing
    }
    if std::io::stderr().is_terminal() {
        draw_bar(total, counter, &stop, start);
    } else {
        write_lines(total, counter, &stop, start);
    }
}

fn draw_bar(total: u64, counter: &ProgressCounter, stop: &mpsc::Receiver<()>, start: Instant) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "[{elapsed_precise}] {bar:40} {pos}/{len} tasks ({percent}%) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(counter.done());
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(100)) {
        bar.set_position(counter.done());
    }
    bar.set_position(counter.done());
    bar.finish_with_message(format!("in {:.2?}", start.elapsed()));
}

fn write_lines(total: u64, counter: &ProgressCounter, stop: &mpsc::Receiver<()>, start: Instant) {
    let line = |done: u64| {
        let pct = if total == 0 {
            100.0
        } else {
            100.0 * done as f64 / total as f64
        };
        eprintln!(
            "[rask] {done}/{total} tasks ({pct:.0}%) after {:.1?}",
            start.elapsed()
        );
    };
    line(counter.done());
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_secs(5)) {
        line(counter.done());
    }
    line(counter.done());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_report_nothing_and_return_the_result() {
        let counter = ProgressCounter::default();
        let r = with_progress(10, Duration::from_secs(60), &counter, || 7);
        assert_eq!(r, 7);
    }

    #[test]
    fn a_ticker_past_its_delay_stops_when_the_run_ends() {
        // With no delay the ticker reports at once, unless the run ends
        // first; either way `with_progress` must stop and join it and return
        // the run's result (a ticker that kept going would hang this test).
        let counter = ProgressCounter::default();
        let r = with_progress(3, Duration::ZERO, &counter, || {
            for _ in 0..3 {
                counter.done.fetch_add(1, Ordering::Relaxed);
            }
            "done"
        });
        assert_eq!(r, "done");
        assert_eq!(counter.done(), 3);
    }
}
