//! The simulated state machine: a hash chain over every applied entry and the list of
//! applied commands, and its [`StateMachine`] seam, which checks State Machine Safety on every
//! entry it applies.

use std::cell::RefCell;
use std::rc::Rc;

use raftcore::codec::EntryRef;
use raftcore::engine::StateMachine;
use raftcore::{EntryKind, LogIndex, Membership, NodeId, SnapshotMeta, SnapshotPoint, Term};

use super::SimError;
use crate::check::Checker;
use crate::store::{chain_of, mix};

/// The state machine: a hash chain over applied commands, plus the list applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// Last applied index.
    pub applied: LogIndex,
    /// Hash over every applied entry: the chain hash of the log prefix up to `applied`
    /// (the same hash the [`MemStore`](crate::MemStore) keeps per entry).
    pub digest: u64,
    /// Every applied non-empty payload, in order, with its index.
    pub log: Vec<(LogIndex, Vec<u8>)>,
    /// The membership as of `applied` (named in snapshots; not in the snapshot bytes).
    pub members: Membership,
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

    /// Applies `entry` at `index`, the next index; returns the chain hash of the prefix.
    pub fn apply(&mut self, index: LogIndex, e: EntryRef<'_>) -> u64 {
        self.applied = index;
        self.digest = chain_of(self.digest, e.term, e.kind, e.data);
        if e.kind == EntryKind::Membership {
            // The core accepted it, so it decodes.
            if let Ok(m) = Membership::decode_entry(e.data, &self.members) {
                self.members = m;
            }
        } else if !e.data.is_empty() {
            self.log.push((index, e.data.to_vec()));
        }
        self.digest
    }
}

/// The checksum the simulator's driver puts on snapshots.
pub fn checksum(bytes: &[u8]) -> u32 {
    let h = mix(0xCBF2_9CE4_8422_2325, bytes);
    (h ^ (h >> 32)) as u32
}

/// The description of a snapshot file holding `bytes`, the state machine captured at `at`.
pub fn snapshot_meta(at: SnapshotPoint, bytes: &[u8]) -> SnapshotMeta {
    at.meta(bytes.len() as u64, checksum(bytes))
}

/// One node's state machine seam: the [`Machine`], checked against the cluster's committed
/// log on every entry it applies, and the entries applied since the driver last looked
/// (which acknowledges clients' writes from them).
pub struct SimMachine {
    /// The state machine.
    pub machine: Machine,
    id: NodeId,
    /// The cluster's checker (`None` for a node alone).
    checker: Option<Rc<RefCell<Checker>>>,
    /// Entries applied and not yet taken by the driver: (index, term).
    pub(crate) applied: Vec<(LogIndex, Term)>,
}

impl SimMachine {
    /// Node `id`'s state machine, starting from `machine`.
    pub fn new(id: NodeId, machine: Machine, checker: Option<Rc<RefCell<Checker>>>) -> Self {
        SimMachine {
            machine,
            id,
            checker,
            applied: Vec::new(),
        }
    }
}

impl StateMachine for SimMachine {
    type Error = SimError;

    /// Applies in order, exactly once, only what the cluster committed (State Machine
    /// Safety, against the checker's committed log).
    fn apply(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), SimError> {
        if index != self.machine.applied.next() {
            return Err(SimError(format!(
                "{}: Apply {index} after {}",
                self.id, self.machine.applied
            )));
        }
        let chain = self.machine.apply(index, entry);
        if let Some(checker) = &self.checker {
            checker
                .borrow()
                .observe_apply(self.id, index, chain)
                .map_err(SimError)?;
        }
        self.applied.push((index, entry.term));
        Ok(())
    }
}
