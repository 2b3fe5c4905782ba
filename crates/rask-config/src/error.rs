//! The one error type of this crate.
//!
//! Every variant names the input that was wrong and where it came from, so a
//! user can fix a typo in `rask.toml` or in a `RASK_*` variable from the
//! message alone.

use std::path::PathBuf;

/// Result type of this crate.
///
/// ```
/// use std::path::Path;
/// use rask_config::Config;
///
/// fn workers(toml: &str) -> rask_config::Result<usize> {
///     Ok(Config::from_toml_str(toml, Path::new("rask.toml"))?.worker_threads())
/// }
/// assert_eq!(workers("num-workers = 3").unwrap(), 3);
/// assert!(workers("num-workers = \"many\"").is_err());
/// ```
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Why a configuration could not be read.
///
/// ```
/// use rask_config::{Config, ConfigError};
/// use std::path::Path;
///
/// let err = Config::from_toml_str("scheduler = \"fast\"", Path::new("rask.toml")).unwrap_err();
/// assert!(matches!(err, ConfigError::Invalid { ref key, .. } if key == "scheduler"));
/// assert_eq!(
///     err.to_string(),
///     "invalid value \"fast\" for `scheduler` (from config file rask.toml): \
///      expected one of threads, sync"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read, or is not valid TOML.
    #[error("cannot read config file {}: {message}", path.display())]
    File {
        /// The file that was read.
        path: PathBuf,
        /// The I/O error, or TOML's description of the syntax error with its
        /// line and column.
        message: String,
    },
    /// A key was given a value it cannot take.
    #[error("invalid value {value:?} for `{key}` (from {origin}): expected {expected}")]
    Invalid {
        /// The key, as written in `rask.toml` (for example `array.chunk-size`).
        key: String,
        /// The value as it was given.
        value: String,
        /// Where the value came from: `config file PATH` or
        /// `environment variable RASK_X`.
        origin: String,
        /// What the key accepts.
        expected: String,
    },
    /// The config file has a key that rask does not know.
    #[error(
        "unknown key `{key}` in config file {}; {}valid keys are {}",
        path.display(),
        crate::suggest::closest_key(key).map(|k| format!("did you mean `{k}`? ")).unwrap_or_default(),
        crate::config::key_list()
    )]
    UnknownKey {
        /// The unknown key, dotted for keys inside a table (`array.chunk-sise`).
        key: String,
        /// The config file.
        path: PathBuf,
    },
    /// A string did not parse as the value type, outside of any key (from
    /// [`parse_duration`](crate::parse_duration) or a `FromStr` impl).
    #[error("invalid value {value:?}: expected {expected}")]
    Parse {
        /// The string that was parsed.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
}

impl ConfigError {
    /// Builds [`ConfigError::Parse`] from an input and the `expected` text of
    /// the crate's internal parsers.
    pub(crate) fn parse(value: &str, expected: String) -> Self {
        ConfigError::Parse {
            value: value.to_owned(),
            expected,
        }
    }
}
