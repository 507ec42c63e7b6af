//! Removed nodes: telling them, and going quiet when told.
//!
//! A node removed from the cluster while it was cut off or down never applies its own
//! removal: the leader stops replicating to it once the change commits. raft-core, whose
//! configuration still lists it, keeps it campaigning: a pre-vote every election timeout,
//! for ever, each refused by the members, whose allow-lists no longer have it.
//!
//! So a member tells it. The [`Opener`](crate::transport::Opener) still authenticates a node
//! dropped from the allow-list and refuses its datagram as
//! [`DropReason::Removed`](crate::transport::DropReason::Removed); the member answers with a
//! sealed removal notice (`wire::TAG_REMOVED`) carrying its applied index, whose configuration
//! no longer has the sender. It answers each removed node at most once per election timeout,
//! so the notices never outnumber the datagrams they answer.
//!
//! The removed node believes a notice only if the index is above that of its own configuration
//! in force (raft-core's [`membership_index`](raftcore::State::membership_index)): the teller
//! then applied a later, committed configuration without it. It goes quiet (unless it leads: a
//! leader keeps its ticks, see [`Node::told_removed`]): it stops stepping ticks into raft-core, so it never times out and campaigns again, and it still answers
//! whatever it receives. A sealed notice comes from a node holding the cluster key, and going
//! quiet only takes a node's own campaigns away, never a vote or an acknowledgement, so no
//! notice, stale or misdirected, can break safety. It ends as soon as raft-core's
//! configuration in force is newer than the notice: a leader that added the node back has
//! replicated to it, and the node is a member like any other again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use raftcore::Role;

use super::Node;
use crate::machine::StateMachine;

/// At most this many removed nodes are remembered for the rate limit (a removal is a
/// membership change, so this is only a guard).
const MAX_TOLD: usize = 256;

/// The removal notices this node sends and receives.
#[derive(Debug, Default)]
pub(super) struct Retirement {
    /// When each removed node was last told.
    told: HashMap<u32, Instant>,
    /// Set once this node was told it was removed: the highest applied index a member told.
    quiet_after: Option<u64>,
    /// Removal notices sent.
    pub(super) sent: u64,
    /// Removal notices received (believed or not).
    pub(super) received: u64,
}

impl Retirement {
    /// Whether this node was told it was removed and is not campaigning.
    pub(super) fn is_quiet(&self) -> bool {
        self.quiet_after.is_some()
    }
}

impl<M: StateMachine> Node<M> {
    /// Whether ticks are left out: told it was removed, and not leading (a quiet node that
    /// became leader anyway, through a leadership transfer's `TimeoutNow`, keeps time as a
    /// leader must).
    pub(super) fn ticks_paused(&self) -> bool {
        self.retirement.is_quiet() && self.core().role() != Role::Leader
    }
}

impl<M: StateMachine> Node<M> {
    /// A datagram from `sender`, a node dropped from the allow-list, authenticated from `from`:
    /// tells it it was removed, unless it was told within the last election timeout.
    pub(super) fn tell_removed(&mut self, sender: u32, from: SocketAddr) {
        let now = Instant::now();
        let timeout = self.cfg.tick * self.cfg.election_ticks.max(1);
        let r = &mut self.retirement;
        if r.told.get(&sender).is_some_and(|&at| now < at + timeout) {
            return;
        }
        if r.told.len() >= MAX_TOLD {
            r.told.retain(|_, &mut at| now < at + timeout);
        }
        r.told.insert(sender, now);
        r.sent += 1;
        let index = self.core().applied().0;
        self.engine.transport_mut().removal_notice(from, index);
    }

    /// `sender` told this node that its configuration as of its applied `index` no longer has
    /// this node.
    pub(super) fn told_removed(&mut self, sender: u32, index: u64) {
        self.retirement.received += 1;
        if self.core().role() == Role::Leader {
            // A leader that committed its own removal may hear from a member before its next
            // tick. It must keep ticking: raft-core steps a removed leader down at its first
            // tick after the removal commits, and CheckQuorum and the lease run on ticks too
            // (a leader whose clock stopped would hold its lease for ever). Once it is no
            // longer leading, a later notice quiets it.
            return;
        }
        let ours = self.core().membership_index().0;
        if index <= ours {
            // The teller is behind our configuration (or it is an uncommitted one of ours):
            // a leader will settle it.
            return;
        }
        if self.retirement.quiet_after.is_none() {
            tracing::warn!(
                id = self.cfg.id,
                by = sender,
                index,
                "this node was removed from the cluster: it stops campaigning (stop it, or add \
                 it back: it resumes when a leader replicates a newer configuration to it)"
            );
        }
        let after = self.retirement.quiet_after.get_or_insert(index);
        *after = (*after).max(index);
    }

    /// Ends the quiet once raft-core's configuration in force is newer than what this node was
    /// told (after every step).
    pub(super) fn resume_if_added_back(&mut self) {
        let Some(after) = self.retirement.quiet_after else {
            return;
        };
        let ours = self.core().membership_index().0;
        if ours > after {
            self.retirement.quiet_after = None;
            tracing::info!(
                id = self.cfg.id,
                index = ours,
                "a newer configuration reached this node: it campaigns again if it is a voter"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use raftcore::Role;

    use crate::config::RawConfig;
    use crate::kv::KvStore;
    use crate::node::Node;

    /// A single-node cluster's node, driven by hand.
    fn node(dir: &std::path::Path) -> Node<KvStore> {
        let key = dir.join("key");
        std::fs::write(&key, "13".repeat(32)).unwrap();
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cfg = RawConfig {
            id: Some(1),
            peers: vec![format!("1={port}")],
            data_dir: Some(dir.join("n1")),
            key_file: Some(key),
            ..RawConfig::default()
        }
        .validate()
        .unwrap();
        Node::open(cfg, KvStore::default()).unwrap()
    }

    /// Steps four election timeouts' worth of ticks, flushing after each.
    fn elapse(n: &mut Node<KvStore>, now: &mut Instant) {
        for _ in 0..4 {
            *now += n.cfg.tick * n.cfg.election_ticks;
            n.step_due_ticks(*now).unwrap();
            // As the loop's turn does: the deferred writes (its vote) made durable.
            n.flush().unwrap();
        }
    }

    #[test]
    fn a_node_told_it_was_removed_stops_campaigning() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = node(dir.path());
        let mut now = Instant::now();
        n.told_removed(2, 1_000_000);
        assert!(n.retirement.is_quiet() && n.ticks_paused());
        // The lone voter would elect itself within one election timeout; quiet, it does not.
        elapse(&mut n, &mut now);
        assert_eq!(n.core().role(), Role::Follower);
    }

    #[test]
    fn a_leader_told_it_was_removed_keeps_its_ticks() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = node(dir.path());
        let mut now = Instant::now();
        elapse(&mut n, &mut now);
        assert_eq!(n.core().role(), Role::Leader);
        // Raced ahead of the leader's first tick after its own removal committed: not quiet.
        n.told_removed(2, 1_000_000);
        assert!(!n.retirement.is_quiet() && !n.ticks_paused());
        assert_eq!(n.retirement.received, 1);
        // A quiet node that leads anyway (a transfer's TimeoutNow) keeps its ticks too.
        n.retirement.quiet_after = Some(1_000_000);
        assert!(n.retirement.is_quiet() && !n.ticks_paused());
    }
}
