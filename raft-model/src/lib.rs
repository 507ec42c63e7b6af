//! Exhaustive model checking of the real raft-core with [stateright]: the model's nodes are
//! real [`raft_core::State`] values, driven through every interleaving of a small bounded
//! configuration by the same `step` function drivers use, with every message encoded and
//! decoded by the real codec.
//!
//! - 3 voters, durable storage per node (hard state, commit, log), `Durability::Inline`;
//! - actions: tick, deliver any frame in flight (reordering), drop one, duplicate one, crash
//!   a node (it keeps only what was durable), restart it ([`State::restore`]) or reboot it
//!   (both at once), a client invoking its next register operation on the leader, and an
//!   operator asking the leader to change the membership (`Input::ChangeMembership`: remove
//!   a member, make one a learner, make one a voter; only an `Accepted` change is a
//!   transition);
//! - bounds: a budget of ticks, drops, duplicates, crashes, membership changes and client
//!   operations, a largest term and log length, frames in flight, and a largest number of
//!   actions ([`Bounds`]); a transition past a term, log or network bound is pruned;
//! - properties: Election Safety, State Machine Safety (membership entries included),
//!   linearizability of a register whose writes and reads go through the log (stateright's
//!   `LinearizabilityTester` with `Register`), that only voters campaign and a removed
//!   leader leads only until its removal commits, and, as `sometimes`, that a client
//!   operation completes (a value was committed and applied) and, with membership changes in
//!   the bound, that a change commits, a leader removes itself and steps down, and a demoted
//!   voter is promoted again ([`Bounds::MEMBERSHIP`]).
//!
//! `State` has no `Hash`/`Eq`; a node is fingerprinted by its complete `Debug` rendering
//! (every field, internals included) minus the `Stats` counters, which only count and are
//! never read by the protocol, and (under clock-running ticks only) minus a non-leader's
//! election timer, which those ticks make irrelevant ([`RaftModel::abstract_timers`]).
//!
//! A counterexample path prints as a step-by-step trace ([`RaftModel::trace`]), as a Rust
//! test ([`RaftModel::path_as_rust`]) that replays it with [`RaftModel::replay`], and as a
//! one-line replay command (`RAFT_MODEL_REPLAY`, parsed by [`RaftModel::parse_path`]).

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};

use raft_core::codec::{self, EntryRef, EntrySource, Header};
use raft_core::{
    Config, EntryKind, HardState, Input, LogIndex, LogStore, MemberKind, Membership, NodeId,
    Output, Outputs, Proposal, Restored, Role, State, StoreError, Term, MEMBERSHIP_BYTES,
};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Model, Property};

/// Voters in the model.
pub const NODES: usize = 3;
/// The node type: 3 voters, the smallest log window `Config` allows, one append in flight.
pub type Node = State<NODES, 4, 1>;
type NodeOutputs = Outputs<{ raft_core::outputs_needed(NODES) }>;

/// Client ids of the register (threads of the linearizability tester).
pub type ClientId = u8;
/// The register's value type (0 is the initial value; writes write 1, 2, ...).
pub type Value = u8;

/// The bounds of one exploration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Tick actions, over all nodes.
    pub ticks: u8,
    /// A tick action runs a node's clock until it acts (starts an election, sends heartbeats,
    /// steps down) instead of advancing it one tick: the budget then bounds protocol events,
    /// not clock values, and two elections fit in two ticks.
    pub macro_ticks: bool,
    /// Frames lost (besides those sent to a crashed node).
    pub drops: u8,
    /// Frames duplicated.
    pub duplicates: u8,
    /// Crashes (each node may restart any time after).
    pub crashes: u8,
    /// A crash restarts the node at once ([`Action::Reboot`]) instead of leaving it down
    /// until a separate [`Action::Restart`]. Frames sent to a node while it is down are lost,
    /// so a crash with a later restart is a reboot plus drops: with `drops` in the budget the
    /// same histories stay reachable, and without, the checker skips the states where a node
    /// is down (a large part of the space) and keeps the one fault that matters for the
    /// durable state: forgetting everything volatile.
    pub reboot: bool,
    /// Faults of any kind (drops, duplicates, crashes) in one run, at most.
    pub faults: u8,
    /// No node's term may pass this (transitions that would are pruned).
    pub max_term: u64,
    /// No node's log may grow past this index (pruned likewise).
    pub max_log: u64,
    /// Frames in flight at most (pruned likewise).
    pub max_in_flight: usize,
    /// Actions in one run at most (`Checker::target_max_depth`): every state reachable in
    /// fewer steps is explored, breadth first, none beyond. `None`: no depth bound.
    pub max_depth: Option<usize>,
    /// Each client's operations, in order: `Some(v)` writes `v`, `None` reads.
    pub clients: &'static [&'static [Option<Value>]],
    /// PreVote on every node.
    pub pre_vote: bool,
    /// CheckQuorum on every node.
    pub check_quorum: bool,
    /// Membership changes accepted by a leader ([`Action::RemoveMember`],
    /// [`Action::MakeLearner`], [`Action::MakeVoter`]), over all nodes.
    pub changes: u8,
}

