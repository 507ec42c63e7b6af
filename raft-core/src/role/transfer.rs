//! Leadership transfer (thesis section 3.10): the leader catches the target up, sends it
//! TimeoutNow, and refuses proposals until the target takes over or an election timeout
//! passes.

use crate::log::window::WindowStorage;
use crate::message::Message;
use crate::state::{Ctx, State};
use crate::types::{NodeId, Role};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    pub(crate) fn transfer_leadership(&mut self, to: NodeId, cx: &mut Ctx<'_>) {
        let Some(k) = self.position(to) else { return };
        if self.role != Role::Leader || k == self.me || !self.is_voter(k) {
            return;
        }
        self.transfer = Some((to, 0));
        self.maybe_send_timeout_now(k, cx);
    }

    /// Sends TimeoutNow once the target holds the whole log; until then, entries.
    pub(crate) fn maybe_send_timeout_now(&mut self, k: usize, cx: &mut Ctx<'_>) {
        if self.transfer.map(|t| t.0) != Some(self.slots[k].id) {
            return;
        }
        if self.progress[k].matched == self.log.last_index() {
            let term = self.hs.term;
            let to = self.slots[k].id;
            // The target's TransferVote bypasses the followers' lease, so this leader's lease
            // no longer proves there is no other leader: reads go through ReadIndex now.
            self.lease_revoked = true;
            self.send(to, Message::TimeoutNow { term }, cx);
        }
    }

    /// Called every leader tick: give up after an election timeout.
    pub(crate) fn transfer_tick(&mut self) {
        if let Some((to, elapsed)) = self.transfer {
            let elapsed = elapsed + 1;
            self.transfer = (elapsed < self.cfg.election_ticks).then_some((to, elapsed));
        }
    }

    pub(crate) fn handle_timeout_now(&mut self, from: NodeId, cx: &mut Ctx<'_>) {
        if self.role != Role::Follower
            || self.leader != Some(from)
            || self.hs.term.0 == u64::MAX
            || !self.may_campaign()
        {
            self.stats.ignored_unexpected += 1;
            return;
        }
        // The leader asked: skip PreVote and the lease (the leader stops sending heartbeats
        // once it sent TimeoutNow, and voters are told this is a transfer).
        self.campaign(false, true, cx);
    }
}
