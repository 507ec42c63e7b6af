//! Cluster membership: which nodes vote and which only learn.
//!
//! A [`Membership`] is a whole configuration (not a delta), so a node that sees any one of
//! them knows the cluster. It travels in the log as an [`EntryKind::Membership`](crate::EntryKind::Membership) entry
//! (payload: [`Membership::encode`]) and in every [`SnapshotMeta`](crate::SnapshotMeta).
//!
//! # Two ways to change it
//!
//! **One voter at a time** (thesis section 4.1), the simple path: a plain configuration that
//! adds, removes, promotes or demotes at most one voter (and changes any learners). Any two
//! majorities of configurations that differ by one voter overlap, so each configuration takes
//! effect as soon as it is appended — committed or not — with no joint phase.
//!
//! **Joint consensus** (thesis section 4.3, as etcd's `ConfChangeV2` does it), for any set of
//! voter and learner changes at once (replace a node, go from three voters to five, move
//! across failure domains): the leader appends a *joint* configuration C<sub>old,new</sub>
//! built with [`Membership::joint`], which lists the voters of both the outgoing and the
//! incoming configuration. While it is in force, every decision — elections, commit, ReadIndex
//! and lease confirmation, CheckQuorum — needs a majority of the outgoing voters **and** a
//! majority of the incoming voters (the quorum module's joint rule), so neither configuration
//! can decide alone. Once C<sub>old,new</sub> is committed the cluster leaves it for
//! C<sub>new</sub>: automatically (the leader appends the leave entry, when the joint
//! configuration was built with `auto_leave`), or when the application proposes it
//! ([`Membership::incoming`] or [`LEAVE_JOINT`]). The leave entry is a membership entry with
//! an empty payload, "the incoming configuration of the joint one in force", as etcd's empty
//! `ConfChangeV2` is: the leader writes it without any bytes from the application
//! ([`Membership::decode_entry`] reads it back).
//!
//! Only one change is in progress at a time: while a configuration is joint, the only change
//! a leader accepts is leaving it (anything else is refused with
//! [`MembershipRefusal::JointInProgress`]); while a plain change is uncommitted, another change
//! is `Busy` (retry once it commits).
//!
//! # Limits (no heap)
//!
//! A joint configuration is one [`Membership`] of the same fixed size as a plain one: the
//! union of the outgoing and the incoming members must fit [`MAX_MEMBERS`] (8) and the
//! `PEERS` capacity of the [`State`](crate::State) (refused with
//! [`MembershipRefusal::TooMany`] otherwise); a node leaving the cluster keeps its position
//! until the joint configuration is left. So a 3-voter cluster replacing all three voters at
//! once needs `PEERS >= 6`. Its encoding takes at most [`MEMBERSHIP_BYTES`].
//!
//! # The pitfalls and how the core handles them
//!
//! - **A leader that has not committed in its term** could otherwise overlap an uncommitted
//!   change of a previous leader and lose safety (the bug found in the single-server
//!   algorithm in 2015): a leader accepts a change only after an entry of its own term is
//!   committed, and only when no earlier change is uncommitted (`Busy` otherwise).
//! - **A new voter must catch up first**: a node joins as a learner (it receives the log but
//!   neither votes nor counts toward commit) and is made a voter — by a plain or a joint
//!   change — only when its match index has reached the leader's commit index
//!   (`MembershipRefusal::NotCaughtUp` otherwise), so adding it never stalls commits behind
//!   its catch-up.
//! - **An uncommitted change and a crash**: each node uses the latest configuration in its
//!   log, committed or not; restore replays the configurations in the durable log, and a
//!   follower whose uncommitted configuration entry is overwritten by a new leader goes back
//!   to the configuration before it. A new leader that finds a committed joint configuration
//!   with `auto_leave` leaves it as the old leader would have.
//! - **Removing the leader**: it keeps leading (replicating, and while joint counting itself
//!   only in the outgoing majority) until the configuration without it commits, then hands
//!   leadership to the most caught-up voter with TimeoutNow and steps down.
//! - **A removed server that keeps campaigning** (it never learned it was removed): its
//!   PreVotes are ignored by every member that heard from the leader within an election
//!   timeout (CheckQuorum's lease), so it cannot bump the cluster's term; a leader ignores
//!   them too.
//!
//! # Encoding
//!
//! A plain configuration encodes as it always did: `(learner bits, ascending ids)`. A joint
//! one appends, inside the id sequence, a `0` marker and one number packing the outgoing
//! voters, the members leaving and the auto-leave flag: the marker breaks the ascending order,
//! so a node of an older version refuses a joint configuration as malformed instead of
//! misreading it, and every entry written before joint consensus existed decodes unchanged.
//!
//! A membership entry's payload may carry the application's context after the encoded
//! configuration ([`Membership::decode_with_context`]), opaque to the core: a driver's member
//! addresses, say. The state stays the same size; only the log holds the bytes.

