//! raft-core's [`LogStore`] over the [`Wal`]: the WAL's in-memory entries are what the codec
//! reads payloads from, so the log is held once.
//!
//! raft-core's store calls cannot fail with an I/O error, the WAL's can. The adapter keeps the
//! first fatal [`StorageError`] ([`WalLog::take_error`]) and refuses every later call; the node
//! checks it after performing each output and stops (fail-stop).

use raft_core::codec::{EntryRef, EntrySource};
use raft_core::{EntryKind, LogIndex, LogStore, StoreError, Term};

use crate::storage::{HardState, StorageError, Wal};

/// A [`Wal`] seen as raft-core's log store.
#[derive(Debug)]
pub struct WalLog {
    wal: Wal,
    error: Option<StorageError>,
}

impl WalLog {
    /// Wraps an opened WAL.
    pub fn new(wal: Wal) -> WalLog {
        WalLog { wal, error: None }
    }

    /// The WAL.
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Takes the fatal error a store call hit, if any.
    pub fn take_error(&mut self) -> Option<StorageError> {
        self.error.take()
    }

    /// Records a new hard state and the commit index known when it was written (raft-core's
    /// `Persist::commit`), durable at the next [`WalLog::sync`].
    pub fn set_hard_state(
        &mut self,
        hs: raft_core::HardState,
        commit: u64,
    ) -> Result<(), StorageError> {
        self.wal.set_hard_state(HardState {
            term: hs.term.0,
            voted_for: hs.vote.map(|v| v.0),
            commit: commit.max(self.wal.hard_state().commit),
        })
    }

    /// The commit index last recorded beside the hard state.
    pub fn stored_commit(&self) -> u64 {
        self.wal.hard_state().commit
    }

    /// A snapshot received from the leader covers the log up to `index` (of `term`) and is
    /// durable: the log now starts after it, keeping the entries after it if it holds
    /// `index` with `term`; made durable, and covered segments deleted.
    pub fn install_snapshot(&mut self, index: u64, term: u64) -> Result<(), StorageError> {
        self.wal
            .install_snapshot(crate::storage::SnapshotPoint { index, term })?;
        self.wal.compact(index).map(|_| ())
    }

    /// One write and one fsync for everything appended since the last sync (group commit).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.wal.sync()
    }

    /// Records a snapshot point at `upto`, makes it durable and deletes covered segments.
    pub fn compact(&mut self, upto: LogIndex) -> Result<(), StorageError> {
        let snap = self.wal.snapshot_point().map_or(0, |p| p.index);
        if upto.0 <= snap || upto.0 > self.wal.last_index() {
            return Ok(());
        }
        self.wal.compact(upto.0).map(|_| ())
    }

    /// The term of the entry at `index` (also the snapshot point's).
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        self.wal.term(index.0).map(Term)
    }

    fn keep(&mut self, e: StorageError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

impl EntrySource for WalLog {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        let e = self.wal.entry(index.0)?;
        Some(EntryRef {
            term: Term(e.term),
            kind: EntryKind::from_byte(e.kind)?,
            data: e.payload,
        })
    }
}

impl LogStore for WalLog {
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        if self.error.is_some() {
            return Err(StoreError::Full);
        }
        match self
            .wal
            .append_entry(index.0, entry.term.0, entry.kind.to_byte(), entry.data)
        {
            Ok(()) => Ok(()),
            Err(StorageError::NonContiguous { .. }) => Err(StoreError::NotContiguous),
            Err(StorageError::EntryTooLarge { .. }) => Err(StoreError::TooLarge),
            Err(e) => {
                self.keep(e);
                Err(StoreError::Full)
            }
        }
    }

    fn truncate_from(&mut self, index: LogIndex) {
        if self.error.is_some() {
            return;
        }
        let lo = self.wal.first_index();
        let index = index.0.max(lo);
        if index > self.wal.last_index() {
            return;
        }
        if let Err(e) = self.wal.truncate_from(index) {
            self.keep(e);
        }
    }

    fn compact_to(&mut self, upto: LogIndex) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.compact(upto) {
            self.keep(e);
        }
    }

    fn last_index(&self) -> LogIndex {
        LogIndex(self.wal.last_index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::codec::EntrySource;

    #[test]
    fn entries_round_trip_through_the_wal_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let mut log = WalLog::new(wal);
        for i in 1..=3u64 {
            let e = EntryRef {
                term: Term(1),
                kind: EntryKind::Normal,
                data: &[i as u8; 3],
            };
            log.append(LogIndex(i), e).unwrap();
        }
        log.truncate_from(LogIndex(3));
        log.sync().unwrap();
        assert_eq!(log.last_index(), LogIndex(2));
        drop(log);
        let (wal, rec) = Wal::open(dir.path()).unwrap();
        assert_eq!(rec.last_index, 2);
        let log = WalLog::new(wal);
        assert_eq!(log.entry(LogIndex(2)).unwrap().data, &[2, 2, 2]);
        assert_eq!(log.entry(LogIndex(3)), None);
    }
}
