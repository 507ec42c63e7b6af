//! Cluster membership: which nodes vote and which only learn.
//!
//! A [`Membership`] is a whole configuration (not a delta), so a node that sees any one of
//! them knows the cluster. It travels in the log as an [`EntryKind::Membership`](crate::EntryKind::Membership) entry
//! (payload: [`Membership::encode`]) and in every [`SnapshotMeta`](crate::SnapshotMeta).
//!
//! # Changes: one voter at a time
//!
//! raft-core changes membership one server at a time (thesis section 4.1), not by joint
//! consensus. Any two majorities of configurations that differ by one voter overlap, so each
//! configuration takes effect as soon as it is appended — committed or not — and no joint
//! phase, no second entry and no per-change quorum bookkeeping are needed: with `PEERS` a
//! small constant this keeps `State` small and the commit rule one loop. Larger changes are a
//! sequence of single ones. The known pitfalls and how the core handles them:
//!
//! - **A leader that has not committed in its term** could otherwise overlap an uncommitted
//!   change of a previous leader and lose safety (the bug found in the single-server
//!   algorithm in 2015): a leader accepts a change only after an entry of its own term is
//!   committed, and only when no earlier change is uncommitted (`Busy` otherwise).
//! - **A new voter must catch up first**: a node joins as a learner (it receives the log but
//!   neither votes nor counts toward commit) and is promoted to voter only when its match
//!   index has reached the leader's commit index (`MembershipRefusal::NotCaughtUp` otherwise),
//!   so adding it never stalls commits behind its catch-up.
//! - **An uncommitted change and a crash**: each node uses the latest configuration in its
//!   log, committed or not; restore replays the configurations in the durable log, and a
//!   follower whose uncommitted configuration entry is overwritten by a new leader goes back
//!   to the configuration before it.
//! - **Removing the leader**: it keeps leading (replicating, but no longer counting itself
//!   toward majorities) until the change commits, then hands leadership to the most
//!   caught-up voter with TimeoutNow and steps down.
//! - **A removed server that keeps campaigning** (it never learned it was removed): its
//!   PreVotes are ignored by every member that heard from the leader within an election
//!   timeout (CheckQuorum's lease), so it cannot bump the cluster's term; a leader ignores
//!   them too.

use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::NodeId;

/// The most members (voters and learners) a configuration may list. `PEERS` of a
/// [`State`](crate::State) may not exceed it.
pub const MAX_MEMBERS: usize = 8;

/// Bytes a [`Membership::encode`] takes at most.
pub const MEMBERSHIP_BYTES: usize = 2 + MAX_MEMBERS * 5;

/// Whether a member votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MemberKind {
    /// Votes in elections and counts toward commit majorities.
    Voter,
    /// Receives the log and applies it; never votes, never counts, never campaigns.
    Learner,
}

/// A configuration: members sorted by id, each a voter or a learner.
///
/// On the wire: the learner bits, then the ids as a length-prefixed sequence, ascending. Only
/// that canonical form decodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Membership {
    len: u8,
    /// Bit `k` set: `ids[k]` is a learner.
    learners: u8,
    /// Strictly ascending in `..len`, zero after.
    ids: [NodeId; MAX_MEMBERS],
}

/// The ids as a sequence (serialized).
struct Ids<'a>(&'a [NodeId]);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0)
    }
}

impl Serialize for Membership {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.learners)?;
        t.serialize_element(&Ids(&self.ids[..self.len as usize]))?;
        t.end()
    }
}

/// Reads the ids sequence into a `Membership` (checking order and count).
struct IdsVisitor(u8);

impl<'de> Visitor<'de> for IdsVisitor {
    type Value = Membership;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ascending member ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Membership, A::Error> {
        let mut m = Membership {
            learners: self.0,
            ..Membership::default()
        };
        while let Some(id) = seq.next_element::<NodeId>()? {
            let n = m.len as usize;
            if n == MAX_MEMBERS || (n > 0 && m.ids[n - 1] >= id) {
                return Err(de::Error::custom("membership not canonical"));
            }
            m.ids[n] = id;
            m.len += 1;
        }
        if (m.len as usize) < MAX_MEMBERS && m.learners >> m.len != 0 {
            return Err(de::Error::custom("learner bits beyond the members"));
        }
        Ok(m)
    }
}

