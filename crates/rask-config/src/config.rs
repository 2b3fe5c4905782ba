//! [`Config`]: the settings, their defaults, and how they are read from a
//! `rask.toml` file and from `RASK_*` environment variables.
//!
//! Every value, from the file or from the environment, goes through the
//! same per-key validator ([`set_key`]) as text, so both sources accept the
//! same spellings and both produce a [`ConfigError::Invalid`] that names the
//! key, the value and where it came from. The list of keys lives once, in
//! [`KEYS`]; the file reader, the environment reader and [`Config::to_toml`]
//! all walk it.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::{self, format_duration};
use crate::{ByteSize, ConfigError, ProgressMode, Result, SchedulerKind, SpillCompression, bytes};

/// Documentation of one configuration key.
///
/// ```
/// let doc = rask_config::KEYS.iter().find(|k| k.key == "array.chunk-size").unwrap();
/// assert_eq!(doc.env, "RASK_ARRAY_CHUNK_SIZE");
/// assert_eq!(doc.default, "128 MiB");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyDoc {
    /// The key as written in `rask.toml`; keys inside a table are dotted
    /// (`array.chunk-size` is `chunk-size` under `[array]`).
    pub key: &'static str,
    /// The environment variable that overrides the key.
    pub env: &'static str,
    /// The default value, as it would be written in `rask.toml`.
    pub default: &'static str,
    /// A one-line description.
    pub doc: &'static str,
}

/// Every configuration key, in the order `rask.toml` lists them (keys of
/// the top-level table first, then those of each `[table]`).
///
/// ```
/// for k in rask_config::KEYS {
///     println!("{:<20} {:<24} default {}", k.key, k.env, k.default);
/// }
/// assert_eq!(rask_config::KEYS.len(), 20);
/// ```
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        key: "scheduler",
        env: "RASK_SCHEDULER",
        default: "threads",
        doc: "Which scheduler runs a compute: threads (a worker pool) or sync (one thread, for debugging).",
    },
    KeyDoc {
        key: "num-workers",
        env: "RASK_NUM_WORKERS",
        default: "auto",
        doc: "Worker threads of the threads scheduler, at least 1; auto means one per CPU core.",
    },
    KeyDoc {
        key: "progress",
        env: "RASK_PROGRESS",
        default: "auto",
        doc: "Show a progress bar: auto (when stderr is a terminal), on or off.",
    },
    KeyDoc {
        key: "progress-delay",
        env: "RASK_PROGRESS_DELAY",
        default: "500 ms",
        doc: "How long a compute must run before its progress bar appears.",
    },
    KeyDoc {
        key: "memory-limit",
        env: "RASK_MEMORY_LIMIT",
        default: "auto",
        doc: "Memory budget of this process (a worker's: --memory-limit); auto is 80% of the smaller of physical RAM and the cgroup's memory.max; none (or 0) for no limit: nothing is spilled and tasks never pause.",
    },
    KeyDoc {
        key: "token",
        env: "RASK_TOKEN",
        default: "",
        doc: "Shared secret every scheduler, worker and client of a cluster must present; empty for none.",
    },
    KeyDoc {
        key: "memory.target",
        env: "RASK_MEMORY_TARGET",
        default: "0.6",
        doc: "Fraction of memory-limit that held results may use; above it the ones needed last are spilled to disk.",
    },
    KeyDoc {
        key: "memory.spill",
        env: "RASK_MEMORY_SPILL",
        default: "0.7",
        doc: "Fraction of memory-limit for the whole process (RSS); above it results are spilled even while their own total is under memory.target.",
    },
    KeyDoc {
        key: "memory.pause",
        env: "RASK_MEMORY_PAUSE",
        default: "0.8",
        doc: "Fraction of memory-limit above which no new root task starts until spilling brings memory down.",
    },
    KeyDoc {
        key: "memory.terminate",
        env: "RASK_MEMORY_TERMINATE",
        default: "0.95",
        doc: "Fraction of memory-limit above which a worker's supervisor restarts it before the system kills it.",
    },
    KeyDoc {
        key: "memory.spill-directory",
        env: "RASK_MEMORY_SPILL_DIRECTORY",
        default: "",
        doc: "Directory for spill files (each compute or worker uses a subdirectory it removes at the end); empty for the system's temporary directory. In a config file, relative to the file's directory.",
    },
    KeyDoc {
        key: "memory.max-spill",
        env: "RASK_MEMORY_MAX_SPILL",
        default: "none",
        doc: "Most bytes of spill files on disk; past it, results stay in memory. none for no cap.",
    },
    KeyDoc {
        key: "memory.compression",
        env: "RASK_MEMORY_COMPRESSION",
        default: "lz4",
        doc: "Compression of spill files: lz4 (fast; values that do not shrink are stored raw) or none.",
    },
    KeyDoc {
        key: "optimization.fuse",
        env: "RASK_OPTIMIZATION_FUSE",
        default: "true",
        doc: "Fuse linear chains of tasks into one before running a graph.",
    },
    KeyDoc {
        key: "array.chunk-size",
        env: "RASK_ARRAY_CHUNK_SIZE",
        default: "128 MiB",
        doc: "Target size of one array chunk when chunks are chosen automatically.",
    },
    KeyDoc {
        key: "array.split-every",
        env: "RASK_ARRAY_SPLIT_EVERY",
        default: "4",
        doc: "How many chunks each step of a tree reduction combines, at least 2.",
    },
    KeyDoc {
        key: "distributed.connect-timeout",
        env: "RASK_DISTRIBUTED_CONNECT_TIMEOUT",
        default: "5 s",
        doc: "How long connecting to a scheduler or worker (and its handshake) may take before it is an error.",
    },
    KeyDoc {
        key: "tls.ca-file",
        env: "RASK_TLS_CA_FILE",
        default: "",
        doc: "CA certificate (PEM) that signs every cluster member's certificate; with tls.cert and tls.key, peers talk over tls://.",
    },
    KeyDoc {
        key: "tls.cert",
        env: "RASK_TLS_CERT",
        default: "",
        doc: "This process's certificate (PEM), signed by tls.ca-file (`rask certs` makes a set).",
    },
    KeyDoc {
        key: "tls.key",
        env: "RASK_TLS_KEY",
        default: "",
        doc: "The private key (PEM) of tls.cert. In a config file, the tls.* paths are relative to the file's directory.",
    },
];

