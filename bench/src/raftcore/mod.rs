//! raft-core under the BENCH.md workloads.
//!
//! # Configuration (the equivalent of raft-rs' in [`crate::raftrs`])
//! - election timeout 10 ticks, heartbeat 3 ticks, PreVote and CheckQuorum on
//!   ([`Config::new`]'s defaults, kept);
//! - frames of [`codec::MAX_FRAME_BYTES`] (65,507 bytes, the largest the codec accepts: about
//!   2,400 16-byte entries per AppendEntries, so a batch of 1,000 fits one frame);
//! - an in-flight window of 256 AppendEntries per follower (`INFLIGHT = 256`) and
//!   256 x 65,507 bytes;
//! - **compaction driven by the harness**, over a log window of `LOG` = 8,192 entries: when a
//!   node emits `CaptureWanted { upto }` (its window is three quarters full) the harness
//!   "captures" its state machine (a counter, so nothing to copy) and steps
//!   `Input::Captured { index: upto }` into it at once, performing the resulting `Compact` on
//!   the store. That is the driver loop raft-core is designed for, and it keeps `State` small
//!   (a window large enough for a whole 100,000-entry run makes `State` 2 MB, which overflows
//!   the 8 MB main-thread stack when built by value). Unlike raft-rs' `MemStorage`, a node
//!   therefore does not keep the whole log; the memory rows say so;
//! - the uncommitted cap at 4,096 entries and `max_apply` unbounded, so no limit is hit;
//! - inline durability: the harness performs each `Persist` before the next output, exactly
//!   what an ordered driver does.
//!
//! # Driver
//! Each node is a [`raftcore::Engine`], which performs every step's outputs in the
//! contract's order through the harness's seams: its [`RingStore`] (the store raft-core
//! ships, which keeps the hard state beside the records; its buffer is allocated once before
//! the timed phase) as the log storage, an [`Outbox`] as the transport (frames encoded by
//! `Outgoing::encode` from the sender's store straight into the outbox's arena: one copy of
//! the entry records; or in-process, see [`Transport`]), and a [`Counter`] as the state
//! machine (it reads each applied entry from the store and counts the non-empty ones).
//! Delivery takes the front message of the FIFO, decodes it from the sender's arena with
//! [`codec::decode`] (borrowing the entries from the frame) and steps [`Input::Message`]
//! through the receiver's engine, which hands the same input to the store, so a follower
//! copies the entries from the frame into its store. No `Frame` double decode: this is the
//! path a real driver takes.
//!
//! Compaction: when the engine reports `capture_wanted`, the harness "captures" its counter
//! (nothing to copy) and steps `Input::Captured { index: upto }` through the engine at once.
//! It does not use `Engine::capture`, which reports a snapshot (`SnapshotSaved`) that lets the
//! leader compact past a follower that lags and stream it the snapshot instead; the counter
//! has no snapshot to stream, and compaction stays at what every follower holds, as before.
//!
//! The arenas are fixed buffers allocated once per cluster; messages are appended at an
//! arena's tail and every arena is reset at the end of each `drive()` (when the network has
//! drained). Every message goes once through the network's one FIFO queue, a fixed ring the
//! outboxes share (see [`net`]), so the network allocates nothing either.

mod micro;
mod net;

use std::hint::black_box;
use std::time::Instant;

use raftcore::codec::{self, EntryRef, Header};
use raftcore::engine::{Events, StateMachine};
use raftcore::{
    Append, AppendResponse, Config, Engine, EntryCount, Input, LogIndex, Message, NodeId, Proposal,
    RingStore, Role, State, StoreError,
};

pub use micro::{
    micro_cluster, raftcore_inproc_loop_follower_heartbeat,
    raftcore_inproc_loop_leader_append_response, raftcore_loop_follower_heartbeat,
    raftcore_loop_leader_append_response, raftcore_loop_leader_tick,
};
pub use net::{Net, Outbox, Transport, ARENA_BYTES};

