//! The membership admin requests of the client protocol (`raft-client member ...`): what is
//! asked ([`MemberChange`], several at once: [`JointChange`]), the configuration a node reports ([`MembershipView`]) and why a
//! change is refused ([`MemberRefusal`]).
//!
//! A change names the state one node should end up in, so it is idempotent: a change that
//! already holds is answered with the configuration once that is committed, and a client may
//! retry a request whose answer was lost.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One membership change, served by the leader (one voter at a time: see raft-core's
/// `membership` module; several at once: [`JointChange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    /// Add the node as a learner: it receives the log but does not vote. Its address must be
    /// in the leader's address book or static peer table (`--peer`); else use
    /// [`MemberChange::AddLearnerAt`]. The change carries the address either way.
    AddLearner(u32),
    /// Make a learner a voter; refused with [`MemberRefusal::NotCaughtUp`] until its log has
    /// reached the leader's commit index.
    Promote(u32),
    /// Remove the node, voter or learner. Removing the leader hands leadership to the most
    /// caught-up voter once the change is committed.
    Remove(u32),
    /// Add the node as a learner at this address: the membership entry carries the address,
    /// so every node adds it to its address book (and allow-list) when the change commits.
    /// (Last, so the variants before keep their wire numbers.)
    AddLearnerAt(u32, SocketAddr),
}

impl MemberChange {
    /// The node the change is about.
    pub fn node(&self) -> u32 {
        match *self {
            MemberChange::AddLearner(id)
            | MemberChange::AddLearnerAt(id, _)
            | MemberChange::Promote(id)
            | MemberChange::Remove(id) => id,
        }
    }
}

impl fmt::Display for MemberChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberChange::AddLearner(id) => write!(f, "add node {id} as a learner"),
            MemberChange::AddLearnerAt(id, addr) => {
                write!(f, "add node {id} at {addr} as a learner")
            }
            MemberChange::Promote(id) => write!(f, "promote node {id} to voter"),
            MemberChange::Remove(id) => write!(f, "remove node {id}"),
        }
    }
}

/// Several membership changes made at once through a joint configuration (raft-core's joint
/// consensus, Raft thesis section 4.3): the cluster decides with majorities of both the old
/// and the new voters until it leaves the joint configuration, automatically once it is
/// committed (`auto_leave`) or on [`ClientBody::LeaveJoint`](crate::wire::ClientBody).
/// A node made a voter must be a learner that caught up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JointChange {
    /// The changes, each about a different node.
    pub changes: Vec<MemberChange>,
    /// Leave the joint configuration as soon as it is committed.
    pub auto_leave: bool,
}

impl fmt::Display for JointChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.changes.iter().map(|c| c.to_string()).collect();
        write!(
            f,
            "joint change: {} ({})",
            parts.join(", "),
            if self.auto_leave {
                "left automatically"
            } else {
                "left on request"
            }
        )
    }
}

/// A node's view of the cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// The node that answered.
    pub node: u32,
    /// Its role.
    pub role: raftcore::Role,
    /// The leader it knows of.
    pub leader: Option<u32>,
    /// The voters, ascending.
    pub voters: Vec<u32>,
    /// The learners, ascending.
    pub learners: Vec<u32>,
    /// While the configuration is joint: the outgoing configuration's voters, ascending
    /// (`voters` and `learners` are the incoming one's); empty otherwise.
    pub outgoing: Vec<u32>,
    /// The node's address book: member id and UDP address, ascending by id.
    pub addresses: Vec<(u32, SocketAddr)>,
    /// The log index of this configuration (0: the initial voters).
    pub index: u64,
    /// Whether the node knows it is committed.
    pub committed: bool,
}

impl fmt::Display for MembershipView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |ids: &[u32]| {
            if ids.is_empty() {
                "-".to_string()
            } else {
                ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            }
        };
        if !self.outgoing.is_empty() {
            write!(f, "joint: old voters {} -> ", list(&self.outgoing))?;
        }
        write!(
            f,
            "voters {} learners {} (index {}, {}; node {} is {}, leader {})",
            list(&self.voters),
            list(&self.learners),
            self.index,
            if self.committed {
                "committed"
            } else {
                "not committed yet"
            },
            self.node,
            self.role,
            self.leader.map_or("-".into(), |l| l.to_string()),
        )?;
        for (id, addr) in &self.addresses {
            write!(f, "\n  {id} {addr}")?;
        }
        Ok(())
    }
}

/// Why the leader refused a membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberRefusal {
    /// The leader knows no address for the node (not in its address book or peer table), so
    /// it could not be reached: add it with its address ([`MemberChange::AddLearnerAt`]).
    NotInPeerTable(u32),
    /// Only a learner can be promoted.
    NotALearner(u32),
    /// The node already votes (remove it first to make it a learner).
    AlreadyVoter(u32),
    /// The learner's log has not reached the commit index yet; retry shortly.
    NotCaughtUp(u32),
    /// Another rule of raft-core's (in its words), e.g. no voter would be left or too many
    /// members.
    Rule(String),
    /// A joint configuration is in force: the only change is leaving it (automatically, or
    /// `member leave-joint`).
    JointInProgress,
    /// `leave-joint` asked while the configuration is not joint.
    NotJoint,
}

impl fmt::Display for MemberRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberRefusal::NotInPeerTable(id) => write!(
                f,
                "the leader knows no address for node {id} (add it with its address: \
                 add-learner {id} --addr HOST:PORT)"
            ),
            MemberRefusal::JointInProgress => write!(
                f,
                "a joint configuration is in force: leave it first (it leaves by itself once \
                 committed if made with auto-leave; else `member leave-joint`)"
            ),
            MemberRefusal::NotJoint => write!(f, "the configuration is not joint"),
            MemberRefusal::NotALearner(id) => {
                write!(f, "node {id} is not a learner (add it as a learner first)")
            }
            MemberRefusal::AlreadyVoter(id) => write!(f, "node {id} is already a voter"),
            MemberRefusal::NotCaughtUp(id) => {
                write!(f, "node {id} has not caught up with the leader's log yet")
            }
            MemberRefusal::Rule(why) => write!(f, "refused: {why}"),
        }
    }
}
