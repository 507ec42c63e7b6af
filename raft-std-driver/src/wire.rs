//! What travels inside a sealed datagram: a tag byte, then a raft-core frame or a client
//! request or reply (postcard).
//!
//! ```text
//! [TAG_RAFT   = 1][raft-core codec frame]          node -> node
//! [TAG_CLIENT = 2][postcard ClientRequest]         client -> node
//! [TAG_REPLY  = 3][postcard ServerReply]           node -> client
//! [TAG_REMOVED = 4][postcard u64 applied index]    node -> a node removed from the cluster
//! ```
//!
//! The tag sits inside the sealed payload, so it is authenticated like everything else.

use serde::{Deserialize, Serialize};

use crate::admin::{JointChange, MemberChange, MemberRefusal, MembershipView};

/// A raft-core frame follows.
pub const TAG_RAFT: u8 = 1;
/// A [`ClientRequest`] follows.
pub const TAG_CLIENT: u8 = 2;
/// A [`ServerReply`] follows.
pub const TAG_REPLY: u8 = 3;
/// A removal notice follows: the sender's applied index, whose configuration no longer has
/// the receiver (see `node/retire.rs`).
pub const TAG_REMOVED: u8 = 4;

/// A client's request to a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    /// Chosen by the client to match the reply (a retry may reuse it).
    pub id: u64,
    /// What is asked.
    pub body: ClientBody,
}

/// The kinds of client requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientBody {
    /// A state-machine command (for the key-value store, an encoded
    /// [`kv::Request`](crate::kv::Request)); answered once applied (reads: see
    /// [`ReadPolicy`](crate::node::ReadPolicy)).
    Command(Vec<u8>),
    /// A read-only command answered from this node's state now, without the log: possibly
    /// stale, for diagnostics and the demo's per-node check.
    LocalQuery(Vec<u8>),
    /// This node's role, term, leader and indexes.
    Status,
    /// This node's counters as JSON (the same document as `stats.json`).
    Stats,
    /// A membership change (leader only): answered [`ReplyBody::Membership`] once the new
    /// configuration is applied, or `Refused`, `Busy`, `NotLeader`, `Retry`.
    ChangeMembership(MemberChange),
    /// This node's view of the configuration, answered at once by any node.
    Membership,
    /// Several membership changes in one joint configuration (leader only): answered like
    /// [`ClientBody::ChangeMembership`] once the joint configuration is applied.
    ChangeJoint(JointChange),
    /// Leave the joint configuration in force for its incoming one (leader only): answered
    /// once applied, or `Refused` ([`MemberRefusal::NotJoint`]).
    LeaveJoint,
}

/// A node's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReply {
    /// The request's id.
    pub id: u64,
    /// The answer.
    pub body: ReplyBody,
}

/// The kinds of replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyBody {
    /// The command was applied (or the query answered); the state machine's response bytes.
    Applied(Vec<u8>),
    /// This node is not the leader; try `leader` if known.
    NotLeader {
        /// The leader this node knows of.
        leader: Option<u32>,
    },
    /// The leader is at a capacity limit; retry later.
    Busy,
    /// The command can never fit in one frame.
    TooLarge,
    /// The command was not committed (leadership changed); retry with the same sequence
    /// number.
    Retry,
    /// The node's status.
    Status(NodeStatus),
    /// The node's counters, JSON.
    Stats(String),
    /// The configuration (after a change: the one the change made, applied).
    Membership(MembershipView),
    /// The membership change cannot be made.
    Refused(MemberRefusal),
}

/// A snapshot of a node's protocol position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's id.
    pub id: u32,
    /// Its role.
    pub role: raftcore::Role,
    /// Its term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<u32>,
    /// Its commit index.
    pub commit: u64,
    /// Its applied index.
    pub applied: u64,
    /// Its last log index.
    pub last_index: u64,
}

/// Encodes `tag` then `value` into `out` (cleared first; its capacity is reused, so a warm
/// buffer encodes without allocating).
pub fn encode<T: Serialize>(tag: u8, value: &T, out: &mut Vec<u8>) {
    out.clear();
    out.push(tag);
    let buf = std::mem::take(out);
    // Postcard encodes these plain types into a growing Vec without error; were it to fail,
    // the frame is left empty (refused by every receiver).
    *out = postcard::to_extend(value, buf).unwrap_or_default();
}

/// A [`ClientRequest`] carrying a [`ClientBody::Command`], decoded without copying the
/// command: the same bytes (postcard writes a `Vec<u8>` as a length and the bytes, which a
/// borrowed slice reads back), the variants in the same order.
#[derive(Deserialize)]
struct CommandRef<'a> {
    id: u64,
    #[serde(borrow)]
    body: BodyRef<'a>,
}

/// The first variant of [`ClientBody`], borrowed (any other variant fails to decode here).
#[derive(Deserialize)]
enum BodyRef<'a> {
    Command(&'a [u8]),
}

/// The request id and command of a client request that is a [`ClientBody::Command`],
/// borrowed from `bytes` (the node's hot path: no allocation); `None` for any other request
/// or for bytes that do not decode (then [`decode`] says which).
pub fn decode_command(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let r: CommandRef<'_> = decode(bytes)?;
    let BodyRef::Command(cmd) = r.body;
    Some((r.id, cmd))
}

/// Decodes a whole postcard value; trailing bytes are refused.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_command_decodes_borrowed_to_what_the_owned_decoder_reads() {
        let mut out = Vec::new();
        for cmd in [vec![], vec![7u8; 3], vec![1u8; 300]] {
            let req = ClientRequest {
                id: 1 << 40,
                body: ClientBody::Command(cmd.clone()),
            };
            encode(TAG_CLIENT, &req, &mut out);
            assert_eq!(decode_command(&out[1..]), Some((1 << 40, &cmd[..])));
            assert_eq!(decode::<ClientRequest>(&out[1..]), Some(req));
        }
        // Other requests, and damaged ones, are left to the owned decoder.
        let status = ClientRequest {
            id: 3,
            body: ClientBody::Status,
        };
        encode(TAG_CLIENT, &status, &mut out);
        assert_eq!(decode_command(&out[1..]), None);
        assert_eq!(decode::<ClientRequest>(&out[1..]), Some(status));
        let req = ClientRequest {
            id: 3,
            body: ClientBody::Command(vec![1, 2, 3]),
        };
        encode(TAG_CLIENT, &req, &mut out);
        out.pop();
        assert_eq!(decode_command(&out[1..]), None);
        out.push(3);
        out.push(0);
        assert_eq!(decode_command(&out[1..]), None, "trailing bytes");
    }

    #[test]
    fn encoding_reuses_the_buffer() {
        let mut out = Vec::with_capacity(64);
        let reply = ServerReply {
            id: 9,
            body: ReplyBody::Applied(vec![5; 10]),
        };
        encode(TAG_REPLY, &reply, &mut out);
        let at = out.as_ptr();
        encode(TAG_REPLY, &reply, &mut out);
        assert_eq!(out.as_ptr(), at);
        assert_eq!(out[0], TAG_REPLY);
        assert_eq!(decode::<ServerReply>(&out[1..]), Some(reply));
    }
}
