//! A small, explicit harness for the scenario tests named after the Raft paper's rules.
//!
//! Nothing happens unless a test asks for it: a node only ticks when told, a message is only
//! delivered when told (`deliver_all`, `deliver`), writes only become durable when told
//! (`fsync`, under `Durability::Deferred`). Each node is a real [`State`] driven by
//! raft-core's `Engine` (see `seams`), with the simulator's `MemStore` as its log store (one
//! readable, one durable copy), a state machine that records what it applied, and every
//! message goes through the real codec.
//!
//! While the engine performs outputs, the harness's seams check the output contract, so every
//! test checks it too: entries are applied in order and exactly once, a vote grant or append
//! acknowledgement leaves only once what it acknowledges is durable, every frame fits in
//! `max_frame_bytes`, and no step overflows its outputs.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

/// `pick!(outputs, Pattern => value)`: the value of every output matching the pattern, in
/// order (outputs are `Copy`: the pattern binds copies).
macro_rules! pick {
    ($out:expr, $pat:pat => $val:expr) => {
        $out.iter()
            .filter_map(|o| match *o {
                $pat => Some($val),
                _ => None,
            })
            .collect()
    };
}

mod msgs;
mod seams;
mod snap;

use std::collections::{BTreeSet, VecDeque};

use raft_sim::MemStore;
use raftcore::codec::{self, EntryRef, WireEntries};
use raftcore::output::ReadResult;

use raftcore::{
    outputs_needed, Config, EngineError, EntryCount, EntryKind, HardState, Input, LogIndex,
    LogStore, Message, NodeId, Output, Outputs, Proposal, Restored, Role, SnapshotMeta, State,
    StepError, Term,
};

use seams::{make_all_durable, make_oldest_durable, Call, Called, HarnessError};

pub use msgs::*;
pub use snap::*;

/// Up to 7 voters (Figure 7 has a leader and six followers), a 64-entry window, 4 appends
/// in flight per follower.
pub const PEERS: usize = 7;
pub const LOG: usize = 64;
pub const INFLIGHT: usize = 4;
pub type Raft = State<PEERS, LOG, INFLIGHT>;
/// Exactly the documented bound: a step that needed more would fail to fit.
pub const OUT: usize = outputs_needed(PEERS);
pub type Out = Outputs<OUT>;

pub fn n(id: u32) -> NodeId {
    NodeId(id)
}
pub fn t(term: u64) -> Term {
    Term(term)
}
pub fn i(index: u64) -> LogIndex {
    LogIndex(index)
}

/// The paper's algorithm: no PreVote, no CheckQuorum (tests of those turn them on).
pub fn paper_config(id: u32) -> Config {
    let mut c = Config::new(NodeId(id), 0x5eed_0000 + u64::from(id) * 7919);
    c.pre_vote = false;
    c.check_quorum = false;
    c
}

/// The payload the harness gives a pre-built entry: unique per (index, term).
pub fn payload(index: u64, term: u64) -> Vec<u8> {
    format!("i{index}t{term}").into_bytes()
}

// ----- The harness -----

/// A frame in flight, with the descriptor it was encoded from.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Message<EntryCount>,
    pub frame: Vec<u8>,
}

impl Envelope {
    /// The message as the receiver decodes it.
    pub fn decoded(&self) -> Message<WireEntries<'_>> {
        codec::decode(&self.frame)
            .expect("frames we encoded decode")
            .1
    }
    /// The terms of the entries an AppendEntries carries.
    pub fn entry_terms(&self) -> Vec<u64> {
        self.decoded().entries().map(|e| e.term.0).collect()
    }
    pub fn is_append(&self) -> bool {
        matches!(self.msg, Message::Append(_))
    }
}

