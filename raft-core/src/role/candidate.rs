//! Elections: PreVote and RequestVote, from both sides.

use crate::log::window::WindowStorage;
use crate::message::{Message, VoteRequest, VoteResponse};
use crate::node::{Ctx, State};
use crate::quorum::VoteResult;
use crate::types::{NodeId, Role, Term};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    /// The election timer fired: start a PreVote round, or a real election without PreVote.
    pub(crate) fn start_election(&mut self, cx: &mut Ctx<'_>) {
        if self.hs.term == Term(u64::MAX) {
            // No later term exists: campaigning would vote a second time in this one.
            self.reset_election_timer();
            return;
        }
        let pre = self.cfg.pre_vote;
        self.campaign(pre, false, cx);
    }

    /// Asks every voter for a (pre-)vote. A real campaign bumps the term and votes for self;
    /// both are in this step's `Persist`, and under `Deferred` durability the own vote only
    /// counts once that `Persist` is durable.
    pub(crate) fn campaign(&mut self, pre: bool, transfer: bool, cx: &mut Ctx<'_>) {
        let term = if pre {
            self.stats.pre_votes += 1;
            self.set_role(Role::PreCandidate, None, cx);
            self.hs.term.next()
        } else {
            self.stats.elections += 1;
            let t = self.hs.term.next();
            self.set_term(t, cx);
            self.set_vote(self.cfg.id, cx);
            self.set_role(Role::Candidate, None, cx);
            t
        };
        self.reset_election_timer();
        let me = self.tracker.me;
        if let Some(votes) = self.role.votes_mut() {
            votes.clear();
            votes.set(me, Some(true));
        }
        let req = VoteRequest {
            term,
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
        };
        // Learners and former members still tracked are asked too: they may be voters in a
        // configuration newer or older than this candidate's (a member removed by an
        // uncommitted change still campaigns, and may be the one that must win), and asking
        // them carries this term to them. Without it such a node, never told the term, kept
        // campaigning in the term this candidate had already voted itself in, and lost its
        // vote every time. Only voters' grants count.
        for k in 0..self.tracker.len() {
            if k != self.tracker.me {
                let to = self.tracker.id(k);
                let msg = match (pre, transfer) {
                    (true, _) => Message::PreVote(req),
                    (false, true) => Message::TransferVote(req),
                    (false, false) => Message::Vote(req),
                };
                self.send(to, msg, cx);
            }
        }
        self.tally_votes(cx);
    }

    /// Counts granted votes; a majority wins, a majority of rejections loses (while joint:
    /// a majority of each configuration wins, a majority refusing in either loses).
    pub(crate) fn tally_votes(&mut self, cx: &mut Ctx<'_>) {
        let pre = match self.role() {
            Role::PreCandidate => true,
            Role::Candidate => false,
            _ => return,
        };
        // The own vote of a real candidate counts once it is durable: cast in this step, it
        // rides on this step's Persist (`next_seq`).
        let vote_seq = if cx.hs_dirty {
            self.next_seq
        } else {
            self.hs_seq
        };
        let own_durable = pre || self.durable_by(vote_seq);
        let Some(votes) = self.role.votes() else {
            return;
        };
        // Granted and refused positions; the quorum rule reads only the voters' (of both
        // configurations while joint).
        let mut yes = 0u8;
        let mut no = 0u8;
        for (k, g) in votes.iter() {
            match g {
                Some(true) if k != self.tracker.me || own_durable => yes |= 1 << k,
                Some(false) => no |= 1 << k,
                _ => {}
            }
        }
        let result = self.tracker.voters.vote_result(yes, no);
        if result == VoteResult::Won {
            if pre {
                self.campaign(false, false, cx);
            } else if own_durable {
                self.become_leader(cx);
            }
            // Else a majority of the others granted, but this node's own term and vote are
            // not durable yet: it leads only once they are (`Persisted` tallies again). A
            // leader of a term it could forget in a crash would, restarted in the term before,
            // campaign for the same term again, win it again from the same voters, and write
            // different entries under the same (index, term): Log Matching broken.
        } else if result == VoteResult::Lost {
            let term = self.hs.term;
            self.become_follower(term, None, cx);
        }
    }

    /// RequestVote / PreVote receiver (Figure 2): grant if the vote is free (or already ours
    /// to give this candidate) and the candidate's log is at least as up-to-date (5.4.1).
    pub(crate) fn handle_vote_request(
        &mut self,
        from: NodeId,
        req: VoteRequest,
        pre: bool,
        cx: &mut Ctx<'_>,
    ) {
        // Below the vote floor this node may have lost entries it acknowledged: its log
        // cannot vouch for the candidate's, so it grants nothing (`State::below_vote_floor`).
        let up_to_date = (req.last_term, req.last_index)
            >= (self.log.last_term(), self.log.last_index())
            && !self.below_vote_floor();
        if pre {
            // Grant a PreVote for a later term when the log is up to date (the lease check
            // already ran in `receive`).
            let granted = up_to_date && req.term > self.hs.term;
            let term = if granted { req.term } else { self.hs.term };
            self.send(
                from,
                Message::PreVoteResponse(VoteResponse { term, granted }),
                cx,
            );
            return;
        }
        let free = match self.hs.vote {
            None => self.leader.is_none(),
            Some(v) => v == from,
        };
        if free && up_to_date {
            self.set_vote(from, cx);
            // Figure 2 / 5.2: granting a vote resets the election timer.
            self.reset_election_timer();
            let seq = self.seq_for_ack(cx);
            if self.durable_by(seq) {
                let resp = VoteResponse {
                    term: self.hs.term,
                    granted: true,
                };
                self.send(from, Message::VoteResponse(resp), cx);
            } else {
                self.held_vote = Some((from, self.hs.term, seq));
            }
        } else {
            let resp = VoteResponse {
                term: self.hs.term,
                granted: false,
            };
            self.send(from, Message::VoteResponse(resp), cx);
        }
    }

    pub(crate) fn handle_vote_response(
        &mut self,
        from: NodeId,
        r: VoteResponse,
        pre: bool,
        cx: &mut Ctx<'_>,
    ) {
        let expecting = match self.role() {
            Role::PreCandidate => pre && (r.term == self.hs.term.next() || !r.granted),
            Role::Candidate => !pre,
            _ => false,
        };
        if !expecting {
            self.stats.ignored_unexpected += 1;
            return;
        }
        if let (Some(pos), Some(votes)) = (self.position(from), self.role.votes_mut()) {
            votes.set(pos, Some(r.granted));
        }
        self.tally_votes(cx);
    }
}
