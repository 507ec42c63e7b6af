//! tikv/raft-rs (crate `raft` 0.7, default features) under the BENCH.md workloads.
//!
//! Each node is a `RawNode<MemStorage>` created with voters [1, 2, 3] and `applied = 0`,
//! logging discarded with `slog::Discard`. Messages are moved through the FIFO queue as structs
//! (their entries are the `Vec`s raft-rs cloned when it built them). The Ready handling follows
//! the order raft-rs' crate docs give (see [`Cluster::handle_ready`]).

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use raft::eraftpb::{Message, MessageType};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};

use crate::counting::Counts;
use crate::{median, payload, Micro, MicroRun, Subject, ThroughputRun, VOTERS};

/// The BENCH.md configuration of node `id`.
pub fn config(id: u64) -> Config {
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 3,
        applied: 0,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 256,
        pre_vote: true,
        check_quorum: true,
        ..Default::default()
    }
}

/// The micro-benchmark configuration: as [`config`] but with heartbeat and election timeouts so
/// high that no tick of a benchmark ever fires (BENCH.md workload 3).
pub fn micro_config(id: u64) -> Config {
    Config {
        election_tick: 1 << 40,
        heartbeat_tick: 1 << 39,
        ..config(id)
    }
}

/// [`config`] with `batch_append: true` (the [`RaftRsBatch`] subject).
pub fn batch_config(id: u64) -> Config {
    Config {
        batch_append: true,
        ..config(id)
    }
}

/// [`micro_config`] with `batch_append: true` (the [`RaftRsBatch`] subject).
pub fn batch_micro_config(id: u64) -> Config {
    Config {
        batch_append: true,
        ..micro_config(id)
    }
}

/// Three raft-rs nodes and the FIFO network between them.
pub struct Cluster {
    /// `nodes[i]` has id `i + 1`.
    pub nodes: Vec<RawNode<MemStorage>>,
    /// The network: every emitted message goes on the back, delivery pops the front.
    pub net: VecDeque<Message>,
    /// Non-empty application entries applied, per node.
    pub applied: [u64; 3],
}

impl Cluster {
    /// A fresh cluster; `cfg` gives the configuration of each node id.
    pub fn new(cfg: fn(u64) -> Config) -> Cluster {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let nodes = VOTERS
            .iter()
            .map(|&id| {
                let c = cfg(id);
                c.validate().expect("valid raft-rs config");
                let store = MemStorage::new_with_conf_state((VOTERS.to_vec(), vec![]));
                RawNode::new(&c, store, &logger).expect("RawNode::new")
            })
            .collect();
        Cluster {
            nodes,
            net: VecDeque::new(),
            applied: [0; 3],
        }
    }

    /// Node 1 campaigns, drive(), and node 1 must lead (BENCH.md "Election", not timed).
    pub fn elect_node1(&mut self) {
        self.nodes[0].campaign().expect("campaign");
        self.drive();
        assert_eq!(self.nodes[0].raft.state, StateRole::Leader, "node 1 leads");
    }

    /// One Ready cycle of node index `i`, in the order of raft-rs' docs: `ready()`; queue
    /// `take_messages()`; apply a snapshot if any; apply `take_committed_entries()`;
    /// `MemStorage::append(entries())`; `set_hardstate` if changed; queue
    /// `take_persisted_messages()`; `advance()` and handle the `LightReady` (commit index into
    /// the hard state, queue its messages, apply its committed entries); `advance_apply()`.
    #[inline]
    pub fn handle_ready(&mut self, i: usize) {
        let Cluster {
            nodes,
            net,
            applied,
        } = self;
        let node = &mut nodes[i];
        let mut rd = node.ready();
        net.extend(rd.take_messages());
        if !rd.snapshot().is_empty() {
            node.mut_store()
                .wl()
                .apply_snapshot(rd.snapshot().clone())
                .expect("apply snapshot");
        }
        applied[i] += count_applied(rd.take_committed_entries());
        if !rd.entries().is_empty() {
            node.mut_store().wl().append(rd.entries()).expect("append");
        }
        if let Some(hs) = rd.hs() {
            node.mut_store().wl().set_hardstate(hs.clone());
        }
        net.extend(rd.take_persisted_messages());
        let mut light = node.advance(rd);
        if let Some(commit) = light.commit_index() {
            node.mut_store().wl().mut_hard_state().set_commit(commit);
        }
        net.extend(light.take_messages());
        applied[i] += count_applied(light.take_committed_entries());
        node.advance_apply();
    }

