//! The [`Storage`] seam of a simulated node: a readable log that holds every performed
//! write, and the node's [`Disk`], which holds what is durable.

use std::cell::RefCell;
use std::rc::Rc;

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::Storage;
use raftcore::{
    persist_entries, HardState, Input, LogIndex, LogStore, NodeId, Persist, StoreError, Term,
};

use super::{Disk, PendingWrite, SimError};
use crate::check::Checker;
use crate::store::MemStore;

/// One node's log storage. Every write lands in the readable log at once (and is readable
/// at once, as the contract allows); it becomes durable at [`Storage::sync`], which the engine
/// calls after every `Persist` under `Durability::Inline`, or when the schedule fsyncs it
/// under `Deferred`.
pub struct SimStorage {
    id: NodeId,
    store: MemStore,
    disk: Rc<RefCell<Disk>>,
    /// The cluster's checker (`None` for a node alone, as the single-node fuzz target's).
    checker: Option<Rc<RefCell<Checker>>>,
}

impl SimStorage {
    /// Node `id`'s storage over `disk`, its readable log starting as the durable one (a
    /// fresh node, or one restarting after a crash).
    pub fn new(id: NodeId, disk: Rc<RefCell<Disk>>, checker: Option<Rc<RefCell<Checker>>>) -> Self {
        let store = {
            let mut d = disk.borrow_mut();
            d.log = d.durable.clone();
            d.log.clone()
        };
        SimStorage {
            id,
            store,
            disk,
            checker,
        }
    }

    /// The readable log.
    pub fn store(&self) -> &MemStore {
        &self.store
    }

    /// Makes every pending write durable, in order; the Log Matching check on every entry
    /// the durable log gains.
    fn sync_all(&mut self) -> Result<(), SimError> {
        loop {
            let Some((_, gained)) = self.disk.borrow_mut().make_oldest_durable() else {
                return Ok(());
            };
            self.observe_entries(&gained)?;
        }
    }
}

impl SimStorage {
    /// Log Matching on entries a store gained: (index, term, chain).
    fn observe_entries(&self, gained: &[(LogIndex, Term, u64)]) -> Result<(), SimError> {
        let Some(checker) = &self.checker else {
            return Ok(());
        };
        let mut checker = checker.borrow_mut();
        for &(i, t, c) in gained {
            checker.observe_entry(i, t, c).map_err(SimError)?;
        }
        Ok(())
    }
}

impl EntrySource for SimStorage {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.store.entry(index)
    }
}

/// Every change goes to the readable log and to the disk's copy of it.
impl LogStore for SimStorage {
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        self.store.append(index, entry)?;
        self.disk.borrow_mut().log.append(index, entry)
    }

    fn truncate_from(&mut self, index: LogIndex) {
        self.store.truncate_from(index);
        self.disk.borrow_mut().log.truncate_from(index);
    }

    fn compact_to(&mut self, upto: LogIndex) {
        self.store.compact_to(upto);
        self.disk.borrow_mut().log.compact_to(upto);
    }

    fn last_index(&self) -> LogIndex {
        self.store.last_index()
    }
}

impl Storage for SimStorage {
    type Error = SimError;

    /// Performs the write on the readable log, checks Log Matching on every entry it adds,
    /// and records the write (hard state and commit index included) as not yet durable.
    fn persist(&mut self, p: &Persist, input: &Input<'_>) -> Result<(), SimError> {
        persist_entries(self, p, input)
            .map_err(|e| SimError(format!("{}: persist: {e}", self.id)))?;
        let mut entries = Vec::new();
        let mut gained = Vec::new();
        if let Some(n) = p.entries {
            for j in 0..u64::from(n.count) {
                let i = n.first.plus(j);
                let e = self
                    .store
                    .get(i)
                    .ok_or_else(|| SimError(format!("{}: persisted entry {i} missing", self.id)))?;
                gained.push((i, e.term, e.chain));
                entries.push((i, e.term, e.kind, e.data.clone()));
            }
        }
        self.observe_entries(&gained)?;
        self.disk.borrow_mut().pending.push_back(PendingWrite {
            seq: p.seq,
            hard_state: p.hard_state,
            commit: p.commit,
            truncate_from: p.truncate_from,
            entries,
        });
        Ok(())
    }

    /// The hard state and the commit index are part of the write [`persist`](Self::persist)
    /// recorded (one record per `Persist`, as a write-ahead log keeps them), and become
    /// durable with it.
    fn save_hard_state(&mut self, _: HardState, _: LogIndex) -> Result<(), SimError> {
        Ok(())
    }

    /// Every pending write becomes durable, in order. The engine calls it after every
    /// `Persist` under `Durability::Inline`; under `Deferred` only to order the writes
    /// before a snapshot install (the simulator's schedule fsyncs the rest itself).
    fn sync(&mut self) -> Result<(), SimError> {
        self.sync_all()
    }

    /// Compaction only below the durable capture (the snapshot covers what is dropped).
    fn compact(&mut self, upto: LogIndex) -> Result<(), SimError> {
        let captured = self.disk.borrow().snapshot.0.applied;
        if upto > captured {
            return Err(SimError(format!(
                "{}: Compact {upto} beyond its capture",
                self.id
            )));
        }
        self.compact_to(upto);
        self.disk.borrow_mut().durable.compact_to(upto);
        Ok(())
    }

    /// The log starts after the installed snapshot: kept after `index` if it holds `index`
    /// with `term`, else reset to start there, on the committed prefix (checked by the
    /// snapshot seam before the install).
    fn install_snapshot(&mut self, index: LogIndex, term: Term) -> Result<(), SimError> {
        let committed = self
            .checker
            .as_ref()
            .and_then(|c| c.borrow().committed_chain(index));
        let chain = committed.ok_or_else(|| {
            SimError(format!(
                "{}: snapshot at {index} beyond the committed log",
                self.id
            ))
        })?;
        let mut disk = self.disk.borrow_mut();
        let Disk { durable, log, .. } = &mut *disk;
        for store in [&mut self.store, log, durable] {
            if store.term(index) == Some(term) {
                store.rebase(index);
            } else {
                store.reset(index, term, chain);
            }
        }
        Ok(())
    }
}
