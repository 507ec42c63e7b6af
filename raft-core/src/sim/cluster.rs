//! The simulated cluster: N nodes, the network, the schedule of actions, the checks.

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::codec::{self, Header};
use crate::config::{Config, Durability};
use crate::input::Input;
use crate::log::store::{persist_entries, LogStore};
use crate::membership::MembershipRefusal;
use crate::message::Message;
use crate::message::SnapshotMeta;
use crate::output::{Output, Proposal};
use crate::rng::Rng;
use crate::sim::check::{Checker, NodeView, Violation};
use crate::sim::network::{Network, Packet};
use crate::sim::node::{checksum, Machine, PendingWrite, SimNode};
use crate::sim::SimRng;
use crate::state::{Restored, State};
use crate::types::{LogIndex, NodeId, Role, Term};

/// Outputs buffer of the simulator (at least `outputs_needed(P)` for every `P` it runs).
type SimOutputs = heapless::Vec<Output, 32>;

/// One thing that happens in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// One tick on a node.
    Tick(u8),
    /// Deliver the i-th frame in flight (any order: reordering).
    Deliver(u16),
    /// Lose the i-th frame in flight.
    Drop(u16),
    /// Duplicate the i-th frame in flight.
    Duplicate(u16),
    /// A client proposes on a node.
    Propose(u8),
    /// The oldest pending write of a node becomes durable (Deferred durability).
    Fsync(u8),
    /// A node crashes: it keeps only what was durable.
    Crash(u8),
    /// A crashed node restarts from what was durable.
    Restart(u8),
    /// The directed links in the mask (bit `from * 8 + to`) are cut; the others heal.
    Partition(u64),
    /// A node's state machine captures its applied state (a snapshot).
    Capture(u8),
    /// A hostile frame arrives at a node (random bytes, maybe a mangled real frame).
    Garbage(u8, u64),
    /// A client starts a linearizable read on a node.
    Read(u8),
    /// A client asks a node (the leader, if it is one) to hand leadership to another.
    Transfer(u8, u8),
    /// An operator asks the leader (if any, and again after every later action until it is
    /// answered) to change the membership of node `.0`: a non-member is added as a learner;
    /// a learner is promoted (`.1` even) or removed; a voter is demoted (`.1 % 3 == 0`) or
    /// removed.
    Member(u8, u8),
    /// A node's clock runs until it acts: ticks until it sends a frame or changes role or
    /// term (an election timeout, a heartbeat), at most `2 * election_ticks` ticks. Lets a
    /// short schedule hold several elections.
    Elapse(u8),
    /// A node crashes and restarts at once from what was durable.
    Reboot(u8),
}

/// Knobs of a simulation.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    /// Nodes in the cluster (at most 8 and at most `P`).
    pub nodes: usize,
    /// The first this many nodes are the initial voters (0: all); the others start outside
    /// the cluster until a membership change adds them.
    pub initial_voters: usize,
    /// When `Persist` counts as durable.
    pub durability: Durability,
    /// Frame size limit.
    pub max_frame_bytes: u32,
    /// In-flight messages per follower.
    pub max_inflight_msgs: u32,
    /// Uncommitted entries cap.
    pub max_uncommitted: u32,
    /// Entries per Apply.
    pub max_apply: u32,
    /// Log store bytes (budget).
    pub log_bytes: u32,
    /// PreVote on.
    pub pre_vote: bool,
    /// CheckQuorum on.
    pub check_quorum: bool,
    /// Election timeout in ticks.
    pub election_ticks: u32,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Every second proposal carries a payload as large as a frame allows, so an
    /// AppendEntries holding one holds nothing after it: batches split at such entries (a
    /// new leader's first append can then carry an older entry without its own empty entry,
    /// the acknowledgement the Figure 8 commit rule is about).
    pub large_proposals: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 3,
            initial_voters: 0,
            durability: Durability::Inline,
            max_frame_bytes: 400,
            max_inflight_msgs: 4,
            max_uncommitted: 16,
            max_apply: 8,
            log_bytes: 64 * 1024,
            pre_vote: true,
            check_quorum: true,
            election_ticks: 10,
            heartbeat_ticks: 3,
            large_proposals: false,
        }
    }
}

/// A write a client saw acknowledged: (index, term, payload).
pub type Acked = (LogIndex, Term, Vec<u8>);

