//! A board's durable log: a journal of records in a NOR-flash-like region, in two halves that
//! take turns.
//!
//! The region reads back `0xFF` where nothing was programmed. Each half starts with a
//! [`HEADER`] (a magic word, the half's generation and their CRC-32), then records, appended
//! one after the other; each byte is programmed once between two erases of its
//! [`ERASE_UNIT`], which is what a NOR flash can do. A record is
//!
//! `[len: u16 LE][body: len bytes, postcard of Rec][crc: u32 LE, CRC-32 of len and body]`
//!
//! At boot [`Journal::open`] takes the half with the greater intact generation and replays
//! every record in it that checks out, in order. A power cut in the middle of a write leaves a
//! record whose CRC fails (or whose length runs off the half): that is a torn write, and
//! everything from it to the next erase unit boundary is skipped. Appends resume at the next
//! boundary after a tear, never over the torn bytes (a NOR cell cannot be programmed back to
//! `1` without an erase), and the first record there is a [`Rec::Resume`] naming the torn
//! record. A record is only counted as written once its last byte is programmed, so a torn
//! record was never acknowledged: the engine writes a `Persist` before it sends anything that
//! depends on it. A damaged record that is not such a tear (a flipped bit in the middle of the
//! journal: an intact record follows it in its erase unit, or the next record written after
//! it is not the `Resume` that names it) held something that may have been acknowledged, so
//! the boot refuses the journal ([`JournalError::Damaged`]) rather than run on without it.
//! Damage to the very last record cannot be told from a tear and is taken as one.
//!
//! Garbage collection: when a record does not fit the rest of its half, the owner rewrites
//! what is live (the boot epoch, the hard state, the last capture of the state machine, the
//! compaction point and the log after it) into the other half with [`Journal::rewrite`]: the
//! other half is erased, the live records are appended, and its header, with the next
//! generation, is programmed last; then the old half's header is retired (its magic word
//! programmed to zeros, which needs no erase). A power cut before the new header is whole
//! leaves the old half the newer intact one, so a boot replays it as if the collection never
//! began; a cut before the retirement leaves two intact headers, and the greater generation
//! is taken. So normally one header is intact, and a damaged one is refused, not replaced by
//! an older half. A region
//! whose halves both lack an intact header is formatted (half 0, generation 1) only if
//! neither half holds a record (a new region, or a first format cut short); otherwise the boot
//! refuses it ([`JournalError::Damaged`]) rather than format over records it cannot read.
//!
//! Wear: a collection erases every unit of one half once, and the halves take turns, so each
//! unit is erased once per two collections. A collection comes once the appends since the last
//! fill a half less its live records: with the default 64 KiB region (halves of 32 KiB), a live
//! set of at most about 6 KiB (160 log entries) and some 60 bytes journaled per client write,
//! that is one collection per 400-odd writes, and a NOR part rated for 100,000 erase cycles
//! per unit lasts some 80 million writes.

use serde::{Deserialize, Serialize};

use crate::serial::CRC32;

/// The erase unit of the flash this journal is laid out for (a common NOR sector).
pub const ERASE_UNIT: u32 = 4096;

/// The largest record body (an entry record with a frame-sized payload).
pub const MAX_BODY: usize = 160;

/// Bytes a record adds to its body: the length and the CRC.
pub const RECORD_OVERHEAD: u32 = 6;

/// Bytes of a half's header: the magic word, the generation and their CRC-32 (each u32 LE).
pub const HEADER: u32 = 12;

/// The first word of an intact half's header.
const MAGIC: u32 = u32::from_le_bytes(*b"RJ02");

/// A flash region: reads anywhere, programs bytes that are still erased (`0xFF`).
pub trait Flash {
    /// Bytes in the region: two halves of whole [`ERASE_UNIT`]s.
    fn size(&self) -> u32;
    /// Reads `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Programs `data` at `offset` (which the journal only ever hands bytes still erased).
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
    /// Erases the [`ERASE_UNIT`] at `offset` (a multiple of it): every byte reads `0xFF`.
    fn erase(&mut self, offset: u32) -> Result<(), FlashError>;
}

