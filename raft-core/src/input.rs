//! What a driver feeds into [`State::step`](crate::State::step).

use crate::codec::{self, WireEntries};
use crate::message::{Message, SnapshotMeta};
use crate::types::{LogIndex, NodeId};

/// One input to the step function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// One logical clock tick. Election and heartbeat timeouts are counted in ticks.
    Tick,
    /// A message already decoded by the driver (see [`codec::decode`]), from `from`.
    Message {
        /// The sender.
        from: NodeId,
        /// The message, borrowing its entries from the received frame.
        msg: Message<WireEntries<'a>>,
    },
    /// A raw received frame: the core decodes it, checks its cluster id and addressee, and
    /// counts and ignores anything wrong with it.
    Frame(&'a [u8]),
    /// A client asks to append `data` to the log. Answered by an `Output::Proposal`.
    Propose {
        /// The command; the core reads only its length, the driver stores it.
        data: &'a [u8],
    },
    /// A client wants a linearizable read. Answered by an `Output::Read` covering `id`: serve
    /// it once the state machine has applied the index given there. Ids must increase. On a
    /// follower the read is forwarded to the leader; if that message or its answer is lost
    /// the read gets no answer, so a driver times reads out and retries them.
    Read {
        /// The driver's id for this read (strictly increasing per node).
        id: u64,
    },
    /// Change the cluster's membership to the configuration `data` (a
    /// [`Membership::encode`](crate::Membership::encode)), which may differ from the current
    /// one ([`State::membership`](crate::State::membership)) by at most one voter added or
    /// removed (promotions and demotions count) and any learners. Answered by an
    /// `Output::Proposal`: `Accepted` (the change takes effect at once and is done when
    /// `Apply` covers its index), `Refused` (the change breaks a rule), `Busy` (an earlier
    /// change is not committed yet, or this leader has not committed in its term), or
    /// `NotLeader`. See [`crate::membership`].
    ChangeMembership {
        /// The whole new configuration, encoded, optionally followed by the application's
        /// context (opaque to the core, see
        /// [`Membership::decode_with_context`](crate::Membership::decode_with_context)); the
        /// driver stores it all as the entry's payload.
        data: &'a [u8],
    },
    /// Hand leadership to the voter `to` (leaders only; ignored elsewhere). The leader
    /// catches it up, sends it TimeoutNow, refuses proposals meanwhile, and gives up after an
    /// election timeout.
    TransferLeader {
        /// The voter that should lead.
        to: NodeId,
    },
    /// Every `Persist` with a sequence number up to `seq` is durable
    /// (`Durability::Deferred` only; ignored under `Inline`).
    Persisted {
        /// The highest durable `Persist` sequence number.
        seq: u64,
    },
    /// The state machine durably captured everything up to `index` (a snapshot of it exists
    /// outside the log), so the log may be compacted up to there.
    Captured {
        /// Applied index covered by the capture.
        index: LogIndex,
    },
    /// The driver holds a complete, durable snapshot of the state machine described by
    /// `meta`, readable by chunks (see `EntrySource::snapshot_chunk`); it also counts as
    /// `Captured { index: meta.index }`. With a snapshot to send, the log may be compacted
    /// past followers that lag (they get InstallSnapshot). Report it again after a restart.
    SnapshotSaved {
        /// The snapshot.
        meta: SnapshotMeta,
    },
    /// The driver performed `Output::InstallSnapshot`: `ok` if the snapshot's checksum held
    /// and it is durable and loaded into the state machine; `false` to restart the transfer.
    SnapshotInstalled {
        /// The snapshot installed.
        meta: SnapshotMeta,
        /// Whether it was installed.
        ok: bool,
    },
    /// The driver's storage failed. The node stops (fail-stop): every later step is an
    /// error until it is rebuilt from what was durable.
    StorageFailed,
}

impl<'a> Input<'a> {
    /// The bytes of a snapshot chunk carried by this input, if any.
    pub fn snapshot_data(&self) -> Option<&'a [u8]> {
        match self {
            Input::Message { msg, .. } => msg.snapshot_data(),
            Input::Frame(f) => codec::decode(f).ok().and_then(|(_, m)| m.snapshot_data()),
            _ => None,
        }
    }

    /// The entries of an AppendEntries carried by this input, if any.
    pub fn entries(&self) -> Option<WireEntries<'a>> {
        match self {
            Input::Message {
                msg: Message::Append(a),
                ..
            } => Some(a.entries),
            Input::Frame(f) => match codec::decode(f) {
                Ok((_, Message::Append(a))) => Some(a.entries),
                _ => None,
            },
            _ => None,
        }
    }
}
