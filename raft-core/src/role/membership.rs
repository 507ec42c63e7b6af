//! Membership changes, one voter at a time or by joint consensus (see [`crate::membership`]
//! for both and for the pitfalls handled): the leader's checks on a proposed configuration,
//! the leader leaving a committed joint configuration, every node adopting the latest
//! configuration in its log, and a removed leader handing over.

use crate::inject::{on, Bug};
use crate::log::window::WindowStorage;
use crate::membership::{MemberKind, Membership, MembershipRefusal};
use crate::message::Message;
use crate::node::{Ctx, State};
use crate::output::{Output, Proposal};
use crate::quorum::Voters;
use crate::role_state::RoleState;
use crate::tracker::progress::Progress;
use crate::tracker::Slot;
use crate::types::{EntryKind, LogIndex, NodeId};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// `Input::ChangeMembership`: answered by an `Output::Proposal`.
    pub(crate) fn change_membership(&mut self, data: &[u8], cx: &mut Ctx<'_>) {
        let answer = self.try_change(data, cx);
        if answer == Proposal::Busy {
            self.stats.proposals_busy += 1;
        }
        cx.push(Output::Proposal(answer), &mut self.stats);
    }

    fn try_change(&mut self, data: &[u8], cx: &mut Ctx<'_>) -> Proposal {
        let Some(leading) = self.role.leading() else {
            return Proposal::NotLeader {
                leader_hint: self.leader,
            };
        };
        let (needs_empty, transferring) = (leading.needs_empty, leading.transfer.is_some());
        let next = match Membership::decode_entry(data, &self.conf) {
            Ok(m) => m,
            Err(e) => return Proposal::Refused(e),
        };
        if let Err(e) = self.check_change(&next) {
            return Proposal::Refused(e);
        }
        // One change at a time, and only once this leader committed in its term (the
        // single-server change bug: an uncommitted change of an earlier leader must be
        // settled first).
        let settled = self.conf_index <= self.commit
            && self.log.term(self.commit) == Some(self.hs.term)
            && !needs_empty
            || on(Bug::UnsettledChange);
        if !settled || transferring || !self.has_room(data.len(), (L / 4).max(1)) {
            return Proposal::Busy;
        }
        let Some(index) = self.append_own(data.len(), EntryKind::Membership, cx) else {
            return Proposal::Busy;
        };
        self.adopt_conf(next, index);
        self.maybe_commit(cx);
        self.broadcast_append(cx);
        Proposal::Accepted {
            index,
            term: self.hs.term,
        }
    }

    /// The rules a new configuration must meet against the current one: while joint, only
    /// leaving it; else a plain change of at most one voter, or a joint configuration that
    /// starts from the voters in force.
    fn check_change(&self, next: &Membership) -> Result<(), MembershipRefusal> {
        if self.conf.is_joint() {
            return if *next == self.conf.incoming() {
                Ok(())
            } else if *next == self.conf {
                Err(MembershipRefusal::Unchanged)
            } else {
                Err(MembershipRefusal::JointInProgress)
            };
        }
        if *next == self.conf {
            return Err(MembershipRefusal::Unchanged);
        }
        if next.len() > P {
            return Err(MembershipRefusal::TooMany);
        }
        if next.voter_count() == 0 {
            return Err(MembershipRefusal::NoVoters);
        }
        if next.is_joint() {
            // Its outgoing configuration must be the voters in force.
            let from_current = next.outgoing_voter_count() == self.conf.voter_count()
                && self.conf.voters().all(|v| next.votes_outgoing(v));
            if !from_current {
                return Err(MembershipRefusal::NotFromCurrent);
            }
            if next.incoming() == self.conf {
                return Err(MembershipRefusal::Unchanged);
            }
        } else if self.conf.voter_changes(next) > 1 && !on(Bug::TwoVoterChange) {
            return Err(MembershipRefusal::MoreThanOneVoter);
        }
        for v in next.voters() {
            if self.conf.kind_of(v) == Some(MemberKind::Voter) {
                continue;
            }
            // A new voter must be a learner that holds everything committed.
            // Invariant: `k` is a `position()` result, below `tracker.len()`, and `progress` has
            // `tracker.len()` entries while leading (see `Leading::progress`), so `progress[k]`
            // below is in bounds.
            let caught_up = self.conf.kind_of(v) == Some(MemberKind::Learner)
                && self.position(v).is_some_and(|k| {
                    self.role
                        .leading()
                        .is_some_and(|l| l.progress[k].matched >= self.commit)
                });
            if !caught_up {
                return Err(MembershipRefusal::NotCaughtUp);
            }
        }
        Ok(())
    }

    /// A leader whose joint configuration (with auto-leave) is committed appends the entry
    /// that leaves it for the incoming configuration, as the application would: the leave
    /// entry ([`crate::LEAVE_JOINT`]) needs no bytes from the driver. Retried every tick
    /// until there is room (the rules of [`State::try_change`] hold: the joint
    /// configuration is committed, so this leader committed in its term).
    pub(crate) fn auto_leave_joint(&mut self, cx: &mut Ctx<'_>) {
        let ready = self.conf.is_joint()
            && self.conf.auto_leave()
            && self.conf_index <= self.commit
            && cx.entries.is_none()
            && self
                .role
                .leading()
                .is_some_and(|l| !l.needs_empty && l.transfer.is_none());
        if !ready || !self.has_room(0, 0) {
            return;
        }
        let Some(index) = self.append_own(0, EntryKind::Membership, cx) else {
            return;
        };
        self.stats.joint_auto_leaves += 1;
        let next = self.conf.incoming();
        self.adopt_conf(next, index);
        self.maybe_commit(cx);
        self.broadcast_append(cx);
    }

    /// Whether this node starts elections: it votes in the configuration in force, or that
    /// configuration is not committed yet and it voted in the one before (thesis section
    /// 4.2.2: its log may be the only one holding the change, which needs a leader to
    /// commit). Votes are counted over the configuration in force either way. Not below the
    /// vote floor ([`State::below_vote_floor`]).
    pub(crate) fn may_campaign(&self) -> bool {
        self.may_lead(self.cfg.id) && !self.below_vote_floor()
    }

    /// Whether `id` may win an election as far as this node knows: a voter of the
    /// configuration in force (of either side while joint) or, while that configuration is uncommitted, of the one before
    /// it (it may still be needed, thesis 4.2.2). Vote requests from anyone else are ignored
    /// unless their log is newer.
    pub(crate) fn may_lead(&self, id: NodeId) -> bool {
        self.conf.votes(id) || (self.conf_index > self.commit && self.prev_conf.0.votes(id))
    }

    /// Makes `m`, appended at `index`, the configuration in force.
    pub(crate) fn adopt_conf(&mut self, m: Membership, index: LogIndex) {
        self.prev_conf = (self.conf, self.conf_index);
        self.conf = m;
        self.conf_index = index;
        self.sync_slots();
    }

    /// The log is truncated from `index`: a configuration entry there no longer exists, and
    /// the one before it is in force again. (Only one configuration can be uncommitted, and
    /// a truncation never reaches below the commit index, so the one before is known.)
    pub(crate) fn conf_truncated(&mut self, index: LogIndex) {
        if index <= self.conf_index && self.conf_index > self.log.base() {
            let (m, i) = self.prev_conf;
            self.conf = m;
            self.conf_index = i;
            self.sync_slots();
        }
    }

    /// A snapshot up to `index` with membership `m` became this node's log start, and no
    /// configuration entry after it is left in the log.
    pub(crate) fn conf_from_snapshot(&mut self, m: Membership, index: LogIndex) {
        // (`m` was checked to fit when the first chunk arrived.)
        if m.len() <= P {
            self.conf = m;
            self.conf_index = index;
            self.prev_conf = (m, index);
            self.sync_slots();
        }
    }

    /// Adds a position for `id`; false when every position is taken.
    pub(crate) fn track(&mut self, id: NodeId) -> bool {
        if !self.tracker.track(id) {
            return false;
        }
        // The role's per-position state always has the tracker's length (capacity P).
        match &mut self.role {
            RoleState::Follower => {}
            RoleState::PreCandidate(votes) | RoleState::Candidate(votes) => votes.track(),
            RoleState::Leader(l) => {
                let _ = l.progress.push(Progress::new(LogIndex(1)));
            }
        }
        true
    }

    /// Position `k` holds a new member: no vote of it yet, and (leading) fresh progress
    /// from `next`.
    fn reset_position(&mut self, k: usize, next: LogIndex) {
        match &mut self.role {
            RoleState::Follower => {}
            RoleState::PreCandidate(votes) | RoleState::Candidate(votes) => votes.set(k, None),
            // Invariant: the only caller, `sync_slots`, passes `k < tracker.len()` (its loop, a
            // free position it found in `0..len()`, or `len() - 1` right after a successful
            // `track`), and `progress` has `tracker.len()` entries while leading (see
            // `Leading::progress`).
            RoleState::Leader(l) => l.progress[k] = Progress::new(next),
        }
    }

    /// Brings the positions in line with `conf`: members keep their position, new members
    /// take a free one with fresh progress, former members keep theirs until it is reused
    /// (a removed leader's messages still reach the members until it steps down). Then the
    /// voter sets of the quorum rules follow the positions.
    pub(crate) fn sync_slots(&mut self) {
        let next = self.log.last_index().next();
        for k in 0..self.tracker.len() {
            let kind = slot_kind(&self.conf, self.tracker.id(k));
            // Invariant: `k < tracker.len()`, the loop's range, here and below.
            if self.tracker.slots[k].kind.is_none() && kind.is_some() {
                self.reset_position(k, next);
            }
            self.tracker.slots[k].kind = kind;
        }
        let conf = self.conf;
        for id in conf.members() {
            if self.position(id).is_some() {
                continue;
            }
            // Invariant: the `find` below reads `slots[k]` only for `k` in `0..tracker.len()`.
            let free = (0..self.tracker.len())
                .find(|&k| k != self.tracker.me && self.tracker.slots[k].kind.is_none());
            let k = match free {
                Some(k) => k,
                None if self.track(id) => self.tracker.len() - 1,
                None => {
                    // Only a node outside `conf` (which keeps its own position) can run out.
                    self.stats.members_untracked += 1;
                    continue;
                }
            };
            // Invariant: `k` is a free position found in `0..tracker.len()`, or `len() - 1` after
            // `track` pushed a slot (so `len() >= 1`).
            self.tracker.slots[k] = Slot {
                id,
                kind: slot_kind(&conf, id),
            };
            self.reset_position(k, next);
        }
        let mut voters = Voters::default();
        for k in 0..self.tracker.len() {
            let id = self.tracker.id(k);
            if conf.kind_of(id) == Some(MemberKind::Voter) {
                voters.incoming |= 1 << k;
            }
            if conf.votes_outgoing(id) {
                voters.outgoing |= 1 << k;
            }
        }
        self.tracker.voters = voters;
    }

    /// A leader whose configuration no longer has it as a voter leads until that
    /// configuration commits, then hands over to the most caught-up voter and steps down.
    pub(crate) fn leave_if_removed(&mut self, cx: &mut Ctx<'_>) {
        let Some(leading) = self.role.leading() else {
            return;
        };
        if self.is_voter(self.tracker.me) || self.commit < self.conf_index {
            return;
        }
        // (Not a voter of either side: the configuration in force is plain, its joint
        // predecessor is left.)
        // Invariant: `k < tracker.len()` (the range filtered), in `max_by_key` and for `best`
        // below, and `progress` has `tracker.len()` entries while leading (see
        // `Leading::progress`).
        let best = (0..self.tracker.len())
            .filter(|&k| k != self.tracker.me && self.is_voter(k))
            .max_by_key(|&k| leading.progress[k].matched);
        if let Some(k) = best {
            if leading.progress[k].matched == self.log.last_index() {
                let term = self.hs.term;
                let to = self.tracker.id(k);
                self.send(to, Message::TimeoutNow { term }, cx);
            }
        }
        let term = self.hs.term;
        self.become_follower(term, None, cx);
    }
}

/// What `id` is to the tracker under `conf`: a voter if it votes on either side (while
/// joint), a learner if it only learns, `None` if not listed.
fn slot_kind(conf: &Membership, id: NodeId) -> Option<MemberKind> {
    if conf.votes(id) {
        Some(MemberKind::Voter)
    } else if conf.is_member(id) {
        Some(MemberKind::Learner)
    } else {
        None
    }
}
