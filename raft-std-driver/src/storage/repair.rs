//! Protocol-aware repair of a WAL damaged in the middle (after Alagappan et al., FAST 2018,
//! "CTRL"): keep the intact prefix, bound every index the node may have acknowledged from
//! what survives after the damage, and remember that bound (the *vote floor*) durably, in
//! `wal/votefloor`, before the damage is cut.
//!
//! # What is repaired, what is refused
//!
//! Damage in the middle of a segment with seals that the synced mark reached, whose file is
//! not shorter than its seals say and which has its full header:
//!
//! * in the **last** segment, with at least one valid record after the damage (otherwise it
//!   is a torn tail, cut as before, or a zeroed or cut region whose contents nothing bounds,
//!   refused);
//! * in an **earlier** segment, whose successors are all intact (a second damaged place is
//!   refused, naming it): every entry the damaged segment held lies below its successor's
//!   first index, and the successors are surveyed whole, then deleted once the synced mark
//!   names the damaged segment.
//!
//! A cut file, a segment cut at a record boundary, both hard-state copies, `IDENTITY` or a
//! damaged `votefloor` are refused as before.
//!
//! # The bound
//!
//! Walking the bytes from the first bad record, every valid frame found (resynchronising
//! byte by byte past bad ones) names the indexes of its entries and snapshot points; a run
//! of `g` unreadable bytes holds at most `ceil(g / MIN_ENTRY_FRAME)` entries, each at most
//! one past the highest index that existed before it. So every index the lost records held
//! is at most `M + G`, where `M` is the highest index named anywhere (the kept log, the
//! frames after the damage, the newest snapshot file) and `G` the sum of those counts. The
//! vote floor is `M + G` (at least the kept last index + 1: entries the node kept may be
//! stale, superseded by a lost truncation, so it must take new entries from a leader before
//! it votes). Every acknowledged entry was synced, so it is in one of those records.
//!
//! The hard state (term, vote) never comes from the lost part alone: the hard-state copies
//! are rewritten before a sync that changed the term or vote is reported, and a valid
//! hard-state record after the damage is merged in too (the newest term wins; two votes in
//! one term is refused).
//! The commit index is the kept prefix's own: a later one may count entries that replaced,
//! after a truncation now lost, the stale ones the node kept, which must not be applied.

use std::path::Path;

use super::hardstate::SyncMark;
use super::log::EntryLog;
use super::record::{self, Frame, HardState, Record, SnapshotPoint, FRAME_HEADER};
use super::scan;
use super::segment::SegmentId;
use super::{atomic_write, FileIo, StorageError};

/// The file, in the WAL directory, holding the vote floor of a repaired node.
pub const VOTE_FLOOR_FILE: &str = "votefloor";

/// The smallest frame an entry record can have: header, tag, index, term, kind.
const MIN_ENTRY_FRAME: usize = FRAME_HEADER + 1 + 8 + 8 + 1;

/// What lies after the first bad record of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Survey {
    /// The highest entry or snapshot index named by a valid record after the damage.
    pub(crate) named: u64,
    /// The most entries the unreadable runs can hold.
    pub(crate) lost_entries: u64,
    /// The newest hard state recorded after the damage, if any.
    pub(crate) hard_state: Option<HardState>,
    /// The newest compaction point recorded after the damage, if any (written only once its
    /// snapshot file was durable, so the kept log is reset to it as an install would).
    pub(crate) snapshot: Option<SnapshotPoint>,
    /// Whether any valid record follows the damage.
    pub(crate) any_valid: bool,
    /// End of the last non-zero byte (what the cut zeroes, from the damage on).
    pub(crate) upto: usize,
}

impl Survey {
    /// Bounds the damaged segment by its successor, which starts at `next_first`: every entry
    /// the segment ever held lies below it, so that bound replaces the count of unreadable
    /// bytes, and the segments after it are merged in with [`merge_later`].
    pub(crate) fn bound_by_successor(&mut self, next_first: u64) {
        self.named = self.named.max(next_first.saturating_sub(1));
        self.lost_entries = 0;
        self.any_valid = true;
    }
}

/// Reads segment `id` after a damaged earlier one, checks it is intact as an open would (a
/// second damaged place is refused, naming it), and surveys it whole: what it names bounds
/// the floor, and its hard-state records count. It is deleted after the repair.
pub(crate) fn later_segment(
    io: &dyn FileIo,
    dir: &Path,
    id: SegmentId,
    mark: Option<SyncMark>,
    is_last: bool,
) -> Result<Survey, StorageError> {
    let path = dir.join(id.file_name());
    let buf = io
        .read(&path)
        .map_err(|e| StorageError::io("read", &path, e))?;
    let mut scratch = (HardState::default(), EntryLog::new());
    let mut scanned = scan::replay(&buf, &mut scratch.0, &mut scratch.1);
    let synced = scan::synced_upto(&mut scanned, buf.len(), id.seq, mark, false);
    scan::judge(&path, &buf, scanned, synced, is_last)?;
    // Intact up to `scanned.end`; past it only zero-fill or an unsynced torn tail.
    survey(&buf[..scanned.end], 0).map_err(|reason| StorageError::Inconsistent {
        reason: format!("{}: {reason}", path.display()),
    })
}

/// Adds a later segment's survey to the damaged segment's.
pub(crate) fn merge_later(damaged: &mut Survey, later: Survey) -> Result<(), &'static str> {
    damaged.named = damaged.named.max(later.named);
    damaged.lost_entries += later.lost_entries;
    if let Some(hs) = later.hard_state {
        damaged.hard_state = Some(newer(damaged.hard_state, hs)?);
    }
    if let Some(p) = later.snapshot {
        damaged.snapshot = newest_point(damaged.snapshot, p);
    }
    Ok(())
}