impl Bounds {
    /// The bound `.ci/run` checks: two clock-running ticks (two elections: competing ones in
    /// one term, or one after another; or an election and a heartbeat round), one crash with
    /// an immediate restart (`reboot`) anywhere, no drops or duplicates, up to 4 frames in
    /// flight (two candidates' requests at once), one writer and one reader, and every state
    /// within 15 actions of the start. 954,743 states in 152 s on 2 shared cores (more in
    /// `fuzz/README.md`).
    ///
    /// Two elections around a restart are what a forgotten vote needs (a voter grants two
    /// candidates of one term); this bound finds that injected bug in 11 steps.
    pub const SMALL: Bounds = Bounds {
        ticks: 2,
        macro_ticks: true,
        drops: 0,
        duplicates: 0,
        crashes: 1,
        reboot: true,
        faults: 1,
        max_term: 2,
        max_log: 3,
        max_in_flight: 4,
        max_depth: Some(15),
        clients: &[&[Some(1)], &[None]],
        pre_vote: false,
        check_quorum: false,
        changes: 0,
    };

    /// The opt-in larger bound (`RAFT_MODEL_BOUND=large`): [`Bounds::SMALL`] with one fault
    /// of any kind (a drop, a duplicate, or a reboot) and 16 actions deep. 4,399,773 states
    /// in 567 s on 2 shared cores (11 GB of memory); one level deeper is about twice that.
    pub const LARGE: Bounds = Bounds {
        drops: 1,
        duplicates: 1,
        max_depth: Some(16),
        ..Bounds::SMALL
    };

    /// The membership bound (`RAFT_MODEL_BOUND=membership`, also in `.ci/run`):
    /// [`Bounds::SMALL`] (two macro ticks, one reboot, a writer and a reader) with up to two
    /// membership changes asked of a leader (remove a member, demote or add a learner,
    /// promote a learner; only an accepted change is a transition), a log of 4, and a depth
    /// bound of 14 (`max_depth`, one less than SMALL's). 1,660,241 states in 121 s on 2 cores shared with two fuzzers
    /// (3.7 GB). A change commits within it (12 steps); a leader's removal of itself commits
    /// 14 actions in, just past it (the crash-free space with no depth bound,
    /// `RAFT_MODEL_CRASHES=0 RAFT_MODEL_DEPTH=0`, 733,649 states in 73 s, reaches that).
    pub const MEMBERSHIP: Bounds = Bounds {
        changes: 2,
        max_log: 4,
        max_depth: Some(14),
        ..Bounds::SMALL
    };

    /// The former CI bound: two single ticks (one election, of the node whose timeout is 2
    /// ticks), one fault of any kind, a crashed node down until it restarts, no depth bound.
    /// 3,280,645 states; it cannot hold a second election. Kept for the replay tests.
    pub const ONE_ELECTION: Bounds = Bounds {
        ticks: 2,
        macro_ticks: false,
        drops: 1,
        duplicates: 1,
        crashes: 1,
        reboot: false,
        faults: 1,
        max_term: 2,
        max_log: 3,
        max_in_flight: 3,
        max_depth: None,
        clients: &[&[Some(1)], &[None]],
        pre_vote: false,
        check_quorum: false,
        changes: 0,
    };
}

/// One transition of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// One tick on a node.
    Tick(u8),
    /// Deliver the frame at this position of the (sorted) network.
    Deliver(u8),
    /// Lose it.
    Drop(u8),
    /// Duplicate it.
    Duplicate(u8),
    /// Crash a node.
    Crash(u8),
    /// Restart a crashed node from what it made durable.
    Restart(u8),
    /// Crash a node and restart it at once from what it made durable (`Bounds::reboot`).
    Reboot(u8),
    /// Client `.0` invokes its next operation on node `.1`.
    Invoke(ClientId, u8),
    /// An operator asks node `.0` to remove node `.1` from the membership.
    RemoveMember(u8, u8),
    /// An operator asks node `.0` to make node `.1` a learner (add it, or demote a voter).
    MakeLearner(u8, u8),
    /// An operator asks node `.0` to make node `.1` a voter (promote a learner).
    MakeVoter(u8, u8),
}

/// One log entry in a node's store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The term.
    pub term: Term,
    /// Normal or the leader's empty entry (`EntryKind::to_byte`; `EntryKind` has no `Hash`).
    pub kind: u8,
    /// `[client, 1, value]` for a write, `[client, 0, 0]` for a read, empty for `Empty`.
    pub data: Vec<u8>,
}