/// The valid keys, comma-separated, for error messages.
pub(crate) fn key_list() -> String {
    KEYS.iter().map(|k| k.key).collect::<Vec<_>>().join(", ")
}

/// The settings of rask.
///
/// Built from the defaults, then a `rask.toml` file, then `RASK_*`
/// environment variables ([`Config::from_env_and_file`]); see [`KEYS`] for
/// every key with its variable and default. The process-wide current value
/// is read with [`get`](crate::get) and overridden with
/// [`set`](crate::set) or [`update`](crate::update).
///
/// ```
/// use rask_config::{ByteSize, Config, SchedulerKind};
///
/// let config = Config::default();
/// assert_eq!(config.scheduler, SchedulerKind::Threads);
/// assert_eq!(config.array_chunk_size, ByteSize(128 << 20));
/// assert!(config.fuse);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `scheduler`, `RASK_SCHEDULER`: which scheduler runs a compute.
    pub scheduler: SchedulerKind,
    /// `num-workers`, `RASK_NUM_WORKERS`: worker threads, at least 1;
    /// `None` (written `auto`) means one per core. See
    /// [`Config::worker_threads`].
    pub num_workers: Option<usize>,
    /// `progress`, `RASK_PROGRESS`: whether to show a progress bar.
    pub progress: ProgressMode,
    /// `progress-delay`, `RASK_PROGRESS_DELAY`: a progress bar appears only
    /// once a compute has run this long (default 500 ms).
    pub progress_delay: Duration,
    /// `optimization.fuse`, `RASK_OPTIMIZATION_FUSE`: fuse linear chains of
    /// tasks before running a graph (default true).
    pub fuse: bool,
    /// `array.chunk-size`, `RASK_ARRAY_CHUNK_SIZE`: target size of an
    /// automatically chosen array chunk (default 128 MiB).
    pub array_chunk_size: ByteSize,
    /// `array.split-every`, `RASK_ARRAY_SPLIT_EVERY`: fan-in of tree
    /// reductions, at least 2 (default 4).
    pub split_every: usize,
    /// `memory-limit`, `RASK_MEMORY_LIMIT`: memory budget of the process.
    /// `None` (written `auto`, the default) means 80% of the smaller of
    /// physical RAM and the cgroup limit, found at run time; `Some(0)`
    /// (written `none` or `0`, as a worker's `--memory-limit`) means no
    /// limit: no result is spilled and no task waits for memory.
    pub memory_limit: Option<ByteSize>,
    /// `memory.target`, `RASK_MEMORY_TARGET`: fraction of the limit that
    /// held results may use before those needed last are spilled
    /// (default 0.6).
    pub memory_target: f64,
    /// `memory.spill`, `RASK_MEMORY_SPILL`: fraction of the limit for the
    /// whole process (RSS) above which results are spilled (default 0.7).
    pub memory_spill: f64,
    /// `memory.pause`, `RASK_MEMORY_PAUSE`: fraction of the limit above
    /// which no new root task starts (default 0.8).
    pub memory_pause: f64,
    /// `memory.terminate`, `RASK_MEMORY_TERMINATE`: fraction of the limit
    /// above which a worker is restarted by its supervisor (default 0.95).
    pub memory_terminate: f64,
    /// `memory.spill-directory`, `RASK_MEMORY_SPILL_DIRECTORY`: where spill
    /// files go; `None` for the system's temporary directory.
    pub spill_directory: Option<PathBuf>,
    /// `memory.max-spill`, `RASK_MEMORY_MAX_SPILL`: cap on spill files'
    /// bytes on disk; `None` for no cap.
    pub max_spill: Option<ByteSize>,
    /// `memory.compression`, `RASK_MEMORY_COMPRESSION`: compression of
    /// spill files (default lz4).
    pub spill_compression: SpillCompression,
    /// `token`, `RASK_TOKEN`: the shared secret of a cluster
    /// (empty: none).
    pub token: String,
    /// `distributed.connect-timeout`, `RASK_DISTRIBUTED_CONNECT_TIMEOUT`:
    /// limit for connecting to a scheduler or worker, handshake included
    /// (default 5 s).
    pub connect_timeout: Duration,
    /// `tls.ca-file`, `RASK_TLS_CA_FILE`: the CA of a TLS cluster.
    pub tls_ca_file: Option<PathBuf>,
    /// `tls.cert`, `RASK_TLS_CERT`: this process's certificate.
    pub tls_cert: Option<PathBuf>,
    /// `tls.key`, `RASK_TLS_KEY`: its private key.
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheduler: SchedulerKind::Threads,
            num_workers: None,
            progress: ProgressMode::Auto,
            progress_delay: Duration::from_millis(500),
            fuse: true,
            array_chunk_size: ByteSize(128 << 20),
            split_every: 4,
            memory_limit: None,
            memory_target: 0.6,
            memory_spill: 0.7,
            memory_pause: 0.8,
            memory_terminate: 0.95,
            spill_directory: None,
            max_spill: None,
            spill_compression: SpillCompression::Lz4,
            token: String::new(),
            connect_timeout: Duration::from_secs(5),
            tls_ca_file: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Config {
    /// Reads the configuration of this process: the defaults, overridden by
    /// a config file, overridden by `RASK_*` environment variables.
    ///
    /// The file is the one named by `RASK_CONFIG` if that is set (it is an
    /// error if it does not exist), else `rask.toml` in the current
    /// directory if there is one, else none. Environment variables with an
    /// empty value are ignored.
    ///
    /// ```no_run
    /// let config = rask_config::Config::from_env_and_file()?;
    /// println!("{} workers", config.worker_threads());
    /// # Ok::<(), rask_config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::File`] if the file cannot be read or is not TOML,
    /// [`ConfigError::UnknownKey`] for a key rask does not know, and
    /// [`ConfigError::Invalid`] for a bad value in the file or a variable.
    pub fn from_env_and_file() -> Result<Config> {
        load(text_vars(std::env::vars_os())?, Path::new("rask.toml"))
    }

    /// Reads a config file over the defaults.
    ///
    /// ```no_run
    /// let config = rask_config::Config::from_file("rask.toml".as_ref())?;
    /// # Ok::<(), rask_config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Config::from_toml_str`], and [`ConfigError::File`] when the file
    /// cannot be read.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Reads the TOML text `s` over the defaults; `origin` is the file it
    /// came from, for error messages. Relative paths in it
    /// (`memory.spill-directory`, `tls.*`) are taken relative to `origin`'s
    /// directory; those of environment variables stay relative to the
    /// working directory.
    ///
    /// ```
    /// use rask_config::{ByteSize, Config, SchedulerKind};
    /// use std::path::Path;
    ///
    /// let toml = "scheduler = \"sync\"\n[array]\nchunk-size = \"64 MiB\"\n";
    /// let config = Config::from_toml_str(toml, Path::new("rask.toml"))?;
    /// assert_eq!(config.scheduler, SchedulerKind::Sync);
    /// assert_eq!(config.array_chunk_size, ByteSize(64 << 20));
    /// assert_eq!(config.split_every, 4);
    /// # Ok::<(), rask_config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::File`] for a TOML syntax error (with its line and
    /// column), [`ConfigError::UnknownKey`] for a key rask does not know and
    /// [`ConfigError::Invalid`] for a bad value.
    pub fn from_toml_str(s: &str, origin: &Path) -> Result<Config> {
        let table: toml::Table = toml::from_str(s).map_err(|e| ConfigError::File {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let from = format!("config file {}", origin.display());
        let mut config = Config::default();
        for (name, value) in &table {
            let is_section = KEYS
                .iter()
                .any(|k| k.key.split_once('.').map(|(s, _)| s) == Some(name));
            match value {
                toml::Value::Table(inner) if is_section => {
                    for (field, value) in inner {
                        config.set_toml(&format!("{name}.{field}"), value, &from, origin)?;
                    }
                }
                _ if is_section => {
                    return Err(invalid(
                        name,
                        &toml_text(value),
                        &from,
                        "a table".to_owned(),
                    ));
                }
                _ => config.set_toml(name, value, &from, origin)?,
            }
        }
        // A relative path in a file is relative to the file's directory (as
        // in Cargo's config), so every process that reads the file (a
        // scheduler, workers started elsewhere) finds the same files,
        // whatever its working directory.
        if let Some(dir) = origin.parent().filter(|d| !d.as_os_str().is_empty()) {
            for path in [
                &mut config.spill_directory,
                &mut config.tls_ca_file,
                &mut config.tls_cert,
                &mut config.tls_key,
            ]
            .into_iter()
            .flatten()
            {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        }
        Ok(config)
    }

    /// Overrides values from environment variables, given as `(name, value)`
    /// pairs; pass `std::env::vars()` for the real environment.
    ///
    /// Only the variables listed in [`KEYS`] are read; other names, and
    /// variables with an empty value, are ignored (`RASK_CONFIG` is read by
    /// [`Config::from_env_and_file`], not here).
    ///
    /// ```
    /// use rask_config::{Config, SchedulerKind};
    ///
    /// let mut config = Config::default();
    /// config.apply_env([
    ///     ("RASK_SCHEDULER".to_owned(), "sync".to_owned()),
    ///     ("RASK_NUM_WORKERS".to_owned(), "3".to_owned()),
    ///     ("HOME".to_owned(), "/root".to_owned()),
    /// ])?;
    /// assert_eq!(config.scheduler, SchedulerKind::Sync);
    /// assert_eq!(config.num_workers, Some(3));
    /// # Ok::<(), rask_config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the variable, for the first bad value.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        for (name, value) in vars {
            let Some(doc) = KEYS.iter().find(|k| k.env == name) else {
                continue;
            };
            if value.trim().is_empty() {
                continue;
            }
            set_key(self, doc.key, &value).map_err(|expected| {
                invalid(
                    doc.key,
                    &value,
                    &format!("environment variable {name}"),
                    expected,
                )
            })?;
        }
        Ok(())
    }

    /// How many worker threads the threads scheduler runs:
    /// [`num_workers`](Config::num_workers), or else one per core as
    /// [`std::thread::available_parallelism`] tells (1 if it cannot).
    ///
    /// ```
    /// let config = rask_config::Config { num_workers: Some(3), ..Default::default() };
    /// assert_eq!(config.worker_threads(), 3);
    /// assert!(rask_config::Config::default().worker_threads() >= 1);
    /// ```
    pub fn worker_threads(&self) -> usize {
        self.num_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }

    /// The most memory one block-sized value of a task should take where
    /// `memory-limit` is set: a sixteenth of the limit per worker thread
    /// (`None` without an explicit limit). Every running task holds its
    /// inputs and its output at once, and values in use cannot be spilled,
    /// so rechunk intermediates and Parquet partitions stay under it.
    ///
    /// ```
    /// use rask_config::{ByteSize, Config};
    /// let config = Config {
    ///     memory_limit: Some(ByteSize(512 << 20)),
    ///     num_workers: Some(2),
    ///     ..Default::default()
    /// };
    /// assert_eq!(config.block_memory_share(), Some(16 << 20));
    /// assert_eq!(Config::default().block_memory_share(), None);
    /// ```
    pub fn block_memory_share(&self) -> Option<u64> {
        let limit = self.memory_limit?.as_u64();
        if limit == 0 {
            return None;
        }
        Some((limit / 16 / self.worker_threads().max(1) as u64).max(1))
    }

    /// A complete `rask.toml` holding these values, every key with a comment
    /// saying what it does, its default and its environment variable. It
    /// reads back as the same `Config`.
    ///
    /// ```
    /// use rask_config::Config;
    /// use std::path::Path;
    ///
    /// let config = Config { split_every: 8, ..Config::default() };
    /// let text = config.to_toml();
    /// assert!(text.contains("split-every = 8"));
    /// assert_eq!(Config::from_toml_str(&text, Path::new("rask.toml"))?, config);
    /// # Ok::<(), rask_config::ConfigError>(())
    /// ```
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# rask configuration. Every key is optional: a missing key keeps its\n\
             # default, and the environment variable named beside a key overrides it.\n",
        );
        let mut section = "";
        for doc in KEYS {
            let (table, name) = doc.key.split_once('.').unwrap_or(("", doc.key));
            if table != section {
                section = table;
                let _ = write!(out, "\n[{table}]\n");
            }
            let _ = write!(
                out,
                "\n# {}\n# Default: {}. Environment variable: {}.\n{name} = {}\n",
                doc.doc,
                doc.default,
                doc.env,
                self.toml_value(doc.key)
            );
        }
        out
    }

    /// The value of `key` as a TOML value.
    fn toml_value(&self, key: &str) -> String {
        let quoted = |s: String| format!("\"{s}\"");
        let size = |b: ByteSize| {
            let text = b.to_string();
            quoted(if text.parse() == Ok(b) {
                text
            } else {
                format!("{} B", b.0)
            })
        };
        match key {
            "scheduler" => quoted(self.scheduler.to_string()),
            "num-workers" => self
                .num_workers
                .map_or_else(|| quoted("auto".into()), |n| n.to_string()),
            "progress" => quoted(self.progress.to_string()),
            "progress-delay" => quoted(format_duration(self.progress_delay)),
            "memory-limit" => match self.memory_limit {
                None => quoted("auto".into()),
                Some(ByteSize(0)) => quoted("none".into()),
                Some(b) => size(b),
            },
            "memory.target" => fraction_text(self.memory_target),
            "memory.spill" => fraction_text(self.memory_spill),
            "memory.pause" => fraction_text(self.memory_pause),
            "memory.terminate" => fraction_text(self.memory_terminate),
            "memory.spill-directory" => toml_string(
                &self
                    .spill_directory
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            "memory.max-spill" => self.max_spill.map_or_else(|| quoted("none".into()), size),
            "memory.compression" => quoted(self.spill_compression.to_string()),
            "optimization.fuse" => self.fuse.to_string(),
            "array.chunk-size" => size(self.array_chunk_size),
            "token" => toml_string(&self.token),
            "distributed.connect-timeout" => quoted(format_duration(self.connect_timeout)),
            "tls.ca-file" => toml_string(
                &self
                    .tls_ca_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            "tls.cert" => toml_string(
                &self
                    .tls_cert
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            "tls.key" => toml_string(
                &self
                    .tls_key
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            _ => self.split_every.to_string(),
        }
    }

    /// Sets `key` from a TOML value found in the file `path`.
    fn set_toml(&mut self, key: &str, value: &toml::Value, from: &str, path: &Path) -> Result<()> {
        if !KEYS.iter().any(|k| k.key == key) {
            return Err(ConfigError::UnknownKey {
                key: key.to_owned(),
                path: path.to_owned(),
            });
        }
        let text = toml_text(value);
        set_key(self, key, &text).map_err(|expected| invalid(key, &text, from, expected))
    }
}

/// A fraction as TOML writes a float (`0.6`, `1.0`).
fn fraction_text(x: f64) -> String {
    let text = x.to_string();
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// Reads a fraction of the memory limit: a number in (0, 1] or a
/// percentage such as `60%`.
fn parse_fraction(value: &str) -> Result<f64, String> {
    let expected = || {
        "a fraction of the memory limit above 0 and at most 1, such as 0.6 or \"60%\"".to_owned()
    };
    let x = match value.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| expected())? / 100.0,
        None => value.parse::<f64>().map_err(|_| expected())?,
    };
    if x.is_finite() && x > 0.0 && x <= 1.0 {
        Ok(x)
    } else {
        Err(expected())
    }
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) => "[array]".to_owned(),
        toml::Value::Table(_) => "{table}".to_owned(),
    }
}