/// A performed `Persist` that is not durable yet (`Durability::Deferred`).
#[derive(Clone, Debug)]
pub struct Write {
    pub seq: u64,
    pub hard_state: Option<HardState>,
    pub truncate_from: Option<LogIndex>,
    pub entries: Vec<(LogIndex, Term, EntryKind, Vec<u8>)>,
}

#[derive(Clone)]
pub struct Node {
    pub id: NodeId,
    pub cfg: Config,
    /// `None` while crashed.
    pub raft: Option<Raft>,
    /// What the driver reads from: holds performed writes, durable or not.
    pub store: MemStore,
    /// What survives a crash.
    pub durable: MemStore,
    pub durable_hs: HardState,
    pub pending: VecDeque<Write>,
    /// The state machine: every applied entry (index, term, payload), in order.
    pub applied: Vec<(LogIndex, Term, Vec<u8>)>,
    /// Whether the state machine survives a crash (restored with its applied index) or
    /// starts empty (restored with applied 0 and fed everything again).
    pub machine_is_durable: bool,
    /// Every output of every step, in order, across restarts.
    pub outputs: Vec<Output>,
    /// A copy driven by the by-value `raftcore::step`, compared after every step.
    pub shadow: Option<Raft>,
    /// The durable snapshot file (`Input::SnapshotSaved`, or installed): its description
    /// and bytes. Survives a crash.
    pub snap_file: Option<(SnapshotMeta, Vec<u8>)>,
    /// The snapshot being received (the chunks written): a temporary file, lost on a
    /// crash.
    pub incoming: Option<(SnapshotMeta, Vec<u8>)>,
    /// A complete snapshot whose install is held back (`Cluster::hold_installs`).
    pub install_wanted: Option<SnapshotMeta>,
}

impl Node {
    pub fn raft(&self) -> &Raft {
        self.raft.as_ref().expect("node is up")
    }
    /// The state machine's applied index.
    pub fn applied_index(&self) -> LogIndex {
        self.applied.last().map_or(LogIndex::ZERO, |a| a.0)
    }
    /// The terms of the readable log after its compaction point (index 1 first if none).
    pub fn log_terms(&self) -> Vec<u64> {
        self.store.entries().iter().map(|e| e.term.0).collect()
    }
    /// The readable log as (term, payload).
    pub fn log(&self) -> Vec<(u64, Vec<u8>)> {
        self.store
            .entries()
            .iter()
            .map(|e| (e.term.0, e.data.clone()))
            .collect()
    }
    /// The non-empty payloads applied, in order.
    pub fn applied_data(&self) -> Vec<Vec<u8>> {
        self.applied
            .iter()
            .filter(|a| !a.2.is_empty())
            .map(|a| a.2.clone())
            .collect()
    }
}

#[derive(Clone)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub voters: Vec<NodeId>,
    /// Frames in flight, oldest first.
    pub wire: VecDeque<Envelope>,
    /// Directed links (from, to) whose frames are lost at delivery.
    pub cut: BTreeSet<(u32, u32)>,
    /// Under `Deferred`: make every write durable before each delivery.
    pub auto_fsync: bool,
    /// The most outputs any step produced.
    pub max_outputs: usize,
    /// Hold a complete snapshot's install back for the test (`Cluster::install`) instead
    /// of letting the engine perform it (and report `SnapshotInstalled`) with the step.
    pub hold_installs: bool,
}

impl Cluster {
    /// `count` fresh nodes with the paper's configuration.
    pub fn new(count: u32) -> Cluster {
        Cluster::with_config(count, |_| {})
    }

    /// `count` fresh nodes; `tweak` adjusts each node's configuration.
    pub fn with_config(count: u32, tweak: impl Fn(&mut Config)) -> Cluster {
        let empty: Vec<(u64, Vec<u64>)> = (0..count).map(|_| (0, Vec::new())).collect();
        Cluster::with_logs(&empty, tweak)
    }