/// A node's log store (inline durability: what the driver wrote is durable).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Log(pub Vec<Entry>);

impl EntrySource for Log {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        let e = self.0.get(usize::try_from(index.0).ok()?.checked_sub(1)?)?;
        Some(EntryRef {
            term: e.term,
            kind: EntryKind::from_byte(e.kind)?,
            data: &e.data,
        })
    }
}

impl LogStore for Log {
    fn append(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        if index.0 != self.0.len() as u64 + 1 {
            return Err(StoreError::NotContiguous);
        }
        self.0.push(Entry {
            term: e.term,
            kind: e.kind.to_byte(),
            data: e.data.to_vec(),
        });
        Ok(())
    }
    fn truncate_from(&mut self, index: LogIndex) {
        self.0.truncate(index.0.saturating_sub(1) as usize);
    }
    fn compact_to(&mut self, _upto: LogIndex) {
        // The model never captures, so the core never asks to compact.
    }
    fn last_index(&self) -> LogIndex {
        LogIndex(self.0.len() as u64)
    }
}

/// A real `State` with the fingerprint that stands in for `Hash`/`Eq`.
#[derive(Clone)]
pub struct Live {
    /// The protocol state.
    pub state: Node,
    fp: u128,
}

impl Live {
    /// `abstract_timers`: see [`RaftModel::abstract_timers`].
    fn new(state: Node, abstract_timers: bool) -> Live {
        let fp = fingerprint(&state, !(abstract_timers && state.role() != Role::Leader));
        Live { state, fp }
    }
}

/// `EntryKind::Normal` as stored in an [`Entry`].
const NORMAL_KIND: u8 = EntryKind::Normal.to_byte();
/// `EntryKind::Membership` as stored in an [`Entry`].
const MEMBERSHIP_KIND: u8 = EntryKind::Membership.to_byte();

/// The live nodes' states.
fn live_nodes(s: &ModelState) -> impl Iterator<Item = &Node> {
    s.nodes.iter().flatten().map(|l| &l.state)
}

/// Node `k`'s state, if it is up.
fn live_node(s: &ModelState, k: u8) -> Option<&Node> {
    s.nodes[k as usize].as_ref().map(|l| &l.state)
}

/// Whether `st` votes in its configuration in force.
fn is_voter(st: &Node) -> bool {
    st.membership().kind_of(st.id()) == Some(MemberKind::Voter)
}

/// A configuration as `{v1,v2,l3}` (v: voter, l: learner).
fn conf(m: &Membership) -> String {
    let ids: Vec<String> = m
        .members()
        .map(|i| match m.kind_of(i) {
            Some(MemberKind::Learner) => format!("l{}", i.0),
            _ => format!("v{}", i.0),
        })
        .collect();
    format!("{{{}}}", ids.join(","))
}

/// Removes the field `name` (its value included) from a `Debug` rendering of a struct.
fn without_field(text: &mut String, name: &str) {
    let key = format!(" {name}: ");
    let Some(at) = text.find(&key) else {
        return;
    };
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut end = at + key.len();
    while end < bytes.len() {
        match bytes[end] {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' if depth == 0 => break,
            b'}' | b']' | b')' => depth -= 1,
            b',' if depth == 0 => {
                end += 1;
                break;
            }
            _ => {}
        }
        end += 1;
    }
    text.replace_range(at..end, "");
}

/// 128 bits of hash over the complete `Debug` rendering of `s` without its `Stats` and,
/// if `timers` is false, without its election timer (`elapsed`, `timeout`, `hb_elapsed`, and
/// the `rng` that draws timeouts).
fn fingerprint(s: &Node, keep_timers: bool) -> u128 {
    let mut text = format!("{s:?}");
    without_field(&mut text, "stats");
    if !keep_timers {
        for f in ["rng", "elapsed", "timeout", "hb_elapsed"] {
            without_field(&mut text, f);
        }
    }
    let mut a = DefaultHasher::new();
    text.hash(&mut a);
    let mut b = DefaultHasher::new();
    0x00C0_FFEE_u32.hash(&mut b);
    text.hash(&mut b);
    u128::from(a.finish()) << 64 | u128::from(b.finish())
}

impl PartialEq for Live {
    fn eq(&self, other: &Live) -> bool {
        self.fp == other.fp
    }
}
impl Eq for Live {}
impl Hash for Live {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.fp.hash(h);
    }
}
impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        write!(
            f,
            "{} {} {} commit={} applied={} last={}",
            s.id(),
            s.role(),
            s.term(),
            s.commit(),
            s.applied(),
            s.last_index()
        )
    }
}

