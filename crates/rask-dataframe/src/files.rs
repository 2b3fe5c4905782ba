//! Finding input files: glob patterns, sorted, errors that name the pattern.

use std::path::PathBuf;

use rask_core::{Error, Result};

/// The files matching `pattern` (a path or a glob: `*`, `?`, `[..]`),
/// sorted by name; an error naming the pattern when none does.
pub(crate) fn expand(what: &str, pattern: &str) -> Result<Vec<PathBuf>> {
    let bad = |msg: String| Error::invalid(what, format!("{pattern}: {msg}"));
    let paths = glob::glob(pattern).map_err(|e| {
        bad(format!(
            "not a valid glob pattern ({e}); use *, ? and [..] in file names, as in data/*.csv"
        ))
    })?;
    let mut files: Vec<PathBuf> = paths
        .map(|p| p.map_err(|e| bad(format!("cannot list {}", e.path().display()))))
        .collect::<Result<_>>()?;
    files.retain(|p| !p.is_dir());
    files.sort();
    if files.is_empty() {
        return Err(bad(
            "no file matches it; check the path, the directory and the pattern".into(),
        ));
    }
    Ok(files)
}

/// An I/O error on `path`.
pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
    Error::Io {
        path: path.into(),
        source,
    }
}