use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::NodeId;

/// The most members (voters and learners) a configuration may list — for a joint
/// configuration, the outgoing and incoming members together. `PEERS` of a
/// [`State`](crate::State) may not exceed it.
pub const MAX_MEMBERS: usize = 8;

/// Bytes a [`Membership::encode`] takes at most: the learner bits, the sequence length, up to
/// [`MAX_MEMBERS`] ids of at most 5 bytes, and for a joint configuration the marker (1 byte)
/// and the packed joint bits (at most 3 bytes).
pub const MEMBERSHIP_BYTES: usize = 2 + MAX_MEMBERS * 5 + 4;

/// The payload of the entry that leaves a joint configuration for its incoming one (see
/// [`Membership::decode_entry`]); proposing it, or the incoming configuration itself, leaves.
pub const LEAVE_JOINT: &[u8] = &[];

/// Whether a member votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MemberKind {
    /// Votes in elections and counts toward commit majorities.
    Voter,
    /// Receives the log and applies it; never votes, never counts, never campaigns.
    Learner,
}

/// A configuration: members sorted by id, each a voter or a learner — or, while joint
/// (thesis section 4.3), the outgoing and the incoming configuration at once.
///
/// A plain configuration is the incoming one alone. A joint one also marks which members
/// vote in the outgoing configuration and which are in the outgoing one only (they leave the
/// cluster with the joint configuration). [`Membership::voters`], [`Membership::learners`]
/// and [`Membership::kind_of`] describe the incoming configuration;
/// [`Membership::outgoing_voters`] the outgoing one.
///
/// On the wire: the learner bits, then the ids as a length-prefixed sequence, ascending (and
/// for a joint configuration the joint marker and bits, see the module docs). Only that
/// canonical form decodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Membership {
    /// The number of members, and [`AUTO_LEAVE`] (joint only: the leader leaves it by
    /// itself once it is committed). One byte for both keeps `Membership` at 36 bytes.
    len: u8,
    /// Bit `k` set: `ids[k]` is a learner of the incoming configuration.
    learners: u8,
    /// Bit `k` set: `ids[k]` votes in the outgoing configuration. Zero: not joint.
    outgoing: u8,
    /// Bit `k` set: `ids[k]` is not in the incoming configuration (an outgoing voter only).
    leaving: u8,
    /// Strictly ascending in `..len`, zero after.
    ids: [NodeId; MAX_MEMBERS],
}

/// The flag in [`Membership`]'s `len` byte: leave the joint configuration automatically.
const AUTO_LEAVE: u8 = 0x80;

/// The joint marker in the id sequence (not ascending after any id, see the module docs).
const JOINT_MARKER: u32 = 0;

/// The packed joint bits: outgoing voters, leaving members, auto-leave.
fn pack_joint(m: &Membership) -> u32 {
    u32::from(m.outgoing) | u32::from(m.leaving) << 8 | u32::from(m.auto_leave()) << 16
}

/// The ids as a sequence (serialized), with the joint marker and bits when joint.
struct Ids<'a>(&'a Membership);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        // Invariant: `count() <= MAX_MEMBERS`, the length of `ids` (see `count`).
        let ids = &m.ids[..m.count()];
        if !m.is_joint() {
            return s.collect_seq(ids);
        }
        let mut seq = s.serialize_seq(Some(ids.len() + 2))?;
        for id in ids {
            seq.serialize_element(id)?;
        }
        seq.serialize_element(&NodeId(JOINT_MARKER))?;
        seq.serialize_element(&NodeId(pack_joint(m)))?;
        seq.end()
    }
}