/// What survives a crash, and the state machine (rebuilt from the log after a restart).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Disk {
    /// The durable hard state.
    pub hs: (Term, Option<NodeId>),
    /// The durable commit index (`Persist::commit`).
    pub commit: LogIndex,
    /// The log.
    pub log: Log,
    /// The register (volatile: reset on a crash, rebuilt by re-applying the log).
    pub register: Value,
    /// The last index applied to the register.
    pub applied: LogIndex,
}

/// A frame in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Packet {
    /// Receiver position.
    pub to: u8,
    /// Sender position.
    pub from: u8,
    /// The encoded frame.
    pub frame: Vec<u8>,
}

/// A client operation the log accepted: on `node` at `(index, term)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pending {
    /// Where it was proposed.
    pub node: u8,
    /// Its index.
    pub index: LogIndex,
    /// Its term.
    pub term: Term,
}

/// The model's state.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct ModelState {
    /// The nodes; `None` while crashed.
    pub nodes: Vec<Option<Live>>,
    /// Each node's durable storage and state machine.
    pub disks: Vec<Disk>,
    /// Frames in flight, sorted (a multiset).
    pub net: Vec<Packet>,
    /// Budgets left: ticks, drops, duplicates, crashes, faults, membership changes.
    pub left: [u8; 6],
    /// Per client: operations invoked so far, and the one in flight (`None` in `Pending`
    /// terms when its node crashed: it never completes).
    pub clients: Vec<(u8, Option<Option<Pending>>)>,
    /// Every (term, node) that was ever leader, sorted.
    pub leaders: Vec<(Term, u8)>,
    /// The first entry applied at each index, by any node: (term, kind, data).
    pub applied: Vec<(Term, u8, Vec<u8>)>,
    /// A node applied a different entry at an index (State Machine Safety broken).
    pub diverged: bool,
    /// A leader outside the voters of its committed configuration was still leader after a
    /// tick (it must hand over and step down at its first tick once the removal commits).
    pub removed_leader_stayed: bool,
    /// The register history.
    pub history: LinearizabilityTester<ClientId, Register<Value>>,
}

// `Register` implements `PartialEq` but not `Eq`; its equality is total.
impl Eq for ModelState {}

/// The stateright model.
#[derive(Clone, Debug)]
pub struct RaftModel {
    /// The bounds.
    pub bounds: Bounds,
}

const VOTERS: [NodeId; NODES] = [NodeId(1), NodeId(2), NodeId(3)];
/// The election timeout (timeouts are drawn from `[2, 4)` ticks); heartbeats every tick.
const TIMEOUT_TICKS: u32 = 2;

impl RaftModel {
    /// Whether a follower's or candidate's election timer is left out of its identity.
    ///
    /// Sound under `macro_ticks` without CheckQuorum (and without lease reads, which the
    /// model never turns on): a tick then runs a non-leader's clock until it starts an
    /// election, whatever its timer held (timeouts are at most `2 * TIMEOUT_TICKS - 1`,
    /// within the tick's limit), and nothing else reads the timer (`in_lease` does only
    /// under CheckQuorum). Two nodes that differ only there have the same futures, so one
    /// stands for both. A leader keeps its timers (they drive CheckQuorum rounds).
    pub fn abstract_timers(&self) -> bool {
        self.bounds.macro_ticks && !self.bounds.check_quorum
    }

    fn config(&self, k: usize) -> Config {
        let mut c = Config::new(VOTERS[k], 1000 + k as u64);
        c.election_ticks = TIMEOUT_TICKS;
        c.heartbeat_ticks = 1;
        c.pre_vote = self.bounds.pre_vote;
        c.check_quorum = self.bounds.check_quorum;
        c.max_frame_bytes = 128;
        c.max_inflight_msgs = 1;
        c.max_inflight_bytes = 128;
        c.max_uncommitted = 2;
        c.max_apply = 8;
        c
    }

