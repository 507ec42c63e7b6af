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
//! Outputs are performed in order as each step returns them: `Persist` through
//! [`persist_entries`] into the node's [`RingStore`] (the store raft-core ships; its buffer is
//! allocated once before the timed phase) and its hard state into a per-node copy; `Send`
//! encoded by [`codec::encode`] from the sender's store straight into the network's frame
//! arena (one copy of the entry records); `Apply` counted by reading each applied entry from
//! the store. Delivery takes the frame at the front of the FIFO, decodes it with
//! [`codec::decode`] (borrowing the entries from the frame) and steps
//! [`Input::Message`]; the same input is handed to `persist_entries`, so a follower copies
//! the entries from the frame into its store. No `Frame` double decode, no zero-copy
//! shortcut: this is the path a real driver takes.
//!
//! The frame arena is a fixed buffer allocated once per cluster; frames are appended at its
//! tail and it is reset whenever the queue drains (each `drive()` drains it), so the network
//! allocates nothing either.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use raft_core::codec::{self, EntrySource, Header};
use raft_core::{
    outputs_needed, persist_entries, Append, AppendResponse, Config, EntryCount, HardState, Input,
    LogIndex, LogStore, Message, NodeId, Output, Outputs, Proposal, RingStore, Role, State,
};

use crate::counting::Counts;
use crate::{median, payload, Micro, MicroRun, Subject, ThroughputRun};

/// Log window (entries of metadata) of each node; the harness drives compaction.
pub const LOG: usize = 8192;
/// AppendEntries in flight per follower.
pub const INFLIGHT: usize = 256;
/// Output list capacity: the proven per-step bound for 3 voters.
pub const OUT: usize = outputs_needed(3);
/// Bytes of each node's log-store ring: a full window of 27-byte records (221 KB) plus the
/// wrap reserve of one maximal record (65 KB), rounded up.
pub const STORE_BYTES: usize = 1 << 20;
/// Bytes of the network's frame arena (one drive() of the B=1000 workload needs ~0.3 MB).
pub const ARENA_BYTES: usize = 16 << 20;

/// One node's state.
pub type Node = State<3, LOG, INFLIGHT>;
/// One node's log store.
pub type Store<'a> = RingStore<'a, LOG>;

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

/// The FIFO network: frames in an arena, `(to index, start, len)` in a queue.
pub struct Net {
    arena: Box<[u8]>,
    tail: usize,
    queue: VecDeque<(usize, usize, usize)>,
}

impl Net {
    fn new() -> Net {
        Net {
            arena: vec![0u8; ARENA_BYTES].into(),
            tail: 0,
            queue: VecDeque::with_capacity(1 << 16),
        }
    }

    /// Heap bytes of the network (arena and queue buffer).
    pub fn heap_bytes(&self) -> usize {
        self.arena.len() + self.queue.capacity() * std::mem::size_of::<(usize, usize, usize)>()
    }

    /// Drops every queued frame.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.tail = 0;
    }
}

/// What performing one step's outputs changes in the harness (everything but the network).
struct NodeIo<'s, 'a> {
    k: usize,
    store: &'s mut Store<'a>,
    hard: &'s mut HardState,
    applied: &'s mut u64,
}

/// Performs `out` in order for node index `io.k`, whose step consumed `input`. Frames are
/// encoded into `free` (the arena after its tail) and queued as starting at `base`. Returns
/// the bytes written and the index of a wanted capture, if any (the caller reports it with
/// `Input::Captured` once this step's outputs are done).
#[inline]
fn perform(
    io: NodeIo<'_, '_>,
    input: &Input<'_>,
    out: &Outputs<OUT>,
    free: &mut [u8],
    base: usize,
    queue: &mut VecDeque<(usize, usize, usize)>,
) -> (usize, Option<LogIndex>) {
    let mut w = 0;
    let mut capture = None;
    for o in out {
        match o {
            Output::Persist(p) => {
                persist_entries(io.store, p, input).expect("persist");
                if let Some(hs) = p.hard_state {
                    *io.hard = hs;
                }
            }
            Output::Send { to, msg } => {
                let hdr = Header {
                    cluster_id: 0,
                    from: CLUSTER[io.k],
                    to: *to,
                };
                let n = codec::encode(&hdr, msg, &*io.store, &mut free[w..])
                    .expect("encode (arena large enough)");
                queue.push_back(((to.0 - 1) as usize, base + w, n));
                w += n;
            }
            Output::Apply { first, last } => {
                let mut i = *first;
                while i <= *last {
                    let e = io.store.entry(i).expect("applied entry in store");
                    if !e.data.is_empty() {
                        *io.applied += 1;
                    }
                    i = i.next();
                }
            }
            Output::Compact { upto } => io.store.compact_to(*upto),
            Output::CaptureWanted { upto } => capture = Some(*upto),
            // Proposal answers, role changes (and outputs added later, e.g. reads) need
            // nothing from this harness.
            _ => {}
        }
    }
    (w, capture)
}

