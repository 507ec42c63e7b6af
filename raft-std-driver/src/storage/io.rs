//! The file-system seam: everything the WAL and the snapshot store do to the disk goes through
//! [`FileIo`], so a test can inject failures (an fsync error, a short disk) at any call.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An open file.
pub trait FileHandle: Send {
    /// Writes all of `buf` at byte `offset`.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Reads up to `buf.len()` bytes at `offset`, returning how many were read (0 at the end).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Sets the file's length (truncates or extends with zeros).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`; the WAL never depends on mtime).
    fn sync(&mut self) -> io::Result<()>;
    /// Writes the `len` bytes at `offset` back to the disk and waits until they are written
    /// (Linux: `sync_file_range` with `WAIT_BEFORE | WRITE | WAIT_AFTER`), without making them
    /// durable: no metadata and no flush of the disk's cache, which [`sync`](FileHandle::sync)
    /// still does. A long write paced this way never leaves much for one fsync (its own or
    /// another file's) to wait behind. The default does nothing.
    fn write_back(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }
}

/// File-system operations on paths.
///
/// Only [`open`](FileIo::open) is required: every other operation defaults to the real file
/// system ([`StdIo`]), so a wrapper that injects faults into file handles overrides only what it
/// changes.
pub trait FileIo: fmt::Debug + Send + Sync {
    /// Opens `path` for reading and writing, creating it if `create` is set.
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    /// The names of the regular files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }
    /// Creates `dir` and its parents if absent.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    /// Renames `from` to `to` (atomically replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    /// Makes `dir`'s entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Unix a directory is opened read-only and fsynced to persist its entries. Windows
        // cannot open a directory this way and has no equivalent; there it is a no-op.
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdIo;

struct StdFile(File);

impl FileHandle for StdFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        // One `pwrite` (no `lseek` before it) on Unix: a system call less per WAL batch.
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
        }
        #[cfg(not(unix))]
        {
            self.0.seek(SeekFrom::Start(offset))?;
            self.0.write_all(buf)
        }
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(not(unix))]
        self.0.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < buf.len() {
            #[cfg(unix)]
            let got = std::os::unix::fs::FileExt::read_at(
                &self.0,
                &mut buf[filled..],
                offset + filled as u64,
            );
            #[cfg(not(unix))]
            let got = self.0.read(&mut buf[filled..]);
            match got {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write_back(&mut self, offset: u64, len: u64) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd as _;
            let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            let (offset, len) = (offset as libc::off64_t, len as libc::off64_t);
            // SAFETY: a plain system call on this open file's descriptor.
            if unsafe { libc::sync_file_range(self.0.as_raw_fd(), offset, len, flags) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
        Ok(())
    }
}

impl FileIo for StdIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Box::new(StdFile(file)))
    }
}

/// Writes `bytes` to `dir/name` atomically: a temp file `name.tmp` is written and fsynced,
/// renamed over `name`, and the directory fsynced. A crash leaves either the old file or the
/// new one, plus possibly a stale `.tmp` that readers ignore.
pub fn atomic_write(
    io: &dyn FileIo,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<PathBuf, super::StorageError> {
    use super::StorageError;
    let tmp = dir.join(format!("{name}.tmp"));
    let dest = dir.join(name);
    let mut file = io
        .open(&tmp, true)
        .map_err(|e| StorageError::io("create", &tmp, e))?;
    file.set_len(0)
        .map_err(|e| StorageError::io("truncate", &tmp, e))?;
    file.write_at(0, bytes)
        .map_err(|e| StorageError::io("write", &tmp, e))?;
    file.sync()
        .map_err(|e| StorageError::io("fsync", &tmp, e))?;
    drop(file);
    io.rename(&tmp, &dest)
        .map_err(|e| StorageError::io("rename", &tmp, e))?;
    io.sync_dir(dir)
        .map_err(|e| StorageError::io("fsync dir", dir, e))?;
    Ok(dest)
}
