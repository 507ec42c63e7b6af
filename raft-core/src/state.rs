//! [`State`]: one node's whole protocol state, and the step function that advances it.

use heapless::{Deque, VecView};

use crate::codec;
use crate::config::{Config, Durability};
use crate::error::{ConfigError, StepError};
use crate::fmt::raft_info;
use crate::input::Input;
use crate::log::store::LogStore;
use crate::log::window::{LogSlot, Window, WindowStorage};
use crate::membership::{Membership, MembershipRefusal, MAX_MEMBERS};
use crate::message::SnapshotMeta;
use crate::message::{EntryCount, Message};
use crate::output::{outputs_needed, NewEntries, Output, Outputs, Persist};
use crate::rng::Rng;
use crate::role::Receiving;
use crate::role_state::{Leading, RoleState};
use crate::stats::Stats;
use crate::tracker::{Tracker, Votes};
use crate::types::{EntryKind, HardState, LogIndex, NodeId, Role, Term};

/// How many `Persist`s may be outstanding under `Durability::Deferred` before new ones are
/// merged into the newest (which then stands for both). Never blocks progress.
const PERSIST_QUEUE: usize = 4;

/// One node's protocol state. Capacities are const generics:
/// - `PEERS`: the most members (voters and learners) the cluster may have, this node
///   included, at most [`MAX_MEMBERS`](crate::MAX_MEMBERS);
/// - `LOG`: entries in the log window (16 bytes of metadata each; payloads live in the store);
/// - `INFLIGHT`: AppendEntries in flight per follower (the pipelining window);
///
/// and `W`, where the log window's `LOG` slots live ([`WindowStorage`]): inline by default,
/// or storage the caller provides (a boxed slice on a host, a `&'static mut` array on a
/// firmware), so that `State` itself stays small whatever the window.
///
/// Build it with [`State::new`] / [`State::restore`] (inline window) or [`State::new_in`] /
/// [`State::restore_in`] (caller-provided window), then call [`State::step`] for every input.
#[derive(Clone, Debug)]
pub struct State<
    const PEERS: usize,
    const LOG: usize,
    const INFLIGHT: usize,
    W: WindowStorage = [LogSlot; LOG],