/// Three raft-core nodes, their stores and the FIFO network between them.
pub struct Cluster<'a> {
    /// `nodes[k]` has id `k + 1`.
    pub nodes: Vec<Box<Node>>,
    /// Each node's log store.
    pub stores: Vec<Box<Store<'a>>>,
    /// Each node's persisted hard state.
    pub hard: [HardState; 3],
    /// The network.
    pub net: Net,
    /// Non-empty application entries applied, per node.
    pub applied: [u64; 3],
    out: Outputs<OUT>,
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
    pub fn new(bufs: &'a mut Buffers, cfg: fn(u64) -> Config) -> Cluster<'a> {
        let nodes = (1..=3u64)
            .map(|id| Box::new(Node::new(cfg(id), &CLUSTER).expect("valid raft-core config")))
            .collect();
        let stores = bufs
            .0
            .iter_mut()
            .map(|b| Box::new(Store::new(&mut b[..], LogIndex::ZERO)))
            .collect();
        Cluster {
            nodes,
            stores,
            hard: [HardState::default(); 3],
            net: Net::new(),
            applied: [0; 3],
            out: Outputs::new(),
            last_1_to_2: None,
            last_2_to_1: None,
            record_templates: false,
        }
    }

    /// Steps `input` into node index `k` and performs its outputs (frames to the network).
    #[inline]
    pub fn step(&mut self, k: usize, input: Input<'_>) {
        let Cluster {
            nodes,
            stores,
            hard,
            net,
            applied,
            out,
            ..
        } = self;
        nodes[k].step(input, out).expect("step");
        let tail = net.tail;
        let io = NodeIo {
            k,
            store: &mut stores[k],
            hard: &mut hard[k],
            applied: &mut applied[k],
        };
        let (w, capture) = perform(
            io,
            &input,
            out,
            &mut net.arena[tail..],
            tail,
            &mut net.queue,
        );
        net.tail += w;
        if let Some(upto) = capture {
            self.step(k, Input::Captured { index: upto });
        }
    }

    /// Delivers the front frame: decode (borrowing), step `Input::Message`, perform the
    /// outputs. False if the queue is empty.
    #[inline]
    pub fn deliver_one(&mut self) -> bool {
        let Cluster {
            nodes,
            stores,
            hard,
            net,
            applied,
            out,
            last_1_to_2,
            last_2_to_1,
            record_templates,
        } = self;
        let Some((k, start, len)) = net.queue.pop_front() else {
            net.tail = 0;
            return false;
        };
        let tail = net.tail;
        let (sent, free) = net.arena.split_at_mut(tail);
        let frame = &sent[start..start + len];
        let (hdr, msg) = codec::decode(frame).expect("decode");
        debug_assert_eq!(hdr.to, CLUSTER[k]);
        if *record_templates {
            match (hdr.from, k, msg) {
                (NodeId(1), 1, Message::Append(a)) => {
                    if let Message::Append(a) =
                        Message::Append(a).map_entries(|e| EntryCount(e.len()))
                    {
                        *last_1_to_2 = Some(a);
                    }
                }
                (NodeId(2), 0, Message::AppendResponse(r)) => *last_2_to_1 = Some(r),
                _ => {}
            }
        }
        let input = Input::Message {
            from: hdr.from,
            msg,
        };
        nodes[k].step(input, out).expect("step");
        let io = NodeIo {
            k,
            store: &mut stores[k],
            hard: &mut hard[k],
            applied: &mut applied[k],
        };
        let (w, capture) = perform(io, &input, out, free, tail, &mut net.queue);
        net.tail += w;
        if let Some(upto) = capture {
            self.step(k, Input::Captured { index: upto });
        }
        true
    }

    /// Rounds until a round does nothing. raft-core performs a node's outputs as its step
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
    }

    /// Node 1 campaigns: raft-core has no campaign input, so node 1 alone is ticked until its
    /// (randomized) election timeout starts a PreVote round; then drive(), and node 1 must lead.
    pub fn elect_node1(&mut self) {
        let mut ticks = 0u64;
        while self.nodes[0].role() == Role::Follower {
            self.step(0, Input::Tick);
            ticks += 1;
            assert!(ticks <= 1 << 27, "node 1 never campaigned");
        }
        self.drive();
        assert_eq!(self.nodes[0].role(), Role::Leader, "node 1 leads");
    }

    /// Proposes the 16-byte payload of `seq` on node 1; it must be accepted.
    #[inline]
    pub fn propose(&mut self, seq: u64) {
        let data = payload(seq);
        self.step(0, Input::Propose { data: &data });
        debug_assert!(self
            .out
            .iter()
            .any(|o| matches!(o, Output::Proposal(Proposal::Accepted { .. }))));
    }

    /// The heartbeat node 1 (the leader) sends a follower whose match index is its last index:
    /// an AppendEntries without entries at the leader's term, commit and current round.
    pub fn leader_heartbeat(&self) -> Message<EntryCount> {
        let leader = &self.nodes[0];
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

    /// Queues `msg` from node index `from` to node index `to`, encoded from the sender's store.
    pub fn inject(&mut self, from: usize, to: usize, msg: &Message<EntryCount>) {
        let tail = self.net.tail;
        let n = encode_into(
            CLUSTER[from],
            CLUSTER[to],
            msg,
            &*self.stores[from],
            &mut self.net.arena[tail..],
        );
        self.net.queue.push_back((to, tail, n));
        self.net.tail += n;
    }

    /// Whether the last step's outputs are empty.
    pub fn last_outputs_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The answer of the last `Propose`, if the last step was one.
    pub fn last_proposal(&self) -> Option<Proposal> {
        self.out.iter().find_map(|o| match o {
            Output::Proposal(p) => Some(*p),
            _ => None,
        })
    }
}

