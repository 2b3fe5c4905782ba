//! Misspelt settings: the closest valid name for an unknown config key or
//! `RASK_*` variable, and the warnings for variables rask does not read.

use crate::config::KEYS;

/// `RASK_*` variables that rask reads outside of [`KEYS`]: the config file's
/// name, the worker command's options, and the test suite's oracles.
pub const OTHER_ENV: &[&str] = &[
    "RASK_CONFIG",
    "RASK_WORKER_SCHEDULER",
    "RASK_WORKER_NTHREADS",
    "RASK_WORKER_MEMORY_LIMIT",
    "RASK_WORKER_NAME",
    "RASK_WORKER_LISTEN",
    "RASK_WORKER_CONTACT_ADDRESS",
    "RASK_PYTHON",
    "RASK_REQUIRE_ORACLES",
    "RASK_ORACLE_VENV",
];

/// Prefixes of `RASK_*` variables never warned about: the worker
/// command's (it reads and checks its own) and those used internally by
/// tests, builds and benchmarks.
const INTERNAL_PREFIXES: &[&str] = &[
    "RASK_WORKER_",
    "RASK_TEST_",
    "RASK_BUILD_",
    "RASK_BENCH_",
    "RASK_FUZZ_",
];

/// The edit distance (insertions, deletions, substitutions and swaps of
/// neighbours) between `a` and `b`, compared without case.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // Three rows of the dynamic programme: two back, one back, this one.
    let mut two_back: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The candidate closest to `name`, when it is close enough to be a
/// likely misspelling: at most a third of the name's length away (and at
/// least 2), or equal once `-`, `_` and `.` are ignored.
///
/// ```
/// let keys = ["num-workers", "scheduler"];
/// assert_eq!(rask_config::closest("num_workers", keys), Some("num-workers"));
/// assert_eq!(rask_config::closest("shceduler", keys), Some("scheduler"));
/// assert_eq!(rask_config::closest("colour", keys), None);
/// ```
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_' | '.'))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(name);
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| {
            let d = if squash(c) == squashed {
                0
            } else {
                distance(name, c)
            };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The closest valid config key to `key`, for "did you mean" hints.
pub(crate) fn closest_key(key: &str) -> Option<&'static str> {
    closest(key, KEYS.iter().map(|k| k.key))
}

/// Warnings for the `RASK_*` variables among `vars` that rask does not
/// read (misspellings, most likely), each naming the closest valid
/// variable when there is one. Other variables are not looked at.
///
/// [`crate::get`] prints these to standard error once, when it first
/// reads the environment.
///
/// ```
/// let warnings = rask_config::env_warnings([
///     ("RASK_NUMWORKERS".to_owned(), "3".to_owned()),
///     ("RASK_SCHEDULER".to_owned(), "sync".to_owned()),
///     ("HOME".to_owned(), "/root".to_owned()),
/// ]);
/// assert_eq!(warnings.len(), 1);
/// assert!(warnings[0].contains("did you mean RASK_NUM_WORKERS?"), "{}", warnings[0]);
/// ```
pub fn env_warnings(vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let valid = || KEYS.iter().map(|k| k.env).chain(OTHER_ENV.iter().copied());
    let mut warnings: Vec<String> = vars
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("RASK_"))
        .filter(|name| !INTERNAL_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter(|name| !valid().any(|v| v == name))
        .map(|name| {
            let hint = match closest(&name, valid()) {
                Some(close) => format!("did you mean {close}?"),
                None => "no variable rask reads is close to that name (`rask config` shows the settings)".to_owned(),
            };
            format!("rask: warning: the environment variable {name} is not a rask setting and is ignored; {hint}")
        })
        .collect();
    warnings.sort();
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("", "ab"), 2);
        assert_eq!(distance("SAME", "same"), 0);
    }

    #[test]
    fn every_key_and_variable_is_its_own_closest() {
        for k in KEYS {
            assert_eq!(closest_key(k.key), Some(k.key));
        }
        assert!(env_warnings(KEYS.iter().map(|k| (k.env.to_owned(), String::new()))).is_empty());
        assert!(env_warnings(OTHER_ENV.iter().map(|v| (v.to_string(), String::new()))).is_empty());
    }

    #[test]
    fn misspelt_names_get_the_valid_one() {
        assert_eq!(closest_key("num_workers"), Some("num-workers"));
        assert_eq!(closest_key("numworkers"), Some("num-workers"));
        assert_eq!(closest_key("array.chunk-sise"), Some("array.chunk-size"));
        assert_eq!(closest_key("sheduler"), Some("scheduler"));
        assert_eq!(closest_key("colour"), None);
        let w = env_warnings([("RASK_PROGRES".to_owned(), "on".to_owned())]);
        assert!(
            w[0].contains("RASK_PROGRES is not a rask setting"),
            "{}",
            w[0]
        );
        assert!(w[0].ends_with("did you mean RASK_PROGRESS?"), "{}", w[0]);
        let w = env_warnings([("RASK_ZZZZZZZZZZ".to_owned(), "1".to_owned())]);
        assert!(w[0].contains("no variable rask reads is close"), "{}", w[0]);
        assert!(env_warnings([("RASK_TEST_CHILD".to_owned(), "1".to_owned())]).is_empty());
    }
}
