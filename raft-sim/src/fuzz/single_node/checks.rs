//! The single-node target's checks: documented driver errors, the shape of each step's
//! outputs, what a message may acknowledge, and the node's invariants after every step.

use raftcore::{
    EntryCount, EntryKind, HardState, Input, LogStore, Membership, MembershipRefusal, Message,
    NodeId, Output, Proposal, Role, StepError,
};

use super::{Harness, View};

impl Harness {
    /// The documented driver error `input` must give, if any.
    pub(super) fn expected_error(&self, input: &Input<'_>) -> Option<StepError> {
        let s = self.state();
        if s.is_halted() {
            return Some(StepError::Halted);
        }
        match *input {
            Input::Persisted { seq } if seq > self.max_seq => Some(StepError::UnknownPersistSeq),
            Input::Captured { index } if index > s.applied() => {
                Some(StepError::CaptureBeyondApplied)
            }
            Input::Read { id } if self.last_read.is_some_and(|l| id <= l) => {
                Some(StepError::ReadIdNotIncreasing)
            }
            _ => None,
        }
    }

    /// Shape of one step's outputs: one `Persist` at most, first, with the next sequence
    /// number and the current hard state; one `Proposal` exactly when proposing.
    pub(super) fn check_outputs(&mut self, input: &Input<'_>, before: &View, out: &[Output]) {
        let s = self.state();
        let mut proposals = 0;
        for (k, o) in out.iter().enumerate() {
            match o {
                Output::Persist(p) => {
                    if k != 0 {
                        self.fail(&format!("Persist is not the first output: {out:?}"));
                    }
                    if p.seq != self.max_seq + 1 {
                        self.fail(&format!("Persist seq {} after {}", p.seq, self.max_seq));
                    }
                    if p.hard_state.is_some_and(|h| h != s.hard_state()) {
                        self.fail(&format!("Persist {p:?} is not the node's hard state"));
                    }
                }
                Output::Proposal(p) => {
                    proposals += 1;
                    if let Input::ChangeMembership { data } = input {
                        self.check_change_answer(p, data, before);
                        continue;
                    }
                    let Input::Propose { data } = input else {
                        self.fail(&format!("a Proposal answer without a proposal: {out:?}"))
                    };
                    let too_large = data.len() > self.cfg.max_payload() as usize;
                    let ok = match p {
                        Proposal::NotLeader { .. } => before.role != Role::Leader,
                        Proposal::TooLarge => before.role == Role::Leader && too_large,
                        Proposal::Busy => before.role == Role::Leader && !too_large,
                        Proposal::Refused(_) => false,
                        Proposal::Accepted { index, term } => {
                            before.role == Role::Leader
                                && !too_large
                                && *term == s.term()
                                && *index == before.last.next()
                                && s.term_at(*index) == Some(*term)
                        }
                    };
                    if !ok {
                        self.fail(&format!("answer {p:?} to a proposal of {}", data.len()));
                    }
                }
                _ => {}
            }
        }
        if let Some(Output::Persist(p)) = out.first() {
            self.max_seq = p.seq;
        }
        let want = usize::from(matches!(
            input,
            Input::Propose { .. } | Input::ChangeMembership { .. }
        ));
        if proposals != want {
            self.fail(&format!("{proposals} proposal answers: {out:?}"));
        }
    }

    /// The answer to a membership change: only a leader accepts, refuses or is busy; a
    /// malformed one is refused as such; an accepted one is in force at once at its index.
    fn check_change_answer(&self, p: &Proposal, data: &[u8], before: &View) {
        let s = self.state();
        let parsed = Membership::decode_entry(data, &before.membership);
        let ok = match p {
            Proposal::NotLeader { .. } => before.role != Role::Leader,
            Proposal::TooLarge => false,
            Proposal::Busy => before.role == Role::Leader,
            Proposal::Refused(MembershipRefusal::Malformed) => parsed.is_err(),
            Proposal::Refused(_) => before.role == Role::Leader && parsed.is_ok(),
            Proposal::Accepted { index, term } => {
                before.role == Role::Leader
                    && *index == before.last.next()
                    && *term == s.term()
                    && parsed.as_ref().ok() == Some(s.membership())
                    && s.membership_index() == *index
            }
        };
        if !ok {
            self.fail(&format!("answer {p:?} to a membership change {parsed:?}"));
        }
    }