use crate::counting::Counts;
use crate::{median, payload, Micro, MicroRun, Subject, ThroughputRun};

/// Log window (entries of metadata) of each node; the harness drives compaction.
pub const LOG: usize = 8192;
/// AppendEntries in flight per follower.
pub const INFLIGHT: usize = 256;
/// Bytes of each node's log-store ring: a full window of 27-byte records (221 KB) plus the
/// wrap reserve of one maximal record (65 KB), rounded up.
pub const STORE_BYTES: usize = 1 << 20;
/// One node's state.
pub type Node = State<3, LOG, INFLIGHT>;
/// One node's log store.
pub type Store<'a> = RingStore<'a, LOG>;
/// One node: its state driven by the engine over its store, outbox and counter.
pub type NodeEngine<'a> = Engine<Node, Store<'a>, Outbox, Counter>;

/// The state machine: the number of non-empty entries applied.
pub struct Counter(pub u64);

impl StateMachine for Counter {
    type Error = StoreError;

    #[inline]
    fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        if !e.data.is_empty() {
            self.0 += 1;
        }
        Ok(())
    }
}

/// What the harness hears of a step: the answer to a proposal, a capture wanted.
#[derive(Default)]
struct Heard {
    proposal: Option<Proposal>,
    capture: Option<LogIndex>,
}

impl Events for Heard {
    const OBSERVES: bool = false;

    #[inline]
    fn proposal(&mut self, p: Proposal) {
        self.proposal = Some(p);
    }

    #[inline]
    fn capture_wanted(&mut self, upto: LogIndex) {
        self.capture = Some(upto);
    }
}

const CLUSTER: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

/// The BENCH.md configuration of node `id`.
pub fn config(id: u64) -> Config {
    let mut c = Config::new(NodeId(id as u32), 0x5eed_0000 + id);
    c.max_frame_bytes = codec::MAX_FRAME_BYTES;
    c.max_inflight_msgs = INFLIGHT as u32;
    c.max_inflight_bytes = INFLIGHT as u32 * codec::MAX_FRAME_BYTES;
    c.max_uncommitted = (LOG / 2) as u32;
    c.max_apply = u32::MAX;
    c.log_bytes = Store::budget(STORE_BYTES, c.max_payload());
    c
}

/// The micro-benchmark configuration: heartbeat and election timeouts that never fire within
/// a benchmark (2^24 and 2^25 ticks: the 8 x 2,000,000 leader ticks stay below both).
pub fn micro_config(id: u64) -> Config {
    let mut c = config(id);
    c.election_ticks = 1 << 25;
    c.heartbeat_ticks = 1 << 24;
    c
}

/// The heap buffers a cluster's log stores borrow (allocated before the cluster).
pub struct Buffers(Vec<Box<[u8]>>);

