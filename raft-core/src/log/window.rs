//! The core's bounded log window: entry metadata for `first ..= last`, in storage the caller
//! chooses ([`WindowStorage`]).

use crate::record::ENTRY_OVERHEAD;
use crate::types::{EntryKind, LogIndex, Term};

/// What the core remembers of one entry: 16 bytes, independent of the payload size. A log
/// window is an array of these (see [`WindowStorage`]); their contents are the core's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogSlot {
    pub(crate) term: Term,
    pub(crate) len: u16,
    pub(crate) kind: EntryKind,
}

impl LogSlot {
    /// An unused slot (term 0, no payload, [`EntryKind::Normal`]): the same value as
    /// `LogSlot::default()`, but `const`, so that window storage can be a `static` array
    /// initialised at compile time (`[LogSlot::EMPTY; LOG]`, in `.bss`) instead of being built
    /// at run time. A window's contents do not matter when it is handed to a `State`.
    pub const EMPTY: LogSlot = LogSlot {
        term: Term(0),
        len: 0,
        kind: EntryKind::Normal,
    };

    /// Bytes this entry takes in the store and in a frame.
    pub(crate) fn record_bytes(&self) -> u32 {
        u32::from(self.len) + ENTRY_OVERHEAD
    }
}

/// Where a [`State`](crate::State) keeps its log window: `LOG` [`LogSlot`]s (16 bytes each) in
/// storage the caller chooses, as smoltcp lets its caller choose socket buffers. The default is
/// an inline array (`[LogSlot; LOG]`, right for a firmware `static` and for small windows); a
/// host with a large window passes a boxed slice (`Box<[LogSlot]>`) so that `State` stays a few
/// KiB and a by-value step copies only that; a firmware may also lend a `&'static mut` array.
///
/// Anything that is a mutable slice of slots qualifies; the constructors check that it holds
/// exactly `LOG` slots ([`ConfigError::WindowStorage`](crate::ConfigError::WindowStorage)).
pub trait WindowStorage: AsRef<[LogSlot]> + AsMut<[LogSlot]> {}

impl<T: AsRef<[LogSlot]> + AsMut<[LogSlot]> + ?Sized> WindowStorage for T {}

/// A ring of up to `L` entry metas following the compaction point `(base, base_term)`, in `W`
/// (which holds exactly `L` slots: `L` stays a constant so that the ring arithmetic is cheap).
#[derive(Clone, Debug)]
pub(crate) struct Window<const L: usize, W = [LogSlot; L]> {
    metas: W,
    /// Slot of the first entry (index `base + 1`).
    head: usize,
    /// Number of entries held.
    len: usize,
    /// The index just before the window (the compaction / snapshot point).
    base: LogIndex,
    /// The term of `base`.
    base_term: Term,
    /// Store bytes used by the entries held.
    bytes: u64,
}

impl<const L: usize, W: WindowStorage> Window<L, W> {
    /// A window over `metas`, or `None` unless it holds exactly `L` slots.
    pub(crate) fn new(metas: W, base: LogIndex, base_term: Term) -> Option<Self> {
        if metas.as_ref().len() != L {
            return None;
        }
        Some(Window {
            metas,
            head: 0,
            len: 0,
            base,
            base_term,
            bytes: 0,
        })
    }

    pub(crate) fn base(&self) -> LogIndex {
        self.base
    }

