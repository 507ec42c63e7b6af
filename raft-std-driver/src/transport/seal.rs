//! Sealing outgoing datagrams.

use std::fmt;

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{AeadInPlace, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use raft_seal::nonce::{nonce, PREFIX_LEN};

use super::frame::{Header, HEADER_LEN, MAGIC_VERSION, NONCE_AT, OVERHEAD, TAG_LEN};
use super::ClusterKey;

/// Why a datagram could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The sealed datagram would exceed the maximum datagram size.
    TooLarge {
        /// The plaintext's length.
        len: usize,
        /// The largest plaintext that fits.
        max: usize,
    },
    /// Every counter of this boot is used (2^32 frames per second of the epoch); restart.
    CounterExhausted,
    /// The AEAD refused the input (it cannot for lengths within a datagram).
    Aead,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte limit")
            }
            SealError::CounterExhausted => f.write_str("datagram counter exhausted"),
            SealError::Aead => f.write_str("encryption failed"),
        }
    }
}

impl std::error::Error for SealError {}

/// Seals datagrams from one node (or client).
///
/// # Nonces without a system call per datagram
///
/// A datagram's 24-byte XChaCha20 nonce is `prefix ‖ counter`: a 16-byte `prefix` drawn once
/// from the OS random generator when the sealer is made (one `getrandom` per sealer, not
/// per datagram), then the datagram's 8-byte counter (little-endian, the same value the header
/// carries for replay rejection). The nonce still travels in the header, so a receiver needs
/// nothing new.
///
/// Why no nonce repeats under the cluster key (every node and client shares it):
///
/// * within one sealer the counter strictly increases (it is checked for overflow, and a
///   sealer is never cloned), so its nonces are pairwise distinct whatever the prefix;
/// * two sealers (two nodes, two boots of one node, two clients) share a nonce only if their
///   prefixes are equal: independent uniform 128-bit values, so with `S` sealers ever made
///   under one key the chance is at most `S² / 2^129` (`S = 2^32` boots and clients gives
///   `2^-65`), the same order as the 192-bit random nonce it replaces over `2^64` datagrams.
///
/// It does not rest on the boot epoch or on the clock (a client's epoch is only the time), and
/// the prefix is never derived from state that a restart could repeat: a restarted process
/// draws a fresh one. XChaCha20 takes its subkey from the first 16 nonce bytes (HChaCha20), so
/// each sealer in effect encrypts under its own random subkey with a counter nonce, which is
/// the construction's intended use.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// The nonce's first 16 bytes, random per sealer.
    prefix: [u8; PREFIX_LEN],
    local_id: u32,
    next_counter: u64,
    max_datagram: usize,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("local_id", &self.local_id)
            .field("next_counter", &self.next_counter)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer for `local_id` whose counters start at `epoch << 32` (see
    /// [`epoch`](super::epoch)); datagrams are at most `max_datagram` bytes. Draws the nonce
    /// prefix from the OS random generator (the only system call sealing makes).
    ///
    /// # Panics
    ///
    /// If the OS random generator fails (as `OsRng` does): no safe nonce could be made.
    pub fn new(key: &ClusterKey, local_id: u32, epoch: u32, max_datagram: usize) -> Sealer {
        let mut prefix = [0u8; PREFIX_LEN];
        OsRng.fill_bytes(&mut prefix);
        Sealer {
            cipher: XChaCha20Poly1305::new(key.as_bytes().into()),
            prefix,
            local_id,
            next_counter: u64::from(epoch) << 32,
            max_datagram,
        }
    }

    /// The largest plaintext [`Sealer::seal`] accepts.
    pub fn max_plaintext(&self) -> usize {
        self.max_datagram.saturating_sub(OVERHEAD)
    }

    /// Replaces `out` with the sealed datagram for `plaintext`.
    pub fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        if plaintext.len() > self.max_plaintext() {
            return Err(SealError::TooLarge {
                len: plaintext.len(),
                max: self.max_plaintext(),
            });
        }
        let counter = self.next_counter;
        self.next_counter = counter.checked_add(1).ok_or(SealError::CounterExhausted)?;
        let nonce = nonce(&self.prefix, counter);
        let header = Header {
            version: MAGIC_VERSION,
            sender: self.local_id,
            counter,
        };

        out.clear();
        out.extend_from_slice(&header.bytes(&nonce));
        debug_assert_eq!(out.len(), HEADER_LEN);
        debug_assert_eq!(&out[NONCE_AT..], &nonce);
        out.extend_from_slice(plaintext);
        let (header, body) = out.split_at_mut(HEADER_LEN);
        let tag = self
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), header, body)
            .map_err(|_| SealError::Aead)?;
        debug_assert_eq!(tag.len(), TAG_LEN);
        out.extend_from_slice(&tag);
        Ok(())
    }
}
