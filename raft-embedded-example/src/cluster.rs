//! The example cluster's configuration and the memory it runs in.
//!
//! Capacities are chosen for a small part (the firmware must fit 64 KiB of RAM with room to
//! spare): three voters, a 32-entry log window, frames of at most [`FRAME_BYTES`] bytes, and a
//! 768-byte ring per node for payloads. The log windows are lent by the application
//! ([`WindowMemory`], a `static` on the firmware) rather than kept inside each `State`.

use core::cell::RefCell;
use core::fmt;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex;
use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::{NoSnapshots, Storage};
use raftcore::{
    outputs_needed, Config, Engine, HardState, LogIndex, LogSlot, LogStore, NodeId, Restored,
    RingStore, State, StoreError, Term,
};

use crate::board::{Board, NodeError};
use crate::link::{Counter, Inbox, LinkStats, Uplink, FRAME_BYTES, NODES};
use crate::node::{AnswerQueue, Link, Machine, RequestQueue};

/// Entries in each node's log window (16 bytes of metadata each in `State`). Nothing is ever
/// compacted in this example (the state machine is not captured), so the whole run must fit.
pub const LOG: usize = 32;

/// AppendEntries in flight per follower (the pipelining window).
pub const INFLIGHT: usize = 2;

/// Bytes of each node's payload ring.
pub const STORE_BYTES: usize = 768;

/// Capacity of one step's output list: exactly raft-core's proven bound for three voters.
pub const OUTPUTS: usize = outputs_needed(NODES);

/// Frames of another cluster are dropped by the core.
pub const CLUSTER_ID: u32 = 0x0E4B_ED00;

/// One node's protocol state, the very type the UDP driver steps (with its own capacities).
/// Its log window is not inline but a [`Window`] lent from the application's memory, so the
/// `State` a power cycle rebuilds is 496 bytes smaller on thumbv7em (1,552 instead of 2,048).
pub type Node = State<NODES, LOG, INFLIGHT, Window>;

/// Log windows the application lends the nodes: one per node and a spare, so that a node
/// that reboots is rebuilt on the spare while its old `State` (and window) is still alive,
/// and the old window becomes the spare when that `State` is dropped.
pub const WINDOWS: usize = NODES + 1;

/// The memory of the nodes' log windows; the firmware keeps it in a `static` (in `.bss`:
/// [`EMPTY_WINDOWS`] is all zeroes).
pub type WindowMemory = [[LogSlot; LOG]; WINDOWS];

/// [`WindowMemory`] with every slot [`LogSlot::EMPTY`], for a `const` initialiser.
pub const EMPTY_WINDOWS: WindowMemory = [[LogSlot::EMPTY; LOG]; WINDOWS];

/// The log windows not in use by a node's `State` (the spare, and all of them at boot).
pub struct WindowPool(
    Mutex<CriticalSectionRawMutex, RefCell<heapless::Vec<&'static mut [LogSlot], WINDOWS>>>,
);

impl WindowPool {
    /// No windows yet: the application lends them with [`WindowPool::lend`].
    pub const fn new() -> WindowPool {
        WindowPool(Mutex::new(RefCell::new(heapless::Vec::new())))
    }

    /// Hands the windows in `memory` to the pool (once, at boot, before any node is built).
    pub fn lend(&self, memory: &'static mut WindowMemory) {
        for w in memory.iter_mut() {
            self.give(w);
        }
    }

    /// Hands one window of any length to the pool (a board lends its single window this way).
    pub fn lend_slots(&self, slots: &'static mut [LogSlot]) {
        self.give(slots);
    }

    /// A window for a node's `State`, if one is free; it comes back to the pool when that
    /// `State` is dropped.
    pub fn take(&'static self) -> Option<Window> {
        let slots = self.0.lock(|v| v.borrow_mut().pop())?;
        Some(Window { slots, home: self })
    }