> {
    pub(crate) cfg: Config,
    /// The nodes this one tracks, by stable position (see [`Tracker`]).
    pub(crate) tracker: Tracker<PEERS>,
    /// The latest configuration in the log (committed or not), or of the snapshot or the
    /// initial voters if the log holds none.
    pub(crate) conf: Membership,
    /// The index of `conf`'s entry (the snapshot's index, or 0 for the initial voters).
    pub(crate) conf_index: LogIndex,
    /// The configuration before `conf`, in force again if `conf`'s entry is overwritten.
    pub(crate) prev_conf: (Membership, LogIndex),
    pub(crate) hs: HardState,
    /// The role, with what only that role keeps (votes, the leader's progress and reads).
    pub(crate) role: RoleState<PEERS, INFLIGHT>,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: Window<LOG, W>,
    pub(crate) commit: LogIndex,
    /// Last index handed out in an `Apply`.
    pub(crate) applied: LogIndex,
    /// The state machine captured up to here (`Input::Captured`).
    pub(crate) captured: LogIndex,
    /// Every voter holds the log up to here (leader: computed; follower: from the leader).
    pub(crate) floor: LogIndex,
    /// `CaptureWanted` was last emitted for this applied index.
    pub(crate) capture_asked: LogIndex,
    /// Last index whose content is durable and equal to the current log.
    pub(crate) durable: LogIndex,
    /// Every `Persist` up to this sequence number is durable.
    pub(crate) durable_seq: u64,
    /// The sequence number the next `Persist` gets.
    pub(crate) next_seq: u64,
    /// The `Persist` that carries the current hard state.
    pub(crate) hs_seq: u64,
    /// Outstanding `Persist`s: (seq, last durable-equal index once it lands).
    pub(crate) persists: Deque<(u64, LogIndex), PERSIST_QUEUE>,
    /// A granted vote waiting for its `Persist` (to, term, seq).
    pub(crate) held_vote: Option<(NodeId, Term, u64)>,
    /// An append acknowledgement waiting for its `Persist` (to, message, seq).
    pub(crate) held_ack: Option<(NodeId, crate::message::AppendResponse, u64)>,
    pub(crate) rng: Rng,
    /// Ticks since the election timer was reset (followers and candidates) or since the
    /// last CheckQuorum window began (leaders).
    pub(crate) elapsed: u32,
    /// The current randomized election timeout.
    pub(crate) timeout: u32,
    /// The leader's heartbeat round (raftos' request_id). It keeps counting across this
    /// node's terms as leader (so rounds never repeat on the wire), hence lives here and not
    /// in [`Leading`].
    pub(crate) round: u32,
    /// The newest snapshot the driver holds durably (`Input::SnapshotSaved`).
    pub(crate) snapshot: Option<SnapshotMeta>,
    /// The snapshot this follower is receiving.
    pub(crate) receiving: Option<Receiving>,
    /// The newest read id seen (`Input::Read` ids must increase).
    pub(crate) last_read_id: Option<u64>,
    /// Ticks this node has counted as leader (the lease clock). Like `round`, it runs on
    /// across terms, and `round_sent` is read against it.
    pub(crate) now: u64,
    /// The tick each of the last 4 rounds was sent at, by `round % 4`.
    pub(crate) round_sent: [u64; 4],
    pub(crate) stats: Stats,
    pub(crate) halted: bool,
    /// `restore` raised the term: the first step persists it.
    pub(crate) hs_unpersisted: bool,
    /// Restored and not yet past one election timeout: (pre)votes are refused (lease).
    pub(crate) quiet_after_restart: bool,
    /// The log counts as filling from this many store bytes on (see `log_filling`); fixed by
    /// the configuration, so each step compares once.
    pub(crate) fill_at: u64,
}

/// What a restarted node read back from its storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The durable hard state.
    pub hard_state: HardState,
    /// The last `Persist::commit` that was durable (`LogIndex::ZERO` if not stored). Entries
    /// up to it (and up to the durable log) count as committed again after the restart.
    pub commit: LogIndex,
    /// The index and term the log starts after (0 and 0 without compaction).
    pub base: (LogIndex, Term),
    /// The index the state machine has applied (at least `base.0`: a snapshot covers it).
    pub applied: LogIndex,
    /// The membership as of `base`: the snapshot's `meta.members` when the log starts after a
    /// snapshot; `None` for the initial voters given to [`State::restore`].
    pub members: Option<Membership>,
}

/// Per-step bookkeeping: the outputs, and the one `Persist` the step may emit.
pub(crate) struct Ctx<'o> {
    pub(crate) out: &'o mut VecView<Output>,
    pub(crate) hs_dirty: bool,
    pub(crate) truncate_from: Option<LogIndex>,
    pub(crate) entries: Option<NewEntries>,
    /// Voter positions already sent a message this step (one message per peer per step).
    pub(crate) sent_to: u64,
}

impl Ctx<'_> {
    #[inline]
    pub(crate) fn push(&mut self, o: Output, stats: &mut Stats) {
        if self.out.push(o).is_err() {
            stats.output_overflow += 1;
        }
    }

    pub(crate) fn persists(&self) -> bool {
        self.hs_dirty || self.truncate_from.is_some() || self.entries.is_some()
    }
}

impl<const P: usize, const L: usize, const F: usize> State<P, L, F> {
    /// A fresh node with its log window inline: [`State::new_in`] with `[LogSlot; LOG]`.
    /// `size_of::<State>()` then grows by 16 bytes per window entry; a host with a large
    /// window keeps it out of line with `new_in` and a boxed slice.
    pub fn new(cfg: Config, voters: &[NodeId]) -> Result<Self, ConfigError> {
        Self::new_in(cfg, voters, [LogSlot::default(); L])
    }

