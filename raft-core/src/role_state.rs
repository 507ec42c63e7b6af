//! What each role keeps, as etcd's `raft` struct keeps role-specific state apart from the
//! rest: a [`RoleState`] enum whose variant is the role, holding the votes while campaigning
//! and the leader's per-follower progress, read batches and transfer only while leading. A
//! role change replaces the variant, so nothing of a past role lingers.

use heapless::{Deque, Vec};

use crate::message::SnapshotMeta;
use crate::tracker::progress::Progress;
use crate::tracker::Votes;
use crate::types::{LogIndex, NodeId, Role};

/// Read batches a leader holds (one waiting and one in flight per requester would need
/// `2 * PEERS`): a full queue fails the newest reads (retry) rather than growing.
pub(crate) const READ_BATCHES: usize = 4;

/// Reads of one requester (this node, or a follower) that share a heartbeat round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadBatch {
    /// Newest read id in the batch.
    pub(crate) upto: u64,
    /// Serve at this index (the commit index when the batch's round started).
    pub(crate) index: LogIndex,
    /// The confirming round; 0 while waiting for the next round.
    pub(crate) round: u32,
    /// `None` for this node's reads, else the follower that asked.
    pub(crate) from: Option<NodeId>,
}

/// The role and what only that role keeps. The variants are in [`Role`]'s order and the tag
/// is one byte (`repr(u8)`), so [`RoleState::role`] is a load and a compare, not a decision
/// tree over niches (it runs several times per step). (Spelling the discriminants out as
/// `Role::X as u8` gave the same code and 8 more bytes of `State`.)
#[derive(Clone, Debug)]
#[repr(u8)]
pub(crate) enum RoleState<const P: usize, const F: usize> {
    /// Follows a leader (or waits for one): nothing of its own.
    Follower,
    /// Asks for pre-votes: the answers so far.
    PreCandidate(Votes<P>),
    /// Asks for votes: the answers so far.
    Candidate(Votes<P>),
    /// Leads.
    Leader(Leading<P, F>),
}

impl<const P: usize, const F: usize> RoleState<P, F> {
    /// Which role this is.
    #[inline]
    pub(crate) fn role(&self) -> Role {
        match self {
            RoleState::Follower => Role::Follower,
            RoleState::PreCandidate(_) => Role::PreCandidate,
            RoleState::Candidate(_) => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    /// A candidate's (or pre-candidate's) votes.
    #[inline]
    pub(crate) fn votes(&self) -> Option<&Votes<P>> {
        match self {
            RoleState::PreCandidate(v) | RoleState::Candidate(v) => Some(v),
            _ => None,
        }
    }

    /// A candidate's (or pre-candidate's) votes.
    #[inline]
    pub(crate) fn votes_mut(&mut self) -> Option<&mut Votes<P>> {
        match self {
            RoleState::PreCandidate(v) | RoleState::Candidate(v) => Some(v),
            _ => None,
        }
    }

    /// The leader's state.
    #[inline]
    pub(crate) fn leading(&self) -> Option<&Leading<P, F>> {
        match self {
            RoleState::Leader(l) => Some(l),
            _ => None,
        }
    }

    /// The leader's state.
    #[inline]
    pub(crate) fn leading_mut(&mut self) -> Option<&mut Leading<P, F>> {
        match self {
            RoleState::Leader(l) => Some(l),
            _ => None,
        }
    }
}

/// What only a leader keeps; built fresh when it is elected, dropped when it steps down.
#[derive(Clone, Debug)]
pub(crate) struct Leading<const P: usize, const F: usize> {
    /// Per tracked position (this node's own unused), the tracker's length: built one per
    /// slot at election and pushed with every slot tracked since (`State::track`; the push
    /// cannot fail, since the tracker's `slots`, of the same capacity `P`, just took one more
    /// and neither ever shrinks), so `progress[k]` for a position `k < tracker.len()` is in
    /// bounds.
    pub(crate) progress: Vec<Progress<F>, P>,
    /// The heartbeat round at which the current CheckQuorum window began.
    pub(crate) cq_round: u32,
    /// Ticks since the last heartbeat.
    pub(crate) hb_elapsed: u32,
    /// The empty entry of this term is not appended yet (no room yet).
    pub(crate) needs_empty: bool,
    /// Read batches waiting for (or riding on) a heartbeat round.
    pub(crate) reads: Deque<ReadBatch, READ_BATCHES>,
    /// A leadership transfer in progress: the target and the ticks since it began.
    pub(crate) transfer: Option<(NodeId, u32)>,
    /// This leader sent TimeoutNow in its term: its lease no longer holds.
    pub(crate) lease_revoked: bool,
}

impl<const P: usize, const F: usize> Leading<P, F> {
    /// A new leader of `positions` tracked positions whose log ends before `next`: every
    /// follower's progress "reinitialized after election" (nextIndex = next, matchIndex = 0).
    pub(crate) fn new(positions: usize, next: LogIndex, round: u32) -> Self {
        let mut progress = Vec::new();
        for _ in 0..positions.min(P) {
            let _ = progress.push(Progress::new(next));
        }
        Leading {
            progress,
            cq_round: round,
            hb_elapsed: 0,
            needs_empty: true,
            reads: Deque::new(),
            transfer: None,
            lease_revoked: false,
        }
    }
}

/// A snapshot this node is receiving from a leader. Not role state: it stays while the
/// driver installs the snapshot, whatever role the node takes meanwhile (applying waits for
/// the install).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Receiving {
    pub(crate) meta: SnapshotMeta,
    /// Every byte before this offset was handed to the driver, in order.
    pub(crate) next: u64,
    /// Every byte was written; `InstallSnapshot` is out, waiting for `SnapshotInstalled`.
    pub(crate) complete: bool,
}
