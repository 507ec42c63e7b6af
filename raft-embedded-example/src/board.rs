//! What each node shows the outside world: its role and term, the entries it applied and its
//! state machine. The client reads it to find the leader and to check the run.
//!
//! This is the nodes' volatile RAM as a debugger would see it: a power cycle wipes the node's
//! part (keeping a copy of what it had applied, for the prefix check).

use core::cell::RefCell;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex;
use heapless::Vec;
use raftcore::{LogIndex, NodeId, Role, Term};

use crate::cluster::{self, Node, LOG};
use crate::link::NODES;

/// Most values the client may propose in one run.
pub const MAX_VALUES: usize = 32;

/// One applied log entry, as the checker compares them across nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AppliedEntry {
    /// The entry's term, narrowed to 32 bits to keep the record small (a run sees a handful
    /// of terms; a term beyond `u32::MAX` would read as `u32::MAX`).
    pub term: u32,
    /// The client value it carries; `None` for a leader's empty entry.
    pub value: Option<u32>,
}

/// Why a node stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeError {
    /// The core refused an input the engine stepped (a driver mistake, or the node halted).
    Step(raftcore::StepError),
    /// The log store refused a `Persist` (a driver mistake).
    Store(raftcore::StoreError),
    /// A message could not be encoded into a frame.
    Codec(raftcore::codec::CodecError),
    /// The state could not be rebuilt from the disk after a power cycle.
    Restore(raftcore::ConfigError),
    /// The engine was to apply an entry the store does not hold.
    MissingEntry(LogIndex),
    /// More entries were applied than the record can hold.
    RecordFull,
    /// No log window was free to rebuild the node on after a power cycle (the application
    /// lends one spare; each reboot gives the old window back).
    NoWindow,
    /// A board's journal refused a record (full, or the flash failed).
    Journal(crate::journal::JournalError),
    /// A frame could not be sealed (every counter of this boot used, or too long).
    Seal(crate::seal::SealError),
    /// Every boot epoch is used: the board must not seal again.
    EpochsExhausted,
}

impl From<raftcore::StoreError> for NodeError {
    fn from(e: raftcore::StoreError) -> NodeError {
        NodeError::Store(e)
    }
}

/// One node's visible state.
#[derive(Clone, Debug)]
pub struct NodeView {
    /// True while the node is powered off. (Every field starts at zero, so the board, and the
    /// `Shared` static around it, go in .bss rather than .data: no flash copy, no RAM twice.)
    pub off: bool,
    /// Its role, as of its last step.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// The leader it knows.
    pub leader: Option<NodeId>,
    /// Its commit index.
    pub commit: LogIndex,
    /// Every entry this incarnation applied, in order (entry `i` at position `i - 1`).
    pub applied: Vec<AppliedEntry, LOG>,
    /// The state machine: client values in the order applied, each at most once (a value
    /// proposed twice by a retrying client is applied once: values only go up).
    pub values: Vec<u32, MAX_VALUES>,
    /// Power cycles so far.
    pub restarts: u32,
    /// The error the node stopped on, if it did. (A `Vec` of one, not an `Option`: `None`
    /// would be a non-zero niche byte, which alone moves the whole `Shared` static from .bss
    /// to .data, 11 KB of flash for its initial image.)
    pub error: Vec<NodeError, 1>,
}

impl NodeView {
    const fn new() -> NodeView {
        NodeView {
            off: false,
            role: Role::Follower,
            term: Term(0),
            leader: None,
            commit: LogIndex::ZERO,
            applied: Vec::new(),
            values: Vec::new(),
            restarts: 0,
            error: Vec::new(),
        }
    }
}

/// Everything on the board.
#[derive(Clone, Debug)]
pub struct Views {
    /// Each node's view.
    pub nodes: [NodeView; NODES],
    /// What the last node to be powered off had applied until then.
    pub before_cycle: Vec<AppliedEntry, LOG>,
}

/// The views behind one critical-section mutex (short, non-async sections only).
pub struct Board(Mutex<CriticalSectionRawMutex, RefCell<Views>>);

impl Board {
    /// All nodes powered, nothing applied.
    pub const fn new() -> Board {
        Board(Mutex::new(RefCell::new(Views {
            nodes: [NodeView::new(), NodeView::new(), NodeView::new()],
            before_cycle: Vec::new(),
        })))
    }

    /// Runs `f` on the views. Never call it re-entrantly.
    pub fn with<R>(&self, f: impl FnOnce(&mut Views) -> R) -> R {
        self.0.lock(|views| f(&mut views.borrow_mut()))
    }

    /// Node `k` publishes its state after a step.
    pub fn publish(&self, k: usize, state: &Node) {
        self.with(|v| {
            let v = &mut v.nodes[k];
            v.role = state.role();
            v.term = state.term();
            v.leader = state.leader();
            v.commit = state.commit();
        });
    }

    /// Node `k` applied `entry`; a value above the state machine's last one is applied to it.
    pub fn apply(&self, k: usize, entry: AppliedEntry) -> Result<(), NodeError> {
        self.with(|v| {
            let v = &mut v.nodes[k];
            v.applied.push(entry).map_err(|_| NodeError::RecordFull)?;
            if let Some(value) = entry.value {
                if v.values.last().is_none_or(|&last| value > last) {
                    v.values.push(value).map_err(|_| NodeError::RecordFull)?;
                }
            }
            Ok(())
        })
    }

    /// Node `k` loses power: its volatile state is gone.
    pub fn power_off(&self, k: usize) {
        self.with(|v| {
            let n = &mut v.nodes[k];
            n.off = true;
            n.role = Role::Follower;
            n.leader = None;
            v.before_cycle = core::mem::take(&mut n.applied);
            n.values.clear();
        });
    }

    /// Node `k` is back, rebuilt as `state`.
    pub fn power_on(&self, k: usize, state: &Node) {
        self.with(|v| {
            v.nodes[k].off = false;
            v.nodes[k].restarts += 1;
        });
        self.publish(k, state);
    }

    /// Node `k` stopped on `error`.
    pub fn fail(&self, k: usize, error: NodeError) {
        self.with(|v| {
            // Only the first error is kept: the node stops on it.
            let _ = v.nodes[k].error.push(error);
        });
    }

    /// The powered leader with the highest term, as (index, term).
    pub fn leader(&self) -> Option<(usize, Term)> {
        self.with(|v| {
            (0..NODES)
                .filter(|&k| !v.nodes[k].off && v.nodes[k].role == Role::Leader)
                .map(|k| (k, v.nodes[k].term))
                .max_by_key(|&(_, term)| term)
        })
    }

    /// Whether any node's state machine holds `value` (so it is committed).
    pub fn applied_anywhere(&self, value: u32) -> bool {
        self.with(|v| v.nodes.iter().any(|n| n.values.contains(&value)))
    }

    /// The first node error, if any.
    pub fn error(&self) -> Option<(NodeId, NodeError)> {
        self.with(|v| {
            (0..NODES).find_map(|k| v.nodes[k].error.first().map(|&e| (cluster::id(k), e)))
        })
    }
}

impl Default for Board {
    fn default() -> Board {
        Board::new()
    }
}
