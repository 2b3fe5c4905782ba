//! The supervisor ("nanny"): a small process that starts a worker process,
//! watches its memory, and restarts it before the kernel or the batch
//! system kills it.
//!
//! Every [`SupervisorOptions::interval`] (100 ms) the supervisor reads the
//! worker's resident set size from `/proc/PID/statm`. Above
//! `memory.terminate × limit` (0.95 of `--memory-limit` by default) it asks
//! the worker, over the worker's standard input, to stop: the worker tells
//! the scheduler (`MemoryRestart`, with the figure, the limit and the tasks
//! on its threads, so the scheduler can name the task that used too much)
//! and exits; a worker that has not exited after [`SupervisorOptions::grace`]
//! is killed (SIGKILL). Then a fresh worker is started, which connects to
//! the scheduler again. A worker killed by a signal (a crash, the OOM
//! killer, `kill -9`) is restarted too. A worker that exits with status 0
//! (the scheduler closed it) ends the supervisor with `Ok`; one that exits
//! with another status (it could not reach the scheduler, bad options) ends
//! it with that error, since starting it again would fail the same way.
//!
//! SIGTERM or SIGINT to the supervisor asks the worker to retire (its data
//! moves to peers) and stops restarting; a second signal kills the worker.
//! A worker whose supervisor dies sees its standard input close and exits
//! at once.
//!
//! ```no_run
//! use rask_worker::supervisor::{SupervisorOptions, supervise};
//!
//! let mut opts = SupervisorOptions::new("/usr/local/bin/rask");
//! opts.args = vec!["worker".into(), "tcp://10.0.0.5:8786".into(), "--no-nanny".into()];
//! opts.memory_limit = 2 << 30;
//! supervise(opts)?; // until the scheduler closes the worker
//! # Ok::<(), rask_worker::WorkerError>(())
//! ```

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Result, WorkerError};
use crate::runtime::Event;

/// Set to `1` by a supervisor in the environment of the worker process it
/// starts: the worker then listens to the supervisor on standard input.
pub const SUPERVISED_ENV: &str = "RASK_WORKER_SUPERVISED";

/// Set to `1` (with `RASK_WORKER_SCHEDULER`) by a cluster that launches a
/// program as a worker: [`crate::run_from_env`] then runs a supervisor that
/// starts the same program again as the worker.
pub const SUPERVISE_ENV: &str = "RASK_WORKER_SUPERVISE";

/// A memory restart as the supervisor asks it of the worker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Request {
    pub rss: u64,
    pub limit: u64,
    pub fraction: f64,
}

/// How a supervisor starts and watches its worker; see [`supervise`].
#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    /// The worker's program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment variables added to the supervisor's own (which the
    /// worker inherits), besides `RASK_WORKER_SUPERVISED=1`.
    pub env: Vec<(OsString, OsString)>,
    /// The worker's memory limit in bytes (0: no memory watch, crashes are
    /// still restarted).
    pub memory_limit: u64,
    /// The fraction of `memory_limit` above which the worker is restarted
    /// (config `memory.terminate`, 0.95 by default).
    pub terminate: f64,
    /// How often the worker's memory is read (default 100 ms).
    pub interval: Duration,
    /// How long a worker asked to stop has before it is killed (default 2 s).
    pub grace: Duration,
    /// Restarts allowed within a minute before the supervisor gives up
    /// (default 10): a worker that cannot stay up is an error to report.
    pub max_restarts_per_minute: usize,
}

impl SupervisorOptions {
    /// Options that run `program` with no arguments and no memory limit.
    pub fn new(program: impl Into<PathBuf>) -> SupervisorOptions {
        SupervisorOptions {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            memory_limit: 0,
            terminate: 0.95,
            interval: Duration::from_millis(100),
            grace: Duration::from_secs(2),
            max_restarts_per_minute: 10,
        }
    }

    /// The terminate threshold in bytes (`None`: no limit).
    fn threshold(&self) -> Option<u64> {
        (self.memory_limit > 0).then_some((self.memory_limit as f64 * self.terminate) as u64)
    }
}

