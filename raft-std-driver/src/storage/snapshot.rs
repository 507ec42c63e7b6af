//! Snapshot files: written in chunks to a temp file, checked, fsynced, renamed into place, and
//! the directory fsynced; read back in chunks to stream to a follower.
//!
//! A snapshot is named by what identifies it in Raft and on the wire:
//! `<index:016x>-<term:016x>-<length:016x>-<crc32:08x>-<members>.snap`, where `<members>` is
//! the lowercase hex of [`Membership::encode`] (the cluster configuration as of `index`), so
//! the membership becomes durable with the same rename that makes the bytes durable. Only the
//! canonical spelling of a name is recognized. A leftover `*.tmp` (a crash mid-write, or the
//! spare file a capture writes over) is deleted on open; only the newest complete snapshot is
//! kept.
//!
//! The local state machine's snapshots are written off the node loop ([`CaptureTarget`],
//! `capture.rs`) and adopted here once durable ([`SnapshotStore::adopt`]).
//!
//! The store speaks raft-core's [`SnapshotMeta`] (its `checksum` is the CRC-32 of the bytes),
//! so the meta a leader streams, a follower installs and a file is named by are one type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use raftcore::{LogIndex, Membership, SnapshotMeta, SnapshotPoint, Term, MEMBERSHIP_BYTES};

use super::capture::SPARE;
use super::error::Poison;
use super::{CaptureTarget, FileHandle, FileIo, StdIo, StorageError};

/// Bytes read per call while checksumming a snapshot file.
const CHECK_CHUNK: usize = 64 << 10;

/// The meta of a snapshot whose bytes are all in memory: raft-core's [`SnapshotMeta`] (one
/// type from the WAL to the wire), its checksum the CRC-32 (IEEE) of the bytes.
pub fn meta_of_bytes(
    index: LogIndex,
    term: Term,
    members: Membership,
    bytes: &[u8],
) -> SnapshotMeta {
    let at = SnapshotPoint {
        index,
        term,
        members,
    };
    at.meta(bytes.len() as u64, crc32fast::hash(bytes))
}

/// The file name the snapshot `meta` is stored under.
pub fn file_name(meta: &SnapshotMeta) -> String {
    let mut buf = [0; MEMBERSHIP_BYTES];
    let members: String = meta
        .members
        .encode(&mut buf)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{:016x}-{:016x}-{:016x}-{:08x}-{members}.snap",
        meta.index.0, meta.term.0, meta.len, meta.checksum
    )
}