/// N simulated nodes and their network.
pub struct Cluster<const P: usize, const L: usize, const F: usize> {
    /// The nodes, by position (id = position + 1).
    pub nodes: Vec<SimNode<P, L, F>>,
    /// The network.
    pub net: Network,
    /// The invariant checker.
    pub checker: Checker,
    /// The settings.
    pub sim: SimConfig,
    /// Writes accepted by a leader and not yet known applied: (node, index, term, payload).
    pub proposed: Vec<(usize, LogIndex, Term, Vec<u8>)>,
    /// Writes acknowledged to a client (applied on the node that accepted them).
    pub acked: Vec<Acked>,
    /// Reads started and not yet answered, per node: (id, the highest index acknowledged to
    /// any client before the read began).
    pub reads: Vec<Vec<(u64, LogIndex)>>,
    /// Reads answered `Ready` and waiting for the state machine: (upto, index), per node.
    pub ready_reads: Vec<Vec<(u64, LogIndex)>>,
    /// Reads served (each checked against the writes acknowledged before it began).
    pub reads_served: u64,
    /// Snapshots installed on followers through InstallSnapshot.
    pub snapshots_installed: u64,
    /// Membership changes a leader accepted.
    pub membership_changes: u64,
    /// Leaders that stepped down because a committed change removed (or demoted) them.
    pub leaders_removed: u64,
    /// The operator's membership request not yet accepted or refused: it is asked again of
    /// whichever node leads after every action (an operator retrying).
    pub pending_change: Option<(usize, u8)>,
    next_read: u64,
    /// A hash of every output of every step, in order (determinism).
    pub trace: u64,
    /// Print role changes, commits and failovers as they happen.
    pub verbose: bool,
    next_value: u64,
    seed: u64,
}

impl<const P: usize, const L: usize, const F: usize> Cluster<P, L, F> {
    /// A fresh cluster; every node seeded from `seed`.
    pub fn new(sim: SimConfig, seed: u64) -> Result<Self, String> {
        let all: Vec<NodeId> = (1..=sim.nodes as u32).map(NodeId).collect();
        let ids = Self::initial(&sim);
        let mut nodes = Vec::new();
        for &id in &all {
            let state =
                State::new(Self::node_config(&sim, id, seed), &ids).map_err(|e| format!("{e}"))?;
            nodes.push(SimNode::new(id, state));
        }
        Ok(Cluster {
            nodes,
            net: Network::default(),
            checker: Checker::with_voters(sim.nodes, &ids),
            sim,
            proposed: Vec::new(),
            acked: Vec::new(),
            reads: std::vec![Vec::new(); sim.nodes],
            ready_reads: std::vec![Vec::new(); sim.nodes],
            reads_served: 0,
            snapshots_installed: 0,
            membership_changes: 0,
            leaders_removed: 0,
            pending_change: None,
            next_read: 0,
            trace: 0,
            verbose: false,
            next_value: 0,
            seed,
        })
    }

    fn node_config(sim: &SimConfig, id: NodeId, seed: u64) -> Config {
        let mut c = Config::new(id, seed.wrapping_mul(31).wrapping_add(u64::from(id.0)));
        c.durability = sim.durability;
        c.max_frame_bytes = sim.max_frame_bytes;
        c.max_inflight_msgs = sim.max_inflight_msgs;
        c.max_inflight_bytes = sim.max_frame_bytes * sim.max_inflight_msgs;
        c.max_uncommitted = sim.max_uncommitted;
        c.max_apply = sim.max_apply;
        c.log_bytes = sim.log_bytes;
        c.pre_vote = sim.pre_vote;
        c.check_quorum = sim.check_quorum;
        c.election_ticks = sim.election_ticks;
        c.heartbeat_ticks = sim.heartbeat_ticks;
        c
    }

    /// The initial voters.
    fn initial(sim: &SimConfig) -> Vec<NodeId> {
        let n = match sim.initial_voters {
            0 => sim.nodes,
            v => v.min(sim.nodes),
        };
        (1..=n as u32).map(NodeId).collect()
    }

    fn durable_stores(&self) -> Vec<(NodeId, &crate::sim::store::MemStore)> {
        self.nodes.iter().map(|n| (n.id, &n.durable)).collect()
    }

    /// Whether node `k` is a member of the configuration of the leader (or, without a
    /// leader, of the committed configuration).
    pub fn is_member(&self, k: usize) -> bool {
        let conf = match self.leader().and_then(|l| self.nodes[l].state.as_ref()) {
            Some(s) => *s.membership(),
            None => self.checker.committed_membership(),
        };
        conf.kind_of(self.nodes[k].id).is_some()
    }

    /// Asks the leader to change node `target`'s membership (`op % 3`: learner, voter,
    /// remove).
    pub fn change_member(&mut self, target: usize, op: u8) -> Result<(), Violation> {
        let Some(l) = self.leader() else {
            return Ok(());
        };
        let Some(s) = self.nodes[l].state.as_ref() else {
            return Ok(());
        };
        let id = self.nodes[target].id;
        let m = *s.membership();
        let next = match m.kind_of(id) {
            None => m.with_learner(id),
            Some(crate::MemberKind::Learner) if op % 2 == 0 => m.with_voter(id),
            Some(crate::MemberKind::Voter) if op % 3 == 0 => m.with_learner(id),
            Some(_) => Ok(m.without(id)),
        };
        let Ok(next) = next else {
            self.pending_change = None;
            return Ok(());
        };
        let mut buf = [0u8; crate::membership::MEMBERSHIP_BYTES];
        let data = next.encode(&mut buf).to_vec();
        if self.verbose {
            std::println!("  membership change asked: {:?}", next);
        }
        self.step_node(l, Input::ChangeMembership { data: &data })
    }

