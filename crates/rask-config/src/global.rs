//! The process-wide current configuration.
//!
//! Two layers: the configuration loaded once, lazily, from the environment
//! and the config file (the first time anything asks), and an optional
//! override installed by [`set`] or [`update`]. Each override remembers the
//! one it replaced in its [`ConfigGuard`] and puts it back when the guard is
//! dropped, so nested scopes unwind like `with dask.config.set(...)`.
//! Readers get an `Arc` snapshot: a compute that read the config keeps
//! seeing the same values even if another thread changes it meanwhile.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use crate::{Config, ConfigError, Result};

/// The configuration read from the environment and file, or the defaults
/// and the reason that read failed.
struct Loaded {
    config: Arc<Config>,
    error: Option<ConfigError>,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// The config installed by [`set`] or [`update`], if any. Only ever held for
/// a clone or a swap, so poisoning cannot leave it half-written.
static OVERRIDE: RwLock<Option<Override>> = RwLock::new(None);

/// An installed configuration, and whether it was derived (by [`update`])
/// from a load that failed — then [`try_get`] keeps reporting that failure,
/// so a bad `RASK_*` variable is not hidden by a program's own tweaks.
#[derive(Clone, Debug)]
struct Override {
    config: Arc<Config>,
    inherits_load_error: bool,
}

fn loaded() -> &'static Loaded {
    LOADED.get_or_init(|| {
        // Misspelt variables would otherwise be ignored without a word.
        let vars = std::env::vars_os().filter_map(|(name, _)| {
            let name = name.into_string().ok()?;
            name.starts_with("RASK_").then(|| (name, String::new()))
        });
        for warning in crate::env_warnings(vars) {
            eprintln!("{warning}");
        }
        load_env_and_file()
    })
}

fn load_env_and_file() -> Loaded {
    match Config::from_env_and_file() {
        Ok(config) => Loaded {
            config: Arc::new(config),
            error: None,
        },
        Err(error) => Loaded {
            config: Arc::new(Config::default()),
            error: Some(error),
        },
    }
}

fn current_override() -> Option<Override> {
    OVERRIDE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The current configuration of this process.
///
/// That is the latest [`set`] or [`update`] still in force, or else the
/// configuration read from the environment and config file on first use
/// ([`Config::from_env_and_file`]). If that read failed, `get` returns the
/// defaults; call [`try_get`] (the CLI does at start-up) to report the error.
///
/// ```
/// let config = rask_config::get();
/// assert!(config.worker_threads() >= 1);
/// ```
pub fn get() -> Arc<Config> {
    current_override().map_or_else(|| Arc::clone(&loaded().config), |o| o.config)
}

/// Like [`get`], but reports why the environment or config file could not
/// be read instead of falling back to the defaults.
///
/// ```
/// match rask_config::try_get() {
///     Ok(config) => println!("scheduler: {}", config.scheduler),
///     Err(e) => eprintln!("bad configuration: {e}"),
/// }
/// ```
///
/// # Errors
///
/// The error of [`Config::from_env_and_file`], unless a [`set`] replaced the
/// whole configuration.
pub fn try_get() -> Result<Arc<Config>> {
    let loaded = loaded();
    if let Some(o) = current_override() {
        match (&loaded.error, o.inherits_load_error) {
            (Some(error), true) => return Err(error.clone()),
            _ => return Ok(o.config),
        }
    }
    match &loaded.error {
        Some(error) => Err(error.clone()),
        None => Ok(Arc::clone(&loaded.config)),
    }
}

/// Makes `config` the current configuration of the whole process until the
/// returned guard is dropped, which restores the previous one.
///
/// Guards should be dropped in the reverse order of their creation, as
/// nested scopes do; the override is process-wide, not per thread.
///
/// ```
/// use rask_config::{Config, SchedulerKind};
///
/// let before = rask_config::get();
/// {
///     let _guard = rask_config::set(Config { scheduler: SchedulerKind::Sync, ..Config::default() });
///     assert_eq!(rask_config::get().scheduler, SchedulerKind::Sync);
/// }
/// assert_eq!(rask_config::get(), before);
/// ```
pub fn set(config: Config) -> ConfigGuard {
    install(config, false)
}

fn install(config: Config, inherits_load_error: bool) -> ConfigGuard {
    let mut current = OVERRIDE.write().unwrap_or_else(PoisonError::into_inner);
    let previous = current.replace(Override {
        config: Arc::new(config),
        inherits_load_error,
    });
    ConfigGuard { previous }
}

/// Changes a copy of the current configuration with `f` and makes it
/// current until the returned guard is dropped (see [`set`]). If the
/// environment or config file could not be read, [`try_get`] still reports
/// that error: the change builds on the defaults, not on what the user asked.
///
/// ```
/// use rask_config::SchedulerKind;
///
/// let guard = rask_config::update(|c| c.scheduler = SchedulerKind::Sync);
/// assert_eq!(rask_config::get().scheduler, SchedulerKind::Sync);
/// drop(guard);
/// ```
pub fn update(f: impl FnOnce(&mut Config)) -> ConfigGuard {
    let inherits = match current_override() {
        Some(o) => o.inherits_load_error,
        None => loaded().error.is_some(),
    };
    let mut config = Config::clone(&get());
    f(&mut config);
    install(config, inherits)
}

/// Undoes a [`set`] or [`update`] when dropped, restoring the configuration
/// that was current before it.
///
/// ```
/// let guard = rask_config::update(|c| c.num_workers = Some(2));
/// assert_eq!(rask_config::get().worker_threads(), 2);
/// drop(guard); // the previous configuration is back
/// ```
#[derive(Debug)]
#[must_use = "the configuration is restored as soon as the guard is dropped"]
pub struct ConfigGuard {
    previous: Option<Override>,
}

impl Drop for ConfigGuard {
    fn drop(&mut self) {
        *OVERRIDE.write().unwrap_or_else(PoisonError::into_inner) = self.previous.take();
    }
}
