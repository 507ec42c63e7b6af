//! The frame's outer shape: the version, the header naming sender and addressee, and the
//! size limits every encoder and the protocol's flow control cut to.

use crate::membership::{Membership, MEMBERSHIP_BYTES};
use crate::record::ENTRY_OVERHEAD;
use crate::types::NodeId;

/// The frame format version this crate speaks.
pub const VERSION: u8 = 2;
/// The largest frame the codec accepts: a UDP datagram's payload limit.
pub const MAX_FRAME_BYTES: u32 = 65_507;
/// Worst-case bytes of the frame header plus the largest message header (every varint at its
/// longest): a frame carries entries in at most `max_frame_bytes - MAX_HEADER_BYTES` bytes.
pub const MAX_HEADER_BYTES: u32 = 80;
/// Worst-case bytes of the frame header plus an InstallSnapshot chunk's header with the
/// largest membership; see [`max_chunk_bytes`] for the bound chunks are cut to.
pub const MAX_SNAPSHOT_HEADER_BYTES: u32 = 125;

/// The snapshot bytes one InstallSnapshot chunk carries in a frame of `frame_bytes`, when
/// the snapshot names `members`: the frame less the worst-case chunk header without the
/// membership (`MAX_HEADER_BYTES + 4`) and the membership's encoding (at least 1, so a frame
/// too small for any chunk still makes progress at the codec, which then refuses it).
pub fn max_chunk_bytes(frame_bytes: u32, members: &Membership) -> u32 {
    let mut buf = [0u8; MEMBERSHIP_BYTES];
    let m = members.encode(&mut buf).len() as u32;
    frame_bytes.saturating_sub(MAX_HEADER_BYTES + 4 + m).max(1)
}

/// The largest payload an entry may carry so that it fits alone in a frame of `frame_bytes`.
pub const fn max_payload(frame_bytes: u32) -> u32 {
    let p = frame_bytes.saturating_sub(MAX_HEADER_BYTES + ENTRY_OVERHEAD);
    if p > u16::MAX as u32 {
        u16::MAX as u32
    } else {
        p
    }
}

/// Who a frame is from and for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The cluster the sender belongs to.
    pub cluster_id: u32,
    /// The sender.
    pub from: NodeId,
    /// The addressee.
    pub to: NodeId,
}
