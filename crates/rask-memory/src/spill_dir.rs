//! The spill directory of one [`SpillStore`](crate::SpillStore), and the
//! removal of those left behind.
//!
//! A store's files go to `PARENT/rask-spill-PID-N`, which holds, from the
//! moment it has that name, a file `.lock` on which the store keeps an
//! exclusive advisory lock (`flock`) for as long as it lives. The lock —
//! not the PID in the name — says whether the directory is in use: a
//! process in another container sharing `/tmp`, or on another host sharing
//! an NFS directory, has a PID this process cannot see, but its lock is
//! seen. The kernel releases the lock when the process ends, however it
//! ends, so a directory whose lock can be taken was left by a process that
//! died before removing it, and is removed.
//!
//! So that no directory of that name is ever without a held lock, it is
//! made under a hidden name (`.rask-spill-new-PID-N`), locked, then
//! renamed. A directory of that name without a `.lock` file (made by an
//! older rask) is left alone: nothing says it is unused.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of spill directory names.
const PREFIX: &str = "rask-spill-";
/// Prefix of a spill directory's name while it is made.
const NEW_PREFIX: &str = ".rask-spill-new-";
/// The lock file inside a spill directory.
const LOCK: &str = ".lock";

static STORE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A spill directory in use: its path and the locked `.lock` file inside
/// it. Dropping it releases the lock (the store removes the directory
/// first).
#[derive(Debug)]
pub(crate) struct SpillDir {
    path: PathBuf,
    /// Held, locked, for the store's lifetime.
    _lock: File,
}

impl SpillDir {
    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes `parent/rask-spill-PID-N` with its lock held, after removing
/// directories of that form whose lock nobody holds.
pub(crate) fn make(parent: &Path) -> std::io::Result<SpillDir> {
    std::fs::create_dir_all(parent)?;
    remove_stale(parent);
    let pid = std::process::id();
    loop {
        let n = STORE_SEQ.fetch_add(1, Ordering::Relaxed);
        let new = parent.join(format!("{NEW_PREFIX}{pid}-{n}"));
        match std::fs::create_dir(&new) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        let made = lock_and_rename(&new, &parent.join(format!("{PREFIX}{pid}-{n}")));
        match made {
            Ok(Some(dir)) => return Ok(dir),
            // The name is taken (by a directory with files): the next one.
            Ok(None) => {
                let _ = std::fs::remove_dir_all(&new);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&new);
                return Err(e);
            }
        }
    }
}

/// Locks a new `.lock` in `new` and renames `new` to `to`; `None` when
/// `to` is taken.
fn lock_and_rename(new: &Path, to: &Path) -> std::io::Result<Option<SpillDir>> {
    let lock = File::create_new(new.join(LOCK))?;
    lock.try_lock().map_err(|e| match e {
        std::fs::TryLockError::Error(e) => e,
        std::fs::TryLockError::WouldBlock => {
            std::io::Error::other("a new lock file is locked by another process")
        }
    })?;
    // rename(2) replaces an empty directory but never one with files, and
    // every spill directory has its `.lock`.
    if to.exists() {
        return Ok(None);
    }
    match std::fs::rename(new, to) {
        Ok(()) => Ok(Some(SpillDir {
            path: to.to_owned(),
            _lock: lock,
        })),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Removes the `rask-spill-*` directories in `parent` whose `.lock` this
/// process can lock: their store is gone. A directory whose lock is held
/// — by a live process anywhere, this one included — stays, as does one
/// without a lock file.
pub(crate) fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(PREFIX)) {
            continue;
        }
        let dir = e.path();
        let Ok(lock) = File::open(dir.join(LOCK)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            // Held while the directory goes, so nobody else removes it
            // at the same time.
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rask-spill-dir-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A directory as a store of another process makes it, with its lock
    /// file (`held`: locked through an open file description of its own,
    /// as another process would hold it).
    fn other_store(parent: &Path, name: &str, held: bool) -> (PathBuf, File) {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1.spill"), b"x").unwrap();
        let lock = File::create(dir.join(LOCK)).unwrap();
        if held {
            lock.try_lock().unwrap();
        }
        (dir, lock)
    }

    #[test]
    fn only_directories_whose_lock_is_free_are_removed() {
        let p = parent("stale");
        // Pid 0 is never a user process, and 1 is init (alive): the PID
        // decides nothing.
        let (live, _held) = other_store(&p, "rask-spill-0-1", true);
        let (dead, _free) = other_store(&p, "rask-spill-1-2", false);
        let unlocked_old = p.join("rask-spill-0-3");
        std::fs::create_dir_all(&unlocked_old).unwrap();
        let other = p.join("not-rask");
        std::fs::create_dir_all(&other).unwrap();
        let mine = make(&p).unwrap();
        assert!(live.join("1.spill").exists(), "a held lock keeps it");
        assert!(!dead.exists(), "a free lock is a dead store's");
        assert!(
            unlocked_old.exists(),
            "no lock file: nothing says it is unused"
        );
        assert!(other.exists());
        // A second store of this process leaves the first one's alone.
        let second = make(&p).unwrap();
        assert!(mine.path().join(LOCK).exists());
        assert_ne!(mine.path(), second.path());
        // Once the first is dropped (without removing its directory, as
        // a killed process would), the next store removes it.
        let left = mine.path().to_owned();
        drop(mine);
        remove_stale(&p);
        assert!(!left.exists());
        assert!(second.path().exists());
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn a_spill_directory_is_never_seen_without_its_lock() {
        let p = parent("made");
        let dir = make(&p).unwrap();
        let name = dir.path().file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(PREFIX), "{name}");
        let lock = File::open(dir.path().join(LOCK)).unwrap();
        assert!(lock.try_lock().is_err(), "the lock is held");
        // No directory under the hidden name is left.
        let names: Vec<_> = std::fs::read_dir(&p)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&p).unwrap();
    }
}