/// The meta a file name spells, if it is the canonical name of a snapshot.
fn parse_file_name(name: &str) -> Option<SnapshotMeta> {
    let mut parts = name.strip_suffix(".snap")?.split('-');
    let mut field = |width: usize| {
        let p = parts.next().filter(|p| p.len() == width)?;
        u64::from_str_radix(p, 16).ok()
    };
    let (index, term, len) = (field(16)?, field(16)?, field(16)?);
    let checksum = u32::try_from(field(8)?).ok()?;
    let hex = parts.next()?;
    if parts.next().is_some() || hex.len() % 2 != 0 || hex.len() > 2 * MEMBERSHIP_BYTES {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(hex.get(k..k + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let meta = SnapshotMeta {
        index: LogIndex(index),
        term: Term(term),
        len,
        checksum,
        members: Membership::decode(&bytes).ok()?,
    };
    // One spelling per meta (lowercase hex, canonical membership encoding).
    (file_name(&meta) == name).then_some(meta)
}

struct Incoming {
    meta: SnapshotMeta,
    tmp: PathBuf,
    file: Box<dyn FileHandle>,
    /// Bytes `0..received` have been written.
    received: u64,
}

/// The snapshot directory: at most one complete snapshot and at most one being received.
pub struct SnapshotStore {
    io: Arc<dyn FileIo>,
    dir: PathBuf,
    latest: Option<SnapshotMeta>,
    reader: Option<(SnapshotMeta, Box<dyn FileHandle>)>,
    incoming: Option<Incoming>,
    poisoned: Poison,
    /// The most bytes a second a capture writes (0: no limit).
    write_rate: u64,
}

impl std::fmt::Debug for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotStore")
            .field("dir", &self.dir)
            .field("latest", &self.latest)
            .field("incoming", &self.incoming.as_ref().map(|i| i.meta))
            .field("poisoned", &self.poisoned.is_set())
            .finish()
    }
}

impl SnapshotStore {
    /// Opens (or creates) the snapshot directory `dir` on the real file system.
    pub fn open(dir: impl AsRef<Path>) -> Result<SnapshotStore, StorageError> {
        SnapshotStore::open_with(dir, Arc::new(StdIo))
    }

    /// Opens `dir` through `io`: deletes leftover temp files and older snapshots, and verifies
    /// the newest snapshot's length and checksum against its name.
    pub fn open_with(
        dir: impl AsRef<Path>,
        io: Arc<dyn FileIo>,
    ) -> Result<SnapshotStore, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        io.create_dir_all(&dir)
            .map_err(|e| StorageError::io("create dir", &dir, e))?;
        let names = io
            .list(&dir)
            .map_err(|e| StorageError::io("list", &dir, e))?;
        let mut found: Vec<SnapshotMeta> = Vec::new();
        let mut removed = false;
        for name in &names {
            if name.ends_with(".snap.tmp") {
                let path = dir.join(name);
                io.remove(&path)
                    .map_err(|e| StorageError::io("remove", &path, e))?;
                removed = true;
            } else if let Some(meta) = parse_file_name(name) {
                found.push(meta);
            }
        }
        found.sort_by_key(|m| (m.index, m.term));
        let latest = found.pop();
        for old in &found {
            let path = dir.join(file_name(old));
            io.remove(&path)
                .map_err(|e| StorageError::io("remove", &path, e))?;
            removed = true;
        }
        if removed {
            io.sync_dir(&dir)
                .map_err(|e| StorageError::io("fsync dir", &dir, e))?;
        }
        if let Some(meta) = latest {
            let path = dir.join(file_name(&meta));
            let mut file = io
                .open(&path, false)
                .map_err(|e| StorageError::io("open", &path, e))?;
            let (len, crc) =
                checksum(file.as_mut()).map_err(|e| StorageError::io("read", &path, e))?;
            if len != meta.len || crc != meta.checksum {
                return Err(StorageError::CorruptSnapshot { file: path });
            }
        }
        Ok(SnapshotStore {
            io,
            dir,
            latest,
            reader: None,
            incoming: None,
            poisoned: Poison::default(),
            write_rate: 0,
        })
    }

    /// The newest complete snapshot, if any.
    pub fn latest(&self) -> Option<SnapshotMeta> {
        self.latest
    }

    /// The path of the newest complete snapshot, if any.
    pub fn latest_path(&self) -> Option<PathBuf> {
        self.latest.map(|m| self.dir.join(file_name(&m)))
    }

    /// Starts receiving the snapshot `meta` into a temp file, abandoning any other in progress.
    pub fn begin(&mut self, meta: SnapshotMeta) -> Result<(), StorageError> {
        self.check()?;
        self.abort()?;
        let tmp = self.dir.join(format!("{}.tmp", file_name(&meta)));
        let opened = self.io.open(&tmp, true).and_then(|mut f| {
            f.set_len(0)?;
            Ok(f)
        });
        match opened {
            Ok(file) => {
                self.incoming = Some(Incoming {
                    meta,
                    tmp,
                    file,
                    received: 0,
                });
                Ok(())
            }
            Err(e) => Err(self.poison(StorageError::io("create", tmp, e))),
        }
    }

    /// The snapshot being received and how many leading bytes of it are written.
    pub fn receiving(&self) -> Option<(SnapshotMeta, u64)> {
        self.incoming.as_ref().map(|i| (i.meta, i.received))
    }

    /// Writes a chunk at `offset`. Chunks may repeat or overlap what was received, but must not
    /// leave a hole. Returns the contiguous length received so far (what a follower
    /// acknowledges).
    pub fn write_chunk(&mut self, offset: u64, data: &[u8]) -> Result<u64, StorageError> {
        self.check()?;
        let Some(inc) = self.incoming.as_mut() else {
            return Err(StorageError::SnapshotChunk {
                reason: "no snapshot is being received",
            });
        };
        let end = offset.checked_add(data.len() as u64);
        if offset > inc.received {
            return Err(StorageError::SnapshotChunk {
                reason: "chunk leaves a hole after the received prefix",
            });
        }
        let Some(end) = end.filter(|&end| end <= inc.meta.len) else {
            return Err(StorageError::SnapshotChunk {
                reason: "chunk runs past the snapshot's length",
            });
        };
        if let Err(e) = inc.file.write_at(offset, data) {
            let tmp = inc.tmp.clone();
            return Err(self.poison(StorageError::io("write", tmp, e)));
        }
        inc.received = inc.received.max(end);
        Ok(inc.received)
    }

    /// Completes the snapshot being received: checks length and checksum, fsyncs, renames it
    /// into place, fsyncs the directory and deletes the previous snapshot. A checksum mismatch
    /// discards the temp file and is not fatal (the sender can start over).
    pub fn finish(&mut self) -> Result<SnapshotMeta, StorageError> {
        self.check()?;
        let Some(mut inc) = self.incoming.take() else {
            return Err(StorageError::SnapshotChunk {
                reason: "no snapshot is being received",
            });
        };
        if inc.received != inc.meta.len {
            self.incoming = Some(inc);
            return Err(StorageError::SnapshotChunk {
                reason: "snapshot is incomplete",
            });
        }
        let summed = match checksum(inc.file.as_mut()) {
            Ok(s) => s,
            Err(e) => return Err(self.poison(StorageError::io("read", inc.tmp, e))),
        };
        if summed != (inc.meta.len, inc.meta.checksum) {
            drop(inc.file);
            if let Err(e) = self.io.remove(&inc.tmp) {
                return Err(self.poison(StorageError::io("remove", inc.tmp, e)));
            }
            return Err(StorageError::SnapshotChunk {
                reason: "checksum does not match",
            });
        }
        if let Err(e) = inc.file.sync() {
            return Err(self.poison(StorageError::io("fsync", inc.tmp, e)));
        }
        drop(inc.file);
        let dest = self.dir.join(file_name(&inc.meta));
        if let Err(e) = self.io.rename(&inc.tmp, &dest) {
            return Err(self.poison(StorageError::io("rename", inc.tmp, e)));
        }
        self.sync_dir()?;
        // The new snapshot is durable; the old one is garbage now.
        if let Some(old) = self.latest.filter(|old| *old != inc.meta) {
            self.reader = None;
            let path = self.dir.join(file_name(&old));
            if let Err(e) = self.io.remove(&path) {
                return Err(self.poison(StorageError::io("remove", path, e)));
            }
            self.sync_dir()?;
        }
        self.latest = Some(inc.meta);
        Ok(inc.meta)
    }

    /// Abandons the snapshot being received, if any, deleting its temp file.
    pub fn abort(&mut self) -> Result<(), StorageError> {
        if let Some(inc) = self.incoming.take() {
            drop(inc.file);
            if let Err(e) = self.io.remove(&inc.tmp) {
                return Err(self.poison(StorageError::io("remove", inc.tmp, e)));
            }
        }
        Ok(())
    }

    /// Stores a snapshot held in memory (one the local state machine produced) atomically.
    pub fn save(
        &mut self,
        index: LogIndex,
        term: Term,
        members: Membership,
        bytes: &[u8],
    ) -> Result<SnapshotMeta, StorageError> {
        let meta = meta_of_bytes(index, term, members, bytes);
        self.begin(meta)?;
        self.write_chunk(0, bytes)?;
        self.finish()
    }

    /// Limits every later capture's writes to `bytes_per_sec` (0: no limit; the default).
    pub fn set_write_rate(&mut self, bytes_per_sec: u64) {
        self.write_rate = bytes_per_sec;
    }

    /// Where a snapshot captured off the node loop is written ([`CaptureTarget::write`], on a
    /// worker thread); the loop then [`adopt`](SnapshotStore::adopt)s it.
    pub fn capture_target(&self) -> Result<CaptureTarget, StorageError> {
        self.check()?;
        Ok(CaptureTarget {
            io: self.io.clone(),
            dir: self.dir.clone(),
            bytes_per_sec: self.write_rate,
        })
    }

    /// Takes the snapshot `meta`, which [`CaptureTarget::write`] made durable under its name,
    /// as the newest, and renames the previous one to the spare the next capture writes over
    /// (see `capture.rs`; without a directory fsync: open keeps the newest and deletes the
    /// rest anyway). Returns false, making `meta`'s file the spare instead, if the store holds
    /// a snapshot at or past `meta`'s index already (one installed from a leader meanwhile).
    pub fn adopt(&mut self, meta: SnapshotMeta) -> Result<bool, StorageError> {
        self.check()?;
        let stale = self.latest.is_some_and(|l| l.index >= meta.index);
        let gone = if stale {
            Some(meta)
        } else {
            self.latest.replace(meta)
        };
        // The stale capture or the previous snapshot; never the current one (a capture that
        // equals an installed snapshot has its very name).
        if let Some(old) = gone.filter(|old| Some(*old) != self.latest) {
            if self.reader.as_ref().is_some_and(|(m, _)| *m == old) {
                self.reader = None;
            }
            let path = self.dir.join(file_name(&old));
            if let Err(e) = self.io.rename(&path, &self.dir.join(SPARE)) {
                return Err(self.poison(StorageError::io("rename", path, e)));
            }
        }
        Ok(!stale)
    }

    /// Records that a capture's write failed with `e` (fail-stop, as the store's own writes):
    /// the store refuses every later call. Returns `e`.
    pub fn capture_failed(&mut self, e: StorageError) -> StorageError {
        self.poison(e)
    }

    /// Reads up to `buf.len()` bytes of the newest snapshot at `offset` (to send a chunk).
    /// Returns 0 at the end. `meta` must be [`SnapshotStore::latest`].
    pub fn read_chunk(
        &mut self,
        meta: SnapshotMeta,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, StorageError> {
        self.check()?;
        if self.latest != Some(meta) {
            return Err(StorageError::SnapshotChunk {
                reason: "not the current snapshot",
            });
        }
        if self.reader.as_ref().map(|(m, _)| *m) != Some(meta) {
            let path = self.dir.join(file_name(&meta));
            match self.io.open(&path, false) {
                Ok(f) => self.reader = Some((meta, f)),
                Err(e) => return Err(self.poison(StorageError::io("open", path, e))),
            }
        }
        let want = usize::try_from(meta.len.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        // `reader` was set just above.
        let read = match self.reader.as_mut() {
            Some((_, f)) => f.read_at(offset, &mut buf[..want]),
            None => Ok(0),
        };
        read.map_err(|e| {
            let path = self.dir.join(file_name(&meta));
            self.poison(StorageError::io("read", path, e))
        })
    }

    /// Reads the whole newest snapshot into memory (for restoring a state machine).
    pub fn read_all(&mut self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
        let Some(meta) = self.latest else {
            return Ok(None);
        };
        let mut out = vec![0; usize::try_from(meta.len).unwrap_or(usize::MAX)];
        let mut at = 0;
        while at < out.len() {
            let n = self.read_chunk(meta, at as u64, &mut out[at..])?;
            if n == 0 {
                let file = self.dir.join(file_name(&meta));
                return Err(self.poison(StorageError::CorruptSnapshot { file }));
            }
            at += n;
        }
        Ok(Some((meta, out)))
    }

    /// True once an I/O error has stopped this store.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_set()
    }

    fn sync_dir(&mut self) -> Result<(), StorageError> {
        if let Err(e) = self.io.sync_dir(&self.dir) {
            let dir = self.dir.clone();
            return Err(self.poison(StorageError::io("fsync dir", dir, e)));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), StorageError> {
        self.poisoned.check()
    }

    fn poison(&mut self, e: StorageError) -> StorageError {
        self.poisoned.set(e)
    }
}

/// The length and CRC-32 of a whole file.
fn checksum(file: &mut dyn FileHandle) -> std::io::Result<(u64, u32)> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0; CHECK_CHUNK];
    let mut at = 0u64;
    loop {
        let n = file.read_at(at, &mut buf)?;
        if n == 0 {
            return Ok((at, hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
}
