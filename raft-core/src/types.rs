//! Newtypes for the three numbers Raft juggles: node ids, terms and log indices.
//!
//! Each is a distinct type so that a term can never be passed where an index is expected.

use core::fmt;
use serde::{Deserialize, Serialize};

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// The raw number.
            #[inline]
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

newtype!(
    /// A node's identity, unique within one cluster. Chosen by the operator.
    NodeId(u32),
    "n"
);
newtype!(
    /// A Raft term: a logical clock that increases with every election.
    Term(u64),
    "t"
);
newtype!(
    /// The position of an entry in the replicated log; the first entry has index 1.
    LogIndex(u64),
    "i"
);

impl Term {
    /// The term after this one, saturating at the largest term.
    #[inline]
    pub const fn next(self) -> Term {
        Term(self.0.saturating_add(1))
    }
}

impl LogIndex {
    /// The index before the log: "no entry".
    pub const ZERO: LogIndex = LogIndex(0);

    /// The index after this one, saturating.
    #[inline]
    pub const fn next(self) -> LogIndex {
        LogIndex(self.0.saturating_add(1))
    }

    /// The index before this one, saturating at zero.
    #[inline]
    pub const fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }

    /// `self + n`, saturating.
    #[inline]
    pub const fn plus(self, n: u64) -> LogIndex {
        LogIndex(self.0.saturating_add(n))
    }

    /// The number of indices in `(self, later]`, zero if `later <= self`.
    #[inline]
    pub const fn distance_to(self, later: LogIndex) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

/// The durable part of a node's state that is not the log: the current term and the vote cast
/// in it. It must be durable before any message that depends on it leaves the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
}

/// What kind of entry a log slot holds. The core keeps this in its metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EntryKind {
    /// An application command; its payload goes to the state machine.
    #[default]
    Normal,
    /// The empty entry a new leader appends to commit entries of earlier terms.
    Empty,
    /// A new cluster configuration: the payload is a [`Membership::encode`](crate::Membership::encode).
    /// It takes effect when appended; the state machine skips it (a driver may track it to
    /// name the membership in its snapshots).
    Membership,
}

impl EntryKind {
    /// The wire byte for this kind.
    pub const fn to_byte(self) -> u8 {
        match self {
            EntryKind::Normal => 0,
            EntryKind::Empty => 1,
            EntryKind::Membership => 2,
        }
    }

    /// The kind for a wire byte, `None` for an unknown byte.
    pub const fn from_byte(b: u8) -> Option<EntryKind> {
        match b {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::Empty),
            2 => Some(EntryKind::Membership),
            _ => None,
        }
    }
}

/// A node's role in its current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks for pre-votes without changing its term (PreVote, thesis section 9.6).
    PreCandidate,
    /// Asks for votes in a new term.
    Candidate,
    /// Accepts proposals and replicates the log.
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        })
    }
}
