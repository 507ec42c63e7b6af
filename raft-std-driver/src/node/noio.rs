//! `fsync = false`: the real file system with every fsync skipped. For benchmarks only: a
//! crash (of the machine, not just the process) may lose acknowledged writes.

use std::io;
use std::path::Path;

use crate::storage::{FileHandle, FileIo, StdIo};

/// [`StdIo`] without fsyncs.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSyncIo;

struct NoSyncFile(Box<dyn FileHandle>);

impl FileHandle for NoSyncFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.0.write_at(offset, buf)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn write_back(&mut self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

impl FileIo for NoSyncIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(NoSyncFile(StdIo.open(path, create)?)))
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}
