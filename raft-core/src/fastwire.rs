//! A hand-written fast path for the two hot messages (AppendEntries and its response),
//! byte-for-byte the postcard encoding of the same serde types: LEB128 varints for integers,
//! a varint variant index for the enum, one byte for a bool. Profiles showed the generic
//! serde path costing most of a heartbeat's instructions; this path produces and accepts
//! exactly what postcard does (a differential test checks both directions on random input),
//! and every other message still goes through postcard.

use crate::codec::{CodecError, Header};
use crate::message::{Append, AppendResponse, EntryCount, Message};
use crate::types::{LogIndex, NodeId, Term};

/// postcard's variant index of `Message::Append`.
const TAG_APPEND: u32 = 4;
/// postcard's variant index of `Message::AppendResponse`.
const TAG_APPEND_RESPONSE: u32 = 5;

struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) -> Result<(), CodecError> {
        let slot = self
            .buf
            .get_mut(self.at)
            .ok_or(CodecError::BufferTooSmall)?;
        *slot = b;
        self.at += 1;
        Ok(())
    }

    #[inline]
    fn var(&mut self, mut v: u64) -> Result<(), CodecError> {
        if v < 0x80 {
            // Most fields (small terms, rounds, counts) take one byte.
            return self.byte(v as u8);
        }
        while v >= 0x80 {
            self.byte((v as u8) | 0x80)?;
            v >>= 7;
        }
        self.byte(v as u8)
    }
}

/// Encodes the frame head for an Append or AppendResponse; `None` for other messages.
pub(crate) fn encode_head(
    version: u8,
    hdr: &Header,
    msg: &Message<EntryCount>,
    buf: &mut [u8],
) -> Option<Result<usize, CodecError>> {
    if !matches!(msg, Message::Append(_) | Message::AppendResponse(_)) {
        return None;
    }
    let mut w = Writer { buf, at: 0 };
    Some(write_hot(&mut w, version, hdr, msg).map(|()| w.at))
}

fn write_hot(
    w: &mut Writer<'_>,
    version: u8,
    hdr: &Header,
    msg: &Message<EntryCount>,
) -> Result<(), CodecError> {
    w.byte(version)?;
    w.var(u64::from(hdr.cluster_id))?;
    w.var(u64::from(hdr.from.0))?;
    w.var(u64::from(hdr.to.0))?;
    match msg {
        Message::Append(a) => {
            w.var(u64::from(TAG_APPEND))?;
            for v in [
                a.term.0,
                a.prev_index.0,
                a.prev_term.0,
                a.commit.0,
                a.floor.0,
            ] {
                w.var(v)?;
            }
            w.var(u64::from(a.round))?;
            w.var(u64::from(a.entries.0))
        }
        Message::AppendResponse(r) => {
            w.var(u64::from(TAG_APPEND_RESPONSE))?;
            w.var(r.term.0)?;
            w.byte(u8::from(r.success))?;
            for v in [r.index.0, r.hint_index.0, r.hint_term.0] {
                w.var(v)?;
            }
            w.var(u64::from(r.round))?;
            w.var(r.commit.0)
        }
        _ => Err(CodecError::Malformed),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.b.get(self.at).ok_or(CodecError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    /// postcard's varint: at most `max` bytes, the last carrying at most `last_max`;
    /// non-canonical encodings are accepted, as postcard accepts them.
    #[inline]
    fn var(&mut self, max: u32, last_max: u8) -> Result<u64, CodecError> {
        if let Some(&b) = self.b.get(self.at) {
            if b < 0x80 {
                // One-byte varint: the common case.
                self.at += 1;
                return Ok(u64::from(b));
            }
        }
        let mut out = 0u64;
        for i in 0..max {
            let v = self.byte()?;
            out |= u64::from(v & 0x7F) << (7 * i);
            if v & 0x80 == 0 {
                if i == max - 1 && v > last_max {
                    return Err(CodecError::Malformed);
                }
                return Ok(out);
            }
        }
        Err(CodecError::Malformed)
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        self.var(5, 0x0F).map(|v| v as u32)
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        self.var(10, 0x01)
    }

    fn bool(&mut self) -> Result<bool, CodecError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Malformed),
        }
    }
}

/// Decodes the frame head when the message is an Append or AppendResponse: the header, the
/// message, and the bytes after it. `None` for any other message (or if the head is not
/// even a header), which the caller decodes with postcard.
#[allow(clippy::type_complexity)] // A one-off internal tuple; naming it adds nothing.
pub(crate) fn decode_head(
    frame: &[u8],
) -> Option<Result<(Header, Message<EntryCount>, &[u8]), CodecError>> {
    let mut r = Reader { b: frame, at: 0 };
    let head = (|| -> Result<(Header, u32), CodecError> {
        r.byte()?;
        let cluster_id = r.u32()?;
        let from = NodeId(r.u32()?);
        let to = NodeId(r.u32()?);
        let tag = r.u32()?;
        Ok((
            Header {
                cluster_id,
                from,
                to,
            },
            tag,
        ))
    })();
    let (hdr, tag) = match head {
        Ok(h) => h,
        // Let postcard report the error of a malformed head: it decides the same way.
        Err(_) => return None,
    };
    let body = match tag {
        TAG_APPEND => (|| {
            Ok(Message::Append(Append {
                term: Term(r.u64()?),
                prev_index: LogIndex(r.u64()?),
                prev_term: Term(r.u64()?),
                commit: LogIndex(r.u64()?),
                floor: LogIndex(r.u64()?),
                round: r.u32()?,
                entries: EntryCount(r.u32()?),
            }))
        })(),
        TAG_APPEND_RESPONSE => (|| {
            Ok(Message::AppendResponse(AppendResponse {
                term: Term(r.u64()?),
                success: r.bool()?,
                index: LogIndex(r.u64()?),
                hint_index: LogIndex(r.u64()?),
                hint_term: Term(r.u64()?),
                round: r.u32()?,
                commit: LogIndex(r.u64()?),
            }))
        })(),
        _ => return None,
    };
    Some(body.map(|m| (hdr, m, &frame[r.at..])))
}
