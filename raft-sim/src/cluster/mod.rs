//! The simulated cluster: N nodes, the network, the schedule of actions, the checks.

mod action;
mod events;
mod faults;
mod perform;
mod schedule;

pub use action::{Acked, Action, SimConfig};

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use raftcore::{
    codec, Config, Engine, Input, LogIndex, MemberKind, Membership, NodeId, Role, State, Term,
    LEAVE_JOINT, MEMBERSHIP_BYTES,
};

use crate::check::{Checker, Violation};
use crate::network::Network;
use crate::node::{Disk, Machine, SimMachine, SimNode, SimSnapshots, SimStorage, SimTransport};

/// N simulated nodes and their network.
pub struct Cluster<const P: usize, const L: usize, const F: usize> {
    /// The nodes, by position (id = position + 1).
    pub nodes: Vec<SimNode<P, L, F>>,
    /// The network.
    pub net: Network,
    /// The invariant checker, shared with every node's seams (see [`Cluster::checker`]).
    checker: Rc<RefCell<Checker>>,
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
        let checker = Rc::new(RefCell::new(Checker::with_voters(sim.nodes, &ids)));
        let mut nodes = Vec::new();
        for &id in &all {
            let state =
                State::new(Self::node_config(&sim, id, seed), &ids).map_err(|e| format!("{e}"))?;
            let machine = Machine {
                members: *state.membership(),
                ..Machine::default()
            };
            let disk = Rc::new(RefCell::new(Disk::new(machine.clone())));
            let engine = Self::engine(&sim, state, machine, &disk, &checker);
            nodes.push(SimNode {
                id,
                engine: Some(engine),
                disk,
                capture_wanted: false,
                incarnation: 0,
            });
        }
        Ok(Cluster {
            nodes,
            net: Network::default(),
            checker,
            sim,
            proposed: Vec::new(),
            acked: Vec::new(),
            reads: vec![Vec::new(); sim.nodes],
            ready_reads: vec![Vec::new(); sim.nodes],
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

    /// A node's engine over its seams: its `state` (fresh or restored from `disk`) and its
    /// state machine (fresh, or the disk's snapshot).
    fn engine(
        sim: &SimConfig,
        state: State<P, L, F>,
        machine: Machine,
        disk: &Rc<RefCell<Disk>>,
        checker: &Rc<RefCell<Checker>>,
    ) -> crate::node::SimEngine<P, L, F> {
        let id = state.id();
        let pos = id.0 as usize - 1;
        let members = machine.members;
        let storage = SimStorage::new(id, disk.clone(), Some(checker.clone()));
        let snapshots = SimSnapshots::new(id, disk.clone(), checker.clone());
        let transport = SimTransport::new(pos, sim.nodes, sim.max_frame_bytes, disk.clone());
        let machine = SimMachine::new(id, machine, Some(checker.clone()));
        let mut engine = Engine::with_snapshots(state, storage, snapshots, transport, machine);
        // The configuration as of the applied index: the machine's (a restarted node's
        // state holds the configuration in force, which may be later).
        engine.set_applied_membership(members);
        engine
    }

    /// The invariant checker.
    pub fn checker(&self) -> Ref<'_, Checker> {
        self.checker.borrow()
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
        c.lease_reads = sim.lease_reads;
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

    /// Every committed entry is durable on a quorum (the disks of crashed nodes count).
    fn check_durable_quorum(&self) -> Result<(), Violation> {
        let disks: Vec<Ref<'_, Disk>> = self.nodes.iter().map(|n| n.disk.borrow()).collect();
        let stores: Vec<_> = self
            .nodes
            .iter()
            .zip(&disks)
            .map(|(n, d)| (n.id, &d.durable))
            .collect();
        self.checker.borrow().check_durable_quorum(&stores)
    }

    /// Whether node `k` is a member of the configuration of the leader (or, without a
    /// leader, of the committed configuration).
    pub fn is_member(&self, k: usize) -> bool {
        let conf = match self.leader().and_then(|l| self.nodes[l].state()) {
            Some(s) => *s.membership(),
            None => self.checker.borrow().committed_membership(),
        };
        conf.is_member(self.nodes[k].id)
    }

    /// Asks the leader to change node `target`'s membership (`op % 3`: learner, voter,
    /// remove), or with [`SimConfig::joint_changes`] by a joint change (see
    /// [`Cluster::joint_change`]).
    pub fn change_member(&mut self, target: usize, op: u8) -> Result<(), Violation> {
        let Some(l) = self.leader() else {
            return Ok(());
        };
        let Some(s) = self.nodes[l].state() else {
            return Ok(());
        };
        let id = self.nodes[target].id;
        let m = *s.membership();
        if self.sim.joint_changes {
            if let Some(data) = Self::joint_change(&m, id, op) {
                if self.verbose {
                    println!("  joint change asked: {data:?} from {m:?}");
                }
                return self.step_node(l, Input::ChangeMembership { data: &data });
            }
        }
        let next = match m.kind_of(id) {
            None => m.with_learner(id),
            Some(MemberKind::Learner) if op.is_multiple_of(2) => m.with_voter(id),
            Some(MemberKind::Voter) if op.is_multiple_of(3) => m.with_learner(id),
            Some(_) => Ok(m.without(id)),
        };
        // Two voters in one change (`SimConfig::wide_changes`): a second voter, not the
        // leader, demoted as well.
        let leader_id = self.nodes[l].id;
        let next = match next {
            Ok(n) if self.sim.wide_changes && m.kind_of(id) == Some(MemberKind::Voter) => m
                .voters()
                .find(|&v| v != id && v != leader_id)
                .map_or(Ok(n), |v| n.with_learner(v)),
            n => n,
        };
        let Ok(next) = next else {
            self.pending_change = None;
            return Ok(());
        };
        let mut buf = [0u8; MEMBERSHIP_BYTES];
        let data = next.encode(&mut buf).to_vec();
        if self.verbose {
            println!("  membership change asked: {:?}", next);
        }
        self.step_node(l, Input::ChangeMembership { data: &data })
    }

    /// The joint change a schedule asks of a leader whose configuration is `m`, for node
    /// `id` and `op` (0 to 2), as the bytes to propose; `None` for a plain change instead.
    /// - `m` joint: leave it (with the leave entry for `op` 0, else `m`'s incoming
    ///   configuration); a leader leaving by itself makes this a refused or busy change.
    /// - `id` a learner (`op` 0 or 2): it replaces the voter with the highest other id
    ///   (possibly the leader).
    /// - `id` a voter (`op` 0 or 2): it becomes a learner and every learner a voter.
    ///
    /// `op` 0 asks for auto-leave, `op` 2 for an explicit leave.
    pub fn joint_change(m: &Membership, id: NodeId, op: u8) -> Option<Vec<u8>> {
        let mut buf = [0u8; MEMBERSHIP_BYTES];
        if m.is_joint() {
            return Some(if op == 0 {
                LEAVE_JOINT.to_vec()
            } else {
                m.incoming().encode(&mut buf).to_vec()
            });
        }
        if op == 1 {
            return None;
        }
        let next = match m.kind_of(id)? {
            MemberKind::Learner => {
                let replaced = m.voters().filter(|&v| v != id).max()?;
                m.with_voter(id).ok()?.without(replaced)
            }
            MemberKind::Voter => {
                let mut next = m.with_learner(id).ok()?;
                for l in m.learners() {
                    next = next.with_voter(l).ok()?;
                }
                next
            }
        };
        let joint = m.joint(&next, op == 0).ok()?;
        Some(joint.encode(&mut buf).to_vec())
    }

    /// The current leader with the highest term, if any node is leader.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter_map(|k| self.nodes[k].state().map(|s| (k, s)))
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
                if self.sim.large_proposals && self.next_value.is_multiple_of(2) {
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
                if self.nodes[k].engine.is_some() {
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
        self.check_durable_quorum()
    }
}