    fn give(&self, slots: &'static mut [LogSlot]) {
        // Every window comes from one `WindowMemory` of `WINDOWS`: the pool never overflows.
        let _ = self.0.lock(|v| v.borrow_mut().push(slots));
    }

    /// How many windows are free.
    pub fn free(&self) -> usize {
        self.0.lock(|v| v.borrow().len())
    }
}

impl Default for WindowPool {
    fn default() -> WindowPool {
        WindowPool::new()
    }
}

/// One node's log window (raft-core's `WindowStorage`): `LOG` slots of the application's
/// [`WindowMemory`], given back to their [`WindowPool`] when the `State` holding them is dropped.
pub struct Window {
    slots: &'static mut [LogSlot],
    home: &'static WindowPool,
}

impl AsRef<[LogSlot]> for Window {
    fn as_ref(&self) -> &[LogSlot] {
        self.slots
    }
}

impl AsMut<[LogSlot]> for Window {
    fn as_mut(&mut self) -> &mut [LogSlot] {
        self.slots
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        self.home.give(core::mem::take(&mut self.slots));
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Window({} slots)", self.slots.len())
    }
}

/// The log store: raft-core's byte ring over a static buffer.
pub type LogRing = RingStore<'static, LOG>;

/// The id of node `k` (`0..NODES`): ids start at 1.
pub const fn id(k: usize) -> NodeId {
    NodeId(k as u32 + 1)
}

/// The index of the node with id `id`, if it is one of ours.
pub fn index(id: NodeId) -> Option<usize> {
    (1..=NODES as u32)
        .contains(&id.0)
        .then(|| (id.0 - 1) as usize)
}

/// The voters, in id order.
pub const VOTERS: [NodeId; NODES] = [id(0), id(1), id(2)];

/// The configuration of node `k`. `seed` names the run; each node derives its own.
pub fn config(k: usize, seed: u64) -> Config {
    let mut cfg = Config::new(id(k), seed.wrapping_mul(31).wrapping_add(k as u64));
    cfg.cluster_id = CLUSTER_ID;
    cfg.max_frame_bytes = FRAME_BYTES as u32;
    cfg.max_inflight_msgs = INFLIGHT as u32;
    cfg.max_inflight_bytes = (INFLIGHT * FRAME_BYTES) as u32;
    cfg.max_uncommitted = 8;
    cfg.max_apply = 8;
    cfg.log_bytes = LogRing::budget(STORE_BYTES, cfg.max_payload());
    cfg
}

/// What survives a power cycle: the node's "flash", and the engine's [`Storage`] seam. With
/// `Durability::Inline` the engine writes each `Persist` here before it performs the next
/// output, so everything here is durable (`sync` has nothing to do).
///
/// A wrapper rather than the `RingStore` itself (raft-core makes that a `Storage` too) so that
/// all of the node's seams fail with the node's own [`NodeError`]: the engine gives every seam
/// the storage's error type, and the link can fail with a codec error and the state machine
/// with a full record.
pub struct Disk {
    /// The log entries after `base`, and the hard state and commit index the engine saved
    /// beside them ([`RingStore::hard_state`]; the commit index lets a rebooted node re-apply
    /// what is committed at once, without waiting for the leader).
    pub log: LogRing,
    /// The index and term the log starts after (moves only if the log is compacted).
    pub base: (LogIndex, Term),
}

impl Disk {
    /// An empty disk over `buf`.
    pub fn new(buf: &'static mut [u8; STORE_BYTES]) -> Disk {
        Disk {
            log: LogRing::new(buf, LogIndex::ZERO),
            base: (LogIndex::ZERO, Term(0)),
        }
    }

    /// What a rebooted node reads back. Its state machine was volatile, so it starts from the
    /// log's base again (every committed entry is applied anew).
    pub fn restored(&self) -> Restored {
        let (hard_state, commit) = self.log.hard_state();
        Restored {
            hard_state,
            commit,
            base: self.base,
            applied: self.base.0,
            // No snapshots here: the membership is the initial voters (and the log's changes).
            members: None,
            vote_floor: LogIndex::ZERO,
        }
    }
}