    /// Steps node `k` with `input` and performs its outputs (persist, send, apply, answer
    /// clients). `None` if the result passes a bound, else whether there were outputs.
    fn step(&self, s: &mut ModelState, k: usize, input: Input<'_>) -> Option<bool> {
        let live = s.nodes[k].as_mut()?;
        let mut out = NodeOutputs::new();
        if let Err(e) = live.state.step(input, &mut out) {
            panic!("n{}: driver error {e} on {input:?}", k + 1);
        }
        let node = live.state.clone();
        s.nodes[k] = Some(Live::new(node.clone(), self.abstract_timers()));
        if node.term().0 > self.bounds.max_term || node.last_index().0 > self.bounds.max_log {
            return None;
        }
        if node.role() == Role::Leader {
            let e = (node.term(), k as u8);
            if let Err(at) = s.leaders.binary_search(&e) {
                s.leaders.insert(at, e);
            }
        }
        for o in &out {
            match o {
                Output::Persist(p) => {
                    let disk = &mut s.disks[k];
                    if let Some(hs) = p.hard_state {
                        disk.hs = (hs.term, hs.vote);
                    }
                    disk.commit = disk.commit.max(p.commit);
                    if let Err(e) = raft_core::persist_entries(&mut disk.log, p, &input) {
                        panic!("n{}: persist {p:?}: {e}", k + 1);
                    }
                }
                Output::Send { to, msg } => {
                    let hdr = Header {
                        cluster_id: 0,
                        from: VOTERS[k],
                        to: *to,
                    };
                    let mut buf = [0u8; 256];
                    let n = codec::encode(&hdr, msg, &s.disks[k].log, &mut buf)
                        .unwrap_or_else(|e| panic!("n{}: encode {msg:?}: {e}", k + 1));
                    let p = Packet {
                        to: (to.0 - 1) as u8,
                        from: k as u8,
                        frame: buf[..n].to_vec(),
                    };
                    let at = s.net.binary_search(&p).unwrap_or_else(|at| at);
                    s.net.insert(at, p);
                }
                Output::Apply { first, last } => {
                    for i in first.0..=last.0 {
                        self.apply(s, k, LogIndex(i));
                    }
                }
                Output::Proposal(_)
                | Output::RoleChanged { .. }
                | Output::Compact { .. }
                | Output::CaptureWanted { .. } => {}
                #[allow(unreachable_patterns)] // Outputs of features the model does not drive.
                _ => {}
            }
        }
        if s.net.len() > self.bounds.max_in_flight {
            return None;
        }
        Some(!out.is_empty())
    }

    /// The configuration a membership action asks for: the asked node's configuration with
    /// the one change; `None` for another action, a crashed node, or an impossible change.
    fn change_of(&self, s: &ModelState, a: Action) -> Option<Membership> {
        let (k, j, m) = match a {
            Action::RemoveMember(k, j) => (k, j, 0),
            Action::MakeLearner(k, j) => (k, j, 1),
            Action::MakeVoter(k, j) => (k, j, 2),
            _ => return None,
        };
        let cur = *s.nodes.get(k as usize)?.as_ref()?.state.membership();
        let id = *VOTERS.get(j as usize)?;
        match m {
            0 => Some(cur.without(id)),
            1 => cur.with_learner(id).ok(),
            _ => cur.with_voter(id).ok(),
        }
    }

    /// Node `k` applies entry `i` to its register; answers the client that proposed it there.
    fn apply(&self, s: &mut ModelState, k: usize, i: LogIndex) {
        let disk = &mut s.disks[k];
        assert_eq!(i, disk.applied.next(), "n{}: Apply out of order", k + 1);
        let e = disk.log.0[i.0 as usize - 1].clone();
        disk.applied = i;
        match s.applied.get(i.0 as usize - 1) {
            Some(first) => {
                if (first.0, first.1, &first.2) != (e.term, e.kind, &e.data) {
                    s.diverged = true;
                }
            }
            None => s.applied.push((e.term, e.kind, e.data.clone())),
        }
        if e.kind != EntryKind::Normal.to_byte() {
            return;
        }
        let (client, is_write, value) = (e.data[0], e.data[1] == 1, e.data[2]);
        if is_write {
            disk.register = value;
        }
        let register = disk.register;
        let c = &mut s.clients[client as usize];
        if c.1
            == Some(Some(Pending {
                node: k as u8,
                index: i,
                term: e.term,
            }))
        {
            c.1 = None;
            let ret = if is_write {
                RegisterRet::WriteOk
            } else {
                RegisterRet::ReadOk(register)
            };
            // An invalid history makes the linearizability property fail; no need to panic.
            let _ = s.history.on_return(client, ret);
        }
    }

    /// Node `k` crashes: it keeps only its disk; its state machine and the client
    /// operations waiting on it are lost.
    fn crash(&self, s: &mut ModelState, k: u8) {
        s.left[3] -= 1;
        s.left[4] -= 1;
        s.nodes[k as usize] = None;
        let d = &mut s.disks[k as usize];
        d.register = 0;
        d.applied = LogIndex(0);
        // Operations waiting for an answer from this node never get one.
        for c in s.clients.iter_mut() {
            if matches!(c.1, Some(Some(p)) if p.node == k) {
                c.1 = Some(None);
            }
        }
    }