impl Buffers {
    /// Three zeroed store buffers of [`STORE_BYTES`].
    pub fn new() -> Buffers {
        Buffers((0..3).map(|_| vec![0u8; STORE_BYTES].into()).collect())
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Three raft-core nodes (engines over their stores, outboxes and counters) and the FIFO
/// network their outboxes queue on.
pub struct Cluster<'a> {
    /// `nodes[k]` has id `k + 1`.
    pub nodes: Vec<Box<NodeEngine<'a>>>,
    /// The network's queue.
    pub net: Net,
    heard: Heard,
    /// The last AppendEntries node 1 sent node 2 and the last answer node 2 sent node 1, as
    /// decoded at the receiver: templates of the micro benchmarks' messages, so that those are
    /// exactly what the protocol sends (fields included that this harness does not name).
    last_1_to_2: Option<Append<EntryCount>>,
    last_2_to_1: Option<AppendResponse>,
    /// Whether deliveries record those templates (the micro benchmarks' setup only, so the
    /// throughput runs do not pay for it).
    record_templates: bool,
}

impl<'a> Cluster<'a> {
    /// A fresh cluster over `bufs`, `cfg` giving each node's configuration.
    pub fn new(bufs: &'a mut Buffers, cfg: fn(u64) -> Config, transport: Transport) -> Cluster<'a> {
        let net = Net::new(transport);
        let nodes = bufs
            .0
            .iter_mut()
            .zip(1..=3u64)
            .map(|(b, id)| {
                let state = Node::new(cfg(id), &CLUSTER).expect("valid raft-core config");
                let store = Store::new(&mut b[..], LogIndex::ZERO);
                let outbox = Outbox::new(&net, id as usize - 1);
                Box::new(Engine::new(state, store, outbox, Counter(0)))
            })
            .collect();
        Cluster {
            nodes,
            net,
            heard: Heard::default(),
            last_1_to_2: None,
            last_2_to_1: None,
            record_templates: false,
        }
    }

    /// Steps `input` into node index `k` through its engine (its messages join the FIFO).
    #[inline]
    pub fn step(&mut self, k: usize, input: Input<'_>) {
        self.nodes[k].step(input, &mut self.heard).expect("step");
        if let Some(upto) = self.heard.capture.take() {
            self.step(k, Input::Captured { index: upto });
        }
    }

    /// Delivers the front message (decoded from its sender's arena, or its descriptor
    /// attached to its body) and steps it through the addressee's engine. False if the queue
    /// is empty.
    #[inline]
    pub fn deliver_one(&mut self) -> bool {
        let Some((pos, q)) = self.net.pop() else {
            return false;
        };
        let (from, to) = (q.from, q.to);
        let (sender, receiver) = sender_and_receiver(&mut self.nodes, from, to);
        let input = net::input(&self.net, pos, &q, sender.transport());
        if self.record_templates {
            record(to, &input, &mut self.last_1_to_2, &mut self.last_2_to_1);
        }
        receiver.step(input, &mut self.heard).expect("step");
        if let Some(upto) = self.heard.capture.take() {
            self.step(to, Input::Captured { index: upto });
        }
        true
    }

    /// Queues `msg` from node index `from` to node index `to` as the harness's own message
    /// (encoded from the sender's store as a step's would be).
    pub fn inject(&mut self, from: usize, to: usize, msg: &Message<EntryCount>) {
        let node = &mut self.nodes[from];
        let mut scratch = vec![0u8; codec::MAX_FRAME_BYTES as usize];
        let (len, desc) = match self.net.transport {
            Transport::Frames => {
                let hdr = Header {
                    cluster_id: 0,
                    from: CLUSTER[from],
                    to: CLUSTER[to],
                };
                let n = codec::encode(&hdr, msg, node.storage(), &mut scratch).expect("encode");
                (n, None)
            }
            Transport::InProcess => {
                let n = codec::encode_body(msg, node.storage(), &mut scratch).expect("body");
                (n, Some(*msg))
            }
        };
        node.transport_mut()
            .inject(CLUSTER[to], &scratch[..len], desc);
    }

    /// Rounds until a round does nothing. The engine performs a node's outputs as its step
    /// returns them, so a round has no pending outputs to handle and consists of delivering
    /// every queued message in FIFO order (including the answers queued meanwhile).
    pub fn drive(&mut self) {
        loop {
            let mut did = false;
            while self.deliver_one() {
                did = true;
            }
            if !did {
                break;
            }
        }
        // Nothing waits: every arena may be written from its start again.
        for n in &mut self.nodes {
            n.transport_mut().reset();
        }
    }

    /// Node 1 campaigns: raft-core has no campaign input, so node 1 alone is ticked until its
    /// (randomized) election timeout starts a PreVote round; then drive(), and node 1 must lead.
    pub fn elect_node1(&mut self) {
        let mut ticks = 0u64;
        while self.nodes[0].state().role() == Role::Follower {
            self.step(0, Input::Tick);
            ticks += 1;
            assert!(ticks <= 1 << 27, "node 1 never campaigned");
        }
        self.drive();
        assert_eq!(self.nodes[0].state().role(), Role::Leader, "node 1 leads");
    }

    /// Proposes the 16-byte payload of `seq` on node 1; it must be accepted.
    #[inline]
    pub fn propose(&mut self, seq: u64) {
        let data = payload(seq);
        self.step(0, Input::Propose { data: &data });
        debug_assert!(matches!(
            self.heard.proposal,
            Some(Proposal::Accepted { .. })
        ));
    }

    /// The heartbeat node 1 (the leader) sends a follower whose match index is its last index:
    /// an AppendEntries without entries at the leader's term, commit and current round.
    pub fn leader_heartbeat(&self) -> Message<EntryCount> {
        let leader = self.nodes[0].state();
        let last = self.last_1_to_2.expect("node 1 has sent node 2 an append");
        Message::Append(Append {
            term: leader.term(),
            prev_index: leader.last_index(),
            prev_term: leader.last_term(),
            commit: leader.commit(),
            floor: leader.commit(),
            entries: EntryCount(0),
            ..last
        })
    }

    /// Non-empty application entries applied, per node.
    pub fn applied(&self) -> [u64; 3] {
        [0, 1, 2].map(|k| self.nodes[k].machine().0)
    }

    /// Heap bytes of the network: the outboxes' arenas and the queue.
    pub fn net_heap_bytes(&self) -> usize {
        self.net.heap_bytes()
            + self
                .nodes
                .iter()
                .map(|n| n.transport().heap_bytes())
                .sum::<usize>()
    }

    /// The answer of the last proposal since the last call, if any.
    pub fn last_proposal(&mut self) -> Option<Proposal> {
        self.heard.proposal.take()
    }
}

/// `nodes[sender]` to read from and `nodes[receiver]` to step (a node never sends to itself).
#[inline(always)]
fn sender_and_receiver<T>(nodes: &mut [T], sender: usize, receiver: usize) -> (&T, &mut T) {
    assert_ne!(sender, receiver, "a node never sends to itself");
    if sender < receiver {
        let (l, r) = nodes.split_at_mut(receiver);
        (&l[sender], &mut r[0])
    } else {
        let (l, r) = nodes.split_at_mut(sender);
        (&r[0], &mut l[receiver])
    }
}

/// Records the micro benchmarks' templates: node 1's AppendEntries to node 2 and node 2's
/// answer to node 1.
fn record(
    k: usize,
    input: &Input<'_>,
    last_1_to_2: &mut Option<Append<EntryCount>>,
    last_2_to_1: &mut Option<AppendResponse>,
) {
    match (k, input) {
        (
            1,
            Input::Message {
                from: NodeId(1),
                msg: Message::Append(a),
            },
        ) => {
            if let Message::Append(a) = Message::Append(*a).map_entries(|e| EntryCount(e.len())) {
                *last_1_to_2 = Some(a);
            }
        }
        (
            0,
            Input::Message {
                from: NodeId(2),
                msg: Message::AppendResponse(r),
            },
        ) => *last_2_to_1 = Some(*r),
        _ => {}
    }
}

/// Bytes the core keeps per log entry: the growth of `State` per window slot.
pub fn state_bytes_per_entry() -> f64 {
    (std::mem::size_of::<State<3, 2048, INFLIGHT>>()
        - std::mem::size_of::<State<3, 1024, INFLIGHT>>()) as f64
        / 1024.0
}

/// Bytes of one node's `State` in this harness (what a by-value step copies).
pub fn state_bytes() -> usize {
    std::mem::size_of::<Node>()
}

/// raft-core as a [`Subject`], its messages carried by frames (`IN_PROCESS = false`: the
/// codec both ways, as a driver sending datagrams) or in-process (`true`: descriptors and
/// bodies, see [`Transport`]).
pub struct RaftCore<const IN_PROCESS: bool>;

/// raft-core over encoded frames.
pub type RaftCoreFrames = RaftCore<false>;
/// raft-core over the in-process path.
pub type RaftCoreInProcess = RaftCore<true>;

impl<const IN_PROCESS: bool> RaftCore<IN_PROCESS> {
    /// The transport of this subject.
    pub const TRANSPORT: Transport = if IN_PROCESS {
        Transport::InProcess
    } else {
        Transport::Frames
    };
}

impl<const IN_PROCESS: bool> Subject for RaftCore<IN_PROCESS> {
    const NAME: &'static str = if IN_PROCESS {
        "raft-core in-process"
    } else {
        "raft-core"
    };