/// Bytes for people: `1.90 GiB`, `191.0 MiB`.
fn human(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    UNITS
        .iter()
        .find(|(_, unit)| n >= *unit)
        .map_or(format!("{n} B"), |(name, unit)| {
            format!("{:.2} {name}", n as f64 / *unit as f64)
        })
}

/// A running worker process.
struct Incarnation {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Incarnation {
    fn start(opts: &SupervisorOptions) -> Result<Incarnation> {
        let mut child = Command::new(&opts.program)
            .args(&opts.args)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .env(SUPERVISED_ENV, "1")
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| {
                WorkerError::Supervisor(format!(
                    "cannot start the worker process {}: {e}",
                    opts.program.display()
                ))
            })?;
        let stdin = child.stdin.take();
        Ok(Incarnation { child, stdin })
    }

    /// Sends one line to the worker; a worker that is gone is not an error.
    fn tell(&mut self, line: &str) {
        if let Some(stdin) = &mut self.stdin
            && (stdin.write_all(line.as_bytes()).is_err() || stdin.flush().is_err())
        {
            self.stdin = None;
        }
    }

    /// Waits up to `grace` for the worker to exit, then kills it.
    async fn stop_within(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a worker process under a supervisor until the worker ends; see the
/// module docs.
///
/// # Errors
///
/// [`WorkerError::Supervisor`] when the worker process cannot be started,
/// exits with a failure status of its own, or needs more than
/// `max_restarts_per_minute` restarts in a minute.
pub fn supervise(opts: SupervisorOptions) -> Result<()> {
    if !(opts.terminate > 0.0 && opts.terminate.is_finite()) {
        return Err(WorkerError::InvalidOption {
            what: "memory.terminate".into(),
            message: format!("{} is not a fraction above 0", opts.terminate),
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WorkerError::Start(format!("cannot start the supervisor's runtime: {e}")))?;
    rt.block_on(run(opts))
}

async fn run(opts: SupervisorOptions) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (Some(t), Some(i)),
        _ => (None, None),
    };
    let threshold = opts.threshold();
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    let mut worker = Incarnation::start(&opts)?;
    let mut signals = 0;
    let mut tick = tokio::time::interval(opts.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(_) = async { term.as_mut()?.recv().await } => signals += 1,
            Some(_) = async { int.as_mut()?.recv().await } => signals += 1,
        }
        match signals {
            0 | 2 => {}
            1 => {
                worker.tell("retire\n");
                signals = 2; // told once; a further signal kills
            }
            _ => {
                let _ = worker.child.kill();
                let _ = worker.child.wait();
                return Err(WorkerError::Killed);
            }
        }
        let pid = worker.child.id();
        let status = worker.child.try_wait().map_err(|e| {
            WorkerError::Supervisor(format!("cannot watch worker process {pid}: {e}"))
        })?;
        let reason = match status {
            None => match (threshold, rask_memory::rss_of(pid)) {
                (Some(limit), Some(rss)) if rss > limit && signals == 0 => {
                    worker.tell(&format!(
                        "memory-restart {rss} {} {}\n",
                        opts.memory_limit, opts.terminate
                    ));
                    worker.stop_within(opts.grace).await;
                    format!(
                        "worker process {pid} used {}, over its limit {} x {} = {}",
                        human(rss),
                        human(opts.memory_limit),
                        opts.terminate,
                        human(limit)
                    )
                }
                _ => continue,
            },
            Some(status) if signals > 0 || status.success() => return Ok(()),
            Some(status) if status.code().is_some() => {
                return Err(WorkerError::Supervisor(format!(
                    "the worker process exited with {status}; not restarting it (its error \
                     output says why)"
                )));
            }
            Some(status) => format!("worker process {pid} died ({status})"),
        };
        let now = Instant::now();
        while restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            restarts.pop_front();
        }
        if restarts.len() >= opts.max_restarts_per_minute {
            return Err(WorkerError::Supervisor(format!(
                "{reason}; it was restarted {} times in the last minute, so the supervisor gives up",
                restarts.len()
            )));
        }
        restarts.push_back(now);
        eprintln!("rask supervisor: {reason}; starting a new worker");
        worker = Incarnation::start(&opts)?;
    }
}

