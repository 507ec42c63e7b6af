//! Sealing and opening one datagram in place, in a buffer the caller owns (no alloc).
//!
//! Both take the cipher (built once from the cluster key) and work on the datagram's bytes in
//! the caller's buffer: the plaintext is encrypted where it lies after the header, and the tag
//! follows it. Checking the sender and the replay window is the caller's, before [`open`]
//! (cheap refusals first) and after it (only an authentic datagram may move a window).

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use crate::frame::{Header, HEADER_LEN, MAGIC_VERSION, NONCE_AT, OVERHEAD, TAG_LEN};
use crate::nonce::{nonce, PREFIX_LEN};

/// Why a datagram could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadError {
    /// The buffer cannot hold the header, plaintext and tag (seal), or the datagram is shorter
    /// than a header and tag or has another version byte (open).
    Malformed,
    /// The tag did not verify: a wrong key, a forgery or damage in transit.
    BadTag,
}

/// The cipher for the cluster `key`.
pub fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// Seals the `len` plaintext bytes at `buf[HEADER_LEN..]` as the datagram with `counter` from
/// `sender` (nonce `prefix ‖ counter`): writes the header before them and the tag after, and
/// returns the datagram's length, `len + OVERHEAD`.
pub fn seal(
    cipher: &XChaCha20Poly1305,
    sender: u32,
    counter: u64,
    prefix: &[u8; PREFIX_LEN],
    buf: &mut [u8],
    len: usize,
) -> Result<usize, AeadError> {
    let total = len.checked_add(OVERHEAD).ok_or(AeadError::Malformed)?;
    let buf = buf.get_mut(..total).ok_or(AeadError::Malformed)?;
    let nonce = nonce(prefix, counter);
    let header = Header {
        version: MAGIC_VERSION,
        sender,
        counter,
    };
    buf[..HEADER_LEN].copy_from_slice(&header.bytes(&nonce));
    let (head, rest) = buf.split_at_mut(HEADER_LEN);
    let (body, tag_out) = rest.split_at_mut(len);
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), head, body)
        .map_err(|_| AeadError::Malformed)?;
    tag_out.copy_from_slice(&tag);
    Ok(total)
}

/// The header of `datagram` if it is long enough and of this version (no cryptography: the
/// caller checks the sender and the replay window with it before [`open`]).
pub fn header(datagram: &[u8]) -> Result<Header, AeadError> {
    if datagram.len() < OVERHEAD {
        return Err(AeadError::Malformed);
    }
    match Header::read(datagram) {
        Some(h) if h.version == MAGIC_VERSION => Ok(h),
        _ => Err(AeadError::Malformed),
    }
}

/// Authenticates and decrypts `datagram` in place; returns its header and the plaintext's
/// range in `datagram`. On [`AeadError::BadTag`] the body may be left scrambled.
pub fn open(
    cipher: &XChaCha20Poly1305,
    datagram: &mut [u8],
) -> Result<(Header, core::ops::Range<usize>), AeadError> {
    let h = header(datagram)?;
    let end = datagram.len() - TAG_LEN;
    let (head, rest) = datagram.split_at_mut(HEADER_LEN);
    let (body, tag) = rest.split_at_mut(end - HEADER_LEN);
    let nonce = XNonce::from_slice(&head[NONCE_AT..HEADER_LEN]);
    cipher
        .decrypt_in_place_detached(nonce, head, body, Tag::from_slice(tag))
        .map_err(|_| AeadError::BadTag)?;
    Ok((h, HEADER_LEN..end))
}

#[cfg(test)]
mod test {
    use super::*;

    fn key(k: u8) -> XChaCha20Poly1305 {
        cipher(&[k; 32])
    }

    #[test]
    fn a_sealed_datagram_opens_and_damage_does_not() {
        let c = key(1);
        let mut buf = [0u8; 128];
        buf[HEADER_LEN..HEADER_LEN + 5].copy_from_slice(b"hello");
        let n = seal(&c, 3, 9 << 32, &[7; PREFIX_LEN], &mut buf, 5).unwrap();
        assert_eq!(n, 5 + OVERHEAD);
        let sealed = buf;
        let (h, r) = open(&c, &mut buf[..n]).unwrap();
        assert_eq!((h.sender, h.counter), (3, 9 << 32));
        assert_eq!(&buf[r], b"hello");
        // Every single-bit flip, header included, fails (or, in the version byte, is malformed).
        for at in 0..n {
            let mut d = sealed;
            d[at] ^= 0x10;
            assert!(open(&c, &mut d[..n]).is_err(), "flip at {at} accepted");
        }
        let mut d = sealed;
        assert_eq!(open(&key(2), &mut d[..n]), Err(AeadError::BadTag));
        assert_eq!(open(&c, &mut d[..OVERHEAD - 1]), Err(AeadError::Malformed));
        assert_eq!(
            seal(&c, 3, 1, &[7; PREFIX_LEN], &mut [0u8; 60], 8),
            Err(AeadError::Malformed)
        );
    }
}