impl Serialize for Membership {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.learners)?;
        t.serialize_element(&Ids(self))?;
        t.end()
    }
}

/// Reads the ids sequence into a `Membership` (checking order, count and the joint bits).
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
        let mut joint = None;
        while let Some(id) = seq.next_element::<NodeId>()? {
            let n = m.count();
            if n > 0 && id.0 == JOINT_MARKER {
                let bits = seq
                    .next_element::<NodeId>()?
                    .ok_or_else(|| de::Error::custom("joint bits missing"))?;
                joint = Some(bits.0);
                if seq.next_element::<NodeId>()?.is_some() {
                    return Err(de::Error::custom("membership not canonical"));
                }
                break;
            }
            // Invariant: `m.ids[n - 1]` is read only when `n != MAX_MEMBERS` and `n > 0` (`||` and
            // `&&` short-circuit), so `n - 1 < MAX_MEMBERS`; `m.ids[n]` below runs only when this
            // test failed, so `n < MAX_MEMBERS`, the length of `ids`.
            if n == MAX_MEMBERS || (n > 0 && m.ids[n - 1] >= id) {
                return Err(de::Error::custom("membership not canonical"));
            }
            m.ids[n] = id;
            m.len += 1;
        }
        if m.count() < MAX_MEMBERS && m.learners >> m.count() != 0 {
            return Err(de::Error::custom("learner bits beyond the members"));
        }
        if let Some(bits) = joint {
            if bits >> 17 != 0 {
                return Err(de::Error::custom("unknown joint bits"));
            }
            m.outgoing = bits as u8;
            m.leaving = (bits >> 8) as u8;
            m.len |= if bits >> 16 != 0 { AUTO_LEAVE } else { 0 };
            if !m.joint_is_canonical() {
                return Err(de::Error::custom("joint membership not canonical"));
            }
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
    /// A joint configuration is in force: the only change it accepts is leaving it (propose
    /// its [`Membership::incoming`] configuration, or [`LEAVE_JOINT`]).
    JointInProgress,
    /// The joint configuration's outgoing voters are not the voters in force (it was built
    /// from another configuration), or there is no joint configuration to leave.
    NotFromCurrent,
}

