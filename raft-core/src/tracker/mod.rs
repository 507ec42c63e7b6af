//! The per-peer bookkeeping, as etcd's `tracker/` keeps it: which nodes this one tracks and
//! at which stable position ([`Tracker`]), the votes of an election ([`Votes`]) and the
//! leader's replication progress per follower ([`Progress`]). Everything per peer is indexed
//! by the same position, so one position names one peer everywhere.
//!
//! The tracker holds the positions; the votes exist only while campaigning and the progress
//! only while leading (see [`crate::role_state`]).

pub(crate) mod progress;

use heapless::Vec;

use crate::membership::MemberKind;
use crate::quorum::Voters;
use crate::types::NodeId;

pub use progress::ProgressState;

/// A node this one tracks, and what it is in the current configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) id: NodeId,
    /// `None`: not a member (removed, or this node before it is added). `Voter`: votes in
    /// the configuration in force or, while joint, in the outgoing one.
    pub(crate) kind: Option<MemberKind>,
}

/// The nodes this one tracks, by stable position (`0..len()`, never shrunk): the members in
/// force, this node, and former members whose position was not reused yet. Per-peer state
/// ([`Votes`], [`Progress`], a step's `sent_to`) is indexed by position and kept as long as
/// `slots` (grown with it), so indexing it by a position the tracker gave is in bounds.
#[derive(Clone, Debug)]
pub(crate) struct Tracker<const P: usize> {
    pub(crate) slots: Vec<Slot, P>,
    /// Position of this node in `slots`.
    pub(crate) me: usize,
    /// The voting positions of each configuration in force (both while joint), kept with
    /// `slots` by `State::sync_slots`.
    pub(crate) voters: Voters,
}

impl<const P: usize> Tracker<P> {
    /// No node tracked yet; the first one [`Tracker::track`]ed is this node (position 0).
    pub(crate) const fn new() -> Self {
        Tracker {
            slots: Vec::new(),
            me: 0,
            voters: Voters {
                incoming: 0,
                outgoing: 0,
            },
        }
    }

    /// How many positions are in use.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The node at position `k`.
    #[inline]
    pub(crate) fn id(&self, k: usize) -> NodeId {
        // Invariant: every caller passes a position below `len()`: a `0..len()` loop, a
        // `position()` result, or a position the leader's helpers got from one; `slots` never
        // shrinks.
        self.slots[k].id
    }

    /// The position of a node this one tracks (member or former member).
    #[inline]
    pub(crate) fn position(&self, id: NodeId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == id)
    }

    /// Position `k` votes in the current configuration (either one, while joint).
    #[inline]
    pub(crate) fn is_voter(&self, k: usize) -> bool {
        self.voters.contains(k)
    }

    /// Position `k` is another member (voter or learner): the leader replicates to it.
    #[inline]
    pub(crate) fn is_peer(&self, k: usize) -> bool {
        // Invariant: as in `id`: every caller passes a position below `len()` (a `0..len()` loop,
        // or a `position()` result); `slots` never shrinks.
        k != self.me && self.slots[k].kind.is_some()
    }

    /// Adds a position for `id` (not a member until its kind is set); false when every
    /// position is taken.
    pub(crate) fn track(&mut self, id: NodeId) -> bool {
        self.slots.push(Slot { id, kind: None }).is_ok()
    }
}

/// Votes by position in the current (pre-)election: `Some(granted)` once a voter answered.
/// Its length follows the tracker's.
#[derive(Clone, Debug)]
pub(crate) struct Votes<const P: usize> {
    granted: Vec<Option<bool>, P>,
}

impl<const P: usize> Votes<P> {
    /// No answers yet from any of `positions` positions.
    pub(crate) fn new(positions: usize) -> Self {
        let mut granted = Vec::new();
        for _ in 0..positions.min(P) {
            let _ = granted.push(None);
        }
        Votes { granted }
    }

    /// Forgets every answer.
    pub(crate) fn clear(&mut self) {
        for g in self.granted.iter_mut() {
            *g = None;
        }
    }

    /// Records position `k`'s answer (or forgets it, with `None`).
    pub(crate) fn set(&mut self, k: usize, granted: Option<bool>) {
        if let Some(g) = self.granted.get_mut(k) {
            *g = granted;
        }
    }

    /// A position was added to the tracker.
    pub(crate) fn track(&mut self) {
        let _ = self.granted.push(None);
    }

    /// The answers by position.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, Option<bool>)> + '_ {
        self.granted.iter().copied().enumerate()
    }
}
