//! A board's sealed frames: every raft-core frame a board sends is sealed as the host's UDP
//! driver seals a datagram (the format, nonce construction and replay window are `raft-seal`'s,
//! the crate `raft-std-driver`'s transport uses), under the same cluster key file, so a board's
//! datagram is exactly what a host node would send and accept.
//!
//! - **Counters across reboots.** A board's counters start at `epoch << 32`, where the epoch
//!   is strictly greater every boot: the previous boot's epoch + 1, kept in the board's flash
//!   journal and made durable before the first frame is sealed
//!   ([`BoardDisk::advance_epoch`](crate::board_node::BoardDisk::advance_epoch)). So every
//!   frame of a board's earlier boot is below its receivers' windows once the new boot is
//!   heard: a replay of it is [`SealDrop::TooOld`].
//! - **Receiving.** Per peer, an RFC-6479 window of [`WINDOW_BLOCKS`] words (a host keeps 32;
//!   a board has 16 KiB of RAM) over the counter; the checks run in the host's order (length
//!   and version, sender, window, tag) and the window moves only after the tag verified, so
//!   forged frames cannot push it. Every refusal is a counted drop ([`SealDrop`]).
//! - **Nonces.** `prefix ‖ counter` as on the host; the 16-byte prefix is drawn at boot from a
//!   CSPRNG: the XChaCha20 keystream (the cipher already in the image, so no second ChaCha
//!   implementation) keyed by the board's seed and id, with the boot's epoch as its nonce. The
//!   prefix needs to be unique, not secret: the counter alone already keeps one board's nonces
//!   distinct within a boot, and the epoch in the keystream's nonce gives each boot another
//!   prefix. **A real board must seed this generator from its hardware RNG** (at least 256
//!   bits at every boot); under QEMU the semihosting `seed=` stands in for it, and two boards
//!   given the same seed and id would repeat nonces across them.
//!
//! The limit is the host's: a board that reboots forgets its own windows, so a frame recorded
//! before could be accepted once more afterwards. Raft takes such a stale frame as the delayed
//! duplicate it is.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::XChaCha20;
use raft_seal::aead::{self, AeadError};
use raft_seal::frame::{HEADER_LEN, OVERHEAD};
use raft_seal::nonce::PREFIX_LEN;
use raft_seal::replay::{ReplayWindow, Stale};
use raft_seal::XChaCha20Poly1305;
use raftcore::NodeId;

use crate::link::{FRAME_BYTES, NODES};

/// Words in each peer's replay window: counters down to 192 below the highest are tracked
/// one by one (a board sends a few dozen frames per second; the bus delays by milliseconds).
pub const WINDOW_BLOCKS: usize = 4;

/// The tag byte in front of a raft-core frame inside the sealed payload: the host's
/// `raft_std_driver::wire::TAG_RAFT` (its node-to-node datagrams carry `[tag][frame]`; client
/// requests and replies carry other tags, which a board drops as malformed).
pub const TAG_RAFT: u8 = 1;

/// The largest plaintext a board seals or opens: the tag byte and a frame.
pub const MAX_PLAIN: usize = 1 + FRAME_BYTES;

/// The largest sealed datagram a board sends or takes: the tag, a frame and the seal's
/// overhead.
pub const MAX_DATAGRAM: usize = MAX_PLAIN + OVERHEAD;

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SealDrop {
    /// Shorter than a header and tag, longer than [`MAX_DATAGRAM`], or another version.
    Malformed,
    /// The sender is not one of this board's peers (or is this board: a reflected frame).
    UnknownPeer,
    /// A counter this board already took from that sender (a duplicate or a replay).
    Replayed,
    /// A counter below the sender's window, e.g. from the sender's earlier boot.
    TooOld,
    /// The tag did not verify: a forgery, damage, or another key.
    BadTag,
}

/// Why a frame could not be sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SealError {
    /// Every counter of this boot is used (2^32 - 1 frames); the board must reboot.
    CounterExhausted,
    /// The plaintext is longer than [`MAX_PLAIN`] (the buffer cannot hold it and the AEAD
    /// tag).
    TooLarge,
}

