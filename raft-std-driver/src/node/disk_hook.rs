//! The fault hook's disk half, for chaos tests, off by default: with `RAFT_FAULT_HOOK=1` in its
//! environment a node's storage goes through [`DiskHookIo`], which fails every file write,
//! file sync and directory sync with `ENOSPC` while the file [`ENOSPC_FILE`] exists in its data
//! directory: a disk that fills up at a moment the test chooses. The node fail-stops on the
//! first such error (see the README, "Disk full"); the test removes the file ("frees space")
//! and starts it again. Without the variable the storage is not wrapped.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fault::FAULT_HOOK_VAR;
use crate::storage::fault::enospc;
use crate::storage::{FileHandle, FileIo};

/// The file in the data directory whose presence fills the disk.
pub const ENOSPC_FILE: &str = "fault-enospc";

/// `io` wrapped in a [`DiskHookIo`] for the data directory `data_dir` if [`FAULT_HOOK_VAR`]
/// is `1`; else `io` itself.
pub(super) fn wrap(io: Arc<dyn FileIo>, data_dir: &Path) -> Arc<dyn FileIo> {
    if std::env::var_os(FAULT_HOOK_VAR).is_none_or(|v| v != "1") {
        return io;
    }
    tracing::warn!("fault hook on: storage writes fail with ENOSPC while {ENOSPC_FILE} exists");
    Arc::new(DiskHookIo {
        inner: io,
        flag: Arc::new(data_dir.join(ENOSPC_FILE)),
    })
}

/// Fails writes and syncs with `ENOSPC` while its flag file exists; otherwise `inner`.
#[derive(Debug)]
struct DiskHookIo {
    inner: Arc<dyn FileIo>,
    flag: Arc<PathBuf>,
}

/// `ENOSPC` if the flag file exists.
fn check(flag: &Path) -> io::Result<()> {
    if flag.exists() {
        return Err(enospc());
    }
    Ok(())
}

struct HookFile {
    inner: Box<dyn FileHandle>,
    flag: Arc<PathBuf>,
}

impl FileHandle for HookFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        check(&self.flag)?;
        self.inner.write_at(offset, buf)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        check(&self.flag)?;
        self.inner.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        check(&self.flag)?;
        self.inner.sync()
    }
    fn write_back(&mut self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.write_back(offset, len)
    }
}

impl FileIo for DiskHookIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(HookFile {
            inner: self.inner.open(path, create)?,
            flag: self.flag.clone(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        check(&self.flag)?;
        self.inner.sync_dir(dir)
    }
}
