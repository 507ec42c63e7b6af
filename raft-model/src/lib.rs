//! Exhaustive model checking of the real raft-core with [stateright]: the model's nodes are
//! real [`raftcore::State`] values, driven through every interleaving of a small bounded
//! configuration by the same `step` function drivers use, with every message encoded and
//! decoded by the real codec, and every output performed by raft-core's
//! [`Engine`](raftcore::Engine), as every driver performs them (the driver: `driver.rs`,
//! which builds an engine per step over seams that borrow the model's state, `seams.rs`;
//! the storage: [`storage`]).
//!
//! - 3 voters, durable storage per node (hard state, commit, a log store that compaction
//!   really empties, a snapshot file), `Durability::Inline`;
//! - actions ([`Action`]): tick, deliver any frame in flight (reordering), drop one,
//!   duplicate one, crash a node (it keeps only what was durable), restart it
//!   ([`State::restore`] from its hard state, commit, log store and snapshot) or reboot it
//!   (both at once), a client invoking its next register operation (a write on the leader;
//!   a read through the log on the leader, or through ReadIndex, `Input::Read`, on any
//!   node), an operator asking the leader to change the membership
//!   (`Input::ChangeMembership`: remove a member, make one a learner, make one a voter; only
//!   an `Accepted` change is a transition) or to hand leadership to a voter
//!   (`Input::TransferLeader`), and a driver capturing its state machine into a snapshot
//!   (`Input::SnapshotSaved`; the core then compacts its log, `Output::Compact`, and streams
//!   the snapshot in chunks to a follower that lags: `Output::SnapshotChunk`,
//!   `Output::InstallSnapshot`, `Input::SnapshotInstalled`);
//! - bounds ([`Bounds`]): a budget of ticks (and which nodes tick), drops, duplicates,
//!   crashes, membership changes, snapshots, transfers and client operations, a largest term
//!   and log length, frames in flight, and a depth (a number of actions); a transition past a
//!   term, log or network bound is pruned;
//! - properties: Election Safety; State Machine Safety (membership entries included; a
//!   snapshot install counts as applying every entry it covers, each compared with what
//!   the other nodes applied at that index); linearizability of a register (stateright's
//!   `LinearizabilityTester` with `Register`) whose writes go through the log and whose reads
//!   go through the log or ReadIndex; that only voters campaign; that a removed leader leads
//!   only until its removal commits; that a leader transferring leadership accepts no
//!   proposal or change; that the driver contract holds (no `Apply` out of order or of an
//!   entry the store lacks, no `Compact` beyond the snapshot, chunks in order and adding up
//!   to the snapshot named, no driver error from `step`, restore succeeds, no send or
//!   apply while a write is not durable, a written chunk is the one the core named); and, as
//!   `sometimes`, that a client operation completes, a membership change commits
//!   ([`Bounds::MEMBERSHIP`]), a follower installs a leader's snapshot, a read is answered
//!   through ReadIndex and a leadership transfer completes ([`Bounds::FEATURES`]), a
//!   pre-candidate wins its PreVote round, a leader steps down by CheckQuorum and a vote
//!   request is refused inside a leader's lease ([`Bounds::PRE_VOTE_CQ`]).
//!
//! Bounds, states and times on 2 shared cores (`cargo run --release -p raft-model`,
//! `RAFT_MODEL_BOUND=...`; `.ci/run` runs small, membership, features, faults,
//! prevote-cq and joint):
//!
//! | bound | states | time |
//! |---|---|---|
//! | [`Bounds::SMALL`] (default) | 755,993 | 75 s |
//! | [`Bounds::MEMBERSHIP`] (`membership`) | 1,429,181 | 133-205 s |
//! | [`Bounds::FEATURES`] (`features`) | 807,071 | 93 s |
//! | [`Bounds::FAULTS`] (`faults`: two of a drop, a duplicate, a reboot) | 1,001,125 | 56-76 s |
//! | [`Bounds::FAULTS_LARGE`] (`faults-large`, opt-in: all three) | 1,988,675 | 107-124 s |
//! | [`Bounds::PRE_VOTE_CQ`] (`prevote-cq`) | 149,264 | 11-18 s |
//! | [`Bounds::JOINT`] (`joint`: a joint change demoting two voters) | 1,091,820 | 84 s CPU (371 s wall at load 7) |
//! | [`Bounds::PRE_VOTE_CQ_FAULTS`] (`prevote-cq-faults`, opt-in) | 1,449,090 | 111-129 s |
//! | [`Bounds::FEATURES_LARGE`] (`features-large`, opt-in) | 3,918,186 | 337 s |
//! | [`Bounds::LARGE`] (`large`, opt-in) | 4,399,773 | 567 s (2 threads) |
//! | [`Bounds::OVERWRITE`] (`overwrite`, scripted) | 16,311 | 2 s |
//! | [`Bounds::READ_AFTER_CHANGE`] (`read-after-change`, scripted) | 17,500 | 4 s |
//! | [`Bounds::LEASE_AFTER_CHANGE`] (`lease-after-change`, scripted) | 183,174 | 20 s |
//! | [`Bounds::CHANGE_SPLIT`] (`change-split`, scripted) | 47,168 | 7 s |
//!
//! A scripted bound ([`Bounds::script`]) starts its search where a short fixed schedule of
//! [`Step`]s ends: the opening of a classic bug's scenario (`VERIFICATION.md`); `.ci/run`
//! runs the four above clean and then with the bugs of the catalogue each must find.
//!
//! Exactness: a depth-bounded search runs on one thread, where stateright's search is
//! breadth first level by level (a FIFO queue), so the count is exact and the same on every
//! run (two runs of each CI bound agree). With several threads the workers share states in
//! no fixed order, so a state may first be reached by a longer path and its successors fall
//! past the depth bound: a count that may vary between runs. A bound without a depth limit
//! explores every reachable state in any order and may use every core. What a depth bound
//! `d` checks: see [`Bounds::max_depth`].
//!
//! `State` has no `Hash`/`Eq`; a node is fingerprinted by its complete `Debug` rendering
//! (every field, internals included) minus the `Stats` counters, which only count and are
//! never read by the protocol, and (under clock-running ticks only) minus a non-leader's
//! election timer, which those ticks make irrelevant ([`RaftModel::abstract_timers`]).
//!
//! A counterexample path prints as a step-by-step trace ([`RaftModel::trace`]), as a Rust
//! test ([`RaftModel::path_as_rust`]) that replays it with [`RaftModel::replay`], and as a
//! one-line replay command (`RAFT_MODEL_REPLAY`, parsed by [`RaftModel::parse_path`]).

