//! The wire codec: a [`Message`] in one framed datagram.
//!
//! A frame is the postcard encoding of `(version, cluster_id, from, to, message)` followed, for
//! an AppendEntries, by its entries as records `[term u64 LE][kind u8][len u16 LE][payload]`.
//! The records are the same bytes the shipped [`RingStore`](crate::RingStore) keeps, so encoding
//! from it is a copy. Encoding fills a caller's buffer from a message descriptor and an
//! [`EntrySource`] (the log store); decoding borrows the entries from the frame.
//!
//! Decoding never panics and never allocates: every byte string yields `Ok` or a
//! [`CodecError`], and a decoded frame is fully validated (iterating its entries cannot fail).
//!
//! Nodes sharing an address space (several nodes in one firmware, a test, a benchmark) can
//! skip the frame head: [`encode_body`] writes only what follows it (an AppendEntries' entry
//! records, a snapshot chunk's bytes), and [`attach_body`] attaches those bytes to the
//! `Message<EntryCount>` the sender emitted, with the checks [`decode`] makes.
//!
//! This module is the one owner of the frame format: `frame` (the header and the size
//! limits), `fast` (a hand-written reader and writer for the two hot heads, byte-for-byte
//! postcard) and this file (encode, decode, the body checks). The message types (`message`)
//! and the entry record (`record`) sit below it and know nothing of it; the postcard-only
//! reference the fast path is checked against lives in `tests/fastwire_matches_postcard.rs`.

mod fast;
mod frame;

pub use crate::error::CodecError;
pub use crate::record::{
    read_record, write_record, EntryRef, WireEntries, WireIter, ENTRY_OVERHEAD,
};
pub use frame::{
    max_chunk_bytes, max_payload, Header, MAX_FRAME_BYTES, MAX_HEADER_BYTES,
    MAX_SNAPSHOT_HEADER_BYTES, VERSION,
};

use crate::message::{Append, EntryCount, Message, SnapshotChunk, SnapshotMeta};
use crate::types::{LogIndex, NodeId};

/// Where the encoder reads entries from: the log store.
pub trait EntrySource {
    /// The entry at `index`, if held.
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>>;

    /// Optional fast path: the encoded records of the `count` entries starting at `first`,
    /// if the source holds them contiguously in the wire record format.
    fn records(&self, _first: LogIndex, _count: u32) -> Option<&[u8]> {
        None
    }

    /// The `len` bytes at `offset` of the snapshot `meta`, if the source holds that snapshot
    /// (needed only to send snapshots).
    fn snapshot_chunk(&self, _meta: &SnapshotMeta, _offset: u64, _len: u32) -> Option<&[u8]> {
        None
    }
}

impl EntrySource for WireEntries<'_> {
    fn entry(&self, _index: LogIndex) -> Option<EntryRef<'_>> {
        None
    }
}

type WireHead<'m> = (u8, u32, NodeId, NodeId, &'m Message<EntryCount>);
type WireHeadOwned = (u8, u32, NodeId, NodeId, Message<EntryCount>);

#[inline]
fn encode_head(
    hdr: &Header,
    msg: &Message<EntryCount>,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    if fast::ON {
        if let Some(r) = fast::encode_head(VERSION, hdr, msg, buf) {
            return r;
        }
    }
    let head: WireHead<'_> = (VERSION, hdr.cluster_id, hdr.from, hdr.to, msg);
    match postcard::to_slice(&head, buf) {
        Ok(used) => Ok(used.len()),
        Err(_) => Err(CodecError::BufferTooSmall),
    }
}

/// Encodes `msg` from `hdr.from` to `hdr.to` into `buf`, reading an AppendEntries' entries
/// `prev_index + 1 ..= prev_index + count` from `src`. Returns the frame length.
#[inline]
pub fn encode<S: EntrySource + ?Sized>(
    hdr: &Header,
    msg: &Message<EntryCount>,
    src: &S,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    let head = encode_head(hdr, msg, buf)?;
    let body = encode_body(msg, src, buf.get_mut(head..).unwrap_or_default())?;
    let n = head + body;
    if n > MAX_FRAME_BYTES as usize {
        return Err(CodecError::Oversized);
    }
    Ok(n)
}

