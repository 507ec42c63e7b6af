//! raft-core's [`LogStore`] and the engine's [`Storage`] seam over the [`Wal`]: the WAL's
//! in-memory entries are what the codec reads payloads from, so the log is held once.
//!
//! raft-core's [`LogStore`] calls cannot fail with an I/O error, the WAL's can. The adapter
//! keeps the first fatal [`StorageError`] a store call hit and refuses every later call;
//! [`Storage::persist`] (the engine's way in) returns that error itself, naming the file, so
//! the node stops with it (fail-stop).
//!
//! Under `Durability::Deferred` a `Persist` appends to the WAL (readable at once) and a group
//! commit makes every append not yet durable durable with one write and one fsync: on the
//! node's sync thread ([`WalLog::begin_sync`], [`WalLog::finish_sync`]), or on the caller's
//! ([`Storage::sync`], from [`Engine::flush`](raftcore::Engine::flush)).

use std::time::Instant;

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::Storage;
use raftcore::{persist_entries, EntryKind, Input, LogIndex, LogStore, Persist, StoreError, Term};

use crate::metrics::Latency;
use crate::node::NodeError;
use crate::storage::{HardState, SnapshotPoint, StorageError, SyncJob, SyncStart, Wal};

/// What the WAL did for the engine, for the node's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// `Persist` outputs performed.
    pub persists: u64,
    /// Syncs (group commits), wherever they ran.
    pub syncs: u64,
    /// Of those, the ones run on the node's sync thread ([`WalLog::finish_sync`]).
    pub syncs_background: u64,
    /// Compactions (`Compact` outputs).
    pub compactions: u64,
    /// How long each sync took.
    pub sync_latency: Latency,
}

/// A [`Wal`] seen as raft-core's log store and the engine's [`Storage`].
#[derive(Debug)]
pub struct WalLog {
    wal: Wal,
    error: Option<StorageError>,
    counters: LogCounters,
}

impl WalLog {
    /// Wraps an opened WAL.
    pub fn new(wal: Wal) -> WalLog {
        WalLog {
            wal,
            error: None,
            counters: LogCounters::default(),
        }
    }

    /// The WAL.
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// What the WAL did for the engine so far.
    pub fn counters(&self) -> LogCounters {
        self.counters
    }

    /// Takes the fatal error a store call hit, if any.
    pub fn take_error(&mut self) -> Option<StorageError> {
        self.error.take()
    }

    /// The commit index last recorded beside the hard state.
    pub fn stored_commit(&self) -> u64 {
        self.wal.hard_state().commit
    }