    /// Steps the front message of the network into its destination; false if the queue is empty.
    #[inline]
    pub fn deliver_one(&mut self) -> bool {
        match self.net.pop_front() {
            Some(m) => {
                let to = m.to as usize;
                // Errors (e.g. a message for a removed peer) cannot occur here; a failure is a
                // harness bug, so stop loudly.
                self.nodes[to - 1].step(m).expect("step");
                true
            }
            None => false,
        }
    }

    /// Rounds until a round does nothing. A round handles one Ready of each node that
    /// `has_ready()`, nodes 1, 2, 3 in order, then delivers every queued message in FIFO order
    /// (raft-rs' `step` only buffers output for the next Ready, so delivery never refills the
    /// queue within a round).
    pub fn drive(&mut self) {
        loop {
            let mut did = false;
            for i in 0..self.nodes.len() {
                if self.nodes[i].has_ready() {
                    self.handle_ready(i);
                    did = true;
                }
            }
            while self.deliver_one() {
                did = true;
            }
            if !did {
                break;
            }
        }
    }

    /// Proposes the 16-byte payload of `seq` on node 1. raft-rs takes the payload as a `Vec`
    /// (one harness allocation per proposal, counted).
    #[inline]
    pub fn propose(&mut self, seq: u64) {
        self.nodes[0]
            .propose(vec![], payload(seq).to_vec())
            .expect("propose");
    }
}

/// Counts the non-empty application entries of a committed batch (the leader's empty entry is
/// not counted); there is no state machine beyond the count.
#[inline]
fn count_applied(entries: Vec<raft::eraftpb::Entry>) -> u64 {
    entries.iter().filter(|e| !e.data.is_empty()).count() as u64
}

/// The micro-benchmark cluster of BENCH.md workload 3: timeouts that never fire, node 1
/// elected, 10 entries committed and applied everywhere, the network empty.
pub fn micro_cluster() -> Cluster {
    micro_cluster_with(micro_config)
}

/// [`micro_cluster`] with the node configurations of `cfg`.
pub fn micro_cluster_with(cfg: fn(u64) -> Config) -> Cluster {
    let mut c = Cluster::new(cfg);
    c.elect_node1();
    for seq in 0..10 {
        c.propose(seq);
    }
    c.drive();
    assert_eq!(c.applied, [10; 3], "10 entries applied everywhere");
    assert!(c.net.is_empty());
    let last = c.nodes[0].raft.raft_log.last_index();
    for n in &c.nodes {
        assert_eq!(n.raft.raft_log.committed, last);
        assert_eq!(n.raft.raft_log.applied, last);
    }
    c
}

/// Follower heartbeat: a heartbeat from the leader at its current term and commit index stepped
/// into node 2, then one full Ready cycle if `has_ready()`, the response dropped.
#[inline(never)]
pub fn raftrs_loop_follower_heartbeat(c: &mut Cluster, ops: u64) {
    follower_heartbeat(c, ops)
}

/// [`raftrs_loop_follower_heartbeat`] under its own symbol, for the [`RaftRsBatch`] subject.
#[inline(never)]
pub fn raftrs_batch_loop_follower_heartbeat(c: &mut Cluster, ops: u64) {
    batch_tag();
    follower_heartbeat(c, ops)
}