fn invalid(key: &str, value: &str, origin: &str, expected: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        value: value.to_owned(),
        origin: origin.to_owned(),
        expected,
    }
}

/// Validates the text `value` for `key` (one of [`KEYS`]) into `config`;
/// the error is what the key expects.
fn set_key(config: &mut Config, key: &str, value: &str) -> Result<(), String> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    let at_least = |min: usize, what: &str, or_else: &str| {
        value
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= min)
            .ok_or_else(|| format!("{what} of at least {min}{or_else}"))
    };
    let nonzero_size = |or_else: &str| match bytes::parse_bytes(value) {
        Ok(0) => Err(format!("a byte size greater than zero{or_else}")),
        Ok(n) => Ok(ByteSize(n)),
        Err(expected) => Err(expected + or_else),
    };
    match key {
        "scheduler" => {
            config.scheduler = value.parse().map_err(|_| SchedulerKind::EXPECTED)?;
        }
        "num-workers" => {
            config.num_workers = match lower.as_str() {
                "auto" => None,
                _ => Some(at_least(
                    1,
                    "a number of workers",
                    ", or \"auto\" for one per core",
                )?),
            };
        }
        "progress" => config.progress = value.parse().map_err(|_| ProgressMode::EXPECTED)?,
        "progress-delay" => config.progress_delay = duration::parse(value)?,
        "memory-limit" => {
            config.memory_limit = match lower.as_str() {
                "auto" => None,
                "none" | "0" => Some(ByteSize(0)),
                _ => Some(nonzero_size(", \"auto\", or \"none\" for no limit")?),
            };
        }
        "memory.target" => config.memory_target = parse_fraction(value)?,
        "memory.spill" => config.memory_spill = parse_fraction(value)?,
        "memory.pause" => config.memory_pause = parse_fraction(value)?,
        "memory.terminate" => config.memory_terminate = parse_fraction(value)?,
        "memory.spill-directory" => {
            config.spill_directory = (!value.is_empty()).then(|| PathBuf::from(value));
        }
        "memory.max-spill" => {
            config.max_spill = match lower.as_str() {
                "none" | "auto" => None,
                _ => Some(nonzero_size(", or \"none\" for no cap")?),
            };
        }
        "memory.compression" => {
            config.spill_compression = value.parse().map_err(|_| SpillCompression::EXPECTED)?;
        }
        "optimization.fuse" => {
            config.fuse = match lower.as_str() {
                "true" | "on" | "yes" | "1" => true,
                "false" | "off" | "no" | "0" => false,
                _ => return Err("true or false".to_owned()),
            };
        }
        "array.chunk-size" => config.array_chunk_size = nonzero_size("")?,
        "array.split-every" => config.split_every = at_least(2, "a whole number", "")?,
        "token" => config.token = value.to_owned(),
        "tls.ca-file" => config.tls_ca_file = (!value.is_empty()).then(|| PathBuf::from(value)),
        "tls.cert" => config.tls_cert = (!value.is_empty()).then(|| PathBuf::from(value)),
        "tls.key" => config.tls_key = (!value.is_empty()).then(|| PathBuf::from(value)),
        "distributed.connect-timeout" => {
            config.connect_timeout = duration::parse(value)?;
            if config.connect_timeout.is_zero() {
                return Err("a duration greater than zero".to_owned());
            }
        }
        _ => return Err(format!("one of the keys {}", key_list())),
    }
    Ok(())
}