    /// The term of the entry at `index` (also the snapshot point's).
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        self.wal.term(index.0).map(Term)
    }

    /// Records a snapshot point at `upto`, makes it durable and deletes covered segments.
    fn compact_wal(&mut self, upto: LogIndex) -> Result<(), StorageError> {
        let snap = self.wal.snapshot_point().map_or(0, |p| p.index);
        if upto.0 <= snap || upto.0 > self.wal.last_index() {
            return Ok(());
        }
        self.wal.compact(upto.0).map(|_| ())
    }

    /// [`Wal::begin_sync`]: the turn's appends written and sealed, their fdatasync returned as
    /// a job for the node's sync thread (or done here, counted, where the WAL needs to).
    pub fn begin_sync(&mut self) -> Result<SyncStart, NodeError> {
        let start = Instant::now();
        let begun = self.wal.begin_sync()?;
        if let SyncStart::Synced = begun {
            self.counters.sync_latency.observe(start.elapsed());
            self.counters.syncs += 1;
        }
        Ok(begun)
    }

    /// [`Wal::finish_sync`], counting the job's fdatasync if it succeeded.
    pub fn finish_sync(&mut self, job: SyncJob) -> Result<(), NodeError> {
        let took = job.took();
        self.wal.finish_sync(job)?;
        self.counters.sync_latency.observe(took);
        self.counters.syncs += 1;
        self.counters.syncs_background += 1;
        Ok(())
    }

    fn keep(&mut self, e: StorageError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

impl Storage for WalLog {
    type Error = NodeError;

    /// Truncates and appends through [`LogStore`]; a WAL failure on the way (an append, or a
    /// truncation, which cannot report one) is returned as the [`StorageError`] it was.
    fn persist(&mut self, persist: &Persist, input: &Input<'_>) -> Result<(), NodeError> {
        let r = persist_entries(self, persist, input);
        if let Some(e) = self.take_error() {
            return Err(NodeError::Storage(e));
        }
        r.map_err(NodeError::LogStore)?;
        self.counters.persists += 1;
        Ok(())
    }

    /// A hard-state record (term, vote and the commit index known when it was written),
    /// durable at the next [`Storage::sync`].
    fn save_hard_state(
        &mut self,
        hs: raftcore::HardState,
        commit: LogIndex,
    ) -> Result<(), NodeError> {
        self.wal.set_hard_state(HardState {
            term: hs.term.0,
            voted_for: hs.vote.map(|v| v.0),
            commit: commit.0.max(self.wal.hard_state().commit),
        })?;
        Ok(())
    }

    /// One write and one fsync for everything appended since the last sync (group commit).
    fn sync(&mut self) -> Result<(), NodeError> {
        let start = Instant::now();
        self.wal.sync()?;
        self.counters.sync_latency.observe(start.elapsed());
        self.counters.syncs += 1;
        Ok(())
    }

    /// Records a snapshot point at `upto`, makes it durable and deletes covered segments.
    fn compact(&mut self, upto: LogIndex) -> Result<(), NodeError> {
        self.compact_wal(upto)?;
        self.counters.compactions += 1;
        Ok(())
    }

    /// A snapshot received from the leader covers the log up to `index` (of `term`) and is
    /// durable: the log now starts after it, keeping the entries after it if it holds
    /// `index` with `term`; made durable, and covered segments deleted.
    fn install_snapshot(&mut self, index: LogIndex, term: Term) -> Result<(), NodeError> {
        self.wal.install_snapshot(SnapshotPoint {
            index: index.0,
            term: term.0,
        })?;
        self.wal.compact(index.0)?;
        Ok(())
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
        if let Err(e) = self.compact_wal(upto) {
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

    /// A `Persist` of one proposal `data` at `index` of term 1.
    fn propose(seq: u64, index: u64) -> Persist {
        Persist {
            seq,
            hard_state: None,
            commit: LogIndex(0),
            truncate_from: None,
            entries: Some(raftcore::NewEntries {
                first: LogIndex(index),
                count: 1,
                from: raftcore::NewEntriesFrom::Proposal { term: Term(1) },
            }),
        }
    }

    #[test]
    fn a_persist_after_a_failed_fsync_fails_with_the_wals_error_not_a_store_error() {
        use crate::storage::fault::FaultIo;
        use std::sync::atomic::Ordering;
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let io = FaultIo::default();
        let opts = crate::storage::WalOptions::default();
        let (wal, _) = Wal::open_with(dir.path(), opts, Arc::new(io.clone())).unwrap();
        let mut log = WalLog::new(wal);
        let input = Input::Propose { data: b"x=1" };
        log.persist(&propose(1, 1), &input).unwrap();
        io.faults.fail_fsync.store(true, Ordering::SeqCst);
        assert!(matches!(
            Storage::sync(&mut log),
            Err(NodeError::Storage(StorageError::Io { op: "fsync", .. }))
        ));
        // The WAL is poisoned (fail-stop): the next append reports that, not `StoreError::Full`.
        let r = log.persist(&propose(2, 2), &input);
        assert!(
            matches!(r, Err(NodeError::Storage(StorageError::Poisoned))),
            "{r:?}"
        );
        assert_eq!(log.counters().persists, 1);
        assert_eq!(log.counters().syncs, 0);
    }

    #[test]
    fn a_persist_out_of_order_is_a_log_store_error_and_the_hard_state_is_recorded_with_its_commit()
    {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path()).unwrap();
        let mut log = WalLog::new(wal);
        let input = Input::Propose { data: b"x=1" };
        let r = log.persist(&propose(1, 5), &input);
        assert!(
            matches!(r, Err(NodeError::LogStore(StoreError::NotContiguous))),
            "{r:?}"
        );
        log.persist(&propose(2, 1), &input).unwrap();
        let hs = raftcore::HardState {
            term: Term(1),
            vote: Some(raftcore::NodeId(2)),
        };
        log.save_hard_state(hs, LogIndex(1)).unwrap();
        Storage::sync(&mut log).unwrap();
        drop(log);
        let (_, rec) = Wal::open(dir.path()).unwrap();
        assert_eq!(
            (rec.hard_state.term, rec.hard_state.voted_for),
            (1, Some(2))
        );
        assert_eq!((rec.hard_state.commit, rec.last_index), (1, 1));
    }
}
