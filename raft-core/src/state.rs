//! [`State`]'s public face: construction ([`State::new`], [`State::restore`]), the step
//! function and its dispatch of each input to the role logic (`role/`), the work every step
//! ends with (apply, compact, the step's `Persist`), and the read-only view. The fields live
//! in `node.rs`, below the roles; this module sits above both and only dispatches.

use core::mem::MaybeUninit;

use heapless::{Deque, VecView};

use crate::codec;
use crate::config::{Config, Durability};
use crate::error::{ConfigError, StepError};
use crate::feature::{Feature, READS, SNAPSHOTS, TRANSFER};
use crate::inject::{on, Bug};
use crate::input::Input;
use crate::log::store::LogStore;
use crate::log::window::{LogSlot, Window, WindowStorage};
use crate::membership::{Membership, MembershipRefusal, MAX_MEMBERS};
use crate::message::Message;
pub use crate::node::State;
use crate::output::{outputs_needed, Output, Outputs, Persist};
use crate::rng::Rng;

use crate::node::Ctx;
use crate::role_state::RoleState;
use crate::stats::Stats;
use crate::tracker::Tracker;
use crate::types::{EntryKind, HardState, LogIndex, NodeId, Role, Term};

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
    /// The vote floor: `LogIndex::ZERO` for a node whose storage came back whole. A driver
    /// that repaired damaged storage by keeping only an intact prefix of the log sets it
    /// above every index the node may have acknowledged before the restart, and above the
    /// last index it kept. While the node's last index is below the floor it grants no
    /// vote and no PreVote and does not campaign (nor take over on `TimeoutNow`); it still
    /// follows a leader, appends and acknowledges what it holds. See [`State::vote_floor`].
    pub vote_floor: LogIndex,
}

impl<const P: usize, const L: usize, const F: usize> State<P, L, F> {
    /// A fresh node with its log window inline: [`State::new_in`] with `[LogSlot; LOG]`.
    /// `size_of::<State>()` then grows by 16 bytes per window entry; a host with a large
    /// window keeps it out of line with `new_in` and a boxed slice.
    pub fn new(cfg: Config, voters: &[NodeId]) -> Result<Self, ConfigError> {
        Self::new_in(cfg, voters, [LogSlot::EMPTY; L])
    }