mod action;
mod bounds;
mod driver;
mod properties;
mod script;
mod seams;
mod state;
pub mod storage;
mod trace;

use raftcore::codec;
use raftcore::{
    Config, Input, MemberKind, Message, NodeId, Output, Outputs, Proposal, ReadResult, Role, State,
    MEMBERSHIP_BYTES,
};
use stateright::semantics::register::{Register, RegisterOp};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Model, Property};

pub use action::Action;
pub use bounds::Bounds;
pub use script::Step;
use state::{is_voter, live_node};
pub use state::{reached, Live, ModelState, Packet, Pending};
use storage::Disk;

/// Voters in the model.
pub const NODES: usize = 3;
/// The node type: 3 voters, the smallest log window `Config` allows, one append in flight.
pub type Node = State<NODES, 4, 1>;
type NodeOutputs = Outputs<{ raftcore::outputs_needed(NODES) }>;

/// Client ids of the register (threads of the linearizability tester).
pub type ClientId = u8;
/// The register's value type (0 is the initial value; writes write 1, 2, ...).
pub type Value = u8;

/// The stateright model.
#[derive(Clone, Debug)]
pub struct RaftModel {
    /// The bounds.
    pub bounds: Bounds,
}

/// The voters' ids, by position.
pub(crate) const VOTERS: [NodeId; NODES] = [NodeId(1), NodeId(2), NodeId(3)];

impl RaftModel {
    /// Whether a follower's or candidate's election timer is left out of its identity.
    ///
    /// Sound under `macro_ticks` without CheckQuorum and without lease reads
    /// ([`Bounds::LEASE`] turns them on): a tick then runs a non-leader's clock until it starts an
    /// election, whatever its timer held (timeouts are at most `2 * election_ticks - 1`,
    /// within the tick's limit), and nothing else reads the timer (`in_lease` does only
    /// under CheckQuorum). Two nodes that differ only there have the same futures, so one
    /// stands for both. A leader keeps its timers (they drive CheckQuorum rounds and the
    /// leadership transfer's deadline).
    pub fn abstract_timers(&self) -> bool {
        self.bounds.macro_ticks && !self.bounds.check_quorum && !self.bounds.lease_reads
    }

