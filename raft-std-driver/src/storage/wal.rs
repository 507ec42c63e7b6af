//! The write-ahead log: segment files of framed records, replayed on open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::Poison;
use super::hardstate::{self, HardStateFiles, Loaded, Superblock, SyncMark};
use super::log::{EntryLog, EntryRef};
use super::record::{
    self, Frame, HardState, Record, SnapshotPoint, FRAME_HEADER, MAX_PAYLOAD, SEAL_FRAME,
};
use super::repair::{self, Survey};
use super::scan::{self, After};
use super::segment::{list_segments, SegmentId};
use super::{FileHandle, FileIo, StdIo, StorageError};

mod background;
pub use background::{SyncJob, SyncStart};

/// Bytes of an entry record's payload besides the entry's own payload (tag, index, term, kind).
const ENTRY_OVERHEAD: usize = 1 + 8 + 8 + 1;

/// Buffered, unwritten record bytes beyond which `append_*` writes them out (without fsync) so
/// one huge batch does not sit in memory twice.
const FLUSH_THRESHOLD: usize = 1 << 20;

/// Bytes of the seal that ends every synced batch.
const SEAL: u64 = SEAL_FRAME as u64;

/// The most a segment file is extended by at a time (zero-filled and synced).
const PREALLOCATE_CHUNK: u64 = 8 << 20;

/// Tuning for a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment that has reached this size is closed at the next `sync` and a new one started.
    /// Compaction deletes whole segments, so this is also its granularity.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
        }
    }
}

/// A torn tail that [`Wal::open`] cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The last segment.
    pub file: PathBuf,
    /// Where the file was truncated (the start of the first bad record).
    pub offset: u64,
    /// How many bytes were dropped.
    pub dropped_bytes: u64,
}

/// What [`Wal::open`] found. The entries themselves stay in the [`Wal`] (read them with
/// [`Wal::entry`]), so they are not held twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state written, or the default (term 0, no vote) for a new log.
    pub hard_state: HardState,
    /// The last snapshot point recorded, if any.
    pub snapshot: Option<SnapshotPoint>,
    /// The first entry index held (`snapshot.index + 1`).
    pub first_index: u64,
    /// The last entry index held (the snapshot index when no entry follows it).
    pub last_index: u64,
    /// Set when an incomplete last record was cut off.
    pub torn_tail: Option<TornTail>,
    /// A hard-state copy that was damaged or missing (the other one was used); it is rewritten
    /// before `open` returns.
    pub damaged_hard_state_copy: Option<PathBuf>,
    /// Set when [`Wal::open_repairing`] kept only the intact prefix of a WAL damaged in the
    /// middle (see `repair`).
    pub repaired: Option<Repaired>,
    /// The vote floor (0: none): raft-core's `Restored::vote_floor`. Above every index this
    /// node may have acknowledged and no longer holds, from this open's repair or an
    /// earlier one (kept in `wal/votefloor`).
    pub vote_floor: u64,
}

/// A WAL damaged in the middle that [`Wal::open_repairing`] cut at the damage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The segment with the damage.
    pub file: PathBuf,
    /// The byte offset of the first bad record, where the segment now ends.
    pub offset: u64,
    /// The last entry index kept.
    pub kept_index: u64,
    /// The vote floor computed (see [`Recovered::vote_floor`]).
    pub vote_floor: u64,
}

/// A write-ahead log of Raft entries, hard state and snapshot points.
///
/// Appends are buffered and become durable together at the next [`Wal::sync`], or at the
/// [`Wal::finish_sync`] of the job [`Wal::begin_sync`] returned (group commit).
/// See the [module docs](super) for the recovery rules and the fail-stop policy.
pub struct Wal {
    io: Arc<dyn FileIo>,
    dir: PathBuf,
    opts: WalOptions,
    /// Every segment on disk, oldest first; the last is the one appended to.
    segments: Vec<SegmentId>,
    file: Box<dyn FileHandle>,
    /// Bytes of the current segment written to the file (not necessarily durable).
    written: u64,
    /// End of the last seal of the current segment known durable (a seal written for a sync
    /// job still running lies past it): everything before it is durable.
    sealed: u64,
    /// A second open file description of the current segment (its sequence number, the
    /// handle), kept for the next sync job (see `background.rs`).
    sync_file: Option<(u64, Box<dyn FileHandle>)>,
    /// Length the current segment file is preallocated (zero-filled) to.
    capacity: u64,
    /// Framed records not yet written to the file.
    pending: Vec<u8>,
    hard_state: HardState,
    /// The two hard-state copies, which also carry the synced mark.
    copies: HardStateFiles,
    log: EntryLog,
    poisoned: Poison,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("first_index", &self.log.first_index())
            .field("last_index", &self.log.last_index())
            .field("poisoned", &self.poisoned.is_set())
            .finish()
    }
}

