//! Panics inside tasks: caught, kept with their location, not printed.
//!
//! A task that panics fails with [`TaskError::Panicked`] carrying the
//! panic's message and where it happened (`src/clean.rs:42:9`); the error
//! comes back from `compute`. Rust's default hook would also print
//! `thread '…' panicked at …` to stderr for a panic that rask catches and
//! returns, so rask installs a panic hook, once, that stays quiet for panics
//! inside a task and passes every other panic to the hook that was there
//! before. With `RUST_BACKTRACE` set (to anything but `0`), task panics are
//! printed as usual, for debugging.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use crate::error::TaskError;

thread_local! {
    /// How many task bodies this thread is inside (nested computes nest).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Where the last panic inside a task on this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let verbose = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|slot| *slot.borrow_mut() = at);
                if !verbose {
                    return;
                }
            }
            previous(info)
        }));
    });
}

/// Runs a task body, turning a panic into [`TaskError::Panicked`] with its
/// message and location.
pub(crate) fn catch<R>(f: impl FnOnce() -> Result<R, TaskError>) -> Result<R, TaskError> {
    catch_message(f).unwrap_or_else(|msg| Err(TaskError::Panicked(msg)))
}

/// Runs user code that is not a task body (a type's encoder or decoder),
/// turning a panic into its message and location, as [`catch`] does: the
/// caller returns it as an error, so rask's hook keeps it off stderr.
pub(crate) fn catch_message<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        let at = LOCATION.with(|slot| slot.borrow_mut().take());
        let msg = match TaskError::from_panic(payload) {
            TaskError::Panicked(msg) => msg,
            other => other.to_string(),
        };
        match at {
            Some(at) => format!("{msg} (at {at})"),
            None => msg,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_keeps_its_message_and_location() {
        let err = catch::<()>(|| panic!("no valid rows"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no valid rows"), "{err}");
        assert!(err.contains("panics.rs:"), "{err}");
        assert_eq!(catch(|| Ok::<_, TaskError>(3)).unwrap(), 3);
    }
}
