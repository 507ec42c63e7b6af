//! The in-memory copy of the log entries after the snapshot point: what the driver reads
//! payloads from when it encodes messages. Replay and live appends share these rules, so what
//! `Wal::open` rebuilds is exactly what the running `Wal` had.

use std::collections::VecDeque;

use super::record::SnapshotPoint;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    term: u64,
    kind: u8,
    payload: Box<[u8]>,
}

/// One entry, borrowed from the WAL's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Log index.
    pub index: u64,
    /// Term the entry was created in.
    pub term: u64,
    /// Entry kind, as given to `append_entry`.
    pub kind: u8,
    /// Entry payload.
    pub payload: &'a [u8],
}

/// Entries `first..=last` after a snapshot point.
///
/// During replay a segment may begin with entries above `snapshot.index + 1` (the segments
/// holding the entries between were compacted away, and the snapshot record that covers them
/// comes later in the log); `first` then sits above the snapshot point until that record is
/// replayed. [`EntryLog::gap`] reports such a hole if it is still there at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryLog {
    snapshot: SnapshotPoint,
    first: u64,
    entries: VecDeque<Stored>,
}

impl EntryLog {
    pub(crate) fn new() -> Self {
        EntryLog {
            snapshot: SnapshotPoint::default(),
            first: 1,
            entries: VecDeque::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> SnapshotPoint {
        self.snapshot
    }

    pub(crate) fn first_index(&self) -> u64 {
        self.first
    }

    /// The last index held, or the snapshot index when no entry follows it.
    pub(crate) fn last_index(&self) -> u64 {
        if self.entries.is_empty() {
            self.snapshot.index
        } else {
            self.first + self.entries.len() as u64 - 1
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, index: u64) -> Option<EntryRef<'_>> {
        let pos = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.entries.get(pos).map(|s| EntryRef {
            index,
            term: s.term,
            kind: s.kind,
            payload: &s.payload,
        })
    }

    /// The term at `index`, including the snapshot point's.
    pub(crate) fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        self.get(index).map(|e| e.term)
    }

    /// The index the next append must carry.
    pub(crate) fn next_index(&self) -> u64 {
        self.last_index() + 1
    }

    /// Replay rule for an entry record: an index at or below the snapshot is already covered;
    /// an index inside the log replaces the suffix from there (a truncation was folded into the
    /// append); an index past the end starts a new run (a compacted gap, checked by `gap`).
    pub(crate) fn replay_entry(&mut self, index: u64, term: u64, kind: u8, payload: &[u8]) {
        if index <= self.snapshot.index {
            return;
        }
        if self.entries.is_empty() || index < self.first || index > self.last_index() + 1 {
            self.entries.clear();
            self.first = index;
        } else {
            self.truncate_from(index);
        }
        self.push(term, kind, payload);
    }

    /// Appends at `next_index()` (the caller checked the index).
    pub(crate) fn push(&mut self, term: u64, kind: u8, payload: &[u8]) {
        if self.entries.is_empty() {
            // `first` is only meaningful with entries present; re-anchor it.
            self.first = self.first.max(self.snapshot.index + 1);
        }
        self.entries.push_back(Stored {
            term,
            kind,
            payload: payload.into(),
        });
    }

    /// Drops every entry at `index` and above.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        if index <= self.first {
            self.entries.clear();
            self.first = self.snapshot.index + 1;
        } else if let Ok(keep) = usize::try_from(index - self.first) {
            self.entries.truncate(keep);
        }
    }

    /// Applies a snapshot point. If the log holds the snapshot's entry with the same term, the
    /// entries after it are kept (Raft's InstallSnapshot rule); otherwise the log is emptied.
    /// An older point than the current one is ignored.
    pub(crate) fn apply_snapshot(&mut self, point: SnapshotPoint) {
        if point.index <= self.snapshot.index {
            return;
        }
        let keep_suffix = self.get(point.index).is_some_and(|e| e.term == point.term);
        if keep_suffix {
            let drop = (point.index + 1 - self.first) as usize;
            self.entries.drain(..drop);
            self.first = point.index + 1;
        } else if point.index >= self.first {
            // The log does not match the snapshot at its point: everything goes.
            self.entries.clear();
        }
        // else: the run starts above the point (replay across compacted segments); keep it.
        self.snapshot = point;
        if self.entries.is_empty() {
            self.first = point.index + 1;
        }
    }

    /// During replay: a hole between the snapshot point and the first entry.
    pub(crate) fn gap(&self) -> Option<(u64, u64)> {
        (!self.entries.is_empty() && self.first > self.snapshot.index + 1)
            .then_some((self.snapshot.index + 1, self.first - 1))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn log_with(terms: &[u64]) -> EntryLog {
        let mut log = EntryLog::new();
        for &t in terms {
            log.push(t, 0, &[t as u8]);
        }
        log
    }

    #[test]
    fn entries_are_read_back_by_index() {
        let log = log_with(&[1, 1, 2]);
        assert_eq!(log.first_index(), 1);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.get(3).map(|e| e.term), Some(2));
        assert_eq!(log.get(0), None);
        assert_eq!(log.get(4), None);
        assert_eq!(log.term(0), Some(0));
    }

    #[test]
    fn truncate_then_push_replaces_the_suffix() {
        let mut log = log_with(&[1, 1, 2]);
        log.truncate_from(2);
        log.push(3, 0, b"x");
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.get(2).map(|e| e.payload), Some(&b"x"[..]));
    }

    #[test]
    fn snapshot_with_matching_term_keeps_the_suffix() {
        let mut log = log_with(&[1, 1, 2, 2]);
        log.apply_snapshot(SnapshotPoint { index: 2, term: 1 });
        assert_eq!((log.first_index(), log.last_index()), (3, 4));
        assert_eq!(log.term(2), Some(1));
    }

    #[test]
    fn snapshot_with_other_term_or_past_the_end_empties_the_log() {
        let mut log = log_with(&[1, 1, 2, 2]);
        log.apply_snapshot(SnapshotPoint { index: 2, term: 9 });
        assert_eq!((log.len(), log.last_index()), (0, 2));
        let mut log = log_with(&[1, 1]);
        log.apply_snapshot(SnapshotPoint { index: 10, term: 3 });
        assert_eq!((log.len(), log.next_index()), (0, 11));
    }

    #[test]
    fn replay_across_a_compacted_gap_is_closed_by_the_later_snapshot() {
        let mut log = EntryLog::new();
        log.apply_snapshot(SnapshotPoint { index: 2, term: 1 });
        log.replay_entry(6, 2, 0, b"six");
        log.replay_entry(7, 2, 0, b"seven");
        assert_eq!(log.gap(), Some((3, 5)));
        log.apply_snapshot(SnapshotPoint { index: 5, term: 2 });
        assert_eq!(log.gap(), None);
        assert_eq!((log.first_index(), log.last_index()), (6, 7));
    }
}
