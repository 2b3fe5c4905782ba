//! [`SpillError`]: a spill file could not be written or read back.

use std::fmt;
use std::path::PathBuf;

/// Why a value could not be spilled or read back. `K` is the store's key
/// type; [`SpillError::map_key`] turns it into another (a task id into the
/// task's key), and [`SpillError::into_error`] into rask's error.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpillError<K> {
    /// The spill directory could not be made.
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the value's spill file failed (disk full, say).
    Write {
        /// The value's key.
        key: K,
        /// The spill file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading the value's spill file failed.
    Read {
        /// The value's key.
        key: K,
        /// The spill file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The spill file does not hold what was written (damaged, truncated,
    /// or another file).
    Corrupt {
        /// The value's key.
        key: K,
        /// The spill file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The spill file is whole, but the value's type's decoder panicked
    /// reading it back (a bug in its `Deserialize` or codec).
    Decode {
        /// The value's key.
        key: K,
        /// The spill file.
        path: PathBuf,
        /// The decoder's panic.
        error: rask_core::codec::CodecError,
    },
}

impl<K> SpillError<K> {
    /// The same error with its key mapped by `f`.
    pub fn map_key<L>(self, f: impl FnOnce(K) -> L) -> SpillError<L> {
        match self {
            SpillError::Directory { path, source } => SpillError::Directory { path, source },
            SpillError::Write { key, path, source } => SpillError::Write {
                key: f(key),
                path,
                source,
            },
            SpillError::Read { key, path, source } => SpillError::Read {
                key: f(key),
                path,
                source,
            },
            SpillError::Corrupt { key, path, reason } => SpillError::Corrupt {
                key: f(key),
                path,
                reason,
            },
            SpillError::Decode { key, path, error } => SpillError::Decode {
                key: f(key),
                path,
                error,
            },
        }
    }

    /// The key of the value, where the error is about one.
    pub fn key(&self) -> Option<&K> {
        match self {
            SpillError::Directory { .. } => None,
            SpillError::Write { key, .. }
            | SpillError::Read { key, .. }
            | SpillError::Corrupt { key, .. }
            | SpillError::Decode { key, .. } => Some(key),
        }
    }
}

impl<K: fmt::Display> SpillError<K> {
    /// As rask's [`Error::Spill`](rask_core::Error::Spill).
    pub fn into_error(self) -> rask_core::Error {
        let message = self.message();
        let (key, path) = match self {
            SpillError::Directory { path, .. } => ("(spill directory)".to_owned(), path),
            SpillError::Write { key, path, .. }
            | SpillError::Read { key, path, .. }
            | SpillError::Corrupt { key, path, .. }
            | SpillError::Decode { key, path, .. } => (key.to_string(), path),
        };
        rask_core::Error::Spill { key, path, message }
    }

    fn message(&self) -> String {
        match self {
            SpillError::Directory { source, .. } => format!(
                "cannot make the spill directory: {source}; set memory.spill-directory \
                 (RASK_MEMORY_SPILL_DIRECTORY) to a writable directory"
            ),
            SpillError::Write { source, .. } if is_disk_full(source) => format!(
                "the disk is full ({source}); free space there, set memory.spill-directory \
                 to a larger disk, or raise memory-limit"
            ),
            SpillError::Write { source, .. } => format!(
                "cannot write the spill file: {source}; check memory.spill-directory \
                 (RASK_MEMORY_SPILL_DIRECTORY)"
            ),
            SpillError::Read { source, .. } => format!(
                "cannot read the spill file back: {source}; something removed or \
                 changed the spill directory while rask was running"
            ),
            SpillError::Corrupt { reason, .. } => format!(
                "the spill file is damaged ({reason}); the disk or another program \
                 changed it, so the value is lost"
            ),
            SpillError::Decode { error, .. } => format!(
                "the value cannot be read back: {error}; fix the type's `Deserialize` \
                 or codec (it must decode what it encoded)"
            ),
        }
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || e.raw_os_error() == Some(28)
}

impl<K: fmt::Display> fmt::Display for SpillError<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpillError::Directory { path, .. } => {
                write!(f, "spill directory {}: {}", path.display(), self.message())
            }
            SpillError::Write { key, path, .. }
            | SpillError::Read { key, path, .. }
            | SpillError::Corrupt { key, path, .. }
            | SpillError::Decode { key, path, .. } => {
                write!(
                    f,
                    "spill of {key} at {}: {}",
                    path.display(),
                    self.message()
                )
            }
        }
    }
}

impl<K: fmt::Display + fmt::Debug> std::error::Error for SpillError<K> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpillError::Directory { source, .. }
            | SpillError::Write { source, .. }
            | SpillError::Read { source, .. } => Some(source),
            SpillError::Decode { error, .. } => Some(error),
            SpillError::Corrupt { .. } => None,
        }
    }
}
