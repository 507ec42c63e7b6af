//! The data directory's exclusive lock: an `flock` on `<dir>/LOCK`.
//!
//! `flock` belongs to the open file description, so a second open of the directory is refused
//! whether it comes from another process or from this one, and the kernel releases the lock
//! when the holder's file is closed, including when the process dies (`kill -9`, a crash): no
//! stale lock file has to be cleaned up by hand. The `LOCK` file itself stays empty.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::StorageError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Holds the lock on a data directory until dropped.
#[derive(Debug)]
pub struct DirLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    dir: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist) without waiting: fails with
    /// [`StorageError::Locked`] if another holder has it. Creates the empty `LOCK` file if absent
    /// and writes nothing else.
    pub fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StorageError::io("open lock file", &path, e))?;
        try_lock(&file).map_err(|e| match e {
            LockError::Held => StorageError::Locked {
                dir: dir.to_path_buf(),
            },
            LockError::Io(e) => StorageError::io("lock", &path, e),
        })?;
        Ok(DirLock {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

enum LockError {
    Held,
    Io(std::io::Error),
}

#[cfg(unix)]
fn try_lock(file: &File) -> Result<(), LockError> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(LockError::Held),
        Err(e) => Err(LockError::Io(e.into())),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> Result<(), LockError> {
    // The node runs on Unix; elsewhere the directory is not locked (documented in the module
    // docs of `storage`).
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let second = DirLock::acquire(dir.path());
        assert!(
            matches!(&second, Err(StorageError::Locked { dir: d }) if d == dir.path()),
            "{second:?}"
        );
        let line = second.unwrap_err().to_string();
        assert!(line.contains("locked by another process"), "{line}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