    /// A node rebuilt after a restart, its log window inline: [`State::restore_in`] with
    /// `[LogSlot; LOG]`.
    pub fn restore<S: LogStore + ?Sized>(
        cfg: Config,
        voters: &[NodeId],
        restored: Restored,
        store: &S,
    ) -> Result<Self, ConfigError> {
        Self::restore_in(cfg, voters, restored, store, [LogSlot::default(); L])
    }
}

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// A fresh node with an empty log in term 0. `voters` is the cluster's initial
    /// configuration, the same on every node. A node joining a running cluster is built with
    /// the voters it knows (itself not among them, possibly none): while it is not a member it
    /// never campaigns, takes the log from whichever leader sends it, and learns the
    /// configuration from that log once a membership change adds it.
    ///
    /// The log window lives in `window`, which must hold exactly `LOG` slots (their contents
    /// do not matter).
    pub fn new_in(cfg: Config, voters: &[NodeId], window: W) -> Result<Self, ConfigError> {
        let restored = Restored {
            hard_state: HardState::default(),
            commit: LogIndex::ZERO,
            base: (LogIndex::ZERO, Term(0)),
            applied: LogIndex::ZERO,
            members: None,
        };
        Self::build(cfg, voters, restored, window)
    }

    /// A node rebuilt after a restart from exactly what was durable: the hard state, the
    /// log entries in `store` after `restored.base`, and the state machine's applied index.
    /// Entries up to the applied index are not applied again; later committed entries are.
    /// The membership is `restored.members` (or the initial `voters`) updated by every
    /// membership entry in the log, committed or not.
    ///
    /// The log window lives in `window`, which must hold exactly `LOG` slots.
    pub fn restore_in<S: LogStore + ?Sized>(
        cfg: Config,
        voters: &[NodeId],
        restored: Restored,
        store: &S,
        window: W,
    ) -> Result<Self, ConfigError> {
        let mut s = Self::build(cfg, voters, restored, window)?;
        let mut i = restored.base.0.next();
        while i <= store.last_index() {
            let e = store.entry(i).ok_or(ConfigError::BadRestore)?;
            if e.term < s.log.last_term() || e.data.len() > u16::MAX as usize {
                return Err(ConfigError::BadRestore);
            }
            let meta = LogSlot {
                term: e.term,
                len: e.data.len() as u16,
                kind: e.kind,
            };
            if !s.log.push(meta) {
                return Err(ConfigError::BadRestore);
            }
            if e.kind == EntryKind::Membership {
                let m = Membership::decode(e.data).map_err(|_| ConfigError::BadRestore)?;
                if m.len() > P {
                    return Err(ConfigError::BadRestore);
                }
                s.adopt_conf(m, i);
            }
            i = i.next();
        }
        if restored.applied > s.log.last_index() {
            return Err(ConfigError::BadRestore);
        }
        s.commit = s.commit.max(restored.commit.min(s.log.last_index()));
        // Entries (or an installed snapshot) can be durable before the hard state of the term
        // they came in, under `Durability::Deferred`. The node saw that term, so it resumes in
        // it; no vote of that term was durable, hence none was sent, and the vote is free.
        if s.log.last_term() > s.hs.term {
            s.hs = HardState {
                term: s.log.last_term(),
                vote: None,
            };
            // Persisted by the first step, before anything it acknowledges.
            s.hs_unpersisted = true;
        }
        // With lease reads, a node that may have heard from a leader before the restart could
        // still be inside that leader's lease: it refuses votes for an election timeout, as if
        // that leader were still heard (otherwise a restart would let a second leader arise
        // while the first still answers reads from its lease).
        s.quiet_after_restart = cfg.lease_reads && s.hs.term > Term(0);
        s.durable = s.log.last_index();
        Ok(s)
    }

    fn build(cfg: Config, voters: &[NodeId], r: Restored, window: W) -> Result<Self, ConfigError> {
        const { assert!(P <= MAX_MEMBERS, "PEERS above MAX_MEMBERS") };
        cfg.validate(F, L)?;
        let conf = match r.members {
            Some(m) => m,
            None => Membership::new(voters, &[]).map_err(|e| match e {
                MembershipRefusal::TooMany => ConfigError::TooManyVoters,
                _ => ConfigError::BadVoters,
            })?,
        };
        if conf.len() > P {
            return Err(ConfigError::TooManyVoters);
        }
        if r.applied < r.base.0 {
            return Err(ConfigError::BadRestore);
        }
        let mut s = State {
            cfg,
            tracker: Tracker::new(),
            conf,
            conf_index: r.base.0,
            prev_conf: (conf, r.base.0),
            hs: r.hard_state,
            role: RoleState::Follower,
            leader: None,
            log: Window::new(window, r.base.0, r.base.1).ok_or(ConfigError::WindowStorage)?,
            commit: r.applied,
            applied: r.applied,
            // A restarted state machine was rebuilt from a durable capture of `applied`.
            captured: r.applied,
            floor: r.base.0,
            capture_asked: LogIndex::ZERO,
            durable: r.base.0,
            durable_seq: 0,
            next_seq: 1,
            hs_seq: 0,
            persists: Deque::new(),
            held_vote: None,
            held_ack: None,
            rng: Rng::new(cfg.seed ^ u64::from(cfg.id.0).rotate_left(32)),
            elapsed: 0,
            timeout: cfg.election_ticks,
            round: 0,
            snapshot: None,
            receiving: None,
            last_read_id: None,
            now: 0,
            round_sent: [0; 4],
            stats: Stats::default(),
            halted: false,
            hs_unpersisted: false,
            quiet_after_restart: false,
            fill_at: fill_at::<L>(&cfg),
        };
        // This node first: its position never changes. Capacity P >= 1 holds (MAX_MEMBERS
        // >= P and a zero-sized `PEERS` cannot hold this node).
        if !s.track(cfg.id) {
            return Err(ConfigError::TooManyVoters);
        }
        s.sync_slots();
        s.reset_election_timer();
        Ok(s)
    }

    /// Advances the node by one input, appending what the driver must do to `out` (which is
    /// cleared first). See [`crate::output`] for the contract. Errors are driver mistakes
    /// only; any received message, however hostile, yields outputs or is counted and ignored.
    ///
    /// `N` must be at least [`outputs_needed`]`(PEERS)`: checked at compile time.
    pub fn step<const N: usize>(
        &mut self,
        input: Input<'_>,
        out: &mut Outputs<N>,
    ) -> Result<(), StepError> {
        const {
            assert!(
                N >= outputs_needed(P),
                "Outputs capacity below outputs_needed(PEERS)"
            )
        };
        out.clear();
        self.step_in(&input, out.as_mut_view())
    }

    /// [`State::step`] over an output list of any capacity: the caller guarantees at least
    /// [`outputs_needed`]`(PEERS)` free slots (outputs beyond it are counted in
    /// `Stats::output_overflow`, never written out of bounds).
    pub fn step_view(
        &mut self,
        input: Input<'_>,
        out: &mut VecView<Output>,
    ) -> Result<(), StepError> {
        self.step_in(&input, out)
    }

    /// The step with the input borrowed (for the engine).
    #[inline]
    pub(crate) fn step_ref(
        &mut self,
        input: &Input<'_>,
        out: &mut VecView<Output>,
    ) -> Result<(), StepError> {
        self.step_in(input, out)
    }

    /// The step itself, the input borrowed (a by-value input would be copied once more on
    /// each call: ~100 bytes on the hot path).
    fn step_in(&mut self, input: &Input<'_>, out: &mut VecView<Output>) -> Result<(), StepError> {
        if self.halted {
            return Err(StepError::Halted);
        }
        let mut cx = Ctx {
            out,
            hs_dirty: self.hs_unpersisted,
            truncate_from: None,
            entries: None,
            sent_to: 0,
        };
        let r = self.dispatch(input, &mut cx);
        // A driver error is refused before any change: nothing to apply, persist or send.
        if r.is_ok() {
            self.after_step(&mut cx);
        }
        r
    }

    fn dispatch(&mut self, input: &Input<'_>, cx: &mut Ctx<'_>) -> Result<(), StepError> {
        match *input {
            Input::Tick => self.tick(cx),
            Input::Message { from, ref msg } => self.receive(from, msg, cx),
            Input::Frame(frame) => match codec::decode(frame) {
                Err(_) => self.stats.dropped_malformed += 1,
                Ok((h, _)) if h.cluster_id != self.cfg.cluster_id => {
                    self.stats.dropped_wrong_cluster += 1
                }
                Ok((h, _)) if h.to != self.cfg.id => self.stats.dropped_misaddressed += 1,
                Ok((h, msg)) => self.receive(h.from, &msg, cx),
            },
            Input::Propose { data } => self.propose(data, cx),
            Input::ChangeMembership { data } => self.change_membership(data, cx),
            Input::Read { id } => return self.read(id, cx),
            Input::SnapshotSaved { meta } => return self.snapshot_saved(meta),
            Input::SnapshotInstalled { meta, ok } => return self.snapshot_installed(meta, ok, cx),
            Input::TransferLeader { to } => self.transfer_leadership(to, cx),
            Input::Persisted { seq } => return self.persisted(seq, cx),
            Input::Captured { index } => {
                if index > self.applied {
                    return Err(StepError::CaptureBeyondApplied);
                }
                self.captured = self.captured.max(index);
            }
            Input::StorageFailed => {
                self.halted = true;
                cx.out.clear();
                return Ok(());
            }
        }
        Ok(())
    }

    /// Work every step ends with: apply what is committed and durable, compact, and emit the
    /// step's `Persist` first in the outputs.
    fn after_step(&mut self, cx: &mut Ctx<'_>) {
        if self.halted {
            return;
        }
        if self.cfg.durability == Durability::Inline {
            self.durable = self.log.last_index();
        }
        self.maybe_apply(cx);
        self.maybe_compact(cx);
        if !cx.persists() {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.hs_unpersisted = false;
        if cx.hs_dirty {
            self.hs_seq = seq;
        }
        let p = Persist {
            seq,
            hard_state: cx.hs_dirty.then_some(self.hs),
            commit: self.commit,
            truncate_from: cx.truncate_from,
            entries: cx.entries,
        };
        match self.cfg.durability {
            Durability::Inline => self.durable_seq = seq,
            Durability::Deferred => {
                let last = self.log.last_index();
                if self.persists.is_full() {
                    // Merge into the newest: it becomes durable no earlier than this one.
                    if let Some(back) = self.persists.back_mut() {
                        *back = (seq, last);
                    }
                } else {
                    let _ = self.persists.push_back((seq, last));
                }
            }
        }
        if cx.out.insert(0, Output::Persist(p)).is_err() {
            self.stats.output_overflow += 1;
        }
    }

    fn persisted(&mut self, seq: u64, cx: &mut Ctx<'_>) -> Result<(), StepError> {
        if seq >= self.next_seq {
            return Err(StepError::UnknownPersistSeq);
        }
        if self.cfg.durability == Durability::Inline || seq <= self.durable_seq {
            return Ok(());
        }
        self.durable_seq = seq;
        while let Some(&(s, last)) = self.persists.front() {
            if s > seq {
                break;
            }
            self.durable = self.durable.max(last.min(self.log.last_index()));
            let _ = self.persists.pop_front();
        }
        self.release_held(cx);
        match self.role() {
            Role::Leader => self.leader_durable_advanced(cx),
            Role::Candidate => self.tally_votes(cx),
            _ => {}
        }
        Ok(())
    }

    /// The sequence number a message acknowledging the current state depends on.
    pub(crate) fn seq_for_ack(&self, cx: &Ctx<'_>) -> u64 {
        if cx.persists() {
            self.next_seq
        } else {
            self.next_seq - 1
        }
    }

    /// Whether state persisted by `seq` (this step's `Persist` if `seq == next_seq`) may be
    /// acknowledged now.
    pub(crate) fn durable_by(&self, seq: u64) -> bool {
        self.cfg.durability == Durability::Inline || seq <= self.durable_seq
    }

    fn release_held(&mut self, cx: &mut Ctx<'_>) {
        if let Some((to, term, seq)) = self.held_vote {
            if self.durable_by(seq) {
                self.held_vote = None;
                if term == self.hs.term {
                    let msg = Message::VoteResponse(crate::message::VoteResponse {
                        term,
                        granted: true,
                    });
                    self.send(to, msg, cx);
                }
            }
        }
        if let Some((to, resp, seq)) = self.held_ack {
            if self.durable_by(seq) {
                self.held_ack = None;
                if resp.term == self.hs.term {
                    self.send(to, Message::AppendResponse(resp), cx);
                }
            }
        }
    }

    /// Queues a message; at most one per peer per step (the output bound relies on it).
    pub(crate) fn send(&mut self, to: NodeId, msg: Message<EntryCount>, cx: &mut Ctx<'_>) {
        if let Some(pos) = self.position(to) {
            cx.sent_to |= 1 << pos;
        }
        cx.push(Output::Send { to, msg }, &mut self.stats);
    }

    /// The position of a node this one tracks (member or former member).
    #[inline]
    pub(crate) fn position(&self, id: NodeId) -> Option<usize> {
        self.tracker.position(id)
    }

    /// Position `k` votes in the current configuration.
    #[inline]
    pub(crate) fn is_voter(&self, k: usize) -> bool {
        self.tracker.is_voter(k)
    }

    /// Position `k` is another member (voter or learner): the leader replicates to it.
    #[inline]
    pub(crate) fn is_peer(&self, k: usize) -> bool {
        self.tracker.is_peer(k)
    }

    pub(crate) fn quorum(&self) -> usize {
        crate::quorum::majority(self.conf.voter_count())
    }

    /// Starts the leader's next heartbeat round.
    pub(crate) fn next_round(&mut self) {
        self.round = self.round.wrapping_add(1);
        self.round_sent[self.round as usize % self.round_sent.len()] = self.now;
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.elapsed = 0;
        self.timeout = self
            .rng
            .in_range(self.cfg.election_ticks, self.cfg.election_ticks);
    }

    pub(crate) fn set_term(&mut self, term: Term, cx: &mut Ctx<'_>) {
        if term != self.hs.term {
            self.hs = HardState { term, vote: None };
            cx.hs_dirty = true;
            self.held_vote = None;
            self.held_ack = None;
        }
    }

    pub(crate) fn set_vote(&mut self, vote: NodeId, cx: &mut Ctx<'_>) {
        self.hs.vote = Some(vote);
        cx.hs_dirty = true;
    }

    /// Changes role (and known leader), emitting `RoleChanged` when either changed. A new
    /// role starts with its own state fresh: no votes yet, or (a leader) every follower's
    /// progress reinitialized; what the old role kept is dropped.
    pub(crate) fn set_role(&mut self, role: Role, leader: Option<NodeId>, cx: &mut Ctx<'_>) {
        if role == self.role() && leader == self.leader {
            return;
        }
        if role != self.role() {
            let positions = self.tracker.len();
            self.role = match role {
                Role::Follower => RoleState::Follower,
                Role::PreCandidate => RoleState::PreCandidate(Votes::new(positions)),
                Role::Candidate => RoleState::Candidate(Votes::new(positions)),
                Role::Leader => {
                    let next = self.log.last_index().next();
                    RoleState::Leader(Leading::new(positions, next, self.round))
                }
            };
        }
        raft_info!(
            "{} -> role {:?} term {}",
            self.cfg.id.0,
            role,
            self.hs.term.0
        );
        self.leader = leader;
        let term = self.hs.term;
        cx.push(Output::RoleChanged { role, term, leader }, &mut self.stats);
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>, cx: &mut Ctx<'_>) {
        // The leader's pending reads outlive its state by this step: they fail below.
        let reads = self
            .role
            .leading_mut()
            .map(|l| core::mem::take(&mut l.reads));
        self.set_term(term, cx);
        self.set_role(Role::Follower, leader, cx);
        if let Some(reads) = reads {
            // After the role change, so failed reads name the new leader (if known).
            self.fail_all_reads(reads, cx);
        }
        self.reset_election_timer();
    }

    /// Appends one entry's metadata at the end of the log, recording it for this step's
    /// `Persist`. False if the window is full.
    pub(crate) fn append_meta(&mut self, meta: LogSlot, cx: &mut Ctx<'_>) -> bool {
        if !self.log.push(meta) {
            return false;
        }
        if let Some(e) = cx.entries.as_mut() {
            e.count += 1;
        }
        true
    }

    /// Drops log entries from `index` on, recording it for this step's `Persist`.
    pub(crate) fn truncate_log(&mut self, index: LogIndex, cx: &mut Ctx<'_>) {
        self.log.truncate_from(index);
        self.conf_truncated(index);
        cx.truncate_from = Some(cx.truncate_from.map_or(index, |t| t.min(index)));
        let keep = index.prev();
        self.durable = self.durable.min(keep);
        for p in self.persists.iter_mut() {
            p.1 = p.1.min(keep);
        }
    }

    fn maybe_apply(&mut self, cx: &mut Ctx<'_>) {
        if self.receiving.is_some_and(|r| r.complete) {
            // The driver is replacing the state machine with a snapshot: apply after it.
            return;
        }
        let upto = self.commit.min(self.durable);
        if upto > self.applied {
            let first = self.applied.next();
            let last = upto.min(self.applied.plus(u64::from(self.cfg.max_apply)));
            self.applied = last;
            cx.push(Output::Apply { first, last }, &mut self.stats);
        }
    }

    fn maybe_compact(&mut self, cx: &mut Ctx<'_>) {
        // Without a snapshot to send, compaction stops at the floor (every voter holds the
        // entries); with one, a follower that lags gets the snapshot instead.
        let limit = self
            .snapshot
            .map_or(self.floor, |s| s.index.max(self.floor));
        let upto = self.captured.min(limit).min(self.applied);
        if upto > self.log.base() {
            self.log.compact_to(upto);
            cx.push(Output::Compact { upto }, &mut self.stats);
        } else if self.applied > self.captured.max(self.capture_asked) && self.log_filling() {
            self.capture_asked = self.applied;
            cx.push(
                Output::CaptureWanted { upto: self.applied },
                &mut self.stats,
            );
        }
    }

    /// Three quarters of the window or of the store's byte budget are used, or a proposal of
    /// the largest size would be refused for room (`has_room(max_payload, max(L/4, 1))`).
    fn log_filling(&self) -> bool {
        self.log.free() <= (L / 4).max(1) || self.log.bytes() >= self.fill_at
    }

    /// Whether the log has room for one more entry of `len` payload bytes.
    /// `reserve_slots` window slots, and the bytes of as many empty entries, stay free.
    pub(crate) fn has_room(&self, len: usize, reserve_slots: usize) -> bool {
        let overhead = u64::from(codec::ENTRY_OVERHEAD);
        let rec = len as u64 + overhead;
        let reserved = reserve_slots as u64 * overhead;
        self.log.free() > reserve_slots
            && self.log.bytes() + rec + reserved <= u64::from(self.cfg.log_bytes)
    }

    // ----- The read-only view: what tests, checkers and applications may observe. -----

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The configuration in force: the latest in the log, committed or not.
    pub fn membership(&self) -> &Membership {
        &self.conf
    }
    /// The index of the configuration in force (its log entry, the snapshot it came with, or
    /// 0 for the initial voters). It is committed once `commit()` reaches it.
    pub fn membership_index(&self) -> LogIndex {
        self.conf_index
    }
    /// The current role.
    #[inline]
    pub fn role(&self) -> Role {
        self.role.role()
    }
    /// The current term and vote (as last handed to the driver to persist).
    pub fn hard_state(&self) -> HardState {
        self.hs
    }
    /// The current term.
    pub fn term(&self) -> Term {
        self.hs.term
    }
    /// The leader this node knows of in its term.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// The commit index as known to this node.
    pub fn commit(&self) -> LogIndex {
        self.commit
    }
    /// The last index handed out in an `Apply`.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }
    /// The index just before the log window (compaction point).
    pub fn first_index(&self) -> LogIndex {
        self.log.base().next()
    }
    /// The last index of the log.
    pub fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }
    /// The term of the last entry.
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }
    /// The term of the entry at `index`, if it is in the window (or is the compaction point).
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        self.log.term(index)
    }
    /// The last index whose content is durable (under `Inline`, the last index).
    pub fn durable_index(&self) -> LogIndex {
        self.durable
    }
    /// Every `Persist` up to this sequence number is known durable.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }
    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Whether the node stopped after a storage failure.
    pub fn is_halted(&self) -> bool {
        self.halted
    }
    /// Entries in the log window and its capacity.
    pub fn window_usage(&self) -> (usize, usize) {
        (self.log.len(), L)
    }
    /// The leader's match index for `peer` (None if not leader or not a member).
    pub fn match_index(&self, peer: NodeId) -> Option<LogIndex> {
        let leading = self.role.leading()?;
        let pos = self.position(peer)?;
        if pos == self.tracker.me {
            return Some(self.durable);
        }
        self.tracker.slots[pos].kind?;
        Some(leading.progress[pos].matched)
    }
}

