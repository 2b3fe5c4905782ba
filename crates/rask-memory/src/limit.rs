//! The memory limit and its thresholds.
//!
//! `memory-limit = "auto"` (the default) is [`AUTO_FRACTION`] of the smaller
//! of physical RAM (`MemTotal` of `/proc/meminfo`) and the cgroup v2 limit
//! of this process (`memory.max` of its cgroup and of every cgroup above
//! it, as a container or a batch system's job sets it). The thresholds are
//! fractions of the limit, from the `[memory]` table of the configuration.

use std::path::{Path, PathBuf};

use rask_config::Config;

use crate::store::SpillOptions;

/// The fraction of the detected memory that `memory-limit = "auto"` gives.
pub const AUTO_FRACTION: f64 = 0.8;

/// The limit and thresholds one store and its gauge work to.
///
/// ```
/// use rask_memory::MemoryPolicy;
/// let policy = MemoryPolicy::with_limit(1 << 30);
/// assert_eq!(policy.limit, 1 << 30);
/// assert!(policy.target_bytes() < policy.pause_bytes());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPolicy {
    /// The memory limit in bytes; 0 when none could be found (nothing is
    /// then spilled or paused).
    pub limit: u64,
    /// Fraction of the limit that held results may use before spilling.
    pub target: f64,
    /// Fraction of the limit for the process's RSS before spilling.
    pub spill: f64,
    /// Fraction of the limit for the process's RSS before pausing.
    pub pause: f64,
    /// Fraction of the limit at which a supervisor restarts a worker.
    pub terminate: f64,
    /// Where and how values are spilled.
    pub spill_options: SpillOptions,
}

impl MemoryPolicy {
    /// The default thresholds (0.6, 0.7, 0.8, 0.95) with a limit of
    /// `limit` bytes.
    pub fn with_limit(limit: u64) -> MemoryPolicy {
        let c = Config::default();
        MemoryPolicy {
            limit,
            target: c.memory_target,
            spill: c.memory_spill,
            pause: c.memory_pause,
            terminate: c.memory_terminate,
            spill_options: SpillOptions::default(),
        }
    }

    /// The policy a configuration asks for, with the limit detected when it
    /// is `auto`.
    ///
    /// ```
    /// let config = rask_config::Config {
    ///     memory_limit: Some(rask_config::ByteSize(2 << 30)),
    ///     ..Default::default()
    /// };
    /// let policy = rask_memory::MemoryPolicy::from_config(&config).unwrap();
    /// assert_eq!(policy.limit, 2 << 30);
    /// assert_eq!(policy.pause_bytes(), (0.8 * (2u64 << 30) as f64) as u64);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](rask_core::Error::InvalidArgument) naming
    /// the setting when a fraction is not a number above 0 and at most 1
    /// (the text forms are checked when read, but a [`Config`] built in
    /// code and given to `rask_config::set` is checked only here), or when
    /// the fractions are not in the order target ≤ spill ≤ pause ≤
    /// terminate.
    pub fn from_config(config: &Config) -> rask_core::Result<MemoryPolicy> {
        let limit = match config.memory_limit {
            Some(b) => b.as_u64(),
            None => detected_limit().unwrap_or(0),
        };
        let fractions = [
            ("memory.target", config.memory_target),
            ("memory.spill", config.memory_spill),
            ("memory.pause", config.memory_pause),
            ("memory.terminate", config.memory_terminate),
        ];
        for (name, x) in fractions {
            if !(x.is_finite() && x > 0.0 && x <= 1.0) {
                return Err(rask_core::Error::invalid(
                    name,
                    format!(
                        "{name} = {x} is not a fraction of the memory limit; it must be above \
                         0 and at most 1, such as 0.6"
                    ),
                ));
            }
        }
        for w in fractions.windows(2) {
            if w[0].1 > w[1].1 {
                return Err(rask_core::Error::invalid(
                    "memory thresholds",
                    format!(
                        "{} = {} is above {} = {}; they must grow in the order target, \
                         spill, pause, terminate",
                        w[0].0, w[0].1, w[1].0, w[1].1
                    ),
                ));
            }
        }
        Ok(MemoryPolicy {
            limit,
            target: config.memory_target,
            spill: config.memory_spill,
            pause: config.memory_pause,
            terminate: config.memory_terminate,
            spill_options: SpillOptions {
                directory: config.spill_directory.clone(),
                max_spill: config.max_spill.map_or(u64::MAX, |b| b.as_u64()),
                compression: config.spill_compression,
            },
        })
    }

    fn of(&self, fraction: f64) -> u64 {
        if self.limit == 0 {
            u64::MAX
        } else {
            (fraction * self.limit as f64) as u64
        }
    }

    /// Managed bytes above which results are spilled (`u64::MAX` without a
    /// limit).
    pub fn target_bytes(&self) -> u64 {
        self.of(self.target)
    }

