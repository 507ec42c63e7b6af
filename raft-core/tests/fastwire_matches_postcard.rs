//! The codec's hand-written fast path for AppendEntries and its response is byte-for-byte
//! postcard: it encodes what postcard encodes and decodes (or refuses) what postcard does,
//! checked here on random messages and on random mutations of their frames, against a
//! reference codec written below on postcard alone (the frame format as `codec` documents
//! it, without the fast path).

use raftcore::codec::{self, CodecError, Header, WireEntries};
use raftcore::{Append, AppendResponse, EntryCount, LogIndex, Message, NodeId, Term};

/// SplitMix64 (as raft-sim's `SimRng`, so the messages are the ones this test always drew);
/// raft-core's tests do not depend on the simulator.
struct SimRng(u64);

impl SimRng {
    fn new(seed: u64) -> Self {
        SimRng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `[lo, lo + span)` (`lo` when `span` is 0), by multiply-shift.
    fn in_range(&mut self, lo: u32, span: u32) -> u32 {
        lo + (((self.next_u64() >> 32) * u64::from(span)) >> 32) as u32
    }
}

/// The frame head as postcard sees it: version, cluster id, from, to, message.
type WireHead = (u8, u32, NodeId, NodeId, Message<EntryCount>);

/// The reference encoder: the frame head through postcard only.
fn encode_head_postcard(
    hdr: &Header,
    msg: &Message<EntryCount>,
    buf: &mut [u8],
) -> Result<usize, CodecError> {
    let head = (codec::VERSION, hdr.cluster_id, hdr.from, hdr.to, msg);
    postcard::to_slice(&head, buf)
        .map(|u| u.len())
        .map_err(|_| CodecError::BufferTooSmall)
}

/// The reference head decoder: postcard only (no version check, as `codec::decode_head`).
fn decode_head_reference(frame: &[u8]) -> Result<codec::Head<'_>, CodecError> {
    let ((_, cluster_id, from, to, msg), rest) = postcard::take_from_bytes::<WireHead>(frame)
        .map_err(|e| match e {
            postcard::Error::DeserializeUnexpectedEnd => CodecError::Truncated,
            _ => CodecError::Malformed,
        })?;
    let hdr = Header {
        cluster_id,
        from,
        to,
    };
    Ok((hdr, msg, rest))
}

/// The reference `decode`: the frame checks, the head through postcard, accepted only if
/// re-encoding it gives the same bytes (postcard also takes overlong varints), then the body
/// attached as `codec::attach_body` checks it.
fn decode_reference(frame: &[u8]) -> Result<(Header, Message<WireEntries<'_>>), CodecError> {
    if frame.len() > codec::MAX_FRAME_BYTES as usize {
        return Err(CodecError::Oversized);
    }
    match frame.first() {
        None => return Err(CodecError::Truncated),
        Some(&v) if v != codec::VERSION => return Err(CodecError::BadVersion),
        Some(_) => {}
    }
    let (hdr, msg, rest) = decode_head_reference(frame)?;
    let mut canon = [0u8; 2 * codec::MAX_HEADER_BYTES as usize];
    let used = frame.len() - rest.len();
    match encode_head_postcard(&hdr, &msg, &mut canon) {
        Ok(n) if canon.get(..n) == frame.get(..used) => {}
        _ => return Err(CodecError::Malformed),
    }
    Ok((hdr, codec::attach_body(&msg, rest)?))
}

fn num(rng: &mut SimRng) -> u64 {
    // Every varint length, the extremes included.
    match rng.in_range(0, 4) {
        0 => u64::from(rng.in_range(0, 200)),
        1 => rng.next_u64() >> rng.in_range(0, 64),
        2 => u64::MAX - u64::from(rng.in_range(0, 3)),
        _ => 1 << rng.in_range(0, 64),
    }
}

fn message(rng: &mut SimRng) -> Message<EntryCount> {
    if rng.in_range(0, 2) == 0 {
        Message::Append(Append {
            term: Term(num(rng)),
            prev_index: LogIndex(num(rng)),
            prev_term: Term(num(rng)),
            commit: LogIndex(num(rng)),
            floor: LogIndex(num(rng)),
            round: num(rng) as u32,
            entries: EntryCount(0),
        })
    } else {
        Message::AppendResponse(AppendResponse {
            term: Term(num(rng)),
            success: rng.in_range(0, 2) == 0,
            index: LogIndex(num(rng)),
            hint_index: LogIndex(num(rng)),
            hint_term: Term(num(rng)),
            round: num(rng) as u32,
            commit: LogIndex(num(rng)),
        })
    }
}

