//! The leader: proposals, replication under flow control, commit, heartbeats, CheckQuorum.

use crate::codec::MAX_HEADER_BYTES;
use crate::inject::{on, Bug};
use crate::log::window::{LogSlot, WindowStorage};
use crate::message::{Append, AppendResponse, EntryCount, Message};
use crate::node::{Ctx, State};
use crate::output::{NewEntries, NewEntriesFrom, Output, Proposal};
use crate::tracker::progress::{Progress, ProgressState};
use crate::types::{EntryKind, LogIndex, NodeId, Role};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// Follower `k`'s progress; `None` unless leading.
    #[inline]
    pub(crate) fn progress(&self, k: usize) -> Option<&Progress<F>> {
        // Invariant: every caller passes a tracker position, below `tracker.len()` (from a
        // `0..tracker.len()` loop, or from `response_from`, a `position()` result), and `progress`
        // has `tracker.len()` entries while leading (see `Leading::progress`).
        self.role.leading().map(|l| &l.progress[k])
    }

    /// Follower `k`'s progress; `None` unless leading.
    #[inline]
    pub(crate) fn progress_mut(&mut self, k: usize) -> Option<&mut Progress<F>> {
        // Invariant: as in `progress`: `k < tracker.len()`, the length of `progress` while leading.
        self.role.leading_mut().map(|l| &mut l.progress[k])
    }

    pub(crate) fn become_leader(&mut self, cx: &mut Ctx<'_>) {
        self.stats.became_leader += 1;
        let me = self.cfg.id;
        // The leader's state starts fresh: "reinitialized after election" (nextIndex =
        // last + 1, matchIndex = 0), no reads, no transfer, the lease not revoked, and the
        // empty entry of the new term still to append (it lets the leader commit entries of
        // earlier terms, 5.4.2; with no room yet it is appended once compaction makes some).
        self.set_role(Role::Leader, Some(me), cx);
        self.next_round();
        let round = self.round;
        if let Some(l) = self.role.leading_mut() {
            l.cq_round = round;
        }
        self.elapsed = 0;
        self.held_ack = None;
        self.held_vote = None;
        self.append_empty(cx);
        self.broadcast_append(cx);
    }

    fn append_empty(&mut self, cx: &mut Ctx<'_>) {
        let needs_empty = self.role.leading().is_some_and(|l| l.needs_empty);
        if !needs_empty || cx.entries.is_some() || !self.has_room(0, 0) {
            return;
        }
        if self.append_own(0, EntryKind::Empty, cx).is_some() {
            if let Some(l) = self.role.leading_mut() {
                l.needs_empty = false;
            }
        }
        self.maybe_commit(cx);
    }

    /// Appends one entry of this leader's term (its payload, if any, is this step's input)
    /// and records it for the step's `Persist`. Its index, or `None` if the window is full.
    pub(crate) fn append_own(
        &mut self,
        len: usize,
        kind: EntryKind,
        cx: &mut Ctx<'_>,
    ) -> Option<LogIndex> {
        let term = self.hs.term;
        let first = self.log.last_index().next();
        let from = match kind {
            EntryKind::Normal => NewEntriesFrom::Proposal { term },
            EntryKind::Empty => NewEntriesFrom::Empty { term },
            // An empty membership payload leaves a joint configuration; the leader writes it
            // without the step's input (it may leave by itself on a tick).
            EntryKind::Membership if len == 0 => NewEntriesFrom::LeaveJoint { term },
            EntryKind::Membership => NewEntriesFrom::Membership { term },
        };
        cx.entries = Some(NewEntries {
            first,
            count: 0,
            from,
        });
        // Callers checked `has_room` for `len` (at most the frame's payload, below u16::MAX).
        let meta = LogSlot {
            term,
            len: len as u16,
            kind,
        };
        if self.append_meta(meta, cx) {
            Some(first)
        } else {
            cx.entries = None;
            None
        }
    }

    pub(crate) fn propose(&mut self, data: &[u8], cx: &mut Ctx<'_>) {
        let answer = self.try_propose(data, cx);
        if answer == Proposal::Busy {
            self.stats.proposals_busy += 1;
        }
        cx.push(Output::Proposal(answer), &mut self.stats);
    }

    fn try_propose(&mut self, data: &[u8], cx: &mut Ctx<'_>) -> Proposal {
        let Some(l) = self.role.leading() else {
            return Proposal::NotLeader {
                leader_hint: self.leader,
            };
        };
        if data.len() > self.cfg.max_payload() as usize {
            return Proposal::TooLarge;
        }
        let uncommitted = self.commit.distance_to(self.log.last_index());
        // A quarter of the window (at least one slot) stays free for the empty entries of
        // future leaders, so elections that fail to commit cannot fill it on their own.
        if l.needs_empty
            || l.transfer.is_some()
            || uncommitted >= u64::from(self.cfg.max_uncommitted)
            || !self.has_room(data.len(), (L / 4).max(1))
        {
            return Proposal::Busy;
        }
        let Some(index) = self.append_own(data.len(), EntryKind::Normal, cx) else {
            return Proposal::Busy;
        };
        self.maybe_commit(cx);
        self.send_new_entries(data.len(), cx);
        Proposal::Accepted {
            index,
            term: self.hs.term,
        }
    }

    pub(crate) fn leader_tick(&mut self, cx: &mut Ctx<'_>) {
        self.leave_if_removed(cx);
        let (election, heartbeat) = (self.cfg.election_ticks, self.cfg.heartbeat_ticks);
        let Some(l) = self.role.leading_mut() else {
            return;
        };
        // The leader's own timers, at once (a CheckQuorum step-down below drops them with
        // the rest of the leader's state).
        Self::transfer_tick(l, election);
        l.hb_elapsed = l.hb_elapsed.saturating_add(1);
        let heartbeat_due = l.hb_elapsed >= heartbeat;
        if heartbeat_due {
            l.hb_elapsed = 0;
        }
        let needs_empty = l.needs_empty;
        self.now += 1;
        if needs_empty {
            self.append_empty(cx);
        }
        if self.conf.is_joint() {
            // Leaving waited for room in the log, or for this new leader's first commit.
            self.auto_leave_joint(cx);
        }
        self.elapsed = self.elapsed.saturating_add(1);
        if self.elapsed >= self.cfg.election_ticks {
            self.elapsed = 0;
            if self.cfg.check_quorum && !self.quorum_active() {
                // raftos' step_down_missed_heartbeats, made exact: no majority answered any
                // round sent during the last election timeout.
                self.stats.check_quorum_step_downs += 1;
                let term = self.hs.term;
                self.become_follower(term, None, cx);
                return;
            }
            let round = self.round;
            if let Some(l) = self.role.leading_mut() {
                l.cq_round = round.wrapping_add(1);
            }
        }
        if heartbeat_due {
            self.next_round();
            self.assign_waiting_reads();
            let (hb, et) = (self.cfg.heartbeat_ticks, self.cfg.election_ticks);
            for k in 0..self.tracker.len() {
                if !self.is_peer(k) {
                    continue;
                }
                let Some(p) = self.progress_mut(k) else {
                    return;
                };
                match p.state {
                    // A lost probe is re-sent once per heartbeat.
                    ProgressState::Probe => p.probe_sent = false,
                    // Chunks in flight and nothing acknowledged for a heartbeat: resend.
                    ProgressState::Snapshot => {
                        if p.inflight_len() > 0 && p.snap_acked == p.snap_acked_at_heartbeat {
                            let at = p.snap_acked;
                            p.rewind_snapshot(at);
                        } else if p.snap_done_sent && p.inflight_len() == 0 {
                            // Every chunk acknowledged, no install reported: after an
                            // election timeout the follower crashed or failed it and the
                            // answer was lost. Stream it again.
                            p.snap_wait += 1;
                            if p.snap_wait.saturating_mul(hb) >= et {
                                p.rewind_snapshot(0);
                            }
                        }
                        p.snap_acked_at_heartbeat = p.snap_acked;
                    }
                    // No progress for a whole heartbeat with messages in flight: they were
                    // lost; fall back to probing from the match index.
                    ProgressState::Replicate => {
                        if p.inflight_len() > 0 && p.matched == p.matched_at_heartbeat {
                            p.become_probe();
                        }
                    }
                }
                p.matched_at_heartbeat = p.matched;
                self.send_append(k, true, cx);
            }
            // A membership change can leave reads confirmed by the voters that remain (or by
            // this leader alone) with no answer left to trigger the check.
            self.check_reads(cx);
        }
    }

    /// Whether the voters (self included) that answered a round sent in this CheckQuorum
    /// window are a quorum (of both configurations while joint).
    fn quorum_active(&self) -> bool {
        let Some(l) = self.role.leading() else {
            return false;
        };
        let since = l.cq_round;
        let mut active = 0u8;
        for k in 0..self.tracker.len() {
            // Invariant: `k < tracker.len()` (the loop), and `progress` has `tracker.len()` entries
            // while leading (see `Leading::progress`).
            if k == self.tracker.me || l.progress[k].acked_round.wrapping_sub(since) < (1 << 31) {
                active |= 1 << k;
            }
        }
        self.tracker.voters.is_quorum(active)
    }

    /// New entries go at once to followers with nothing in flight; a follower with messages
    /// in flight gets them with the message its next acknowledgement triggers, so proposals
    /// arriving faster than a round trip batch up (Nagle-style) instead of costing one
    /// AppendEntries each.
    #[inline(always)]
    fn send_new_entries(&mut self, len: usize, cx: &mut Ctx<'_>) {
        // Whether the unsent entries fill a frame, estimated in O(1) from this proposal's
        // size (a batch of proposals is usually alike); a wrong guess only sends a frame
        // early or waits for the acknowledgement.
        let budget = u64::from(self.cfg.max_frame_bytes - MAX_HEADER_BYTES);
        let record = len as u64 + u64::from(crate::codec::ENTRY_OVERHEAD);
        let last = self.log.last_index();
        for k in 0..self.tracker.len() {
            let Some(p) = self.progress(k) else {
                return;
            };
            let unsent = p.next.distance_to(last.next());
            let busy = p.state == ProgressState::Replicate
                && p.inflight_len() > 0
                && unsent * record < budget;
            if self.is_peer(k) && cx.sent_to & (1 << k) == 0 && !busy {
                self.send_append(k, false, cx);
            }
        }
    }

    pub(crate) fn broadcast_append(&mut self, cx: &mut Ctx<'_>) {
        for k in 0..self.tracker.len() {
            if self.is_peer(k) && cx.sent_to & (1 << k) == 0 {
                self.send_append(k, false, cx);
            }
        }
    }

    /// Sends voter `k` the next entries its progress allows; with `heartbeat`, an empty
    /// AppendEntries when no entries may go (so the round and commit still reach it).
    pub(crate) fn send_heartbeat_now(&mut self, k: usize, cx: &mut Ctx<'_>) {
        self.send_append(k, true, cx);
    }

    pub(crate) fn send_append_now(&mut self, k: usize, cx: &mut Ctx<'_>) {
        self.send_append(k, false, cx);
    }

    /// An empty AppendEntries anchored at the match index (which the follower holds), so the
    /// round and the commit index reach a follower no entries can go to now.
    pub(crate) fn send_heartbeat_anchor(&mut self, k: usize, cx: &mut Ctx<'_>) {
        let Some(p) = self.progress(k) else {
            return;
        };
        let prev = p.matched.max(self.log.base());
        let Some(prev_term) = self.log.term(prev) else {
            return;
        };
        let msg = Message::Append(Append {
            term: self.hs.term,
            prev_index: prev,
            prev_term,
            commit: self.commit,
            floor: self.floor,
            round: self.round,
            entries: EntryCount(0),
        });
        let to = self.tracker.id(k);
        self.send(to, msg, cx);
    }

    fn send_append(&mut self, k: usize, heartbeat: bool, cx: &mut Ctx<'_>) {
        if cx.sent_to & (1 << k) != 0 {
            return;
        }
        let Some(p) = self.progress(k) else {
            return;
        };
        if p.state == ProgressState::Snapshot {
            self.send_snapshot_chunk(k, heartbeat, cx);
            return;
        }
        let to = self.tracker.id(k);
        let can = p.can_send(self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        let last = self.log.last_index();
        let (prev, count, bytes) = if can && (p.next <= last || p.state == ProgressState::Probe) {
            let prev = p.next.prev();
            if prev < self.log.base() {
                // The entries it needs were compacted: stream a snapshot if the driver has
                // one, else it must wait (the log cannot compact past it without one).
                self.stats.needs_snapshot += 1;
                if let Some(meta) = self.snapshot {
                    if let Some(p) = self.progress_mut(k) {
                        p.become_snapshot(meta);
                    }
                    self.send_snapshot_chunk(k, heartbeat, cx);
                }
                return;
            }
            let budget = self.cfg.max_frame_bytes - MAX_HEADER_BYTES;
            let budget = budget.min(p.bytes_left(self.cfg.max_inflight_bytes).max(1));
            let (count, bytes) = self.batch(prev, budget);
            (prev, count, bytes)
        } else if heartbeat {
            // Heartbeat: anchored at the match index, which the follower holds.
            let prev = match p.state {
                ProgressState::Replicate | ProgressState::Snapshot => {
                    p.matched.max(self.log.base())
                }
                ProgressState::Probe => p.next.prev().max(self.log.base()),
            };
            (prev, 0, 0)
        } else {
            return;
        };
        let Some(prev_term) = self.log.term(prev) else {
            return;
        };
        if let Some(p) = self.progress_mut(k) {
            if can && (count > 0 || p.state == ProgressState::Probe) {
                p.sent(prev.plus(u64::from(count)), bytes);
            }
        }
        let msg = Message::Append(Append {
            term: self.hs.term,
            prev_index: prev,
            prev_term,
            commit: self.commit,
            floor: self.floor,
            round: self.round,
            entries: EntryCount(count),
        });
        self.send_to(k, to, msg, cx);
    }

    /// How many entries after `prev` fit in `budget` record bytes (at least one if any).
    #[inline(always)]
    fn batch(&self, prev: LogIndex, budget: u32) -> (u32, u32) {
        let mut count = 0u32;
        let mut bytes = 0u32;
        let mut i = prev.next();
        while let Some(m) = self.log.meta(i) {
            let b = m.record_bytes();
            if count > 0 && bytes + b > budget {
                break;
            }
            count += 1;
            bytes += b;
            i = i.next();
        }
        (count, bytes)
    }

    /// The position of the voter a response came from, after counting its heartbeat round
    /// (CheckQuorum and reads); `None` (and counted) if this node is not leading.
    pub(crate) fn response_from(&mut self, from: NodeId, round: u32) -> Option<usize> {
        let Some(l) = self.role.leading_mut() else {
            self.stats.ignored_unexpected += 1;
            return None;
        };
        let k = self.tracker.position(from)?;
        if !self.tracker.is_peer(k) {
            self.stats.ignored_unexpected += 1;
            return None;
        }
        // Invariant: `k` is a `tracker.position()` result, below `tracker.len()`, and `progress`
        // has `tracker.len()` entries while leading (see `Leading::progress`).
        let p = &mut l.progress[k];
        if round.wrapping_sub(p.acked_round) < (1 << 31) {
            p.acked_round = round;
        }
        Some(k)
    }

    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        r: AppendResponse,
        cx: &mut Ctx<'_>,
    ) {
        let Some(k) = self.response_from(from, r.round) else {
            return;
        };
        // The follower's commit index names committed entries, which this leader's log holds
        // at the same indices (Leader Completeness): adopt it.
        let known = r.commit.min(self.log.last_index());
        if known > self.commit {
            self.commit = known;
        }
        if r.success {
            if r.index > self.log.last_index() {
                // Acknowledges entries we never had: a corrupted or forged message.
                self.stats.ignored_unexpected += 1;
                return;
            }
            if self.progress_mut(k).is_some_and(|p| p.ack(r.index)) {
                self.maybe_commit(cx);
            }
            self.maybe_send_timeout_now(k, cx);
            if r.commit < self.commit.min(r.index) {
                // The follower holds entries it does not know are committed: tell it now,
                // with entries if any may go, else an empty append.
                self.send_append(k, true, cx);
            }
        } else {
            // Fast backtracking: map the follower's hint onto our log (etcd's
            // findConflictByTerm on the leader side).
            let probe = self.log.find_conflict_by_term(r.hint_index, r.hint_term);
            if !self
                .progress_mut(k)
                .is_some_and(|p| p.reject(r.index, probe))
            {
                return;
            }
        }
        self.send_append(k, false, cx);
        self.check_reads(cx);
    }

    /// Under `Deferred` durability the leader's own log counts only once durable.
    pub(crate) fn leader_durable_advanced(&mut self, cx: &mut Ctx<'_>) {
        self.maybe_commit(cx);
    }

    /// "If there exists an N such that N > commitIndex, a majority of matchIndex[i] >= N,
    /// and log[N].term == currentTerm: set commitIndex = N" (5.3, 5.4.2).
    pub(crate) fn maybe_commit(&mut self, cx: &mut Ctx<'_>) {
        let durable = if self.cfg.durability == crate::config::Durability::Inline {
            self.log.last_index()
        } else {
            self.durable
        };
        let Some(l) = self.role.leading() else {
            return;
        };
        // Match indices by position (0 for positions that are not members).
        let mut matched = [0u64; P];
        // The floor covers learners too (they need the entries as much as voters do).
        let mut min_match = durable;
        // Positions past the commit index: the quorum value exceeds it only if a quorum is.
        let mut above = 0u8;
        #[allow(clippy::needless_range_loop)] // `k` indexes the tracker and the progress too.
        for k in 0..self.tracker.len() {
            // Invariant: `k < tracker.len() <= P` (the loop; `slots` holds at most `P`), so
            // `matched[k]` below (`P` values) is in bounds, and so is `l.progress[k]`: `progress`
            // has `tracker.len()` entries while leading (see `Leading::progress`).
            let m = if k == self.tracker.me {
                durable
            } else if self.is_peer(k) {
                l.progress[k].matched
            } else {
                continue;
            };
            min_match = min_match.min(m);
            matched[k] = m.0;
            above |= u8::from(m > self.commit) << k;
        }
        let mut advanced = false;
        let voters = self.tracker.voters;
        if voters.is_quorum(above) {
            let n = LogIndex(voters.committed_value(&matched));
            let own_term = self.log.term(n) == Some(self.hs.term) || on(Bug::Figure8Commit);
            if n > self.commit && own_term {
                self.commit = n;
                advanced = true;
            }
        }
        let floor = min_match.min(self.commit);
        if floor > self.floor {
            self.floor = floor;
        }
        if advanced {
            // Reads that waited for the first commit of this term start a round now, before
            // the commit broadcast, so its messages carry the new round.
            self.start_read_round(cx);
            if self.conf.is_joint() {
                // A committed joint configuration with auto-leave is left at once.
                self.auto_leave_joint(cx);
            }
            // Followers learn the new commit index now, not at the next heartbeat.
            self.broadcast_append_or_commit(cx);
        }
    }

    /// Followers with nothing in flight learn a new commit index now; the others with the
    /// message their next acknowledgement triggers.
    fn broadcast_append_or_commit(&mut self, cx: &mut Ctx<'_>) {
        for k in 0..self.tracker.len() {
            let busy = self.progress(k).is_some_and(|p| p.inflight_len() > 0);
            if self.is_peer(k) && cx.sent_to & (1 << k) == 0 && !busy {
                self.send_append(k, true, cx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{AppendResponse, Message, VoteResponse};
    use crate::output::{outputs_needed, Outputs};
    use crate::types::{LogIndex, NodeId, Role, Term};
    use crate::{Config, Input, State};

    /// Node 1 of three, PreVote off.
    fn node1() -> State<3, 16, 4> {
        let voters = [NodeId(1), NodeId(2), NodeId(3)];
        let mut cfg = Config::new(NodeId(1), 1);
        cfg.pre_vote = false;
        State::new(cfg, &voters).unwrap()
    }

    /// Ticks `s` until it campaigns, then grants it node 2's vote: it leads.
    fn elect(s: &mut State<3, 16, 4>, out: &mut Outputs<{ outputs_needed(3) }>) {
        while s.role() != Role::Candidate {
            s.step(Input::Tick, out).unwrap();
        }
        let grant = Message::VoteResponse(VoteResponse {
            term: s.term(),
            granted: true,
        });
        s.step(
            Input::Message {
                from: NodeId(2),
                msg: grant,
            },
            out,
        )
        .unwrap();
        assert_eq!(s.role(), Role::Leader);
    }

    /// A response is taken only by a leader, from a peer: anything else is ignored and
    /// counted; a round exactly 2^31 behind the one a peer answered last does not replace it.
    #[test]
    fn a_response_is_taken_only_by_a_leader_from_a_peer_and_its_round_only_forward() {
        let mut s = node1();
        assert_eq!(s.response_from(NodeId(2), 1), None);
        assert_eq!(s.stats.ignored_unexpected, 1);
        let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
        elect(&mut s, &mut out);
        // Itself is no peer.
        assert_eq!(s.response_from(NodeId(1), 1), None);
        assert_eq!(s.stats.ignored_unexpected, 2);
        let k2 = s.position(NodeId(2)).unwrap();
        assert_eq!(s.response_from(NodeId(2), 7), Some(k2));
        let acked = |s: &State<3, 16, 4>| s.role.leading().unwrap().progress[k2].acked_round;
        assert_eq!(acked(&s), 7);
        s.response_from(NodeId(2), 7u32.wrapping_add(1 << 31));
        assert_eq!(acked(&s), 7);
        s.response_from(NodeId(2), 7u32.wrapping_add((1 << 31) - 1));
        assert_eq!(acked(&s), 7u32.wrapping_add((1 << 31) - 1));
        // A success that acknowledges entries the leader never had is ignored and counted.
        let beyond = Message::AppendResponse(AppendResponse {
            term: s.term(),
            success: true,
            index: s.last_index().plus(5),
            hint_index: LogIndex::ZERO,
            hint_term: Term(0),
            round: s.round,
            commit: LogIndex::ZERO,
        });
        let matched = s.role.leading().unwrap().progress[k2].matched;
        s.step(
            Input::Message {
                from: NodeId(2),
                msg: beyond,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(s.stats.ignored_unexpected, 3);
        assert_eq!(s.role.leading().unwrap().progress[k2].matched, matched);
    }

    /// CheckQuorum counts a voter active only if it answered a round of the current window:
    /// rounds compare wrapping, a round is reached within half the space ahead, so an answer
    /// exactly 2^31 rounds from the window's first is behind (as for reads, O1).
    #[test]
    fn check_quorum_counts_an_answer_half_the_round_space_away_as_behind() {
        let mut s = node1();
        let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
        elect(&mut s, &mut out);
        let (k2, k3) = (
            s.position(NodeId(2)).unwrap(),
            s.position(NodeId(3)).unwrap(),
        );
        for (ahead, active) in [(0, true), ((1 << 31) - 1, true), (1 << 31, false)] {
            let l = s.role.leading_mut().unwrap();
            let round = l.cq_round.wrapping_add(ahead);
            l.progress[k2].acked_round = round;
            l.progress[k3].acked_round = round;
            assert_eq!(s.quorum_active(), active, "{ahead} rounds ahead");
        }
    }

    /// A SnapshotResponse acknowledging bytes past the end of the snapshot streaming to its
    /// sender is forged or corrupt: it is ignored and counted. Taken, two of them (the second
    /// behind the first) rewound the stream past its end, and the next chunk's length
    /// (`meta.len - snap_next`) underflowed: a panic wherever overflow checks are on.
    #[cfg(feature = "snapshots")]
    #[test]
    fn a_snapshot_ack_past_the_snapshot_end_is_ignored() {
        use crate::message::{SnapshotMeta, SnapshotResponse};
        use crate::tracker::progress::ProgressState;
        let mut s = node1();
        let mut out: Outputs<{ outputs_needed(3) }> = Outputs::new();
        elect(&mut s, &mut out);
        // Node 2 acknowledges the leader's empty entry: it commits and is applied.
        let ack = Message::AppendResponse(AppendResponse {
            term: s.term(),
            success: true,
            index: LogIndex(1),
            hint_index: LogIndex::ZERO,
            hint_term: Term(0),
            round: s.round,
            commit: LogIndex::ZERO,
        });
        let from2 = Input::Message {
            from: NodeId(2),
            msg: ack,
        };
        s.step(from2, &mut out).unwrap();
        assert_eq!(s.applied(), LogIndex(1));
        // A snapshot of it: the log compacts past node 3, which never answered.
        let meta = SnapshotMeta {
            index: LogIndex(1),
            term: s.term(),
            len: 1000,
            checksum: 0,
            members: *s.membership(),
        };
        s.step(Input::SnapshotSaved { meta }, &mut out).unwrap();
        assert_eq!(s.first_index(), LogIndex(2));
        // The next heartbeat streams the snapshot to node 3 (one chunk: the whole of it).
        let k3 = s.position(NodeId(3)).unwrap();
        let streaming = |s: &State<3, 16, 4>| {
            s.role.leading().unwrap().progress[k3].state == ProgressState::Snapshot
        };
        while !streaming(&s) {
            s.step(Input::Tick, &mut out).unwrap();
        }
        let ignored = s.stats.ignored_unexpected;
        for next_offset in [5000, 3000] {
            let forged = Message::SnapshotResponse(SnapshotResponse {
                term: s.term(),
                index: LogIndex(1),
                next_offset,
                installed: false,
                round: s.round,
            });
            let from3 = Input::Message {
                from: NodeId(3),
                msg: forged,
            };
            s.step(from3, &mut out).unwrap();
        }
        assert_eq!(s.stats.ignored_unexpected, ignored + 2);
        let p = &s.role.leading().unwrap().progress[k3];
        assert!(p.snap_next <= meta.len && p.snap_acked <= meta.len);
    }
}
