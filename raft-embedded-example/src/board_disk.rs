//! A board's disk: raft-core's `RingStore` in RAM (what the codec reads entries from) in
//! front of a [`Journal`] in flash (what survives a power cut), with the board's captures of
//! its digest and its compaction point, and the journal's collection (what a collection
//! carries over besides the log). The engine's [`Storage`] seam of
//! [`crate::board_node`].

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::Storage;
use raftcore::{
    persist_entries, EntryKind, HardState, Input, LogIndex, LogStore, NodeId, Persist, Restored,
    StoreError, Term,
};

use crate::board::NodeError;
use crate::board_node::{BoardRing, BOARD_STORE};
use crate::journal::{Flash, Journal, JournalError, Rec, Replay};

/// The engine's [`Storage`]: a RAM ring for reads, a journal for durability.
pub struct BoardDisk<F> {
    log: BoardRing,
    durable: Durable<F>,
}

/// The board's last capture of its state machine (the digest), as journaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// The applied index captured (0: none yet).
    pub index: LogIndex,
    /// Its term.
    pub term: Term,
    /// The digest's count of values applied.
    pub values: u32,
    /// The digest's last value applied.
    pub last: u32,
}

/// The journal and what a collection must carry over besides the log.
struct Durable<F> {
    journal: Journal<F>,
    /// The greatest boot epoch the journal holds (0: none yet).
    epoch: u32,
    /// The compaction point: the log starts after it.
    base: (LogIndex, Term),
    /// The last capture.
    capture: Capture,
}

impl<F: Flash> Durable<F> {
    /// Appends `rec`. When it does not fit the rest of the half, the live records (with the
    /// log's entries up to `upto`: those already journaled) are rewritten into the other half
    /// first ([`Journal::rewrite`]).
    fn append(&mut self, log: &BoardRing, upto: LogIndex, rec: &Rec<'_>) -> Result<(), NodeError> {
        match self.journal.append(rec) {
            Err(JournalError::Full) => self
                .collect(log, upto)
                .and_then(|()| self.journal.append(rec)),
            r => r,
        }
        .map_err(NodeError::Journal)
    }

    /// Rewrites what is live: the epoch, the hard state, the capture, the compaction point and
    /// the entries after it up to `upto`.
    fn collect(&mut self, log: &BoardRing, upto: LogIndex) -> Result<(), JournalError> {
        let (hard, commit) = log.hard_state();
        let (epoch, base, c) = (self.epoch, self.base, self.capture);
        self.journal.rewrite(|j| {
            j.append(&Rec::Epoch { epoch })?;
            j.append(&Rec::Hard {
                term: hard.term.0,
                vote: hard.vote.map_or(0, |v| v.0),
                commit: commit.0,
            })?;
            j.append(&Rec::Capture {
                index: c.index.0,
                term: c.term.0,
                values: c.values,
                last: c.last,
            })?;
            j.append(&Rec::Base {
                index: base.0 .0,
                term: base.1 .0,
            })?;
            let mut index = base.0.next();
            // The ring holds every index from its base to its last, so each is found.
            while index <= upto {
                if let Some(e) = log.entry(index) {
                    j.append(&entry_rec(index, e))?;
                }
                index = index.next();
            }
            Ok(())
        })
    }
}

