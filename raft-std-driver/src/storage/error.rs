//! The storage error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in [`Wal`](super::Wal) and
/// [`SnapshotStore`](super::SnapshotStore).
///
/// `Io`, `Corrupt`, `CorruptState`, `Inconsistent`, `CorruptSnapshot` and `Poisoned` are
/// fatal for a node: stop it (fail-stop). `Locked` and `WrongIdentity` refuse to open a data
/// directory and change nothing in it. The usage errors (`NonContiguous`, `OutOfRange`, `EntryTooLarge`, `SnapshotChunk`) come from a
/// driver bug and change nothing on disk or in memory.
#[derive(Debug)]
pub enum StorageError {
    /// An I/O call failed; the store is now poisoned.
    Io {
        /// What was being done, e.g. "fsync".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record before the torn tail is damaged: its frame or CRC does not check.
    Corrupt {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the damaged record's frame within `file`.
        offset: u64,
    },
    /// The records check individually but do not form a valid log (a missing segment, a gap
    /// in entry indexes).
    Inconsistent {
        /// What is wrong.
        reason: String,
    },
    /// A small checksummed state file (the data directory's identity, a hard-state copy) is
    /// damaged, or the WAL disagrees with what it records.
    CorruptState {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged record within `file` (0 for these one-record files).
        offset: u64,
        /// What does not check.
        reason: &'static str,
    },
    /// Another process holds the data directory's lock (`LOCK`, an `flock`).
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// The data directory belongs to another node or another cluster.
    WrongIdentity {
        /// The identity file.
        file: PathBuf,
        /// The node id recorded there.
        found_node: u32,
        /// The cluster id recorded there.
        found_cluster: u32,
        /// The node id this process was started with.
        node: u32,
        /// The cluster id this process was started with.
        cluster: u32,
    },
    /// A snapshot file's length or checksum does not match its name.
    CorruptSnapshot {
        /// The snapshot file.
        file: PathBuf,
    },
    /// An earlier I/O error poisoned this store; it accepts no more calls.
    Poisoned,
    /// `append_entry` was given an index other than `last_index + 1`.
    NonContiguous {
        /// The index the log expected.
        expected: u64,
        /// The index that was given.
        got: u64,
    },
    /// An index outside what the log holds (e.g. truncating into the snapshot, compacting past
    /// the last entry).
    OutOfRange {
        /// The offending index.
        index: u64,
    },
    /// An entry's payload is larger than a WAL record may be.
    EntryTooLarge {
        /// The payload's length in bytes.
        len: usize,
    },
    /// A snapshot chunk was out of order, past the announced length, or the snapshot was
    /// finished incomplete or with a wrong checksum.
    SnapshotChunk {
        /// What is wrong.
        reason: &'static str,
    },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the error is a full disk (`ENOSPC`): the store is poisoned like after any
    /// other I/O error; free space and restart the node (see the [module docs](super)).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StorageError::Io { source, .. }
            if source.kind() == io::ErrorKind::StorageFull)
    }

    /// True for the errors after which the store refuses all calls (everything but the
    /// usage errors).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            StorageError::NonContiguous { .. }
                | StorageError::OutOfRange { .. }
                | StorageError::EntryTooLarge { .. }
                | StorageError::SnapshotChunk { .. }
        )
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { op, path, source } => {
                write!(f, "{op} failed on {}: {source}", path.display())
            }
            StorageError::Corrupt { file, offset } => {
                write!(
                    f,
                    "corrupt WAL record in {} at byte {offset}",
                    file.display()
                )
            }
            StorageError::CorruptState {
                file,
                offset,
                reason,
            } => write!(
                f,
                "corrupt state file {} at byte {offset}: {reason}",
                file.display()
            ),
            StorageError::Locked { dir } => write!(
                f,
                "data directory {} is locked by another process (lock file {}): is another \
                 raft-node running with this data directory?",
                dir.display(),
                dir.join(super::lock::LOCK_FILE).display()
            ),
            StorageError::WrongIdentity {
                file,
                found_node,
                found_cluster,
                node,
                cluster,
            } => write!(
                f,
                "data directory belongs to node {found_node} of cluster {found_cluster} (per {}), \
                 not to node {node} of cluster {cluster}",
                file.display()
            ),
            StorageError::Inconsistent { reason } => write!(f, "inconsistent WAL: {reason}"),
            StorageError::CorruptSnapshot { file } => {
                write!(f, "corrupt snapshot file {}", file.display())
            }
            StorageError::Poisoned => {
                write!(f, "storage is poisoned by an earlier I/O error (fail-stop)")
            }
            StorageError::NonContiguous { expected, got } => {
                write!(f, "append at index {got}, expected {expected}")
            }
            StorageError::OutOfRange { index } => write!(f, "index {index} is out of range"),
            StorageError::EntryTooLarge { len } => {
                write!(f, "entry of {len} bytes is larger than a WAL record may be")
            }
            StorageError::SnapshotChunk { reason } => write!(f, "snapshot chunk: {reason}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A store's fail-stop switch: once an I/O error left its files in doubt, every later call
/// fails with [`StorageError::Poisoned`] (the WAL and the snapshot store each keep one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Poison(bool);

impl Poison {
    /// `Poisoned` once [`Poison::set`] was called.
    pub(crate) fn check(self) -> Result<(), StorageError> {
        if self.0 {
            Err(StorageError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Poisons the store because of `e`, and gives `e` back to be returned.
    pub(crate) fn set(&mut self, e: StorageError) -> StorageError {
        self.0 = true;
        e
    }

    /// Whether the store is poisoned.
    pub(crate) fn is_set(self) -> bool {
        self.0
    }
}