/// Keeps the `raftrs_batch_loop_*` functions from being compiled to the same code as their
/// `raftrs_loop_*` twins: rustc merges identical functions into one symbol (aliases at one
/// address), and callgrind would then attribute both to one name, so that
/// `--toggle-collect='*raftrs_batch_loop_*'` never fired. One `black_box` store per call, not
/// per operation.
#[inline(always)]
fn batch_tag() {
    black_box(0x15u8);
}

#[inline(always)]
fn follower_heartbeat(c: &mut Cluster, ops: u64) {
    let term = c.nodes[0].raft.term;
    let commit = c.nodes[0].raft.raft_log.committed;
    for _ in 0..ops {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeat);
        m.from = 1;
        m.to = 2;
        m.term = term;
        m.commit = commit;
        c.nodes[1].step(black_box(m)).expect("step heartbeat");
        if c.nodes[1].has_ready() {
            c.handle_ready(1);
        }
        // Drop the response.
        c.net.clear();
    }
}

/// Leader tick: one tick on node 1; nothing comes due.
#[inline(never)]
pub fn raftrs_loop_leader_tick(c: &mut Cluster, ops: u64) {
    leader_tick(c, ops)
}

/// [`raftrs_loop_leader_tick`] under its own symbol, for the [`RaftRsBatch`] subject.
#[inline(never)]
pub fn raftrs_batch_loop_leader_tick(c: &mut Cluster, ops: u64) {
    batch_tag();
    leader_tick(c, ops)
}

#[inline(always)]
fn leader_tick(c: &mut Cluster, ops: u64) {
    for _ in 0..ops {
        black_box(c.nodes[0].tick());
    }
}

/// Leader append response: a successful append response from node 2 for the leader's last
/// index (already acknowledged), stepped into node 1, its outputs handled.
#[inline(never)]
pub fn raftrs_loop_leader_append_response(c: &mut Cluster, ops: u64) {
    leader_append_response(c, ops)
}

/// [`raftrs_loop_leader_append_response`] under its own symbol, for the [`RaftRsBatch`]
/// subject.
#[inline(never)]
pub fn raftrs_batch_loop_leader_append_response(c: &mut Cluster, ops: u64) {
    batch_tag();
    leader_append_response(c, ops)
}

#[inline(always)]
fn leader_append_response(c: &mut Cluster, ops: u64) {
    let term = c.nodes[0].raft.term;
    let last = c.nodes[0].raft.raft_log.last_index();
    let commit = c.nodes[0].raft.raft_log.committed;
    for _ in 0..ops {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppendResponse);
        m.from = 2;
        m.to = 1;
        m.term = term;
        m.index = last;
        m.commit = commit;
        c.nodes[0].step(black_box(m)).expect("step append response");
        if c.nodes[0].has_ready() {
            c.handle_ready(0);
        }
        c.net.clear();
    }
}

fn run_loop(case: Micro, c: &mut Cluster, ops: u64) {
    match case {
        Micro::FollowerHeartbeat => raftrs_loop_follower_heartbeat(c, ops),
        Micro::LeaderTick => raftrs_loop_leader_tick(c, ops),
        Micro::LeaderAppendResponse => raftrs_loop_leader_append_response(c, ops),
    }
}

fn run_batch_loop(case: Micro, c: &mut Cluster, ops: u64) {
    match case {
        Micro::FollowerHeartbeat => raftrs_batch_loop_follower_heartbeat(c, ops),
        Micro::LeaderTick => raftrs_batch_loop_leader_tick(c, ops),
        Micro::LeaderAppendResponse => raftrs_batch_loop_leader_append_response(c, ops),
    }
}