/// The journal record of the entry at `index`.
fn entry_rec(index: LogIndex, e: EntryRef<'_>) -> Rec<'_> {
    Rec::Entry {
        index: index.0,
        term: e.term.0,
        kind: e.kind.to_byte(),
        data: e.data,
    }
}

impl<F: Flash> BoardDisk<F> {
    /// Opens the journal in `flash` and replays it into a ring over `buf`. Returns the disk,
    /// what the node restarts from, and what the replay found. The state machine restarts
    /// from [`BoardDisk::capture`].
    pub fn open(
        buf: &'static mut [u8; BOARD_STORE],
        flash: F,
    ) -> Result<(BoardDisk<F>, Restored, Replay), JournalError> {
        let mut log = BoardRing::new(buf, LogIndex::ZERO);
        let mut hard = (HardState::default(), LogIndex::ZERO);
        let mut refused = 0u32;
        let mut epoch = 0u32;
        let mut base = (LogIndex::ZERO, Term(0));
        let mut capture = Capture::default();
        let (journal, mut replay) = Journal::open(flash, |rec| match *rec {
            Rec::Entry {
                index,
                term,
                kind,
                data,
            } => {
                let index = LogIndex(index);
                if index <= log.last_index() {
                    log.truncate_from(index);
                }
                let ok = EntryKind::from_byte(kind).is_some_and(|kind| {
                    let e = EntryRef {
                        term: Term(term),
                        kind,
                        data,
                    };
                    log.append(index, e).is_ok()
                });
                if !ok {
                    refused += 1;
                }
            }
            Rec::Truncate { from } => log.truncate_from(LogIndex(from)),
            Rec::Base { index, term } => {
                log.compact_to(LogIndex(index));
                base = (LogIndex(index), Term(term));
            }
            Rec::Capture {
                index,
                term,
                values,
                last,
            } => {
                capture = Capture {
                    index: LogIndex(index),
                    term: Term(term),
                    values,
                    last,
                }
            }
            Rec::Hard { term, vote, commit } => {
                hard = (
                    HardState {
                        term: Term(term),
                        vote: (vote != 0).then_some(NodeId(vote)),
                    },
                    LogIndex(commit),
                );
            }
            Rec::Epoch { epoch: e } => epoch = epoch.max(e),
            Rec::Resume { .. } => {}
        })?;
        replay.torn += refused;
        // The ring's own copy, which `restored` reads back.
        let _ = log.save_hard_state(hard.0, hard.1);
        let restored = Restored {
            hard_state: hard.0,
            // A commit index beyond the log replayed (a torn tail) is not trusted; what the
            // capture applied was committed.
            commit: hard.1.min(log.last_index()).max(capture.index),
            base,
            // The core refuses a restore whose capture is older than the compaction point
            // (a damaged journal that lost the capture but kept a later compaction).
            applied: capture.index,
            members: None,
            vote_floor: LogIndex::ZERO,
        };
        Ok((
            BoardDisk {
                log,
                durable: Durable {
                    journal,
                    epoch,
                    base,
                    capture,
                },
            },
            restored,
            replay,
        ))
    }

    /// This boot's epoch: one more than any the journal holds, made durable before it is
    /// returned, so no counter a board sealed with is ever used again (even if this boot
    /// is cut before it seals anything).
    pub fn advance_epoch(&mut self) -> Result<u32, NodeError> {
        let epoch = self
            .durable
            .epoch
            .checked_add(1)
            .ok_or(NodeError::EpochsExhausted)?;
        let last = self.log.last_index();
        self.durable
            .append(&self.log, last, &Rec::Epoch { epoch })?;
        self.durable.epoch = epoch;
        Ok(epoch)
    }

    /// Journals `c`, the state machine as of its applied index: once this returns, the log
    /// may be compacted up to `c.index` (tell the engine: [`raftcore::Engine::captured`]).
    pub fn save_capture(&mut self, c: Capture) -> Result<(), NodeError> {
        let rec = Rec::Capture {
            index: c.index.0,
            term: c.term.0,
            values: c.values,
            last: c.last,
        };
        let last = self.log.last_index();
        self.durable.append(&self.log, last, &rec)?;
        self.durable.capture = c;
        Ok(())
    }

    /// The last capture journaled (what the state machine restarts from).
    pub fn capture(&self) -> Capture {
        self.durable.capture
    }

    /// Journal bytes used in the half in use.
    pub fn journal_used(&self) -> u32 {
        self.durable.journal.used()
    }

    /// Garbage collections so far (the journal's generation, less the first).
    pub fn collections(&self) -> u32 {
        self.durable.journal.generation() - 1
    }
}

impl<F> EntrySource for BoardDisk<F> {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }

    fn records(&self, first: LogIndex, count: u32) -> Option<&[u8]> {
        self.log.records(first, count)
    }
}

/// The ring alone: the engine changes the log only through [`Storage::persist`], which
/// journals what it does.
impl<F> LogStore for BoardDisk<F> {
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        self.log.append(index, entry)
    }

    fn truncate_from(&mut self, index: LogIndex) {
        self.log.truncate_from(index)
    }

    fn compact_to(&mut self, upto: LogIndex) {
        self.log.compact_to(upto)
    }

    fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }
}

impl<F: Flash> Storage for BoardDisk<F> {
    type Error = NodeError;

    /// The ring first (it checks contiguity and room), then the same truncation and entries
    /// into the journal, in order.
    fn persist(&mut self, persist: &Persist, input: &Input<'_>) -> Result<(), NodeError> {
        persist_entries(&mut self.log, persist, input)?;
        let d = &mut self.durable;
        if let Some(from) = persist.truncate_from {
            d.append(&self.log, from.prev(), &Rec::Truncate { from: from.0 })?;
        }
        if let Some(new) = persist.entries {
            for k in 0..u64::from(new.count) {
                let index = new.first.plus(k);
                let e = self
                    .log
                    .entry(index)
                    .ok_or(NodeError::MissingEntry(index))?;
                // A collection now carries over the entries journaled so far.
                d.append(&self.log, index.prev(), &entry_rec(index, e))?;
            }
        }
        Ok(())
    }

    fn save_hard_state(
        &mut self,
        hard_state: HardState,
        commit: LogIndex,
    ) -> Result<(), NodeError> {
        let rec = Rec::Hard {
            term: hard_state.term.0,
            vote: hard_state.vote.map_or(0, |v| v.0),
            commit: commit.0,
        };
        let last = self.log.last_index();
        self.durable.append(&self.log, last, &rec)?;
        Ok(self.log.save_hard_state(hard_state, commit)?)
    }

    /// Journals the new compaction point, then drops the entries from the ring.
    fn compact(&mut self, upto: LogIndex) -> Result<(), NodeError> {
        let term = self
            .log
            .entry(upto)
            .ok_or(NodeError::MissingEntry(upto))?
            .term;
        let last = self.log.last_index();
        self.durable.append(
            &self.log,
            last,
            &Rec::Base {
                index: upto.0,
                term: term.0,
            },
        )?;
        self.durable.base = (upto, term);
        self.log.compact_to(upto);
        Ok(())
    }
}
