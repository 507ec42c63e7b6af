//! A hand-written fast path for the two hot messages (AppendEntries and its response),
//! byte-for-byte the postcard encoding of the same serde types: LEB128 varints for integers,
//! a varint variant index for the enum, one byte for a bool. Profiles showed the generic
//! serde path costing most of a heartbeat's instructions; this path produces exactly what
//! postcard does and decodes exactly the canonical frames (a differential test checks both
//! directions on random input). Every other message still goes through postcard.
//!
//! The reader accepts only the canonical encoding (shortest varints, a bool as 0 or 1), so a
//! head it decodes needs no re-encoding to prove it canonical. Anything else (a non-canonical,
//! truncated or malformed head, another message) makes it give up and the caller takes the
//! postcard path, which decides and reports exactly as before.

use super::frame::{Header, MAX_HEADER_BYTES};

/// Whether the fast path is built in: on hosts, where it saves most of a heartbeat's
/// instructions; not on bare-metal targets (`target_os = "none"`), where flash is the budget:
/// it took 5,944 B of the one-node board image, for frames postcard reads and writes byte for
/// byte the same.
use crate::error::CodecError;
use crate::message::{Append, AppendResponse, EntryCount, Message};
use crate::types::{LogIndex, NodeId, Term};

pub(super) const ON: bool = cfg!(not(target_os = "none"));

/// postcard's variant index of `Message::Append`.
const TAG_APPEND: u8 = 4;
/// postcard's variant index of `Message::AppendResponse`.
const TAG_APPEND_RESPONSE: u8 = 5;

/// Scratch size of the writer: a power of two above the longest hot head (77 bytes), so an
/// index masked with `SCRATCH - 1` needs no bounds check.
const SCRATCH: usize = 128;
// Invariant: a const item, evaluated at compile time: if the scratch could not hold the longest
// header the build fails; nothing is checked, and nothing can panic, at run time.
const _: () = assert!(SCRATCH >= MAX_HEADER_BYTES as usize);

struct Writer<'b> {
    buf: &'b mut [u8; SCRATCH],
    at: usize,
}

impl Writer<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        // `at` never exceeds 77 (the longest head); the mask only spares the bounds check.
        // Invariant: `buf` is a `[u8; SCRATCH]`, and an index masked with `SCRATCH - 1` is at most
        // `SCRATCH - 1`, whatever `at` is.
        self.buf[self.at & (SCRATCH - 1)] = b;
        self.at += 1;
    }

    #[inline(always)]
    fn var(&mut self, mut v: u64) {
        if v < 0x80 {
            // Most fields (small terms, rounds, counts) take one byte.
            self.byte(v as u8);
            return;
        }
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }
}

/// Encodes the frame head for an Append or AppendResponse; `None` for other messages.
#[inline(always)] // Into `codec::encode`; plain `#[inline]` left it a register spill behind.
pub(crate) fn encode_head(
    version: u8,
    hdr: &Header,
    msg: &Message<EntryCount>,
    buf: &mut [u8],
) -> Option<Result<usize, CodecError>> {
    if !matches!(msg, Message::Append(_) | Message::AppendResponse(_)) {
        return None;
    }
    if let Some(direct) = buf.get_mut(..SCRATCH) {
        // The usual case: a frame buffer with room for any head, written in place.
        let direct: &mut [u8; SCRATCH] = direct.try_into().ok()?;
        return Some(Ok(write_hot(direct, version, hdr, msg)));
    }
    let mut scratch = [0u8; SCRATCH];
    let n = write_hot(&mut scratch, version, hdr, msg);
    Some(match buf.get_mut(..n) {
        Some(out) => {
            // Invariant: `n` is what `write_hot` wrote, at most 77 bytes (the longest head: version
            // 1, three u32 varints of at most 5, tag 1, five u64 varints of at most 10, two u32
            // varints of at most 5), below `SCRATCH` (128); `out` is `buf.get_mut(..n)`, also `n`
            // bytes, so the copy's two sides have the same length.
            out.copy_from_slice(&scratch[..n]);
            Ok(n)
        }
        None => Err(CodecError::BufferTooSmall),
    })
}