/// Reads the supervisor's requests from standard input on a thread of its
/// own and turns them into worker events. When standard input closes (the
/// supervisor died) the process exits at once, as the worker of a dead
/// supervisor must not live on unwatched.
pub(crate) fn listen_to_supervisor(events: UnboundedSender<Event>, name: &str) -> Result<()> {
    let name = name.to_string();
    std::thread::Builder::new()
        .name(format!("rask-worker-{name}-supervisor"))
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let event = match parse_request(&line) {
                    Some(Some(request)) => Event::MemoryRestart(request),
                    Some(None) => Event::Retire,
                    None => {
                        tracing::warn!(worker = %name, "ignoring unknown request from the supervisor: {line:?}");
                        continue;
                    }
                };
                if events.send(event).is_err() {
                    return; // the worker has stopped
                }
            }
            eprintln!("rask worker {name}: its supervisor is gone; stopping");
            std::process::exit(1);
        })
        .map(drop)
        .map_err(|e| WorkerError::Start(format!("cannot start a thread: {e}")))
}

/// `retire` → `Some(None)`; `memory-restart RSS LIMIT FRACTION` →
/// `Some(Some(request))`; anything else → `None`.
fn parse_request(line: &str) -> Option<Option<Request>> {
    let mut words = line.split_ascii_whitespace();
    match words.next()? {
        "retire" => Some(None),
        "memory-restart" => {
            let rss = words.next()?.parse().ok()?;
            let limit = words.next()?.parse().ok()?;
            let fraction = words.next()?.parse().ok()?;
            Some(Some(Request {
                rss,
                limit,
                fraction,
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(parse_request("retire"), Some(None));
        assert_eq!(
            parse_request("memory-restart 200 100 0.95"),
            Some(Some(Request {
                rss: 200,
                limit: 100,
                fraction: 0.95
            }))
        );
        assert_eq!(parse_request("memory-restart 200"), None);
        assert_eq!(parse_request("dance"), None);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(190 << 20), "190.00 MiB");
        assert_eq!(human(3 << 30), "3.00 GiB");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_crashed_worker_is_restarted_and_an_exit_status_is_reported() {
        // `sh -c 'kill -9 $$'` dies by a signal each time: restarted until
        // the limit, then an error naming the cause.
        let mut opts = SupervisorOptions::new("sh");
        opts.args = vec!["-c".into(), "kill -9 $$".into()];
        opts.max_restarts_per_minute = 2;
        opts.interval = Duration::from_millis(10);
        let err = supervise(opts).unwrap_err().to_string();
        assert!(err.contains("restarted 2 times"), "{err}");
        assert!(err.contains("signal: 9"), "{err}");
        let mut opts = SupervisorOptions::new("sh");
        opts.args = vec!["-c".into(), "exit 3".into()];
        let err = supervise(opts).unwrap_err().to_string();
        assert!(err.contains("exit status: 3"), "{err}");
        let mut opts = SupervisorOptions::new("true");
        opts.interval = Duration::from_millis(10);
        supervise(opts).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_over_its_limit_is_asked_to_stop_then_killed_and_restarted() {
        // A process of some 500 KB RSS over a 64 KiB limit that ignores the
        // request: killed after the grace, restarted, until the limit.
        let mut opts = SupervisorOptions::new("sleep");
        opts.args = vec!["30".into()];
        opts.memory_limit = 64 << 10;
        opts.interval = Duration::from_millis(10);
        opts.grace = Duration::from_millis(50);
        opts.max_restarts_per_minute = 1;
        let start = Instant::now();
        let err = supervise(opts).unwrap_err().to_string();
        assert!(err.contains("over its limit 64.00 KiB x 0.95"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
