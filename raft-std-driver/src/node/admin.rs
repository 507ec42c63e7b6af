//! Membership admin requests (`raft-client member ...`), served by the leader: the next
//! configuration is built from raft-core's current one ([`Core::membership`](super::Core)),
//! checked against the peer table, encoded and stepped as `Input::ChangeMembership`; the
//! client is answered once the change is applied (like a write), or at once with the
//! refusal, `Busy` or `NotLeader`. A leadership transfer (from a [`NodeHandle`]) is answered
//! once the leader has started it.
//!
//! [`NodeHandle`]: super::NodeHandle

use raftcore::{
    Input, MemberKind, Membership, MembershipRefusal, NodeId, Proposal, Role, MEMBERSHIP_BYTES,
};

use super::{Node, NodeError, ReplyTo, Waiter};
use crate::admin::{MemberChange, MemberRefusal, MembershipView};
use crate::machine::StateMachine;
use crate::wire::ReplyBody;

impl<M: StateMachine> Node<M> {
    /// This node's view of the configuration in force (the latest in its log).
    pub fn membership_view(&self) -> MembershipView {
        let m = self.core().membership();
        let index = self.core().membership_index();
        MembershipView {
            node: self.cfg.id,
            role: self.core().role(),
            leader: self.core().leader().map(|l| l.0),
            voters: m.voters().map(|n| n.0).collect(),
            learners: m.learners().map(|n| n.0).collect(),
            index: index.0,
            committed: index <= self.core().commit(),
        }
    }

    /// `ClientBody::ChangeMembership`: steps the change, or answers why not.
    pub(super) fn change_membership(
        &mut self,
        change: MemberChange,
        reply: ReplyTo,
    ) -> Result<(), NodeError> {
        let answer = match self.next_membership(change) {
            Err(body) => body,
            // The change already holds (a retry, say): done once it is committed.
            Ok(None) if self.core().membership_index() <= self.core().commit() => {
                ReplyBody::Membership(self.membership_view())
            }
            Ok(None) => ReplyBody::Busy,
            Ok(Some(next)) => {
                let mut buf = [0; MEMBERSHIP_BYTES];
                let data = next.encode(&mut buf);
                match self.step(Input::ChangeMembership { data })? {
                    Some(Proposal::Accepted { index, term }) => {
                        self.counters.membership_changes += 1;
                        tracing::info!(id = self.cfg.id, %change, index = index.0,
                            "membership change accepted");
                        // Answered by `apply` with the configuration, once committed.
                        self.waiters.insert(index.0, Waiter { term, reply });
                        return Ok(());
                    }
                    Some(Proposal::NotLeader { leader_hint }) => ReplyBody::NotLeader {
                        leader: leader_hint.map(|l| l.0),
                    },
                    Some(Proposal::Busy) => ReplyBody::Busy,
                    Some(Proposal::Refused(e)) => ReplyBody::Refused(refusal(e, change.node())),
                    Some(Proposal::TooLarge) => {
                        ReplyBody::Refused(MemberRefusal::Rule("too large".into()))
                    }
                    None => ReplyBody::Retry,
                }
            }
        };
        self.reply(reply, answer);
        Ok(())
    }

    /// A handle's leadership transfer to `to`: refused unless `to` is another voter, answered
    /// `NotLeader` off the leader, else stepped as `Input::TransferLeader` and answered at once
    /// (raft-core catches `to` up, sends it TimeoutNow, and gives up after an election
    /// timeout; the role changes tell how it went).
    pub(super) fn transfer_leader(&mut self, to: NodeId, reply: ReplyTo) -> Result<(), NodeError> {
        let answer = if self.core().role() != Role::Leader {
            let leader = self.core().leader().filter(|&l| l.0 != self.cfg.id);
            ReplyBody::NotLeader {
                leader: leader.map(|l| l.0),
            }
        } else if to.0 == self.cfg.id {
            ReplyBody::Applied(Vec::new())
        } else if self.core().membership().kind_of(to) != Some(MemberKind::Voter) {
            ReplyBody::Refused(MemberRefusal::Rule(format!("node {to} is not a voter")))
        } else {
            tracing::info!(id = self.cfg.id, to = to.0, "leadership transfer");
            self.step(Input::TransferLeader { to })?;
            ReplyBody::Applied(Vec::new())
        };
        self.reply(reply, answer);
        Ok(())
    }

    /// The configuration `change` leads to: `None` if it already holds, `Err` with the answer
    /// if it cannot be made here.
    fn next_membership(&self, change: MemberChange) -> Result<Option<Membership>, ReplyBody> {
        if self.core().role() != Role::Leader {
            let leader = self.core().leader().map(|l| l.0);
            return Err(ReplyBody::NotLeader {
                leader: leader.filter(|&l| l != self.cfg.id),
            });
        }
        let id = change.node();
        let refuse = |r| Err(ReplyBody::Refused(r));
        if !self.cfg.knows(id) {
            return refuse(MemberRefusal::NotInPeerTable(id));
        }
        let cur = *self.core().membership();
        let next = match (change, cur.kind_of(NodeId(id))) {
            (MemberChange::AddLearner(_), Some(MemberKind::Learner))
            | (MemberChange::Promote(_), Some(MemberKind::Voter))
            | (MemberChange::Remove(_), None) => return Ok(None),
            (MemberChange::AddLearner(_), Some(MemberKind::Voter)) => {
                return refuse(MemberRefusal::AlreadyVoter(id))
            }
            (MemberChange::Promote(_), None) => return refuse(MemberRefusal::NotALearner(id)),
            (MemberChange::AddLearner(_), None) => cur.with_learner(NodeId(id)),
            (MemberChange::Promote(_), Some(MemberKind::Learner)) => cur.with_voter(NodeId(id)),
            (MemberChange::Remove(_), Some(_)) => Ok(cur.without(NodeId(id))),
        };
        match next {
            Ok(m) => Ok(Some(m)),
            Err(e) => refuse(refusal(e, id)),
        }
    }
}

/// raft-core's refusal of a change about node `id`, for the client.
fn refusal(e: MembershipRefusal, id: u32) -> MemberRefusal {
    match e {
        MembershipRefusal::NotCaughtUp => MemberRefusal::NotCaughtUp(id),
        other => MemberRefusal::Rule(other.to_string()),
    }
}
