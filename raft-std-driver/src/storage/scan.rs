//! Reading one WAL segment on open: replaying its records, and judging the bytes after the
//! last valid record (unused zero-fill, a torn tail to cut, or corruption to refuse).
//!
//! See the [module docs](super) for why these rules never cut a synced record.

use std::path::Path;

use super::hardstate::SyncMark;
use super::log::EntryLog;
use super::record::{self, Frame, HardState, Record};
use super::StorageError;

/// What replaying a segment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Offset just past the last valid record (where the first bad or incomplete record, or
    /// the unused zero-fill, starts).
    pub(crate) end: usize,
    /// The capacity the last valid seal states; 0 when the segment has no seal (written
    /// before seals existed, or torn while being started).
    pub(crate) capacity: u64,
}

/// What lies past [`Scanned::end`] in a segment that passed [`judge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Nothing, or only zero-fill: unused space.
    Unused,
    /// A torn tail from `end` up to (not including) `upto`, the last non-zero byte: cut it
    /// (zero it in a preallocated segment, truncate a segment without seals).
    Torn {
        /// End of the bytes to discard.
        upto: usize,
    },
}

/// Replays the valid records at the start of `buf` into `hard_state` and `log`.
pub(crate) fn replay(buf: &[u8], hard_state: &mut HardState, log: &mut EntryLog) -> Scanned {
    let mut scanned = Scanned {
        end: 0,
        capacity: 0,
    };
    while scanned.end < buf.len() {
        let Frame::Ok { record, next } = record::read_frame(buf, scanned.end) else {
            break;
        };
        match record {
            Record::Entry {
                index,
                term,
                kind,
                payload,
            } => log.replay_entry(index, term, kind, payload),
            Record::TruncateFrom { index } => log.truncate_from(index),
            Record::HardState(hs) => *hard_state = hs,
            Record::Snapshot(p) => log.apply_snapshot(p),
            Record::Seal { capacity } => scanned.capacity = capacity,
        }
        scanned.end = next;
    }
    scanned
}

/// How far segment `seq` (of `len` bytes) was synced, by the hard-state copies' `mark`: bytes
/// below it were fsynced before a sync was reported, so damage there (including a file cut
/// short) is corruption, never a torn tail. In an earlier, preallocated segment the zero-fill
/// past the data is not synced records; the seals and the successor's first index guard its
/// end. A segment the mark never reached (`fresh` is a WAL being created) had its capacity
/// cleared in `scanned`: a crash while it was being started (before any entry went in), so
/// its preallocation may be incomplete (or there are no copies to tell). Its capacity binds
/// nothing; it is cut like a segment without seals, and a last one is replaced.
pub(crate) fn synced_upto(
    scanned: &mut Scanned,
    len: usize,
    seq: u64,
    mark: Option<SyncMark>,
    fresh: bool,
) -> u64 {
    if !fresh && mark.is_none_or(|m| m.segment < seq) {
        scanned.capacity = 0;
    }
    match mark {
        Some(m) if m.segment > seq && scanned.capacity > 0 => scanned.end as u64,
        Some(m) if m.segment > seq => len as u64,
        Some(m) if m.segment == seq => m.offset,
        _ => 0,
    }
}

/// Judges the bytes of segment `path` past `scanned.end`. `synced` is how far the hard-state
/// copies' mark says this segment was synced; `is_last` whether it is the segment appended to.
///
/// * Valid records end before the mark, or the file is shorter than its last seal's
///   capacity (cut): [`StorageError::Corrupt`].
/// * Only zero bytes follow: unused space (preallocated, or a file extended but never
///   written).
/// * Anything else is a torn tail if the segment is the last one and no valid record follows
///   (every synced batch ends with a seal, so damage to any other record of it is always
///   followed by a valid record; damage to the seal itself loses no record); otherwise it is
///   `Corrupt`.
pub(crate) fn judge(
    path: &Path,
    buf: &[u8],
    scanned: Scanned,
    synced: u64,
    is_last: bool,
) -> Result<After, StorageError> {
    let corrupt = |offset: usize| {
        Err(StorageError::Corrupt {
            file: path.to_path_buf(),
            offset: offset as u64,
        })
    };
    let end = scanned.end;
    if (end as u64) < synced {
        return corrupt(end);
    }
    if (buf.len() as u64) < scanned.capacity {
        return corrupt(buf.len());
    }
    let Some(last) = buf[end..].iter().rposition(|&b| b != 0) else {
        return Ok(After::Unused);
    };
    let upto = end + last + 1;
    if !is_last || record::any_valid_frame_after(buf, end) {
        return corrupt(end);
    }
    Ok(After::Torn { upto })
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::storage::record::SEAL_FRAME;

    /// A preallocated segment: a header's seal, one entry, its seal, zero-fill up to 128 bytes.
    fn segment() -> (Vec<u8>, usize) {
        let mut buf = Vec::new();
        Record::Seal { capacity: 128 }.encode_framed(&mut buf);
        Record::Entry {
            index: 1,
            term: 1,
            kind: 0,
            payload: b"x",
        }
        .encode_framed(&mut buf);
        Record::Seal { capacity: 128 }.encode_framed(&mut buf);
        let end = buf.len();
        buf.resize(128, 0);
        (buf, end)
    }

    fn judge_of(buf: &[u8], is_last: bool) -> Result<After, StorageError> {
        let scanned = replay(buf, &mut HardState::default(), &mut EntryLog::new());
        judge(Path::new("seg"), buf, scanned, 0, is_last)
    }

    #[test]
    fn zero_fill_after_the_seals_is_unused_space() {
        let (buf, end) = segment();
        let scanned = replay(&buf, &mut HardState::default(), &mut EntryLog::new());
        assert_eq!(scanned, Scanned { end, capacity: 128 });
        assert_eq!(judge_of(&buf, true).unwrap(), After::Unused);
        assert_eq!(judge_of(&buf, false).unwrap(), After::Unused);
    }

    #[test]
    fn a_damaged_record_before_a_seal_is_corrupt_and_a_damaged_seal_is_a_torn_tail() {
        let (mut buf, end) = segment();
        buf[SEAL_FRAME + 10] ^= 1;
        assert!(matches!(
            judge_of(&buf, true),
            Err(StorageError::Corrupt { offset, .. }) if offset == SEAL_FRAME as u64
        ));
        let (mut buf, end_of_entry) = (segment().0, end - SEAL_FRAME);
        buf[end - 1] ^= 1;
        assert_eq!(judge_of(&buf, true).unwrap(), After::Torn { upto: end });
        let scanned = replay(&buf, &mut HardState::default(), &mut EntryLog::new());
        assert_eq!(scanned.end, end_of_entry);
        assert!(judge_of(&buf, false).is_err());
    }

    #[test]
    fn a_file_shorter_than_its_capacity_is_corrupt_even_when_cut_at_a_seal() {
        let (buf, end) = segment();
        for cut in [end, end + 1, 127] {
            assert!(
                matches!(
                    judge_of(&buf[..cut], true),
                    Err(StorageError::Corrupt { offset, .. }) if offset == cut as u64
                ),
                "cut {cut}"
            );
        }
    }
}
