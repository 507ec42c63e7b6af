//! The node's state value: [`State`]'s fields, the per-step context [`Ctx`], and the few
//! primitives every role uses (send a message, change term, vote or role, append to the log).
//!
//! Nothing here knows a role's rules: the roles (`role/`) build on this module, and
//! `state.rs` (construction, the step and its dispatch, the read-only view) on both.

use heapless::{Deque, VecView};

use crate::config::{Config, Durability};
use crate::fmt::raft_info;
use crate::log::window::{LogSlot, Window, WindowStorage};
use crate::membership::Membership;
use crate::message::{AppendResponse, EntryCount, Message, SnapshotMeta};
use crate::output::{NewEntries, Output};
use crate::record::ENTRY_OVERHEAD;
use crate::rng::Rng;
use crate::role_state::{Leading, Receiving, RoleState};
use crate::stats::Stats;
use crate::tracker::{Tracker, Votes};
use crate::types::{HardState, LogIndex, NodeId, Role, Term};

/// How many `Persist`s may be outstanding under `Durability::Deferred` before new ones are
/// merged into the newest (which then stands for both). Never blocks progress.
pub(crate) const PERSIST_QUEUE: usize = 4;

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
    pub(crate) held_ack: Option<(NodeId, AppendResponse, u64)>,
    pub(crate) rng: Rng,
    /// Ticks since the election timer was reset (followers and candidates) or since the
    /// last CheckQuorum window began (leaders).
    pub(crate) elapsed: u32,
    /// The current randomized election timeout.
    pub(crate) timeout: u32,
    /// The leader's heartbeat round (raftos' request_id). It has always kept counting across
    /// this node's terms as leader, and the rounds on the wire and the lease check (with
    /// `now` and `round_sent`) depend on its value, so it lives here, not in [`Leading`].
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
    /// No (pre-)vote and no campaign while the log's last index is below this
    /// ([`crate::Restored::vote_floor`]); `LogIndex::ZERO` unless storage was repaired.
    pub(crate) vote_floor: LogIndex,
    /// The log counts as filling from this many store bytes on (see `log_filling`); fixed by
    /// the configuration, so each step compares once.
    pub(crate) fill_at: u64,
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

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// The sequence number a message acknowledging the current state depends on.
    #[inline]
    pub(crate) fn seq_for_ack(&self, cx: &Ctx<'_>) -> u64 {
        if cx.persists() {
            self.next_seq
        } else {
            self.next_seq - 1
        }
    }

    /// Whether state persisted by `seq` (this step's `Persist` if `seq == next_seq`) may be
    /// acknowledged now.
    #[inline]
    pub(crate) fn durable_by(&self, seq: u64) -> bool {
        self.cfg.durability == Durability::Inline || seq <= self.durable_seq
    }

    /// Queues a message; at most one per peer per step (the output bound relies on it).
    pub(crate) fn send(&mut self, to: NodeId, msg: Message<EntryCount>, cx: &mut Ctx<'_>) {
        if let Some(pos) = self.position(to) {
            cx.sent_to |= 1 << pos;
        }
        cx.push(Output::Send { to, msg }, &mut self.stats);
    }

    /// [`State::send`] to the node at position `k` (`to`, its id): no search for the
    /// position.
    #[inline]
    pub(crate) fn send_to(
        &mut self,
        k: usize,
        to: NodeId,
        msg: Message<EntryCount>,
        cx: &mut Ctx<'_>,
    ) {
        // `k` is a tracker position, below its capacity `P`, which `State::new` holds to at
        // most `MAX_MEMBERS` (8) at compile time: the shift stays inside `sent_to`'s 64 bits.
        cx.sent_to |= 1 << k;
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

    /// Starts the leader's next heartbeat round.
    pub(crate) fn next_round(&mut self) {
        self.round = self.round.wrapping_add(1);
        // Invariant: `round_sent` is a `[u64; 4]`: an index taken `% round_sent.len()` is below 4.
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
    #[inline(never)] // Rare (a change of role or leader); inlined, it costs the heartbeat.
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

    /// Whether the log has room for one more entry of `len` payload bytes.
    /// `reserve_slots` window slots, and the bytes of as many empty entries, stay free.
    pub(crate) fn has_room(&self, len: usize, reserve_slots: usize) -> bool {
        let overhead = u64::from(ENTRY_OVERHEAD);
        let rec = len as u64 + overhead;
        let reserved = reserve_slots as u64 * overhead;
        self.log.free() > reserve_slots
            && self.log.bytes() + rec + reserved <= u64::from(self.cfg.log_bytes)
    }
}