/// Writes the bytes a frame carries after its head into `buf`: an AppendEntries' entry
/// records (read from `src`), a snapshot chunk's bytes, nothing for other messages. Returns
/// their length.
///
/// With [`attach_body`] this is the in-process path: nodes sharing an address space (a
/// firmware running several nodes, a test, a benchmark) pass the `Message<EntryCount>` itself
/// and only these bytes, skipping the head's encoding and decoding.
#[inline(always)]
pub fn encode_body<S: EntrySource + ?Sized>(
    msg: &Message<EntryCount>,
    src: &S,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    // Inline down to the common case of no body; the copies out of line.
    match msg {
        Message::Append(a) if a.entries.0 > 0 => encode_records(a, src, buf),
        Message::Snapshot(c) => encode_chunk(c, src, buf),
        _ => Ok(0),
    }
}

/// The body of an AppendEntries with entries: their records, read from `src`.
#[inline(never)]
fn encode_records<S: EntrySource + ?Sized>(
    a: &Append<EntryCount>,
    src: &S,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    let first = a.prev_index.next();
    let count = a.entries.0;
    if let Some(raw) = src.records(first, count) {
        // Invariant: `out` is `buf.get_mut(..raw.len())`: exactly `raw.len()` bytes, so
        // `copy_from_slice` gets two slices of the same length.
        let out = buf.get_mut(..raw.len()).ok_or(CodecError::BufferTooSmall)?;
        out.copy_from_slice(raw);
        return Ok(raw.len());
    }
    let mut n = 0;
    for k in 0..u64::from(count) {
        let e = src.entry(first.plus(k)).ok_or(CodecError::EntryMissing)?;
        let tail = buf.get_mut(n..).ok_or(CodecError::BufferTooSmall)?;
        n += write_record(tail, &e)?;
    }
    Ok(n)
}

/// The body of a snapshot chunk: its bytes, read from `src`.
#[inline(never)]
fn encode_chunk<S: EntrySource + ?Sized>(
    c: &SnapshotChunk<EntryCount>,
    src: &S,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    let data = src
        .snapshot_chunk(&c.meta, c.offset, c.data.0)
        .ok_or(CodecError::EntryMissing)?;
    if data.len() != c.data.0 as usize {
        return Err(CodecError::EntryMissing);
    }
    let out = buf
        .get_mut(..data.len())
        .ok_or(CodecError::BufferTooSmall)?;
    // Invariant: `out` is `buf.get_mut(..data.len())`: exactly `data.len()` bytes, the length of
    // the source.
    out.copy_from_slice(data);
    Ok(data.len())
}

/// Encodes a decoded message again (its entries from the frame it came from).
pub fn encode_wire(
    hdr: &Header,
    msg: &Message<WireEntries<'_>>,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    let desc = match msg {
        Message::Snapshot(c) => msg.map_entries(|_| EntryCount(c.data.records().len() as u32)),
        _ => msg.map_entries(|e| EntryCount(e.len())),
    };
    let mut n = encode_head(hdr, &desc, buf)?;
    if let Message::Append(Append { entries: raw, .. })
    | Message::Snapshot(SnapshotChunk { data: raw, .. }) = msg
    {
        let raw = raw.records();
        // Invariant: `out` is `buf.get_mut(n..n + raw.len())`: exactly `raw.len()` bytes, the
        // length of the source of `copy_from_slice`.
        let out = buf
            .get_mut(n..n + raw.len())
            .ok_or(CodecError::BufferTooSmall)?;
        out.copy_from_slice(raw);
        n += raw.len();
    }
    Ok(n)
}

/// The frame head through postcard: the header, the message, the bytes after it.
fn decode_head_postcard(frame: &[u8]) -> Result<Head<'_>, CodecError> {
    let ((_, cluster_id, from, to, msg), rest) = postcard::take_from_bytes::<WireHeadOwned>(frame)
        .map_err(|e| match e {
            postcard::Error::DeserializeUnexpectedEnd => CodecError::Truncated,
            _ => CodecError::Malformed,
        })?;
    Ok((
        Header {
            cluster_id,
            from,
            to,
        },
        msg,
        rest,
    ))
}

/// The decoded frame head: header, message (entries as a count), bytes after it.
pub type Head<'a> = (Header, Message<EntryCount>, &'a [u8]);

