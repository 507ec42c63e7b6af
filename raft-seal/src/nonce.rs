//! A datagram's 24-byte XChaCha20 nonce: `prefix ‖ counter`.
//!
//! The 16-byte `prefix` is drawn once per sealer (per process or board boot) from a
//! cryptographically secure generator; the 8-byte counter (little-endian, the value the header
//! carries for replay rejection) strictly increases within a sealer. So a sealer's nonces are
//! pairwise distinct whatever its prefix, and two sealers under the shared cluster key share a
//! nonce only if their 128-bit prefixes are equal (for `S` sealers ever made, probability at
//! most `S² / 2^129`). XChaCha20 derives its subkey from the first 16 nonce bytes (HChaCha20),
//! so each sealer in effect encrypts under its own subkey with a counter nonce.

use crate::frame::NONCE_LEN;

/// Bytes of the per-sealer prefix (the rest of the nonce is the counter).
pub const PREFIX_LEN: usize = 16;

/// The nonce of the datagram with `counter` from a sealer with `prefix`.
pub fn nonce(prefix: &[u8; PREFIX_LEN], counter: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..].copy_from_slice(&counter.to_le_bytes());
    n
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_nonce_is_the_prefix_then_the_counter() {
        let n = nonce(&[9; PREFIX_LEN], 0x0807_0605_0403_0201);
        assert_eq!(n[..PREFIX_LEN], [9; PREFIX_LEN]);
        assert_eq!(n[PREFIX_LEN..], [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
