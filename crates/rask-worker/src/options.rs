//! How a worker is configured.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, WorkerError};

/// The `auto` memory limit of a worker given `share` of this machine (a
/// fraction, at most 1): that share of the limit a compute here would get
/// by default (80% of the smaller of RAM and the cgroup limit, see
/// [`rask_memory::detected_limit`]); 0 (no limit) where neither can be
/// read. Dask's rule: a `LocalCluster` of `n` worker processes gives each
/// `1 / n`, a `rask worker` of `t` threads on a machine of `c` cores
/// `min(1, t / c)`.
///
/// ```
/// let half = rask_worker::auto_memory_limit(0.5);
/// assert!(half <= rask_worker::auto_memory_limit(1.0));
/// ```
pub fn auto_memory_limit(share: f64) -> u64 {
    let share = share.clamp(0.0, 1.0);
    rask_memory::detected_limit().map_or(0, |l| (l as f64 * share) as u64)
}

/// A worker's memory limit in bytes (0: none) from its text form, for a
/// worker running `nthreads` threads: `auto`, its share of the machine
/// (min(1, threads / cores), see [`auto_memory_limit`]); `none` or `0`;
/// or a size such as `4GiB`. The `--memory-limit` of `rask worker` and
/// `RASK_WORKER_MEMORY_LIMIT` are read with it.
///
/// ```
/// use rask_worker::parse_memory_limit;
/// assert_eq!(parse_memory_limit("4GiB", 1), Ok(4 << 30));
/// assert_eq!(parse_memory_limit("none", 1), Ok(0));
/// assert!(parse_memory_limit("lots", 1).unwrap_err().contains("auto or none"));
/// ```
///
/// # Errors
///
/// A message saying what the text is not and which forms are accepted.
pub fn parse_memory_limit(text: &str, nthreads: usize) -> std::result::Result<u64, String> {
    match text.trim() {
        "auto" => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Ok(auto_memory_limit(nthreads as f64 / cores as f64))
        }
        "none" | "0" => Ok(0),
        m => m
            .parse::<rask_config::ByteSize>()
            .map(|s| s.as_u64())
            .map_err(|e| format!("{e}; give a size such as 4GiB, auto or none")),
    }
}

/// How a worker runs.
///
/// Make one with [`WorkerOptions::new`] and override fields:
///
/// ```
/// use rask_worker::WorkerOptions;
/// let opts = WorkerOptions {
///     nthreads: 4,
///     resources: vec![("GPU".into(), 1.0)],
///     ..WorkerOptions::new("tcp://10.0.0.1:8786")
/// };
/// assert_eq!(opts.listen, "tcp://0.0.0.0:0");
/// ```
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The scheduler's address, `tcp://HOST:PORT` or `HOST:PORT`.
    pub scheduler: String,
    /// The worker's name, unique in the cluster; by default
    /// `HOST-PID-N`.
    pub name: Option<String>,
    /// Threads that run tasks (default: one per core).
    pub nthreads: usize,
    /// Memory limit in bytes, reported to the scheduler (0: none).
    pub memory_limit: u64,
    /// Where the data server listens (default `tcp://0.0.0.0:0`: every
    /// interface, any free port).
    pub listen: String,
    /// The address peers and clients are told to fetch data from. By
    /// default the data server's address, with an unspecified host
    /// (`0.0.0.0`) replaced by this machine's address on the route to the
    /// scheduler.
    pub contact_address: Option<String>,
    /// Abstract resources offered, like `("GPU", 1.0)`: a task that needs
    /// some runs only while they are free.
    pub resources: Vec<(String, f64)>,
    /// The cluster's auth token (empty for none).
    pub token: String,
    /// How often to report to the scheduler (default 1 s).
    pub heartbeat: Duration,
    /// Limit on connecting and on the handshake, to the scheduler and to
    /// peers (default 5 s).
    pub connect_timeout: Duration,
    /// How long to keep trying a scheduler that refuses connections or does
    /// not answer (it may not be listening yet); default 0: fail at once.
    pub scheduler_wait: Duration,
    /// The scheduler file `scheduler` was read from (written by
    /// `rask scheduler --scheduler-file`), if any; default `None`. While
    /// the worker waits for its scheduler (`scheduler_wait`) it reads the
    /// file again before each new attempt and connects to the address
    /// there when it changed: a killed scheduler leaves its file behind,
    /// and a worker started with a new scheduler may read the old address
    /// before the new scheduler rewrites it. A file that is missing or half
    /// written meanwhile is ignored. When the wait ends without a
    /// scheduler, the error names the file.
    pub scheduler_file: Option<PathBuf>,
    /// TLS files: the scheduler, peers and clients are then reached over
    /// `tls://`, and the data server listens with TLS.
    pub tls: Option<rask_protocol::TlsFiles>,
    /// Started by a supervisor ([`crate::supervisor`]): the worker reads
    /// its supervisor's requests from standard input (retire; report a
    /// memory restart to the scheduler and exit), and exits at once when
    /// standard input closes (the supervisor died). Default `false`; set
    /// from the environment variable `RASK_WORKER_SUPERVISED=1`, which the
    /// supervisor gives the processes it starts.
    pub supervised: bool,
}