    /// Process bytes above which results are spilled.
    pub fn spill_bytes(&self) -> u64 {
        self.of(self.spill)
    }

    /// Process bytes above which no new root task starts.
    pub fn pause_bytes(&self) -> u64 {
        self.of(self.pause)
    }

    /// Process bytes above which a worker is restarted.
    pub fn terminate_bytes(&self) -> u64 {
        self.of(self.terminate)
    }
}

/// `memory-limit = "auto"`: 80% (`AUTO_FRACTION`) of the smaller of
/// [`physical_memory`] and [`cgroup_memory_max`]; `None` when neither can
/// be read. Read once per process (every compute asks).
///
/// ```
/// if let Some(limit) = rask_memory::detected_limit() {
///     assert!(limit <= rask_memory::physical_memory().unwrap_or(u64::MAX));
/// }
/// ```
pub fn detected_limit() -> Option<u64> {
    static DETECTED: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *DETECTED.get_or_init(detect)
}

fn detect() -> Option<u64> {
    let total = match (physical_memory(), cgroup_memory_max()) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some((total as f64 * AUTO_FRACTION) as u64)
}

/// Physical RAM in bytes (`MemTotal` of `/proc/meminfo`).
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    crate::process::kib_field(&text, "MemTotal")
}

/// The cgroup v2 memory limit of this process: the smallest `memory.max`
/// of its cgroup and the cgroups above it; `None` without cgroup v2 or
/// without a limit (`max`).
pub fn cgroup_memory_max() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_max_in(Path::new("/sys/fs/cgroup"), &own)
}

/// [`cgroup_memory_max`] with the cgroup filesystem at `root` and the text
/// of `/proc/self/cgroup` given.
fn cgroup_max_in(root: &Path, proc_cgroup: &str) -> Option<u64> {
    // cgroup v2 has one line "0::/path".
    let rel = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mut dir: PathBuf = root.join(rel.trim().trim_start_matches('/'));
    let mut best: Option<u64> = None;
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("memory.max"))
            && let Ok(n) = text.trim().parse::<u64>()
        {
            best = Some(best.map_or(n, |b| b.min(n)));
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_limit_is_the_smallest_on_the_path() {
        let root = std::env::temp_dir().join(format!("rask-cgroup-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let leaf = root.join("batch/job-7");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(root.join("batch/memory.max"), "4294967296\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        assert_eq!(
            cgroup_max_in(&root, "0::/batch/job-7\n"),
            Some(4_294_967_296)
        );
        std::fs::write(leaf.join("memory.max"), "1073741824\n").unwrap();
        assert_eq!(cgroup_max_in(&root, "0::/batch/job-7\n"), Some(1 << 30));
        // cgroup v1 only: no "0::" line.
        assert_eq!(cgroup_max_in(&root, "4:memory:/batch\n"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn thresholds_must_grow() {
        let config = Config {
            memory_target: 0.9,
            memory_limit: Some(rask_config::ByteSize(1 << 30)),
            ..Config::default()
        };
        let err = MemoryPolicy::from_config(&config).unwrap_err().to_string();
        assert!(
            err.contains("memory.target") && err.contains("memory.spill"),
            "{err}"
        );
    }

    #[test]
    fn thresholds_must_be_fractions_above_0_and_at_most_1() {
        type Field = fn(&mut Config) -> &mut f64;
        let fields: [(&str, Field); 4] = [
            ("memory.target", |c| &mut c.memory_target),
            ("memory.spill", |c| &mut c.memory_spill),
            ("memory.pause", |c| &mut c.memory_pause),
            ("memory.terminate", |c| &mut c.memory_terminate),
        ];
        for (name, field) in fields {
            for bad in [f64::NAN, 0.0, -0.5, 5.0, f64::INFINITY] {
                let mut config = Config {
                    memory_limit: Some(rask_config::ByteSize(1 << 30)),
                    ..Config::default()
                };
                *field(&mut config) = bad;
                let err = MemoryPolicy::from_config(&config).unwrap_err().to_string();
                assert!(
                    err.contains(name) && err.contains("at most 1"),
                    "{name} = {bad}: {err}"
                );
            }
        }
        // 1.0 everywhere is allowed (nothing spilled or paused before the
        // limit).
        let config = Config {
            memory_target: 1.0,
            memory_spill: 1.0,
            memory_pause: 1.0,
            memory_terminate: 1.0,
            memory_limit: Some(rask_config::ByteSize(1 << 30)),
            ..Config::default()
        };
        assert_eq!(
            MemoryPolicy::from_config(&config).unwrap().pause_bytes(),
            1 << 30
        );
    }

    #[test]
    fn no_limit_means_never() {
        let p = MemoryPolicy::with_limit(0);
        assert_eq!(p.target_bytes(), u64::MAX);
        assert_eq!(p.pause_bytes(), u64::MAX);
    }
}
