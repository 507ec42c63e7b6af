//! An in-memory log store for the simulator that also keeps a hash chain per entry, so the
//! checker can compare whole log prefixes in O(1) (Log Matching).

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::{EntryKind, LogIndex, Term};
use raftcore::{LogStore, StoreError};

/// One stored entry with the chain hash of the log prefix ending at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEntry {
    /// The entry's term.
    pub term: Term,
    /// The entry's kind.
    pub kind: EntryKind,
    /// The payload.
    pub data: Vec<u8>,
    /// Hash of (previous chain, term, kind, data).
    pub chain: u64,
}

/// FNV-1a style mixing; the simulator only needs collisions to be vanishingly rare.
pub fn mix(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// The chain hash of an entry following a prefix whose chain is `prev`.
pub fn chain_of(prev: u64, term: Term, kind: EntryKind, data: &[u8]) -> u64 {
    let h = mix(prev ^ 0xCBF2_9CE4_8422_2325, &term.0.to_le_bytes());
    let h = mix(h, &[kind.to_byte()]);
    mix(mix(h, &(data.len() as u64).to_le_bytes()), data)
}

/// A `Vec`-backed [`LogStore`] with a compaction base.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStore {
    base: LogIndex,
    base_term: Term,
    base_chain: u64,
    entries: Vec<OwnedEntry>,
}

impl MemStore {
    /// The index before the first entry held.
    pub fn base(&self) -> LogIndex {
        self.base
    }
    /// The term of `base`.
    pub fn base_term(&self) -> Term {
        self.base_term
    }
    /// The entry at `index`, if held.
    pub fn get(&self, index: LogIndex) -> Option<&OwnedEntry> {
        if index <= self.base {
            return None;
        }
        self.entries.get((index.0 - self.base.0 - 1) as usize)
    }
    /// The chain hash at `index` (the base's too), if known.
    pub fn chain(&self, index: LogIndex) -> Option<u64> {
        if index == self.base {
            return Some(self.base_chain);
        }
        self.get(index).map(|e| e.chain)
    }
    /// The term at `index` (the base's too), if known.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.base {
            return Some(self.base_term);
        }
        self.get(index).map(|e| e.term)
    }
    /// Drops every entry and starts the log after `(base, base_term)`, whose prefix has chain
    /// hash `base_chain` (a snapshot was installed).
    pub fn reset(&mut self, base: LogIndex, base_term: Term, base_chain: u64) {
        *self = MemStore {
            base,
            base_term,
            base_chain,
            entries: Vec::new(),
        };
    }

    /// Keeps entries after `base` only (a snapshot at `base` was installed that the log
    /// matches).
    pub fn rebase(&mut self, base: LogIndex) {
        raftcore::LogStore::compact_to(self, base);
    }

    /// All entries held, after `base`.
    pub fn entries(&self) -> &[OwnedEntry] {
        &self.entries
    }
}

impl EntrySource for MemStore {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.get(index).map(|e| EntryRef {
            term: e.term,
            kind: e.kind,
            data: &e.data,
        })
    }
}

impl LogStore for MemStore {
    fn append(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        if index != self.last_index().next() {
            return Err(StoreError::NotContiguous);
        }
        let prev = self.chain(self.last_index()).unwrap_or(0);
        let chain = chain_of(prev, e.term, e.kind, e.data);
        self.entries.push(OwnedEntry {
            term: e.term,
            kind: e.kind,
            data: e.data.to_vec(),
            chain,
        });
        Ok(())
    }

    fn truncate_from(&mut self, index: LogIndex) {
        let keep = index.0.saturating_sub(self.base.0 + 1) as usize;
        self.entries.truncate(keep);
    }

    fn compact_to(&mut self, upto: LogIndex) {
        let upto = upto.min(self.last_index());
        if upto <= self.base {
            return;
        }
        let n = (upto.0 - self.base.0) as usize;
        let last = &self.entries[n - 1];
        self.base_term = last.term;
        self.base_chain = last.chain;
        self.base = upto;
        self.entries.drain(..n);
    }

    fn last_index(&self) -> LogIndex {
        self.base.plus(self.entries.len() as u64)
    }
}
