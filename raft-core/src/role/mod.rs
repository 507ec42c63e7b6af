//! The role logic, split as etcd's `stepLeader` / `stepCandidate` / `stepFollower` are:
//! this file handles ticks and the term rules every role shares, then dispatches.
//!
//! The roles build on `node` (the fields of [`State`] and the per-step [`Ctx`]),
//! `tracker` and `role_state`, never on `state`, which sits above them and dispatches
//! each input here.

mod candidate;
mod follower;
mod leader;
mod membership;
mod reads;
mod snapshot;
mod transfer;

use crate::codec::WireEntries;
use crate::feature::{READS, SNAPSHOTS, TRANSFER};
use crate::inject::{on, Bug};
use crate::log::window::WindowStorage;
use crate::message::{Message, VoteResponse};
use crate::node::{Ctx, State};
use crate::types::{NodeId, Role, Term};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    pub(crate) fn tick(&mut self, cx: &mut Ctx<'_>) {
        if self.elapsed >= self.cfg.election_ticks {
            self.quiet_after_restart = false;
        }
        match self.role() {
            Role::Leader => self.leader_tick(cx),
            _ => {
                self.elapsed = self.elapsed.saturating_add(1);
                if self.elapsed >= self.timeout && self.may_campaign() {
                    self.start_election(cx);
                }
            }
        }
    }

    /// A message from `from`: the term rules of Figure 2 ("if RPC request or response contains
    /// term T > currentTerm: set currentTerm = T, convert to follower"), refined by PreVote and
    /// the leader lease of CheckQuorum, then the role's handler.
    #[inline(always)]
    pub(crate) fn receive(
        &mut self,
        from: NodeId,
        msg: &Message<WireEntries<'_>>,
        cx: &mut Ctx<'_>,
    ) {
        // Messages come from the nodes this one tracks: its configuration's members and
        // former members. The log is also taken from a leader this node does not know yet: a
        // node joining, or restarted with a configuration the cluster has since left, may be
        // led by a member added after it last looked. (Peers are authenticated by the
        // transport, never by the core; vote requests of unknown nodes are ignored below.)
        if !supported(msg) {
            // A part of the protocol this build left out: as if the message were lost.
            self.stats.dropped_unsupported += 1;
            return;
        }
        let leads = matches!(msg, Message::Append(_) | Message::Snapshot(_));
        if from == self.cfg.id || (!leads && self.position(from).is_none()) {
            self.stats.dropped_unknown_peer += 1;
            return;
        }
        if let Message::PreVote(req) | Message::Vote(req) | Message::TransferVote(req) = *msg {
            let ahead =
                (req.last_term, req.last_index) > (self.log.last_term(), self.log.last_index());
            if !ahead && !self.may_lead(from) {
                // A node that is no voter here asks for votes with a log no newer than this
                // one (so it cannot know a newer configuration that made it a voter): a
                // removed server that never learned it was removed. Its term must not depose
                // the leader (this holds without PreVote and CheckQuorum too). A voter of the
                // configuration before an uncommitted one is still heard: it may campaign
                // (`may_campaign`), and may be the one that must win.
                self.stats.ignored_non_voter += 1;
                return;
            }
        }
        let term = msg.term();
        if term > self.hs.term {
            match *msg {
                _ if self.role() == Role::Leader && on(Bug::IgnoreHigherTerm) => {
                    self.set_term(term, cx)
                }
                Message::PreVote(_) | Message::Vote(_) if self.in_lease() => {
                    // A leader was heard within the election timeout: a node asking for
                    // votes now is disruptive (partitioned or removed), not needed.
                    self.stats.ignored_in_lease += 1;
                    return;
                }
                // A PreVote does not change anyone's term; a granted PreVote response carries
                // the term the candidate would campaign in.
                Message::PreVote(_) => {}
                Message::PreVoteResponse(r) if r.granted => {}
                Message::Append(_) | Message::Snapshot(_) => {
                    self.become_follower(term, Some(from), cx)
                }
                _ => self.become_follower(term, None, cx),
            }
        } else if term < self.hs.term {
            self.stats.stale_term += 1;
            match *msg {
                // Tell a stale leader or candidate about the newer term so it steps down.
                Message::Append(a) => self.reject_stale_append(from, a.prev_index, cx),
                Message::Snapshot(c) => self.reject_stale_append(from, c.meta.index, cx),
                Message::ReadIndex(req) => {
                    // Tell the follower its term is stale; its read fails and is retried.
                    let resp = crate::message::ReadIndexResponse {
                        term: self.hs.term,
                        id: req.id,
                        index: crate::types::LogIndex::ZERO,
                        ok: false,
                    };
                    self.send(from, Message::ReadIndexResponse(resp), cx);
                }
                Message::Vote(_) | Message::PreVote(_) | Message::TransferVote(_) => {
                    let resp = VoteResponse {
                        term: self.hs.term,
                        granted: false,
                    };
                    let m = match *msg {
                        Message::Vote(_) => Message::VoteResponse(resp),
                        _ => Message::PreVoteResponse(resp),
                    };
                    self.send(from, m, cx);
                }
                _ => {}
            }
            return;
        }
        match *msg {
            Message::PreVote(req) => self.handle_vote_request(from, req, true, cx),
            Message::Vote(req) => self.handle_vote_request(from, req, false, cx),
            Message::PreVoteResponse(r) => self.handle_vote_response(from, r, true, cx),
            Message::VoteResponse(r) => self.handle_vote_response(from, r, false, cx),
            Message::Append(ref a) => self.handle_append(from, a, cx),
            Message::AppendResponse(r) => self.handle_append_response(from, r, cx),
            Message::TransferVote(req) => self.handle_vote_request(from, req, false, cx),
            Message::TimeoutNow { .. } => self.handle_timeout_now(from, cx),
            Message::ReadIndex(req) => self.handle_read_index(from, req, cx),
            Message::ReadIndexResponse(r) => self.handle_read_index_response(from, r, cx),
            Message::Snapshot(ref c) => self.handle_snapshot_chunk(from, c, cx),
            Message::SnapshotResponse(r) => self.handle_snapshot_response(from, r, cx),
        }
    }

    /// Steps down (or stays down) to follower in `term`, following `leader` if known.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>, cx: &mut Ctx<'_>) {
        // The leader's pending reads outlive its state by this step: they fail below.
        let reads = self
            .role
            .leading_mut()
            .map(|l| core::mem::take(&mut l.reads));
        let was_leader = reads.is_some();
        self.set_term(term, cx);
        self.set_role(Role::Follower, leader, cx);
        if let Some(reads) = reads {
            // After the role change, so failed reads name the new leader (if known).
            self.fail_all_reads(reads, cx);
        }
        // Figure 2: a follower's election timer restarts only when it grants a vote
        // (`handle_vote_request`) or hears the current leader (`handle_append`, a snapshot
        // chunk), never merely on a higher term. Had a vote request it refuses, or a
        // candidate's lost election, restarted it, a node that cannot win (its log is behind)
        // would, campaigning again and again, keep the timers of the nodes that can win from
        // ever running out first. A candidate keeps the timer its campaign started; a leader
        // stepping down starts a fresh one (its `elapsed` counted CheckQuorum rounds).
        if was_leader {
            self.reset_election_timer();
        }
    }

    /// With CheckQuorum, a follower that heard from its leader within the minimum election
    /// timeout does not grant (pre-)votes in a higher term (thesis section 4.2.3).
    fn in_lease(&self) -> bool {
        self.cfg.check_quorum
            && match self.role() {
                Role::Leader => true,
                Role::Follower => {
                    (self.leader.is_some() || self.quiet_after_restart)
                        && self.elapsed < self.cfg.election_ticks
                }
                _ => false,
            }
    }
}

/// Whether this build takes `msg`: false for the messages of a Cargo feature that is off
/// (see [`crate::feature`]).
#[inline(always)]
fn supported<E>(msg: &Message<E>) -> bool {
    match msg {
        Message::ReadIndex(_) | Message::ReadIndexResponse(_) => READS,
        Message::TimeoutNow { .. } | Message::TransferVote(_) => TRANSFER,
        Message::Snapshot(_) | Message::SnapshotResponse(_) => SNAPSHOTS,
        _ => true,
    }
}
