//! Target 1: frame round trip.

use raftcore::codec;

/// Decodes `data` as a frame; if it decodes, re-encodes it with [`codec::encode_wire`] and
/// requires the same bytes, then decodes those again and requires the same header and
/// message. Decoding must never panic (that is the rest of the check).
pub fn frame_roundtrip(data: &[u8]) {
    let Ok((hdr, msg)) = codec::decode(data) else {
        return;
    };
    let mut buf = vec![0u8; data.len() + codec::MAX_HEADER_BYTES as usize];
    let n = match codec::encode_wire(&hdr, &msg, &mut buf) {
        Ok(n) => n,
        Err(e) => panic!("a decoded frame does not re-encode ({e}): {data:02x?}"),
    };
    if CANONICAL_FRAMES {
        assert_eq!(
            &buf[..n],
            data,
            "re-encoding a decoded frame changed its bytes: {hdr:?} {msg:?}"
        );
    }
    let again = &buf[..n];
    match codec::decode(again) {
        Ok((h2, m2)) => {
            assert_eq!(h2, hdr, "header changed across a round trip");
            assert_eq!(m2, msg, "message changed across a round trip");
            // The encoder's output is canonical: it is a fixed point of decode + encode.
            let mut buf2 = vec![0u8; n];
            let n2 = codec::encode_wire(&h2, &m2, &mut buf2).expect("encodes again");
            assert_eq!(&buf2[..n2], again, "encoding is not a fixed point");
        }
        Err(e) => panic!("a re-encoded frame does not decode ({e}): {data:02x?}"),
    }
}

/// Whether [`frame_roundtrip`] requires a decoded frame to re-encode to exactly its own
/// bytes. The decoder rejects overlong postcard varints (`[1, 0, 0x81, 0x00, ...]` once read
/// `from` = 1 written in two bytes; see `raft-sim/tests/known_bugs.rs`), so it does.
pub const CANONICAL_FRAMES: bool = true;
