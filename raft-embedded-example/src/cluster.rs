//! The example cluster's configuration and the memory it runs in.
//!
//! Capacities are chosen for a small part (the firmware must fit 64 KiB of RAM with room to
//! spare): three voters, a 32-entry log window, frames of at most [`FRAME_BYTES`] bytes, and a
//! 768-byte ring per node for payloads.

use raft_core::{outputs_needed, Config, HardState, LogIndex, NodeId, RingStore, State, Term};

use crate::board::Board;
use crate::link::{Counter, Inbox, LinkStats, Uplink, FRAME_BYTES, NODES};
use crate::node::{AnswerQueue, RequestQueue};

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
pub type Node = State<NODES, LOG, INFLIGHT>;

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

/// What survives a power cycle: the node's "flash". With `Durability::Inline` each `Persist` is
/// written here before the next output is performed, so everything here is durable.
pub struct Disk {
    /// The last hard state a `Persist` carried.
    pub hard_state: HardState,
    /// The commit index carried by the last `Persist`.
    pub commit: LogIndex,
    /// The log entries after `base`.
    pub log: LogRing,
    /// The index and term the log starts after (moves only if the log is compacted).
    pub base: (LogIndex, Term),
}

impl Disk {
    /// An empty disk over `buf`.
    pub fn new(buf: &'static mut [u8; STORE_BYTES]) -> Disk {
        Disk {
            hard_state: HardState::default(),
            commit: LogIndex::ZERO,
            log: LogRing::new(buf, LogIndex::ZERO),
            base: (LogIndex::ZERO, Term(0)),
        }
    }
}

/// One node's memory: its protocol state (lost in a power cycle and rebuilt from `disk`) and
/// its disk. Lives in a static (`StaticCell`) on the firmware.
pub struct NodeMemory {
    /// The protocol state.
    pub state: Node,
    /// The durable store.
    pub disk: Disk,
}

impl NodeMemory {
    /// A fresh node `k` over an empty disk.
    pub fn new(k: usize, seed: u64, buf: &'static mut [u8; STORE_BYTES]) -> NodeMemory {
        NodeMemory {
            // The configuration is a constant of this example, validated by the host test.
            state: Node::new(config(k, seed), &VOTERS).expect("valid example config"),
            disk: Disk::new(buf),
        }
    }
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
        }
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}