/// The flash device failed (for semihosting: the host's file I/O).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlashError;

/// Why an append failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JournalError {
    /// The record does not fit the rest of the half (the owner collects, see the module
    /// docs), or the live records do not fit a whole half (the region is too small), or the
    /// generations ran out (after 2^32 collections).
    Full,
    /// The record does not fit [`MAX_BODY`].
    TooLarge,
    /// The flash failed.
    Flash,
    /// Neither half has an intact header, yet one holds records (see the module docs).
    Damaged,
    /// The region is not two halves of whole erase units.
    BadRegion,
}

impl From<FlashError> for JournalError {
    fn from(_: FlashError) -> JournalError {
        JournalError::Flash
    }
}

/// One journal record: what the engine's `Storage` seam was asked to make durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rec<'a> {
    /// The entry at `index`: its term, kind (raft-core's `EntryKind` as a byte) and payload.
    Entry {
        /// Its index.
        index: u64,
        /// Its term.
        term: u64,
        /// 0 empty, 1 normal, 2 membership.
        kind: u8,
        /// Its payload.
        data: &'a [u8],
    },
    /// The log starts after `index`, of `term`: every entry up to it is compacted (a capture
    /// at or after `index` covers them).
    Base {
        /// The last index compacted.
        index: u64,
        /// Its term.
        term: u64,
    },
    /// The state machine as of the applied index `index` (of `term`), durable: a board's
    /// capture of its digest, after which the log may be compacted up to `index`.
    Capture {
        /// The applied index captured.
        index: u64,
        /// Its term.
        term: u64,
        /// The digest's count of values applied.
        values: u32,
        /// The digest's last value applied.
        last: u32,
    },
    /// Every entry at or after `from` is gone.
    Truncate {
        /// The first index dropped.
        from: u64,
    },
    /// The hard state and the commit index.
    Hard {
        /// The current term.
        term: u64,
        /// The vote in that term (0: none).
        vote: u32,
        /// The commit index.
        commit: u64,
    },
    /// A boot's epoch (its sealed frames' counters start at `epoch << 32`), written before
    /// that boot seals its first frame; the next boot takes the greatest one replayed, plus 1.
    Epoch {
        /// The epoch.
        epoch: u32,
    },
    /// Appends resumed here after the damaged record at offset `at`: the first record a
    /// boot writes after it found its journal's tail torn (see the module docs).
    Resume {
        /// Where the damaged record starts.
        at: u32,
    },
}

/// What [`Journal::open`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Replay {
    /// Records replayed.
    pub records: u32,
    /// Torn (or otherwise damaged) records skipped.
    pub torn: u32,
    /// Where the next record goes.
    pub head: u32,
    /// The generation of the half replayed.
    pub generation: u32,
}

/// The journal over a flash region.
pub struct Journal<F> {
    flash: F,
    /// Where the half in use starts (0 or half the region).
    start: u32,
    /// Its generation.
    generation: u32,
    head: u32,
    /// The torn record the next append must first name in a [`Rec::Resume`].
    resume: Option<u32>,
}

