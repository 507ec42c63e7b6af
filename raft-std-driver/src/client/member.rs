//! Membership admin requests of a [`Client`]: changes go to the leader and are answered once
//! applied; the configuration can be read from the leader or from one node.

use super::{Client, ClientError};
use crate::admin::{MemberChange, MembershipView};
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