#[inline(always)]
fn write_hot(
    buf: &mut [u8; SCRATCH],
    version: u8,
    hdr: &Header,
    msg: &Message<EntryCount>,
) -> usize {
    let mut w = Writer { buf, at: 0 };
    w.byte(version);
    w.var(u64::from(hdr.cluster_id));
    w.var(u64::from(hdr.from.0));
    w.var(u64::from(hdr.to.0));
    match msg {
        Message::Append(a) => {
            w.byte(TAG_APPEND);
            w.var(a.term.0);
            w.var(a.prev_index.0);
            w.var(a.prev_term.0);
            w.var(a.commit.0);
            w.var(a.floor.0);
            w.var(u64::from(a.round));
            w.var(u64::from(a.entries.0));
        }
        Message::AppendResponse(r) => {
            w.byte(TAG_APPEND_RESPONSE);
            w.var(r.term.0);
            w.byte(u8::from(r.success));
            w.var(r.index.0);
            w.var(r.hint_index.0);
            w.var(r.hint_term.0);
            w.var(u64::from(r.round));
            w.var(r.commit.0);
        }
        // Checked by the caller.
        _ => {}
    }
    w.at
}

/// Bytes of the frame the reader copies into its padded scratch: more than the longest hot
/// head (77 bytes).
const HEAD_COPY: usize = 96;
/// The reader's scratch: the copied head, then zeros. Every read is masked into its first 128
/// bytes and may load a word past that, so no read needs a bounds check.
const PADDED: usize = 128 + 16;

/// Reads from a zero-padded copy of the frame's first bytes. A read past the real bytes sees
/// zeros; [`decode_head`] refuses the head if it read past them (`at > len`).
struct Reader<'a> {
    b: &'a [u8; PADDED],
    at: usize,
}