/// The later of two compaction points (by index).
fn newest_point(a: Option<SnapshotPoint>, b: SnapshotPoint) -> Option<SnapshotPoint> {
    Some(a.filter(|a| a.index >= b.index).unwrap_or(b))
}

/// Surveys `buf` from `from`, the start of its first bad record.
pub(crate) fn survey(buf: &[u8], from: usize) -> Result<Survey, &'static str> {
    let mut s = Survey {
        named: 0,
        lost_entries: 0,
        hard_state: None,
        snapshot: None,
        any_valid: false,
        upto: from
            + buf[from..]
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |p| p + 1),
    };
    let mut pos = from;
    while pos < s.upto {
        let Some((at, record, next)) =
            (pos..s.upto).find_map(|at| match record::read_frame(buf, at) {
                Frame::Ok { record, next } => Some((at, record, next)),
                _ => None,
            })
        else {
            // The rest, with no valid record after it, is a torn tail: never synced, never
            // acknowledged (the same rule as a torn tail without damage before it).
            break;
        };
        s.any_valid = true;
        s.lost_entries += (at - pos).div_ceil(MIN_ENTRY_FRAME) as u64;
        match record {
            Record::Entry { index, .. } => s.named = s.named.max(index),
            Record::Snapshot(p) => {
                s.named = s.named.max(p.index);
                s.snapshot = newest_point(s.snapshot, p);
            }
            Record::HardState(hs) => s.hard_state = Some(newer(s.hard_state, hs)?),
            Record::TruncateFrom { .. } | Record::Seal { .. } => {}
        }
        pos = next;
    }
    Ok(s)
}

/// The newer of two hard states by term, merging a vote of the same term; two different
/// votes in one term is an error.
pub(crate) fn newer(a: Option<HardState>, b: HardState) -> Result<HardState, &'static str> {
    let Some(a) = a else { return Ok(b) };
    Ok(match a.term.cmp(&b.term) {
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Equal => match (a.voted_for, b.voted_for) {
            (Some(x), Some(y)) if x != y => return Err("two votes in one term"),
            (Some(_), _) => HardState {
                commit: a.commit.max(b.commit),
                ..a
            },
            _ => HardState {
                commit: a.commit.max(b.commit),
                ..b
            },
        },
    })
}

/// Reads the vote floor (0 when the file does not exist).
pub(crate) fn read_floor(io: &dyn FileIo, dir: &Path) -> Result<u64, StorageError> {
    let path = dir.join(VOTE_FLOOR_FILE);
    let bytes = match io.read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StorageError::io("read", &path, e)),
    };
    let corrupt = || StorageError::CorruptState {
        file: path.clone(),
        offset: 0,
        reason: "the vote floor's checksum does not match",
    };
    let (floor, crc) = match bytes.as_slice() {
        [f @ .., c0, c1, c2, c3] if f.len() == 8 => (
            u64::from_le_bytes(f.try_into().map_err(|_| corrupt())?),
            u32::from_le_bytes([*c0, *c1, *c2, *c3]),
        ),
        _ => return Err(corrupt()),
    };
    if crc32fast::hash(&floor.to_le_bytes()) != crc {
        return Err(corrupt());
    }
    Ok(floor)
}

/// Writes the vote floor atomically and durably.
pub(crate) fn write_floor(io: &dyn FileIo, dir: &Path, floor: u64) -> Result<(), StorageError> {
    let mut bytes = floor.to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc32fast::hash(&floor.to_le_bytes()).to_le_bytes());
    atomic_write(io, dir, VOTE_FLOOR_FILE, &bytes).map(|_| ())
}

#[cfg(test)]
mod test {
    use super::*;

    fn entry(index: u64, out: &mut Vec<u8>) {
        Record::Entry {
            index,
            term: 1,
            kind: 0,
            payload: b"value",
        }
        .encode_framed(out);
    }

    #[test]
    fn a_damaged_entry_before_its_seal_is_bounded_by_its_bytes() {
        let mut buf = Vec::new();
        entry(1, &mut buf);
        let from = buf.len();
        entry(2, &mut buf);
        buf[from + 12] ^= 1;
        Record::Seal { capacity: 512 }.encode_framed(&mut buf);
        buf.resize(512, 0);
        let s = survey(&buf, from).unwrap();
        assert!(s.any_valid);
        assert_eq!(s.named, 0);
        assert!(s.lost_entries >= 1);
    }

    #[test]
    fn records_after_the_damage_name_their_indexes_and_a_torn_tail_names_nothing() {
        let mut buf = Vec::new();
        let from = buf.len();
        buf.extend_from_slice(&[0xff; 40]);
        entry(7, &mut buf);
        entry(8, &mut buf);
        buf.extend_from_slice(&[0xee; 10]);
        let s = survey(&buf, from).unwrap();
        assert_eq!((s.named, s.lost_entries, s.upto), (8, 2, buf.len()));
    }

    #[test]
    fn two_votes_in_one_term_are_refused() {
        let hs = |v| HardState {
            term: 3,
            voted_for: Some(v),
            commit: 0,
        };
        assert!(newer(Some(hs(1)), hs(2)).is_err());
        assert_eq!(newer(Some(hs(1)), hs(1)).unwrap(), hs(1));
    }
}
