//! The protocol messages: one serde type shared by every driver and the codec.
//!
//! `Message<E>` is generic over how an AppendEntries carries its entries: the core emits
//! `Message<EntryCount>` (a descriptor naming how many entries follow `prev_index`; the codec
//! reads them from the log store when it encodes), and decoding a frame yields
//! `Message<WireEntries<'_>>` that borrows the entries from the frame.

use serde::{Deserialize, Serialize};

use crate::membership::Membership;

use crate::record::{EntryRef, WireEntries};
use crate::types::{LogIndex, Term};

/// RequestVote and PreVote: "vote for me in `term`; my log ends at (`last_index`, `last_term`)".
/// For a PreVote, `term` is the term the sender would campaign in; nobody changes term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VoteRequest {
    /// The (proposed) election term.
    pub term: Term,
    /// The index of the candidate's last log entry.
    pub last_index: LogIndex,
    /// The term of the candidate's last log entry.
    pub last_term: Term,
}

/// The answer to a [`VoteRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VoteResponse {
    /// The responder's term; for a granted PreVote, the request's term.
    pub term: Term,
    /// Whether the vote was granted.
    pub granted: bool,
}

/// AppendEntries: entries after `prev_index`, plus the leader's commit index. With no
/// entries it is a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Append<E> {
    /// The leader's term.
    pub term: Term,
    /// The index of the entry just before the new ones.
    pub prev_index: LogIndex,
    /// The term of the entry at `prev_index`.
    pub prev_term: Term,
    /// The leader's commit index.
    pub commit: LogIndex,
    /// Every voter holds the log up to here: a follower may compact up to it without
    /// leaving a lagging node behind (the leader's minimum match index, capped at commit).
    pub floor: LogIndex,
    /// The heartbeat round this message belongs to; echoed in the response so the leader
    /// can count distinct responders per round (CheckQuorum).
    pub round: u32,
    /// The entries: a count in the core's descriptor, borrowed bytes after decoding.
    pub entries: E,
}

/// The answer to an [`Append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AppendResponse {
    /// The responder's term.
    pub term: Term,
    /// Whether the entries (or heartbeat) matched the follower's log.
    pub success: bool,
    /// On success, the last index the follower now holds matching the leader. On rejection,
    /// the `prev_index` that did not match (lets the leader discard stale rejections).
    pub index: LogIndex,
    /// On rejection, the follower's hint: the largest index at or below `index` whose term is
    /// at most the leader's `prev_term` (fast backtracking, etcd's `findConflictByTerm`).
    pub hint_index: LogIndex,
    /// On rejection, the follower's term at `hint_index`.
    pub hint_term: Term,
    /// The round of the request this answers.
    pub round: u32,
    /// The responder's commit index. Entries up to it are committed, so a new leader (whose
    /// log holds every committed entry) may adopt it: this lets a leader whose log window is
    /// full of entries from earlier terms learn they are committed and compact them.
    pub commit: LogIndex,
}

/// A follower asks the leader for a read index on behalf of its reads up to `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReadIndexRequest {
    /// The follower's term.
    pub term: Term,
    /// The follower's newest read id; the answer covers every read up to it.
    pub id: u64,
}

/// The leader's answer to a [`ReadIndexRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReadIndexResponse {
    /// The leader's term.
    pub term: Term,
    /// The read id this answers (and every earlier one).
    pub id: u64,
    /// Serve the reads once the state machine has applied this index.
    pub index: LogIndex,
    /// False if the leader could not confirm its leadership (it stepped down).
    pub ok: bool,
}

/// Names one snapshot of the state machine: it covers the log up to `index` (whose term is
/// `term`), the cluster's configuration as of `index` is `members`, and it is `len` bytes
/// with the driver's `checksum` over them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotMeta {
    /// The last log index the snapshot covers.
    pub index: LogIndex,
    /// The term of that entry.
    pub term: Term,
    /// The snapshot's length in bytes.
    pub len: u64,
    /// The driver's checksum of the bytes (the core only carries it).
    pub checksum: u32,
    /// The membership in force at `index`: the last membership entry the state machine
    /// applied up to there (or the initial voters). A node installing the snapshot adopts it.
    pub members: Membership,
}

/// Where a snapshot is captured ([`Snapshots::capture`](crate::engine::Snapshots::capture)):
/// the state machine has applied exactly `index`, whose term is `term`, with `members` in force.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotPoint {
    /// The last log index the state machine applied.
    pub index: LogIndex,
    /// The term of that entry.
    pub term: Term,
    /// The membership in force at `index`.
    pub members: Membership,
}

impl SnapshotPoint {
    /// The meta of this point's snapshot, once its bytes are known: `len` bytes with the
    /// driver's `checksum` over them.
    pub const fn meta(self, len: u64, checksum: u32) -> SnapshotMeta {
        SnapshotMeta {
            index: self.index,
            term: self.term,
            len,
            checksum,
            members: self.members,
        }
    }
}

/// What tells snapshots apart: index, term, length and checksum.
pub(crate) type SnapKey = (LogIndex, Term, u64, u32);

impl SnapshotMeta {
    /// The fields that tell this snapshot from another.
    pub(crate) fn key(&self) -> SnapKey {
        (self.index, self.term, self.len, self.checksum)
    }
}