impl core::fmt::Display for MembershipRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MembershipRefusal::Malformed => "not an encoded membership",
            MembershipRefusal::TooMany => "too many members",
            MembershipRefusal::Duplicate => "a node is listed twice",
            MembershipRefusal::NoVoters => "no voter would be left",
            MembershipRefusal::MoreThanOneVoter => {
                "more than one voter changes at once (use a joint configuration)"
            }
            MembershipRefusal::NotCaughtUp => "promote a caught-up learner to add a voter",
            MembershipRefusal::Unchanged => "the membership is unchanged",
            MembershipRefusal::JointInProgress => {
                "a joint change is in progress: only leaving it is accepted"
            }
            MembershipRefusal::NotFromCurrent => {
                "the joint configuration does not start from the configuration in force"
            }
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
        if self.position(id).is_some() {
            return Err(MembershipRefusal::Duplicate);
        }
        let n = self.count();
        if n == MAX_MEMBERS {
            return Err(MembershipRefusal::TooMany);
        }
        // Invariant: `n = count() < MAX_MEMBERS` (`n == MAX_MEMBERS` returned above) and `at <= n`,
        // so `ids[..n]`, the move of `at..n` to `at + 1..n + 1` and `ids[at]` stay within the
        // `MAX_MEMBERS` ids.
        let at = self.ids[..n].iter().position(|&i| i > id).unwrap_or(n);
        self.ids.copy_within(at..n, at + 1);
        self.ids[at] = id;
        self.learners = bit_inserted(self.learners, at, kind == MemberKind::Learner);
        self.outgoing = bit_inserted(self.outgoing, at, false);
        self.leaving = bit_inserted(self.leaving, at, false);
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

    /// This configuration without `id` (unchanged if it is not a member). These three
    /// builders are meant for plain configurations; on a joint one they also drop `id` from
    /// the outgoing configuration.
    pub fn without(mut self, id: NodeId) -> Membership {
        let n = self.count();
        let Some(at) = self.position(id) else {
            return self;
        };
        // Invariant: `at = position(id) < n = count() <= MAX_MEMBERS`, so `at + 1..n` and its
        // destination `at..n - 1` are in bounds, and `n >= 1` for `ids[n - 1]`.
        self.ids.copy_within(at + 1..n, at);
        self.ids[n - 1] = NodeId(0);
        self.learners = bit_removed(self.learners, at);
        self.outgoing = bit_removed(self.outgoing, at);
        self.leaving = bit_removed(self.leaving, at);
        self.len -= 1;
        if self.outgoing == 0 {
            self.leaving = 0;
            self.len &= !AUTO_LEAVE;
        }
        self
    }

    /// The joint configuration C<sub>old,new</sub> from this (plain) configuration to the
    /// plain configuration `next` (thesis section 4.3). With `auto_leave`, the leader leaves
    /// it for `next` by itself once it is committed; without, it stays joint until the
    /// application proposes [`Membership::incoming`] (or [`LEAVE_JOINT`]). Voters of this
    /// configuration that `next` makes learners stay outgoing voters until then; members
    /// `next` drops stay listed as outgoing voters (learners are dropped at once).
    ///
    /// Refused if either configuration is joint ([`MembershipRefusal::JointInProgress`]),
    /// if either has no voter, or if the members of both together exceed [`MAX_MEMBERS`].
    pub fn joint(
        &self,
        next: &Membership,
        auto_leave: bool,
    ) -> Result<Membership, MembershipRefusal> {
        if self.is_joint() || next.is_joint() {
            return Err(MembershipRefusal::JointInProgress);
        }
        if self.voter_count() == 0 || next.voter_count() == 0 {
            return Err(MembershipRefusal::NoVoters);
        }
        let mut m = *next;
        for v in self.voters() {
            if m.position(v).is_none() {
                m = m.insert(v, MemberKind::Learner)?;
                let k = m.position(v).unwrap_or(0);
                m.learners &= !(1 << k);
                m.leaving |= 1 << k;
            }
        }
        for v in self.voters() {
            if let Some(k) = m.position(v) {
                m.outgoing |= 1 << k;
            }
        }
        if auto_leave {
            m.len |= AUTO_LEAVE;
        }
        Ok(m)
    }

    /// Whether this is a joint configuration (outgoing and incoming at once).
    #[inline]
    pub fn is_joint(&self) -> bool {
        self.outgoing != 0
    }

    /// Whether the leader leaves this joint configuration by itself once it is committed
    /// (false for a plain configuration).
    pub fn auto_leave(&self) -> bool {
        self.len & AUTO_LEAVE != 0
    }

    /// How many members (the `len` byte without its flag). At most `MAX_MEMBERS`, the length
    /// of `ids`: only `insert` and the decoder (`IdsVisitor`) add a member, both refusing one
    /// past `MAX_MEMBERS`, and only `without` removes one (of a member it found).
    #[inline]
    fn count(&self) -> usize {
        (self.len & !AUTO_LEAVE) as usize
    }

    /// The incoming configuration: this one if plain, else the configuration the joint one
    /// leaves for (the members leaving dropped, the outgoing voters forgotten).
    pub fn incoming(&self) -> Membership {
        let mut m = *self;
        while m.leaving != 0 {
            let k = m.leaving.trailing_zeros() as usize;
            // Invariant: `k` is the index of a set bit of a nonzero `u8` (`leaving`), so `k <= 7`,
            // below `MAX_MEMBERS` (8), the length of `ids`.
            m = m.without(m.ids[k]);
        }
        m.outgoing = 0;
        m.len &= !AUTO_LEAVE;
        m
    }

    /// The voters of the outgoing configuration, ascending (none for a plain configuration).
    pub fn outgoing_voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members()
            .enumerate()
            .filter(|&(k, _)| self.outgoing & (1 << k) != 0)
            .map(|(_, i)| i)
    }

    /// Whether `id` votes in the incoming configuration or, while joint, in the outgoing one.
    pub fn votes(&self, id: NodeId) -> bool {
        self.position(id).is_some_and(|k| {
            self.outgoing & (1 << k) != 0 || self.kind_at(k) == Some(MemberKind::Voter)
        })
    }

    /// Whether `id` votes in the outgoing configuration (false for a plain configuration).
    pub fn votes_outgoing(&self, id: NodeId) -> bool {
        self.position(id)
            .is_some_and(|k| self.outgoing & (1 << k) != 0)
    }

    /// Whether `id` is listed: a member of the incoming configuration or, while joint, of the
    /// outgoing one (the leader replicates to every member).
    pub fn is_member(&self, id: NodeId) -> bool {
        self.position(id).is_some()
    }

    fn position(&self, id: NodeId) -> Option<usize> {
        // Invariant: `count() <= MAX_MEMBERS`, the length of `ids` (see `count`).
        self.ids[..self.count()].iter().position(|&i| i == id)
    }

    /// Whether `id` votes or learns in the incoming configuration, or is not in it (a member
    /// leaving with a joint configuration is not).
    pub fn kind_of(&self, id: NodeId) -> Option<MemberKind> {
        self.kind_at(self.position(id)?)
    }

    fn kind_at(&self, k: usize) -> Option<MemberKind> {
        if self.leaving & (1 << k) != 0 {
            None
        } else if self.learners & (1 << k) != 0 {
            Some(MemberKind::Learner)
        } else {
            Some(MemberKind::Voter)
        }
    }

    /// Every member (of both configurations while joint), ascending.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        // Invariant: `count() <= MAX_MEMBERS`, the length of `ids` (see `count`).
        self.ids[..self.count()].iter().copied()
    }

    /// The voters of the incoming configuration, ascending.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members()
            .enumerate()
            .filter(|&(k, _)| self.kind_at(k) == Some(MemberKind::Voter))
            .map(|(_, i)| i)
    }

    /// The learners of the incoming configuration, ascending.
    pub fn learners(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members()
            .enumerate()
            .filter(|&(k, _)| self.kind_at(k) == Some(MemberKind::Learner))
            .map(|(_, i)| i)
    }

    /// How many members (of both configurations while joint).
    pub fn len(&self) -> usize {
        self.count()
    }

    /// Whether there is no member at all (a node waiting to be added starts so).
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// How many voters the incoming configuration has.
    pub fn voter_count(&self) -> usize {
        self.count() - (self.learners | self.leaving).count_ones() as usize
    }

    /// How many voters the outgoing configuration has (0 for a plain configuration).
    pub fn outgoing_voter_count(&self) -> usize {
        self.outgoing.count_ones() as usize
    }

    /// The voters added or removed going from `self` to `next` (promotions and demotions
    /// count as one each), over the incoming configurations.
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

    /// A decoded joint configuration is well formed: the outgoing configuration has a voter
    /// and the incoming one too, no bit past the members, members leaving are outgoing voters
    /// and not learners.
    fn joint_is_canonical(&self) -> bool {
        let all = ((1u16 << self.count()) - 1) as u8;
        self.outgoing != 0
            && self.outgoing & !all == 0
            && self.leaving & !self.outgoing == 0
            && self.leaving & self.learners == 0
            && self.voter_count() > 0
    }

    /// The canonical encoding (the payload of a membership entry).
    pub fn encode<'b>(&self, buf: &'b mut [u8; MEMBERSHIP_BYTES]) -> &'b [u8] {
        match postcard::to_slice(self, buf) {
            Ok(b) => b,
            // Unreachable: the buffer fits the largest encoding.
            Err(_) => &[],
        }
    }

    /// Decodes a canonical encoding, whole (no bytes may follow it; see
    /// [`Membership::decode_with_context`] for an entry's payload).
    pub fn decode(bytes: &[u8]) -> Result<Membership, MembershipRefusal> {
        match Membership::decode_with_context(bytes) {
            Ok((m, [])) => Ok(m),
            _ => Err(MembershipRefusal::Malformed),
        }
    }

    /// Decodes a canonical encoding followed by the application's context: the bytes a
    /// membership entry's payload may carry after the configuration (as etcd's
    /// `ConfChange.Context`), opaque to the core, returned as they are. A driver puts there
    /// what every node must learn together with the configuration, e.g. the transport
    /// addresses of the members it adds; the core replicates them with the entry and never
    /// reads them. With no context the payload is exactly [`Membership::encode`]'s bytes, as
    /// it always was. The leave entry ([`LEAVE_JOINT`]) carries none.
    pub fn decode_with_context(bytes: &[u8]) -> Result<(Membership, &[u8]), MembershipRefusal> {
        postcard::take_from_bytes::<Membership>(bytes).map_err(|_| MembershipRefusal::Malformed)
    }

    /// The configuration a membership entry with payload `bytes` puts in force after
    /// `before` (the configuration in force up to that entry): its decoding (any context
    /// after it ignored, see [`Membership::decode_with_context`]), or for the leave entry
    /// ([`LEAVE_JOINT`], empty) `before`'s incoming configuration. A leave entry after a plain
    /// configuration is malformed.
    pub fn decode_entry(
        bytes: &[u8],
        before: &Membership,
    ) -> Result<Membership, MembershipRefusal> {
        if bytes.is_empty() {
            return if before.is_joint() {
                Ok(before.incoming())
            } else {
                Err(MembershipRefusal::Malformed)
            };
        }
        Membership::decode_with_context(bytes).map(|(m, _)| m)
    }
}