    pub(crate) fn base_term(&self) -> Term {
        self.base_term
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn free(&self) -> usize {
        L - self.len
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn last_index(&self) -> LogIndex {
        self.base.plus(self.len as u64)
    }

    pub(crate) fn last_term(&self) -> Term {
        self.term(self.last_index()).unwrap_or(self.base_term)
    }

    fn slot(&self, index: LogIndex) -> Option<usize> {
        if index <= self.base || index > self.last_index() {
            return None;
        }
        let off = (index.0 - self.base.0 - 1) as usize;
        // Invariant: `base < index <= last_index() = base + len` (checked above), so `off < len`
        // and `L >= len >= 1`: the modulus is not zero.
        Some((self.head + off) % L)
    }

    /// Metadata of an entry inside the window.
    pub(crate) fn meta(&self, index: LogIndex) -> Option<&LogSlot> {
        // Invariant: `slot` returns an index taken `% L`, below `L`; `metas` holds exactly `L`
        // slots: `Window::new` refuses any other length, and the field is private and never
        // replaced (this assumes the storage's `as_ref`/`as_mut` keep returning that same slice, as
        // arrays, boxed slices and `&mut` arrays do).
        self.slot(index).map(|s| &self.metas.as_ref()[s])
    }

    /// The term of `index`: known for the window, the base, and index 0.
    #[inline]
    pub(crate) fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.base {
            return Some(self.base_term);
        }
        if index == LogIndex::ZERO {
            return Some(Term(0));
        }
        self.meta(index).map(|m| m.term)
    }

    /// Appends one entry at `last + 1`. False if the window is full.
    pub(crate) fn push(&mut self, meta: LogSlot) -> bool {
        if self.len == L {
            return false;
        }
        // Invariant: `len <= L` always (only this function grows it) and `len != L` was checked
        // above, so `L >= 1` and `s < L`; `metas` holds exactly `L` slots (see `meta`).
        let s = (self.head + self.len) % L;
        self.metas.as_mut()[s] = meta;
        self.len += 1;
        self.bytes += u64::from(meta.record_bytes());
        true
    }

    /// Drops every entry at or after `index` (which must be above the base).
    pub(crate) fn truncate_from(&mut self, index: LogIndex) {
        while self.len > 0 && self.last_index() >= index && index > self.base {
            // Invariant: `len > 0` (the loop condition), so `head + len - 1` does not underflow and
            // `L >= len >= 1`; `s < L`, and `metas` holds exactly `L` slots (see `meta`).
            let s = (self.head + self.len - 1) % L;
            self.bytes -= u64::from(self.metas.as_ref()[s].record_bytes());
            self.len -= 1;
        }
    }

    /// Empties the window and makes `(base, base_term)` its compaction point (a snapshot
    /// was installed that the log does not match).
    pub(crate) fn reset(&mut self, base: LogIndex, base_term: Term) {
        // In place: building a new `Window` would put `L` metas (128 KiB for `L` = 8192) on
        // the stack of every caller that inlines this, and `step` pays the stack probes of
        // that frame on every input. Slots outside `head .. head + len` are never read.
        self.head = 0;
        self.len = 0;
        self.base = base;
        self.base_term = base_term;
        self.bytes = 0;
    }

    /// Drops every entry at or before `upto` (clamped to the window), making `upto` the base.
    pub(crate) fn compact_to(&mut self, upto: LogIndex) {
        let upto = upto.min(self.last_index());
        while self.base < upto {
            // Invariant: `head < L` always (0, or set to `(head + 1) % L`); the loop runs only
            // while `base < upto <= last_index() = base + len`, so `len >= 1` and `L >= 1` for the
            // `% L` below; `metas` holds exactly `L` slots (see `meta`).
            let m = self.metas.as_ref()[self.head];
            self.bytes -= u64::from(m.record_bytes());
            self.base_term = m.term;
            self.base = self.base.next();
            self.head = (self.head + 1) % L;
            self.len -= 1;
        }
    }

    /// The largest index at or below `index` whose term is at most `term`; used for fast
    /// backtracking on both sides. Below the window, the base answers.
    pub(crate) fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> LogIndex {
        let mut i = index.min(self.last_index());
        while i > self.base {
            match self.term(i) {
                Some(t) if t <= term => return i,
                _ => i = i.prev(),
            }
        }
        self.base
    }

    /// Whether `(index, term)` names an entry of this log (Log Matching's check).
    #[inline]
    pub(crate) fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term(index) == Some(term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(term: u64) -> LogSlot {
        LogSlot {
            term: Term(term),
            len: 4,
            kind: EntryKind::Normal,
        }
    }

    #[test]
    fn the_const_empty_slot_is_the_default_one() {
        const WINDOW: [LogSlot; 4] = [LogSlot::EMPTY; 4];
        assert_eq!(WINDOW, [LogSlot::default(); 4]);
    }

    #[test]
    fn push_truncate_compact_keep_indices_and_bytes() {
        let mut w: Window<4> = Window::new([LogSlot::default(); 4], LogIndex(0), Term(0)).unwrap();
        for t in [1, 1, 2, 3] {
            assert!(w.push(meta(t)));
        }
        assert!(!w.push(meta(3)), "full window refuses");
        assert_eq!(w.last_index(), LogIndex(4));
        assert_eq!(w.bytes(), 4 * 15);
        w.truncate_from(LogIndex(3));
        assert_eq!((w.last_index(), w.last_term()), (LogIndex(2), Term(1)));
        w.compact_to(LogIndex(1));
        assert_eq!((w.base(), w.base_term()), (LogIndex(1), Term(1)));
        assert_eq!(w.term(LogIndex(1)), Some(Term(1)));
        assert_eq!(w.term(LogIndex(0)), Some(Term(0)));
        assert!(w.push(meta(4)) && w.push(meta(4)) && w.push(meta(5)));
        assert_eq!(w.free(), 0);
        assert_eq!(w.term(LogIndex(5)), Some(Term(5)));
        assert_eq!(w.find_conflict_by_term(LogIndex(5), Term(4)), LogIndex(4));
        assert_eq!(w.find_conflict_by_term(LogIndex(5), Term(0)), LogIndex(1));
    }

    /// Truncating gives back the store bytes of exactly the entries dropped, whatever their
    /// sizes and wherever the ring puts them.
    #[test]
    fn truncate_gives_back_the_bytes_of_the_entries_it_drops() {
        let sized = |len: u16| LogSlot {
            term: Term(1),
            len,
            kind: EntryKind::Normal,
        };
        let mut w: Window<4> = Window::new([LogSlot::default(); 4], LogIndex(0), Term(0)).unwrap();
        for len in [1, 2, 3] {
            assert!(w.push(sized(len)));
        }
        assert_eq!(w.bytes(), 6 + 3 * u64::from(ENTRY_OVERHEAD));
        w.truncate_from(LogIndex(3));
        assert_eq!(w.bytes(), 3 + 2 * u64::from(ENTRY_OVERHEAD));
        // Past the end of the ring: entries 2 ..= 5 in slots 1, 2, 3, 0.
        w.compact_to(LogIndex(1));
        for len in [7, 50, 9] {
            assert!(w.push(sized(len)));
        }
        assert_eq!(w.bytes(), 68 + 4 * u64::from(ENTRY_OVERHEAD));
        w.truncate_from(LogIndex(4));
        assert_eq!(w.bytes(), 9 + 2 * u64::from(ENTRY_OVERHEAD));
        w.truncate_from(LogIndex(2));
        assert_eq!((w.len(), w.bytes()), (0, 0));
    }

    /// With no entry of a term at most the one asked for, the compaction point answers, also
    /// where it is index 0 with a nonzero term (a restored log may start so).
    #[test]
    fn below_every_term_asked_the_compaction_point_answers() {
        for base in [0, 2] {
            let mut w: Window<4> =
                Window::new([LogSlot::default(); 4], LogIndex(base), Term(3)).unwrap();
            assert!(w.push(meta(3)) && w.push(meta(4)));
            for index in [base, base + 1, base + 2, base + 9] {
                let got = w.find_conflict_by_term(LogIndex(index), Term(2));
                assert_eq!(got, LogIndex(base), "base {base} index {index}");
            }
            let got = w.find_conflict_by_term(LogIndex(base + 2), Term(3));
            assert_eq!(got, LogIndex(base + 1));
        }
    }
}