struct NoEntries;
impl codec::EntrySource for NoEntries {
    fn entry(&self, _: LogIndex) -> Option<codec::EntryRef<'_>> {
        None
    }
}

#[test]
fn fast_path_encodes_exactly_what_postcard_encodes() {
    let mut rng = SimRng::new(0xFA57);
    for _ in 0..50_000 {
        let hdr = Header {
            cluster_id: num(&mut rng) as u32,
            from: NodeId(num(&mut rng) as u32),
            to: NodeId(num(&mut rng) as u32),
        };
        let msg = message(&mut rng);
        let (mut a, mut b) = ([0u8; 128], [0u8; 128]);
        let n = codec::encode(&hdr, &msg, &NoEntries, &mut a).expect("fits");
        let m = encode_head_postcard(&hdr, &msg, &mut b).expect("fits");
        assert_eq!(&a[..n], &b[..m], "{msg:?}");
        // Too small a buffer is an error on both paths.
        let cut = rng.in_range(0, n as u32) as usize;
        assert!(codec::encode(&hdr, &msg, &NoEntries, &mut a[..cut]).is_err());
    }
}

#[test]
fn fast_path_decodes_and_refuses_exactly_what_postcard_does() {
    let mut rng = SimRng::new(0xDEC0);
    for _ in 0..100_000 {
        let hdr = Header {
            cluster_id: num(&mut rng) as u32,
            from: NodeId(num(&mut rng) as u32),
            to: NodeId(num(&mut rng) as u32),
        };
        let msg = message(&mut rng);
        let mut buf = [0u8; 160];
        let mut n = encode_head_postcard(&hdr, &msg, &mut buf).expect("fits");
        // Mutate: truncate, flip bytes (non-canonical and overlong varints, bad bools,
        // other tags), or append a tail.
        match rng.in_range(0, 4) {
            0 => n = rng.in_range(0, n as u32 + 1) as usize,
            1 => {
                for _ in 0..rng.in_range(1, 3) {
                    let at = rng.in_range(1, n as u32) as usize;
                    buf[at] = rng.next_u64() as u8;
                }
            }
            2 => {
                let extra = rng.in_range(1, 20) as usize;
                for b in &mut buf[n..n + extra] {
                    *b = 0x80 | rng.next_u64() as u8;
                }
                n += extra;
            }
            _ => {}
        }
        let frame = &buf[..n];
        assert_eq!(
            codec::decode_head(frame),
            decode_head_reference(frame),
            "{frame:?}"
        );
        // The whole decode (the fast reader refuses non-canonical heads itself) agrees with
        // postcard plus the canonical check by re-encoding.
        assert_eq!(codec::decode(frame), decode_reference(frame), "{frame:?}");
    }
}

#[test]
fn overlong_varints_in_hot_heads_are_refused() {
    let hdr = Header {
        cluster_id: 0,
        from: NodeId(1),
        to: NodeId(2),
    };
    let mut rng = SimRng::new(0x0E1);
    for _ in 0..20_000 {
        let msg = message(&mut rng);
        let mut buf = [0u8; 160];
        let n = codec::encode(&hdr, &msg, &NoEntries, &mut buf).expect("fits");
        assert!(codec::decode(&buf[..n]).is_ok());
        // Re-encode one varint field (any but the version and the variant tag) one byte
        // longer than its shortest form: same value, non-canonical bytes.
        let mut starts = Vec::new();
        let mut at = 1;
        while at < n {
            starts.push(at);
            while buf[at] & 0x80 != 0 {
                at += 1;
            }
            at += 1;
        }
        let tag = 4; // version, cluster id, from, to: the tag is the fifth field
        let pick = starts[rng.in_range(0, starts.len() as u32) as usize];
        if pick == starts[tag - 1] {
            continue;
        }
        let mut end = pick;
        while buf[end] & 0x80 != 0 {
            end += 1;
        }
        let mut long = Vec::from(&buf[..end]);
        long.push(buf[end] | 0x80);
        long.push(0);
        long.extend_from_slice(&buf[end + 1..n]);
        let is_bool = matches!(msg, Message::AppendResponse(_)) && pick == starts[tag + 1];
        if is_bool {
            continue;
        }
        assert!(codec::decode(&long).is_err(), "{long:?}");
        assert_eq!(codec::decode(&long), decode_reference(&long));
    }
}