/// `mask` with a bit `set` inserted at position `at` (higher bits move up one).
fn bit_inserted(mask: u8, at: usize, set: bool) -> u8 {
    let low = mask & ((1u16 << at) - 1) as u8;
    let high = ((u16::from(mask) >> at) << (at + 1)) as u8;
    low | high | u8::from(set) << at
}

/// `mask` without the bit at position `at` (higher bits move down one).
fn bit_removed(mask: u8, at: usize) -> u8 {
    let low = mask & ((1u16 << at) - 1) as u8;
    let high = ((u16::from(mask) >> (at + 1)) << at) as u8;
    low | high
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

    /// The joint marker (id 0) is one only after an id: a configuration whose first member
    /// is node 0 round-trips, plain or joint.
    #[test]
    fn a_configuration_starting_with_node_zero_round_trips() {
        let m = Membership::new(&ids(&[0, 1, 2]), &ids(&[5])).unwrap();
        let mut buf = [0; MEMBERSHIP_BYTES];
        assert_eq!(Membership::decode(m.encode(&mut buf)), Ok(m));
        let next = Membership::new(&ids(&[0, 1, 5]), &[]).unwrap();
        let j = m.joint(&next, false).unwrap();
        assert_eq!(Membership::decode(j.encode(&mut buf)), Ok(j));
    }

    /// A deserializer whose errors carry a message (postcard's do not) says what the
    /// membership's visitors expected.
    #[test]
    fn the_visitors_say_what_they_expect() {
        use core::fmt::Write;
        let mut s: heapless::String<32> = heapless::String::new();
        write!(s, "{}", &IdsVisitor(0) as &dyn de::Expected).unwrap();
        assert_eq!(s, "ascending member ids");
        s.clear();
        write!(s, "{}", &MembershipVisitor as &dyn de::Expected).unwrap();
        assert_eq!(s, "a membership");
    }

    /// Each refusal says why, in its own words.
    #[test]
    fn each_refusal_says_why_in_its_own_words() {
        use core::fmt::Write;
        use MembershipRefusal::*;
        let all = [
            Malformed,
            TooMany,
            Duplicate,
            NoVoters,
            MoreThanOneVoter,
            NotCaughtUp,
            Unchanged,
            JointInProgress,
            NotFromCurrent,
        ];
        let mut said: heapless::Vec<heapless::String<80>, 9> = heapless::Vec::new();
        for r in all {
            let mut s = heapless::String::new();
            write!(s, "{r}").unwrap();
            assert!(!s.is_empty() && !said.contains(&s), "{r:?}: {s:?}");
            said.push(s).unwrap();
        }
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

    #[test]
    fn an_entry_may_carry_an_opaque_context_after_the_configuration() {
        let m = Membership::new(&ids(&[1, 2, 3]), &ids(&[4])).unwrap();
        let mut buf = [0; MEMBERSHIP_BYTES];
        let plain: heapless::Vec<u8, 64> = heapless::Vec::from_slice(m.encode(&mut buf)).unwrap();
        // The plain encoding is unchanged (learner bits, count, ascending ids) and decodes
        // with an empty context.
        assert_eq!(&plain[..], &[0b1000, 4, 1, 2, 3, 4]);
        assert_eq!(Membership::decode_with_context(&plain), Ok((m, &[][..])));
        let mut with: heapless::Vec<u8, 64> = plain.clone();
        with.extend_from_slice(b"addresses").unwrap();
        assert_eq!(
            Membership::decode_with_context(&with),
            Ok((m, &b"addresses"[..]))
        );
        // An entry's payload reads as its configuration, context or not; `decode` stays
        // strict (a whole encoding only).
        assert_eq!(Membership::decode_entry(&with, &m), Ok(m));
        assert_eq!(Membership::decode(&with), Err(MembershipRefusal::Malformed));
        assert_eq!(
            Membership::decode_with_context(&plain[..3]),
            Err(MembershipRefusal::Malformed)
        );
    }

    #[test]
    fn a_joint_configuration_lists_both_sides_and_round_trips() {
        let old = Membership::new(&ids(&[1, 2, 3]), &ids(&[4])).unwrap();
        // Replace 1 by 4, demote 2 to a learner, add learner 6.
        let new = Membership::new(&ids(&[3, 4]), &ids(&[2, 6])).unwrap();
        let j = old.joint(&new, true).unwrap();
        assert!(j.is_joint() && j.auto_leave());
        assert_eq!(
            j.members().collect::<heapless::Vec<_, 8>>(),
            ids(&[1, 2, 3, 4, 6])
        );
        assert_eq!(j.voters().collect::<heapless::Vec<_, 8>>(), ids(&[3, 4]));
        assert_eq!(j.learners().collect::<heapless::Vec<_, 8>>(), ids(&[2, 6]));
        assert_eq!(
            j.outgoing_voters().collect::<heapless::Vec<_, 8>>(),
            ids(&[1, 2, 3])
        );
        assert_eq!(j.kind_of(NodeId(1)), None);
        assert!(j.votes(NodeId(1)) && j.votes(NodeId(2)) && !j.votes(NodeId(6)));
        assert!(j.is_member(NodeId(1)) && !j.is_member(NodeId(5)));
        assert_eq!((j.voter_count(), j.outgoing_voter_count()), (2, 3));
        assert_eq!(j.incoming(), new);
        let mut buf = [0; MEMBERSHIP_BYTES];
        let bytes = j.encode(&mut buf);
        assert_eq!(Membership::decode(bytes), Ok(j));
        // The leave entry reads as the incoming configuration, only after a joint one.
        assert_eq!(Membership::decode_entry(LEAVE_JOINT, &j), Ok(new));
        assert_eq!(
            Membership::decode_entry(LEAVE_JOINT, &old),
            Err(MembershipRefusal::Malformed)
        );
        // Without auto-leave, and nothing joint about a configuration built from itself.
        let explicit = old.joint(&new, false).unwrap();
        assert!(!explicit.auto_leave());
        assert_ne!(explicit, j);
        assert_eq!(j.joint(&new, true), Err(MembershipRefusal::JointInProgress));
        // Both sides together must fit MAX_MEMBERS.
        let five = Membership::new(&ids(&[1, 2, 3, 4, 5]), &[]).unwrap();
        let others = Membership::new(&ids(&[6, 7, 8, 9]), &[]).unwrap();
        assert_eq!(five.joint(&others, true), Err(MembershipRefusal::TooMany));
        let the_largest = Membership::new(
            &ids(&[u32::MAX - 7, u32::MAX - 6, u32::MAX - 5, u32::MAX - 4]),
            &[],
        )
        .unwrap()
        .joint(
            &Membership::new(
                &ids(&[u32::MAX - 3, u32::MAX - 2, u32::MAX - 1]),
                &ids(&[u32::MAX]),
            )
            .unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(the_largest.encode(&mut buf).len(), MEMBERSHIP_BYTES);
    }

    /// A voter the next configuration drops is an outgoing voter only (leaving, not a
    /// learner) wherever it sorts among the members; both sides need a voter.
    #[test]
    fn a_joint_configuration_marks_each_dropped_voter_leaving_wherever_it_sorts() {
        let old = Membership::new(&ids(&[1, 2, 3]), &[]).unwrap();
        let new = Membership::new(&ids(&[1, 2, 4]), &[]).unwrap();
        let j = old.joint(&new, false).unwrap();
        assert_eq!(
            j.members().collect::<heapless::Vec<_, 8>>(),
            ids(&[1, 2, 3, 4])
        );
        assert_eq!(j.voters().collect::<heapless::Vec<_, 8>>(), ids(&[1, 2, 4]));
        assert_eq!(j.learners().count(), 0);
        assert_eq!(j.kind_of(NodeId(3)), None);
        assert!(j.votes(NodeId(3)));
        assert_eq!(j.incoming(), new);
        let mut buf = [0; MEMBERSHIP_BYTES];
        assert_eq!(Membership::decode(j.encode(&mut buf)), Ok(j));
        let no_voter = Membership::new(&[], &ids(&[4])).unwrap();
        assert_eq!(old.joint(&no_voter, true), Err(MembershipRefusal::NoVoters));
        assert_eq!(no_voter.joint(&old, true), Err(MembershipRefusal::NoVoters));
    }

    /// `without` on a joint configuration drops the member from both sides; the
    /// configuration stays joint (leaving members and auto-leave kept) until its last
    /// outgoing voter goes, and is then the plain incoming one.
    #[test]
    fn without_keeps_a_configuration_joint_until_its_last_outgoing_voter_goes() {
        let old = Membership::new(&ids(&[1, 2, 3]), &[]).unwrap();
        let new = Membership::new(&ids(&[2, 3, 4]), &[]).unwrap();
        let j = old.joint(&new, true).unwrap().without(NodeId(4));
        assert!(j.is_joint() && j.auto_leave());
        assert_eq!(j.kind_of(NodeId(1)), None);
        assert_eq!(j.incoming(), new.without(NodeId(4)));
        let last = j.without(NodeId(1)).without(NodeId(2)).without(NodeId(3));
        assert_eq!(last, Membership::default());
        assert!(last.is_empty() && !j.is_empty());
        let plain = old
            .joint(&new, true)
            .unwrap()
            .without(NodeId(1))
            .without(NodeId(2))
            .without(NodeId(3));
        assert_eq!(plain, Membership::new(&ids(&[4]), &[]).unwrap());
    }

    #[test]
    fn plain_encodings_are_unchanged_and_joint_ones_are_checked() {
        // A plain configuration encodes as before joint consensus: (learner bits, ids).
        let m = Membership::new(&ids(&[1, 2]), &ids(&[3])).unwrap();
        let mut buf = [0; MEMBERSHIP_BYTES];
        assert_eq!(m.encode(&mut buf), &[0b100, 3, 1, 2, 3]);
        let j = Membership::new(&ids(&[1, 2]), &[])
            .unwrap()
            .joint(&Membership::new(&ids(&[2, 3]), &[]).unwrap(), false)
            .unwrap();
        // (learners, 5 elements: ids 1 2 3, marker 0, bits: outgoing 0b011, leaving 0b001).
        assert_eq!(j.encode(&mut buf), &[0, 5, 1, 2, 3, 0, 0x83, 0x02]);
        for bad in [
            &[0, 4, 1, 2, 3, 0][..],               // bits missing
            &[0, 6, 1, 2, 3, 0, 0x83, 0x02, 4],    // more after the bits
            &[0, 5, 1, 2, 3, 0, 0],                // marker with no outgoing voter
            &[0, 5, 1, 2, 3, 0, 0x88, 0x02],       // outgoing voter past the members
            &[0, 5, 1, 2, 3, 0, 0x82, 0x02],       // leaving but not an outgoing voter
            &[0, 5, 1, 2, 3, 0, 0x87, 0x0e],       // no incoming voter left
            &[1, 5, 1, 2, 3, 0, 0x83, 0x02],       // leaving and a learner
            &[0, 5, 1, 2, 3, 0, 0x83, 0x82, 0x08], // unknown bits
        ] {
            assert_eq!(
                Membership::decode(bad),
                Err(MembershipRefusal::Malformed),
                "{bad:?}"
            );
        }
    }
}
