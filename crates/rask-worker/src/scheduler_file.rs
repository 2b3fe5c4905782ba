//! Following a scheduler file while the worker waits for its scheduler.
//!
//! `rask scheduler --scheduler-file F` writes `{"address": "tcp://…"}` to
//! `F` and removes it on a clean exit; a scheduler that was killed leaves
//! it behind. A batch job that starts a new scheduler and its workers at
//! once may let a worker read that stale file before the new scheduler
//! replaces it. So a worker that was given a scheduler file reads it again
//! before each new attempt to connect, and follows an address that
//! changed. A file that is missing, or does not (yet) hold an address, is
//! not an error here: it may be in the middle of being replaced; the
//! address already known is kept.

use std::path::Path;

/// The address a scheduler file's text holds (`{"address": "..."}`), or
/// `None` when the text is not that (half written, or not a scheduler
/// file).
pub(crate) fn address_in(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let address = value.get("address")?.as_str()?.trim();
    (!address.is_empty()).then(|| address.to_string())
}

/// The address to connect to next instead of `current`: the one the file
/// at `path` holds now, when it holds one and it differs; `None` (keep
/// `current`) otherwise, including when the file cannot be read.
pub(crate) fn changed_address(path: &Path, current: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    address_in(&text).filter(|a| a != current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduler_file_holds_an_address_or_nothing_yet() {
        assert_eq!(
            address_in("{\"address\": \"tcp://10.0.0.1:8786\"}\n").as_deref(),
            Some("tcp://10.0.0.1:8786")
        );
        // Half written, empty, or something else: nothing to follow.
        assert_eq!(address_in("{\"address\": \"tcp://10.0"), None);
        assert_eq!(address_in(""), None);
        assert_eq!(address_in("{\"address\": \"\"}"), None);
        assert_eq!(address_in("{\"addr\": \"tcp://10.0.0.1:8786\"}"), None);
        assert_eq!(address_in("[1, 2]"), None);
    }

    #[test]
    fn a_stale_scheduler_file_is_followed_once_it_is_rewritten() {
        let dir = std::env::temp_dir().join(format!("rask-worker-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("scheduler.json");
        let stale = "tcp://127.0.0.1:1";
        std::fs::write(&file, format!("{{\"address\": \"{stale}\"}}")).unwrap();
        // The file still names the address tried: keep it.
        assert_eq!(changed_address(&file, stale), None);
        // Missing or half written while it is replaced: keep it.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(changed_address(&file, stale), None);
        std::fs::write(&file, "{\"address\": \"tcp://127.0.0.1:4").unwrap();
        assert_eq!(changed_address(&file, stale), None);
        // Rewritten by a new scheduler: follow it.
        std::fs::write(&file, "{\"address\": \"tcp://127.0.0.1:4567\"}\n").unwrap();
        assert_eq!(
            changed_address(&file, stale).as_deref(),
            Some("tcp://127.0.0.1:4567")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
