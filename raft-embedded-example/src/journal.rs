//! A board's durable log: an append-only journal of records in a NOR-flash-like region.
//!
//! The region reads back `0xFF` where nothing was programmed. Records are appended one after
//! the other and each byte is programmed once: nothing is ever rewritten in place, which is
//! what a NOR flash can do between two erases of an [`ERASE_UNIT`]. A record is
//!
//! `[len: u16 LE][body: len bytes, postcard of Rec][crc: u32 LE, CRC-32 of len and body]`
//!
//! At boot [`Journal::open`] replays every record that checks out, in order. A power cut in
//! the middle of a write leaves a record whose CRC fails (or whose length runs off the
//! region): that is a torn write, and everything from it to the next erase unit boundary is
//! skipped. Appends resume at the next boundary after a tear, never over the torn bytes (a
//! NOR cell cannot be programmed back to `1` without an erase). A record is only counted as
//! written once its last byte is programmed, so a torn record was never acknowledged: the
//! engine writes a `Persist` before it sends anything that depends on it.
//!
//! Wear: every byte is programmed once and nothing is erased, so a region wears by one
//! program cycle per fill. There is no compaction: a full region fails the append
//! ([`JournalError::Full`]) and the node stops (fail-stop). A board that must run for ever
//! would copy the live records (the hard state and the log after the last snapshot) into a
//! fresh pair of erase units and erase the old ones; that garbage collection is not written.

use serde::{Deserialize, Serialize};

use crate::serial::CRC32;

/// The erase unit of the flash this journal is laid out for (a common NOR sector).
pub const ERASE_UNIT: u32 = 4096;

/// The largest record body (an entry record with a frame-sized payload).
pub const MAX_BODY: usize = 160;

/// Bytes a record adds to its body: the length and the CRC.
pub const RECORD_OVERHEAD: u32 = 6;

/// A flash region: reads anywhere, programs bytes that are still erased (`0xFF`).
pub trait Flash {
    /// Bytes in the region (a multiple of [`ERASE_UNIT`]).
    fn size(&self) -> u32;
    /// Reads `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Programs `data` at `offset` (which the journal only ever hands bytes still erased).
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
}

/// The flash device failed (for semihosting: the host's file I/O).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlashError;

/// Why an append failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JournalError {
    /// The region is full (no compaction: see the module docs).
    Full,
    /// The record does not fit [`MAX_BODY`].
    TooLarge,
    /// The flash failed.
    Flash,
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
}

/// The journal over a flash region.
pub struct Journal<F> {
    flash: F,
    head: u32,
}

impl<F: Flash> Journal<F> {
    /// Replays every intact record in `flash` through `visit`, in order, and opens the journal
    /// for appends after the last of them (after a tear: at the next erase unit boundary).
    pub fn open(
        mut flash: F,
        mut visit: impl FnMut(&Rec<'_>),
    ) -> Result<(Journal<F>, Replay), FlashError> {
        let size = flash.size();
        let mut replay = Replay::default();
        let mut off = 0u32;
        let mut body = [0u8; MAX_BODY];
        // Every pass moves `off` forward by at least RECORD_OVERHEAD bytes or to the next
        // boundary, so the loop ends within size / RECORD_OVERHEAD passes.
        while off + RECORD_OVERHEAD <= size {
            let mut len = [0u8; 2];
            flash.read(off, &mut len)?;
            if len == [0xFF, 0xFF] {
                // Erased: the end of what was written, unless a tear moved the writer on.
                match next_unit(off, size) {
                    Some(next) if replay.torn > 0 && written_at(&mut flash, next)? => {
                        off = next;
                        continue;
                    }
                    _ => break,
                }
            }
            let n = u16::from_le_bytes(len) as u32;
            let end = off + 2 + n + 4;
            let intact = if n as usize <= MAX_BODY && end <= size {
                let body = &mut body[..n as usize];
                flash.read(off + 2, body)?;
                let mut crc = [0u8; 4];
                flash.read(off + 2 + n, &mut crc)?;
                let mut h = CRC32.digest();
                h.update(&len);
                h.update(body);
                if h.finalize() == u32::from_le_bytes(crc) {
                    postcard::from_bytes::<Rec<'_>>(body).ok()
                } else {
                    None
                }
            } else {
                None
            };
            match intact {
                Some(rec) => {
                    visit(&rec);
                    replay.records += 1;
                    off = end;
                }
                None => {
                    replay.torn += 1;
                    match next_unit(off, size) {
                        Some(next) => off = next,
                        None => {
                            off = size;
                            break;
                        }
                    }
                }
            }
        }
        replay.head = off.min(size);
        Ok((
            Journal {
                flash,
                head: replay.head,
            },
            replay,
        ))
    }

    /// Appends `rec`; it is durable once this returns `Ok`.
    pub fn append(&mut self, rec: &Rec<'_>) -> Result<(), JournalError> {
        let mut buf = [0u8; MAX_BODY + RECORD_OVERHEAD as usize];
        let n = postcard::to_slice(rec, &mut buf[2..2 + MAX_BODY])
            .map_err(|_| JournalError::TooLarge)?
            .len();
        buf[..2].copy_from_slice(&(n as u16).to_le_bytes());
        let crc = CRC32.checksum(&buf[..2 + n]);
        buf[2 + n..6 + n].copy_from_slice(&crc.to_le_bytes());
        let total = n as u32 + RECORD_OVERHEAD;
        if self.head + total > self.flash.size() {
            return Err(JournalError::Full);
        }
        self.flash.program(self.head, &buf[..total as usize])?;
        self.head += total;
        Ok(())
    }

    /// Bytes programmed so far (including what tears skipped).
    pub fn used(&self) -> u32 {
        self.head
    }

    /// The flash, for a test.
    pub fn flash(&self) -> &F {
        &self.flash
    }
}

/// The first erase unit boundary after `off`, if it is inside the region.
fn next_unit(off: u32, size: u32) -> Option<u32> {
    let next = (off / ERASE_UNIT + 1) * ERASE_UNIT;
    (next + RECORD_OVERHEAD <= size).then_some(next)
}

/// Whether anything was programmed at `off` (its length field is not erased).
fn written_at<F: Flash>(flash: &mut F, off: u32) -> Result<bool, FlashError> {
    let mut len = [0u8; 2];
    flash.read(off, &mut len)?;
    Ok(len != [0xFF, 0xFF])
}
