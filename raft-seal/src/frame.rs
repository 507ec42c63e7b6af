//! Byte layout of a sealed datagram's header.

/// First byte of every sealed datagram: magic nibble `0xA`, format version 1.
pub const MAGIC_VERSION: u8 = 0xA1;

/// Offset of the sender id.
pub const SENDER_AT: usize = 1;
/// Offset of the counter.
pub const COUNTER_AT: usize = 5;
/// Offset of the nonce.
pub const NONCE_AT: usize = 13;
/// Bytes of the nonce.
pub const NONCE_LEN: usize = 24;

/// Bytes of the header (version, sender, counter, nonce), all authenticated.
pub const HEADER_LEN: usize = NONCE_AT + NONCE_LEN;
/// Bytes of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a plaintext: a frame of `n` bytes becomes a datagram of
/// `n + OVERHEAD` bytes. raft-core's `max_frame_bytes` must leave room for it.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The magic/version byte ([`MAGIC_VERSION`] for this format).
    pub version: u8,
    /// The sender's node (or client) id.
    pub sender: u32,
    /// The sender's datagram counter (its boot epoch is `counter >> 32`).
    pub counter: u64,
}

impl Header {
    /// The fields of a datagram at least [`COUNTER_AT`]` + 8` bytes long (`None` if shorter).
    pub fn read(d: &[u8]) -> Option<Header> {
        Some(Header {
            version: *d.first()?,
            sender: u32::from_le_bytes(d.get(SENDER_AT..COUNTER_AT)?.try_into().ok()?),
            counter: u64::from_le_bytes(d.get(COUNTER_AT..NONCE_AT)?.try_into().ok()?),
        })
    }

    /// The header's bytes, with `nonce`.
    pub fn bytes(&self, nonce: &[u8; NONCE_LEN]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = self.version;
        h[SENDER_AT..COUNTER_AT].copy_from_slice(&self.sender.to_le_bytes());
        h[COUNTER_AT..NONCE_AT].copy_from_slice(&self.counter.to_le_bytes());
        h[NONCE_AT..].copy_from_slice(nonce);
        h
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_header_reads_back_what_was_written() {
        let h = Header {
            version: MAGIC_VERSION,
            sender: 0x0102_0304,
            counter: 7 << 32 | 9,
        };
        let b = h.bytes(&[5; NONCE_LEN]);
        assert_eq!(b[..5], [0xA1, 4, 3, 2, 1]);
        assert_eq!(Header::read(&b), Some(h));
        assert_eq!(&b[NONCE_AT..], &[5; NONCE_LEN]);
        assert_eq!(Header::read(&b[..12]), None);
    }
}
