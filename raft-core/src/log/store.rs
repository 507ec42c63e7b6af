//! Payload storage beside the core: the [`LogStore`] contract and [`RingStore`], a byte ring
//! over a caller-provided array for firmware, the simulator and tests.
//!
//! The core never touches payload bytes. A driver performs each `Persist` output on its store
//! (see [`persist_entries`]), the codec reads entries from the store when it encodes an
//! AppendEntries, and the driver reads committed entries from it to apply them. An entry
//! appended by a performed `Persist` is readable at once, before it is durable.

use core::fmt;

use crate::codec::EntrySource;
use crate::input::Input;
use crate::output::{NewEntriesFrom, Persist};
use crate::record::{read_record, write_record, EntryRef, ENTRY_OVERHEAD};
use crate::types::{EntryKind, HardState, LogIndex};

/// Why a store refused an operation. The core budgets the store (`Config::log_bytes` and the
/// `LOG` window) so that a driver that follows the outputs never sees these; they exist so a
/// driver bug is an error, not a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StoreError {
    /// No room for the entry.
    Full,
    /// The entry's index does not follow the last one held.
    NotContiguous,
    /// The entry is larger than a record can describe.
    TooLarge,
    /// The `Persist` names entries the input does not carry.
    MissingEntries,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreError::Full => "log store full",
            StoreError::NotContiguous => "entry index does not follow the last entry",
            StoreError::TooLarge => "entry too large for a record",
            StoreError::MissingEntries => "the input does not carry the entries Persist names",
        })
    }
}

impl core::error::Error for StoreError {}

/// A log payload store the driver owns.
pub trait LogStore: EntrySource {
    /// Appends `entry` at `index`, which must be `last_index() + 1` (any index when empty).
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError>;
    /// Drops every entry at or after `index`.
    fn truncate_from(&mut self, index: LogIndex);
    /// Drops every entry at or before `upto`.
    fn compact_to(&mut self, upto: LogIndex);
    /// The last index held, or the index before the first when empty.
    fn last_index(&self) -> LogIndex;
}

/// Performs the log part of a `Persist` on `store`: truncation, then the new entries, taken
/// from the `input` of the step that produced the output. (Hard state is the driver's own.)
pub fn persist_entries<S: LogStore + ?Sized>(
    store: &mut S,
    persist: &Persist,
    input: &Input<'_>,
) -> Result<(), StoreError> {
    if let Some(from) = persist.truncate_from {
        store.truncate_from(from);
    }
    let Some(new) = persist.entries else {
        return Ok(());
    };
    match new.from {
        NewEntriesFrom::Proposal { term } => {
            let Input::Propose { data } = input else {
                return Err(StoreError::MissingEntries);
            };
            let e = EntryRef {
                term,
                kind: EntryKind::Normal,
                data,
            };
            store.append(new.first, e)
        }
        NewEntriesFrom::Membership { term } => {
            let Input::ChangeMembership { data } = input else {
                return Err(StoreError::MissingEntries);
            };
            let e = EntryRef {
                term,
                kind: EntryKind::Membership,
                data,
            };
            store.append(new.first, e)
        }
        NewEntriesFrom::LeaveJoint { term } => {
            let e = EntryRef {
                term,
                kind: EntryKind::Membership,
                data: crate::membership::LEAVE_JOINT,
            };
            store.append(new.first, e)
        }
        NewEntriesFrom::Empty { term } => {
            let e = EntryRef {
                term,
                kind: EntryKind::Empty,
                data: &[],
            };
            store.append(new.first, e)
        }
        NewEntriesFrom::Message { skip } => {
            let Some(entries) = input.entries() else {
                return Err(StoreError::MissingEntries);
            };
            let mut it = entries.skip(skip);
            for k in 0..u64::from(new.count) {
                let e = it.next().ok_or(StoreError::MissingEntries)?;
                store.append(new.first.plus(k), e)?;
            }
            Ok(())
        }
    }
}

