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
//! <dir>/wal/votefloor                                only after a repair: the vote floor (see `repair`)
//! <dir>/snap/<index>-<term>-<length>-<crc>-<members>.snap  the latest snapshot
//! ```
//!
//! Every WAL record is framed as `[len u32 LE][crc32 u32 LE][payload]` (see [`record`]); a
//! segment file is preallocated with zeros past its records.
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
//! `Ok`. `sync` writes the batch followed by a `Seal { capacity }` record in one write and
//! fdatasyncs the segment: one write and one fdatasync per commit. Or, to run the fdatasync on
//! another thread while appends go on: [`Wal::begin_sync`] writes the batch and its seal and
//! returns a [`SyncJob`] (a second open file description of the segment) to run there, and
//! [`Wal::finish_sync`] takes it back; the batch is durable once that returns `Ok`. One job at
//! a time; `sync` meanwhile syncs everything, the job's batch included.
//!
//! Segment files are preallocated: created (and later extended, a chunk of up to 8 MiB at a
//! time) by writing zeros and fsyncing, so a batch's fdatasync changes no metadata. The
//! capacity a seal states is the file's preallocated length. Every segment starts with a header
//! (the hard state, the snapshot point if any, and a seal), made durable before any entry goes
//! in. The batch that needs a segment extended first writes the zeros and a seal stating the new
//! capacity, and syncs them, before writing past the old capacity: one extra write and fsync
//! per chunk of records.
//!
//! The hard-state copies (`hardstate`: two alternating checksummed copies of the hard state
//! and a *synced mark* (segment, length)) are written only when the term or vote changes,
//! when a segment is started and at open, not on every batch. The mark says that the segment
//! it names is durable up to that length, and that every segment up to it was started
//! completely.
//!
//! Any I/O error poisons the WAL: it never retries an fsync and every later call fails with
//! [`StorageError::Poisoned`] (fail-stop; an fsync that failed may have dropped dirty pages, so
//! retrying it could report success for data that is gone). The snapshot store does the same.
//!
//! # Disk full
//!
//! `ENOSPC` is such an I/O error ([`StorageError::is_disk_full`]): a WAL write, a segment's
//! preallocation, the hard-state copy's write or a snapshot save that runs out of space poisons
//! its store and the node stops (fail-stop; it does not go read-only). Nothing acknowledged is
//! lost: a sync is reported only after the batch (and, for a new vote, the copy) is durable,
//! and what part of a failed batch reached the disk lies past the last seal, where recovery
//! cuts it as a torn tail; a failed snapshot save leaves the previous snapshot in place and its
//! temp file is deleted on the next open. Free space and restart the node: it replays its WAL
//! and rejoins, catching up from the leader. (Preallocation means most batches need no new
//! space at all.)
//!
//! # Recovery rules
//!
//! The newest hard-state copy whose checksum holds gives the synced mark (a copy torn by a
//! crash, or damaged, is skipped and rewritten; both damaged is [`StorageError::CorruptState`]).
//! Then each segment's valid records are replayed up to the first bad or incomplete one (see
//! `scan`), and what follows is judged:
//!
//! * Valid records ending below the synced mark (in the mark's segment), or a file shorter than
//!   the capacity its last valid seal states (a cut, even one at a record boundary), is
//!   [`StorageError::Corrupt`] naming the file and the byte offset.
//! * Only zeros after the last valid record: unused preallocated space.
//! * Other bytes after it, in the **last** segment with no valid record anywhere after them, are
//!   a torn tail: they are zeroed (truncated in a segment without seals) and the open succeeds
//!   (reported in [`Recovered::torn_tail`]).
//! * Any other bad record (in an earlier segment, or followed by a valid record) is `Corrupt`
//!   naming the file and byte offset; nothing is skipped. Except through
//!   [`Wal::open_repairing`] (what a node uses): a bad record after a segment's first seal
//!   and full header, in a file not cut short, either in the **last** segment with a valid
//!   record after it, or in an **earlier** segment whose successors are intact, is
//!   *repaired*: the intact prefix is kept, a vote floor above every index the node may have
//!   acknowledged is made durable in `wal/votefloor` (see `repair` for the bound), the hard
//!   state is merged from the copies, the later segments are deleted and the segment is cut
//!   at the damage ([`Recovered::repaired`], [`Recovered::vote_floor`]). raft-core then keeps
//!   the node from voting or campaigning until its log reaches the floor.
//! * A segment that ends before its successor's first index is `Corrupt` at its end; a gap in
//!   the segment sequence or in the entry indexes, or a mark naming a segment that is gone, is
//!   [`StorageError::Inconsistent`].
//! * The hard state is the last hard-state record replayed. It must not be behind the copy's
//!   (an older term, or the same term without the copy's vote): that is `Inconsistent`.
//!
//! Why a synced record is never cut as a torn tail: every synced batch ends with its seal, so
//! a damaged record of a synced batch (its entries, truncation or hard state) is always
//! followed by a valid record, its seal, and is refused; a damaged seal itself loses no record
//! (they all replay), so cutting it is harmless. A file cut short, anywhere, is shorter than
//! the capacity its seals state and is refused. A torn tail can therefore only lie after the
//! last seal, where nothing acknowledged is. The sweep in `sweep_tests` checks every byte and
//! every cut of a small directory, with the last acknowledged entry past the copies' mark.
//!
//! A segment the mark has not reached (a crash while it was being started, before any entry
//! went in) has no binding capacity: it is cut like a segment without seals and, as the last
//! one, replaced by a new segment (it and its successor have the same first index, so
//! compaction deletes them together and the first retained segment always has a header). A WAL
//! written before seals existed, or without hard-state copies, is replayed by the same rules
//! (its segments have no seals, so no capacity), and appends go to a new, preallocated
//! segment. `open` fsyncs the last segment and records the recovered mark before returning.
//!
//! The "nothing valid after it" test errs on the safe side: a crash that persisted a later
//! block of the unsynced batches (say a seal) but not an earlier one is reported as
//! `Corrupt` rather than cut, so the node stops instead of guessing. Zeroed blocks at the end of
//! the last segment (a whole synced batch read back as zeros) are not told from unused space:
//! the checks above assume a damaged byte, not a block silently zeroed.
//! Only the last segment can hold unsynced records: a segment is closed only right after an
//! fsync, and a new one's header is durable, and the mark moved into it, before any entry goes
//! in, so after compaction the first remaining segment always restates the hard state and
//! snapshot point.

mod capture;
mod datadir;
mod error;
mod force;
mod hardstate;
mod identity;
mod io;
mod lock;
mod log;
pub mod record;
mod repair;
mod scan;
mod segment;
mod snapshot;
mod wal;

#[cfg(test)]
mod background_tests;
#[cfg(test)]
mod capture_tests;
#[cfg(test)]
mod enospc_tests;
pub mod fault;
#[cfg(test)]
mod mark_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod wal_tests;

pub use capture::CaptureTarget;
pub use datadir::DataDir;
pub use error::StorageError;
pub use force::{force_new_cluster, Forced};
pub use hardstate::SyncMark;
pub use identity::{Identity, IDENTITY_FILE};
pub use io::{atomic_write, FileHandle, FileIo, StdIo};
pub use lock::{DirLock, LOCK_FILE};
pub use log::EntryRef;
pub use raftcore::SnapshotMeta;
pub use record::{HardState, Record, SnapshotPoint};
pub use repair::VOTE_FLOOR_FILE;
pub use snapshot::{file_name as snapshot_file_name, meta_of_bytes, SnapshotStore};
pub use wal::{Recovered, Repaired, SyncJob, SyncStart, TornTail, Wal, WalOptions};