/// Workload 1 on a cluster of `cfg` nodes (see [`Subject::throughput`]).
#[inline(always)]
fn throughput_with(cfg: fn(u64) -> Config, batch: usize, total: u64) -> ThroughputRun {
    let before_cluster = Counts::now();
    let mut c = Cluster::new(cfg);
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
    assert_eq!(c.applied, [total; 3], "all nodes applied all entries");
    // Resident heap of the nodes: everything allocated since before the cluster was built
    // and still live, less the (empty) network queue's buffer.
    c.net = VecDeque::new();
    let resident_bytes = Counts::now().since(before_cluster).live;
    black_box(&c);
    ThroughputRun {
        elapsed,
        allocs,
        resident_bytes,
        settle_ticks: 0,
    }
}

/// Workload 3 on the micro cluster of `cfg` nodes, loops run by `run` (see [`Subject::micro`]).
fn micro_with(
    cfg: fn(u64) -> Config,
    run: fn(Micro, &mut Cluster, u64),
    case: Micro,
    ops: u64,
    runs: usize,
) -> MicroRun {
    let mut c = micro_cluster_with(cfg);
    run(case, &mut c, ops); // warm-up
    let mut ns = Vec::with_capacity(runs);
    let before = Counts::now();
    for _ in 0..runs {
        let t = Instant::now();
        run(case, &mut c, ops);
        ns.push(t.elapsed().as_nanos() as f64 / ops as f64);
    }
    let allocs = Counts::now().since(before).allocs;
    // `ns` was allocated before `before`; pushes never reallocate (capacity `runs`).
    assert_eq!(
        c.nodes[0].raft.state,
        StateRole::Leader,
        "node 1 still leads"
    );
    MicroRun {
        ns_per_op: median(&mut ns),
        allocs_per_op: allocs as f64 / (ops * runs as u64) as f64,
    }
}

/// raft-rs as a [`Subject`]: BENCH.md's configuration, `batch_append` off (raft-rs' default).
pub struct RaftRs;

impl Subject for RaftRs {
    const NAME: &'static str = "raft-rs";

    fn throughput(batch: usize, total: u64) -> ThroughputRun {
        throughput_with(config, batch, total)
    }

    fn micro(case: Micro, ops: u64, runs: usize) -> MicroRun {
        micro_with(micro_config, run_loop, case, ops, runs)
    }

    fn micro_once(case: Micro, ops: u64) {
        let mut c = micro_cluster();
        run_loop(case, &mut c, ops);
        black_box(&c);
    }

    fn loop_symbol(case: Micro) -> &'static str {
        match case {
            Micro::FollowerHeartbeat => "raftrs_loop_follower_heartbeat",
            Micro::LeaderTick => "raftrs_loop_leader_tick",
            Micro::LeaderAppendResponse => "raftrs_loop_leader_append_response",
        }
    }
}

/// raft-rs as a [`Subject`] with `batch_append: true`, otherwise as [`RaftRs`]. Its callgrind
/// symbols are its own: `<RaftRsBatch as Subject>::throughput` and `raftrs_batch_loop_*`.
pub struct RaftRsBatch;

impl Subject for RaftRsBatch {
    const NAME: &'static str = "raft-rs batch_append";

    fn throughput(batch: usize, total: u64) -> ThroughputRun {
        throughput_with(batch_config, batch, total)
    }

    fn micro(case: Micro, ops: u64, runs: usize) -> MicroRun {
        micro_with(batch_micro_config, run_batch_loop, case, ops, runs)
    }

    fn micro_once(case: Micro, ops: u64) {
        let mut c = micro_cluster_with(batch_micro_config);
        run_batch_loop(case, &mut c, ops);
        black_box(&c);
    }

    fn loop_symbol(case: Micro) -> &'static str {
        match case {
            Micro::FollowerHeartbeat => "raftrs_batch_loop_follower_heartbeat",
            Micro::LeaderTick => "raftrs_batch_loop_leader_tick",
            Micro::LeaderAppendResponse => "raftrs_batch_loop_leader_append_response",
        }
    }
}
