//! Membership admin requests (`raft-client member ...`), served by the leader: the next
//! configuration is built from raft-core's current one ([`Core::membership`](super::Core)),
//! the addresses of the members it adds are looked up (or taken from the request), and the
//! configuration is encoded, followed by those addresses as the entry's context (see
//! `addresses.rs`), and stepped as `Input::ChangeMembership`. The client is answered once the
//! change is applied (like a write), or at once with the refusal, `Busy` or `NotLeader`.
//!
//! Three kinds of request: one change ([`MemberChange`]: one voter at a time, raft-core's
//! simple path), several at once ([`JointChange`]: a joint configuration, left automatically
//! once committed or on request), and leaving the joint configuration in force. A leadership
//! transfer (from a [`NodeHandle`]) is answered once the leader has started it.
//!
//! [`NodeHandle`]: super::NodeHandle

use std::net::SocketAddr;

use raftcore::{
    Input, MemberKind, Membership, MembershipRefusal, NodeId, Proposal, Role, LEAVE_JOINT,
    MEMBERSHIP_BYTES,
};

use super::addresses::encode_context;
use super::{Node, NodeError, ReplyTo, Waiter};
use crate::admin::{JointChange, MemberChange, MemberRefusal, MembershipView};
use crate::machine::StateMachine;
use crate::wire::ReplyBody;

