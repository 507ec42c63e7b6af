//! A [`FileIo`] for tests that fails chosen operations on demand.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{FileHandle, FileIo, StdIo};

/// Switches shared between a [`FaultIo`] and the test holding it.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) fail_fsync: AtomicBool,
    pub(crate) fail_write: AtomicBool,
    /// Makes every fsync a successful no-op (tests that reopen thousands of copies and never
    /// crash the machine).
    pub(crate) skip_fsync: AtomicBool,
}

/// The real file system, except that file fsyncs or writes fail while their switch is on.
#[derive(Debug, Default, Clone)]
pub(crate) struct FaultIo {
    pub(crate) faults: Arc<Faults>,
}

struct FaultFile {
    inner: Box<dyn FileHandle>,
    faults: Arc<Faults>,
}

fn injected() -> io::Error {
    io::Error::other("injected failure")
}

impl FileHandle for FaultFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.faults.fail_write.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.write_at(offset, buf)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        if self.faults.fail_fsync.load(Ordering::SeqCst) {
            return Err(injected());
        }
        if self.faults.skip_fsync.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.sync()
    }
}

impl FileIo for FaultIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(FaultFile {
            inner: StdIo.open(path, create)?,
            faults: self.faults.clone(),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        StdIo.read(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdIo.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdIo.create_dir_all(dir)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdIo.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdIo.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.faults.fail_fsync.load(Ordering::SeqCst) {
            return Err(injected());
        }
        if self.faults.skip_fsync.load(Ordering::SeqCst) {
            return Ok(());
        }
        StdIo.sync_dir(dir)
    }
}