/// One chunk of an InstallSnapshot stream. The core decides every field; the driver only
/// reads (leader) or writes (follower) the `len` bytes at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotChunk<E> {
    /// The leader's term.
    pub term: Term,
    /// The snapshot being sent.
    pub meta: SnapshotMeta,
    /// Where the chunk's bytes go.
    pub offset: u64,
    /// This chunk ends the snapshot (`offset + len == meta.len`).
    pub done: bool,
    /// The leader's heartbeat round (CheckQuorum and reads count answers by round).
    pub round: u32,
    /// The bytes: their count in the core's descriptor, the bytes themselves after decoding
    /// (see [`WireEntries::raw`]).
    pub data: E,
}

/// A follower's acknowledgement of snapshot chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SnapshotResponse {
    /// The follower's term.
    pub term: Term,
    /// The snapshot acknowledged (its `meta.index`).
    pub index: LogIndex,
    /// Every byte before this offset was received in order; send from here. An offset the
    /// leader did not expect (0 after a follower restart) rewinds the stream.
    pub next_offset: u64,
    /// The snapshot is installed: the follower's log now starts after `index`.
    pub installed: bool,
    /// The round of the chunk this answers.
    pub round: u32,
}

/// How many entries after `prev_index` an outgoing [`Append`] carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(transparent)]
pub struct EntryCount(pub u32);

/// Every protocol message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<E> {
    /// PreVote request.
    PreVote(VoteRequest),
    /// PreVote answer.
    PreVoteResponse(VoteResponse),
    /// RequestVote.
    Vote(VoteRequest),
    /// RequestVote answer.
    VoteResponse(VoteResponse),
    /// AppendEntries (or heartbeat).
    Append(Append<E>),
    /// AppendEntries answer.
    AppendResponse(AppendResponse),
    /// RequestVote sent by a candidate the leader handed leadership to (TimeoutNow): granted
    /// even by followers that heard from the leader within the election timeout.
    TransferVote(VoteRequest),
    /// The leader hands its leadership over: campaign now (leadership transfer).
    TimeoutNow {
        /// The leader's term.
        term: Term,
    },
    /// A follower asks for a read index (ReadIndex on a follower).
    ReadIndex(ReadIndexRequest),
    /// The leader answers a [`Message::ReadIndex`].
    ReadIndexResponse(ReadIndexResponse),
    /// A chunk of a snapshot (InstallSnapshot).
    Snapshot(SnapshotChunk<E>),
    /// A follower acknowledges snapshot chunks.
    SnapshotResponse(SnapshotResponse),
}

impl<E> Message<E> {
    /// The sender's term as carried in the message.
    pub fn term(&self) -> Term {
        match self {
            Message::PreVote(m) | Message::Vote(m) | Message::TransferVote(m) => m.term,
            Message::PreVoteResponse(m) | Message::VoteResponse(m) => m.term,
            Message::Append(m) => m.term,
            Message::AppendResponse(m) => m.term,
            Message::TimeoutNow { term } => *term,
            Message::ReadIndex(m) => m.term,
            Message::ReadIndexResponse(m) => m.term,
            Message::Snapshot(m) => m.term,
            Message::SnapshotResponse(m) => m.term,
        }
    }

    /// The same message with its entries replaced by `f(entries)`.
    pub fn map_entries<F, T>(self, f: F) -> Message<T>
    where
        F: FnOnce(E) -> T,
    {
        match self {
            Message::PreVote(m) => Message::PreVote(m),
            Message::PreVoteResponse(m) => Message::PreVoteResponse(m),
            Message::Vote(m) => Message::Vote(m),
            Message::VoteResponse(m) => Message::VoteResponse(m),
            Message::AppendResponse(m) => Message::AppendResponse(m),
            Message::TransferVote(m) => Message::TransferVote(m),
            Message::TimeoutNow { term } => Message::TimeoutNow { term },
            Message::ReadIndex(m) => Message::ReadIndex(m),
            Message::ReadIndexResponse(m) => Message::ReadIndexResponse(m),
            Message::SnapshotResponse(m) => Message::SnapshotResponse(m),
            Message::Snapshot(c) => Message::Snapshot(SnapshotChunk {
                term: c.term,
                meta: c.meta,
                offset: c.offset,
                done: c.done,
                round: c.round,
                data: f(c.data),
            }),
            Message::Append(a) => Message::Append(Append {
                term: a.term,
                prev_index: a.prev_index,
                prev_term: a.prev_term,
                commit: a.commit,
                floor: a.floor,
                round: a.round,
                entries: f(a.entries),
            }),
        }
    }
}

impl<'a> Message<WireEntries<'a>> {
    /// The bytes of a snapshot chunk, if this is one.
    pub fn snapshot_data(&self) -> Option<&'a [u8]> {
        match self {
            Message::Snapshot(c) => Some(c.data.records()),
            _ => None,
        }
    }

    /// The entries of an Append, empty for every other message.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'a>> + 'a {
        let wire = match self {
            Message::Append(a) => a.entries,
            _ => WireEntries::EMPTY,
        };
        wire.iter()
    }
}