impl EntrySource for Disk {
    #[inline]
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }

    #[inline]
    fn records(&self, first: LogIndex, count: u32) -> Option<&[u8]> {
        self.log.records(first, count)
    }
}

impl LogStore for Disk {
    #[inline]
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        self.log.append(index, entry)
    }

    #[inline]
    fn truncate_from(&mut self, index: LogIndex) {
        self.log.truncate_from(index)
    }

    #[inline]
    fn compact_to(&mut self, upto: LogIndex) {
        self.log.compact_to(upto)
    }

    #[inline]
    fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }
}

/// The log part of each `Persist` is the provided [`Storage::persist`] (raft-core's
/// `persist_entries` on the ring); the hard state and commit index are kept beside it.
impl Storage for Disk {
    type Error = NodeError;

    fn save_hard_state(
        &mut self,
        hard_state: HardState,
        commit: LogIndex,
    ) -> Result<(), NodeError> {
        Ok(self.log.save_hard_state(hard_state, commit)?)
    }

    /// Not reached in this example (the state machine is never captured), but a compacting
    /// driver keeps the base for its restart.
    fn compact(&mut self, upto: LogIndex) -> Result<(), NodeError> {
        if let Some(e) = self.log.entry(upto) {
            self.base = (upto, e.term);
        }
        self.log.compact_to(upto);
        Ok(())
    }
}

/// One node driven through raft-core's engine: its `State` (lost in a power cycle and rebuilt
/// from the disk), its [`Disk`], the [`Link`] its frames leave by, and the [`Machine`] that
/// shows what it applied on the board. No snapshots: nothing is ever compacted, and the window
/// is sized for the whole run. Its output list holds exactly [`OUTPUTS`]. Lives in a static
/// (`StaticCell`) on the firmware.
pub type NodeEngine = Engine<Node, Disk, Link, Machine, NoSnapshots<NodeError>, OUTPUTS>;

/// A fresh node `k` over an empty disk, linked to the others through `shared`, its log window
/// taken from `shared.windows` (lent by the application at boot).
pub fn node(
    k: usize,
    seed: u64,
    buf: &'static mut [u8; STORE_BYTES],
    shared: &'static Shared,
) -> NodeEngine {
    let window = shared.windows.take().expect("a window lent for each node");
    // The configuration is a constant of this example, validated by the host test.
    let state = Node::new_in(config(k, seed), &VOTERS, window).expect("valid example config");
    NodeEngine::with_outputs(
        state,
        Disk::new(buf),
        NoSnapshots::new(),
        Link::new(shared),
        Machine::new(k, &shared.board),
    )
}

/// Everything the tasks share; `const`-constructible so it is a plain static.
pub struct Shared {
    /// Frames from every node to the link task.
    pub uplink: Uplink,
    /// Frames from the link task to each node.
    pub inboxes: [Inbox; NODES],
    /// What the link did to the frames.
    pub link_stats: LinkStats,
    /// Frames that reached a node while it was powered off.
    pub lost_while_off: Counter,
    /// Client requests to each node.
    pub requests: [RequestQueue; NODES],
    /// Nodes' answers to the client.
    pub answers: AnswerQueue,
    /// What each node shows the outside: role, term, applied entries.
    pub board: Board,
    /// The log windows no node holds: lent at boot, one spare afterwards.
    pub windows: WindowPool,
}

impl Shared {
    /// Empty channels, zero counters.
    pub const fn new() -> Shared {
        Shared {
            uplink: Uplink::new(),
            inboxes: [Inbox::new(), Inbox::new(), Inbox::new()],
            link_stats: LinkStats::new(),
            lost_while_off: Counter::new(),
            requests: [
                RequestQueue::new(),
                RequestQueue::new(),
                RequestQueue::new(),
            ],
            answers: AnswerQueue::new(),
            board: Board::new(),
            windows: WindowPool::new(),
        }
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}
