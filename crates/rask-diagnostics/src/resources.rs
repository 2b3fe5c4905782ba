//! The resource profiler: the process's memory and CPU use over time.
//!
//! A sampling thread wakes every interval (100 ms by default) and records
//! the resident set size and the CPU use since the previous sample, until
//! its guard is dropped. Samples come from `/proc/self`, so they exist on
//! Linux only: elsewhere the profiler records nothing (see
//! [`ResourceProfiler::supported`]).
//!
//! * RSS: the `VmRSS` line of `/proc/self/status` (resident pages, already
//!   in bytes × 1024; no page size needed).
//! * CPU: the `utime + stime` fields of `/proc/self/stat`, in clock ticks of
//!   `USER_HZ`, which the kernel fixes at 100 per second for user space on
//!   the common architectures; 100 % is one core busy, so a busy pool of 8
//!   threads shows about 800 %.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rask_core::{Error, Result};

/// Clock ticks per second of `/proc/self/stat` (Linux's `USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// One sample of the process's resources.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When it was taken, from the profiler's start.
    pub time: Duration,
    /// Resident set size in bytes.
    pub rss: u64,
    /// CPU use since the previous sample, in percent of one core (0 for the
    /// first sample).
    pub cpu: f64,
}

/// Samples the process's memory (RSS) and CPU use while its guard lives
/// (Dask's `ResourceProfiler`).
///
/// ```
/// use std::time::Duration;
/// use rask_diagnostics::ResourceProfiler;
///
/// let guard = ResourceProfiler::start_with_interval(Duration::from_millis(10)).unwrap();
/// let work: u64 = (0..1_000_000u64).map(|x| x % 7).sum();
/// assert!(work > 0);
/// let resources = guard.finish();
/// if ResourceProfiler::supported() {
///     assert!(resources.samples().len() >= 2); // one at the start, one at the end
///     assert!(resources.samples().iter().all(|s| s.rss > 0));
/// } else {
///     assert!(resources.samples().is_empty());
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ResourceProfiler {
    origin: Instant,
    interval: Duration,
    samples: Arc<Mutex<Vec<Sample>>>,
}

/// Keeps a [`ResourceProfiler`] sampling; dropping it or
/// [`finish`](Self::finish) stops the sampling thread (after one last
/// sample).
#[must_use = "the sampling stops when the guard is dropped"]
#[derive(Debug)]
pub struct ResourceGuard {
    profiler: ResourceProfiler,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ResourceGuard {
    /// Stops sampling and returns the profiler with its samples.
    pub fn finish(mut self) -> ResourceProfiler {
        self.stop();
        self.profiler.clone()
    }

    /// The profiler being sampled into.
    pub fn profiler(&self) -> &ResourceProfiler {
        &self.profiler
    }

    fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ResourceGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ResourceProfiler {
    /// The default interval between samples.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

    /// Starts sampling every 100 ms.
    pub fn start() -> Result<ResourceGuard> {
        Self::start_with_interval(Self::DEFAULT_INTERVAL)
    }

    /// Starts sampling every `interval`; a zero interval is an error, as is
    /// a sampling thread that cannot be started.
    pub fn start_with_interval(interval: Duration) -> Result<ResourceGuard> {
        if interval.is_zero() {
            return Err(Error::invalid(
                "sampling interval",
                "0 would sample without pause; give a positive interval such as 100 ms",
            ));
        }
        let profiler = ResourceProfiler {
            origin: Instant::now(),
            interval,
            samples: Arc::new(Mutex::new(Vec::new())),
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = if Self::supported() {
            let p = profiler.clone();
            let handle = std::thread::Builder::new()
                .name("rask-resources".into())
                .spawn(move || p.sample_until(&stopped))
                .map_err(|e| Error::Scheduler(format!("cannot start the sampling thread: {e}")))?;
            Some(handle)
        } else {
            None
        };
        Ok(ResourceGuard {
            profiler,
            stop: Some(stop),
            thread,
        })
    }

    /// Whether samples can be taken here (Linux with `/proc`).
    pub fn supported() -> bool {
        cfg!(target_os = "linux") && read_cpu_ticks().is_some() && read_rss().is_some()
    }

    /// When the profiler's clock started.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The interval between samples.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The samples taken so far, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Sample>> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sample_until(&self, stopped: &mpsc::Receiver<()>) {
        let mut last: Option<(Instant, u64)> = None;
        loop {
            self.take_sample(&mut last);
            match stopped.recv_timeout(self.interval) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    self.take_sample(&mut last);
                    return;
                }
            }
        }
    }

    fn take_sample(&self, last: &mut Option<(Instant, u64)>) {
        let now = Instant::now();
        let (Some(rss), Some(ticks)) = (read_rss(), read_cpu_ticks()) else {
            return;
        };
        let cpu = match *last {
            Some((then, before)) => {
                let wall = now.duration_since(then).as_secs_f64();
                let busy = ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
                if wall > 0.0 { 100.0 * busy / wall } else { 0.0 }
            }
            None => 0.0,
        };
        *last = Some((now, ticks));
        self.lock().push(Sample {
            time: now.saturating_duration_since(self.origin),
            rss,
            cpu,
        });
    }
}

/// Resident set size in bytes, from `/proc/self/status`.
fn read_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(value * 1024),
        Some(_) => None,
    }
}

/// User plus system CPU time of the process, in clock ticks.
fn read_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces; the
    // fields after it start with field 3 (state), so utime (14) and stime
    // (15) are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmRSS:\t    1536 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(status), Some(1536 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn zero_interval_is_an_error() {
        let err = ResourceProfiler::start_with_interval(Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("interval"), "{err}");
    }

    #[test]
    fn samples_stop_with_the_guard() {
        let guard = ResourceProfiler::start_with_interval(Duration::from_millis(5)).unwrap();
        let profiler = guard.finish();
        let samples = profiler.samples();
        if !ResourceProfiler::supported() {
            assert!(samples.is_empty());
            return;
        }
        // One sample when sampling starts and one when it stops, however
        // short the run.
        assert!(samples.len() >= 2);
        assert!(samples.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(samples.iter().all(|s| s.rss > 0 && s.cpu >= 0.0));
        // The sampling thread has ended: it held the only other handle to
        // the samples, so none can be added any more.
        assert_eq!(Arc::strong_count(&profiler.samples), 1);
        assert_eq!(profiler.samples().len(), samples.len());
    }
}