/// A byte ring of entry records over a caller-provided buffer, indexing up to `E` entries.
///
/// Records are the codec's wire records (`[term][kind][len][payload]`), never split across
/// the end of the buffer, so reads borrow one contiguous slice and an AppendEntries of
/// contiguous records is encoded with one copy. A record that does not fit before the end
/// starts over at offset 0; the space skipped is at most one record, which is why a buffer of
/// `n` bytes is budgeted as [`RingStore::budget`]`(n, max_payload)` bytes for the core.
pub struct RingStore<'a, const E: usize> {
    buf: &'a mut [u8],
    /// Byte offset of each record; slot `(slot0 + k) % E` holds entry `first + k`.
    offs: [u32; E],
    slot0: usize,
    first: LogIndex,
    count: usize,
    /// Byte offset of the first record.
    head: usize,
    /// Byte offset after the last record.
    tail: usize,
    /// When the data wraps: the end of the upper segment `[head, wrap)`; the lower segment is
    /// `[0, tail)`.
    wrap: Option<usize>,
    /// The hard state and commit index last saved through the engine's
    /// [`Storage`](crate::engine::Storage) seam.
    hard_state: (HardState, LogIndex),
}

impl<'a, const E: usize> RingStore<'a, E> {
    /// An empty store over `buf` whose next entry will be `base + 1`.
    pub fn new(buf: &'a mut [u8], base: LogIndex) -> Self {
        RingStore {
            buf,
            offs: [0; E],
            slot0: 0,
            first: base.next(),
            count: 0,
            head: 0,
            tail: 0,
            wrap: None,
            hard_state: (HardState::default(), LogIndex::ZERO),
        }
    }

    /// The hard state and commit index last saved into this store by an
    /// [`Engine`](crate::Engine) (what a restart would restore, were the buffer durable).
    pub fn hard_state(&self) -> (HardState, LogIndex) {
        self.hard_state
    }

    /// The `Config::log_bytes` to give the core for a buffer of `buf_len` bytes holding
    /// payloads of at most `max_payload` bytes: one record's worth less, the most the ring can
    /// lose to the gap left when a record starts over at offset 0.
    pub const fn budget(buf_len: usize, max_payload: u32) -> u32 {
        let r = buf_len.saturating_sub(max_payload as usize + ENTRY_OVERHEAD as usize);
        if r > u32::MAX as usize {
            u32::MAX
        } else {
            r as u32
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn off(&self, index: LogIndex) -> Option<usize> {
        if index < self.first || index.0 - self.first.0 >= self.count as u64 {
            return None;
        }
        let k = (index.0 - self.first.0) as usize;
        // Invariant: `k < self.count` (checked above) and `count <= E` (`append` refuses at `E`),
        // so `E >= 1` and the index, taken `% E`, is below `E`, the length of `offs`.
        Some(self.offs[(self.slot0 + k) % E] as usize)
    }

    fn record_end(&self, off: usize) -> usize {
        // Invariant: `off` is the offset of a record held (from `off()`): `append` wrote its
        // `ENTRY_OVERHEAD` (11) + `len` bytes at `buf[off..]` (`write_record` refuses a shorter
        // tail), so `off + 10 < buf.len()`; and a held record is never overwritten (`place` hands
        // out only free space: `[tail, buf.len())`, or `[0, head)` when it wraps, while not
        // wrapped; `[tail, head)` once wrapped), so the length read here is the one written and
        // the end returned is at most `buf.len()`.
        let len = u16::from_le_bytes([self.buf[off + 9], self.buf[off + 10]]) as usize;
        off + ENTRY_OVERHEAD as usize + len
    }

    fn clear(&mut self, next: LogIndex) {
        self.first = next;
        self.count = 0;
        self.slot0 = 0;
        self.head = 0;
        self.tail = 0;
        self.wrap = None;
    }

    /// Where a record of `need` bytes goes, and whether placing it wraps.
    fn place(&self, need: usize) -> Option<(usize, bool)> {
        match self.wrap {
            None if self.buf.len() - self.tail >= need => Some((self.tail, false)),
            None if self.head >= need => Some((0, true)),
            None => None,
            Some(_) if self.head - self.tail >= need => Some((self.tail, false)),
            Some(_) => None,
        }
    }
}

impl<const E: usize> EntrySource for RingStore<'_, E> {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        let off = self.off(index)?;
        // Invariant: `off` is the offset of a record held, which lies inside `buf` (see
        // `record_end`), so `off <= buf.len()`.
        read_record(&self.buf[off..]).ok().map(|(e, _)| e)
    }

