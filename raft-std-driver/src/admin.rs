//! The membership admin requests of the client protocol (`raft-client member ...`): what is
//! asked ([`MemberChange`]), the configuration a node reports ([`MembershipView`]) and why a
//! change is refused ([`MemberRefusal`]).
//!
//! A change names the state one node should end up in, so it is idempotent: a change that
//! already holds is answered with the configuration once that is committed, and a client may
//! retry a request whose answer was lost.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One membership change, served by the leader (one voter at a time: see raft-core's
/// `membership` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    /// Add the node as a learner: it receives the log but does not vote. It must be in the
    /// leader's peer table (and the other nodes' too, or they drop its datagrams).
    AddLearner(u32),
    /// Make a learner a voter; refused with [`MemberRefusal::NotCaughtUp`] until its log has
    /// reached the leader's commit index.
    Promote(u32),
    /// Remove the node, voter or learner. Removing the leader hands leadership to the most
    /// caught-up voter once the change is committed.
    Remove(u32),
}

impl MemberChange {
    /// The node the change is about.
    pub fn node(&self) -> u32 {
        match *self {
            MemberChange::AddLearner(id) | MemberChange::Promote(id) | MemberChange::Remove(id) => {
                id
            }
        }
    }
}

impl fmt::Display for MemberChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberChange::AddLearner(id) => write!(f, "add node {id} as a learner"),
            MemberChange::Promote(id) => write!(f, "promote node {id} to voter"),
            MemberChange::Remove(id) => write!(f, "remove node {id}"),
        }
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
        )
    }
}

/// Why the leader refused a membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberRefusal {
    /// The node is not in the leader's peer table, so it could not be reached.
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
}

impl fmt::Display for MemberRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberRefusal::NotInPeerTable(id) => write!(
                f,
                "node {id} is not in the leader's peer table (add --peer {id}=ADDR on every node)"
            ),
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