/// The micro-benchmark cluster: timeouts that never fire, node 1 elected, 10 entries committed
/// and applied everywhere, the network empty.
pub fn micro_cluster(bufs: &mut Buffers) -> Cluster<'_> {
    let mut c = Cluster::new(bufs, micro_config);
    c.record_templates = true;
    c.elect_node1();
    for seq in 0..10 {
        c.propose(seq);
        assert!(matches!(c.last_proposal(), Some(Proposal::Accepted { .. })));
    }
    c.drive();
    // One heartbeat round, untimed: these timeouts never bring the leader's next heartbeat, so
    // queue exactly what its next heartbeat tick would send each follower (anchored at its
    // match index, the leader's last index) and drive. A follower whose acknowledgement
    // reached the leader only after the commit learns the last commit from it, and the
    // messages of the micro benchmarks are modelled on this steady-state exchange (node 2's
    // answer to this heartbeat is the append response template).
    for k in 1..3 {
        let hb = c.leader_heartbeat();
        c.inject(0, k, &hb);
    }
    c.drive();
    assert_eq!(c.applied, [10; 3], "10 entries applied everywhere");
    assert!(c.net.queue.is_empty());
    let last = c.nodes[0].last_index();
    for n in &c.nodes {
        assert_eq!(n.commit(), last);
        assert_eq!(n.applied(), last);
    }
    c
}

/// Encodes `msg` from `from` to `to` into `buf` the way a driver sends it (entries, if any,
/// from `store`); returns the frame length.
#[inline(always)]
fn encode_into(
    from: NodeId,
    to: NodeId,
    msg: &Message<EntryCount>,
    store: &impl EntrySource,
    buf: &mut [u8],
) -> usize {
    let hdr = Header {
        cluster_id: 0,
        from,
        to,
    };
    codec::encode(&hdr, msg, store, buf).expect("encode")
}

/// Delivers the frame in `rx` to node index `k` (decode, step, perform) and drops whatever
/// the node sends in answer.
#[inline(always)]
fn deliver_and_drop(c: &mut Cluster<'_>, k: usize, rx: &[u8]) {
    let (hdr, msg) = codec::decode(rx).expect("decode");
    let input = Input::Message {
        from: hdr.from,
        msg,
    };
    let Cluster {
        nodes,
        stores,
        hard,
        net,
        applied,
        out,
        ..
    } = c;
    nodes[k].step(input, out).expect("step");
    let io = NodeIo {
        k,
        store: &mut stores[k],
        hard: &mut hard[k],
        applied: &mut applied[k],
    };
    let (_, capture) = perform(io, &input, out, &mut net.arena[..], 0, &mut net.queue);
    debug_assert!(capture.is_none());
    net.clear(); // the response is dropped
}