/// The frame head as `decode` reads it (fast path for the hot messages, else postcard).
#[doc(hidden)]
pub fn decode_head(frame: &[u8]) -> Result<Head<'_>, CodecError> {
    match if fast::ON {
        fast::decode_head(frame)
    } else {
        None
    } {
        Some(head) => Ok(head),
        None => decode_head_postcard(frame),
    }
}

/// The frame head through postcard, accepted only if it is the canonical encoding (postcard
/// also takes overlong varints), so a frame cannot be altered without changing what it says.
#[inline(never)]
fn decode_head_canonical(frame: &[u8]) -> Result<Head<'_>, CodecError> {
    let (hdr, msg, rest) = decode_head_postcard(frame)?;
    let mut canon = [0u8; 2 * MAX_HEADER_BYTES as usize];
    let used = frame.len() - rest.len();
    match encode_head(&hdr, &msg, &mut canon) {
        Ok(n) if canon.get(..n) == frame.get(..used) => Ok((hdr, msg, rest)),
        _ => Err(CodecError::Malformed),
    }
}

/// Decodes and validates one frame. Never panics, never allocates.
// On hosts into the receive loop (the fast head reader stays out of line). On bare-metal
// targets (flash) one shared copy: the state's frame path and the engine's (it reads a
// persisted append's entries from the frame) would otherwise each inline the whole reader.
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline(never))]
pub fn decode(frame: &[u8]) -> Result<(Header, Message<WireEntries<'_>>), CodecError> {
    if frame.len() > MAX_FRAME_BYTES as usize {
        return Err(CodecError::Oversized);
    }
    match frame.first() {
        None => return Err(CodecError::Truncated),
        Some(&v) if v != VERSION => return Err(CodecError::BadVersion),
        Some(_) => {}
    }
    // The fast reader takes only canonical heads of the hot messages; everything else (and
    // every error) goes through postcard and the canonical check.
    let fast_head = if fast::ON {
        fast::decode_head(frame)
    } else {
        None
    };
    let (hdr, msg, rest) = match fast_head {
        Some(head) => head,
        None => decode_head_canonical(frame)?,
    };
    Ok((hdr, attach_body(&msg, rest)?))
}

/// A message with the bytes that followed its head (see [`encode_body`]) attached, checked as
/// [`decode`] checks them: an AppendEntries' records must fill `body` exactly, a snapshot
/// chunk's bytes must agree with its offset, length and snapshot, other messages carry none.
#[inline]
pub fn attach_body<'b>(
    msg: &Message<EntryCount>,
    body: &'b [u8],
) -> Result<Message<WireEntries<'b>>, CodecError> {
    // The hot messages first, inline; the rest out of line.
    match msg {
        Message::Append(a) => Ok(Message::Append(Append {
            term: a.term,
            prev_index: a.prev_index,
            prev_term: a.prev_term,
            commit: a.commit,
            floor: a.floor,
            round: a.round,
            entries: WireEntries::parse(a.entries.0, body)?,
        })),
        Message::AppendResponse(r) if body.is_empty() => Ok(Message::AppendResponse(*r)),
        _ => attach_other(msg, body),
    }
}

