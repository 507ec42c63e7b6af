//! One simulated node: a `State`, its readable and durable stores, the writes not yet
//! durable, and a state machine that records what it applied.

use std::collections::VecDeque;

use crate::store::{chain_of, MemStore};
use raft_core::codec::{EntryRef, EntrySource};
use raft_core::LogStore;
use raft_core::Membership;
use raft_core::Persist;
use raft_core::SnapshotMeta;
use raft_core::State;
use raft_core::{EntryKind, HardState, LogIndex, NodeId, Term};

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
    pub entries: Vec<(LogIndex, Term, raft_core::EntryKind, Vec<u8>)>,
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
    /// The membership as of `applied` (named in snapshots; not in the snapshot bytes).
    pub members: Membership,
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
    /// The durable snapshot file: its description and bytes.
    pub snap_file: Option<(SnapshotMeta, Vec<u8>)>,
    /// The snapshot being received (the driver's temporary file; lost on a crash).
    pub incoming: Vec<u8>,
    /// Restarts so far.
    pub incarnation: u32,
}

impl Machine {
    /// The snapshot bytes of this state machine.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&self.applied.0.to_le_bytes());
        b.extend_from_slice(&self.digest.to_le_bytes());
        for (i, d) in &self.log {
            b.extend_from_slice(&i.0.to_le_bytes());
            b.extend_from_slice(&(d.len() as u32).to_le_bytes());
            b.extend_from_slice(d);
        }
        b
    }

    /// A state machine from snapshot bytes, `None` if they are malformed.
    pub fn decode(b: &[u8]) -> Option<Machine> {
        let u64_at = |at: usize| {
            b.get(at..at + 8)
                .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
        };
        let mut m = Machine {
            applied: LogIndex(u64_at(0)?),
            digest: u64_at(8)?,
            log: Vec::new(),
            members: Membership::default(),
        };
        let mut at = 16;
        while at < b.len() {
            let i = u64_at(at)?;
            let len = u32::from_le_bytes(b.get(at + 8..at + 12)?.try_into().ok()?) as usize;
            let d = b.get(at + 12..at + 12 + len)?;
            m.log.push((LogIndex(i), d.to_vec()));
            at += 12 + len;
        }
        Some(m)
    }
}

/// The checksum the simulator's driver puts on snapshots.
pub fn checksum(bytes: &[u8]) -> u32 {
    let h = crate::store::mix(0xCBF2_9CE4_8422_2325, bytes);
    (h ^ (h >> 32)) as u32
}

impl<const P: usize, const L: usize, const F: usize> SimNode<P, L, F> {
    /// A node around a fresh state.
    pub fn new(id: NodeId, state: State<P, L, F>) -> Self {
        let machine = Machine {
            members: *state.membership(),
            ..Machine::default()
        };
        SimNode {
            id,
            state: Some(state),
            store: MemStore::default(),
            durable: MemStore::default(),
            durable_hs: HardState::default(),
            durable_commit: LogIndex::ZERO,
            pending: VecDeque::new(),
            snapshot: (machine.clone(), Term(0)),
            machine,
            capture_wanted: false,
            snap_file: None,
            incoming: Vec::new(),
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
        if e.kind == EntryKind::Membership {
            // The core accepted it, so it decodes.
            if let Ok(m) = Membership::decode(&e.data) {
                self.machine.members = m;
            }
        } else if !e.data.is_empty() {
            self.machine.log.push((index, e.data.clone()));
        }
        Some(e.chain)
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
