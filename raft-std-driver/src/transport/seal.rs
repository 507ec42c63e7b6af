//! Sealing outgoing datagrams.

use std::fmt;

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{AeadInPlace, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::frame::{HEADER_LEN, MAGIC_VERSION, NONCE_AT, OVERHEAD, TAG_LEN};
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
    /// The OS random generator failed (no nonce could be drawn).
    Rng,
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
            SealError::Rng => f.write_str("OS random number generator failed"),
            SealError::Aead => f.write_str("encryption failed"),
        }
    }
}

impl std::error::Error for SealError {}

/// Seals datagrams from one node (or client).
pub struct Sealer {
    cipher: XChaCha20Poly1305,
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
    /// [`epoch`](super::epoch)); datagrams are at most `max_datagram` bytes.
    pub fn new(key: &ClusterKey, local_id: u32, epoch: u32, max_datagram: usize) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.as_bytes().into()),
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
        let mut nonce = [0u8; 24];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| SealError::Rng)?;

        out.clear();
        out.push(MAGIC_VERSION);
        out.extend_from_slice(&self.local_id.to_le_bytes());
        out.extend_from_slice(&counter.to_le_bytes());
        out.extend_from_slice(&nonce);
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