/// [`attach_body`] for every message but an AppendEntries.
#[inline(never)]
fn attach_other<'b>(
    msg: &Message<EntryCount>,
    body: &'b [u8],
) -> Result<Message<WireEntries<'b>>, CodecError> {
    Ok(match *msg {
        Message::Snapshot(c) => {
            let end = c
                .offset
                .checked_add(u64::from(c.data.0))
                .ok_or(CodecError::BadChunk)?;
            if body.len() != c.data.0 as usize || end > c.meta.len || c.done != (end == c.meta.len)
            {
                return Err(CodecError::BadChunk);
            }
            Message::Snapshot(SnapshotChunk {
                term: c.term,
                meta: c.meta,
                offset: c.offset,
                done: c.done,
                round: c.round,
                data: WireEntries::raw(body),
            })
        }
        other => {
            if !body.is_empty() {
                return Err(CodecError::TrailingBytes);
            }
            other.map_entries(|_| WireEntries::EMPTY)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{AppendResponse, VoteRequest};
    use crate::types::{EntryKind, Term};

    struct Two;
    impl EntrySource for Two {
        fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
            match index.0 {
                5 => Some(EntryRef {
                    term: Term(2),
                    kind: EntryKind::Normal,
                    data: b"hello",
                }),
                6 => Some(EntryRef {
                    term: Term(3),
                    kind: EntryKind::Empty,
                    data: b"",
                }),
                _ => None,
            }
        }
    }

    fn hdr() -> Header {
        Header {
            cluster_id: 7,
            from: NodeId(1),
            to: NodeId(2),
        }
    }

    fn append(count: u32) -> Message<EntryCount> {
        Message::Append(Append {
            term: Term(u64::MAX),
            prev_index: LogIndex(4),
            prev_term: Term(u64::MAX),
            commit: LogIndex(u64::MAX),
            floor: LogIndex(u64::MAX),
            round: u32::MAX,
            entries: EntryCount(count),
        })
    }

    #[test]
    fn append_round_trips_with_borrowed_entries() {
        let mut buf = [0u8; 256];
        let n = encode(&hdr(), &append(2), &Two, &mut buf).unwrap();
        let (h, m) = decode(&buf[..n]).unwrap();
        assert_eq!(h, hdr());
        let got: heapless::Vec<EntryRef<'_>, 4> = m.entries().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, b"hello");
        assert_eq!(got[1].kind, EntryKind::Empty);
        let mut again = [0u8; 256];
        let n2 = encode_wire(&h, &m, &mut again).unwrap();
        assert_eq!(&buf[..n], &again[..n2]);
    }

    #[test]
    fn in_process_body_gives_what_the_frame_gives() {
        let mut frame = [0u8; 256];
        let mut body = [0u8; 256];
        for msg in [append(0), append(1), append(2)] {
            let n = encode(&hdr(), &msg, &Two, &mut frame).unwrap();
            let b = encode_body(&msg, &Two, &mut body).unwrap();
            assert_eq!(&frame[n - b..n], &body[..b], "the body ends the frame");
            let local = attach_body(&msg, &body[..b]).unwrap();
            assert_eq!(local, decode(&frame[..n]).unwrap().1);
        }
        // The same checks as decoding: records must fill the body exactly.
        let b = encode_body(&append(2), &Two, &mut body).unwrap();
        assert_eq!(
            attach_body(&append(1), &body[..b]),
            Err(CodecError::TrailingBytes)
        );
        assert_eq!(
            attach_body(&append(2), &body[..b - 1]),
            Err(CodecError::BadEntry)
        );
        let vote = Message::Vote(VoteRequest {
            term: Term(1),
            last_index: LogIndex(0),
            last_term: Term(0),
        });
        assert_eq!(encode_body(&vote, &Two, &mut body), Ok(0));
        assert_eq!(attach_body(&vote, &[1]), Err(CodecError::TrailingBytes));
    }

    /// The header with the longest encoding.
    fn biggest_header() -> Header {
        Header {
            cluster_id: u32::MAX,
            from: NodeId(u32::MAX),
            to: NodeId(u32::MAX),
        }
    }

    /// A snapshot chunk whose head has the longest encoding (every field at its largest,
    /// eight members with the largest ids), at `offset`, carrying `data` bytes.
    fn longest_chunk(offset: u64, done: bool, data: u32) -> Message<EntryCount> {
        let ids: heapless::Vec<NodeId, 8> = (0..8).map(|k| NodeId(u32::MAX - k)).collect();
        Message::Snapshot(SnapshotChunk {
            term: Term(u64::MAX),
            meta: SnapshotMeta {
                index: LogIndex(u64::MAX),
                term: Term(u64::MAX),
                len: u64::MAX,
                checksum: u32::MAX,
                members: crate::Membership::new(&ids, &[]).unwrap(),
            },
            offset,
            done,
            round: u32::MAX,
            data: EntryCount(data),
        })
    }

    #[test]
    fn worst_case_header_fits_the_documented_bound() {
        let mut buf = [0u8; 256];
        let big = biggest_header();
        let n = encode(&big, &append(0), &Two, &mut buf).unwrap();
        assert!(n <= MAX_HEADER_BYTES as usize, "{n}");
        let chunk = longest_chunk(u64::MAX, false, u32::MAX);
        let n = encode_head(&big, &chunk, &mut buf).unwrap();
        assert_eq!(n, MAX_SNAPSHOT_HEADER_BYTES as usize);
        if let Message::Snapshot(c) = chunk {
            let room = max_chunk_bytes(MAX_FRAME_BYTES, &c.meta.members);
            assert!(n as u32 + room <= MAX_FRAME_BYTES);
        }
    }

    /// Snapshot bytes for chunks: `snapshot_chunk` serves any range of them; no entries.
    struct Snap<'a>(&'a [u8]);
    impl EntrySource for Snap<'_> {
        fn entry(&self, _index: LogIndex) -> Option<EntryRef<'_>> {
            None
        }
        fn snapshot_chunk(&self, _meta: &SnapshotMeta, offset: u64, len: u32) -> Option<&[u8]> {
            let start = usize::try_from(offset).ok()?;
            self.0.get(start..start.checked_add(len as usize)?)
        }
    }

    /// The whole snapshot of `len` bytes in one chunk, for the voters 1-3.
    fn whole_snapshot(len: u32) -> Message<EntryCount> {
        let voters = [NodeId(1), NodeId(2), NodeId(3)];
        Message::Snapshot(SnapshotChunk {
            term: Term(2),
            meta: SnapshotMeta {
                index: LogIndex(9),
                term: Term(2),
                len: u64::from(len),
                checksum: 7,
                members: crate::Membership::new(&voters, &[]).unwrap(),
            },
            offset: 0,
            done: true,
            round: 1,
            data: EntryCount(len),
        })
    }

    /// A frame may be exactly `MAX_FRAME_BYTES` long: it is encoded and decoded. One byte
    /// more is `Oversized`, encoding and decoding.
    #[test]
    fn a_frame_of_max_frame_bytes_is_taken_and_one_byte_more_is_oversized() {
        let max = MAX_FRAME_BYTES as usize;
        let data = [5u8; MAX_FRAME_BYTES as usize];
        let mut frame = [0u8; MAX_FRAME_BYTES as usize + 1];
        // The chunk's head is as long for every length near the largest (3-byte varints).
        let head = encode_head(&hdr(), &whole_snapshot(65_000), &mut frame).unwrap();
        let fits = (max - head) as u32;
        assert_eq!(
            encode(&hdr(), &whole_snapshot(fits), &Snap(&data), &mut frame),
            Ok(max)
        );
        let (h, m) = decode(&frame[..max]).unwrap();
        assert_eq!(h, hdr());
        match m {
            Message::Snapshot(c) => assert_eq!(c.data.records(), &data[..fits as usize]),
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(&frame[..max + 1]), Err(CodecError::Oversized));
        assert_eq!(
            encode(&hdr(), &whole_snapshot(fits + 1), &Snap(&data), &mut frame),
            Err(CodecError::Oversized)
        );
    }

    /// A message without entries has no body: encoding it does not read the source.
    #[test]
    fn an_append_without_entries_is_encoded_without_reading_the_source() {
        struct Counted(core::cell::Cell<u32>);
        impl EntrySource for Counted {
            fn entry(&self, _index: LogIndex) -> Option<EntryRef<'_>> {
                self.0.set(self.0.get() + 1);
                None
            }
            fn records(&self, _first: LogIndex, _count: u32) -> Option<&[u8]> {
                self.0.set(self.0.get() + 1);
                None
            }
        }
        let src = Counted(core::cell::Cell::new(0));
        let mut buf = [0u8; 256];
        let n = encode(&hdr(), &append(0), &src, &mut buf).unwrap();
        assert_eq!(encode_body(&append(0), &src, &mut buf), Ok(0));
        assert_eq!(src.0.get(), 0);
        assert_eq!(decode(&buf[..n]).unwrap().1.entries().count(), 0);
    }

    /// A decoded snapshot chunk encodes again to the same frame, as an AppendEntries does;
    /// also the chunk with the longest head (every varint at its longest, eight members).
    #[test]
    fn a_snapshot_chunk_round_trips_with_its_bytes() {
        let data = [1u8, 2, 3];
        let longest = longest_chunk(u64::MAX - 3, true, 3);
        struct Tail<'a>(&'a [u8]);
        impl EntrySource for Tail<'_> {
            fn entry(&self, _index: LogIndex) -> Option<EntryRef<'_>> {
                None
            }
            fn snapshot_chunk(&self, _m: &SnapshotMeta, _o: u64, len: u32) -> Option<&[u8]> {
                self.0.get(..len as usize)
            }
        }
        for (h, msg) in [(hdr(), whole_snapshot(3)), (biggest_header(), longest)] {
            let mut buf = [0u8; 256];
            let n = encode(&h, &msg, &Tail(&data), &mut buf).unwrap();
            let (h2, m) = decode(&buf[..n]).unwrap();
            assert_eq!(h2, h);
            assert_eq!(m.map_entries(|e| EntryCount(e.records().len() as u32)), msg);
            let mut again = [0u8; 256];
            let n2 = encode_wire(&h2, &m, &mut again).unwrap();
            assert_eq!(&buf[..n], &again[..n2]);
        }
    }

    /// A snapshot chunk's bytes must agree with its length, stay within the snapshot, and
    /// end it exactly when the chunk says it is the last; each case alone is `BadChunk`.
    #[test]
    fn a_snapshot_chunk_must_agree_with_its_length_offset_and_snapshot() {
        let chunk = |offset: u64, len: u32, done: bool, total: u64| match whole_snapshot(len) {
            Message::Snapshot(mut c) => {
                c.offset = offset;
                c.done = done;
                c.meta.len = total;
                Message::Snapshot(c)
            }
            _ => unreachable!(),
        };
        let body = [9u8; 4];
        // (offset, length, last, snapshot length, bytes attached)
        let cases = [
            (2, 4, false, 8, 4, Ok(())),
            (4, 4, true, 8, 4, Ok(())),
            (2, 4, false, 8, 3, Err(CodecError::BadChunk)),
            (4, 4, true, 8, 3, Err(CodecError::BadChunk)),
            (6, 4, false, 8, 4, Err(CodecError::BadChunk)),
            (6, 4, true, 8, 4, Err(CodecError::BadChunk)),
            (2, 4, true, 8, 4, Err(CodecError::BadChunk)),
            (4, 4, false, 8, 4, Err(CodecError::BadChunk)),
            (
                u64::MAX - 1,
                4,
                true,
                u64::MAX,
                4,
                Err(CodecError::BadChunk),
            ),
        ];
        for (offset, len, done, total, attached, want) in cases {
            let got = attach_body(&chunk(offset, len, done, total), &body[..attached]);
            assert_eq!(
                got.map(|_| ()),
                want,
                "{offset} {len} {done} {total} {attached}"
            );
        }
    }

    #[test]
    fn missing_entry_and_small_buffer_are_errors() {
        let mut buf = [0u8; 256];
        let mut bad = append(3);
        assert_eq!(
            encode(&hdr(), &bad, &Two, &mut buf),
            Err(CodecError::EntryMissing)
        );
        bad = append(1);
        let mut tiny = [0u8; 4];
        assert_eq!(
            encode(&hdr(), &bad, &Two, &mut tiny),
            Err(CodecError::BufferTooSmall)
        );
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        assert_eq!(decode(&[]), Err(CodecError::Truncated));
        assert_eq!(decode(&[9, 0, 0]), Err(CodecError::BadVersion));
        let mut buf = [0u8; 256];
        let msg = Message::Vote(VoteRequest {
            term: Term(1),
            last_index: LogIndex(0),
            last_term: Term(0),
        });
        let n = encode(&hdr(), &msg, &Two, &mut buf).unwrap();
        for cut in 0..n {
            assert!(decode(&buf[..cut]).is_err());
        }
        buf[n] = 0;
        assert_eq!(decode(&buf[..n + 1]), Err(CodecError::TrailingBytes));
        let n = encode(&hdr(), &append(2), &Two, &mut buf).unwrap();
        for cut in 0..n {
            assert!(decode(&buf[..cut]).is_err(), "cut {cut}");
        }
        let resp = Message::AppendResponse(AppendResponse {
            term: Term(1),
            success: true,
            index: LogIndex(3),
            hint_index: LogIndex(0),
            hint_term: Term(0),
            commit: LogIndex(2),
            round: 1,
        });
        let n = encode(&hdr(), &resp, &Two, &mut buf).unwrap();
        assert!(decode(&buf[..n]).is_ok());
    }
}