struct IdsSeed(u8);

impl<'de> de::DeserializeSeed<'de> for IdsSeed {
    type Value = Membership;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Membership, D::Error> {
        d.deserialize_seq(IdsVisitor(self.0))
    }
}

/// Reads the (learner bits, ids) tuple.
struct MembershipVisitor;

impl<'de> Visitor<'de> for MembershipVisitor {
    type Value = Membership;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a membership")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Membership, A::Error> {
        let learners: u8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        seq.next_element_seed(IdsSeed(learners))?
            .ok_or_else(|| de::Error::invalid_length(1, &self))
    }
}

impl<'de> Deserialize<'de> for Membership {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Membership, D::Error> {
        d.deserialize_tuple(2, MembershipVisitor)
    }
}

/// Why a membership could not be built or a change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MembershipRefusal {
    /// The bytes are not an encoded `Membership`.
    Malformed,
    /// More members than [`MAX_MEMBERS`] or than the `PEERS` capacity.
    TooMany,
    /// A node is listed twice.
    Duplicate,
    /// No voter would be left.
    NoVoters,
    /// More than one voter would be added or removed at once.
    MoreThanOneVoter,
    /// A voter can only be added by promoting a learner whose log reached the commit index.
    NotCaughtUp,
    /// The configuration equals the current one.
    Unchanged,
}

impl core::fmt::Display for MembershipRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MembershipRefusal::Malformed => "not an encoded membership",
            MembershipRefusal::TooMany => "too many members",
            MembershipRefusal::Duplicate => "a node is listed twice",
            MembershipRefusal::NoVoters => "no voter would be left",
            MembershipRefusal::MoreThanOneVoter => "more than one voter changes at once",
            MembershipRefusal::NotCaughtUp => "promote a caught-up learner to add a voter",
            MembershipRefusal::Unchanged => "the membership is unchanged",
        })
    }
}

impl Membership {
    /// A configuration of `voters` and `learners`.
    pub fn new(voters: &[NodeId], learners: &[NodeId]) -> Result<Membership, MembershipRefusal> {
        let mut m = Membership::default();
        for &v in voters {
            m = m.insert(v, MemberKind::Voter)?;
        }
        for &l in learners {
            m = m.insert(l, MemberKind::Learner)?;
        }
        Ok(m)
    }

    fn insert(mut self, id: NodeId, kind: MemberKind) -> Result<Membership, MembershipRefusal> {
        if self.kind_of(id).is_some() {
            return Err(MembershipRefusal::Duplicate);
        }
        let n = self.len as usize;
        if n == MAX_MEMBERS {
            return Err(MembershipRefusal::TooMany);
        }
        let at = self.ids[..n].iter().position(|&i| i > id).unwrap_or(n);
        self.ids.copy_within(at..n, at + 1);
        self.ids[at] = id;
        let low = self.learners & ((1u16 << at) - 1) as u8;
        let high = ((u16::from(self.learners) >> at) << (at + 1)) as u8;
        self.learners = low | high | u8::from(kind == MemberKind::Learner) << at;
        self.len += 1;
        Ok(self)
    }

    /// This configuration with `id` as a voter (added, or promoted from learner).
    pub fn with_voter(self, id: NodeId) -> Result<Membership, MembershipRefusal> {
        self.without(id).insert(id, MemberKind::Voter)
    }

    /// This configuration with `id` as a learner (added, or demoted from voter).
    pub fn with_learner(self, id: NodeId) -> Result<Membership, MembershipRefusal> {
        self.without(id).insert(id, MemberKind::Learner)
    }

    /// This configuration without `id` (unchanged if it is not a member).
    pub fn without(mut self, id: NodeId) -> Membership {
        let n = self.len as usize;
        let Some(at) = self.ids[..n].iter().position(|&i| i == id) else {
            return self;
        };
        self.ids.copy_within(at + 1..n, at);
        self.ids[n - 1] = NodeId(0);
        let low = self.learners & ((1u16 << at) - 1) as u8;
        let high = ((u16::from(self.learners) >> (at + 1)) << at) as u8;
        self.learners = low | high;
        self.len -= 1;
        self
    }

    /// Whether `id` votes, learns, or is not a member.
    pub fn kind_of(&self, id: NodeId) -> Option<MemberKind> {
        let k = self.members().position(|i| i == id)?;
        Some(self.kind_at(k))
    }

