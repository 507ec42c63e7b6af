//! One simulated node: a raft-core [`Engine`] over the simulator's seams, and the node's
//! durable disk, which outlives the engine across a crash.
//!
//! The seams keep the simulator's checks where the engine performs each output:
//! - [`SimStorage`] (the log and the hard state): the readable store holds every performed
//!   write, the [`Disk`] what is durable; under `Durability::Deferred` writes wait in
//!   [`Disk::pending`] until the schedule fsyncs them; every entry either store gains is
//!   checked for Log Matching;
//! - [`SimTransport`] (the network): nothing acknowledged before it is durable; frames go
//!   through the real codec into an outbox the cluster moves onto its network;
//! - [`SimSnapshots`] (snapshot files): chunks written in order, installs verified against
//!   the committed log;
//! - [`SimMachine`] (the state machine): applied in order, exactly once, only what is
//!   committed.
//!
//! The checks that need the node's protocol state after a step run in the cluster's
//! [`Events`](raftcore::engine::Events) hook.

mod machine;
mod snapshots;
mod storage;
mod transport;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::{
    Engine, EntryKind, HardState, LogIndex, LogStore, NodeId, Restored, SnapshotMeta, State,
    StoreError, Term,
};

use crate::check::Violation;
use crate::store::MemStore;

pub use machine::{checksum, snapshot_meta, Machine, SimMachine};
pub use snapshots::SimSnapshots;
pub use storage::SimStorage;
pub use transport::SimTransport;

/// What every seam of a simulated node fails with: a broken invariant (or a store error).
/// Any of them stops the node (the engine is fail-stop) and ends the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError(pub Violation);

impl From<StoreError> for SimError {
    fn from(e: StoreError) -> Self {
        SimError(format!("store: {e}"))
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The engine of a simulated node.
pub type SimEngine<const P: usize, const L: usize, const F: usize> =
    Engine<State<P, L, F>, SimStorage, SimTransport, SimMachine, SimSnapshots>;

/// Entries a store gained, for the Log Matching check: (index, term, chain hash).
pub type Gained = Vec<(LogIndex, Term, u64)>;

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
    pub entries: Vec<(LogIndex, Term, EntryKind, Vec<u8>)>,
}

/// A node's disk: what survives a crash (the durable log, hard state, commit index and
/// snapshot), the writes not yet durable, and a copy of the readable log for the checks.
#[derive(Debug, Default)]
pub struct Disk {
    /// The durable log.
    pub durable: MemStore,
    /// The durable hard state.
    pub hard_state: HardState,
    /// The durable commit index (stored beside the hard state).
    pub commit: LogIndex,
    /// Writes performed but not yet durable (`Durability::Deferred`).
    pub pending: VecDeque<PendingWrite>,
    /// The durable capture of the state machine (a snapshot) and the term at its index.
    pub snapshot: (Machine, Term),
    /// The durable snapshot file: its description and bytes.
    pub snap_file: Option<(SnapshotMeta, Vec<u8>)>,
    /// The readable log, kept in step with the one [`SimStorage`] owns. The engine holds the
    /// storage while it steps, and its `Events::observe` hook is given the protocol state
    /// only, so the checks that compare the state with the log (and the transport's
    /// durability checks) read this copy.
    pub log: MemStore,
}

impl Disk {
    /// A fresh node's disk: nothing durable yet; its "snapshot" is the fresh state `machine`.
    pub fn new(machine: Machine) -> Self {
        Disk {
            snapshot: (machine, Term(0)),
            ..Disk::default()
        }
    }

    /// What a node restarts from: the durable hard state, commit index and log base, the
    /// snapshot's applied index and membership (as of its index, which covers the log's base).
    pub fn restored(&self) -> Restored {
        Restored {
            hard_state: self.hard_state,
            commit: self.commit,
            base: (self.durable.base(), self.durable.base_term()),
            applied: self.snapshot.0.applied,
            members: self.snap_file.as_ref().map(|f| f.0.members),
            vote_floor: LogIndex::ZERO,
        }
    }

    /// Makes the oldest pending write durable; `None` if nothing is pending. Returns it and
    /// the entries the durable log gained (index, term, chain) for the Log Matching check.
    pub fn make_oldest_durable(&mut self) -> Option<(PendingWrite, Gained)> {
        let w = self.pending.pop_front()?;
        let gained = self.make_durable(&w);
        Some((w, gained))
    }

    /// Makes a write durable. Returns the entries the durable store gained (index, term,
    /// chain) for the Log Matching check.
    pub fn make_durable(&mut self, w: &PendingWrite) -> Gained {
        if let Some(hs) = w.hard_state {
            self.hard_state = hs;
        }
        self.commit = self.commit.max(w.commit);
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

    /// A crash: the writes not yet durable and the readable log are lost.
    pub fn crash(&mut self) {
        self.pending.clear();
        self.log = self.durable.clone();
    }
}

/// One simulated node.
pub struct SimNode<const P: usize, const L: usize, const F: usize> {
    /// Node id.
    pub id: NodeId,
    /// The node's engine (its protocol state and seams); `None` while crashed.
    pub engine: Option<SimEngine<P, L, F>>,
    /// The node's disk (shared with the seams of its engine).
    pub disk: Rc<RefCell<Disk>>,
    /// `CaptureWanted` was asked and no capture was made since.
    pub capture_wanted: bool,
    /// Restarts so far.
    pub incarnation: u32,
}

impl<const P: usize, const L: usize, const F: usize> SimNode<P, L, F> {
    /// The protocol state, `None` while crashed.
    pub fn state(&self) -> Option<&State<P, L, F>> {
        self.engine.as_ref().map(|e| e.state())
    }

    /// The live state machine, `None` while crashed.
    pub fn machine(&self) -> Option<&Machine> {
        self.engine.as_ref().map(|e| &e.machine().machine)
    }
}

/// What the simulator's encoder reads from: the log store and the snapshot file.
pub struct SimSource<'a> {
    /// The readable log.
    pub store: &'a MemStore,
    /// The snapshot file, if any.
    pub snap: Option<&'a (SnapshotMeta, Vec<u8>)>,
}

impl EntrySource for SimSource<'_> {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.store.entry(index)
    }

    fn snapshot_chunk(&self, meta: &SnapshotMeta, offset: u64, len: u32) -> Option<&[u8]> {
        let (m, bytes) = self.snap?;
        if m != meta {
            return None;
        }
        let start = usize::try_from(offset).ok()?;
        bytes.get(start..start.checked_add(len as usize)?)
    }
}
