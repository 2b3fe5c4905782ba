//! Errors of rask.
//!
//! [`Error`] is what `compute` and every other public entry point return. A
//! task's own failure — an error it returned, or a panic — is
//! [`Error::Task`], which names the task's key, its operation and the cause
//! ([`TaskError`]). Problems with the graph itself (a cycle, a missing
//! dependency), with arguments, configuration and I/O have variants of their
//! own, so callers can tell "my function failed" from "I built the graph
//! wrong".

use std::path::PathBuf;

use crate::key::Key;

/// A boxed error from user code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with rask's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why one task failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task's function returned an error.
    #[error("{0}")]
    Failed(#[source] BoxError),
    /// The task's function panicked; the payload's message is kept.
    #[error("panicked: {0}")]
    Panicked(String),
    /// A dependency's value is not of the type the task expects.
    #[error(
        "argument {position} has type `{found}`, but the task expects `{expected}`; \
         check which task feeds this one"
    )]
    WrongType {
        /// Position of the argument among the task's dependencies.
        position: usize,
        /// The type the task asked for.
        expected: &'static str,
        /// The type of the value it was given.
        found: &'static str,
    },
    /// The task was given a different number of arguments than it takes.
    #[error("the task takes {expected} argument(s) but has {found} dependencies")]
    WrongArity {
        /// Arguments the function takes.
        expected: usize,
        /// Dependencies the task has.
        found: usize,
    },
}

impl TaskError {
    /// Wraps any error from user code.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        TaskError::Failed(error.into())
    }

    /// Builds the message of a panic payload.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let msg = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-string payload".to_string()
        };
        TaskError::Panicked(msg)
    }
}

/// Everything that can go wrong in rask.
///
/// `Debug` prints the message and its causes (not the structure), so that
/// `fn main() -> rask::Result<()>` reports a readable error.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A task failed; the rest of the computation was cancelled.
    #[error("task {key} (operation `{op}`) failed: {cause}")]
    Task {
        /// Key of the task that failed.
        key: Key,
        /// Name of the operation it ran.
        op: String,
        /// What went wrong.
        #[source]
        cause: TaskError,
    },
    /// The graph has a cycle, so no order of execution exists.
    #[error("the graph has a cycle: {}; a task cannot depend on itself, directly or through others", format_cycle(.keys))]
    Cycle {
        /// The keys on the cycle, each depending on the next, the last on the first.
        keys: Vec<Key>,
    },
    /// A task depends on a key that no task in the graph produces.
    #[error(
        "task {key} depends on {missing}, which is not in the graph; add a task with that key or remove the dependency"
    )]
    MissingDependency {
        /// The task with the dangling dependency.
        key: Key,
        /// The key it depends on.
        missing: Key,
    },
    /// A requested key is not in the graph.
    #[error("key {key} was requested but is not in the graph")]
    MissingKey {
        /// The requested key.
        key: Key,
    },
    /// An argument is out of its valid range.
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// Which argument.
        what: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The configuration could not be read.
    #[error(transparent)]
    Config(#[from] rask_config::ConfigError),
    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A result could not be written to its spill file, or read back from
    /// it (disk full, file damaged or removed).
    #[error("spill of {key} at {}: {message}", path.display())]
    Spill {
        /// The key of the result (a task's key, or a worker's data key).
        key: String,
        /// The spill file, or the spill directory.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// The executor itself failed (for example, no thread could be started).
    #[error("the scheduler failed: {0}")]
    Scheduler(String),
    /// A task cannot be sent to the executor in force, which runs tasks in
    /// other processes.
    #[error("task {key} (operation `{op}`) cannot run in another process: {reason}")]
    NotPortable {
        /// The first such task.
        key: Key,
        /// Its operation.
        op: String,
        /// Why, and how to fix it.
        reason: String,
    },
    /// Encoded bytes (a graph, a kernel's parameters, a value) do not
    /// decode.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded, naming the task where there is one.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The compute was cancelled.
    #[error("the compute was cancelled")]
    Cancelled,
    /// Talking to a cluster failed: the scheduler or a worker cannot be
    /// reached, refused the connection, or went away.
    #[error("cluster at {address}: {message}")]
    Cluster {
        /// The address of the scheduler or worker.
        address: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// A task was running on workers that died, too many times (Dask's
    /// `KilledWorker`); it may crash its worker or use too much memory.
    #[error("task {key} (operation `{op}`) killed its workers: {message}")]
    KilledWorker {
        /// The task.
        key: Key,
        /// Its operation.
        op: String,
        /// How many workers died and which.
        message: String,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        let mut first = true;
        while let Some(s) = source {
            // Task and config errors already print their cause inline.
            let shown = self.to_string();
            let text = s.to_string();
            if !shown.contains(&text) {
                if first {
                    f.write_str("\n\nCaused by:")?;
                    first = false;
                }
                write!(f, "\n    {text}")?;
            }
            source = s.source();
        }
        Ok(())
    }
}

impl Error {
    /// The key of the failed task, for [`Error::Task`].
    pub fn task_key(&self) -> Option<&Key> {
        match self {
            Error::Task { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            message: message.into(),
        }
    }
}

fn format_cycle(keys: &[Key]) -> String {
    let mut s = String::new();
    for k in keys {
        s.push_str(&k.to_string());
        s.push_str(" -> ");
    }
    if let Some(first) = keys.first() {
        s.push_str(&first.to_string());
    }
    s
}