    pub(crate) fn config(&self, k: usize) -> Config {
        let mut c = Config::new(VOTERS[k], 1000 + k as u64);
        c.election_ticks = self.bounds.election_ticks;
        c.heartbeat_ticks = 1;
        c.pre_vote = self.bounds.pre_vote;
        c.check_quorum = self.bounds.check_quorum;
        c.max_frame_bytes = self.bounds.max_frame_bytes;
        c.max_inflight_msgs = 1;
        c.max_inflight_bytes = self.bounds.max_frame_bytes;
        c.lease_reads = self.bounds.lease_reads;
        c.max_uncommitted = 2;
        c.max_apply = 8;
        c
    }

    /// The id of the next ReadIndex read: one more than the reads invoked so far, so ids
    /// increase on every node.
    fn next_read_id(&self, s: &ModelState) -> u64 {
        let reads: usize = s
            .clients
            .iter()
            .enumerate()
            .map(|(c, &(done, _))| {
                self.bounds.clients[c][..done as usize]
                    .iter()
                    .filter(|op| op.is_none())
                    .count()
            })
            .sum();
        reads as u64 + 1
    }

    /// Client `c` proposes its next operation (a write, or a read through the log) on
    /// leader `k`. `None` unless the leader accepts it.
    fn invoke_proposal(
        &self,
        s: &mut ModelState,
        c: ClientId,
        k: u8,
        op: Option<Value>,
    ) -> Option<()> {
        let (done, _) = s.clients[c as usize];
        let data = match op {
            Some(v) => [c, 1, v],
            None => [c, 0, 0],
        };
        let mut out = NodeOutputs::new();
        let mut probe = s.nodes[k as usize].as_ref()?.state.clone();
        probe.step(Input::Propose { data: &data }, &mut out).ok()?;
        let Some(Output::Proposal(Proposal::Accepted { index, term })) = out
            .iter()
            .find(|o| matches!(o, Output::Proposal(_)))
            .copied()
        else {
            // Busy: nothing happens; not a transition worth exploring.
            return None;
        };
        self.note_accepted(s, k);
        let reg_op = match op {
            Some(v) => RegisterOp::Write(v),
            None => RegisterOp::Read,
        };
        let _ = s.history.on_invoke(c, reg_op);
        s.clients[c as usize] = (
            done + 1,
            Some(Some(Pending::Log {
                node: k,
                index,
                term,
            })),
        );
        self.step(s, k as usize, Input::Propose { data: &data })?;
        Some(())
    }

    /// Client `c` reads through ReadIndex on node `k` (`Input::Read`). `None` if the node
    /// fails the read at once (no leader known: the client would retry elsewhere).
    fn invoke_read(&self, s: &mut ModelState, c: ClientId, k: u8) -> Option<()> {
        let (done, _) = s.clients[c as usize];
        let id = self.next_read_id(s);
        let mut out = NodeOutputs::new();
        let mut probe = s.nodes[k as usize].as_ref()?.state.clone();
        probe.step(Input::Read { id }, &mut out).ok()?;
        if out
            .iter()
            .any(|o| matches!(o, Output::Read(ReadResult::Failed { upto, .. }) if *upto >= id))
        {
            return None;
        }
        let _ = s.history.on_invoke(c, RegisterOp::Read);
        s.clients[c as usize] = (
            done + 1,
            Some(Some(Pending::Read {
                node: k,
                id,
                at: None,
            })),
        );
        self.step(s, k as usize, Input::Read { id })?;
        Some(())
    }

    /// Leader `k` accepted a proposal or a membership change: wrong while it transfers
    /// leadership.
    fn note_accepted(&self, s: &mut ModelState, k: u8) {
        if s.transfer.is_some_and(|t| t.0 == k) {
            s.accepted_in_transfer = true;
        }
    }
}

impl RaftModel {
    /// The state before any action (and before the bound's script).
    pub(crate) fn initial_state(&self) -> ModelState {
        let nodes = (0..NODES)
            .map(|k| {
                let s = Node::new(self.config(k), &VOTERS).expect("valid model config");
                Some(Live::new(s, self.abstract_timers()))
            })
            .collect();
        let b = &self.bounds;
        ModelState {
            nodes,
            disks: vec![Disk::new(); NODES],
            net: Vec::new(),
            left: self.budgets(),
            clients: vec![(0, None); b.clients.len()],
            leaders: Vec::new(),
            applied: Vec::new(),
            diverged: false,
            removed_leader_stayed: false,
            transfer: None,
            accepted_in_transfer: false,
            transfer_campaign: None,
            reached: 0,
            broken: None,
            history: LinearizabilityTester::new(Register(0)),
        }
    }

