//! WAL records and their framing.
//!
//! A frame is `[len u32 LE][crc32 u32 LE][payload]`: `len` counts the payload bytes and the
//! CRC-32 (IEEE, `crc32fast`) covers the payload only. `len == 0` is never valid, so a
//! zero-filled region (a file extended but never written) never reads as records.
//!
//! Payloads start with a tag byte; integers are little-endian:
//!
//! | tag | record        | body                                                  |
//! |-----|---------------|-------------------------------------------------------|
//! | 1   | Entry         | index u64, term u64, kind u8, payload (rest)          |
//! | 2   | TruncateFrom  | index u64                                             |
//! | 3   | HardState     | term u64, has_vote u8 (0 or 1), voted_for u32, commit u64 (absent in logs written before it: 0) |
//! | 4   | Snapshot      | index u64, term u64                                   |
//! | 5   | Seal          | capacity u64                                          |
//!
//! Every batch made durable by one `Wal::sync` ends with a `Seal` record (see the
//! [module docs](super) on seals); `capacity` is the length the segment file has been
//! preallocated to, so a file found shorter was cut.

/// Bytes of a frame header (`len` and `crc`).
pub const FRAME_HEADER: usize = 8;

/// The largest payload a frame may carry (64 MiB): a larger `len` is damage, not a record.
pub const MAX_PAYLOAD: usize = 64 << 20;

const TAG_ENTRY: u8 = 1;
const TAG_TRUNCATE: u8 = 2;
const TAG_HARD_STATE: u8 = 3;
const TAG_SNAPSHOT: u8 = 4;
const TAG_SEAL: u8 = 5;

/// Bytes of one framed `Seal` record (frame header, tag, capacity).
pub const SEAL_FRAME: usize = FRAME_HEADER + 1 + 8;

/// Raft's durable term and vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    /// The current term.
    pub term: u64,
    /// The node voted for in `term`, if any.
    pub voted_for: Option<u32>,
    /// The commit index known when this was written (raft-core's `Persist::commit`): entries
    /// up to it count as committed again after a restart. 0 if not known.
    pub commit: u64,
}

/// The last log position a snapshot covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotPoint {
    /// Index of the last entry the snapshot includes.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
}

/// One WAL record, borrowing an entry's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A log entry. Its `kind` is opaque to the WAL (the driver's entry kind: normal, config...).
    Entry {
        /// Log index.
        index: u64,
        /// Term the entry was created in.
        term: u64,
        /// Entry kind, stored verbatim.
        kind: u8,
        /// Entry payload.
        payload: &'a [u8],
    },
    /// Every entry at `index` and above is discarded.
    TruncateFrom {
        /// First index removed.
        index: u64,
    },
    /// A new hard state; the last one in the log wins.
    HardState(HardState),
    /// The log now starts after this snapshot point.
    Snapshot(SnapshotPoint),
    /// The end of a synced batch; the segment file has been preallocated to `capacity` bytes.
    Seal {
        /// Length of the segment file, zero-filled past the data.
        capacity: u64,
    },
}

impl Record<'_> {
    /// Appends this record, framed, to `out`.
    pub fn encode_framed(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME_HEADER]);
        match *self {
            Record::Entry {
                index,
                term,
                kind,
                payload,
            } => {
                out.push(TAG_ENTRY);
                out.extend_from_slice(&index.to_le_bytes());
                out.extend_from_slice(&term.to_le_bytes());
                out.push(kind);
                out.extend_from_slice(payload);
            }
            Record::TruncateFrom { index } => {
                out.push(TAG_TRUNCATE);
                out.extend_from_slice(&index.to_le_bytes());
            }
            Record::HardState(hs) => {
                out.push(TAG_HARD_STATE);
                out.extend_from_slice(&hs.term.to_le_bytes());
                out.push(u8::from(hs.voted_for.is_some()));
                out.extend_from_slice(&hs.voted_for.unwrap_or(0).to_le_bytes());
                out.extend_from_slice(&hs.commit.to_le_bytes());
            }
            Record::Snapshot(p) => {
                out.push(TAG_SNAPSHOT);
                out.extend_from_slice(&p.index.to_le_bytes());
                out.extend_from_slice(&p.term.to_le_bytes());
            }
            Record::Seal { capacity } => {
                out.push(TAG_SEAL);
                out.extend_from_slice(&capacity.to_le_bytes());
            }
        }
        let body = &out[start + FRAME_HEADER..];
        // Payloads are bounded by the caller (`Wal` rejects entries over MAX_PAYLOAD), so the
        // length fits in u32.
        let len = body.len() as u32;
        let crc = crc32fast::hash(body);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes a payload whose CRC already checked. `None` if it is not a well-formed record.
    pub fn decode(payload: &[u8]) -> Option<Record<'_>> {
        let (&tag, body) = payload.split_first()?;
        match tag {
            TAG_ENTRY => {
                if body.len() < 17 {
                    return None;
                }
                Some(Record::Entry {
                    index: u64_at(body, 0)?,
                    term: u64_at(body, 8)?,
                    kind: body[16],
                    payload: &body[17..],
                })
            }
            TAG_TRUNCATE if body.len() == 8 => Some(Record::TruncateFrom {
                index: u64_at(body, 0)?,
            }),
            TAG_HARD_STATE if body.len() == 13 || body.len() == 21 => {
                let voted = u32::from_le_bytes(body[9..13].try_into().ok()?);
                let voted_for = match body[8] {
                    0 if voted == 0 => None,
                    1 => Some(voted),
                    _ => return None,
                };
                let commit = if body.len() == 21 {
                    u64_at(body, 13)?
                } else {
                    0
                };
                Some(Record::HardState(HardState {
                    term: u64_at(body, 0)?,
                    voted_for,
                    commit,
                }))
            }
            TAG_SNAPSHOT if body.len() == 16 => Some(Record::Snapshot(SnapshotPoint {
                index: u64_at(body, 0)?,
                term: u64_at(body, 8)?,
            })),
            TAG_SEAL if body.len() == 8 => Some(Record::Seal {
                capacity: u64_at(body, 0)?,
            }),
            _ => None,
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The result of reading one frame at an offset of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A valid record; `next` is the offset just past it.
    Ok {
        /// The decoded record.
        record: Record<'a>,
        /// Offset of the following frame.
        next: usize,
    },
    /// The buffer ends inside the frame.
    Incomplete,
    /// The frame is complete but its length, CRC or payload is invalid.
    Bad,
}