/// The nonce prefix of board `id`'s boot `epoch`, from its `seed` (see the module docs: a real
/// board seeds from a hardware RNG).
pub fn nonce_prefix(seed: u64, id: NodeId, epoch: u32) -> [u8; PREFIX_LEN] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..12].copy_from_slice(&id.0.to_le_bytes());
    let mut nonce = [0u8; 24];
    nonce[..4].copy_from_slice(&epoch.to_le_bytes());
    let mut prefix = [0u8; PREFIX_LEN];
    XChaCha20::new(&key.into(), &nonce.into()).apply_keystream(&mut prefix);
    prefix
}

/// A board's sealer and opener: the cipher, this boot's nonce prefix and counter, and one
/// replay window per peer.
pub struct BoardSeal {
    cipher: XChaCha20Poly1305,
    id: NodeId,
    prefix: [u8; PREFIX_LEN],
    next_counter: u64,
    peers: [(NodeId, ReplayWindow<WINDOW_BLOCKS>); NODES - 1],
}

impl BoardSeal {
    /// The seal of board `id` (one of `voters`) under the cluster `key`, for boot `epoch` with
    /// nonce prefix `prefix`. `None` if `id` is not among `voters`.
    pub fn new(
        key: &[u8; 32],
        id: NodeId,
        voters: &[NodeId; NODES],
        epoch: u32,
        prefix: [u8; PREFIX_LEN],
    ) -> Option<BoardSeal> {
        let mut peers = [const { (NodeId(0), ReplayWindow::new()) }; NODES - 1];
        let mut others = voters.iter().filter(|&&v| v != id);
        for slot in &mut peers {
            slot.0 = *others.next()?;
        }
        Some(BoardSeal {
            cipher: aead::cipher(key),
            id,
            prefix,
            next_counter: u64::from(epoch) << 32,
            peers,
        })
    }

    /// Seals the `len` plaintext bytes at `buf[FRAME_AT..]` (for a raft-core frame:
    /// [`TAG_RAFT`] and the frame) in place; returns the datagram's length.
    pub fn seal(&mut self, buf: &mut [u8; MAX_DATAGRAM], len: usize) -> Result<usize, SealError> {
        if len > MAX_PLAIN {
            return Err(SealError::TooLarge);
        }
        let counter = self.next_counter;
        // Within one boot the counter stays below the next epoch's first counter.
        if counter & 0xFFFF_FFFF == 0xFFFF_FFFF {
            return Err(SealError::CounterExhausted);
        }
        self.next_counter = counter + 1;
        aead::seal(&self.cipher, self.id.0, counter, &self.prefix, buf, len)
            .map_err(|_| SealError::TooLarge)
    }

    /// Checks, authenticates and decrypts `datagram` into `buf`; returns the plaintext (for
    /// a raft-core frame: [`TAG_RAFT`] and the frame) and its sender.
    pub fn open<'b>(
        &mut self,
        datagram: &[u8],
        buf: &'b mut [u8; MAX_DATAGRAM],
    ) -> Result<(NodeId, &'b [u8]), SealDrop> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(SealDrop::Malformed);
        }
        let h = aead::header(datagram).map_err(|_| SealDrop::Malformed)?;
        let sender = NodeId(h.sender);
        let (_, window) = self
            .peers
            .iter_mut()
            .find(|(id, _)| *id == sender)
            .ok_or(SealDrop::UnknownPeer)?;
        window.check(h.counter).map_err(|s| match s {
            Stale::Replayed => SealDrop::Replayed,
            Stale::TooOld => SealDrop::TooOld,
        })?;
        let d = &mut buf[..datagram.len()];
        d.copy_from_slice(datagram);
        let (_, range) = aead::open(&self.cipher, d).map_err(|e| match e {
            AeadError::BadTag => SealDrop::BadTag,
            AeadError::Malformed => SealDrop::Malformed,
        })?;
        // Authentic: only now may the window move.
        window.mark(h.counter);
        Ok((sender, &buf[range]))
    }

    /// The next counter this board will seal with.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }
}

/// Where the plaintext starts in the buffer [`BoardSeal::seal`] seals in place.
pub const FRAME_AT: usize = HEADER_LEN;