impl Reader<'_> {
    #[inline(always)]
    fn byte(&mut self) -> u8 {
        // Invariant: `b` is a `[u8; PADDED]` (144 bytes) and the index is masked below 128.
        let b = self.b[self.at & 127];
        self.at += 1;
        b
    }

    #[inline(always)]
    fn word(&self) -> u64 {
        let at = self.at & 127;
        let mut w = [0u8; 8];
        // Invariant: `at` is masked below 128, so `at + 8 <= 135` is within `b`'s `PADDED` (144)
        // bytes, and the range is 8 bytes, the length of `w`.
        w.copy_from_slice(&self.b[at..at + 8]);
        u64::from_le_bytes(w)
    }

    /// A canonical varint of at most `max` bytes, the last carrying at most `last_max`: the
    /// shortest encoding of its value, so a last byte of 0 after the first is refused.
    #[inline(always)]
    fn var(&mut self, max: u32, last_max: u8) -> Option<u64> {
        let x = self.word();
        if x & 0x80 == 0 {
            // One-byte varint: the common case.
            self.at += 1;
            return Some(x & 0x7F);
        }
        // Up to 8 bytes at once: find the last byte (the first without the continuation
        // bit) and gather the 7-bit groups with shifts, without a loop.
        let stops = !x & 0x8080_8080_8080_8080;
        if stops == 0 {
            return self.var_long(max, last_max);
        }
        let bits = stops.trailing_zeros() + 1; // through the last byte's top bit
        let len = bits / 8;
        // Canonical: the last byte (not the first, which has its top bit set) is not 0. At
        // most 8 bytes carry 56 bits, within u64's 10 bytes, so `last_max` only matters for a
        // u32 of 5 bytes.
        let last = (x >> (bits - 8)) as u8;
        if last == 0 || len > max || (len == max && last > last_max) {
            return None;
        }
        let v = if bits == 64 {
            x
        } else {
            x & ((1u64 << bits) - 1)
        };
        let v = v & 0x7F7F_7F7F_7F7F_7F7F;
        let v = (v & 0x007F_007F_007F_007F) | ((v & 0x7F00_7F00_7F00_7F00) >> 1);
        let v = (v & 0x0000_3FFF_0000_3FFF) | ((v & 0x3FFF_0000_3FFF_0000) >> 2);
        let v = (v & 0x0000_0000_0FFF_FFFF) | ((v & 0x0FFF_FFFF_0000_0000) >> 4);
        self.at += len as usize;
        Some(v)
    }

    /// A varint of more than 8 bytes (u64 values of 2^56 and above), byte by byte.
    #[inline(always)]
    fn var_long(&mut self, max: u32, last_max: u8) -> Option<u64> {
        let (v, at) = var_long(self.b, self.at, max, last_max)?;
        self.at = at;
        Some(v)
    }

    #[inline(always)]
    fn u32(&mut self) -> Option<u32> {
        self.var(5, 0x0F).map(|v| v as u32)
    }

    #[inline(always)]
    fn u64(&mut self) -> Option<u64> {
        self.var(10, 0x01)
    }

    #[inline(always)]
    fn bool(&mut self) -> Option<bool> {
        match self.byte() {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// [`Reader::var`] past 8 bytes: the value and the offset after it. Out of line and by value,
/// so the reader's offset stays in a register on the hot path.
#[cold]
fn var_long(b: &[u8; PADDED], mut at: usize, max: u32, last_max: u8) -> Option<(u64, usize)> {
    let mut out = 0u64;
    for i in 0..max {
        // Invariant: `b` is a `[u8; PADDED]` (144 bytes) and the index is masked below 128.
        let v = b[at & 127];
        at += 1;
        out |= u64::from(v & 0x7F) << (7 * i);
        if v & 0x80 == 0 {
            if (i > 0 && v == 0) || (i == max - 1 && v > last_max) {
                return None;
            }
            return Some((out, at));
        }
    }
    None
}

/// Decodes the frame head when it is the canonical encoding of an Append or AppendResponse:
/// the header, the message, and the bytes after it. `None` for anything else (another
/// message, a malformed, truncated or non-canonical head), which the caller decodes, and
/// judges, through postcard. The first byte (the version) is not looked at.
#[allow(clippy::type_complexity)] // A one-off internal tuple; naming it adds nothing.
#[inline]
pub(crate) fn decode_head(frame: &[u8]) -> Option<(Header, Message<EntryCount>, &[u8])> {
    let mut pad = [0u8; PADDED];
    let len = frame.len().min(HEAD_COPY);
    // Invariant: `pad` is `PADDED` (144) bytes. `Some`: `head` is exactly `HEAD_COPY` (96) bytes,
    // the length of `pad[..HEAD_COPY]`. `None`: `frame` is shorter than `HEAD_COPY`, so `len` =
    // `frame.len()` (< 96) and `pad[..len]` has the length of `frame`.
    match frame.get(..HEAD_COPY) {
        // A fixed-size copy (no call) for the frames long enough, usually those with entries.
        Some(head) => pad[..HEAD_COPY].copy_from_slice(head),
        None => pad[..len].copy_from_slice(frame),
    }
    let mut r = Reader { b: &pad, at: 1 };
    let cluster_id = r.u32()?;
    let from = NodeId(r.u32()?);
    let to = NodeId(r.u32()?);
    let msg = match r.byte() {
        TAG_APPEND => Message::Append(Append {
            term: Term(r.u64()?),
            prev_index: LogIndex(r.u64()?),
            prev_term: Term(r.u64()?),
            commit: LogIndex(r.u64()?),
            floor: LogIndex(r.u64()?),
            round: r.u32()?,
            entries: EntryCount(r.u32()?),
        }),
        TAG_APPEND_RESPONSE => Message::AppendResponse(AppendResponse {
            term: Term(r.u64()?),
            success: r.bool()?,
            index: LogIndex(r.u64()?),
            hint_index: LogIndex(r.u64()?),
            hint_term: Term(r.u64()?),
            round: r.u32()?,
            commit: LogIndex(r.u64()?),
        }),
        _ => return None,
    };
    if r.at > len {
        // Read past the frame (into the padding): truncated, or a head longer than the copy.
        return None;
    }
    let hdr = Header {
        cluster_id,
        from,
        to,
    };
    Some((hdr, msg, frame.get(r.at..)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::VERSION;
    use crate::message::VoteRequest;

    /// The header and two hot messages the tests below encode: varints of one byte, of
    /// several, of the most a `u32` takes, and past 8 bytes (a `u64` of 2^56 and more).
    fn hot() -> (Header, [Message<EntryCount>; 2]) {
        let hdr = Header {
            cluster_id: 300,
            from: NodeId(1),
            to: NodeId(u32::MAX),
        };
        let append = Message::Append(Append {
            term: Term(5),
            prev_index: LogIndex(1 << 40),
            prev_term: Term(4),
            commit: LogIndex(200),
            floor: LogIndex(1 << 60),
            round: 9,
            entries: EntryCount(3),
        });
        let response = Message::AppendResponse(AppendResponse {
            term: Term(5),
            success: true,
            index: LogIndex(u64::MAX),
            hint_index: LogIndex(0),
            hint_term: Term(0),
            round: u32::MAX,
            commit: LogIndex(128),
        });
        (hdr, [append, response])
    }

    /// The fast path decodes the two hot messages itself (it does not leave them to
    /// postcard), from a frame of the head alone, shorter than the head copy or longer, and
    /// gives back the bytes after the head.
    #[test]
    fn the_hot_messages_are_decoded_on_the_fast_path() {
        let (hdr, msgs) = hot();
        let refused = AppendResponse {
            term: Term(1),
            success: false,
            index: LogIndex(2),
            hint_index: LogIndex(1),
            hint_term: Term(1),
            round: 0,
            commit: LogIndex(1),
        };
        for msg in msgs.into_iter().chain([Message::AppendResponse(refused)]) {
            for body in [&[][..], &[7u8, 8], &[9; 100]] {
                let mut frame = [0u8; 256];
                let head = (VERSION, hdr.cluster_id, hdr.from, hdr.to, &msg);
                let n = postcard::to_slice(&head, &mut frame).unwrap().len();
                frame[n..n + body.len()].copy_from_slice(body);
                let frame = &frame[..n + body.len()];
                assert_eq!(decode_head(frame), Some((hdr, msg, body)), "{msg:?}");
            }
        }
    }

    /// The two hot messages take the fast path, in a frame buffer of any size that holds
    /// them, and it writes postcard's bytes; every other message is left to postcard.
    #[test]
    fn the_hot_messages_take_the_fast_path_and_the_others_do_not() {
        let (hdr, msgs) = hot();
        for msg in msgs {
            let mut expected = [0u8; SCRATCH];
            let head = (VERSION, hdr.cluster_id, hdr.from, hdr.to, &msg);
            let expected = postcard::to_slice(&head, &mut expected).unwrap();
            for size in [SCRATCH + 10, expected.len()] {
                let mut buf = [0u8; SCRATCH + 10];
                let r = encode_head(VERSION, &hdr, &msg, &mut buf[..size]);
                assert_eq!(r, Some(Ok(expected.len())), "{msg:?} in {size} bytes");
                assert_eq!(&buf[..expected.len()], &*expected);
            }
            let mut short = [0u8; 8];
            assert_eq!(
                encode_head(VERSION, &hdr, &msg, &mut short),
                Some(Err(CodecError::BufferTooSmall))
            );
        }
        let vote = Message::Vote(VoteRequest {
            term: Term(5),
            last_index: LogIndex(3),
            last_term: Term(2),
        });
        assert_eq!(encode_head(VERSION, &hdr, &vote, &mut [0u8; SCRATCH]), None);
    }
}