    /// A node rebuilt after a restart, its log window inline: [`State::restore_in`] with
    /// `[LogSlot; LOG]`.
    pub fn restore<S: LogStore + ?Sized>(
        cfg: Config,
        voters: &[NodeId],
        restored: Restored,
        store: &S,
    ) -> Result<Self, ConfigError> {
        Self::restore_in(cfg, voters, restored, store, [LogSlot::EMPTY; L])
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
            vote_floor: LogIndex::ZERO,
        };
        Self::build(cfg, voters, restored, window)
    }

    /// A node rebuilt after a restart from exactly what was durable: the hard state, the
    /// log entries in `store` after `restored.base`, and the state machine's applied index.
    /// Entries up to the applied index are not applied again; later committed entries are.
    /// The membership is `restored.members` (or the initial `voters`) updated by every
    /// membership entry in the log, committed or not.
    ///
    /// The log window lives in `window`, which must hold exactly `LOG` slots. The state is
    /// returned by value; [`State::restore_in_place`] rebuilds an existing one instead.
    pub fn restore_in<S: LogStore + ?Sized>(
        cfg: Config,
        voters: &[NodeId],
        restored: Restored,
        store: &S,
        window: W,
    ) -> Result<Self, ConfigError> {
        let mut s = Self::build(cfg, voters, restored, window)?;
        s.replay(restored, store)?;
        Ok(s)
    }

    /// [`State::restore_in`] into `slot`, returning the node written there: the log is
    /// replayed in place, so the caller's frame holds at most the one `State` being written
    /// (a firmware passes `StaticCell::uninit()` of a `static` and lends the result to its
    /// [`Engine`](crate::Engine) as a `&'static mut`; see [`Core`](crate::engine::Core)). On
    /// an error `slot` holds a halted node (it emits nothing, every step fails with
    /// [`StepError::Halted`]) or, if the configuration was refused, nothing written.
    pub fn init_in<'s, S: LogStore + ?Sized>(
        slot: &'s mut MaybeUninit<Self>,
        cfg: Config,
        voters: &[NodeId],
        restored: Restored,
        store: &S,
        window: W,
    ) -> Result<&'s mut Self, ConfigError> {
        let (conf, log) = Self::check(cfg, voters, &restored, window)?;
        let s = slot.write(Self::fresh(cfg, conf, &restored, log));
        match s.start().and_then(|()| s.replay(restored, store)) {
            Ok(()) => Ok(s),
            Err(e) => {
                s.halted = true;
                Err(e)
            }
        }
    }

    /// [`State::restore_in`] into `self`: the node this value held (lost in the restart) is
    /// replaced by the one rebuilt from `restored` and `store`, and its window storage is
    /// dropped. The log is replayed in place, so no second `State` is returned through the
    /// caller's stack frame: a firmware restarting a node whose `State` lives in a `static`
    /// (inside its [`Engine`](crate::Engine), with
    /// [`Engine::restart_in_place`](crate::Engine::restart_in_place)) keeps its reboot's
    /// stack to one `State`-sized temporary. `window` must hold exactly `LOG` slots and is
    /// not `self`'s own (that one is still borrowed by `self`): a firmware keeps one spare
    /// window for the node being rebuilt, and gets the old one back when it is dropped.
    ///
    /// On an error `self` is halted (fail-stop, as after [`Input::StorageFailed`]): it emits
    /// nothing, whether the error came before the old node was replaced or during the
    /// replay, so a half-restored node never takes part in the protocol.
    pub fn restore_in_place<S: LogStore + ?Sized>(
        &mut self,
        cfg: Config,
        voters: &[NodeId],
        restored: Restored,
        store: &S,
        window: W,
    ) -> Result<(), ConfigError> {
        let r = match Self::build(cfg, voters, restored, window) {
            Ok(fresh) => {
                *self = fresh;
                self.replay(restored, store)
            }
            Err(e) => Err(e),
        };
        if r.is_err() {
            self.halted = true;
        }
        r
    }

    /// The second half of a restore, on a node just built from `restored`: appends the
    /// metadata of every entry in `store` after `restored.base` to the window (adopting each
    /// membership entry), then sets the commit index, the term and the durable index from
    /// what was durable. Shared by [`State::restore_in`] and [`State::restore_in_place`].
    fn replay<S: LogStore + ?Sized>(
        &mut self,
        restored: Restored,
        store: &S,
    ) -> Result<(), ConfigError> {
        let mut i = restored.base.0.next();
        while i <= store.last_index() {
            let e = store.entry(i).ok_or(ConfigError::BadRestore)?;
            if e.term < self.log.last_term() || e.data.len() > u16::MAX as usize {
                return Err(ConfigError::BadRestore);
            }
            let meta = LogSlot {
                term: e.term,
                len: e.data.len() as u16,
                kind: e.kind,
            };
            if !self.log.push(meta) {
                return Err(ConfigError::BadRestore);
            }
            if e.kind == EntryKind::Membership {
                let m = Membership::decode_entry(e.data, &self.conf)
                    .map_err(|_| ConfigError::BadRestore)?;
                if m.len() > P {
                    return Err(ConfigError::BadRestore);
                }
                self.adopt_conf(m, i);
            }
            i = i.next();
        }
        if restored.applied > self.log.last_index() {
            return Err(ConfigError::BadRestore);
        }
        self.commit = self.commit.max(restored.commit.min(self.log.last_index()));
        // Entries (or an installed snapshot) can be durable before the hard state of the term
        // they came in, under `Durability::Deferred`. The node saw that term, so it resumes in
        // it; no vote of that term was durable, hence none was sent, and the vote is free.
        if self.log.last_term() > self.hs.term {
            self.hs = HardState {
                term: self.log.last_term(),
                vote: None,
            };
            // Persisted by the first step, before anything it acknowledges.
            self.hs_unpersisted = true;
        }
        // With lease reads, a node that may have heard from a leader before the restart could
        // still be inside that leader's lease: it refuses votes for an election timeout, as if
        // that leader were still heard (otherwise a restart would let a second leader arise
        // while the first still answers reads from its lease).
        self.quiet_after_restart = self.cfg.lease_reads && self.hs.term > Term(0);
        self.durable = self.log.last_index();
        Ok(())
    }

    fn build(cfg: Config, voters: &[NodeId], r: Restored, window: W) -> Result<Self, ConfigError> {
        let (conf, log) = Self::check(cfg, voters, &r, window)?;
        let mut s = Self::fresh(cfg, conf, &r, log);
        s.start()?;
        Ok(s)
    }

    /// What `build` refuses, checked before anything is written: the configuration, the
    /// voters, the restored indexes and the window. Returns the membership and the window.
    fn check(
        cfg: Config,
        voters: &[NodeId],
        r: &Restored,
        window: W,
    ) -> Result<(Membership, Window<L, W>), ConfigError> {
        // Invariant: an inline const block, evaluated at compile time for each `PEERS`: a `State`
        // type with `PEERS` above `MAX_MEMBERS` fails to build; nothing can panic at run time.
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
        let log = Window::new(window, r.base.0, r.base.1).ok_or(ConfigError::WindowStorage)?;
        Ok((conf, log))
    }

    /// The node `build` starts from, before it tracks itself: a plain value, so that
    /// `init_in` writes it straight into its slot.
    fn fresh(cfg: Config, conf: Membership, r: &Restored, log: Window<L, W>) -> Self {
        State {
            cfg,
            tracker: Tracker::new(),
            conf,
            conf_index: r.base.0,
            prev_conf: (conf, r.base.0),
            hs: HardState {
                vote: r.hard_state.vote.filter(|_| !on(Bug::ForgetVote)),
                ..r.hard_state
            },
            role: RoleState::Follower,
            leader: None,
            log,
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
            vote_floor: r.vote_floor,
            fill_at: fill_at::<L>(&cfg),
        }
    }

    /// The rest of `build`, on the node in place: it tracks itself and starts its timer.
    fn start(&mut self) -> Result<(), ConfigError> {
        // This node first: its position never changes. Capacity P >= 1 holds (MAX_MEMBERS
        // >= P and a zero-sized `PEERS` cannot hold this node).
        if !self.track(self.cfg.id) {
            return Err(ConfigError::TooManyVoters);
        }
        self.sync_slots();
        self.reset_election_timer();
        Ok(())
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
        // Invariant: an inline const block, evaluated at compile time for each `N` and `PEERS`:
        // an output list below `outputs_needed(PEERS)` fails to build; nothing can panic at run
        // time.
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
            Input::Read { .. } if !READS => return Err(StepError::Disabled(Feature::Reads)),
            Input::Read { id } => return self.read(id, cx),
            Input::SnapshotSaved { .. } | Input::SnapshotInstalled { .. } if !SNAPSHOTS => {
                return Err(StepError::Disabled(Feature::Snapshots))
            }
            Input::SnapshotSaved { meta } => return self.snapshot_saved(meta),
            Input::SnapshotInstalled { meta, ok } => return self.snapshot_installed(meta, ok, cx),
            Input::TransferLeader { .. } if !TRANSFER => {
                return Err(StepError::Disabled(Feature::Transfer))
            }
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
    /// The vote floor given to the restore ([`Restored::vote_floor`]; `LogIndex::ZERO`
    /// when none). While [`State::last_index`] is below it the node neither votes nor
    /// campaigns: see [`State::below_vote_floor`].
    pub fn vote_floor(&self) -> LogIndex {
        self.vote_floor
    }

    /// Whether the node holds less than its vote floor, so that it grants no (pre-)vote and
    /// does not campaign. A node whose storage lost a suffix may have acknowledged entries it
    /// no longer holds, some perhaps committed with its acknowledgement; voting or
    /// campaigning with the shorter log could elect a leader missing them. Every entry above
    /// the kept log comes from a leader's append after the restart, which matched that
    /// leader's log (of a term at least the node's, so holding every entry committed with the
    /// node's acknowledgement), so once the log reaches the floor the node holds all of them
    /// again and votes as before.
    pub fn below_vote_floor(&self) -> bool {
        self.log.last_index() < self.vote_floor
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
        // Invariant: `pos` is a `position()` result, below `tracker.len()`, and `progress` has
        // `tracker.len()` entries while leading (see `Leading::progress`), so `progress[pos]`
        // below is in bounds too.
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
    use crate::codec::{EntryRef, EntrySource};
    use crate::log::store::StoreError;

    /// A durable log handed to a restore: the term and payload of each entry, from index 1.
    struct Durable<'a>(&'a [(u64, &'a [u8])]);

    impl EntrySource for Durable<'_> {
        fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
            let &(term, data) = self.0.get(index.0.checked_sub(1)? as usize)?;
            Some(EntryRef {
                term: Term(term),
                kind: EntryKind::Normal,
                data,
            })
        }
    }

    impl LogStore for Durable<'_> {
        fn append(&mut self, _: LogIndex, _: EntryRef<'_>) -> Result<(), StoreError> {
            Err(StoreError::Full)
        }
        fn truncate_from(&mut self, _: LogIndex) {}
        fn compact_to(&mut self, _: LogIndex) {}
        fn last_index(&self) -> LogIndex {
            LogIndex(self.0.len() as u64)
        }
    }

    /// A restore replays the durable log as it is, and refuses one no node could have
    /// written: an entry larger than a record's 16-bit length field, or terms that fall.
    #[test]
    fn a_restore_takes_the_largest_entry_and_refuses_a_larger_one_or_falling_terms() {
        static BIG: [u8; 65_536] = [7; 65_536];
        let restored = Restored {
            hard_state: HardState {
                term: Term(2),
                vote: None,
            },
            commit: LogIndex::ZERO,
            base: (LogIndex::ZERO, Term(0)),
            applied: LogIndex::ZERO,
            members: None,
            vote_floor: LogIndex::ZERO,
        };
        let voters = [NodeId(1), NodeId(2), NodeId(3)];
        let restore = |log: &[(u64, &[u8])]| {
            State::<3, 8, 4>::restore(Config::new(NodeId(1), 0), &voters, restored, &Durable(log))
                .map(|s| s.last_index())
        };
        assert_eq!(restore(&[(1, b"a"), (2, &BIG[..65_535])]), Ok(LogIndex(2)));
        assert_eq!(
            restore(&[(1, b"a"), (2, &BIG[..])]),
            Err(ConfigError::BadRestore)
        );
        assert_eq!(restore(&[(1, b"a"), (1, b"b"), (2, b"c")]), Ok(LogIndex(3)));
        assert_eq!(
            restore(&[(2, b"a"), (1, b"b")]),
            Err(ConfigError::BadRestore)
        );
    }

    /// Initial voters a node cannot track are refused as too many, whether the membership
    /// type could hold them (more than `P`) or not (more than `MAX_MEMBERS`); a repeated voter
    /// is refused as a bad one.
    #[test]
    fn too_many_initial_voters_are_refused_as_too_many() {
        let cfg = Config::new(NodeId(1), 0);
        let ids: [NodeId; MAX_MEMBERS + 1] = core::array::from_fn(|k| NodeId(k as u32 + 1));
        let new = |voters: &[NodeId]| State::<3, 8, 4>::new(cfg, voters).map(|_| ());
        assert_eq!(new(&ids[..3]), Ok(()));
        assert_eq!(new(&ids[..4]), Err(ConfigError::TooManyVoters));
        assert_eq!(new(&ids), Err(ConfigError::TooManyVoters));
        assert_eq!(
            new(&[NodeId(1), NodeId(2), NodeId(1)]),
            Err(ConfigError::BadVoters)
        );
    }

    /// Nodes configured with one seed draw different election jitter (Raft 5.2: randomized
    /// timeouts keep split votes rare): the node id is mixed into the seed one-to-one,
    /// whatever bits the seed has set.
    #[test]
    fn nodes_given_one_seed_draw_different_jitter() {
        let voters = [NodeId(1), NodeId(2), NodeId(3)];
        for seed in [0, 7, u64::MAX, 0xFFFF_FFFF << 32] {
            let rngs: [Rng; 3] = core::array::from_fn(|k| {
                let cfg = Config::new(voters[k], seed);
                State::<3, 8, 4>::new(cfg, &voters).expect("valid").rng
            });
            assert!(
                rngs[0] != rngs[1] && rngs[1] != rngs[2] && rngs[0] != rngs[2],
                "seed {seed:#x}"
            );
        }
    }

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
