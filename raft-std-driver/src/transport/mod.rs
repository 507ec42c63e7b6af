//! Datagram protection: every UDP datagram between nodes (and clients) is sealed with
//! XChaCha20-Poly1305 under a pre-shared 32-byte cluster key.
//!
//! # Sealed datagram
//!
//! ```text
//! [magic/version u8 = 0xA1][sender id u32 LE][counter u64 LE][nonce 24 B][ciphertext][tag 16 B]
//! |<------------------ header (37 B), authenticated as associated data ------------------>|
//! ```
//!
//! The nonce is a random 128-bit prefix drawn once per sealer followed by the datagram's
//! counter, so sealing makes no system call (see [`Sealer`] for why no nonce repeats
//! under the shared key); the receiver takes the nonce from the header as it is, and
//! uses the counter for replay rejection.
//!
//! # Replay rejection, and why the epoch is ordered rather than random
//!
//! A receiver keeps, per sender, a sliding window over the counter (RFC 6479 style, like IPsec
//! and WireGuard): the highest counter seen and a 2048-bit bitmap ([`replay`]). A counter seen
//! before is [`DropReason::Replayed`]; one more than [`replay::WINDOW`] below the highest is
//! [`DropReason::TooOld`]. The window moves only after the tag verified, so forged frames
//! cannot push it.
//!
//! A sender that restarts must not reuse counters: the receiver would drop all its frames until
//! they passed the old highest. So a sender starts each boot at `epoch << 32`, where `epoch` is
//! a per-boot value. We deliberately make the epoch **ordered** (strictly greater each boot,
//! see [`epoch::next_epoch`]: the Unix time in seconds, floored by the previous boot's epoch
//! + 1 kept in a small file) rather than random:
//!
//! * with a random epoch the receiver cannot tell a new boot from an old one, so it must
//!   either accept any epoch it has not seen (and an attacker who recorded an earlier boot's
//!   traffic replays all of it) or remember every epoch ever seen (unbounded);
//! * with an ordered epoch one window per sender suffices: the new boot's counters are above
//!   everything the old boot sent, so every frame of an earlier boot is `TooOld` from then on.
//!
//! Randomness is still used where it helps: for the nonces. The limit, as for any stateless
//! pre-shared-key scheme: a *receiver* forgets its windows when it restarts, so a frame
//! recorded before that can be accepted once more afterwards (at most once per receiver boot).
//! Raft tolerates such stale messages (they carry old terms and indexes, exactly like delayed
//! UDP duplicates), and client writes are deduplicated by the key-value sessions.
//!
//! # Allow-listing
//!
//! The sender id must be configured and, for nodes, bound to the address the datagram came
//! from ([`PeerBinding::Fixed`]). A node's list follows its address book, which membership
//! changes update ([`Opener::set_peers`]). Frames claiming the receiver's own id are refused as
//! `UnknownPeer` (a reflected frame). Clients are the exception: ids at or above
//! [`CLIENT_ID_MIN`] roam and are admitted on their first authentic datagram
//! ([`Opener::accept_clients`]). A node dropped from the list (removed from the cluster) is
//! still authenticated, then refused as `Removed`, so that the node can tell it (sealed) that
//! it was removed. Everything refused is counted in [`DropCounters`].
//!
//! # Reporting refusals
//!
//! A node logs refused datagrams at most once per source address per [`REPORT_INTERVAL`]
//! ([`DropLog`], with the number left out since), and answers a wrong key, an unknown sender
//! or a known sender from another address with a two-byte unsealed refusal notice
//! ([`notice_for`]), which a client reports as "no authenticated reply".

mod droplog;
mod drops;
pub mod epoch;
mod frame;
mod key;
mod notice;
mod open;
pub mod replay;
mod seal;

#[cfg(test)]
mod tests;

pub use droplog::{DropLog, MAX_SOURCES, REPORT_INTERVAL};
pub use drops::{DropCounters, DropReason};
pub use frame::{HEADER_LEN, MAGIC_VERSION, OVERHEAD, TAG_LEN};
pub use key::{ClusterKey, KeyError};
pub use notice::{notice_for, read_notice, NOTICE_MAGIC};
pub use open::{sender_of, Opened, Opener, PeerBinding, CLIENT_ID_MIN};
pub use seal::{SealError, Sealer};