    /// Node `k` restarts from what it made durable ([`State::restore`]).
    fn restart(&self, s: &mut ModelState, k: u8) {
        let d = &s.disks[k as usize];
        let restored = Restored {
            hard_state: HardState {
                term: d.hs.0,
                vote: d.hs.1,
            },
            commit: d.commit,
            base: (LogIndex(0), Term(0)),
            applied: LogIndex(0),
            members: None,
        };
        let st = Node::restore(self.config(k as usize), &VOTERS, restored, &d.log)
            .unwrap_or_else(|e| panic!("n{}: restore: {e}", k + 1));
        s.nodes[k as usize] = Some(Live::new(st, self.abstract_timers()));
    }

    /// Replays `actions` from the initial state, checking every `always` property after
    /// each step: a counterexample path as a regression test.
    pub fn replay(&self, actions: &[Action]) -> Result<ModelState, String> {
        self.replay_traced(actions, &mut |_, _, _, _| {})
    }

    /// [`RaftModel::replay`] that also calls `each(step, action, before, after)`.
    fn replay_traced(
        &self,
        actions: &[Action],
        each: &mut dyn FnMut(usize, Action, &ModelState, &ModelState),
    ) -> Result<ModelState, String> {
        let mut s = self.init_states().remove(0);
        for (n, a) in actions.iter().enumerate() {
            let mut enabled = Vec::new();
            self.actions(&s, &mut enabled);
            if !enabled.contains(a) {
                return Err(format!("step {n}: {a:?} is not enabled"));
            }
            let next = self
                .next_state(&s, *a)
                .ok_or_else(|| format!("step {n}: {a:?} passes a bound"))?;
            each(n, *a, &s, &next);
            s = next;
            for p in self.properties() {
                if p.expectation == stateright::Expectation::Always && !(p.condition)(self, &s) {
                    return Err(format!("step {n}: {a:?} breaks {}", p.name));
                }
            }
        }
        Ok(s)
    }

    /// A path told step by step: each action with the frame it delivers, drops or duplicates
    /// (decoded) and every node's role, term, vote, commit and log afterwards; then the
    /// result of the replay (the property a counterexample breaks).
    pub fn trace(&self, actions: &[Action]) -> String {
        let mut out = String::new();
        let result = self.replay_traced(actions, &mut |n, a, before, after| {
            let what = match a {
                Action::Deliver(i) | Action::Drop(i) | Action::Duplicate(i) => {
                    let p = &before.net[i as usize];
                    let msg = match codec::decode(&p.frame) {
                        Ok((_, m)) => format!("{m:?}"),
                        Err(e) => format!("undecodable: {e}"),
                    };
                    format!("n{} -> n{} {msg}", p.from + 1, p.to + 1)
                }
                Action::Invoke(c, k) => {
                    let op = self.bounds.clients[c as usize][before.clients[c as usize].0 as usize];
                    let op = match op {
                        Some(v) => format!("write {v}"),
                        None => "read".into(),
                    };
                    format!("client {c} asks n{} to {op}", k + 1)
                }
                Action::RemoveMember(k, _)
                | Action::MakeLearner(k, _)
                | Action::MakeVoter(k, _) => match self.change_of(before, a) {
                    Some(m) => format!("operator asks n{} to change to {}", k + 1, conf(&m)),
                    None => "(no such change)".into(),
                },
                _ => String::new(),
            };
            out.push_str(&format!("{n:>3}. {a:?} {what}\n"));
            for (k, live) in after.nodes.iter().enumerate() {
                let d = &after.disks[k];
                let node = match live {
                    Some(l) => {
                        let st = &l.state;
                        format!(
                            "{:?} term {} vote {:?}, conf {}@{}",
                            st.role(),
                            st.term().0,
                            st.hard_state().vote.map(|v| v.0),
                            conf(st.membership()),
                            st.membership_index().0
                        )
                    }
                    None => "down".into(),
                };
                let log: Vec<String> = d
                    .log
                    .0
                    .iter()
                    .map(|e| match e.data.as_slice() {
                        _ if e.kind == MEMBERSHIP_KIND => match Membership::decode(&e.data) {
                            Ok(m) => format!("t{}:conf{}", e.term.0, conf(&m)),
                            Err(_) => format!("t{}:conf?", e.term.0),
                        },
                        [] => format!("t{}:empty", e.term.0),
                        [c, 1, v] => format!("t{}:c{c}:w{v}", e.term.0),
                        [c, ..] => format!("t{}:c{c}:r", e.term.0),
                    })
                    .collect();
                out.push_str(&format!(
                    "       n{}: {node}, commit {}, applied {}, log [{}]\n",
                    k + 1,
                    d.commit.0,
                    d.applied.0,
                    log.join(" ")
                ));
            }
        });
        match result {
            Ok(_) => out.push_str("replay: every property holds\n"),
            Err(e) => out.push_str(&format!("replay: {e}\n")),
        }
        out
    }

