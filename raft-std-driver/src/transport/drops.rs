//! Why datagrams were dropped, and how many.

use std::fmt;

/// Why [`Opener::open`](super::Opener::open) refused a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than a header and tag, or an unknown magic/version byte.
    Malformed,
    /// Longer than the configured maximum datagram.
    Oversized,
    /// The tag did not verify: a wrong key, a forgery or damage in transit.
    BadTag,
    /// A counter already accepted (a duplicate or replay inside the window).
    Replayed,
    /// A counter below the replay window, e.g. from a sender's earlier boot.
    TooOld,
    /// A sender id that is not configured (or is our own: a reflected frame).
    UnknownPeer,
    /// A configured sender id arriving from an address other than the one bound to it.
    AddressMismatch,
    /// An authentic, fresh datagram from a node that was on the allow-list and was dropped
    /// from it: a node removed from the configuration that does not know it yet. The node
    /// answers it with a sealed removal notice (see `node/retire.rs`).
    Removed,
}

impl DropReason {
    /// Every reason, in display order.
    pub const ALL: [DropReason; 8] = [
        DropReason::Malformed,
        DropReason::Oversized,
        DropReason::BadTag,
        DropReason::Replayed,
        DropReason::TooOld,
        DropReason::UnknownPeer,
        DropReason::AddressMismatch,
        DropReason::Removed,
    ];

    /// A short snake_case name, as used in logs and counters.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Oversized => "oversized",
            DropReason::BadTag => "bad_tag",
            DropReason::Replayed => "replayed",
            DropReason::TooOld => "too_old",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::AddressMismatch => "address_mismatch",
            DropReason::Removed => "removed_peer",
        }
    }
}

impl DropReason {
    /// What usually causes it, for log lines.
    pub fn hint(self) -> &'static str {
        match self {
            DropReason::Malformed => "not a sealed datagram of this protocol version",
            DropReason::Oversized => "larger than the largest datagram allowed",
            DropReason::BadTag => "wrong key file, or a damaged or forged datagram",
            DropReason::Replayed => "a duplicate or a replayed datagram",
            DropReason::TooOld => "below the replay window (e.g. from the sender's earlier boot)",
            DropReason::UnknownPeer => "the sender's id is not in this node's peer table",
            DropReason::AddressMismatch => {
                "a known node id from another address than its --peer one"
            }
            DropReason::Removed => "a node removed from the cluster (it is told so, sealed)",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Datagrams accepted and dropped, per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Datagrams that authenticated and were fresh.
    pub accepted: u64,
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounters {
    /// Counts one drop.
    pub fn record(&mut self, reason: DropReason) {
        let slot = &mut self.counts[reason as usize];
        *slot = slot.saturating_add(1);
    }

    /// Drops counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason as usize]
    }

    /// All drops.
    pub fn dropped(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl fmt::Display for DropCounters {
    /// `accepted=12 malformed=0 oversized=1 bad_tag=0 replayed=2 too_old=0 unknown_peer=0
    /// address_mismatch=0 removed_peer=0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "accepted={}", self.accepted)?;
        for r in DropReason::ALL {
            write!(f, " {}={}", r, self.get(r))?;
        }
        Ok(())
    }
}