    /// The bounds' budgets, in [`ModelState::left`]'s order.
    pub(crate) fn budgets(&self) -> [u8; 8] {
        let b = &self.bounds;
        [
            b.ticks,
            b.drops,
            b.duplicates,
            b.crashes,
            b.faults,
            b.changes,
            b.snapshots,
            b.transfers,
        ]
    }
}

impl Model for RaftModel {
    type State = ModelState;
    type Action = Action;

    fn init_states(&self) -> Vec<ModelState> {
        // main checks the script before the search; a script that cannot run is a bug in
        // the bound's definition.
        vec![self
            .scripted_start()
            .unwrap_or_else(|e| panic!("the bound's scripted start: {e}"))]
    }

    fn actions(&self, s: &ModelState, actions: &mut Vec<Action>) {
        for k in 0..NODES as u8 {
            match &s.nodes[k as usize] {
                Some(live) => {
                    if s.left[0] > 0 && self.bounds.tickers & (1 << k) != 0 {
                        actions.push(Action::Tick(k));
                    }
                    if s.left[3] > 0 && s.left[4] > 0 {
                        actions.push(if self.bounds.reboot {
                            Action::Reboot(k)
                        } else {
                            Action::Crash(k)
                        });
                    }
                    if s.left[6] > 0
                        && s.disks[k as usize].machine.applied
                            > s.disks[k as usize].snapshot_index()
                    {
                        actions.push(Action::Snapshot(k));
                    }
                    let leads = live.state.role() == Role::Leader;
                    for (c, &(done, ref pending)) in s.clients.iter().enumerate() {
                        let script = self.bounds.clients[c];
                        let Some(op) = script.get(done as usize) else {
                            continue;
                        };
                        // Proposals go to the leader; ReadIndex reads to any node (a
                        // follower asks the leader).
                        if pending.is_none() && (leads || op.is_none() && self.bounds.read_index) {
                            actions.push(Action::Invoke(c as u8, k));
                        }
                    }
                    if leads {
                        if s.left[7] > 0 {
                            let conf = live.state.membership();
                            for j in 0..NODES as u8 {
                                if j != k
                                    && conf.kind_of(VOTERS[j as usize]) == Some(MemberKind::Voter)
                                {
                                    actions.push(Action::Transfer(k, j));
                                }
                            }
                        }
                        if s.left[5] > 0 {
                            // Every single-member change of the leader's configuration;
                            // the leader's answer decides which are transitions.
                            let conf = live.state.membership();
                            for j in 0..NODES as u8 {
                                match conf.kind_of(VOTERS[j as usize]) {
                                    // Joint changes only, where asked for (the single
                                    // ones have bounds of their own).
                                    Some(MemberKind::Voter) if self.bounds.joint_changes => {
                                        if j != k {
                                            actions.push(Action::JointDemoteTwo(k, j));
                                        }
                                    }
                                    _ if self.bounds.joint_changes => {}
                                    Some(MemberKind::Voter) => {
                                        actions.push(Action::RemoveMember(k, j));
                                        actions.push(Action::MakeLearner(k, j));
                                        if self.bounds.wide_changes && j != k {
                                            actions.push(Action::DemoteTwo(k, j));
                                        }
                                    }
                                    Some(MemberKind::Learner) => {
                                        actions.push(Action::RemoveMember(k, j));
                                        actions.push(Action::MakeVoter(k, j));
                                    }
                                    None => actions.push(Action::MakeLearner(k, j)),
                                }
                            }
                        }
                    }
                }
                None => actions.push(Action::Restart(k)),
            }
        }
        for i in 0..s.net.len() {
            // Equal frames are one choice.
            if i > 0 && s.net[i] == s.net[i - 1] {
                continue;
            }
            let i8 = i as u8;
            actions.push(Action::Deliver(i8));
            if s.left[1] > 0 && s.left[4] > 0 {
                actions.push(Action::Drop(i8));
            }
            if s.left[2] > 0 && s.left[4] > 0 {
                actions.push(Action::Duplicate(i8));
            }
        }
    }

