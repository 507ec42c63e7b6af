//! Durable storage: the write-ahead log (WAL) and atomic snapshot files.
//!
//! # Layout of a data directory
//!
//! ```text
//! <dir>/0000000000000000-0000000000000001.wal   segment 0, first entry index 1
//! <dir>/0000000000000001-00000000000003e9.wal   segment 1, first entry index 1001
//! <dir>/snap/<index>-<term>-<length>-<crc>.snap  the latest snapshot (see `SnapshotStore`)
//! ```
//!
//! Every WAL record is framed as `[len u32 LE][crc32 u32 LE][payload]` (see [`record`]).
//!
//! # How the driver uses the WAL
//!
//! Append any number of records ([`Wal::append_entry`], [`Wal::truncate_from`],
//! [`Wal::set_hard_state`]) and then call [`Wal::sync`] once: that is group commit. Records are
//! readable (e.g. [`Wal::entry`]) as soon as they are appended, durable only once `sync` returns
//! `Ok`. Any I/O error poisons the WAL: it never retries an fsync and every later call fails with
//! [`StorageError::Poisoned`] (fail-stop; an fsync that failed may have dropped dirty pages, so
//! retrying it could report success for data that is gone).
//!
//! # Recovery rules
//!
//! * A bad record (incomplete, bad CRC, undecodable) in the **last** segment with no valid record
//!   anywhere after it is a torn tail: the file is truncated at its offset and the open succeeds
//!   (reported in [`Recovered::torn_tail`]).
//! * Any other bad record (in an earlier segment, or followed by a valid record) is
//!   [`StorageError::Corrupt`] naming the file and byte offset; nothing is skipped.
//! * A gap in the segment sequence or in the entry indexes is [`StorageError::Inconsistent`].
//!
//! The "nothing valid after it" test errs on the safe side: a crash that persisted a later
//! block of the last unsynced batch but not an earlier one is reported as `Corrupt` rather than
//! cut, so the node stops instead of guessing (no synced record is ever dropped silently).
//! Only the last segment can hold unsynced records: a segment is closed only right after an
//! fsync, and a new one's header (hard state, snapshot point) is durable before any entry goes
//! in, so after compaction the first remaining segment always restates them.

mod datadir;
mod error;
mod hardstate;
mod identity;
mod io;
mod lock;
mod log;
pub mod record;
mod segment;
mod snapshot;
mod wal;

#[cfg(test)]
mod enospc_tests;
#[cfg(test)]
pub(crate) mod fault;
#[cfg(test)]
mod mark_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod wal_tests;

pub use datadir::DataDir;
pub use error::StorageError;
pub use hardstate::SyncMark;
pub use identity::{Identity, IDENTITY_FILE};
pub use io::{atomic_write, FileHandle, FileIo, StdIo};
pub use lock::{DirLock, LOCK_FILE};
pub use log::EntryRef;
pub use record::{HardState, Record, SnapshotPoint};
pub use snapshot::{SnapshotMeta, SnapshotStore};
pub use wal::{Recovered, TornTail, Wal, WalOptions};