/// Follower heartbeat: the leader's heartbeat at its current term and commit index (an
/// AppendEntries with no entries anchored at node 2's match index, the leader's last index),
/// encoded once by the sender into a frame buffer; each operation is node 2's work: decode
/// the frame (borrowing), step, perform the outputs (its response encoded into the frame
/// arena, then dropped).
#[inline(never)]
pub fn raftcore_loop_follower_heartbeat(c: &mut Cluster<'_>, ops: u64) {
    let hb = c.leader_heartbeat();
    let mut rx = [0u8; 256];
    let n = encode_into(NodeId(1), NodeId(2), &hb, &*c.stores[0], &mut rx);
    for _ in 0..ops {
        deliver_and_drop(c, 1, black_box(&rx[..n]));
    }
}

/// Leader tick: one tick on node 1; nothing comes due (no outputs).
#[inline(never)]
pub fn raftcore_loop_leader_tick(c: &mut Cluster<'_>, ops: u64) {
    for _ in 0..ops {
        c.nodes[0]
            .step(black_box(Input::Tick), &mut c.out)
            .expect("tick");
    }
}

/// Leader append response: node 2's successful response for the leader's last index (already
/// acknowledged), encoded once by the sender; each operation is node 1's work: decode,
/// step, perform the outputs.
#[inline(never)]
pub fn raftcore_loop_leader_append_response(c: &mut Cluster<'_>, ops: u64) {
    let leader = &c.nodes[0];
    let last = c.last_2_to_1.expect("node 2 has answered node 1");
    let resp: Message<EntryCount> = Message::AppendResponse(AppendResponse {
        term: leader.term(),
        success: true,
        index: leader.last_index(),
        ..last
    });
    let mut rx = [0u8; 256];
    let n = encode_into(NodeId(2), NodeId(1), &resp, &*c.stores[1], &mut rx);
    for _ in 0..ops {
        deliver_and_drop(c, 0, black_box(&rx[..n]));
    }
}

fn run_loop(case: Micro, c: &mut Cluster<'_>, ops: u64) {
    match case {
        Micro::FollowerHeartbeat => raftcore_loop_follower_heartbeat(c, ops),
        Micro::LeaderTick => raftcore_loop_leader_tick(c, ops),
        Micro::LeaderAppendResponse => raftcore_loop_leader_append_response(c, ops),
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

/// raft-core as a [`Subject`].
pub struct RaftCore;

impl Subject for RaftCore {
    const NAME: &'static str = "raft-core";

    fn throughput(batch: usize, total: u64) -> ThroughputRun {
        let before_cluster = Counts::now();
        let mut bufs = Buffers::new();
        let mut c = Cluster::new(&mut bufs, config);
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
        while c.applied != [total; 3] && settle_ticks < 100 {
            c.step(0, Input::Tick);
            c.drive();
            settle_ticks += 1;
        }
        assert_eq!(c.applied, [total; 3], "all nodes applied all entries");
        for n in &c.nodes {
            assert_eq!(n.stats().proposals_busy, 0);
            assert_eq!(n.stats().output_overflow, 0);
        }
        if total > LOG as u64 {
            for n in &c.nodes {
                assert!(n.first_index().0 > 1, "the harness drove compaction");
            }
        }
        // Resident heap of the nodes: their boxed States, boxed stores and store buffers
        // (everything allocated since before the buffers and still live) less the network.
        let resident = Counts::now().since(before_cluster).live - c.net.heap_bytes() as i64;
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
        let mut c = micro_cluster(&mut bufs);
        run_loop(case, &mut c, ops); // warm-up
        let mut ns = Vec::with_capacity(runs);
        let before = Counts::now();
        for _ in 0..runs {
            let t = Instant::now();
            run_loop(case, &mut c, ops);
            ns.push(t.elapsed().as_nanos() as f64 / ops as f64);
        }
        let allocs = Counts::now().since(before).allocs;
        assert_eq!(c.nodes[0].role(), Role::Leader, "node 1 still leads");
        if case == Micro::LeaderTick {
            assert!(c.last_outputs_empty(), "a leader tick came due");
        }
        MicroRun {
            ns_per_op: median(&mut ns),
            allocs_per_op: allocs as f64 / (ops * runs as u64) as f64,
        }
    }

    fn micro_once(case: Micro, ops: u64) {
        let mut bufs = Buffers::new();
        let mut c = micro_cluster(&mut bufs);
        run_loop(case, &mut c, ops);
        black_box(&c);
    }

    fn loop_symbol(case: Micro) -> &'static str {
        match case {
            Micro::FollowerHeartbeat => "raftcore_loop_follower_heartbeat",
            Micro::LeaderTick => "raftcore_loop_leader_tick",
            Micro::LeaderAppendResponse => "raftcore_loop_leader_append_response",
        }
    }
}