    fn next_state(&self, last: &ModelState, action: Action) -> Option<ModelState> {
        let mut s = last.clone();
        match action {
            Action::Tick(k) => {
                // Ticks until the node does something (starts an election, sends heartbeats,
                // steps down): the silent ticks before it only count down a timer, and a
                // message arriving among them is the same as one arriving before or after
                // this action. Explores every protocol event without every timer value.
                s.left[0] -= 1;
                let mut quiet = 0;
                let mut ticked = 0u8;
                while {
                    ticked = ticked.saturating_add(1);
                    !self.step(&mut s, k as usize, Input::Tick)?
                } && self.bounds.macro_ticks
                {
                    quiet += 1;
                    if quiet > 2 * self.bounds.election_ticks {
                        // A node that never campaigns (outside the configuration) ran its
                        // clock for nothing: with its timer abstracted the state is the one
                        // before, less a tick. (A voter always acts within the limit.)
                        if self.abstract_timers() {
                            return None;
                        }
                        break;
                    }
                }
                if let Some((n, t, ticks)) = s.transfer {
                    if n == k {
                        // The leader gives up after an election timeout of its ticks.
                        let ticks = ticks.saturating_add(ticked);
                        let deadline = self.bounds.election_ticks;
                        s.transfer = (u32::from(ticks) < deadline).then_some((n, t, ticks));
                    }
                }
                if let Some(st) = live_node(&s, k) {
                    if st.role() == Role::Leader
                        && !is_voter(st)
                        && st.commit() >= st.membership_index()
                    {
                        s.removed_leader_stayed = true;
                    }
                }
            }
            Action::Deliver(i) => {
                let p = s.net.remove(i as usize);
                let k = p.to as usize;
                if s.nodes[k].is_some() {
                    self.step(&mut s, k, Input::Frame(&p.frame))?;
                    let st = &s.nodes[k].as_ref()?.state;
                    if st.role() == Role::Candidate
                        && matches!(codec::decode(&p.frame), Ok((_, Message::TimeoutNow { .. })))
                    {
                        s.transfer_campaign = Some((st.term(), k as u8));
                    }
                }
            }
            Action::Drop(i) => {
                s.left[1] -= 1;
                s.left[4] -= 1;
                s.net.remove(i as usize);
            }
            Action::Duplicate(i) => {
                s.left[2] -= 1;
                s.left[4] -= 1;
                let p = s.net[i as usize].clone();
                s.net.insert(i as usize, p);
                if s.net.len() > self.bounds.max_in_flight {
                    return None;
                }
            }
            Action::Crash(k) => self.crash(&mut s, k),
            Action::Restart(k) => self.restart(&mut s, k)?,
            Action::Reboot(k) => {
                self.crash(&mut s, k);
                self.restart(&mut s, k)?;
            }
            Action::Snapshot(k) => {
                s.left[6] -= 1;
                self.capture(&mut s, k as usize)?;
            }
            Action::Transfer(k, j) => {
                s.left[7] -= 1;
                s.transfer = Some((k, s.nodes[k as usize].as_ref()?.state.term(), 0));
                self.step(
                    &mut s,
                    k as usize,
                    Input::TransferLeader {
                        to: VOTERS[j as usize],
                    },
                )?;
            }
            Action::Invoke(c, k) => {
                let (done, _) = s.clients[c as usize];
                let op = self.bounds.clients[c as usize][done as usize];
                if op.is_none() && self.bounds.read_index {
                    self.invoke_read(&mut s, c, k)?;
                } else {
                    self.invoke_proposal(&mut s, c, k, op)?;
                }
            }
            Action::RemoveMember(k, _)
            | Action::MakeLearner(k, _)
            | Action::MakeVoter(k, _)
            | Action::DemoteTwo(k, _)
            | Action::JointDemoteTwo(k, _) => {
                let next = self.change_of(&s, action)?;
                let mut buf = [0u8; MEMBERSHIP_BYTES];
                let data = next.encode(&mut buf);
                let mut out = NodeOutputs::new();
                let mut probe = s.nodes[k as usize].as_ref()?.state.clone();
                probe
                    .step(Input::ChangeMembership { data }, &mut out)
                    .expect("a membership change is never a driver error");
                if !out
                    .iter()
                    .any(|o| matches!(o, Output::Proposal(Proposal::Accepted { .. })))
                {
                    // Busy, refused: nothing happens; not a transition worth exploring.
                    return None;
                }
                self.note_accepted(&mut s, k);
                s.left[5] -= 1;
                self.step(&mut s, k as usize, Input::ChangeMembership { data })?;
            }
        }
        // A transfer ends when its leader stops leading that term.
        if let Some((n, t, _)) = s.transfer {
            if live_node(&s, n).is_none_or(|st| st.role() != Role::Leader || st.term() != t) {
                s.transfer = None;
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::properties(&self.bounds)
    }
}