    /// A path's actions as Rust source: a test that replays it with [`RaftModel::replay`]
    /// under `bounds` (spelled out, so it keeps replaying when the named bounds change).
    pub fn path_as_rust(bounds: &Bounds, actions: &[Action]) -> String {
        let items: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
        let lines: Vec<String> = items
            .chunks(8)
            .map(|c| format!("        {},", c.join(", ")))
            .collect();
        format!(
            "#[test]\nfn model_regression() {{\n    use raft_model::{{Action::*, RaftModel}};\n    \
             let model = RaftModel {{\n        bounds: {},\n    }};\n    \
             #[rustfmt::skip]\n    let path = [\n{}\n    ];\n    \
             if let Err(e) = model.replay(&path) {{\n        panic!(\"{{e}}\");\n    }}\n}}\n",
            bounds.as_rust(),
            lines.join("\n")
        )
    }

    /// Parses a path as [`Action`]'s `Debug` forms separated by spaces or commas
    /// (`"Tick(0) Deliver(1) Invoke(0, 2)"`), as the binary prints it.
    pub fn parse_path(text: &str) -> Result<Vec<Action>, String> {
        let mut v = Vec::new();
        let separators = [',', ' ', '\n', '[', ']'];
        let mut rest = text.trim_matches(separators);
        while !rest.is_empty() {
            let open = rest
                .find('(')
                .ok_or_else(|| format!("no '(' in {rest:?}"))?;
            let close = rest
                .find(')')
                .ok_or_else(|| format!("no ')' in {rest:?}"))?;
            let name = rest[..open].trim().trim_start_matches("Action::");
            let args: Vec<u8> = rest[open + 1..close]
                .split(',')
                .map(|x| x.trim().parse::<u8>().map_err(|e| format!("{x:?}: {e}")))
                .collect::<Result<_, _>>()?;
            let a = match (name, args.as_slice()) {
                ("Tick", [k]) => Action::Tick(*k),
                ("Deliver", [i]) => Action::Deliver(*i),
                ("Drop", [i]) => Action::Drop(*i),
                ("Duplicate", [i]) => Action::Duplicate(*i),
                ("Crash", [k]) => Action::Crash(*k),
                ("Restart", [k]) => Action::Restart(*k),
                ("Reboot", [k]) => Action::Reboot(*k),
                ("Invoke", [c, k]) => Action::Invoke(*c, *k),
                ("RemoveMember", [k, j]) => Action::RemoveMember(*k, *j),
                ("MakeLearner", [k, j]) => Action::MakeLearner(*k, *j),
                ("MakeVoter", [k, j]) => Action::MakeVoter(*k, *j),
                _ => return Err(format!("unknown action {}", &rest[..=close])),
            };
            v.push(a);
            rest = rest[close + 1..].trim_start_matches(separators);
        }
        Ok(v)
    }
}

impl Bounds {
    /// The bounds as a Rust expression.
    pub fn as_rust(&self) -> String {
        let clients: Vec<String> = self
            .clients
            .iter()
            .map(|ops| {
                let ops: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
                format!("&[{}]", ops.join(", "))
            })
            .collect();
        format!(
            "raft_model::Bounds {{ ticks: {}, macro_ticks: {}, drops: {}, duplicates: {}, \
             crashes: {}, reboot: {}, faults: {}, max_term: {}, max_log: {}, \
             max_in_flight: {}, max_depth: {:?}, clients: &[{}], pre_vote: {}, \
             check_quorum: {}, changes: {} }}",
            self.ticks,
            self.macro_ticks,
            self.drops,
            self.duplicates,
            self.crashes,
            self.reboot,
            self.faults,
            self.max_term,
            self.max_log,
            self.max_in_flight,
            self.max_depth,
            clients.join(", "),
            self.pre_vote,
            self.check_quorum,
            self.changes
        )
    }
}

impl Model for RaftModel {
    type State = ModelState;
    type Action = Action;

    fn init_states(&self) -> Vec<ModelState> {
        let nodes = (0..NODES)
            .map(|k| {
                let s = Node::new(self.config(k), &VOTERS).expect("valid model config");
                Some(Live::new(s, self.abstract_timers()))
            })
            .collect();
        let disk = Disk {
            hs: (Term(0), None),
            commit: LogIndex(0),
            log: Log::default(),
            register: 0,
            applied: LogIndex(0),
        };
        let b = &self.bounds;
        vec![ModelState {
            nodes,
            disks: vec![disk; NODES],
            net: Vec::new(),
            left: [
                b.ticks,
                b.drops,
                b.duplicates,
                b.crashes,
                b.faults,
                b.changes,
            ],
            clients: vec![(0, None); b.clients.len()],
            leaders: Vec::new(),
            applied: Vec::new(),
            diverged: false,
            removed_leader_stayed: false,
            history: LinearizabilityTester::new(Register(0)),
        }]
    }

