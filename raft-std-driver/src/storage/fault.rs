//! A [`FileIo`] that fails chosen operations on demand: for tests of what a node does when its
//! storage fails (fail-stop on a failed fsync or write, a full disk), in this crate's tests and
//! in a user's own (`Node::open_with`).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{FileHandle, FileIo, StdIo};

/// Switches shared between a [`FaultIo`] and the test holding it.
#[derive(Debug, Default)]
pub struct Faults {
    /// While set, every file and directory fsync fails.
    pub fail_fsync: AtomicBool,
    /// While set, every file write fails.
    pub fail_write: AtomicBool,
    /// Makes every fsync a successful no-op (tests that reopen thousands of copies and never
    /// crash the machine).
    pub skip_fsync: AtomicBool,
    /// While set, file writes draw on `space_left`: a write larger than what is left writes
    /// the part that fits and fails with `ENOSPC`, as a full file system does.
    pub limit_space: AtomicBool,
    /// The bytes of writes left while `limit_space` is set.
    pub space_left: AtomicU64,
}

impl Faults {
    /// From now on, only `bytes` more bytes of file writes succeed.
    pub fn fill_disk_after(&self, bytes: u64) {
        self.space_left.store(bytes, Ordering::SeqCst);
        self.limit_space.store(true, Ordering::SeqCst);
    }

    /// Writes `buf` at `offset` within the space left; see `limit_space`.
    fn write_within_space(
        &self,
        file: &mut dyn FileHandle,
        offset: u64,
        buf: &[u8],
    ) -> io::Result<()> {
        if !self.limit_space.load(Ordering::SeqCst) {
            return file.write_at(offset, buf);
        }
        let left = self.space_left.load(Ordering::SeqCst);
        let fits = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        file.write_at(offset, &buf[..fits])?;
        self.space_left.fetch_sub(fits as u64, Ordering::SeqCst);
        if fits < buf.len() {
            return Err(enospc());
        }
        Ok(())
    }
}

/// The error a full file system returns (`ENOSPC`).
pub fn enospc() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "No space left on device (injected ENOSPC)",
    )
}

/// The real file system, except that file fsyncs or writes fail while their switch is on.
#[derive(Debug, Default, Clone)]
pub struct FaultIo {
    /// The switches, shared with every file this opened.
    pub faults: Arc<Faults>,
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
        self.faults
            .write_within_space(self.inner.as_mut(), offset, buf)
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
    fn write_back(&mut self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.write_back(offset, len)
    }
}

impl FileIo for FaultIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(FaultFile {
            inner: StdIo.open(path, create)?,
            faults: self.faults.clone(),
        }))
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