    /// Nodes restarted from a given durable state: for node `k + 1`, `logs[k]` is its
    /// current term and the terms of its log entries (index 1 first, harness payloads).
    pub fn with_logs(logs: &[(u64, Vec<u64>)], tweak: impl Fn(&mut Config)) -> Cluster {
        let voters: Vec<NodeId> = (1..=logs.len() as u32).map(NodeId).collect();
        let mut nodes = Vec::new();
        for (k, (term, terms)) in logs.iter().enumerate() {
            let id = NodeId(k as u32 + 1);
            let mut cfg = paper_config(id.0);
            tweak(&mut cfg);
            let mut store = MemStore::default();
            for (j, &et) in terms.iter().enumerate() {
                let index = i(j as u64 + 1);
                let data = payload(index.0, et);
                let e = EntryRef {
                    term: t(et),
                    kind: EntryKind::Normal,
                    data: &data,
                };
                store.append(index, e).expect("contiguous");
            }
            let hs = HardState {
                term: t(*term),
                vote: None,
            };
            let restored = Restored {
                hard_state: hs,
                commit: LogIndex::ZERO,
                base: (LogIndex::ZERO, Term(0)),
                applied: LogIndex::ZERO,
                members: None,
                vote_floor: LogIndex::ZERO,
            };
            let raft = State::restore(cfg, &voters, restored, &store).expect("valid restore");
            nodes.push(Node {
                id,
                cfg,
                raft: Some(raft),
                durable: store.clone(),
                store,
                durable_hs: hs,
                pending: VecDeque::new(),
                applied: Vec::new(),
                machine_is_durable: true,
                outputs: Vec::new(),
                shadow: None,
                snap_file: None,
                incoming: None,
                install_wanted: None,
            });
        }
        Cluster {
            nodes,
            voters,
            wire: VecDeque::new(),
            cut: BTreeSet::new(),
            auto_fsync: true,
            max_outputs: 0,
            hold_installs: false,
        }
    }