    /// The current leader with the highest term, if any node is leader.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter_map(|k| self.nodes[k].state.as_ref().map(|s| (k, s)))
            .filter(|(_, s)| s.role() == Role::Leader)
            .max_by_key(|(_, s)| s.term())
            .map(|(k, _)| k)
    }

    /// Performs one action and checks every invariant.
    pub fn act(&mut self, a: Action) -> Result<(), Violation> {
        let n = self.nodes.len();
        match a {
            Action::Tick(k) => self.step_node(k as usize % n, Input::Tick)?,
            Action::Deliver(i) => {
                if let Some(p) = self.net.take(i as usize) {
                    self.step_node(p.to, Input::Frame(&p.frame))?;
                }
            }
            Action::Drop(i) => self.net.drop_one(i as usize),
            Action::Duplicate(i) => self.net.duplicate(i as usize),
            Action::Propose(k) => {
                self.next_value += 1;
                let mut data = self.next_value.to_le_bytes().to_vec();
                data.extend_from_slice(&[k; 4]);
                if self.sim.large_proposals && self.next_value % 2 == 0 {
                    data.resize(codec::max_payload(self.sim.max_frame_bytes) as usize, k);
                }
                self.step_node(k as usize % n, Input::Propose { data: &data })?;
            }
            Action::Fsync(k) => self.fsync(k as usize % n, 1)?,
            Action::Crash(k) => self.crash(k as usize % n),
            Action::Restart(k) => self.restart(k as usize % n)?,
            Action::Partition(mask) => self.net.cut = mask,
            Action::Capture(k) => self.capture(k as usize % n)?,
            Action::Read(k) => {
                let k = k as usize % n;
                if self.nodes[k].state.is_some() {
                    self.next_read += 1;
                    let floor = self.acked.iter().map(|a| a.0).max().unwrap_or_default();
                    self.reads[k].push((self.next_read, floor));
                    self.step_node(k, Input::Read { id: self.next_read })?;
                }
            }
            Action::Transfer(k, to) => {
                let to = self.nodes[to as usize % n].id;
                self.step_node(k as usize % n, Input::TransferLeader { to })?;
            }
            Action::Garbage(k, bits) => {
                let frame = self.garbage(k as usize % n, bits);
                self.step_node(k as usize % n, Input::Frame(&frame))?;
            }
            Action::Member(k, op) => self.pending_change = Some((k as usize % n, op)),
            Action::Elapse(k) => self.elapse(k as usize % n)?,
            Action::Reboot(k) => {
                self.crash(k as usize % n);
                self.restart(k as usize % n)?;
            }
        }
        if let Some((target, op)) = self.pending_change {
            self.change_member(target, op)?;
        }
        self.checker.check_durable_quorum(&self.durable_stores())
    }

    /// A hostile frame that Raft's fault model lets reach the core: random bytes (which do not
    /// decode, or decode as another cluster's), a truncated real frame, or a real frame re-sent
    /// as if from an unknown node, another cluster, or to the wrong node. Forged frames that
    /// pass as a member's are outside the model (the transport authenticates peers); the
    /// single-node hostile-input test feeds those.
    fn garbage(&mut self, to: usize, bits: u64) -> Vec<u8> {
        let mut rng = Rng::new(bits);
        let real = (!self.net.packets.is_empty()).then(|| {
            self.net.packets[(bits as usize >> 8) % self.net.packets.len()]
                .frame
                .clone()
        });
        match (bits % 4, real) {
            (0, Some(f)) => {
                let cut = rng.in_range(0, f.len() as u32) as usize;
                f[..cut].to_vec()
            }
            (1, Some(f)) => {
                let mut buf = std::vec![0u8; f.len() + 16];
                let Ok((mut h, m)) = codec::decode(&f) else {
                    return f;
                };
                // (An append or snapshot chunk is taken from an unknown leader, so only other
                // messages are relabelled as from an unknown node.)
                let leads = matches!(m, Message::Append(_) | Message::Snapshot(_));
                match rng.in_range(0, 3) {
                    0 if !leads => h.from = NodeId(99),
                    0 => h.cluster_id = 1 + rng.in_range(0, 1000),
                    1 => h.cluster_id = 1 + rng.in_range(0, 1000),
                    // Addressed to anyone but the receiver: the core must drop it.
                    _ if h.to.0 == to as u32 + 1 => h.to = NodeId(98),
                    _ => {}
                }
                let n = codec::encode_wire(&h, &m, &mut buf).unwrap_or(0);
                buf.truncate(n);
                buf
            }
            _ => {
                let len = rng.in_range(0, 64) as usize;
                let mut f: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                if let Some(b) = f.get_mut(1) {
                    // Never cluster 0: if these bytes decode, they are another cluster's.
                    *b |= 1;
                }
                if let Some(b) = f.first_mut() {
                    *b = codec::VERSION;
                }
                f
            }
        }
    }

    /// Steps node `k` with `input` (if it is up) and performs its outputs in order.
    pub fn step_node(&mut self, k: usize, input: Input<'_>) -> Result<(), Violation> {
        let Some(state) = self.nodes[k].state.as_mut() else {
            return Ok(());
        };
        let was_leader = state.role() == Role::Leader;
        let mut out = SimOutputs::new();
        if let Err(e) = state.step_view(input, out.as_mut_view()) {
            return Err(format!("n{}: driver error {e} on {input:?}", k + 1));
        }
        if state.stats().output_overflow > 0 {
            return Err(format!("n{}: outputs overflowed", k + 1));
        }
        let voter = state.membership().kind_of(state.id()) == Some(crate::MemberKind::Voter);
        if was_leader && state.role() != Role::Leader && !voter {
            self.leaders_removed += 1;
        }
        self.checker.steps += 1;
        for o in out.iter() {
            self.trace = crate::sim::store::mix(self.trace, format!("{k}{o:?}").as_bytes());
        }
        self.perform(k, input, &out)
    }

    fn perform(&mut self, k: usize, input: Input<'_>, out: &SimOutputs) -> Result<(), Violation> {
        let mut observed = false;
        let mut installed = None;
        let mut flushed = None;
        for o in out.iter() {
            if !observed && !matches!(o, Output::Persist(_)) {
                self.observe(k)?;
                observed = true;
            }
            match o {
                Output::Persist(p) => self.perform_persist(k, p, &input)?,
                Output::Send { to, msg } => self.perform_send(k, *to, msg)?,
                Output::Apply { first, last } => {
                    let mut i = *first;
                    while i <= *last {
                        let node = &mut self.nodes[k];
                        if i != node.machine.applied.next() {
                            return Err(format!(
                                "n{}: Apply {i} after {}",
                                k + 1,
                                node.machine.applied
                            ));
                        }
                        let chain = node
                            .apply(i)
                            .ok_or_else(|| format!("n{}: Apply {i} not in store", k + 1))?;
                        self.checker.observe_apply(node.id, i, chain)?;
                        self.ack_applied(k, i);
                        i = i.next();
                    }
                }
                Output::Proposal(Proposal::Accepted { index, term }) => match input {
                    Input::Propose { data } => {
                        self.proposed.push((k, *index, *term, data.to_vec()))
                    }
                    Input::ChangeMembership { .. } => {
                        self.membership_changes += 1;
                        self.pending_change = None;
                    }
                    _ => {}
                },
                // A learner still catching up is promoted on a later try.
                Output::Proposal(Proposal::Refused(r)) if *r != MembershipRefusal::NotCaughtUp => {
                    self.pending_change = None
                }
                Output::Proposal(_) => {}
                Output::RoleChanged { role, term, leader } => {
                    if self.verbose {
                        match leader {
                            Some(l) if *role == Role::Follower => {
                                std::println!("  n{} follows {l} in {term}", k + 1)
                            }
                            _ => std::println!("  n{} is {role} in {term}", k + 1),
                        }
                    }
                }
                Output::Compact { upto } => {
                    let node = &mut self.nodes[k];
                    if *upto > node.snapshot.0.applied {
                        return Err(format!("n{}: Compact {upto} beyond its capture", k + 1));
                    }
                    node.store.compact_to(*upto);
                    node.durable.compact_to(*upto);
                }
                Output::CaptureWanted { .. } => self.nodes[k].capture_wanted = true,
                Output::SnapshotChunk { meta, offset, len } => {
                    let data = input
                        .snapshot_data()
                        .ok_or("SnapshotChunk without chunk data")?;
                    let node = &mut self.nodes[k];
                    if *offset == 0 {
                        node.incoming.clear();
                    }
                    if data.len() != *len as usize || *offset != node.incoming.len() as u64 {
                        return Err(format!(
                            "n{}: chunk {offset}+{len} of {meta:?} out of order",
                            k + 1
                        ));
                    }
                    node.incoming.extend_from_slice(data);
                }
                Output::InstallSnapshot { meta } => {
                    // The install is ordered after every earlier `Persist` (the output
                    // contract): a driver writing one log stream, as the std driver's WAL
                    // does, makes them durable no later than the snapshot. So the writes
                    // still pending land first (reported below), then the reset.
                    flushed = self.flush_pending(k)?.or(flushed);
                    installed = Some(self.install(k, *meta)?);
                }
                Output::Read(crate::output::ReadResult::Ready { upto, index }) => {
                    self.ready_reads[k].push((*upto, *index));
                }
                Output::Read(crate::output::ReadResult::Failed { upto, .. }) => {
                    self.reads[k].retain(|r| r.0 > *upto);
                }
            }
        }
        if !observed {
            self.observe(k)?;
        }
        self.serve_reads(k)?;
        if let Some(seq) = flushed {
            self.step_node(k, Input::Persisted { seq })?;
        }
        match installed {
            Some((meta, ok)) => self.step_node(k, Input::SnapshotInstalled { meta, ok }),
            None => Ok(()),
        }
    }

    /// Makes every pending write of node `k` durable, in order, without reporting it; the
    /// sequence number of the last one, if any.
    fn flush_pending(&mut self, k: usize) -> Result<Option<u64>, Violation> {
        let pending: Vec<PendingWrite> = self.nodes[k].pending.drain(..).collect();
        for w in &pending {
            for (i, t, c) in self.nodes[k].make_durable(w) {
                self.checker.observe_entry(i, t, c)?;
            }
        }
        Ok(pending.last().map(|w| w.seq))
    }

    /// The driver's side of `InstallSnapshot`: verify, make durable, load, reset the log.
    fn install(&mut self, k: usize, meta: SnapshotMeta) -> Result<(SnapshotMeta, bool), Violation> {
        let chain = self.checker.committed_chain(meta.index);
        let node = &mut self.nodes[k];
        let bytes = core::mem::take(&mut node.incoming);
        let machine = match Machine::decode(&bytes) {
            Some(m) if checksum(&bytes) == meta.checksum && bytes.len() as u64 == meta.len => m,
            _ => return Ok((meta, false)),
        };
        let chain = chain.ok_or_else(|| {
            format!(
                "n{}: snapshot at {} beyond the committed log",
                k + 1,
                meta.index
            )
        })?;
        if machine.applied != meta.index {
            return Err(format!(
                "n{}: snapshot {meta:?} holds a machine at {}",
                k + 1,
                machine.applied
            ));
        }
        let machine = Machine {
            members: meta.members,
            ..machine
        };
        node.machine = machine.clone();
        node.snapshot = (machine, meta.term);
        node.snap_file = Some((meta, bytes));
        self.snapshots_installed += 1;
        for store in [&mut node.store, &mut node.durable] {
            if store.term(meta.index) == Some(meta.term) {
                store.rebase(meta.index);
            } else {
                store.reset(meta.index, meta.term, chain);
            }
        }
        Ok((meta, true))
    }

    /// Serves every read whose read index the state machine has reached, checking it sees
    /// every write acknowledged before it began (linearizable reads).
    fn serve_reads(&mut self, k: usize) -> Result<(), Violation> {
        let applied = self.nodes[k].machine.applied;
        let ready = core::mem::take(&mut self.ready_reads[k]);
        for (upto, index) in ready {
            if index > applied {
                self.ready_reads[k].push((upto, index));
                continue;
            }
            let mut i = 0;
            while i < self.reads[k].len() {
                let (id, floor) = self.reads[k][i];
                if id > upto {
                    i += 1;
                    continue;
                }
                if applied < floor {
                    return Err(format!(
                        "n{}: read {id} served at {applied}, older than write {floor} acknowledged before it began",
                        k + 1
                    ));
                }
                self.reads_served += 1;
                self.reads[k].swap_remove(i);
            }
        }
        Ok(())
    }

    fn observe(&mut self, k: usize) -> Result<(), Violation> {
        let node = &self.nodes[k];
        let Some(s) = node.state.as_ref() else {
            return Ok(());
        };
        let v = NodeView {
            pos: k,
            id: node.id,
            incarnation: node.incarnation,
            role: s.role(),
            term: s.term(),
            commit: s.commit(),
            store: &node.store,
        };
        if s.commit() > s.last_index() || s.applied() > s.commit() {
            return Err(format!("n{}: commit/applied beyond the log", k + 1));
        }
        self.checker.observe_node(&v)
    }

    fn perform_persist(
        &mut self,
        k: usize,
        p: &crate::output::Persist,
        input: &Input<'_>,
    ) -> Result<(), Violation> {
        let node = &mut self.nodes[k];
        let leader = node
            .state
            .as_ref()
            .is_some_and(|s| s.role() == Role::Leader);
        if leader && p.truncate_from.is_some() {
            return Err(format!(
                "Leader Append-Only: leader n{} truncates its log",
                k + 1
            ));
        }
        persist_entries(&mut node.store, p, input)
            .map_err(|e| format!("n{}: persist: {e}", k + 1))?;
        if let Some(n) = p.entries {
            for j in 0..u64::from(n.count) {
                let i = n.first.plus(j);
                let e = node.store.get(i).ok_or("persisted entry missing")?;
                self.checker.observe_entry(i, e.term, e.chain)?;
            }
        }
        let w = node.record_write(p);
        match self.sim.durability {
            Durability::Inline => {
                for (i, t, c) in node.make_durable(&w) {
                    self.checker.observe_entry(i, t, c)?;
                }
            }
            Durability::Deferred => node.pending.push_back(w),
        }
        Ok(())
    }

    /// Checks nothing is acknowledged before it is durable, then encodes and sends.
    fn perform_send(
        &mut self,
        k: usize,
        to: NodeId,
        msg: &Message<crate::message::EntryCount>,
    ) -> Result<(), Violation> {
        let node = &self.nodes[k];
        match msg {
            Message::VoteResponse(r) if r.granted => {
                let hs = node.durable_hs;
                if hs.term != r.term || hs.vote != Some(to) {
                    return Err(format!(
                        "n{}: vote for {to} in {} sent before it was durable",
                        k + 1,
                        r.term
                    ));
                }
            }
            Message::AppendResponse(r) if r.success => {
                let d = &node.durable;
                let ok = r.index <= d.base()
                    || (d.last_index() >= r.index && d.chain(r.index) == node.store.chain(r.index));
                if !ok || node.durable_hs.term < r.term {
                    return Err(format!(
                        "n{}: acknowledged {} before it was durable",
                        k + 1,
                        r.index
                    ));
                }
            }
            _ => {}
        }
        let Some(to_pos) = self.nodes.iter().position(|n| n.id == to) else {
            // An answer to a hostile frame from an unknown sender (a node outside its
            // configuration takes appends from any leader): nobody receives it.
            return Ok(());
        };
        let hdr = Header {
            cluster_id: 0,
            from: node.id,
            to,
        };
        let mut buf = std::vec![0u8; self.sim.max_frame_bytes as usize];
        let src = crate::sim::node::SimSource {
            store: &node.store,
            snap: node.snap_file.as_ref(),
        };
        let n = codec::encode(&hdr, msg, &src, &mut buf)
            .map_err(|e| format!("n{}: encode {msg:?}: {e}", k + 1))?;
        buf.truncate(n);
        self.net.send(Packet {
            from: k,
            to: to_pos,
            frame: buf,
        });
        Ok(())
    }

    fn ack_applied(&mut self, k: usize, i: LogIndex) {
        let Some(pos) = self.proposed.iter().position(|p| p.0 == k && p.1 == i) else {
            return;
        };
        let (_, index, term, data) = self.proposed.swap_remove(pos);
        if self.nodes[k].store.term(index) == Some(term) {
            if self.verbose {
                std::println!(
                    "  n{} committed entry {index} ({} bytes)",
                    k + 1,
                    data.len()
                );
            }
            self.acked.push((index, term, data));
        }
    }

    /// Makes the oldest `count` pending writes of node `k` durable and reports them.
    pub fn fsync(&mut self, k: usize, count: usize) -> Result<(), Violation> {
        let mut last = None;
        for _ in 0..count {
            let Some(w) = self.nodes[k].pending.pop_front() else {
                break;
            };
            for (i, t, c) in self.nodes[k].make_durable(&w) {
                self.checker.observe_entry(i, t, c)?;
            }
            last = Some(w.seq);
        }
        match last {
            Some(seq) => self.step_node(k, Input::Persisted { seq }),
            None => Ok(()),
        }
    }

    /// Ticks node `k` until it sends a frame or changes role or term, at most
    /// `2 * election_ticks` ticks (its longest election timeout).
    pub fn elapse(&mut self, k: usize) -> Result<(), Violation> {
        let look = |c: &Self| {
            c.nodes[k]
                .state
                .as_ref()
                .map(|s| (s.role(), s.term(), c.net.packets.len()))
        };
        let Some(before) = look(self) else {
            return Ok(());
        };
        for _ in 0..2 * self.sim.election_ticks {
            self.step_node(k, Input::Tick)?;
            if look(self) != Some(before) {
                break;
            }
        }
        Ok(())
    }

    /// Crashes node `k`: only durable state survives.
    pub fn crash(&mut self, k: usize) {
        let node = &mut self.nodes[k];
        if node.state.take().is_some() {
            node.pending.clear();
            node.store = node.durable.clone();
            node.machine = node.snapshot.0.clone();
            node.incoming.clear();
            node.capture_wanted = false;
            self.proposed.retain(|p| p.0 != k);
            self.reads[k].clear();
            self.ready_reads[k].clear();
            if self.verbose {
                std::println!("  n{} crashed", k + 1);
            }
        }
    }

    /// Restarts a crashed node from its durable hard state, log and snapshot.
    pub fn restart(&mut self, k: usize) -> Result<(), Violation> {
        if self.nodes[k].state.is_some() {
            return Ok(());
        }
        let ids = Self::initial(&self.sim);
        let node = &mut self.nodes[k];
        node.incarnation += 1;
        let cfg = Self::node_config(
            &self.sim,
            node.id,
            self.seed.wrapping_add(u64::from(node.incarnation)),
        );
        let restored = Restored {
            hard_state: node.durable_hs,
            commit: node.durable_commit,
            base: (node.durable.base(), node.durable.base_term()),
            applied: node.snapshot.0.applied,
            // The snapshot's membership (as of its index, which covers the log's base).
            members: node.snap_file.as_ref().map(|f| f.0.members),
        };
        let s = State::restore(cfg, &ids, restored, &node.durable)
            .map_err(|e| format!("n{}: restore: {e}", k + 1))?;
        node.state = Some(s);
        if self.verbose {
            std::println!("  n{} restarted", k + 1);
        }
        match self.nodes[k].snap_file.as_ref().map(|f| f.0) {
            Some(meta) => self.step_node(k, Input::SnapshotSaved { meta }),
            None => Ok(()),
        }
    }

    /// Node `k` captures its state machine durably and tells the core.
    pub fn capture(&mut self, k: usize) -> Result<(), Violation> {
        let node = &mut self.nodes[k];
        if node.state.is_none() || node.machine.applied <= node.snapshot.0.applied {
            return Ok(());
        }
        let at = node.machine.applied;
        let term = node
            .store
            .term(at)
            .ok_or("capture of an entry not in the store")?;
        node.snapshot = (node.machine.clone(), term);
        node.capture_wanted = false;
        let bytes = node.machine.encode();
        let meta = SnapshotMeta {
            index: at,
            term,
            len: bytes.len() as u64,
            checksum: checksum(&bytes),
            members: node.machine.members,
        };
        node.snap_file = Some((meta, bytes));
        self.step_node(k, Input::SnapshotSaved { meta })
    }

    /// Draws the next action of a random schedule.
    pub fn random_action(&self, rng: &mut SimRng, faults: bool) -> Action {
        let n = self.nodes.len() as u32;
        let node = rng.in_range(0, n) as u8;
        let r = rng.in_range(0, 1000);
        let idx = rng.in_range(0, 1 << 16) as u16;
        match r {
            0..=279 => Action::Tick(node),
            280..=559 => Action::Deliver(idx),
            560..=649 => Action::Propose(node),
            650..=739 => Action::Fsync(node),
            740..=769 => Action::Capture(node),
            770..=799 => Action::Read(node),
            800..=809 => Action::Member(node, rng.in_range(0, 3) as u8),
            810..=814 => Action::Transfer(node, rng.in_range(0, n) as u8),
            _ if !faults => Action::Deliver(idx),
            815..=869 => Action::Drop(idx),
            870..=909 => Action::Duplicate(idx),
            910..=929 => Action::Crash(node),
            930..=959 => Action::Restart(node),
            960..=974 => {
                // A random asymmetric cut among the nodes, or a clean split.
                let mut mask = 0u64;
                for from in 0..n as usize {
                    for to in 0..n as usize {
                        if from != to && rng.in_range(0, 4) == 0 {
                            mask |= 1 << (from * 8 + to);
                        }
                    }
                }
                Action::Partition(mask)
            }
            975..=984 => Action::Partition(0),
            _ => Action::Garbage(node, rng.next_u64()),
        }
    }

    /// Runs `steps` random actions from `rng`.
    pub fn run_random(&mut self, rng: &mut SimRng, steps: usize) -> Result<(), Violation> {
        for step in 0..steps {
            let a = self.random_action(rng, true);
            self.act(a)
                .map_err(|e| format!("step {step} ({a:?}): {e}"))?;
        }
        Ok(())
    }

    /// One round of a healthy network: every node ticks, every frame is delivered in order,
    /// every write becomes durable, every wanted capture happens.
    pub fn healthy_round(&mut self) -> Result<(), Violation> {
        for k in 0..self.nodes.len() {
            self.step_node(k, Input::Tick)?;
        }
        let mut delivered = 0usize;
        for _ in 0..64 {
            if self.net.packets.is_empty() {
                break;
            }
            while !self.net.packets.is_empty() {
                delivered += 1;
                if delivered > 100_000 {
                    // Without ticks, a healthy exchange ends: an endless one is a livelock.
                    let sample: Vec<_> = self
                        .net
                        .packets
                        .iter()
                        .take(4)
                        .map(|p| codec::decode(&p.frame).map(|m| m.1))
                        .collect();
                    return Err(format!("message storm without ticks: {sample:?}"));
                }
                if let Some(p) = self.net.take(0) {
                    self.step_node(p.to, Input::Frame(&p.frame))?;
                }
                for k in 0..self.nodes.len() {
                    let pending = self.nodes[k].pending.len();
                    self.fsync(k, pending)?;
                }
            }
        }
        for k in 0..self.nodes.len() {
            let pending = self.nodes[k].pending.len();
            self.fsync(k, pending)?;
            if self.nodes[k].capture_wanted {
                self.capture(k)?;
            }
        }
        self.checker.check_durable_quorum(&self.durable_stores())
    }

    /// One line per node: role, term, leader, log, commit, applied, counters.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            match n.state.as_ref() {
                None => s.push_str(&format!("{}: down\n", n.id)),
                Some(st) => s.push_str(&format!(
                    "{}: {} {} leader={:?} voters={:?} learners={:?} (at {}) log={}..={} (last term {}) commit={} applied={} durable={} window={:?} pending={} {:?}\n",
                    n.id,
                    st.role(),
                    st.term(),
                    st.leader().map(|l| l.0),
                    st.membership().voters().map(|v| v.0).collect::<Vec<_>>(),
                    st.membership().learners().map(|v| v.0).collect::<Vec<_>>(),
                    st.membership_index(),
                    st.first_index(),
                    st.last_index(),
                    st.last_term(),
                    st.commit(),
                    st.applied(),
                    st.durable_index(),
                    st.window_usage(),
                    n.pending.len(),
                    st.stats(),
                )),
            }
        }
        s
    }

    /// Whether one leader leads every node that is up, everything is committed, and every
    /// node that is up applied it.
    pub fn settled(&self) -> bool {
        let Some(l) = self.leader() else { return false };
        let Some(ls) = self.nodes[l].state.as_ref() else {
            return false;
        };
        let commit = ls.commit();
        let conf = *ls.membership();
        commit == ls.last_index()
            && self
                .nodes
                .iter()
                .filter(|n| conf.kind_of(n.id).is_some())
                .filter_map(|n| n.state.as_ref())
                .all(|s| {
                    s.term() == ls.term() && s.leader() == Some(ls.id()) && s.applied() == commit
                })
    }

    /// Liveness: heal everything, then within `max_rounds` rounds a leader must lead every
    /// node with everything committed and applied everywhere; a new proposal must then be
    /// accepted (nothing stays `Busy`) and applied everywhere too. Returns the rounds used.
    pub fn heal_and_settle(&mut self, max_rounds: u32) -> Result<u32, Violation> {
        self.net.cut = 0;
        // The operator stops changing the membership while the cluster heals.
        self.pending_change = None;
        for k in 0..self.nodes.len() {
            self.restart(k)?;
        }
        let mut rounds = 0;
        let mut probe_done = false;
        loop {
            if self.settled() {
                if probe_done {
                    break;
                }
                let l = self.leader().ok_or("no leader")?;
                let before = self.acked.len();
                self.next_value += 1;
                let data = self.next_value.to_le_bytes();
                let mut out = SimOutputs::new();
                let s = self.nodes[l].state.as_mut().ok_or("leader down")?;
                s.step_view(Input::Propose { data: &data }, out.as_mut_view())
                    .map_err(|e| format!("{e}"))?;
                match out.iter().find_map(|o| {
                    if let Output::Proposal(p) = o {
                        Some(*p)
                    } else {
                        None
                    }
                }) {
                    Some(Proposal::Accepted { .. }) => {}
                    other => {
                        // Busy may last while captures let the window slide; retry later.
                        if rounds + 1 >= max_rounds {
                            return Err(format!("after healing, proposal answered {other:?}"));
                        }
                    }
                }
                self.perform(l, Input::Propose { data: &data }, &out)?;
                probe_done = self.acked.len() > before || self.proposed.iter().any(|p| p.0 == l);
            }
            if rounds >= max_rounds {
                return Err(format!(
                    "not settled {max_rounds} rounds after healing:\n{}",
                    self.describe()
                ));
            }
            self.healthy_round()?;
            rounds += 1;
        }
        // The configuration the cluster settled in.
        let l = self.leader().ok_or("no leader after settling")?;
        let conf = *self.nodes[l]
            .state
            .as_ref()
            .ok_or("leader down")?
            .membership();
        // A read on every node is served, and sees every acknowledged write.
        for k in 0..self.nodes.len() {
            self.reads[k].clear();
            self.ready_reads[k].clear();
            if conf.kind_of(self.nodes[k].id).is_some() {
                self.act(Action::Read(k as u8))?;
            }
        }
        let mut waited = 0;
        while self.reads.iter().any(|r| !r.is_empty()) {
            if waited >= max_rounds {
                return Err(format!(
                    "reads not served after healing: {:?}\n{}",
                    self.reads,
                    self.describe()
                ));
            }
            self.healthy_round()?;
            waited += 1;
        }
        // Every acknowledged write is in every node's state machine at its index.
        for (index, _, data) in &self.acked {
            for n in self.nodes.iter().filter(|n| conf.kind_of(n.id).is_some()) {
                let found = n.machine.log.iter().any(|(i, d)| i == index && d == data)
                    || n.snapshot
                        .0
                        .log
                        .iter()
                        .any(|(i, d)| i == index && d == data);
                if !found {
                    return Err(format!("{}: acknowledged write at {index} missing", n.id));
                }
            }
        }
        Ok(rounds)
    }
}
