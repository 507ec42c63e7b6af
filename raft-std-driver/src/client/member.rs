//! Membership admin requests of a [`Client`]: changes go to the leader and are answered once
//! applied; the configuration can be read from the leader or from one node.

use super::{Client, ClientError};
use crate::admin::{JointChange, MemberChange, MembershipView};
use crate::wire::{ClientBody, ReplyBody};
use raftcore::Role;

impl Client {
    /// Makes `change` at the leader (found like [`Client::execute`] finds it, `Busy` waited
    /// out) and returns the configuration once the change is applied there. A change that
    /// already holds is answered at once (so retrying is safe). A refusal is
    /// [`ClientError::Refused`]; a learner not caught up yet is refused with
    /// [`MemberRefusal::NotCaughtUp`](crate::admin::MemberRefusal::NotCaughtUp), retry it.
    pub fn change_membership(
        &mut self,
        change: MemberChange,
    ) -> Result<MembershipView, ClientError> {
        self.via_leader(ClientBody::ChangeMembership(change), |reply| match reply {
            ReplyBody::Membership(view) => Some(Ok(view.clone())),
            ReplyBody::Refused(r) => Some(Err(ClientError::Refused(r.clone()))),
            _ => None,
        })
    }

    /// Makes several changes at once through a joint configuration at the leader and returns
    /// the configuration once the joint one is applied there (with `auto_leave` the leader
    /// then leaves it by itself: see [`Client::wait_not_joint`]). Refusals as for
    /// [`Client::change_membership`]; a joint configuration already in force is
    /// [`MemberRefusal::JointInProgress`](crate::admin::MemberRefusal::JointInProgress).
    pub fn change_joint(&mut self, change: JointChange) -> Result<MembershipView, ClientError> {
        self.via_leader(ClientBody::ChangeJoint(change), |reply| match reply {
            ReplyBody::Membership(view) => Some(Ok(view.clone())),
            ReplyBody::Refused(r) => Some(Err(ClientError::Refused(r.clone()))),
            _ => None,
        })
    }

    /// Leaves the joint configuration in force (made without auto-leave) for its incoming
    /// one; returns the configuration once that is applied at the leader.
    pub fn leave_joint(&mut self) -> Result<MembershipView, ClientError> {
        self.via_leader(ClientBody::LeaveJoint, |reply| match reply {
            ReplyBody::Membership(view) => Some(Ok(view.clone())),
            ReplyBody::Refused(r) => Some(Err(ClientError::Refused(r.clone()))),
            _ => None,
        })
    }

    /// Asks the leader for the configuration until it is plain (not joint) and committed, at
    /// most until `deadline`; returns the last configuration seen.
    pub fn wait_not_joint(
        &mut self,
        deadline: std::time::Instant,
    ) -> Result<MembershipView, ClientError> {
        loop {
            let view = self.membership()?;
            if (view.outgoing.is_empty() && view.committed) || std::time::Instant::now() >= deadline
            {
                return Ok(view);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The configuration as the leader has it (the nodes are asked in turn until one answers
    /// as the leader).
    pub fn membership(&mut self) -> Result<MembershipView, ClientError> {
        self.via_leader(ClientBody::Membership, |reply| match reply {
            ReplyBody::Membership(view) if view.role == Role::Leader => Some(Ok(view.clone())),
            _ => None,
        })
    }

    /// Node `id`'s view of the configuration, one attempt.
    pub fn membership_of(&mut self, id: u32) -> Result<Option<MembershipView>, ClientError> {
        match self.ask(id, ClientBody::Membership)? {
            Some(ReplyBody::Membership(view)) => Ok(Some(view)),
            _ => Ok(None),
        }
    }
}
