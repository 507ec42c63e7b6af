//! One simulated node: a `State`, its readable and durable stores, the writes not yet
//! durable, and a state machine that records what it applied.

use std::collections::VecDeque;
use std::vec::Vec;

use crate::codec::EntryRef;
use crate::log::store::LogStore;
use crate::output::Persist;
use crate::sim::store::{chain_of, MemStore};
use crate::state::State;
use crate::types::{HardState, LogIndex, NodeId, Term};

/// A write the driver performed on the readable store, not yet durable.
#[derive(Clone, Debug)]
pub struct PendingWrite {
    /// The `Persist` sequence number.
    pub seq: u64,
    /// Its hard state.
    pub hard_state: Option<HardState>,
    /// The commit index it carries.
    pub commit: LogIndex,
    /// Its truncation.
    pub truncate_from: Option<LogIndex>,
    /// Its entries, copied: (index, term, kind, data).
    pub entries: Vec<(LogIndex, Term, crate::types::EntryKind, Vec<u8>)>,
}

/// The state machine: a hash chain over applied commands, plus the list applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// Last applied index.
    pub applied: LogIndex,
    /// Hash over every applied entry.
    pub digest: u64,
    /// Every applied non-empty payload, in order, with its index.
    pub log: Vec<(LogIndex, Vec<u8>)>,
}

/// One simulated node.
pub struct SimNode<const P: usize, const L: usize, const F: usize> {
    /// Node id.
    pub id: NodeId,
    /// The protocol state; `None` while crashed.
    pub state: Option<State<P, L, F>>,
    /// What the driver reads from (holds writes not yet durable too).
    pub store: MemStore,
    /// What survives a crash.
    pub durable: MemStore,
    /// The durable hard state.
    pub durable_hs: HardState,
    /// The durable commit index (stored beside the hard state).
    pub durable_commit: LogIndex,
    /// Writes performed but not yet durable (`Durability::Deferred`).
    pub pending: VecDeque<PendingWrite>,
    /// The live state machine.
    pub machine: Machine,
    /// The durable capture of the state machine (a snapshot) and the term at its index.
    pub snapshot: (Machine, Term),
    /// `CaptureWanted` was asked and not yet answered.
    pub capture_wanted: bool,
    /// Restarts so far.
    pub incarnation: u32,
}

impl<const P: usize, const L: usize, const F: usize> SimNode<P, L, F> {
    /// A node around a fresh state.
    pub fn new(id: NodeId, state: State<P, L, F>) -> Self {
        SimNode {
            id,
            state: Some(state),
            store: MemStore::default(),
            durable: MemStore::default(),
            durable_hs: HardState::default(),
            durable_commit: LogIndex::ZERO,
            pending: VecDeque::new(),
            machine: Machine::default(),
            snapshot: (Machine::default(), Term(0)),
            capture_wanted: false,
            incarnation: 0,
        }
    }

    /// Records a performed `Persist` whose entries are already in the readable store.
    pub fn record_write(&mut self, p: &Persist) -> PendingWrite {
        let mut entries = Vec::new();
        if let Some(n) = p.entries {
            for k in 0..u64::from(n.count) {
                let i = n.first.plus(k);
                if let Some(e) = self.store.get(i) {
                    entries.push((i, e.term, e.kind, e.data.clone()));
                }
            }
        }
        PendingWrite {
            seq: p.seq,
            hard_state: p.hard_state,
            commit: p.commit,
            truncate_from: p.truncate_from,
            entries,
        }
    }

    /// Makes a write durable. Returns the entries the durable store gained (index, term,
    /// chain) for the Log Matching check.
    pub fn make_durable(&mut self, w: &PendingWrite) -> Vec<(LogIndex, Term, u64)> {
        if let Some(hs) = w.hard_state {
            self.durable_hs = hs;
        }
        self.durable_commit = self.durable_commit.max(w.commit);
        if let Some(t) = w.truncate_from {
            self.durable.truncate_from(t);
        }
        let mut gained = Vec::new();
        for (i, term, kind, data) in &w.entries {
            if *i <= self.durable.base() {
                continue;
            }
            if *i <= self.durable.last_index() {
                self.durable.truncate_from(*i);
            }
            let e = EntryRef {
                term: *term,
                kind: *kind,
                data,
            };
            if self.durable.append(*i, e).is_ok() {
                let chain = self.durable.chain(*i).unwrap_or(0);
                gained.push((*i, *term, chain));
            }
        }
        gained
    }

    /// Applies entry `index` from the readable store; returns its chain hash.
    pub fn apply(&mut self, index: LogIndex) -> Option<u64> {
        let e = self.store.get(index)?;
        self.machine.applied = index;
        self.machine.digest = chain_of(self.machine.digest, e.term, e.kind, &e.data);
        if !e.data.is_empty() {
            self.machine.log.push((index, e.data.clone()));
        }
        Some(e.chain)
    }
}
