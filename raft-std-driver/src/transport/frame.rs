//! Byte layout of a sealed datagram.

/// First byte of every sealed datagram: magic nibble `0xA`, format version 1.
pub const MAGIC_VERSION: u8 = 0xA1;

/// Offset of the sender id.
pub(crate) const SENDER_AT: usize = 1;
/// Offset of the counter.
pub(crate) const COUNTER_AT: usize = 5;
/// Offset of the nonce.
pub(crate) const NONCE_AT: usize = 13;
/// Bytes of the nonce.
pub(crate) const NONCE_LEN: usize = 24;

/// Bytes of the header (version, sender, counter, nonce), all authenticated.
pub const HEADER_LEN: usize = NONCE_AT + NONCE_LEN;
/// Bytes of the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a plaintext: a frame of `n` bytes becomes a datagram of
/// `n + OVERHEAD` bytes. raft-core's `max_frame_bytes` must leave room for it.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The header fields, read from a datagram at least `HEADER_LEN` long.
pub(crate) struct Header {
    pub(crate) version: u8,
    pub(crate) sender: u32,
    pub(crate) counter: u64,
}

impl Header {
    pub(crate) fn read(d: &[u8]) -> Option<Header> {
        Some(Header {
            version: *d.first()?,
            sender: u32::from_le_bytes(d.get(SENDER_AT..COUNTER_AT)?.try_into().ok()?),
            counter: u64::from_le_bytes(d.get(COUNTER_AT..NONCE_AT)?.try_into().ok()?),
        })
    }
}