    fn records(&self, first: LogIndex, count: u32) -> Option<&[u8]> {
        if count == 0 {
            return Some(&[]);
        }
        let start = self.off(first)?;
        let last = self.off(first.plus(u64::from(count) - 1))?;
        // Records are laid out in index order; the run is contiguous unless it wraps.
        // Invariant: `start <= last` (the `then` condition) `< record_end(last) <= buf.len()`
        // (`last` is a held record, see `record_end`).
        (last >= start).then(|| &self.buf[start..self.record_end(last)])
    }
}

impl<const E: usize> LogStore for RingStore<'_, E> {
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        if self.count == 0 {
            self.clear(index);
        } else if index != self.first.plus(self.count as u64) {
            return Err(StoreError::NotContiguous);
        }
        if self.count == E {
            return Err(StoreError::Full);
        }
        if entry.data.len() > u16::MAX as usize {
            return Err(StoreError::TooLarge);
        }
        let need = ENTRY_OVERHEAD as usize + entry.data.len();
        let (at, wraps) = self.place(need).ok_or(StoreError::Full)?;
        // Invariant: `at` is `tail` or 0 (`place`), and `tail <= buf.len()` always: it is 0, the
        // end of a record written inside `buf`, the offset of a held record, or the end of the
        // upper segment.
        write_record(&mut self.buf[at..], &entry).map_err(|_| StoreError::Full)?;
        if wraps {
            self.wrap = Some(self.tail);
        }
        self.tail = at + need;
        // Invariant: `count < E` was checked above, so `E >= 1` and the index, taken `% E`, is
        // below `E`, the length of `offs`.
        self.offs[(self.slot0 + self.count) % E] = at as u32;
        self.count += 1;
        Ok(())
    }

    fn truncate_from(&mut self, index: LogIndex) {
        let Some(off) = self.off(index) else {
            if index <= self.first {
                self.clear(self.first);
            }
            return;
        };
        self.count = (index.0 - self.first.0) as usize;
        if self.count == 0 {
            self.clear(self.first);
            return;
        }
        if let Some(w) = self.wrap {
            if off >= self.head {
                // The cut is in the upper segment: the lower one is gone.
                self.wrap = None;
                self.tail = off;
            } else if off == 0 {
                self.wrap = None;
                self.tail = w;
            } else {
                self.tail = off;
            }
        } else {
            self.tail = off;
        }
    }

    fn compact_to(&mut self, upto: LogIndex) {
        if upto < self.first {
            return;
        }
        let next = upto.next();
        let Some(off) = self.off(next) else {
            self.clear(next);
            return;
        };
        let k = (next.0 - self.first.0) as usize;
        if self.wrap.is_some() && off < self.head {
            // The new head is in the lower segment: the data no longer wraps.
            self.wrap = None;
        }
        self.head = off;
        // Invariant: `off(next)` found an entry, so `E >= count >= 1`: the modulus is not zero.
        self.slot0 = (self.slot0 + k) % E;
        self.count -= k;
        self.first = next;
    }

    fn last_index(&self) -> LogIndex {
        self.first.plus(self.count as u64).prev()
    }
}