/// The fewest store bytes at which a log of window `L` is filling by bytes: three quarters of
/// `log_bytes` (`bytes * 4 >= log_bytes * 3`), or so full that [`State::has_room`] refuses
/// an entry of `max_payload` bytes while keeping `max(L/4, 1)` slots free
/// (`bytes + record + reserved > log_bytes`).
fn fill_at<const L: usize>(cfg: &Config) -> u64 {
    let budget = u64::from(cfg.log_bytes);
    let overhead = u64::from(codec::ENTRY_OVERHEAD);
    let record = u64::from(cfg.max_payload()) + overhead;
    let reserved = (L / 4).max(1) as u64 * overhead;
    let three_quarters = (budget * 3).div_ceil(4);
    let no_room = (budget + 1).saturating_sub(record + reserved);
    three_quarters.min(no_room)
}

/// The by-value step: `step(state, input) -> (state, outputs)`, a thin wrapper over
/// [`State::step`]. It moves the whole `State` in and out (see the crate docs for the bytes
/// copied); hot loops use the in-place form. A driver error leaves the state unchanged apart
/// from counters and comes back as the error.
pub fn step<const P: usize, const L: usize, const F: usize, W: WindowStorage, const N: usize>(
    mut state: State<P, L, F, W>,
    input: Input<'_>,
) -> (State<P, L, F, W>, Result<Outputs<N>, StepError>) {
    let mut out = Outputs::new();
    let r = state.step(input, &mut out);
    (state, r.map(|()| out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fill_at` is the byte half of the rule it replaced, at every byte count.
    #[test]
    fn fill_at_matches_the_byte_rule() {
        for frame in [200, 1_000, codec::MAX_FRAME_BYTES] {
            for budget in [0u32, 150, 1_000, 4_097, 70_000, 300_000] {
                let mut cfg = Config::new(NodeId(1), 0);
                cfg.max_frame_bytes = frame;
                cfg.log_bytes = budget;
                let at = fill_at::<8>(&cfg);
                let overhead = u64::from(codec::ENTRY_OVERHEAD);
                let record = u64::from(cfg.max_payload()) + overhead;
                let reserved = 2 * overhead;
                let budget = u64::from(budget);
                for bytes in (0..=budget + 2).step_by(((budget / 500) as usize).max(1)) {
                    let rule = bytes * 4 >= budget * 3 || bytes + record + reserved > budget;
                    assert_eq!(
                        bytes >= at,
                        rule,
                        "frame {frame} budget {budget} bytes {bytes}"
                    );
                }
                // The exact threshold, not only the sampled bytes.
                let rule = |b: u64| b * 4 >= budget * 3 || b + record + reserved > budget;
                assert!(rule(at));
                assert!(at == 0 || !rule(at - 1));
            }
        }
    }
}