    fn kind_at(&self, k: usize) -> MemberKind {
        if self.learners & (1 << k) != 0 {
            MemberKind::Learner
        } else {
            MemberKind::Voter
        }
    }

    /// Every member, ascending.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.ids[..self.len as usize].iter().copied()
    }

    /// The voters, ascending.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members()
            .enumerate()
            .filter(|&(k, _)| self.kind_at(k) == MemberKind::Voter)
            .map(|(_, i)| i)
    }

    /// The learners, ascending.
    pub fn learners(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members()
            .enumerate()
            .filter(|&(k, _)| self.kind_at(k) == MemberKind::Learner)
            .map(|(_, i)| i)
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there is no member at all (a node waiting to be added starts so).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many voters.
    pub fn voter_count(&self) -> usize {
        self.len as usize - self.learners.count_ones() as usize
    }

    /// The voters added or removed going from `self` to `next` (promotions and demotions
    /// count as one each).
    pub fn voter_changes(&self, next: &Membership) -> usize {
        let gone = self
            .voters()
            .filter(|&v| next.kind_of(v) != Some(MemberKind::Voter))
            .count();
        let new = next
            .voters()
            .filter(|&v| self.kind_of(v) != Some(MemberKind::Voter))
            .count();
        gone + new
    }

    /// The canonical encoding (the payload of a membership entry).
    pub fn encode<'b>(&self, buf: &'b mut [u8; MEMBERSHIP_BYTES]) -> &'b [u8] {
        match postcard::to_slice(self, buf) {
            Ok(b) => b,
            // Unreachable: the buffer fits the largest encoding.
            Err(_) => &[],
        }
    }

    /// Decodes a canonical encoding, whole.
    pub fn decode(bytes: &[u8]) -> Result<Membership, MembershipRefusal> {
        match postcard::take_from_bytes::<Membership>(bytes) {
            Ok((m, [])) => Ok(m),
            _ => Err(MembershipRefusal::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> heapless::Vec<NodeId, 8> {
        v.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn changes_keep_members_sorted_with_their_kinds() {
        let m = Membership::new(&ids(&[3, 1, 2]), &ids(&[9])).unwrap();
        assert_eq!(
            m.members().collect::<heapless::Vec<_, 8>>(),
            ids(&[1, 2, 3, 9])
        );
        let m = m.with_learner(NodeId(5)).unwrap();
        assert_eq!(m.learners().collect::<heapless::Vec<_, 8>>(), ids(&[5, 9]));
        let m = m.with_voter(NodeId(5)).unwrap().without(NodeId(2));
        assert_eq!(m.voters().collect::<heapless::Vec<_, 8>>(), ids(&[1, 3, 5]));
        assert_eq!(m.learners().collect::<heapless::Vec<_, 8>>(), ids(&[9]));
        assert_eq!(m.voter_count(), 3);
        let mut buf = [0; MEMBERSHIP_BYTES];
        assert_eq!(Membership::decode(m.encode(&mut buf)), Ok(m));
    }

    #[test]
    fn limits_and_non_canonical_encodings_are_refused() {
        let full = Membership::new(&ids(&[1, 2, 3, 4, 5, 6, 7, 8]), &[]).unwrap();
        assert_eq!(
            full.with_learner(NodeId(9)),
            Err(MembershipRefusal::TooMany)
        );
        assert_eq!(
            Membership::new(&ids(&[1, 1]), &[]),
            Err(MembershipRefusal::Duplicate)
        );
        let two = Membership::new(&ids(&[1, 2]), &[]).unwrap();
        let swapped = Membership::new(&ids(&[2, 3]), &[]).unwrap();
        assert_eq!(two.voter_changes(&swapped), 2);
        let mut buf = [0; MEMBERSHIP_BYTES];
        let mut bytes: heapless::Vec<u8, MEMBERSHIP_BYTES> =
            heapless::Vec::from_slice(two.encode(&mut buf)).unwrap();
        bytes.swap(2, 3); // ids 2, 1: not ascending (learner bits, count, ids)
        assert_eq!(
            Membership::decode(&bytes),
            Err(MembershipRefusal::Malformed)
        );
        assert_eq!(Membership::decode(&[]), Err(MembershipRefusal::Malformed));
    }
}
