//! Configuration for rask: which scheduler runs a compute, how many worker
//! threads it uses, whether a progress bar shows, how big array chunks are.
//!
//! A [`Config`] is built in three layers, each overriding the one before:
//!
//! 1. the defaults ([`Config::default`], listed in [`KEYS`]);
//! 2. a TOML file: the one named by `RASK_CONFIG`, or else `rask.toml` in
//!    the current directory if there is one;
//! 3. environment variables, one per key: `RASK_SCHEDULER`,
//!    `RASK_NUM_WORKERS`, `RASK_ARRAY_CHUNK_SIZE`, ...
//!
//! A complete `rask.toml` (`rask config` prints one with the values in
//! force, see [`Config::to_toml`]):
//!
//! ```toml
//! scheduler = "threads"      # or "sync"
//! num-workers = 4            # or "auto": one per core
//! progress = "auto"          # "on", "off"
//! progress-delay = "500 ms"
//! memory-limit = "auto"      # or a size such as "16 GiB"
//!
//! [memory]                   # fractions of memory-limit
//! target = 0.6               # spill the values needed last above this
//! spill = 0.7                # ... or when the whole process is above this
//! pause = 0.8                # start no new root tasks above this
//! terminate = 0.95           # (workers) restart above this
//! spill-directory = ""       # "": the system's temporary directory
//! max-spill = "none"         # or a size such as "100 GiB"
//! compression = "lz4"        # or "none"
//!
//! [optimization]
//! fuse = true
//!
//! [array]
//! chunk-size = "128 MiB"
//! split-every = 4
//! ```
//!
//! Unknown keys and bad values are errors that name the key, the value and
//! where it came from, rather than being ignored.
//!
//! The process-wide configuration is read with [`get`] and changed for a
//! scope with [`set`] or [`update`], which return a guard that restores the
//! previous configuration when dropped:
//!
//! ```
//! use rask_config::SchedulerKind;
//!
//! {
//!     let _guard = rask_config::update(|c| c.scheduler = SchedulerKind::Sync);
//!     assert_eq!(rask_config::get().scheduler, SchedulerKind::Sync);
//!     // computes started here run on the calling thread
//! }
//! // the previous configuration is back
//! ```

mod bytes;
mod config;
mod duration;
mod error;
mod global;
mod kinds;
mod suggest;

pub use bytes::ByteSize;
pub use config::{Config, KEYS, KeyDoc};
pub use duration::parse_duration;
pub use error::{ConfigError, Result};
pub use global::{ConfigGuard, get, set, try_get, update};
pub use kinds::{ProgressMode, SchedulerKind, SpillCompression};
pub use suggest::{OTHER_ENV, closest, env_warnings};