impl<F: Flash> Journal<F> {
    /// Replays every intact record of the newer half of `flash` through `visit`, in order, and
    /// opens the journal for appends after the last of them (after a tear: at the next erase
    /// unit boundary). A region without a header or a record is formatted: half 0, generation 1.
    pub fn open(
        mut flash: F,
        mut visit: impl FnMut(&Rec<'_>),
    ) -> Result<(Journal<F>, Replay), JournalError> {
        let size = flash.size();
        if size == 0 || !size.is_multiple_of(2 * ERASE_UNIT) {
            return Err(JournalError::BadRegion);
        }
        let half = size / 2;
        let (start, generation) = match (header(&mut flash, 0)?, header(&mut flash, half)?) {
            (Some(a), Some(b)) if b > a => (half, b),
            (Some(a), _) => (0, a),
            (_, Some(b)) => (half, b),
            // No record anywhere: a new region, or a format cut short.
            _ if !written_at(&mut flash, HEADER)? && !written_at(&mut flash, half + HEADER)? => {
                format(&mut flash, 0, half, 1)?;
                (0, 1)
            }
            _ => return Err(JournalError::Damaged),
        };
        let end = start + half;
        let mut replay = Replay {
            generation,
            ..Replay::default()
        };
        let mut off = start + HEADER;
        let mut body = [0u8; MAX_BODY];
        // The last damaged record not yet answered by a `Resume`.
        let mut tear = None;
        // Every pass moves `off` forward by at least RECORD_OVERHEAD bytes or to the next
        // boundary, so the loop ends within half / RECORD_OVERHEAD passes.
        while off + RECORD_OVERHEAD <= end {
            let mut len = [0u8; 2];
            flash.read(off, &mut len)?;
            if len == [0xFF, 0xFF] {
                // Erased: the end of what was written, unless a tear moved the writer on.
                match next_unit(off, end) {
                    Some(next) if tear.is_some() && written_at(&mut flash, next)? => {
                        off = next;
                        continue;
                    }
                    _ => break,
                }
            }
            let intact = record_at(&mut flash, off, end, &mut body)?;
            match intact {
                Some((rec, rec_end)) => {
                    // After damage, the next record written must be the `Resume` naming it.
                    if let Some(at) = tear.take() {
                        if rec != (Rec::Resume { at }) {
                            return Err(JournalError::Damaged);
                        }
                    }
                    visit(&rec);
                    replay.records += 1;
                    off = rec_end;
                }
                None => {
                    // A torn write is the last thing written in its unit: an intact record
                    // after the damage (its length may be what was damaged) means it is not.
                    let unit_end = ((off / ERASE_UNIT + 1) * ERASE_UNIT).min(end);
                    let mut p = off + 1;
                    while p + RECORD_OVERHEAD <= unit_end {
                        if record_at(&mut flash, p, unit_end, &mut body)?.is_some() {
                            return Err(JournalError::Damaged);
                        }
                        p += 1;
                    }
                    replay.torn += 1;
                    tear = Some(off);
                    match next_unit(off, end) {
                        Some(next) => off = next,
                        None => {
                            off = end;
                            break;
                        }
                    }
                }
            }
        }
        replay.head = off.min(end);
        Ok((
            Journal {
                flash,
                start,
                generation,
                head: replay.head,
                resume: tear,
            },
            replay,
        ))
    }

    /// Collects garbage: erases the other half, appends the live records there (`live`
    /// appends them with [`Journal::append`]), then programs its header with the next
    /// generation, which makes it the journal. Until that header is whole, a boot replays the
    /// old half. An error leaves the journal unusable (the node stops).
    pub fn rewrite(
        &mut self,
        live: impl FnOnce(&mut Self) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let half = self.flash.size() / 2;
        let generation = self.generation.checked_add(1).ok_or(JournalError::Full)?;
        let to = if self.start == 0 { half } else { 0 };
        erase(&mut self.flash, to, half)?;
        let from = self.start;
        self.start = to;
        self.head = to + HEADER;
        self.resume = None;
        live(self)?;
        self.flash.program(to, &header_bytes(generation))?;
        self.generation = generation;
        // Retire the old half: its magic word to zeros.
        self.flash.program(from, &[0; 4])?;
        Ok(())
    }

    /// Appends `rec`; it is durable once this returns `Ok`. The first append after a boot
    /// that found a torn tail writes the [`Rec::Resume`] naming it first.
    pub fn append(&mut self, rec: &Rec<'_>) -> Result<(), JournalError> {
        if let Some(at) = self.resume {
            self.write(&Rec::Resume { at })?;
            self.resume = None;
        }
        self.write(rec)
    }

    /// Writes one record at the head.
    fn write(&mut self, rec: &Rec<'_>) -> Result<(), JournalError> {
        let mut buf = [0u8; MAX_BODY + RECORD_OVERHEAD as usize];
        let n = postcard::to_slice(rec, &mut buf[2..2 + MAX_BODY])
            .map_err(|_| JournalError::TooLarge)?
            .len();
        buf[..2].copy_from_slice(&(n as u16).to_le_bytes());
        let crc = CRC32.checksum(&buf[..2 + n]);
        buf[2 + n..6 + n].copy_from_slice(&crc.to_le_bytes());
        let total = n as u32 + RECORD_OVERHEAD;
        if self.head + total > self.start + self.flash.size() / 2 {
            return Err(JournalError::Full);
        }
        self.flash.program(self.head, &buf[..total as usize])?;
        self.head += total;
        Ok(())
    }

    /// Bytes of the half in use programmed so far (its header and what tears skipped too).
    pub fn used(&self) -> u32 {
        self.head - self.start
    }

    /// The generation of the half in use (one more per collection).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The flash, for a test.
    pub fn flash(&self) -> &F {
        &self.flash
    }
}

/// The intact record at `off` (its length, CRC and encoding check out, and it ends by `end`)
/// and where it ends, read through `body`.
fn record_at<'b, F: Flash>(
    flash: &mut F,
    off: u32,
    end: u32,
    body: &'b mut [u8; MAX_BODY],
) -> Result<Option<(Rec<'b>, u32)>, FlashError> {
    let mut len = [0u8; 2];
    flash.read(off, &mut len)?;
    let n = u16::from_le_bytes(len) as u32;
    let rec_end = off + 2 + n + 4;
    if n as usize > MAX_BODY || rec_end > end {
        return Ok(None);
    }
    let body = &mut body[..n as usize];
    flash.read(off + 2, body)?;
    let mut crc = [0u8; 4];
    flash.read(off + 2 + n, &mut crc)?;
    let mut h = CRC32.digest();
    h.update(&len);
    h.update(body);
    if h.finalize() != u32::from_le_bytes(crc) {
        return Ok(None);
    }
    Ok(postcard::from_bytes::<Rec<'_>>(body)
        .ok()
        .map(|r| (r, rec_end)))
}