    /// Notes the members of every configuration the store holds and of the one in force
    /// (called before each step: the store as the previous steps left it).
    pub(super) fn note_members(&mut self) {
        let mut confs: Vec<Membership> = vec![*self.state().membership()];
        confs.extend(
            self.engine_ref()
                .storage()
                .store()
                .entries()
                .iter()
                .filter(|e| e.kind == EntryKind::Membership)
                .filter_map(|e| Membership::decode(&e.data).ok()),
        );
        for m in &confs {
            for id in m.members() {
                if !self.members_seen.contains(&id) {
                    self.members_seen.push(id);
                }
            }
        }
    }

    /// A message may go out: to another member, initial or current (or to a leader it does
    /// not know: the log is taken from any leader; or a vote request to a node some earlier
    /// configuration named, which the core still tracks), and a vote grant names the node's
    /// vote. (The transport checked, as it sent it, that what it acknowledges was durable and
    /// that it fits in `max_frame_bytes`.)
    pub(super) fn check_send(&self, to: NodeId, msg: &Message<EntryCount>) {
        let answers_leader = self.state().leader() == Some(to)
            || matches!(
                msg,
                Message::AppendResponse(_) | Message::SnapshotResponse(_)
            );
        let member = self.state().membership().is_member(to)
            || (matches!(
                msg,
                Message::Vote(_) | Message::PreVote(_) | Message::TransferVote(_)
            ) && self.members_seen.contains(&to));
        if to == self.me() || !(self.voters.contains(&to) || member || answers_leader) {
            self.fail(&format!("send to {to}, not another member"));
        }
        if let Message::VoteResponse(r) = msg {
            let hs = self.state().hard_state();
            let want = HardState {
                term: r.term,
                vote: Some(to),
            };
            if r.granted && hs != want {
                self.fail(&format!("vote grant {r:?} to {to}: hard state {hs:?}"));
            }
        }
    }

    /// Invariants of the node after a step.
    pub(super) fn check_view(&mut self, input: &Input<'_>) {
        let s = self.state();
        let v = View::of(s);
        let p = self.prev;
        let mut bad = None;
        if v.hs.term < p.hs.term {
            bad = Some("the term went back");
        } else if v.hs.term == p.hs.term && p.hs.vote.is_some() && v.hs.vote != p.hs.vote {
            bad = Some("the vote changed within a term");
        } else if v.commit < p.commit {
            bad = Some("the commit index went back");
        } else if v.commit > v.last {
            bad = Some("commit beyond the last index");
        } else if v.applied > v.commit {
            bad = Some("applied beyond commit");
        } else if v.applied > v.durable || v.durable > v.last {
            bad = Some("applied beyond durable, or durable beyond the log");
        } else if v.applied != self.machine().applied {
            bad = Some("applied differs from what was handed out");
        } else if v.role == Role::Leader && v.leader != Some(self.me()) {
            bad = Some("a leader that does not know it leads");
        } else if self.engine_ref().storage().store().last_index() != v.last {
            bad = Some("the store and the core disagree on the last index");
        } else if v.halted {
            bad = Some("halted without a storage failure");
        }
        let mut i = v.first;
        while bad.is_none() && i <= v.last {
            if self.engine_ref().storage().store().term(i) != s.term_at(i) {
                bad = Some("the store and the core disagree on a term");
            }
            i = i.next();
        }
        if let Some(what) = bad {
            self.fail(&format!("{what} on {input:?}: before {p:?}"));
        }
        self.prev = v;
    }
}
