//! A node's storage as a driver keeps it: the log store (the entries after a compaction
//! base), the durable hard state and commit index, the durable snapshot file, the snapshot
//! being received, and the register state machine whose captures the snapshots are.
//!
//! Durability is inline: the engine syncs every write before the step's next output (the
//! seams in `seams.rs` check it), and crashes happen between steps, so what the disk holds
//! is what was made durable. A crash keeps [`Disk::hs`], [`Disk::commit`], [`Disk::log`] and
//! [`Disk::snapshot`]; the state machine restarts from the snapshot (or empty) and the
//! snapshot being received is lost.

use std::hash::{Hash, Hasher};

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::{
    EntryKind, LogIndex, LogStore, Membership, NodeId, SnapshotMeta, StoreError, Term,
    MEMBERSHIP_BYTES,
};

use crate::{Value, VOTERS};

/// One log entry in a node's store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The term.
    pub term: Term,
    /// Normal, the leader's empty entry or a membership change (`EntryKind::to_byte`;
    /// `EntryKind` has no `Hash`).
    pub kind: u8,
    /// `[client, 1, value]` for a write, `[client, 0, 0]` for a read, empty for `Empty`, the
    /// encoded configuration for a membership change.
    pub data: Vec<u8>,
}

/// A node's log store: the entries after `base`. Compaction drops entries for good; a
/// snapshot install starts the store over after the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Log {
    /// The index the store starts after (0, or the last index compacted away).
    pub base: LogIndex,
    /// The term of the entry at `base` (0 for index 0).
    pub base_term: Term,
    /// The entries at `base + 1`, `base + 2`, ...
    pub entries: Vec<Entry>,
}

impl Log {
    /// The entry at `index`, if held.
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        let at = index.0.checked_sub(self.base.0)?.checked_sub(1)?;
        self.entries.get(usize::try_from(at).ok()?)
    }

    /// The term at `index`, the base's included, if known.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.base {
            return Some(self.base_term);
        }
        self.get(index).map(|e| e.term)
    }

    /// Drops every entry and starts the store after `(base, base_term)` (a snapshot whose
    /// last entry this store does not hold was installed).
    pub fn reset(&mut self, base: LogIndex, base_term: Term) {
        *self = Log {
            base,
            base_term,
            entries: Vec::new(),
        };
    }
}

impl EntrySource for Log {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        let e = self.get(index)?;
        Some(EntryRef {
            term: e.term,
            kind: EntryKind::from_byte(e.kind)?,
            data: &e.data,
        })
    }
}

impl LogStore for Log {
    fn append(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        if index != self.last_index().next() {
            return Err(StoreError::NotContiguous);
        }
        self.entries.push(Entry {
            term: e.term,
            kind: e.kind.to_byte(),
            data: e.data.to_vec(),
        });
        Ok(())
    }

    fn truncate_from(&mut self, index: LogIndex) {
        let keep = index.0.saturating_sub(self.base.0 + 1);
        self.entries.truncate(keep as usize);
    }

    fn compact_to(&mut self, upto: LogIndex) {
        let upto = upto.min(self.last_index());
        if upto <= self.base {
            return;
        }
        let n = (upto.0 - self.base.0) as usize;
        self.base_term = self.entries[n - 1].term;
        self.base = upto;
        self.entries.drain(..n);
    }

    fn last_index(&self) -> LogIndex {
        LogIndex(self.base.0 + self.entries.len() as u64)
    }
}

/// A configuration that hashes (by its canonical encoding; `Membership` has no `Hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Members(pub Membership);

impl Hash for Members {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mut buf = [0u8; MEMBERSHIP_BYTES];
        self.0.encode(&mut buf).hash(h);
    }
}

/// The replicated register as a state machine: its value, the configuration as of the last
/// entry applied (what a snapshot names in [`SnapshotMeta::members`]), and every entry it
/// applied (the snapshot carries them, so a node that installs one can be checked entry by
/// entry against what the others applied: State Machine Safety across snapshots).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Machine {
    /// The last index applied.
    pub applied: LogIndex,
    /// The register.
    pub register: Value,
    /// The configuration as of `applied`.
    pub members: Members,
    /// The entry applied at each index from 1: (term, kind, data).
    pub history: Vec<(Term, u8, Vec<u8>)>,
}

