//! The worker's error type.

/// Result with the worker's [`WorkerError`].
pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// Why a worker could not start, or why it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The scheduler could not be reached or refused the worker.
    #[error(
        "cannot connect to the scheduler at {address}: {message}; check that a scheduler \
         runs there (`rask scheduler`) and that the token and build match"
    )]
    Connect {
        /// The scheduler's address.
        address: String,
        /// What went wrong.
        message: String,
    },
    /// The scheduler file names an address where no scheduler answered
    /// within the wait: most likely one left behind by a scheduler that was
    /// killed.
    #[error(
        "the scheduler file {} names {address}, where no scheduler answers ({message}); a \
         scheduler that was killed leaves its file behind: start the scheduler (it rewrites {}) \
         or remove {}",
        path.display(),
        path.display(),
        path.display()
    )]
    NoSchedulerAtFileAddress {
        /// The scheduler file.
        path: std::path::PathBuf,
        /// The address it held when the wait ended.
        address: String,
        /// The last attempt's error.
        message: String,
    },
    /// The data server could not listen on its address.
    #[error(
        "cannot listen for peers on {address}: {message}; choose another address or port \
         (`--listen`)"
    )]
    Bind {
        /// The address.
        address: String,
        /// What went wrong.
        message: String,
    },
    /// The connection to the scheduler was lost; the worker stopped.
    #[error("lost the connection to the scheduler at {address}: {message}; the worker stopped")]
    SchedulerLost {
        /// The scheduler's address.
        address: String,
        /// What happened.
        message: String,
    },
    /// The options are not usable.
    #[error("invalid worker option {what}: {message}")]
    InvalidOption {
        /// Which option (or environment variable).
        what: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The worker's threads or runtime could not be started.
    #[error("the worker could not start: {0}")]
    Start(String),
    /// A worker's supervisor could not start it, or stopped restarting it.
    #[error("the worker's supervisor stopped: {0}")]
    Supervisor(String),
    /// The worker was stopped abruptly (killed) before it finished.
    #[error("the worker was killed")]
    Killed,
}