impl WorkerOptions {
    /// Default options for a worker of the scheduler at `scheduler`.
    pub fn new(scheduler: impl Into<String>) -> WorkerOptions {
        WorkerOptions {
            scheduler: scheduler.into(),
            name: None,
            nthreads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_limit: 0,
            listen: "tcp://0.0.0.0:0".into(),
            contact_address: None,
            resources: Vec::new(),
            token: String::new(),
            heartbeat: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            scheduler_wait: Duration::ZERO,
            scheduler_file: None,
            tls: None,
            supervised: false,
        }
    }

    /// The options given by environment variables (see
    /// [`run_from_env`](crate::run_from_env)); `None` when
    /// `RASK_WORKER_SCHEDULER` is not set.
    pub(crate) fn from_vars<'a>(
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Result<WorkerOptions>> {
        let vars: Vec<(&str, &str)> = vars.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let get = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let mut opts = WorkerOptions::new(get("RASK_WORKER_SCHEDULER")?);
        let invalid = |what: &str, message: String| WorkerError::InvalidOption {
            what: what.into(),
            message,
        };
        let result = (|| {
            if let Some(n) = get("RASK_WORKER_NTHREADS") {
                opts.nthreads = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    invalid(
                        "RASK_WORKER_NTHREADS",
                        format!("`{n}` is not a positive number of threads"),
                    )
                })?;
            }
            if let Some(m) = get("RASK_WORKER_MEMORY_LIMIT") {
                opts.memory_limit = parse_memory_limit(m, opts.nthreads)
                    .map_err(|e| invalid("RASK_WORKER_MEMORY_LIMIT", e))?;
            }
            opts.name = get("RASK_WORKER_NAME").map(str::to_string);
            if let Some(l) = get("RASK_WORKER_LISTEN") {
                opts.listen = l.to_string();
            }
            opts.contact_address = get("RASK_WORKER_CONTACT_ADDRESS").map(str::to_string);
            opts.supervised = get(crate::supervisor::SUPERVISED_ENV) == Some("1");
            if let Some(t) = get("RASK_TOKEN") {
                opts.token = t.to_string();
            }
            match (
                get("RASK_TLS_CA_FILE"),
                get("RASK_TLS_CERT"),
                get("RASK_TLS_KEY"),
            ) {
                (None, None, None) => {}
                (Some(ca), Some(cert), Some(key)) => {
                    opts.tls = Some(rask_protocol::TlsFiles {
                        ca: ca.into(),
                        cert: cert.into(),
                        key: key.into(),
                    });
                    if opts.listen.starts_with("tcp://") {
                        opts.listen = opts.listen.replacen("tcp://", "tls://", 1);
                    }
                }
                _ => {
                    return Err(invalid(
                        "RASK_TLS_CA_FILE, RASK_TLS_CERT, RASK_TLS_KEY",
                        "set all three TLS files or none".into(),
                    ));
                }
            }
            Ok(opts)
        })();
        Some(result)
    }

    /// Checks the options, filling in what is left to defaults.
    pub(crate) fn validated(mut self) -> Result<WorkerOptions> {
        let invalid = |what: &str, message: String| WorkerError::InvalidOption {
            what: what.into(),
            message,
        };
        if self.nthreads == 0 {
            return Err(invalid(
                "nthreads",
                "a worker needs at least 1 thread".into(),
            ));
        }
        if self.scheduler.trim().is_empty() {
            return Err(invalid(
                "scheduler",
                "no scheduler address; give one like tcp://HOST:8786".into(),
            ));
        }
        if self.heartbeat.is_zero() {
            return Err(invalid(
                "heartbeat",
                "the interval must be above zero".into(),
            ));
        }
        if let Some((r, n)) = self
            .resources
            .iter()
            .find(|(_, n)| !(n.is_finite() && *n >= 0.0))
        {
            return Err(invalid(
                "resources",
                format!("resource `{r}` = {n}; amounts must be finite and not negative"),
            ));
        }
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.name = None;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_environment() {
        assert!(WorkerOptions::from_vars([("RASK_WORKER_NTHREADS", "2")]).is_none());
        let opts = WorkerOptions::from_vars([
            ("RASK_WORKER_SCHEDULER", "tcp://10.1.2.3:8786"),
            ("RASK_WORKER_NTHREADS", "3"),
            ("RASK_WORKER_NAME", "w7"),
            ("RASK_WORKER_MEMORY_LIMIT", "2 GiB"),
            ("RASK_TOKEN", "s3cret"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(opts.scheduler, "tcp://10.1.2.3:8786");
        assert_eq!(opts.nthreads, 3);
        assert_eq!(opts.name.as_deref(), Some("w7"));
        assert_eq!(opts.memory_limit, 2 << 30);
        assert_eq!(opts.token, "s3cret");

        let err = WorkerOptions::from_vars([
            ("RASK_WORKER_SCHEDULER", "tcp://10.1.2.3:8786"),
            ("RASK_WORKER_NTHREADS", "many"),
        ])
        .unwrap()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("RASK_WORKER_NTHREADS") && err.contains("many"),
            "{err}"
        );
        let err = WorkerOptions::from_vars([
            ("RASK_WORKER_SCHEDULER", "x:1"),
            ("RASK_WORKER_MEMORY_LIMIT", "lots"),
        ])
        .unwrap()
        .unwrap_err()
        .to_string();
        assert!(err.contains("RASK_WORKER_MEMORY_LIMIT"), "{err}");
    }

    #[test]
    fn a_memory_limit_is_auto_none_or_a_size() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let whole = auto_memory_limit(1.0);
        assert_eq!(parse_memory_limit("auto", cores), Ok(whole));
        // More threads than cores: the whole machine's share, no more.
        assert_eq!(parse_memory_limit("auto", 4 * cores), Ok(whole));
        assert!(parse_memory_limit("auto", 1).unwrap() <= whole);
        assert_eq!(parse_memory_limit(" 0 ", 1), Ok(0));
        assert_eq!(parse_memory_limit("none", 1), Ok(0));
        assert_eq!(parse_memory_limit("2 GiB", 1), Ok(2 << 30));
        // The environment takes the same forms.
        let opts = WorkerOptions::from_vars([
            ("RASK_WORKER_SCHEDULER", "x:1"),
            ("RASK_WORKER_NTHREADS", "1"),
            ("RASK_WORKER_MEMORY_LIMIT", "auto"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(opts.memory_limit, auto_memory_limit(1.0 / cores as f64));
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        let opts = WorkerOptions {
            nthreads: 0,
            ..WorkerOptions::new("tcp://127.0.0.1:1")
        };
        assert!(
            opts.validated()
                .unwrap_err()
                .to_string()
                .contains("nthreads")
        );
        let opts = WorkerOptions {
            resources: vec![("GPU".into(), -1.0)],
            ..WorkerOptions::new("tcp://127.0.0.1:1")
        };
        assert!(opts.validated().unwrap_err().to_string().contains("GPU"));
    }
}