    fn throughput(batch: usize, total: u64) -> ThroughputRun {
        let before_cluster = Counts::now();
        let mut bufs = Buffers::new();
        let mut c = Cluster::new(&mut bufs, config, Self::TRANSPORT);
        c.elect_node1();
        let start_counts = Counts::now();
        let start = Instant::now();
        let mut seq = 0u64;
        while seq < total {
            let end = (seq + batch as u64).min(total);
            while seq < end {
                c.propose(seq);
                seq += 1;
            }
            c.drive();
        }
        let elapsed = start.elapsed();
        let allocs = Counts::now().since(start_counts);
        // BENCH.md checks that all three nodes applied everything right after the last
        // drive(). raft-core anchors a commit-only AppendEntries at the follower's match
        // index, so the follower whose acknowledgement reaches the leader after the commit
        // (node 3, by FIFO order) learns the last commit only from the next heartbeat. Untimed
        // and reported: tick the leader until it has (bounded).
        let mut settle_ticks = 0u64;
        while c.applied() != [total; 3] && settle_ticks < 100 {
            c.step(0, Input::Tick);
            c.drive();
            settle_ticks += 1;
        }
        assert_eq!(c.applied(), [total; 3], "all nodes applied all entries");
        for n in &c.nodes {
            assert_eq!(n.state().stats().proposals_busy, 0);
            assert_eq!(n.state().stats().output_overflow, 0);
        }
        if total > LOG as u64 {
            for n in &c.nodes {
                assert!(
                    n.state().first_index().0 > 1,
                    "the harness drove compaction"
                );
            }
        }
        // Resident heap of the nodes: their boxed States, boxed stores and store buffers
        // (everything allocated since before the buffers and still live) less the network.
        let resident = Counts::now().since(before_cluster).live - c.net_heap_bytes() as i64;
        black_box(&c);
        ThroughputRun {
            elapsed,
            allocs,
            resident_bytes: resident,
            settle_ticks,
        }
    }

