//! Durable storage: the data directory's lock and identity, the write-ahead log (WAL) with
//! its hard-state copies, and atomic snapshot files.
//!
//! # Layout of a data directory
//!
//! ```text
//! <dir>/LOCK                                         flock'ed while a node has the directory open
//! <dir>/IDENTITY                                     node id and cluster id (see `identity`)
//! <dir>/epoch                                        the transport's boot epoch
//! <dir>/wal/0000000000000000-0000000000000001.wal    segment 0, first entry index 1
//! <dir>/wal/0000000000000001-00000000000003e9.wal    segment 1, first entry index 1001
//! <dir>/wal/hardstate.0, hardstate.1                 hard state + synced mark, two copies
//! <dir>/snap/<index>-<term>-<length>-<crc>-<members>.snap  the latest snapshot
//! ```
//!
//! Every WAL record is framed as `[len u32 LE][crc32 u32 LE][payload]` (see [`record`]).
//!
//! # Opening a data directory
//!
//! [`DataDir::open`] comes first, before anything is written there: it takes a non-blocking
//! `flock` on `LOCK` (refused with [`StorageError::Locked`] while another process, or another
//! `DataDir` in this one, holds it; the kernel releases it when the holder exits or dies), then
//! checks `IDENTITY` against the node id and cluster id ([`StorageError::WrongIdentity`] for
//! another node's directory), writing it atomically on first use. The node keeps the `DataDir`
//! for its lifetime and only then writes the epoch file, the WAL and the snapshot directory.
//! (On non-Unix systems the directory is not locked.)
//!
//! # How the driver uses the WAL
//!
//! Append any number of records ([`Wal::append_entry`], [`Wal::truncate_from`],
//! [`Wal::set_hard_state`]) and then call [`Wal::sync`] once: that is group commit. Records are
//! readable (e.g. [`Wal::entry`]) as soon as they are appended, durable only once `sync` returns
//! `Ok`. `sync` writes the batch, fsyncs the segment, and then writes the hard state and the
//! new *synced mark* (segment, length) to one of the two hard-state copies (in place, fdatasync;
//! see `hardstate`): a second small fsync per group commit, which is what lets recovery tell a
//! synced record from a torn one. It costs about a third of the throughput of three local nodes
//! on the development VM (see the README); a suffix cut at a batch boundary cannot be told
//! from a batch never written without some durable write after the batch's own fsync.
//!
//! Any I/O error poisons the WAL: it never retries an fsync and every later call fails with
//! [`StorageError::Poisoned`] (fail-stop; an fsync that failed may have dropped dirty pages, so
//! retrying it could report success for data that is gone). The snapshot store does the same.
//!
//! # Disk full
//!
//! `ENOSPC` is such an I/O error ([`StorageError::is_disk_full`]): a WAL write, the hard-state
//! copy's write or a snapshot save that runs out of space poisons its store and the node stops
//! (fail-stop; it does not go read-only). Nothing acknowledged is lost: a sync is reported only
//! after the batch and the copy are durable, and what part of a failed batch reached the disk
//! lies past the synced mark, where recovery cuts it as a torn tail; a failed snapshot save
//! leaves the previous snapshot in place and its temp file is deleted on the next open. Free
//! space and restart the node: it replays its WAL and rejoins, catching up from the leader.
//!
//! # Recovery rules
//!
//! The newest hard-state copy whose checksum holds gives the synced mark (a copy torn by a
//! crash, or damaged, is skipped and rewritten; both damaged is [`StorageError::CorruptState`]).
//! Then, segment by segment:
//!
//! * Every record below the synced mark (all of every segment before the mark's, and the
//!   mark's segment up to its offset) was fsynced before a sync was reported: a bad record
//!   there, or a file cut short of the mark, is [`StorageError::Corrupt`] naming the file and
//!   the byte offset of the first bad or missing record. It is never cut.
//! * Past the mark, a bad record (incomplete, bad CRC, undecodable) in the **last** segment
//!   with no valid record anywhere after it is a torn tail: the file is truncated at its
//!   offset and the open succeeds (reported in [`Recovered::torn_tail`]).
//! * Any other bad record (in an earlier segment, or followed by a valid record) is
//!   [`StorageError::Corrupt`] naming the file and byte offset; nothing is skipped.
//! * A segment that ends before its successor's first index (cut at a record boundary) is
//!   `Corrupt` at its end; a gap in the segment sequence or in the entry indexes, or a mark
//!   naming a segment that is gone, is [`StorageError::Inconsistent`].
//! * The hard state is the last hard-state record replayed. It must not be behind the copy's
//!   (an older term, or the same term without the copy's vote): that is `Inconsistent`.
//!
//! A WAL without hard-state copies (written before they existed) is replayed by the rules past
//! the mark throughout, and gets its copies on that open. `open` fsyncs the last segment and
//! records the recovered mark before returning.
//!
//! What a single flipped byte or cut file can do, and why none of it is silent: a damaged WAL
//! record below the mark is refused; one past the mark was never acknowledged; a damaged
//! newest copy falls back to the older copy, whose mark is lower, but the WAL itself is then
//! intact, so its records past that mark (including the hard-state record of the newest sync)
//! replay. The sweep in `sweep_tests` checks every byte and every cut of a small directory.
//!
//! The "nothing valid after it" test errs on the safe side: a crash that persisted a later
//! block of the last unsynced batch but not an earlier one is reported as `Corrupt` rather than
//! cut, so the node stops instead of guessing.
//! Only the last segment can hold unsynced records: a segment is closed only right after an
//! fsync, and a new one's header (hard state, snapshot point) is durable, and the mark moved
//! into it, before any entry goes in, so after compaction the first remaining segment always
//! restates them.

mod datadir;
mod error;
mod force;
mod hardstate;
mod identity;
mod io;
mod lock;
mod log;
pub mod record;
mod scan;
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
pub use force::{force_new_cluster, Forced};
pub use hardstate::SyncMark;
pub use identity::{Identity, IDENTITY_FILE};
pub use io::{atomic_write, FileHandle, FileIo, StdIo};
pub use lock::{DirLock, LOCK_FILE};
pub use log::EntryRef;
pub use raft_core::SnapshotMeta;
pub use record::{HardState, Record, SnapshotPoint};
pub use snapshot::{file_name as snapshot_file_name, meta_of_bytes, SnapshotStore};
pub use wal::{Recovered, TornTail, Wal, WalOptions};