/// The engine's storage seam over a RAM ring: writes are "durable" when they return (a
/// firmware whose buffer is battery-backed or mirrored to flash, or a test), and the hard state
/// is kept beside the records ([`RingStore::hard_state`]).
impl<const E: usize> crate::engine::Storage for RingStore<'_, E> {
    type Error = StoreError;

    fn save_hard_state(
        &mut self,
        hard_state: HardState,
        commit: LogIndex,
    ) -> Result<(), StoreError> {
        self.hard_state = (hard_state, commit);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Term;

    fn e(data: &[u8]) -> EntryRef<'_> {
        EntryRef {
            term: Term(1),
            kind: EntryKind::Normal,
            data,
        }
    }

    #[test]
    fn ring_wraps_truncates_and_compacts_without_losing_entries() {
        let mut buf = [0u8; 64];
        let mut s: RingStore<'_, 8> = RingStore::new(&mut buf, LogIndex(0));
        // 3 records of 11 + 8 = 19 bytes fill 57 of 64 bytes.
        for i in 1..=3u64 {
            s.append(LogIndex(i), e(&[i as u8; 8])).unwrap();
        }
        assert_eq!(s.append(LogIndex(4), e(&[4; 8])), Err(StoreError::Full));
        s.compact_to(LogIndex(1));
        s.append(LogIndex(4), e(&[4; 8])).unwrap(); // wraps to offset 0
        assert_eq!(s.entry(LogIndex(4)).unwrap().data, &[4; 8]);
        assert_eq!(s.entry(LogIndex(2)).unwrap().data, &[2; 8]);
        assert!(
            s.records(LogIndex(3), 2).is_none(),
            "wrapped run has no contiguous view"
        );
        assert_eq!(s.records(LogIndex(2), 2).unwrap().len(), 38);
        s.truncate_from(LogIndex(3));
        assert_eq!(s.last_index(), LogIndex(2));
        s.append(LogIndex(3), e(&[9; 8])).unwrap();
        assert_eq!(s.entry(LogIndex(3)).unwrap().data, &[9; 8]);
        s.compact_to(LogIndex(3));
        assert!(s.is_empty());
        assert_eq!(s.last_index(), LogIndex(3));
        assert_eq!(
            s.append(LogIndex(9), e(b"x")),
            Ok(()),
            "an empty store restarts anywhere"
        );
        assert_eq!(
            s.append(LogIndex(11), e(b"x")),
            Err(StoreError::NotContiguous)
        );
    }

    /// A ring store answers as a plain list of entries would, through random appends (in
    /// order or not, within its budget or beyond), truncations and compactions, wrapping many
    /// times: the entries held and their records, what is not held, `last_index`, `len`, and
    /// the errors of an append out of order, past `E` entries or without room.
    #[test]
    fn ring_store_answers_as_a_list_of_its_entries() {
        const E: usize = 6;
        const MAX: usize = 20;
        let mut buf = [0u8; 120];
        let budget = RingStore::<E>::budget(120, MAX as u32) as usize;
        let mut s: RingStore<'_, E> = RingStore::new(&mut buf, LogIndex(0));
        // The model: the entries held (term, payload), the first of them at index `first`.
        let mut held: heapless::Deque<(u64, heapless::Vec<u8, MAX>), 8> = heapless::Deque::new();
        let mut first = 1u64;
        let mut rng = crate::rng::Rng::new(20);
        let live = |held: &heapless::Deque<(u64, heapless::Vec<u8, MAX>), 8>| {
            held.iter()
                .map(|(_, d)| d.len() + ENTRY_OVERHEAD as usize)
                .sum::<usize>()
        };
        for step in 0..4_000u32 {
            let last = first + held.len() as u64 - 1;
            match rng.in_range(0, 10) {
                0..=5 => {
                    let len = rng.in_range(0, MAX as u32 + 1) as usize;
                    let data: heapless::Vec<u8, MAX> = (0..len)
                        .map(|k| (step as u8).wrapping_add(k as u8))
                        .collect();
                    let term = u64::from(step);
                    let entry = EntryRef {
                        term: Term(term),
                        kind: EntryKind::Normal,
                        data: &data,
                    };
                    if !held.is_empty() && rng.in_range(0, 4) == 0 {
                        let at = [last, last + 2, first][rng.in_range(0, 3) as usize];
                        assert_eq!(
                            s.append(LogIndex(at), entry),
                            Err(StoreError::NotContiguous)
                        );
                    } else if held.len() == E {
                        assert_eq!(s.append(LogIndex(last + 1), entry), Err(StoreError::Full));
                    } else {
                        let at = if held.is_empty() && rng.in_range(0, 2) == 0 {
                            // An empty store restarts anywhere.
                            first = u64::from(rng.in_range(1, 50));
                            first
                        } else {
                            last + 1
                        };
                        // Within the budget it fits; beyond it, it may not (and then
                        // nothing changes).
                        let r = s.append(LogIndex(at), entry);
                        if live(&held) + len + ENTRY_OVERHEAD as usize <= budget {
                            assert_eq!(r, Ok(()), "step {step}");
                        }
                        match r {
                            Ok(()) => held.push_back((term, data)).unwrap(),
                            Err(e) => assert_eq!(e, StoreError::Full, "step {step}"),
                        }
                    }
                }
                6 | 7 => {
                    let from = first + u64::from(rng.in_range(0, held.len() as u32 + 3)) - 1;
                    s.truncate_from(LogIndex(from));
                    while first + held.len() as u64 > from.max(first) && !held.is_empty() {
                        held.pop_back();
                    }
                }
                _ => {
                    let upto = (first + u64::from(rng.in_range(0, held.len() as u32 + 3)))
                        .saturating_sub(2);
                    s.compact_to(LogIndex(upto));
                    if upto >= first {
                        while first <= upto {
                            if held.pop_front().is_none() {
                                first = upto + 1;
                                break;
                            }
                            first += 1;
                        }
                    }
                }
            }
            assert_eq!(s.len(), held.len(), "step {step}");
            assert_eq!(s.is_empty(), held.is_empty(), "step {step}");
            // The slot of the first entry stays a slot (so its index never overflows).
            assert!(s.slot0 < E, "step {step}");
            assert_eq!(
                s.last_index(),
                LogIndex(first + held.len() as u64 - 1),
                "step {step}"
            );
            for index in first.saturating_sub(2)..first + held.len() as u64 + 2 {
                let got = s.entry(LogIndex(index));
                match index
                    .checked_sub(first)
                    .and_then(|k| held.iter().nth(k as usize))
                {
                    Some((term, data)) => {
                        let e = got.unwrap_or_else(|| panic!("step {step}: {index} missing"));
                        assert_eq!(
                            (e.term, e.kind, e.data),
                            (Term(*term), EntryKind::Normal, &data[..])
                        );
                        // One record is always contiguous; its bytes are the wire record.
                        let mut rec = [0u8; MAX + ENTRY_OVERHEAD as usize];
                        let n = write_record(&mut rec, &e).unwrap();
                        assert_eq!(
                            s.records(LogIndex(index), 1),
                            Some(&rec[..n]),
                            "step {step}"
                        );
                    }
                    None => {
                        assert!(got.is_none(), "step {step}: {index} held");
                        assert_eq!(s.records(LogIndex(index), 1), None, "step {step}");
                    }
                }
            }
            // A run of every entry held: absent only where the records wrap, else their bytes.
            if let Some(run) = s.records(LogIndex(first), held.len() as u32) {
                let mut at = 0;
                for (term, data) in &held {
                    let (e, _) = read_record(&run[at..]).unwrap();
                    assert_eq!((e.term, e.data), (Term(*term), &data[..]), "step {step}");
                    at += ENTRY_OVERHEAD as usize + data.len();
                }
                assert_eq!(at, run.len(), "step {step}");
            }
        }
    }

    /// A record's length field is 16 bits: an entry of 65,535 bytes is taken, one of a byte
    /// more is refused as too large.
    #[test]
    fn an_entry_of_u16_max_bytes_is_taken_and_one_byte_more_is_too_large() {
        static DATA: [u8; 65_536] = [5; 65_536];
        let mut buf = [0u8; 70_000];
        let mut s: RingStore<'_, 4> = RingStore::new(&mut buf, LogIndex(0));
        assert_eq!(s.append(LogIndex(1), e(&DATA)), Err(StoreError::TooLarge));
        assert_eq!(s.append(LogIndex(1), e(&DATA[..65_535])), Ok(()));
        assert_eq!(s.entry(LogIndex(1)).map(|x| x.data.len()), Some(65_535));
    }

    /// Each store error says what went wrong, in its own words.
    #[test]
    fn store_errors_say_what_went_wrong() {
        use core::fmt::Write;
        let cases = [
            (StoreError::Full, "log store full"),
            (
                StoreError::NotContiguous,
                "entry index does not follow the last entry",
            ),
            (StoreError::TooLarge, "entry too large for a record"),
            (
                StoreError::MissingEntries,
                "the input does not carry the entries Persist names",
            ),
        ];
        for (e, want) in cases {
            let mut got: heapless::String<64> = heapless::String::new();
            write!(got, "{e}").unwrap();
            assert_eq!(got, want);
        }
    }

    /// What the engine saves through the storage seam is what `hard_state` gives back.
    #[test]
    fn the_saved_hard_state_and_commit_are_given_back() {
        use crate::engine::Storage;
        let mut buf = [0u8; 16];
        let mut s: RingStore<'_, 4> = RingStore::new(&mut buf, LogIndex(0));
        assert_eq!(s.hard_state(), (HardState::default(), LogIndex::ZERO));
        let hs = HardState {
            term: Term(3),
            vote: Some(crate::types::NodeId(2)),
        };
        assert_eq!(s.save_hard_state(hs, LogIndex(5)), Ok(()));
        assert_eq!(s.hard_state(), (hs, LogIndex(5)));
    }

    /// The budget is the buffer less one largest record, and at most `u32::MAX` (a buffer
    /// beyond 4 GiB).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn budget_is_the_buffer_less_one_record_capped_at_u32_max() {
        let record = 100 + ENTRY_OVERHEAD as usize;
        assert_eq!(RingStore::<4>::budget(1_000, 100), 1_000 - record as u32);
        assert_eq!(RingStore::<4>::budget(record, 100), 0);
        assert_eq!(RingStore::<4>::budget(10, 100), 0);
        let max = u32::MAX as usize;
        assert_eq!(RingStore::<4>::budget(max + record, 100), u32::MAX);
        assert_eq!(RingStore::<4>::budget(max + record - 1, 100), u32::MAX - 1);
        assert_eq!(RingStore::<4>::budget(max + record + 1, 100), u32::MAX);
        assert_eq!(RingStore::<4>::budget(1 << 40, 100), u32::MAX);
    }

    #[test]
    fn budget_is_always_enough() {
        // Any sequence of appends and compactions whose live bytes stay within the budget
        // fits: exercise every record size against a small ring.
        let mut buf = [0u8; 100];
        let max = 20u32;
        let budget = RingStore::<16>::budget(100, max) as usize;
        let mut s: RingStore<'_, 16> = RingStore::new(&mut buf, LogIndex(0));
        let mut live: heapless::Deque<usize, 16> = heapless::Deque::new();
        let mut used = 0usize;
        for (next, step) in (1u64..).zip(0..2000usize) {
            let len = (step * 7) % (max as usize + 1);
            let rec = len + ENTRY_OVERHEAD as usize;
            while used + rec > budget || live.len() == 16 {
                used -= live.pop_front().unwrap();
                s.compact_to(LogIndex(next - live.len() as u64 - 1));
            }
            s.append(LogIndex(next), e(&[7; 20][..len])).unwrap();
            live.push_back(rec).unwrap();
            used += rec;
        }
    }
}