/// Reads the frame starting at `at` in `buf`.
pub fn read_frame(buf: &[u8], at: usize) -> Frame<'_> {
    let Some(header) = buf.get(at..at.saturating_add(FRAME_HEADER)) else {
        return Frame::Incomplete;
    };
    // Both slices are exactly 4 bytes long: `header` has FRAME_HEADER = 8 bytes.
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Bad;
    }
    let start = at + FRAME_HEADER;
    let Some(payload) = buf.get(start..start + len) else {
        return Frame::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Bad;
    }
    match Record::decode(payload) {
        Some(record) => Frame::Ok {
            record,
            next: start + len,
        },
        None => Frame::Bad,
    }
}

/// True if a valid frame starts at any offset after `at` (used to tell a torn tail, which has
/// nothing valid after it, from damage in the middle of a segment).
pub fn any_valid_frame_after(buf: &[u8], at: usize) -> bool {
    (at + 1..buf.len()).any(|pos| matches!(read_frame(buf, pos), Frame::Ok { .. }))
}

#[cfg(test)]
mod test {
    use super::*;

    fn round_trip(r: Record<'_>) {
        let mut buf = Vec::new();
        r.encode_framed(&mut buf);
        assert_eq!(
            read_frame(&buf, 0),
            Frame::Ok {
                record: r,
                next: buf.len()
            }
        );
    }

    #[test]
    fn every_record_kind_round_trips() {
        round_trip(Record::Entry {
            index: 7,
            term: 3,
            kind: 2,
            payload: b"hello",
        });
        round_trip(Record::Entry {
            index: u64::MAX,
            term: 0,
            kind: 0,
            payload: b"",
        });
        round_trip(Record::TruncateFrom { index: 9 });
        round_trip(Record::HardState(HardState {
            term: 5,
            voted_for: Some(2),
            ..Default::default()
        }));
        round_trip(Record::HardState(HardState {
            term: 5,
            voted_for: None,
            ..Default::default()
        }));
        round_trip(Record::HardState(HardState {
            term: 5,
            voted_for: Some(1),
            commit: 77,
        }));
        round_trip(Record::Snapshot(SnapshotPoint { index: 10, term: 4 }));
        round_trip(Record::Seal { capacity: 4096 });
        let mut seal = Vec::new();
        Record::Seal { capacity: 1 }.encode_framed(&mut seal);
        assert_eq!(seal.len(), SEAL_FRAME);
    }

    #[test]
    fn a_hard_state_written_before_the_commit_field_reads_with_commit_zero() {
        let mut body = vec![TAG_HARD_STATE];
        body.extend_from_slice(&5u64.to_le_bytes());
        body.push(1);
        body.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            Record::decode(&body),
            Some(Record::HardState(HardState {
                term: 5,
                voted_for: Some(2),
                commit: 0,
            }))
        );
    }

    #[test]
    fn zero_filled_bytes_are_not_records() {
        assert_eq!(read_frame(&[0u8; 64], 0), Frame::Bad);
        assert!(!any_valid_frame_after(&[0u8; 64], 0));
    }

    #[test]
    fn short_buffer_is_incomplete_and_flipped_byte_is_bad() {
        let mut buf = Vec::new();
        Record::TruncateFrom { index: 1 }.encode_framed(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(read_frame(&buf[..cut], 0), Frame::Incomplete, "cut {cut}");
        }
        for i in 4..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0x40;
            assert_eq!(read_frame(&b, 0), Frame::Bad, "flip {i}");
        }
    }

    #[test]
    fn unknown_tag_and_wrong_lengths_are_bad() {
        for payload in [
            &[9u8, 0][..],
            &[TAG_TRUNCATE, 1, 2][..],
            &[TAG_ENTRY; 5][..],
        ] {
            let mut buf = Vec::new();
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            buf.extend_from_slice(payload);
            assert_eq!(read_frame(&buf, 0), Frame::Bad);
        }
    }
}
