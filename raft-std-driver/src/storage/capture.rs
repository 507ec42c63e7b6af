//! A snapshot written off the node loop: a worker thread streams the state machine's bytes
//! into a temp file (CRC-32 computed on the way), fsyncs it, renames it to its name (which
//! spells the length and checksum, known only at the end) and fsyncs the directory. The loop
//! then adopts the file ([`SnapshotStore::adopt`](super::SnapshotStore::adopt)) and only then
//! tells the core, which may compact the WAL up to it.
//!
//! On the disk the WAL shares, a snapshot of a large state (tens of MiB) is written so that
//! the node loops' WAL fsyncs never wait long behind it (measured in BENCHMARKS.md,
//! "Snapshots of a large state"):
//!
//! - Paced: each [`WRITE_CHUNK`] written to the temp file is written back to the disk
//!   ([`FileHandle::write_back`], `sync_file_range`) before the next one goes in, so the page
//!   cache never holds more than one chunk of it and the final fsync has almost nothing
//!   left. A WAL fsync then waits behind at most a chunk: no cache flush of the disk, no
//!   journal commit. (Left to one fsync at the end, all of it queued at once; fsynced every
//!   4 MiB, each piece flushed the disk's cache and the WAL's fsyncs waited 30-60 ms.)
//! - Rate-limited: at most `snapshot_write_mib_per_sec` (`SnapshotStore::set_write_rate`),
//!   so that the WAL's fsyncs find the disk mostly free while a capture runs.
//! - Recycled: the file of the snapshot before the newest ([`SPARE`], left by
//!   [`SnapshotStore::adopt`](super::SnapshotStore::adopt)) is renamed to the temp name and
//!   written over in place, then cut to its new length. Deleting it instead freed tens of MiB
//!   of extents at once (on the node loop: 55-116 ms for the `unlink`), and a file system
//!   mounted with `discard` then stalled every fsync on the disk for some 100 ms at its next
//!   journal commit; allocating a fresh file's blocks cost again.
//!
//! Crash safety: until the rename the new snapshot is a `*.snap.tmp`, deleted on open, and the
//! previous snapshot is untouched; after it, the file is complete and durable (fsynced before
//! the rename) and is the newest on open, which deletes the older one. The WAL is compacted
//! only after the loop learned the file is durable, so it always holds every entry after the
//! newest snapshot on disk.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftcore::{SnapshotMeta, SnapshotPoint};

use super::snapshot::file_name;
use super::{FileHandle, FileIo, StorageError};

/// Bytes buffered before one write to the temp file, each written back before the next: at
/// the disk speeds of a server (hundreds of MB/s) a few milliseconds of the disk's time.
pub(crate) const WRITE_CHUNK: usize = 1 << 20;

/// The name of the previous snapshot's file once a newer one is adopted: the next capture
/// writes over it. A `*.snap.tmp`, so [`SnapshotStore::open`](super::SnapshotStore::open)
/// deletes it like any leftover temp file.
pub(crate) const SPARE: &str = "spare.snap.tmp";

/// Where a snapshot captured off the node loop goes: the snapshot directory and its I/O.
/// Cloned out of the store ([`SnapshotStore::capture_target`](super::SnapshotStore)) and
/// moved to the worker thread.
#[derive(Clone, Debug)]
pub struct CaptureTarget {
    pub(super) io: Arc<dyn FileIo>,
    pub(super) dir: PathBuf,
    /// The most bytes a second the capture writes (0: no limit).
    pub(super) bytes_per_sec: u64,
}

impl CaptureTarget {
    /// The temp file a capture at `at` writes.
    pub fn temp_path(&self, at: &SnapshotPoint) -> PathBuf {
        self.dir
            .join(format!("capture-{:016x}.snap.tmp", at.index.0))
    }

    /// Writes the snapshot at `at` whose bytes `write` produces: a temp file, fsynced, renamed
    /// to its name and the directory fsynced. Returns its meta (length and CRC-32 of what was
    /// written). On error the temp file is removed if it can be (open removes it otherwise);
    /// the previous snapshot is never touched.
    pub fn write(
        &self,
        at: SnapshotPoint,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<SnapshotMeta, StorageError> {
        let tmp = self.temp_path(&at);
        let r = self.write_tmp(&tmp, at, write);
        if r.is_err() {
            let _ = self.io.remove(&tmp);
        }
        r
    }

    fn write_tmp(
        &self,
        tmp: &PathBuf,
        at: SnapshotPoint,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<SnapshotMeta, StorageError> {
        // The spare, if there is one (else a new file); bytes past the new snapshot's end are
        // cut below.
        let _ = self.io.rename(&self.dir.join(SPARE), tmp);
        let file = self
            .io
            .open(tmp, true)
            .map_err(|e| StorageError::io("create", tmp, e))?;
        let mut out = Summed {
            file,
            started: Instant::now(),
            bytes_per_sec: self.bytes_per_sec,
            at: 0,
            hasher: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(WRITE_CHUNK),
        };
        write(&mut out)
            .and_then(|()| out.write_out())
            .and_then(|()| out.file.set_len(out.at))
            .map_err(|e| StorageError::io("write", tmp, e))?;
        out.file
            .sync()
            .map_err(|e| StorageError::io("fsync", tmp, e))?;
        let Summed {
            file,
            at: len,
            hasher,
            ..
        } = out;
        drop(file);
        let meta = at.meta(len, hasher.finalize());
        let dest = self.dir.join(file_name(&meta));
        self.io
            .rename(tmp, &dest)
            .map_err(|e| StorageError::io("rename", tmp, e))?;
        self.io
            .sync_dir(&self.dir)
            .map_err(|e| StorageError::io("fsync dir", &self.dir, e))?;
        Ok(meta)
    }
}

/// A buffered writer into the temp file that sums what it writes.
struct Summed {
    file: Box<dyn FileHandle>,
    /// When the first byte was written, and the rate the writes keep to (0: none).
    started: Instant,
    bytes_per_sec: u64,
    /// Bytes written to the file so far.
    at: u64,
    hasher: crc32fast::Hasher,
    buf: Vec<u8>,
}

impl Summed {
    fn write_out(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let len = self.buf.len() as u64;
        self.file.write_at(self.at, &self.buf)?;
        self.file.write_back(self.at, len)?;
        self.hasher.update(&self.buf);
        self.at += len;
        self.buf.clear();
        if self.bytes_per_sec > 0 {
            // Not ahead of the rate: the bytes so far take at least this long.
            let due = Duration::from_secs_f64(self.at as f64 / self.bytes_per_sec as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(())
    }
}

impl Write for Summed {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = (WRITE_CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == WRITE_CHUNK {
                self.write_out()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()
    }
}