/// [`Config::from_env_and_file`] with the environment given as `vars` and
/// the file used when `RASK_CONFIG` is not set given as `default_file`.
/// The `RASK_*` variables of `vars` as text; a value that is not UTF-8 is
/// an error naming its variable (read lossily, a path would silently name
/// another file).
fn text_vars(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, value) in vars {
        let Some(name) = name.to_str().filter(|n| n.starts_with("RASK_")) else {
            continue;
        };
        match value.into_string() {
            Ok(v) => out.push((name.to_owned(), v)),
            Err(v) => {
                return Err(invalid(
                    name,
                    &v.to_string_lossy(),
                    &format!("environment variable {name}"),
                    "text (UTF-8); its value holds other bytes".to_owned(),
                ));
            }
        }
    }
    Ok(out)
}

fn load(vars: Vec<(String, String)>, default_file: &Path) -> Result<Config> {
    let named = vars
        .iter()
        .rev()
        .find(|(name, value)| name == "RASK_CONFIG" && !value.trim().is_empty());
    let mut config = match named {
        Some((_, path)) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(ConfigError::File {
                    message: "no such file (it is named by RASK_CONFIG)".to_owned(),
                    path,
                });
            }
            Config::from_file(&path)?
        }
        None if default_file.is_file() => Config::from_file(default_file)?,
        None => Config::default(),
    };
    config.apply_env(vars)?;
    check_memory_order(&config)?;
    Ok(config)
}