impl Machine {
    /// The state machine before anything is applied: the initial voters.
    pub fn initial() -> Machine {
        Machine {
            applied: LogIndex(0),
            register: 0,
            members: Members(Membership::new(&VOTERS, &[]).expect("3 voters")),
            history: Vec::new(),
        }
    }

    /// Applies the entry `(term, kind, data)` at the next index (`kind` as
    /// `EntryKind::to_byte`).
    pub fn apply(&mut self, term: Term, kind: u8, data: &[u8]) {
        self.applied = self.applied.next();
        self.history.push((term, kind, data.to_vec()));
        if kind == EntryKind::Membership.to_byte() {
            // The core accepted it, so it decodes.
            if let Ok(m) = Membership::decode_entry(data, &self.members.0) {
                self.members = Members(m);
            }
        } else if let [_, 1, v] = data {
            self.register = *v;
        }
    }

    /// The snapshot bytes: the applied index and the register, then every applied entry as
    /// its index, term, kind, length and data. (Large enough to stream in several chunks
    /// of the model's 128-byte frames once a write is applied.)
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&self.applied.0.to_le_bytes());
        b.push(self.register);
        for (i, (term, kind, data)) in self.history.iter().enumerate() {
            b.extend_from_slice(&(i as u64 + 1).to_le_bytes());
            b.extend_from_slice(&term.0.to_le_bytes());
            b.push(*kind);
            b.push(data.len() as u8);
            b.extend_from_slice(data);
        }
        b
    }

    /// The state machine in snapshot bytes, with the snapshot's configuration; `None` if
    /// the bytes are malformed.
    pub fn decode(b: &[u8], members: Membership) -> Option<Machine> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
        };
        let mut m = Machine {
            applied: LogIndex(u64_at(0)?),
            register: *b.get(8)?,
            members: Members(members),
            history: Vec::new(),
        };
        let mut at = 9;
        while at < b.len() {
            if u64_at(at)? != m.history.len() as u64 + 1 {
                return None;
            }
            let term = Term(u64_at(at + 8)?);
            let kind = *b.get(at + 16)?;
            let len = usize::from(*b.get(at + 17)?);
            let data = b.get(at + 18..at + 18 + len)?.to_vec();
            m.history.push((term, kind, data));
            at += 18 + len;
        }
        (m.history.len() as u64 == m.applied.0).then_some(m)
    }
}

/// The driver's snapshot checksum (FNV-1a, 32 bits); the core only carries it.
pub fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A durable snapshot file: its description and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapFile {
    /// What the core knows it by.
    pub meta: SnapshotMeta,
    /// The captured state machine ([`Machine::encode`]).
    pub bytes: Vec<u8>,
}

impl Hash for SnapFile {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let m = &self.meta;
        (m.index, m.term, m.len, m.checksum).hash(h);
        Members(m.members).hash(h);
        self.bytes.hash(h);
    }
}

/// What survives a crash, and the state machine (rebuilt after a restart from the snapshot
/// and the log).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Disk {
    /// The durable hard state.
    pub hs: (Term, Option<NodeId>),
    /// The durable commit index (`Persist::commit`).
    pub commit: LogIndex,
    /// The log store.
    pub log: Log,
    /// The durable snapshot file, if the node captured or installed one.
    pub snapshot: Option<SnapFile>,
    /// The snapshot being received, chunk by chunk (the driver's temporary file; lost on a
    /// crash).
    pub incoming: Vec<u8>,
    /// The register state machine (volatile).
    pub machine: Machine,
}

impl Disk {
    /// A fresh node's storage.
    pub fn new() -> Disk {
        Disk {
            hs: (Term(0), None),
            commit: LogIndex(0),
            log: Log::default(),
            snapshot: None,
            incoming: Vec::new(),
            machine: Machine::initial(),
        }
    }

    /// The index the snapshot file covers (0 without one).
    pub fn snapshot_index(&self) -> LogIndex {
        self.snapshot.as_ref().map_or(LogIndex(0), |f| f.meta.index)
    }
}

impl Default for Disk {
    fn default() -> Disk {
        Disk::new()
    }
}

/// The encoder reads entries from the log store and snapshot chunks from the snapshot file.
impl EntrySource for Disk {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }

    fn snapshot_chunk(&self, meta: &SnapshotMeta, offset: u64, len: u32) -> Option<&[u8]> {
        let f = self.snapshot.as_ref()?;
        if f.meta != *meta {
            return None;
        }
        let at = usize::try_from(offset).ok()?;
        f.bytes.get(at..at.checked_add(len as usize)?)
    }
}