impl Wal {
    /// Opens (or creates) the WAL in `dir` on the real file system with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<(Wal, Recovered), StorageError> {
        Wal::open_with(dir, WalOptions::default(), Arc::new(StdIo))
    }

    /// Opens (or creates) the WAL in `dir` through `io`, replaying every segment, cutting a torn
    /// tail (after the last seal) off the last one and failing on any other damage (see the
    /// [module docs](super) for the rules). Before returning it fsyncs the last segment and
    /// records the recovered state in the hard-state copies.
    pub fn open_with(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        io: Arc<dyn FileIo>,
    ) -> Result<(Wal, Recovered), StorageError> {
        Wal::open_inner(dir.as_ref(), opts, io, None)
    }

    /// [`Wal::open_with`], but a segment damaged in the middle is repaired instead of refused
    /// where that is safe (see the `repair` module): its intact prefix is kept, the vote floor
    /// (above every index the node may have acknowledged) is made durable in `wal/votefloor`,
    /// the segments after it are deleted, and it is cut at the damage. `snapshot_index` is the index of
    /// the newest snapshot file (0 if none): a lost snapshot record may have moved the log
    /// up to it.
    pub fn open_repairing(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        io: Arc<dyn FileIo>,
        snapshot_index: u64,
    ) -> Result<(Wal, Recovered), StorageError> {
        Wal::open_inner(dir.as_ref(), opts, io, Some(snapshot_index))
    }

    fn open_inner(
        dir: &Path,
        opts: WalOptions,
        io: Arc<dyn FileIo>,
        repair_with: Option<u64>,
    ) -> Result<(Wal, Recovered), StorageError> {
        let dir = dir.to_path_buf();
        io.create_dir_all(&dir)
            .map_err(|e| StorageError::io("create dir", &dir, e))?;
        let mut segments = list_segments(io.as_ref(), &dir)?;
        let loaded = hardstate::load(io.as_ref(), &dir)?;
        let mark = match &loaded {
            Loaded::Found { newest, .. } => Some(newest.mark),
            Loaded::Absent => None,
        };
        let mut hard_state = HardState::default();
        let mut log = EntryLog::new();
        let mut torn_tail = None;
        let mut tail_len = 0;
        let mut last_header_ok = true;

        let mut last_capacity = 0;
        let fresh = segments.is_empty();
        let floor_before = repair::read_floor(io.as_ref(), &dir)?;
        let mut damage: Option<(PathBuf, usize, Survey)> = None;
        // Segments after a repaired earlier one: deleted once the mark no longer names them.
        let mut dropped: Vec<SegmentId> = Vec::new();

        if fresh {
            let first = SegmentId {
                seq: 0,
                first_index: 1,
            };
            start_segment(io.as_ref(), &dir, first, &opts, HardState::default(), None)?;
            segments.push(first);
        }

        for (i, id) in segments.iter().enumerate() {
            if let Some((file, offset, survey)) = damage.as_mut() {
                // Past a repaired earlier segment: only bounds what it held (see `repair`).
                let is_last = i + 1 == segments.len();
                let later = repair::later_segment(io.as_ref(), &dir, *id, mark, is_last)?;
                repair::merge_later(survey, later).map_err(|reason| {
                    StorageError::Inconsistent {
                        reason: format!(
                            "after the damage in {}:{offset}: {reason}",
                            file.display()
                        ),
                    }
                })?;
                dropped.push(*id);
                continue;
            }
            let path = dir.join(id.file_name());
            let buf = io
                .read(&path)
                .map_err(|e| StorageError::io("read", &path, e))?;
            let is_last = i + 1 == segments.len();
            let snapshot_before = log.snapshot().index > 0;
            let mut scanned = scan::replay(&buf, &mut hard_state, &mut log);
            let synced = scan::synced_upto(&mut scanned, buf.len(), id.seq, mark, fresh);
            let end = scanned.end;
            if is_last {
                last_header_ok = id.seq == 0 || has_header(&buf[..end], snapshot_before);
                last_capacity = scanned.capacity;
            }
            let judged = match scan::judge(&path, &buf, scanned, synced, is_last) {
                // Damage followed by valid records in the last segment, which has seals and
                // its full header and is not cut: repairable if something valid follows.
                // An earlier segment qualifies too: its successor's first index bounds every
                // entry it held, and the segments after it are surveyed whole.
                Err(StorageError::Corrupt { file, offset })
                    if repair_with.is_some()
                        && (id.seq == 0 || has_header(&buf[..end], snapshot_before))
                        && offset == end as u64
                        && scanned.capacity > 0
                        && buf.len() as u64 >= scanned.capacity =>
                {
                    let mut survey =
                        repair::survey(&buf, end).map_err(|reason| StorageError::Inconsistent {
                            reason: format!("after the damage in {}: {reason}", file.display()),
                        })?;
                    if let Some(next) = segments.get(i + 1) {
                        survey.bound_by_successor(next.first_index);
                    } else if !survey.any_valid {
                        return Err(StorageError::Corrupt { file, offset });
                    }
                    tail_len = end as u64;
                    last_capacity = scanned.capacity;
                    last_header_ok = true;
                    damage = Some((file, end, survey));
                    continue;
                }
                judged => judged,
            };
            if let After::Torn { upto } = judged? {
                let mut file = io
                    .open(&path, false)
                    .map_err(|e| StorageError::io("open", &path, e))?;
                let cut = if scanned.capacity == 0 {
                    file.set_len(end as u64)
                } else {
                    file.write_at(end as u64, &vec![0; upto - end])
                };
                cut.and_then(|()| file.sync())
                    .map_err(|e| StorageError::io("cut torn tail", &path, e))?;
                torn_tail = Some(TornTail {
                    file: path.clone(),
                    offset: end as u64,
                    dropped_bytes: (upto - end) as u64,
                });
            }
            if is_last {
                tail_len = end as u64;
            } else if log.next_index() != segments[i + 1].first_index {
                // A segment is closed right after a sync and its successor starts at the next
                // index, so a complete segment ends exactly there: this one lost records at
                // its end (cut at a record boundary).
                return Err(StorageError::Corrupt {
                    file: path,
                    offset: end as u64,
                });
            }
        }
        // A repair keeps the segments up to the damaged one; the mark may name a later one.
        let kept_segments = segments.len() - dropped.len();
        segments.truncate(kept_segments);
        if let Some(m) =
            mark.filter(|m| m.segment > segments[segments.len() - 1].seq && dropped.is_empty())
        {
            return Err(StorageError::Inconsistent {
                reason: format!(
                    "segment {:016x}, synced up to byte {}, is missing",
                    m.segment, m.offset
                ),
            });
        }

        if let Some((from, to)) = log.gap() {
            return Err(StorageError::Inconsistent {
                reason: format!("entries {from}..={to} are missing"),
            });
        }

        let mut vote_floor = floor_before;
        let mut repaired = None;
        if let Some((file, offset, survey)) = &damage {
            // The term and vote come from the copies (rewritten before any sync that changed
            // them was reported) merged with any hard-state record after the damage.
            let inconsistent = |reason: &str| StorageError::Inconsistent {
                reason: format!("repairing {}: {reason}", file.display()),
            };
            // The commit index stays the kept prefix's own: a later one may count entries of
            // a log that a lost truncation had already replaced the kept (stale) ones with.
            let commit = hard_state.commit;
            if let Some(hs) = survey.hard_state {
                hard_state = repair::newer(Some(hard_state), hs).map_err(inconsistent)?;
            }
            if let Loaded::Found { newest, .. } = &loaded {
                hard_state =
                    repair::newer(Some(hard_state), newest.hard_state).map_err(inconsistent)?;
            }
            hard_state.commit = commit;
            if let Some(p) = survey.snapshot {
                // A compaction point after the damage: its snapshot file was durable before
                // it was written. The kept log is reset to it as an install does, and the
                // point is restated after the cut (below).
                log.apply_snapshot(p);
            }
            let kept = log.last_index();
            let named = kept
                .max(survey.named)
                .max(repair_with.unwrap_or(0))
                .max(log.snapshot().index);
            let floor = (named + survey.lost_entries).max(kept + 1);
            vote_floor = vote_floor.max(floor);
            if vote_floor > floor_before {
                // Durable before the damage is cut: after the cut nothing else records it.
                repair::write_floor(io.as_ref(), &dir, vote_floor)?;
            }
            repaired = Some(Repaired {
                file: file.clone(),
                offset: *offset as u64,
                kept_index: kept,
                vote_floor,
            });
        }

        let (newest, newest_slot, damaged) = match loaded {
            Loaded::Found {
                newest,
                slot,
                damaged,
            } => {
                hardstate::check_not_behind(&dir, newest.hard_state, hard_state)?;
                (newest, slot, damaged)
            }
            Loaded::Absent => (
                Superblock {
                    generation: 0,
                    hard_state,
                    mark: SyncMark::default(),
                },
                0,
                None,
            ),
        };
        if let Some(file) = &damaged {
            tracing::warn!(file = %file.display(), "a hard-state copy is damaged or missing; \
                using the other one and rewriting it");
        }

        // `segments` is non-empty: a first segment was created above if there was none.
        let current = segments[segments.len() - 1];
        let path = dir.join(current.file_name());
        let mut file = io
            .open(&path, false)
            .map_err(|e| StorageError::io("open", &path, e))?;
        // What was read may still be only in the page cache (a process killed before its
        // fsync): make it durable before the mark below claims it is.
        file.sync()
            .map_err(|e| StorageError::io("fsync", &path, e))?;
        let copies =
            HardStateFiles::open(io.as_ref(), &dir, newest, newest_slot, damaged.is_some())?;
        let snapshot = log.snapshot();
        let recovered = Recovered {
            hard_state,
            snapshot: (snapshot.index > 0).then_some(snapshot),
            first_index: log.first_index(),
            last_index: log.last_index(),
            torn_tail,
            damaged_hard_state_copy: damaged,
            repaired,
            vote_floor,
        };
        let mut wal = Wal {
            io,
            dir,
            opts,
            segments,
            file,
            written: tail_len,
            sealed: tail_len,
            sync_file: None,
            capacity: last_capacity,
            pending: Vec::new(),
            hard_state,
            copies,
            log,
            poisoned: Poison::default(),
        };
        if !last_header_ok || last_capacity == 0 {
            // A crash while a segment was being started left it without its full header (which
            // is made durable before any entry goes in, so it holds no entries), or the segment
            // was written before seals and preallocation. Start another one: a headerless one
            // and its successor have the same first index, so compaction deletes them together
            // and the first retained segment always has a header.
            wal.roll()?;
        } else {
            // Records the recovered state and mark (for a WAL without copies yet, the first
            // ones), and rewrites a damaged copy: the write goes to the copy not read.
            wal.write_mark()?;
        }
        if let Some((file, offset, survey)) = damage {
            // Segments after a damaged earlier one go first, now that the mark names the
            // damaged one (a crash between finds the damage in the last segment, and the
            // floor already durable).
            for id in &dropped {
                let path = wal.dir.join(id.file_name());
                if let Err(e) = wal.io.remove(&path) {
                    return Err(wal.poison(StorageError::io("remove", &path, e)));
                }
            }
            if !dropped.is_empty() {
                if let Err(e) = wal.io.sync_dir(&wal.dir) {
                    return Err(wal.poison(StorageError::io("fsync dir", &wal.dir, e)));
                }
            }
            // Cut the damage and everything after it, now that the mark no longer claims it
            // (a crash before this point finds the same damage again, and the same floor).
            // Appends then continue at `offset`, well formed.
            let zeros = vec![0; survey.upto - offset];
            let cut = wal
                .file
                .write_at(offset as u64, &zeros)
                .and_then(|()| wal.file.sync());
            if let Err(e) = cut {
                return Err(wal.poison(StorageError::io("cut damaged WAL records", &file, e)));
            }
            // The WAL itself restates the hard state the repair settled on (its own last
            // hard-state record may have been in the part cut), so a later open replays it.
            let hs = wal.hard_state;
            wal.write_record(Record::HardState(hs))?;
            if let Some(p) = survey.snapshot {
                // The compaction point too (a crash before this sync leaves it to the node's
                // open, which finishes an install its snapshot file is newer than).
                wal.write_record(Record::Snapshot(p))?;
            }
            wal.sync()?;
        }
        Ok((wal, recovered))
    }

    /// Appends an entry at `index`, which must be `last_index() + 1` (truncate first to
    /// overwrite). Readable at once, durable after the next [`Wal::sync`].
    pub fn append_entry(
        &mut self,
        index: u64,
        term: u64,
        kind: u8,
        payload: &[u8],
    ) -> Result<(), StorageError> {
        self.check()?;
        if index != self.log.next_index() {
            return Err(StorageError::NonContiguous {
                expected: self.log.next_index(),
                got: index,
            });
        }
        if payload.len() > MAX_PAYLOAD - ENTRY_OVERHEAD {
            return Err(StorageError::EntryTooLarge { len: payload.len() });
        }
        self.write_record(Record::Entry {
            index,
            term,
            kind,
            payload,
        })?;
        self.log.push(term, kind, payload);
        Ok(())
    }

    /// Discards every entry at `index` and above. `index` must be above the snapshot point and at
    /// most `last_index() + 1` (which discards nothing).
    pub fn truncate_from(&mut self, index: u64) -> Result<(), StorageError> {
        self.check()?;
        if index <= self.log.snapshot().index || index > self.log.next_index() {
            return Err(StorageError::OutOfRange { index });
        }
        if index == self.log.next_index() {
            return Ok(());
        }
        self.write_record(Record::TruncateFrom { index })?;
        self.log.truncate_from(index);
        Ok(())
    }

    /// Records a new hard state, durable after the next [`Wal::sync`].
    pub fn set_hard_state(&mut self, hard_state: HardState) -> Result<(), StorageError> {
        self.check()?;
        if hard_state == self.hard_state {
            return Ok(());
        }
        self.write_record(Record::HardState(hard_state))?;
        self.hard_state = hard_state;
        Ok(())
    }

    /// Records that a snapshot received from the leader now covers the log up to `point`. The
    /// entries after it are kept if the log holds `point` with the same term, else all are
    /// dropped (Raft's InstallSnapshot rule). Call only once the snapshot file is durable, then
    /// [`Wal::compact`] (or at least [`Wal::sync`]).
    pub fn install_snapshot(&mut self, point: SnapshotPoint) -> Result<(), StorageError> {
        self.check()?;
        if point.index <= self.log.snapshot().index {
            return Ok(());
        }
        self.write_record(Record::Snapshot(point))?;
        self.log.apply_snapshot(point);
        Ok(())
    }

    /// Makes everything appended so far durable: one write of the buffered records followed
    /// by a `Seal` record into the preallocated segment, and one fdatasync. The hard-state
    /// copies are rewritten only when the term or vote changed. A full segment is then closed
    /// and a new one started, so only the last segment can ever hold unsynced (tearable)
    /// records.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check()?;
        if self.pending.is_empty() && self.written == self.sealed {
            return Ok(());
        }
        self.make_room(self.pending.len() as u64)?;
        Record::Seal {
            capacity: self.capacity,
        }
        .encode_framed(&mut self.pending);
        self.flush()?;
        let path = self.current_path();
        if let Err(e) = self.file.sync() {
            return Err(self.poison(StorageError::io("fsync", path, e)));
        }
        self.sealed = self.written;
        if self.written >= self.opts.segment_bytes {
            self.roll()
        } else if self.vote_changed() {
            self.write_mark()
        } else {
            Ok(())
        }
    }

    /// Whether the term or vote differs from what the hard-state copies hold.
    fn vote_changed(&self) -> bool {
        self.differs_from_copies(self.hard_state)
    }

    /// Whether `hs`'s term or vote differs from what the hard-state copies hold.
    fn differs_from_copies(&self, hs: HardState) -> bool {
        let copy = self.copies.current().hard_state;
        (copy.term, copy.voted_for) != (hs.term, hs.voted_for)
    }

    /// Makes sure `bytes` more, and the seal that will close their batch, fit in the current
    /// segment's preallocated space. If they do not, the file is extended with zeros (by
    /// whole preallocation chunks) and the new capacity sealed and synced before anything is
    /// written past the old one, so a file found shorter than that is still known to be cut.
    /// This is the one commit in every chunk's worth of records that writes and syncs more.
    fn make_room(&mut self, bytes: u64) -> Result<(), StorageError> {
        let needed = self.written + bytes + SEAL;
        if needed <= self.capacity {
            return Ok(());
        }
        let capacity = needed.next_multiple_of(chunk(&self.opts));
        let mut seal = Vec::with_capacity(SEAL_FRAME);
        Record::Seal { capacity }.encode_framed(&mut seal);
        let file = self.file.as_mut();
        let grown = zero_fill(file, self.capacity, capacity)
            .and_then(|()| file.write_at(self.written, &seal))
            .and_then(|()| file.sync());
        if let Err(e) = grown {
            let path = self.current_path();
            return Err(self.poison(StorageError::io("extend segment", path, e)));
        }
        self.written += SEAL;
        self.sealed = self.written;
        self.capacity = capacity;
        Ok(())
    }

    /// Records a local snapshot up to `upto_index` (taken by the state machine, so
    /// `upto_index <= last_index()`), makes it durable, drops the entries it covers from memory
    /// and deletes the segments whose entries all lie at or below the snapshot point. Returns the
    /// number of segment files deleted. Call only once the snapshot file itself is durable.
    pub fn compact(&mut self, upto_index: u64) -> Result<usize, StorageError> {
        self.check()?;
        if upto_index > self.log.snapshot().index {
            let term = self
                .log
                .term(upto_index)
                .ok_or(StorageError::OutOfRange { index: upto_index })?;
            self.install_snapshot(SnapshotPoint {
                index: upto_index,
                term,
            })?;
        }
        self.sync()?;
        // Segment k's live entries are all below segments[k + 1].first_index, so it is covered
        // when that is at most snapshot + 1. Each later segment starts with the then-current
        // hard state and snapshot point, so the retained ones replay to the same state.
        let covered = self.log.snapshot().index + 1;
        let mut removable = 0;
        while removable + 1 < self.segments.len()
            && self.segments[removable + 1].first_index <= covered
        {
            removable += 1;
        }
        for k in 0..removable {
            let path = self.dir.join(self.segments[k].file_name());
            if let Err(e) = self.io.remove(&path) {
                return Err(self.poison(StorageError::io("remove", path, e)));
            }
        }
        if removable > 0 {
            self.segments.drain(..removable);
            if let Err(e) = self.io.sync_dir(&self.dir) {
                return Err(self.poison(StorageError::io("fsync dir", &self.dir, e)));
            }
        }
        Ok(removable)
    }

    /// The entry at `index`, if the log holds it (appended, durable or not, and not compacted).
    pub fn entry(&self, index: u64) -> Option<EntryRef<'_>> {
        self.log.get(index)
    }

    /// The term of the entry at `index`, also answering for the snapshot point.
    pub fn term(&self, index: u64) -> Option<u64> {
        self.log.term(index)
    }

    /// The first index held (`snapshot index + 1`).
    pub fn first_index(&self) -> u64 {
        self.log.first_index()
    }

    /// The last index held (the snapshot index when the log is empty).
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// The current hard state (as last set; durable after `sync`).
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The current snapshot point, if any.
    pub fn snapshot_point(&self) -> Option<SnapshotPoint> {
        let p = self.log.snapshot();
        (p.index > 0).then_some(p)
    }

    /// The number of segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// True once an I/O error has stopped this WAL.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_set()
    }

    fn check(&self) -> Result<(), StorageError> {
        self.poisoned.check()
    }

    fn poison(&mut self, e: StorageError) -> StorageError {
        self.poisoned.set(e)
    }

    /// Records the hard state and that the current segment is durable up to `sealed` (call
    /// only right after an fsync of it).
    fn write_mark(&mut self) -> Result<(), StorageError> {
        self.write_mark_of(self.hard_state)
    }

    /// [`Wal::write_mark`] with `hs`, a hard state no newer than the durable WAL's.
    fn write_mark_of(&mut self, hs: HardState) -> Result<(), StorageError> {
        let mark = SyncMark {
            segment: self.segments[self.segments.len() - 1].seq,
            offset: self.sealed,
        };
        if let Err(e) = self.copies.write(hs, mark) {
            return Err(self.poison(e));
        }
        Ok(())
    }

    /// Where the next batch goes in the current segment (the end of its last seal after a
    /// sync): what tests write a simulated crash's leftovers at.
    #[cfg(test)]
    pub(crate) fn write_position(&self) -> u64 {
        self.written
    }

    /// The synced mark most recently recorded.
    pub fn synced_mark(&self) -> SyncMark {
        self.copies.current().mark
    }

    fn current_path(&self) -> PathBuf {
        // `segments` always holds at least the current segment.
        self.dir
            .join(self.segments[self.segments.len() - 1].file_name())
    }

    fn write_record(&mut self, r: Record<'_>) -> Result<(), StorageError> {
        r.encode_framed(&mut self.pending);
        if self.pending.len() >= FLUSH_THRESHOLD {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.make_room(self.pending.len() as u64)?;
        if let Err(e) = self.file.write_at(self.written, &self.pending) {
            let path = self.current_path();
            return Err(self.poison(StorageError::io("write", path, e)));
        }
        self.written += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Starts a new segment whose first records restate the hard state and snapshot point, and
    /// makes it durable before anything is appended to it.
    fn roll(&mut self) -> Result<(), StorageError> {
        let last = self.segments[self.segments.len() - 1];
        let id = SegmentId {
            seq: last.seq + 1,
            first_index: self.log.next_index(),
        };
        let started = start_segment(
            self.io.as_ref(),
            &self.dir,
            id,
            &self.opts,
            self.hard_state,
            self.snapshot_point(),
        );
        let (file, header_len, capacity) = match started {
            Ok(s) => s,
            Err(e) => return Err(self.poison(e)),
        };
        self.segments.push(id);
        self.file = file;
        self.written = header_len;
        self.sealed = header_len;
        self.capacity = capacity;
        self.write_mark()
    }
}

/// Creates segment `id` preallocated with zeros, starting with its header (the hard state,
/// the snapshot point if any, and a seal stating the capacity), and makes it and its
/// directory entry durable. Returns the open file, the header's length and the capacity.
fn start_segment(
    io: &dyn FileIo,
    dir: &Path,
    id: SegmentId,
    opts: &WalOptions,
    hard_state: HardState,
    snapshot: Option<SnapshotPoint>,
) -> Result<(Box<dyn FileHandle>, u64, u64), StorageError> {
    let path = dir.join(id.file_name());
    let mut header = Vec::with_capacity(2 * (FRAME_HEADER + 22) + SEAL as usize);
    Record::HardState(hard_state).encode_framed(&mut header);
    if let Some(p) = snapshot {
        Record::Snapshot(p).encode_framed(&mut header);
    }
    let header_len = (header.len() as u64) + SEAL;
    let capacity = (header_len + SEAL).next_multiple_of(chunk(opts));
    Record::Seal { capacity }.encode_framed(&mut header);
    let created = io.open(&path, true).and_then(|mut file| {
        zero_fill(file.as_mut(), 0, capacity)?;
        file.write_at(0, &header)?;
        file.sync()?;
        io.sync_dir(dir)?;
        Ok(file)
    });
    match created {
        Ok(file) => Ok((file, header_len, capacity)),
        Err(e) => Err(StorageError::io("start segment", path, e)),
    }
}

/// How much of a segment is preallocated at a time: [`PREALLOCATE_CHUNK`], or the whole
/// segment size if that is smaller.
fn chunk(opts: &WalOptions) -> u64 {
    opts.segment_bytes.clamp(1, PREALLOCATE_CHUNK)
}

/// Writes zeros over `from..to` of `file`.
fn zero_fill(file: &mut dyn FileHandle, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; to.saturating_sub(from).min(FLUSH_THRESHOLD as u64) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64);
        file.write_at(at, &zeros[..n as usize])?;
        at += n;
    }
    Ok(())
}

/// Whether a segment's valid bytes start with the header `roll` writes: the hard state, then
/// the snapshot point if there was one.
fn has_header(buf: &[u8], with_snapshot: bool) -> bool {
    let Frame::Ok {
        record: Record::HardState(_),
        next,
    } = record::read_frame(buf, 0)
    else {
        return false;
    };
    !with_snapshot
        || matches!(
            record::read_frame(buf, next),
            Frame::Ok {
                record: Record::Snapshot(_),
                ..
            }
        )
}