/// The memory thresholds must grow in the order target, spill, pause,
/// terminate (each is checked alone when read; this checks them together,
/// so `rask config` refuses what a worker would).
fn check_memory_order(config: &Config) -> Result<()> {
    let order = [
        ("memory.target", config.memory_target),
        ("memory.spill", config.memory_spill),
        ("memory.pause", config.memory_pause),
        ("memory.terminate", config.memory_terminate),
    ];
    for w in order.windows(2) {
        let ((lower, a), (key, b)) = (w[0], w[1]);
        if a > b {
            return Err(invalid(
                key,
                &b.to_string(),
                "the memory thresholds together",
                format!(
                    "at least {lower} ({a}): the thresholds grow in the order target, spill, \
                     pause, terminate"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the temporary directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("rask-config-{}-{name}", std::process::id()));
            std::fs::write(&path, text).expect("the temporary directory is writable");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn var(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn relative_paths_in_a_file_are_relative_to_its_directory() {
        let toml = "[memory]\nspill-directory = \"spill\"\n[tls]\nca-file = \"certs/ca.pem\"\n\
                    cert = \"/etc/rask/node.pem\"\n";
        let c = Config::from_toml_str(toml, Path::new("/shared/job/rask.toml")).unwrap();
        assert_eq!(c.spill_directory, Some(PathBuf::from("/shared/job/spill")));
        assert_eq!(
            c.tls_ca_file,
            Some(PathBuf::from("/shared/job/certs/ca.pem"))
        );
        assert_eq!(
            c.tls_cert,
            Some(PathBuf::from("/etc/rask/node.pem")),
            "absolute: kept"
        );
        assert_eq!(c.tls_key, None);
        // A file in the working directory: nothing to join.
        let c = Config::from_toml_str(toml, Path::new("rask.toml")).unwrap();
        assert_eq!(c.spill_directory, Some(PathBuf::from("spill")));
        // The environment's paths stay relative to the working directory.
        let mut c = Config::from_toml_str(toml, Path::new("/shared/job/rask.toml")).unwrap();
        c.apply_env(vec![var("RASK_TLS_KEY", "node.key")]).unwrap();
        assert_eq!(c.tls_key, Some(PathBuf::from("node.key")));
    }

    #[test]
    fn load_reads_default_file_then_env() {
        let file = TempFile::new("default.toml", "scheduler = \"sync\"\nnum-workers = 2\n");
        let config = load(vec![var("RASK_NUM_WORKERS", "5")], &file.0).unwrap();
        assert_eq!(config.scheduler, SchedulerKind::Sync);
        assert_eq!(config.num_workers, Some(5));
    }

    #[test]
    fn variables_that_are_not_text_are_named_or_skipped() {
        use std::os::unix::ffi::OsStringExt;
        let os = |b: &[u8]| OsString::from_vec(b.to_vec());
        let vars = text_vars([
            (os(b"OTHER"), os(b"\xff")),
            (os(b"RASK_NUM_WORKERS"), os(b"3")),
        ])
        .unwrap();
        assert_eq!(vars, vec![var("RASK_NUM_WORKERS", "3")]);
        let err = text_vars([(os(b"RASK_CONFIG"), os(b"/tmp/\xff.toml"))]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { ref key, .. } if key == "RASK_CONFIG"),
            "{err}"
        );
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn memory_thresholds_out_of_order_are_refused() {
        let missing = std::env::temp_dir().join("rask-config-no-such-file.toml");
        let err = load(
            vec![
                var("RASK_MEMORY_TARGET", "0.9"),
                var("RASK_MEMORY_SPILL", "0.5"),
            ],
            &missing,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("memory.spill") && err.contains("memory.target (0.9)"),
            "{err}"
        );
    }

    #[test]
    fn load_without_a_file_uses_defaults() {
        let missing = std::env::temp_dir().join("rask-config-no-such-file.toml");
        assert_eq!(load(vec![], &missing).unwrap(), Config::default());
    }

    #[test]
    fn rask_config_names_the_file_and_must_exist() {
        let named = TempFile::new("named.toml", "progress = \"off\"\n");
        let other = TempFile::new("other.toml", "progress = \"on\"\n");
        let vars = vec![var("RASK_CONFIG", named.0.to_str().unwrap())];
        assert_eq!(load(vars, &other.0).unwrap().progress, ProgressMode::Off);

        let missing = std::env::temp_dir().join("rask-config-missing.toml");
        let vars = vec![var("RASK_CONFIG", missing.to_str().unwrap())];
        let err = load(vars, &other.0).unwrap_err();
        assert!(
            matches!(&err, ConfigError::File { path, .. } if *path == missing),
            "{err}"
        );
        assert!(err.to_string().contains("RASK_CONFIG"), "{err}");
    }

    #[test]
    fn every_key_has_a_validator_and_a_default_that_it_accepts() {
        for doc in KEYS {
            let mut config = Config::default();
            set_key(&mut config, doc.key, doc.default)
                .unwrap_or_else(|e| panic!("{}: {e}", doc.key));
            assert_eq!(config, Config::default(), "{}", doc.key);
            assert_eq!(
                doc.env,
                format!("RASK_{}", doc.key.to_uppercase().replace(['.', '-'], "_"))
            );
        }
    }
}
