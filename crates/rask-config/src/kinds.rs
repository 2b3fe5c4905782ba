//! The small enums of the configuration: which scheduler runs a compute,
//! whether a progress bar is shown, and how spilled values are compressed.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use crate::ConfigError;

/// Which scheduler runs a compute (`scheduler` in `rask.toml`).
///
/// ```
/// use rask_config::SchedulerKind;
///
/// assert_eq!("sync".parse::<SchedulerKind>()?, SchedulerKind::Sync);
/// assert_eq!(SchedulerKind::default().to_string(), "threads");
/// # Ok::<(), rask_config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SchedulerKind {
    /// A pool of worker threads (the default). Also read from `threaded`
    /// and `threading`.
    #[default]
    Threads,
    /// Every task in the calling thread, one at a time: for debugging and
    /// profiling. Also read from `synchronous` and `single-threaded`.
    Sync,
}

impl SchedulerKind {
    /// What [`FromStr`] accepts, for error messages.
    pub(crate) const EXPECTED: &'static str = "one of threads, sync";
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            SchedulerKind::Threads => "threads",
            SchedulerKind::Sync => "sync",
        })
    }
}

impl FromStr for SchedulerKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "threads" | "threaded" | "threading" => Ok(SchedulerKind::Threads),
            "sync" | "synchronous" | "single-threaded" => Ok(SchedulerKind::Sync),
            _ => Err(ConfigError::parse(s, Self::EXPECTED.to_owned())),
        }
    }
}

/// Whether a compute shows a progress bar (`progress` in `rask.toml`).
///
/// ```
/// use rask_config::ProgressMode;
///
/// assert_eq!("never".parse::<ProgressMode>()?, ProgressMode::Off);
/// assert_eq!(ProgressMode::On.to_string(), "on");
/// assert!(ProgressMode::On.enabled());
/// # Ok::<(), rask_config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProgressMode {
    /// Show a bar when standard error is a terminal (the default).
    #[default]
    Auto,
    /// Always show a bar. Also read from `true`, `always`, `yes` and `1`.
    On,
    /// Never show a bar. Also read from `false`, `never`, `no` and `0`.
    Off,
}

impl ProgressMode {
    /// What [`FromStr`] accepts, for error messages.
    pub(crate) const EXPECTED: &'static str = "one of auto, on, off (or true, false)";

    /// Whether a bar should be shown: [`Auto`](ProgressMode::Auto) decides
    /// by whether standard error is a terminal.
    ///
    /// ```
    /// use rask_config::ProgressMode;
    ///
    /// assert!(!ProgressMode::Off.enabled());
    /// let _depends_on_the_terminal = ProgressMode::Auto.enabled();
    /// ```
    pub fn enabled(self) -> bool {
        match self {
            ProgressMode::Auto => std::io::stderr().is_terminal(),
            ProgressMode::On => true,
            ProgressMode::Off => false,
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ProgressMode::Auto => "auto",
            ProgressMode::On => "on",
            ProgressMode::Off => "off",
        })
    }
}

impl FromStr for ProgressMode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ProgressMode::Auto),
            "on" | "true" | "always" | "yes" | "1" => Ok(ProgressMode::On),
            "off" | "false" | "never" | "no" | "0" => Ok(ProgressMode::Off),
            _ => Err(ConfigError::parse(s, Self::EXPECTED.to_owned())),
        }
    }
}

/// How spilled values are compressed on disk (`memory.compression` in
/// `rask.toml`).
///
/// ```
/// use rask_config::SpillCompression;
///
/// assert_eq!("lz4".parse::<SpillCompression>()?, SpillCompression::Lz4);
/// assert_eq!("off".parse::<SpillCompression>()?, SpillCompression::None);
/// assert_eq!(SpillCompression::default().to_string(), "lz4");
/// # Ok::<(), rask_config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpillCompression {
    /// LZ4 (the default): gigabytes per second, so spilling costs little
    /// more than the write; a value that does not shrink is stored raw.
    #[default]
    Lz4,
    /// Raw codec bytes. Also read from `off`, `false` and `raw`.
    None,
}

impl SpillCompression {
    /// What [`FromStr`] accepts, for error messages.
    pub(crate) const EXPECTED: &'static str = "one of lz4, none";
}

impl fmt::Display for SpillCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            SpillCompression::Lz4 => "lz4",
            SpillCompression::None => "none",
        })
    }
}

impl FromStr for SpillCompression {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lz4" | "on" | "true" | "auto" => Ok(SpillCompression::Lz4),
            "none" | "off" | "false" | "raw" => Ok(SpillCompression::None),
            _ => Err(ConfigError::parse(s, Self::EXPECTED.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_round_trips_and_accepts_aliases() {
        for kind in [SchedulerKind::Threads, SchedulerKind::Sync] {
            assert_eq!(kind.to_string().parse::<SchedulerKind>().unwrap(), kind);
        }
        assert_eq!(
            "Threaded".parse::<SchedulerKind>().unwrap(),
            SchedulerKind::Threads
        );
        assert_eq!(
            " single-threaded".parse::<SchedulerKind>().unwrap(),
            SchedulerKind::Sync
        );
        let err = "fast".parse::<SchedulerKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"fast\": expected one of threads, sync"
        );
    }

    #[test]
    fn progress_round_trips_and_accepts_synonyms() {
        for mode in [ProgressMode::Auto, ProgressMode::On, ProgressMode::Off] {
            assert_eq!(mode.to_string().parse::<ProgressMode>().unwrap(), mode);
        }
        for on in ["true", "ALWAYS", "yes", "1"] {
            assert_eq!(on.parse::<ProgressMode>().unwrap(), ProgressMode::On);
        }
        for off in ["false", "never", "No", "0"] {
            assert_eq!(off.parse::<ProgressMode>().unwrap(), ProgressMode::Off);
        }
        assert!("sometimes".parse::<ProgressMode>().is_err());
    }
}
