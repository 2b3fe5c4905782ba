//! Helpers for tests of memory behaviour (cargo feature `testing`): each
//! such test runs its compute in a child process — the test binary run
//! again for one test — so that a memory limit in its environment applies
//! to it alone, its peak memory is its own, and it can join a memory cgroup
//! whose limit the kernel enforces (going over is an OOM kill, i.e. a
//! failure the parent sees).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The child processes of one test binary, told apart by the environment
/// variable `var` that names the test a child runs.
#[derive(Clone, Copy, Debug)]
pub struct Children {
    /// The environment variable naming the child's test.
    pub var: &'static str,
}

impl Children {
    /// Whether this process is the child running `test`.
    pub fn is_child(&self, test: &str) -> bool {
        std::env::var(self.var).is_ok_and(|t| t == test)
    }

    /// Whether this process is a child at all (parents do nothing there).
    pub fn in_any_child(&self) -> bool {
        std::env::var_os(self.var).is_some()
    }

    /// Starts the test `test` of this binary in a child process with `env`,
    /// its output piped.
    pub fn spawn(&self, test: &str, env: &[(&str, String)]) -> Child {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(self.var, test)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test binary can be started again")
    }

    /// Runs `test` in a child with `env` and returns its standard output;
    /// panics when it fails or runs past `timeout`.
    pub fn run(&self, test: &str, env: &[(&str, String)], timeout: Duration) -> String {
        let (status, out, err) = wait(self.spawn(test, env), test, timeout);
        assert!(
            status.success(),
            "{test} failed in its child ({status}):\n{out}\n{err}"
        );
        out
    }
}

/// Waits for `child` (the child of `test`), killing it and panicking past
/// `timeout`; returns its status, standard output and standard error.
///
/// Both outputs are read while the child runs (a thread each), so a child
/// that writes more than a pipe holds (64 KiB) goes on rather than
/// blocking on a full pipe until the timeout.
pub fn wait(mut child: Child, test: &str, timeout: Duration) -> (ExitStatus, String, String) {
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let mut bytes = Vec::new();
                let _ = p.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{test}: the child process runs past {timeout:?}; it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    (status, out, err)
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
pub fn status_bytes(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    crate::process::kib_field(&text, field)
}

/// The name of the cgroup for the child of `test` of this process.
pub fn cgroup_name(test: &str) -> String {
    format!(
        "rask-test-{}-{}",
        std::process::id(),
        test.replace("::", "-")
    )
}

/// Puts this process under a real memory limit of `bytes` (RSS and the
/// page cache it writes), in a memory cgroup of its own named `name`: v1's
/// `memory.limit_in_bytes` or v2's `memory.max`. Over it the kernel
/// reclaims, then kills the process. Returns the cgroup's directory, or why
/// there is none (not root, no memory controller).
pub fn join_memory_cgroup(name: &str, bytes: u64) -> Result<PathBuf, String> {
    let v1 = Path::new("/sys/fs/cgroup/memory");
    let v2 = Path::new("/sys/fs/cgroup");
    let (dir, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
        (v1.join(name), "memory.limit_in_bytes")
    } else if std::fs::read_to_string(v2.join("cgroup.subtree_control"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
    {
        (v2.join(name), "memory.max")
    } else {
        return Err("no memory cgroup controller under /sys/fs/cgroup".into());
    };
    let setup = || -> std::io::Result<()> {
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        std::fs::write(dir.join(limit_file), bytes.to_string())?;
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
    };
    match setup() {
        Ok(()) => Ok(dir),
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            Err(format!("cannot set up the cgroup {}: {e}", dir.display()))
        }
    }
}

/// The memory a child test allows itself above what it held before: 1.25 ×
/// `limit` plus 8 MiB (thread stacks, allocator arenas).
pub fn cgroup_allowance(limit: u64) -> u64 {
    limit + limit / 4 + (8 << 20)
}

/// On the child's side: joins the memory cgroup named by the environment
/// variable `var` (set by the parent, see [`cgroup_name`]) with a limit of
/// `bytes`, and says what real limit applies, for the child's output:
/// `"<dir> of N MiB"`, or `"none (why)"`.
pub fn join_cgroup_named_in(var: &str, bytes: u64) -> String {
    match std::env::var(var) {
        Ok(name) => match join_memory_cgroup(&name, bytes) {
            Ok(dir) => format!("{} of {} MiB", dir.display(), bytes >> 20),
            Err(why) => format!("none ({why})"),
        },
        Err(_) => "none (not asked)".into(),
    }
}

/// Removes the cgroup `name` made by [`join_memory_cgroup`] (once its
/// process has exited), wherever it was made.
pub fn remove_cgroup(name: &str) {
    for root in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"] {
        let _ = std::fs::remove_dir(Path::new(root).join(name));
    }
}

/// The value `name=...` in a child's output line starting with `RESULT`.
pub fn result_field(out: &str, name: &str) -> f64 {
    let line = out
        .lines()
        .find_map(|l| l.find("RESULT").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{out}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {line}"))
}

/// The number of files under `p`, at any depth (0 when it does not exist).
pub fn files_under(p: &Path) -> usize {
    std::fs::read_dir(p).map_or(0, |es| {
        es.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_under(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

/// Samples the process's private resident memory (RSS without file-backed
/// pages, [`private_rss_bytes`](crate::private_rss_bytes), what the memory
/// gauge measures) every 2 ms and keeps the largest. `VmHWM` also counts
/// the pages of the program's code, which are no compute's memory and
/// were read (and charged) before a child joined its cgroup.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl PeakSampler {
    /// Starts sampling.
    pub fn start() -> PeakSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !stop2.load(Ordering::Relaxed) {
                peak = peak.max(crate::private_rss_bytes().unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        PeakSampler { stop, thread }
    }

    /// Stops sampling; the largest figure seen.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler does not panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_writing_more_than_a_pipe_holds_is_waited_for_whole() {
        let child = Command::new("sh")
            .args([
                "-c",
                "head -c 300000 /dev/zero | tr '\\0' x; head -c 100000 /dev/zero >&2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, out, err) = wait(child, "big-output", Duration::from_secs(60));
        assert!(status.success());
        assert_eq!(out.len(), 300_000);
        assert_eq!(err.len(), 100_000);
    }
}