    fn actions(&self, s: &ModelState, actions: &mut Vec<Action>) {
        for k in 0..NODES as u8 {
            match &s.nodes[k as usize] {
                Some(live) => {
                    if s.left[0] > 0 {
                        actions.push(Action::Tick(k));
                    }
                    if s.left[3] > 0 && s.left[4] > 0 {
                        actions.push(if self.bounds.reboot {
                            Action::Reboot(k)
                        } else {
                            Action::Crash(k)
                        });
                    }
                    if live.state.role() == Role::Leader {
                        for (c, &(done, ref pending)) in s.clients.iter().enumerate() {
                            let script = self.bounds.clients[c];
                            if pending.is_none() && (done as usize) < script.len() {
                                actions.push(Action::Invoke(c as u8, k));
                            }
                        }
                        if s.left[5] > 0 {
                            // Every single-member change of the leader's configuration;
                            // the leader's answer decides which are transitions.
                            let conf = live.state.membership();
                            for j in 0..NODES as u8 {
                                match conf.kind_of(VOTERS[j as usize]) {
                                    Some(MemberKind::Voter) => {
                                        actions.push(Action::RemoveMember(k, j));
                                        actions.push(Action::MakeLearner(k, j));
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
                while !self.step(&mut s, k as usize, Input::Tick)? && self.bounds.macro_ticks {
                    quiet += 1;
                    if quiet > 2 * TIMEOUT_TICKS {
                        // A node that never campaigns (outside the configuration) ran its
                        // clock for nothing: with its timer abstracted the state is the one
                        // before, less a tick. (A voter always acts within the limit.)
                        if self.abstract_timers() {
                            return None;
                        }
                        break;
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
            Action::Restart(k) => self.restart(&mut s, k),
            Action::Reboot(k) => {
                self.crash(&mut s, k);
                self.restart(&mut s, k);
            }
            Action::Invoke(c, k) => {
                let (done, _) = s.clients[c as usize];
                let op = self.bounds.clients[c as usize][done as usize];
                let data = match op {
                    Some(v) => [c, 1, v],
                    None => [c, 0, 0],
                };
                let mut out = NodeOutputs::new();
                let mut probe = s.nodes[k as usize].as_ref()?.state.clone();
                probe
                    .step(Input::Propose { data: &data }, &mut out)
                    .expect("propose is never a driver error");
                let Some(Output::Proposal(Proposal::Accepted { index, term })) = out
                    .iter()
                    .find(|o| matches!(o, Output::Proposal(_)))
                    .copied()
                else {
                    // Busy: nothing happens; not a transition worth exploring.
                    return None;
                };
                let reg_op = match op {
                    Some(v) => RegisterOp::Write(v),
                    None => RegisterOp::Read,
                };
                let _ = s.history.on_invoke(c, reg_op);
                s.clients[c as usize] = (
                    done + 1,
                    Some(Some(Pending {
                        node: k,
                        index,
                        term,
                    })),
                );
                self.step(&mut s, k as usize, Input::Propose { data: &data })?;
            }
            Action::RemoveMember(k, _) | Action::MakeLearner(k, _) | Action::MakeVoter(k, _) => {
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
                s.left[5] -= 1;
                self.step(&mut s, k as usize, Input::ChangeMembership { data })?;
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut v = vec![
            Property::always("election safety", |_, s: &ModelState| {
                s.leaders.windows(2).all(|w| w[0].0 != w[1].0)
            }),
            Property::always("state machine safety", |_, s: &ModelState| !s.diverged),
            Property::always("linearizable register", |_, s: &ModelState| {
                s.history.serialized_history().is_some()
            }),
            Property::sometimes("a value is committed", |_, s: &ModelState| {
                s.applied.iter().any(|e| e.1 == NORMAL_KIND)
            }),
            Property::sometimes("a client operation completes", |_, s: &ModelState| {
                s.history.len() > s.clients.iter().filter(|c| c.1.is_some()).count()
            }),
            Property::always("only voters campaign", |_, s: &ModelState| {
                // A node campaigns only as a voter of its configuration, or of the one
                // before while its configuration is uncommitted (thesis section 4.2.2).
                live_nodes(s).all(|st| {
                    !matches!(st.role(), Role::Candidate | Role::PreCandidate)
                        || is_voter(st)
                        || st.membership_index() > st.commit()
                })
            }),
            Property::always(
                "a removed leader steps down at its first tick after the removal commits",
                |_, s: &ModelState| !s.removed_leader_stayed,
            ),
        ];
        if self.bounds.changes > 0 {
            v.push(Property::sometimes(
                "a membership change commits",
                |_, s: &ModelState| s.applied.iter().any(|e| e.1 == MEMBERSHIP_KIND),
            ));
        }
        v
    }
}