    pub fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize - 1]
    }
    pub fn node_mut(&mut self, id: u32) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }
    pub fn raft(&self, id: u32) -> &Raft {
        self.node(id).raft()
    }
    pub fn role(&self, id: u32) -> Role {
        self.raft(id).role()
    }
    pub fn term(&self, id: u32) -> u64 {
        self.raft(id).term().0
    }
    pub fn commit(&self, id: u32) -> u64 {
        self.raft(id).commit().0
    }
    pub fn ids(&self) -> Vec<u32> {
        (1..=self.nodes.len() as u32).collect()
    }
    pub fn up(&self, id: u32) -> bool {
        self.node(id).raft.is_some()
    }

    /// Starts comparing node `id` against a copy driven by the by-value `step`.
    pub fn shadow_by_value(&mut self, id: u32) {
        let node = self.node_mut(id);
        node.shadow = node.raft.clone();
    }

    /// Steps node `id` with `input` and performs every output in order.
    pub fn step(&mut self, id: u32, input: Input<'_>) -> Vec<Output> {
        self.step_and_crash_after(id, input, usize::MAX)
    }

    /// Steps node `id` and crashes it before its seams perform more than `performed` of
    /// the step's outputs (each applied entry counts as one; proposal answers, reads and role
    /// changes count as none): a crash in the middle of performing a step. Returns the
    /// step's outputs (those seen before the crash).
    pub fn step_and_crash_after(
        &mut self,
        id: u32,
        input: Input<'_>,
        performed: usize,
    ) -> Vec<Output> {
        self.try_step_and_crash_after(id, input, performed)
            .unwrap_or_else(|e| panic!("n{id}: driver error {e} on {input:?}"))
    }

    /// Steps node `id` with `input`: a driver error comes back (nothing performed).
    pub fn try_step(&mut self, id: u32, input: Input<'_>) -> Result<Vec<Output>, StepError> {
        self.try_step_and_crash_after(id, input, usize::MAX)
    }

    fn try_step_and_crash_after(
        &mut self,
        id: u32,
        input: Input<'_>,
        performed: usize,
    ) -> Result<Vec<Output>, StepError> {
        let budget = (performed != usize::MAX).then_some(performed);
        let called = self.drive(id, Call::Step(input), budget)?;
        Ok(called.steps.into_iter().next().unwrap_or_default())
    }

    /// Makes `call` on node `id`'s engine and keeps the books: every output of every core
    /// step goes to `outputs` (the steps of the engine's own follow-up inputs too), the
    /// by-value copy is compared, no step overflowed, and a crash budget that ran out crashes
    /// the node. raft-core's refusal of the input comes back; any other error panics.
    fn drive(
        &mut self,
        id: u32,
        call: Call<'_>,
        budget: Option<usize>,
    ) -> Result<Called, StepError> {
        let called = self.call(id, call, budget);
        for out in &called.steps {
            self.max_outputs = self.max_outputs.max(out.len());
            self.node_mut(id).outputs.extend_from_slice(out);
        }
        match called.result {
            Ok(()) | Err(EngineError::Core(_)) => self.check_shadow(id, &call, &called),
            Err(EngineError::Driver(HarnessError::Crash)) => self.crash(id),
            Err(e) => panic!("n{id}: {e} on {call:?}"),
        }
        if let Err(EngineError::Core(e)) = called.result {
            return Err(e);
        }
        if self.up(id) {
            let overflow = self.raft(id).stats().output_overflow;
            assert_eq!(overflow, 0, "n{id}: outputs overflowed");
        }
        Ok(called)
    }

    pub fn tick(&mut self, id: u32) -> Vec<Output> {
        self.step(id, Input::Tick)
    }

    /// `count` ticks; all their outputs.
    pub fn ticks(&mut self, id: u32, count: u32) -> Vec<Output> {
        let mut all = Vec::new();
        for _ in 0..count {
            all.extend(self.tick(id));
        }
        all
    }

    /// How many ticks node `id` would take to start a (pre-)election, measured on a copy.
    pub fn ticks_to_timeout(&self, id: u32) -> u32 {
        let mut copy = self.raft(id).clone();
        let campaigns = |s: &Raft| s.stats().elections + s.stats().pre_votes;
        let before = campaigns(&copy);
        let mut out = Out::new();
        for k in 1..=1000 {
            copy.step(Input::Tick, &mut out).expect("tick");
            if campaigns(&copy) > before {
                return k;
            }
        }
        panic!("n{id} never times out");
    }

    /// Ticks node `id` until its election timer fires; returns that tick's outputs.
    pub fn tick_until_campaign(&mut self, id: u32) -> Vec<Output> {
        let k = self.ticks_to_timeout(id);
        self.ticks(id, k - 1);
        let out = self.tick(id);
        assert!(
            matches!(
                self.role(id),
                Role::Candidate | Role::PreCandidate | Role::Leader
            ),
            "n{id} did not campaign"
        );
        out
    }

    /// Hands node `to` a message from `from` (as a decoded `Input::Message`).
    pub fn recv(&mut self, to: u32, from: u32, msg: Message<WireEntries<'_>>) -> Vec<Output> {
        self.step(to, Input::Message { from: n(from), msg })
    }

    /// Node `id` begins the linearizable read `rid`; the read answers of this step.
    pub fn read(&mut self, id: u32, rid: u64) -> Vec<ReadResult> {
        reads(&self.step(id, Input::Read { id: rid }))
    }

    /// Every read answer node `id` has given so far, in order (across restarts).
    pub fn reads_of(&self, id: u32) -> Vec<ReadResult> {
        reads(&self.node(id).outputs)
    }

    /// Asks node `id` to hand leadership to `to`.
    pub fn transfer(&mut self, id: u32, to: u32) -> Vec<Output> {
        self.step(id, Input::TransferLeader { to: n(to) })
    }

    pub fn propose(&mut self, id: u32, data: &[u8]) -> Proposal {
        let out = self.step(id, Input::Propose { data });
        proposal(&out).expect("a Propose is always answered")
    }

    /// Delivers one envelope (as a raw frame, through the codec); lost if its link is cut
    /// or the receiver is down.
    pub fn deliver(&mut self, env: &Envelope) -> Vec<Output> {
        if self.cut.contains(&(env.from.0, env.to.0)) || !self.up(env.to.0) {
            return Vec::new();
        }
        self.step(env.to.0, Input::Frame(&env.frame))
    }

    /// Delivers frames in order until none is left (new ones included).
    pub fn deliver_all(&mut self) -> usize {
        self.deliver_all_dropping(|_| false)
    }

    /// Like `deliver_all`, but frames matching `drop` are lost instead of delivered.
    pub fn deliver_all_dropping(&mut self, drop: impl Fn(&Envelope) -> bool) -> usize {
        let mut count = 0;
        loop {
            if self.auto_fsync {
                self.fsync_all();
            }
            let Some(env) = self.wire.pop_front() else {
                break;
            };
            if !drop(&env) {
                self.deliver(&env);
            }
            count += 1;
            assert!(count < 100_000, "delivering does not converge");
        }
        count
    }

    /// Removes and returns every frame in flight.
    pub fn drain(&mut self) -> Vec<Envelope> {
        self.wire.drain(..).collect()
    }

    /// Removes and returns the frames in flight matching `pred`.
    pub fn take(&mut self, pred: impl Fn(&Envelope) -> bool) -> Vec<Envelope> {
        let (hit, keep): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|e| pred(e));
        self.wire = keep.into();
        hit
    }

    /// Ticks node `id` until its election timer fires, then delivers everything: with no
    /// other node ticking, it wins (if the others can vote for it).
    pub fn elect(&mut self, id: u32) {
        self.tick_until_campaign(id);
        self.deliver_all();
        assert_eq!(self.role(id), Role::Leader, "n{id} was not elected");
    }

    /// Ticks the leader `id` through one heartbeat interval and delivers everything.
    pub fn heartbeat(&mut self, id: u32) {
        let hb = self.node(id).cfg.heartbeat_ticks;
        self.ticks(id, hb);
        self.deliver_all();
    }

    /// Like `heartbeat`, but frames matching `drop` are lost.
    pub fn heartbeat_dropping(&mut self, id: u32, drop: impl Fn(&Envelope) -> bool) {
        let hb = self.node(id).cfg.heartbeat_ticks;
        self.ticks(id, hb);
        self.deliver_all_dropping(drop);
    }

    /// Makes every pending write of node `id` durable and reports it (`Engine::persisted`,
    /// as a driver whose writes become durable in the background does); the outputs of that
    /// step.
    pub fn fsync(&mut self, id: u32) -> Vec<Output> {
        let seq = make_all_durable(self.node_mut(id));
        self.report_persisted(id, seq)
    }

    /// Makes only node `id`'s oldest pending write durable and reports it (a background
    /// writer reporting its writes one at a time); the outputs of that step.
    pub fn fsync_oldest(&mut self, id: u32) -> Vec<Output> {
        let seq = make_oldest_durable(self.node_mut(id));
        self.report_persisted(id, seq)
    }

    /// Reports `Persisted(seq)` to node `id` if a write became durable and the node is up;
    /// the outputs of that step.
    fn report_persisted(&mut self, id: u32, seq: Option<u64>) -> Vec<Output> {
        match seq {
            Some(seq) if self.up(id) => self
                .drive(id, Call::Persisted(seq), None)
                .unwrap_or_else(|e| panic!("n{id}: driver error {e} on Persisted {seq}"))
                .steps
                .into_iter()
                .next()
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn fsync_all(&mut self) {
        for id in self.ids() {
            if !self.node(id).pending.is_empty() {
                self.fsync(id);
            }
        }
    }

    /// Node `id` loses everything that was not durable.
    pub fn crash(&mut self, id: u32) {
        let node = self.node_mut(id);
        node.raft = None;
        node.shadow = None;
        node.pending.clear();
        node.store = node.durable.clone();
        node.incoming = None;
        node.install_wanted = None;
        if !node.machine_is_durable {
            // The state machine restarts from the durable snapshot, if any.
            node.applied = node
                .snap_file
                .as_ref()
                .map(|f| decode_machine(&f.1).expect("a durable snapshot decodes"))
                .unwrap_or_default();
        }
    }

    /// Node `id` restarts from exactly what was durable.
    pub fn restart(&mut self, id: u32) {
        let voters = self.voters.clone();
        let node = self.node_mut(id);
        assert!(node.raft.is_none(), "n{id} is up");
        let restored = Restored {
            hard_state: node.durable_hs,
            commit: LogIndex::ZERO,
            base: (node.durable.base(), node.durable.base_term()),
            applied: node.applied_index().max(node.durable.base()),
            members: None,
            vote_floor: LogIndex::ZERO,
        };
        let raft = State::restore(node.cfg, &voters, restored, &node.durable)
            .unwrap_or_else(|e| panic!("n{id}: restore: {e}"));
        node.raft = Some(raft);
        // The driver reports its durable snapshot again after a restart.
        if let Some(meta) = node.snap_file.as_ref().map(|f| f.0) {
            self.step(id, Input::SnapshotSaved { meta });
        }
    }

    /// Node `id` (crashed) restarts from damaged storage repaired by keeping only its log up
    /// to `keep`, with `vote_floor` as the driver computed it (`LogIndex::ZERO`: the
    /// unsafe restart without one). Its state machine restarts empty and is fed the log
    /// again, as a driver whose applied state was past the kept log would do.
    pub fn restart_repaired(&mut self, id: u32, keep: u64, vote_floor: u64) {
        let voters = self.voters.clone();
        let node = self.node_mut(id);
        assert!(node.raft.is_none(), "n{id} is up");
        node.durable.truncate_from(i(keep + 1));
        node.store = node.durable.clone();
        node.applied.clear();
        let restored = Restored {
            hard_state: node.durable_hs,
            commit: LogIndex::ZERO,
            base: (node.durable.base(), node.durable.base_term()),
            applied: node.durable.base(),
            members: None,
            vote_floor: i(vote_floor),
        };
        let raft = State::restore(node.cfg, &voters, restored, &node.durable)
            .unwrap_or_else(|e| panic!("n{id}: restore: {e}"));
        node.raft = Some(raft);
    }

    pub fn crash_restart(&mut self, id: u32) {
        self.crash(id);
        self.restart(id);
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: u32) {
        for other in self.ids() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Asserts every listed node holds exactly the same log (terms and payloads).
    pub fn assert_same_logs(&self, ids: &[u32]) {
        let first = self.node(ids[0]).log();
        for &id in &ids[1..] {
            assert_eq!(
                self.node(id).log(),
                first,
                "n{id} and n{} hold different logs",
                ids[0]
            );
        }
    }
}

/// Everything the public read-only view of a `State` shows.
pub fn view(s: &Raft) -> String {
    let matches: Vec<_> = s.membership().members().map(|v| s.match_index(v)).collect();
    format!(
        "id={} role={:?} hs={:?} leader={:?} commit={} applied={} first={} last={} last_term={} \
         durable={} durable_seq={} window={:?} halted={} match={:?} stats={:?}",
        s.id(),
        s.role(),
        s.hard_state(),
        s.leader(),
        s.commit(),
        s.applied(),
        s.first_index(),
        s.last_index(),
        s.last_term(),
        s.durable_index(),
        s.durable_seq(),
        s.window_usage(),
        s.is_halted(),
        matches,
        s.stats()
    )
}
