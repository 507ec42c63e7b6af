//! The storage error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in [`Wal`](super::Wal) and
/// [`SnapshotStore`](super::SnapshotStore).
///
/// `Io`, `Corrupt`, `Inconsistent`, `CorruptSnapshot` and `Poisoned` are fatal for a node: stop
/// it (fail-stop). The usage errors (`NonContiguous`, `OutOfRange`, `EntryTooLarge`, `SnapshotChunk`) come from a
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