/// What a request leads to: the entry to propose (the configuration and the addresses it
/// adds), nothing (the change already holds), or the answer at once.
enum Plan {
    /// Propose this configuration with these addresses as its context.
    Propose(Membership, Vec<(u32, SocketAddr)>),
    /// Propose the leave entry ([`LEAVE_JOINT`]).
    Leave,
    /// The change already holds.
    Holds,
}

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
            outgoing: m.outgoing_voters().map(|n| n.0).collect(),
            addresses: self.addresses(),
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
        let plan = self.next_membership(change);
        self.propose_change(plan, &change.to_string(), change.node(), reply)
    }

    /// `ClientBody::ChangeJoint`: steps the joint configuration, or answers why not.
    pub(super) fn change_joint(
        &mut self,
        change: JointChange,
        reply: ReplyTo,
    ) -> Result<(), NodeError> {
        let plan = self.next_joint(&change);
        let promoted = change.changes.iter().find_map(|c| match c {
            MemberChange::Promote(id) => Some(*id),
            _ => None,
        });
        self.propose_change(plan, &change.to_string(), promoted.unwrap_or(0), reply)
    }

    /// `ClientBody::LeaveJoint`: steps the leave entry, or answers why not.
    pub(super) fn leave_joint(&mut self, reply: ReplyTo) -> Result<(), NodeError> {
        let plan = self.leading().and_then(|()| {
            if self.core().membership().is_joint() {
                Ok(Plan::Leave)
            } else {
                Err(ReplyBody::Refused(MemberRefusal::NotJoint))
            }
        });
        self.propose_change(plan, "leave the joint configuration", 0, reply)
    }

    /// Steps what `plan` says (`what` names it in the log; `about`: the node a refusal of
    /// raft-core's is about) and answers the client, now or once the entry is applied.
    fn propose_change(
        &mut self,
        plan: Result<Plan, ReplyBody>,
        what: &str,
        about: u32,
        reply: ReplyTo,
    ) -> Result<(), NodeError> {
        let mut data = Vec::new();
        let answer = match plan {
            Err(body) => body,
            // The change already holds (a retry, say): done once it is committed.
            Ok(Plan::Holds) if self.core().membership_index() <= self.core().commit() => {
                ReplyBody::Membership(self.membership_view())
            }
            Ok(Plan::Holds) => ReplyBody::Busy,
            Ok(plan) => {
                if let Plan::Propose(next, addrs) = &plan {
                    let mut buf = [0; MEMBERSHIP_BYTES];
                    data.extend_from_slice(next.encode(&mut buf));
                    if !addrs.is_empty() {
                        data.extend(encode_context(addrs));
                    }
                } else {
                    data.extend_from_slice(LEAVE_JOINT);
                }
                match self.step(Input::ChangeMembership { data: &data })? {
                    Some(Proposal::Accepted { index, term }) => {
                        self.counters.membership_changes += 1;
                        tracing::info!(
                            id = self.cfg.id,
                            change = what,
                            index = index.0,
                            "membership change accepted"
                        );
                        // Answered by `apply` with the configuration, once committed.
                        self.waiters.insert(index.0, Waiter { term, reply });
                        return Ok(());
                    }
                    Some(Proposal::NotLeader { leader_hint }) => ReplyBody::NotLeader {
                        leader: leader_hint.map(|l| l.0),
                    },
                    Some(Proposal::Busy) => ReplyBody::Busy,
                    Some(Proposal::Refused(e)) => ReplyBody::Refused(refusal(e, about)),
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

    /// `Ok` on the leader, else the `NotLeader` answer.
    fn leading(&self) -> Result<(), ReplyBody> {
        if self.core().role() == Role::Leader {
            return Ok(());
        }
        let leader = self.core().leader().map(|l| l.0);
        Err(ReplyBody::NotLeader {
            leader: leader.filter(|&l| l != self.cfg.id),
        })
    }

    /// The address a learner added by `change` is reached at: the one given, else the
    /// address book's; `None` for other changes.
    fn added_address(&self, change: MemberChange) -> Result<Option<SocketAddr>, ReplyBody> {
        match change {
            MemberChange::AddLearnerAt(_, addr) => Ok(Some(addr)),
            // The address book's, else the static peer table's (a node removed earlier, in a
            // cluster configured with --peer everywhere).
            MemberChange::AddLearner(id) => {
                let book = self.engine.machine().book.get(&id).copied();
                let table = || self.cfg.peers.iter().find(|p| p.id == id).map(|p| p.addr);
                match book.or_else(table) {
                    Some(addr) => Ok(Some(addr)),
                    None => Err(ReplyBody::Refused(MemberRefusal::NotInPeerTable(id))),
                }
            }
            _ => Ok(None),
        }
    }

    /// `cur` with `change` made: `None` if it already holds, `Err` with the answer if it
    /// cannot be made.
    fn with_change(cur: Membership, change: MemberChange) -> Result<Option<Membership>, ReplyBody> {
        let id = change.node();
        let refuse = |r| Err(ReplyBody::Refused(r));
        let next = match (change, cur.kind_of(NodeId(id))) {
            (
                MemberChange::AddLearner(_) | MemberChange::AddLearnerAt(..),
                Some(MemberKind::Learner),
            )
            | (MemberChange::Promote(_), Some(MemberKind::Voter))
            | (MemberChange::Remove(_), None) => return Ok(None),
            (
                MemberChange::AddLearner(_) | MemberChange::AddLearnerAt(..),
                Some(MemberKind::Voter),
            ) => return refuse(MemberRefusal::AlreadyVoter(id)),
            (MemberChange::Promote(_), None) => return refuse(MemberRefusal::NotALearner(id)),
            (MemberChange::AddLearner(_) | MemberChange::AddLearnerAt(..), None) => {
                cur.with_learner(NodeId(id))
            }
            (MemberChange::Promote(_), Some(MemberKind::Learner)) => cur.with_voter(NodeId(id)),
            (MemberChange::Remove(_), Some(_)) => Ok(cur.without(NodeId(id))),
        };
        match next {
            Ok(m) => Ok(Some(m)),
            Err(e) => refuse(refusal(e, id)),
        }
    }

    /// The configuration `change` leads to, with the address it adds.
    fn next_membership(&self, change: MemberChange) -> Result<Plan, ReplyBody> {
        self.leading()?;
        let cur = *self.core().membership();
        if cur.is_joint() {
            return Err(ReplyBody::Refused(MemberRefusal::JointInProgress));
        }
        let addr = self.added_address(change)?;
        Ok(match Self::with_change(cur, change)? {
            None => Plan::Holds,
            Some(next) => {
                let addrs = addr.map(|a| (change.node(), a)).into_iter().collect();
                Plan::Propose(next, addrs)
            }
        })
    }

    /// The joint configuration `change` leads to, with the addresses it adds.
    fn next_joint(&self, change: &JointChange) -> Result<Plan, ReplyBody> {
        self.leading()?;
        let rule = |why: &str| Err(ReplyBody::Refused(MemberRefusal::Rule(why.into())));
        if change.changes.is_empty() {
            return rule("a joint change needs at least one change");
        }
        let mut ids: Vec<u32> = change.changes.iter().map(MemberChange::node).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return rule("a joint change names each node at most once");
        }
        let cur = *self.core().membership();
        if cur.is_joint() {
            return Err(ReplyBody::Refused(MemberRefusal::JointInProgress));
        }
        let mut next = cur;
        let mut addrs = Vec::new();
        for &c in &change.changes {
            if let Some(addr) = self.added_address(c)? {
                addrs.push((c.node(), addr));
            }
            if let Some(m) = Self::with_change(next, c)? {
                next = m;
            }
        }
        if next == cur {
            return Ok(Plan::Holds);
        }
        match cur.joint(&next, change.auto_leave) {
            Ok(joint) => Ok(Plan::Propose(joint, addrs)),
            Err(e) => Err(ReplyBody::Refused(refusal(e, 0))),
        }
    }
}

/// raft-core's refusal of a change about node `id`, for the client.
fn refusal(e: MembershipRefusal, id: u32) -> MemberRefusal {
    match e {
        MembershipRefusal::NotCaughtUp => MemberRefusal::NotCaughtUp(id),
        MembershipRefusal::JointInProgress => MemberRefusal::JointInProgress,
        other => MemberRefusal::Rule(other.to_string()),
    }
}