/// The first erase unit boundary after `off`, if it is before `end`.
fn next_unit(off: u32, end: u32) -> Option<u32> {
    let next = (off / ERASE_UNIT + 1) * ERASE_UNIT;
    (next + RECORD_OVERHEAD <= end).then_some(next)
}

/// The generation in the header of the half at `at`, if the header is intact.
fn header<F: Flash>(flash: &mut F, at: u32) -> Result<Option<u32>, FlashError> {
    let mut h = [0u8; HEADER as usize];
    flash.read(at, &mut h)?;
    let generation = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    Ok((h == header_bytes(generation)).then_some(generation))
}

/// A half's header for `generation`.
fn header_bytes(generation: u32) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&generation.to_le_bytes());
    let crc = CRC32.checksum(&h[..8]);
    h[8..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Erases the `len` bytes at `at`, unit by unit.
fn erase<F: Flash>(flash: &mut F, at: u32, len: u32) -> Result<(), FlashError> {
    let mut unit = at;
    while unit < at + len {
        flash.erase(unit)?;
        unit += ERASE_UNIT;
    }
    Ok(())
}

/// Formats the half at `at` as an empty journal of `generation`.
fn format<F: Flash>(flash: &mut F, at: u32, len: u32, generation: u32) -> Result<(), FlashError> {
    erase(flash, at, len)?;
    flash.program(at, &header_bytes(generation))
}

/// Whether anything was programmed at `off` (its length field is not erased).
fn written_at<F: Flash>(flash: &mut F, off: u32) -> Result<bool, FlashError> {
    let mut len = [0u8; 2];
    flash.read(off, &mut len)?;
    Ok(len != [0xFF, 0xFF])
}