    fn micro(case: Micro, ops: u64, runs: usize) -> MicroRun {
        let mut bufs = Buffers::new();
        let mut c = micro_cluster(&mut bufs, Self::TRANSPORT);
        micro::run_loop(case, &mut c, ops); // warm-up
        let mut ns = Vec::with_capacity(runs);
        let before = Counts::now();
        for _ in 0..runs {
            let t = Instant::now();
            micro::run_loop(case, &mut c, ops);
            ns.push(t.elapsed().as_nanos() as f64 / ops as f64);
        }
        let allocs = Counts::now().since(before).allocs;
        assert_eq!(
            c.nodes[0].state().role(),
            Role::Leader,
            "node 1 still leads"
        );
        if case == Micro::LeaderTick {
            assert!(c.nodes[0].transport().is_empty(), "a leader tick came due");
        }
        MicroRun {
            ns_per_op: median(&mut ns),
            allocs_per_op: allocs as f64 / (ops * runs as u64) as f64,
        }
    }

    fn micro_once(case: Micro, ops: u64) {
        let mut bufs = Buffers::new();
        let mut c = micro_cluster(&mut bufs, Self::TRANSPORT);
        micro::run_loop(case, &mut c, ops);
        black_box(&c);
    }

    fn loop_symbol(case: Micro) -> &'static str {
        micro::loop_symbol(case, Self::TRANSPORT)
    }
}
