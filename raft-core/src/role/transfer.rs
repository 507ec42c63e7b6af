//! Leadership transfer (thesis section 3.10): the leader catches the target up, sends it
//! TimeoutNow, and refuses proposals until the target takes over or an election timeout
//! passes.

use crate::feature::TRANSFER;
use crate::log::window::WindowStorage;
use crate::message::Message;
use crate::node::{Ctx, State};
use crate::role_state::Leading;
use crate::types::{NodeId, Role};

impl<const P: usize, const L: usize, const F: usize, W: WindowStorage> State<P, L, F, W> {
    pub(crate) fn transfer_leadership(&mut self, to: NodeId, cx: &mut Ctx<'_>) {
        let Some(k) = self.position(to) else { return };
        if k == self.tracker.me || !self.is_voter(k) {
            return;
        }
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        leading.transfer = Some((to, 0));
        self.maybe_send_timeout_now(k, cx);
    }

    /// Sends TimeoutNow once the target holds the whole log; until then, entries. Inline:
    /// with no transfer in progress (the common case) it is one test.
    #[inline(always)]
    pub(crate) fn maybe_send_timeout_now(&mut self, k: usize, cx: &mut Ctx<'_>) {
        // Without the `transfer` feature no transfer is ever started.
        if TRANSFER && self.role.leading().is_some_and(|l| l.transfer.is_some()) {
            self.send_timeout_now(k, cx);
        }
    }

    /// [`State::maybe_send_timeout_now`] during a transfer (out of line).
    #[inline(never)]
    fn send_timeout_now(&mut self, k: usize, cx: &mut Ctx<'_>) {
        let to = self.tracker.id(k);
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        if leading.transfer.map(|t| t.0) != Some(to) {
            return;
        }
        // Invariant: `k` is a tracker position, below `tracker.len()`: `maybe_send_timeout_now`
        // gets it from `transfer_leadership` (`position()`) or `handle_append_response`
        // (`response_from`); and `progress` has `tracker.len()` entries while leading (see
        // `Leading::progress`).
        if leading.progress[k].matched == self.log.last_index() {
            let term = self.hs.term;
            // The target's TransferVote bypasses the followers' lease, so this leader's lease
            // no longer proves there is no other leader: reads go through ReadIndex now.
            leading.lease_revoked = true;
            self.send(to, Message::TimeoutNow { term }, cx);
        }
    }

    /// Called every leader tick (with the leader's state `l`): give up after an election
    /// timeout of `election_ticks`.
    pub(crate) fn transfer_tick(l: &mut Leading<P, F>, election_ticks: u32) {
        if let Some((to, elapsed)) = l.transfer {
            let elapsed = elapsed + 1;
            l.transfer = (elapsed < election_ticks).then_some((to, elapsed));
        }
    }

    pub(crate) fn handle_timeout_now(&mut self, from: NodeId, cx: &mut Ctx<'_>) {
        if self.role() != Role::Follower
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
