//! The entry record: the one byte format of a log entry, `[term u64 LE][kind u8][len u16 LE]
//! [payload]`, shared by the log store ([`RingStore`](crate::RingStore) keeps exactly these
//! bytes) and the wire (an AppendEntries carries its entries as these records), and the
//! borrowed, validated entries of a received message ([`WireEntries`]).
//!
//! It sits below both the message types and the codec, so that neither imports the other's
//! internals to name a message's entries.

use crate::error::CodecError;
use crate::types::{EntryKind, Term};

/// Bytes an entry record adds to its payload: term (8), kind (1), length (2).
pub const ENTRY_OVERHEAD: u32 = 11;

/// One log entry, borrowed from a store or a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The term the entry was created in.
    pub term: Term,
    /// What the entry is.
    pub kind: EntryKind,
    /// The application payload (empty for `EntryKind::Empty`).
    pub data: &'a [u8],
}

/// Writes one entry record into `buf`, returning the bytes written.
pub fn write_record(buf: &mut [u8], e: &EntryRef<'_>) -> Result<usize, CodecError> {
    let len = e.data.len();
    let need = ENTRY_OVERHEAD as usize + len;
    if len > u16::MAX as usize {
        return Err(CodecError::BadEntry);
    }
    // Invariant: `out` is exactly `need` = `ENTRY_OVERHEAD` (11) + `len` bytes (`get_mut` refuses a
    // shorter `buf`), so `..8`, `8` and `9..11` (term, kind, length: 8 + 1 + 2 bytes) and `11..`
    // (`len` bytes) are in bounds, and each copy's two sides have the same length (8, 2 and `len` =
    // `e.data.len()`).
    let out = buf.get_mut(..need).ok_or(CodecError::BufferTooSmall)?;
    out[..8].copy_from_slice(&e.term.0.to_le_bytes());
    out[8] = e.kind.to_byte();
    out[9..11].copy_from_slice(&(len as u16).to_le_bytes());
    out[11..].copy_from_slice(e.data);
    Ok(need)
}

/// Reads one entry record from the front of `buf`: the entry and the rest of `buf`.
pub fn read_record(buf: &[u8]) -> Result<(EntryRef<'_>, &[u8]), CodecError> {
    let (head, rest) = buf
        .split_at_checked(ENTRY_OVERHEAD as usize)
        .ok_or(CodecError::BadEntry)?;
    // Invariant: `head` is exactly `ENTRY_OVERHEAD` (11) bytes (`split_at_checked` refused a
    // shorter `buf`), so `head[..8]` (8 bytes, the length of `term`), `head[8]`, `head[9]` and
    // `head[10]` are in bounds.
    let mut term = [0u8; 8];
    term.copy_from_slice(&head[..8]);
    let kind = EntryKind::from_byte(head[8]).ok_or(CodecError::BadEntry)?;
    let len = u16::from_le_bytes([head[9], head[10]]) as usize;
    let (data, rest) = rest.split_at_checked(len).ok_or(CodecError::BadEntry)?;
    let entry = EntryRef {
        term: Term(u64::from_le_bytes(term)),
        kind,
        data,
    };
    Ok((entry, rest))
}

/// The entries of a decoded AppendEntries, borrowed from the frame and already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireEntries<'a> {
    count: u32,
    bytes: &'a [u8],
}

impl<'a> WireEntries<'a> {
    /// No entries.
    pub const EMPTY: WireEntries<'static> = WireEntries {
        count: 0,
        bytes: &[],
    };

    /// Raw bytes that are not entry records (a snapshot chunk's data): no entries to iterate,
    /// the bytes through [`WireEntries::records`].
    pub fn raw(bytes: &'a [u8]) -> WireEntries<'a> {
        WireEntries { count: 0, bytes }
    }

    /// Validates `count` records filling exactly `bytes`.
    #[inline]
    pub fn parse(count: u32, bytes: &'a [u8]) -> Result<WireEntries<'a>, CodecError> {
        let mut rest = bytes;
        for _ in 0..count {
            rest = read_record(rest)?.1;
        }
        if !rest.is_empty() {
            return Err(CodecError::TrailingBytes);
        }
        Ok(WireEntries { count, bytes })
    }

    /// How many entries.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The raw records, in the format of [`write_record`].
    pub fn records(&self) -> &'a [u8] {
        self.bytes
    }

    /// The entries in order.
    #[inline]
    pub fn iter(&self) -> WireIter<'a> {
        WireIter {
            left: self.count,
            rest: self.bytes,
        }
    }

    /// The entries after skipping `n`, in order.
    #[inline]
    pub fn skip(&self, n: u32) -> WireIter<'a> {
        let mut it = self.iter();
        for _ in 0..n {
            if it.next().is_none() {
                break;
            }
        }
        it
    }
}

/// Iterator over [`WireEntries`].
#[derive(Clone, Debug)]
pub struct WireIter<'a> {
    left: u32,
    rest: &'a [u8],
}

impl<'a> Iterator for WireIter<'a> {
    type Item = EntryRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<EntryRef<'a>> {
        if self.left == 0 {
            return None;
        }
        // Validated at decode time; a malformed record simply ends the iteration.
        let (e, rest) = read_record(self.rest).ok()?;
        self.left -= 1;
        self.rest = rest;
        Some(e)
    }
}
