//! The engine's seams over the model's state: each is a view (`&mut` borrows of disjoint
//! fields of [`ModelState`](crate::ModelState)) built for one engine call, so the model's
//! state stays plain data that stateright clones and hashes.
//!
//! - [`DiskLog`] ([`Storage`]): node `k`'s log store, hard state and commit index. A write
//!   is readable at once and durable once the engine syncs it; under the model's inline
//!   durability the engine syncs each `Persist` before the next output, and a crash (an
//!   action between steps) keeps the disk as it is, so it keeps exactly what was synced.
//! - [`Wire`] ([`Transport`]): encodes each message with the real codec
//!   ([`Outgoing::encode`]) and puts the frame in the network's in-flight set.
//! - [`Applier`] ([`StateMachine`]): the register, the clients it answers and the record of
//!   what every node applied at each index (State Machine Safety).
//! - [`SnapshotFiles`] ([`Snapshots`]): the durable snapshot file and the one being received.
//! - [`Seen`] ([`Events`]): what the model notes of each core step (bounds, leaders,
//!   milestones, read answers).
//!
//! The driver contract the model checks is checked here: a seam that sees it broken returns
//! an error (the engine stops the node and the model records [`ModelState::broken`]).
//!
//! [`ModelState::broken`]: crate::ModelState::broken

use std::cell::Cell;
use std::fmt;

use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::{
    ChunkAt, Events, Outgoing, Snapshots, StateMachine, StepView, Storage, Transport,
};
use raftcore::output::ReadResult;
use raftcore::{
    persist_entries, EntryKind, HardState, Input, LogIndex, LogStore, NodeId, Output, Persist,
    Role, SnapshotMeta, SnapshotPoint, StoreError, Term,
};
use stateright::semantics::register::{Register, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

use crate::state::{reached, Packet, Pending};
use crate::storage::{checksum, Log, Machine, SnapFile};
use crate::{Bounds, ClientId, Value};

/// A broken driver contract, as the seam that saw it tells it.
#[derive(Debug)]
pub(crate) struct Broken(pub(crate) String);

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<StoreError> for Broken {
    fn from(e: StoreError) -> Broken {
        Broken(format!("log store: {e}"))
    }
}

/// What the seams of one engine call share: whether a write is not yet durable, the durable
/// snapshot's index, and the chunk the current step's `SnapshotChunk` output names.
#[derive(Default)]
pub(crate) struct Shared {
    /// A write was performed and not synced yet.
    pub(crate) dirty: Cell<bool>,
    /// The index the snapshot file covers (0 without one).
    pub(crate) snapshot_index: Cell<LogIndex>,
    /// `(offset, len)` of the `SnapshotChunk` output being performed.
    pub(crate) chunk: Cell<Option<(u64, u32)>>,
    /// A snapshot streamed by a leader was installed.
    pub(crate) installed: Cell<bool>,
}

/// Node `k`'s log store, hard state and commit index.
pub(crate) struct DiskLog<'a> {
    pub(crate) log: &'a mut Log,
    pub(crate) hs: &'a mut (Term, Option<NodeId>),
    pub(crate) commit: &'a mut LogIndex,
    pub(crate) shared: &'a Shared,
}

impl EntrySource for DiskLog<'_> {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }
}

impl LogStore for DiskLog<'_> {
    fn append(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), StoreError> {
        self.shared.dirty.set(true);
        self.log.append(index, entry)
    }
    fn truncate_from(&mut self, index: LogIndex) {
        self.shared.dirty.set(true);
        self.log.truncate_from(index)
    }
    fn compact_to(&mut self, upto: LogIndex) {
        self.log.compact_to(upto)
    }
    fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }
}

impl Storage for DiskLog<'_> {
    type Error = Broken;

    fn persist(&mut self, p: &Persist, input: &Input<'_>) -> Result<(), Broken> {
        persist_entries(self, p, input).map_err(|e| Broken(format!("persist {p:?}: {e}")))
    }

    fn save_hard_state(&mut self, hs: HardState, commit: LogIndex) -> Result<(), Broken> {
        self.shared.dirty.set(true);
        *self.hs = (hs.term, hs.vote);
        *self.commit = (*self.commit).max(commit);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Broken> {
        self.shared.dirty.set(false);
        Ok(())
    }

    fn compact(&mut self, upto: LogIndex) -> Result<(), Broken> {
        let snapshot = self.shared.snapshot_index.get();
        if upto > snapshot {
            // Only what a durable snapshot covers may go.
            return Err(Broken(format!(
                "Compact {upto} beyond its snapshot at {snapshot}"
            )));
        }
        self.log.compact_to(upto);
        Ok(())
    }

    /// Starts the log store after the snapshot, keeping the entries after it if the store
    /// holds its last entry (compaction base included).
    fn install_snapshot(&mut self, index: LogIndex, term: Term) -> Result<(), Broken> {
        if self.log.term(index) == Some(term) {
            self.log.compact_to(index);
        } else {
            self.log.reset(index, term);
        }
        Ok(())
    }
}

/// Node `k`'s link: frames go into the network's in-flight set (a sorted multiset).
pub(crate) struct Wire<'a> {
    pub(crate) k: u8,
    pub(crate) net: &'a mut Vec<Packet>,
    pub(crate) shared: &'a Shared,
}

impl Transport for Wire<'_> {
    type Error = Broken;

    fn send<L: EntrySource + ?Sized>(&mut self, m: Outgoing<'_, L>) -> Result<(), Broken> {
        if self.shared.dirty.get() {
            return Err(Broken(format!(
                "send to {} while a write is not durable",
                m.to()
            )));
        }
        let mut buf = [0u8; 256];
        let n = m
            .encode(&mut buf)
            .map_err(|e| Broken(format!("encode {:?}: {e}", m.message())))?;
        let p = Packet {
            to: (m.to().0 - 1) as u8,
            from: self.k,
            frame: buf[..n].to_vec(),
        };
        let at = self.net.binary_search(&p).unwrap_or_else(|at| at);
        self.net.insert(at, p);
        Ok(())
    }
}

/// Node `k`'s register state machine, the clients it answers, and the record of what was
/// applied at each index.
pub(crate) struct Applier<'a> {
    pub(crate) k: u8,
    pub(crate) machine: &'a mut Machine,
    pub(crate) clients: &'a mut [(u8, Option<Option<Pending>>)],
    pub(crate) history: &'a mut LinearizabilityTester<ClientId, Register<Value>>,
    pub(crate) applied: &'a mut Vec<(Term, u8, Vec<u8>)>,
    pub(crate) diverged: &'a mut bool,
    pub(crate) shared: &'a Shared,
}

impl Applier<'_> {
    /// Records that some node applied `e` at `i` (the first one at each index is the
    /// reference; a different one later breaks State Machine Safety).
    fn record(&mut self, i: LogIndex, e: (Term, u8, &[u8])) {
        match self.applied.get(i.0 as usize - 1) {
            Some(first) => {
                if (first.0, first.1, first.2.as_slice()) != e {
                    *self.diverged = true;
                }
            }
            None => self.applied.push((e.0, e.1, e.2.to_vec())),
        }
    }
}

impl StateMachine for Applier<'_> {
    type Error = Broken;

    /// Applies entry `i` to the register; answers the client that proposed it here.
    fn apply(&mut self, i: LogIndex, e: EntryRef<'_>) -> Result<(), Broken> {
        if self.shared.dirty.get() {
            return Err(Broken(format!("Apply {i} while a write is not durable")));
        }
        if i != self.machine.applied.next() {
            return Err(Broken(format!("Apply {i} after {}", self.machine.applied)));
        }
        let kind = e.kind.to_byte();
        self.machine.apply(e.term, kind, e.data);
        self.record(i, (e.term, kind, e.data));
        if e.kind != EntryKind::Normal {
            return Ok(());
        }
        let (client, is_write) = (e.data[0], e.data[1] == 1);
        let register = self.machine.register;
        let c = &mut self.clients[client as usize];
        let mine = Pending::Log {
            node: self.k,
            index: i,
            term: e.term,
        };
        if c.1 == Some(Some(mine)) {
            c.1 = None;
            let ret = if is_write {
                RegisterRet::WriteOk
            } else {
                RegisterRet::ReadOk(register)
            };
            // An invalid history makes the linearizability property fail; no need to panic.
            let _ = self.history.on_return(client, ret);
        }
        Ok(())
    }
}

/// Node `k`'s durable snapshot file and the snapshot it is receiving (a temporary file,
/// lost on a crash).
pub(crate) struct SnapshotFiles<'a> {
    pub(crate) file: &'a mut Option<SnapFile>,
    pub(crate) incoming: &'a mut Vec<u8>,
    pub(crate) shared: &'a Shared,
}

impl<'m> Snapshots<Applier<'m>> for SnapshotFiles<'_> {
    type Error = Broken;

    /// Captures the register into the snapshot file; declines if the file already covers
    /// the applied index.
    fn capture(
        &mut self,
        m: &Applier<'m>,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, Broken> {
        let (index, term, members) = (at.index, at.term, at.members);
        let machine = &*m.machine;
        if machine.applied != index {
            return Err(Broken(format!(
                "capture at {index}: the state machine applied {}",
                machine.applied
            )));
        }
        if members != machine.members.0 {
            return Err(Broken(format!(
                "capture at {index}: the engine's applied membership {members:?} is not the \
                 state machine's {:?}",
                machine.members.0
            )));
        }
        if index <= self.shared.snapshot_index.get() {
            return Ok(None);
        }
        let bytes = machine.encode();
        let meta = SnapshotMeta {
            index,
            term,
            len: bytes.len() as u64,
            checksum: checksum(&bytes),
            members,
        };
        *self.file = Some(SnapFile { meta, bytes });
        self.shared.snapshot_index.set(index);
        Ok(Some(meta))
    }

    /// A chunk of the snapshot file. The core is told of every new file in the step that
    /// writes it, so it never names another one: that would break the contract.
    fn read_chunk(&mut self, at: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, Broken> {
        let (meta, offset) = (at.meta, at.offset);
        let chunk = self
            .file
            .as_ref()
            .filter(|f| f.meta == *meta)
            .and_then(|f| {
                let at = usize::try_from(offset).ok()?;
                f.bytes.get(at..at.checked_add(len as usize)?)
            });
        match chunk {
            Some(c) => Ok(Some(c)),
            None => Err(Broken(format!(
                "chunk {offset}+{len} of {meta:?}, which is not in the snapshot file"
            ))),
        }
    }

    fn write_chunk(&mut self, at: ChunkAt<'_>, data: &[u8]) -> Result<(), Broken> {
        let (meta, offset) = (at.meta, at.offset);
        let Some((named, len)) = self.shared.chunk.take() else {
            return Err(Broken(format!(
                "a chunk of {meta:?} written that no SnapshotChunk output named"
            )));
        };
        if offset == 0 {
            self.incoming.clear();
        }
        if named != offset || data.len() != len as usize || offset != self.incoming.len() as u64 {
            return Err(Broken(format!(
                "chunk {offset}+{len} of {meta:?} out of order or without its data \
                 ({} bytes given, {} held)",
                data.len(),
                self.incoming.len()
            )));
        }
        self.incoming.extend_from_slice(data);
        Ok(())
    }

    /// Verifies the received bytes, keeps them as the snapshot file and loads the register
    /// from them (the engine then starts the log store after the snapshot). Every entry the
    /// snapshot covers counts as applied here (State Machine Safety).
    fn install(&mut self, meta: &SnapshotMeta, m: &mut Applier<'m>) -> Result<bool, Broken> {
        let bytes = std::mem::take(self.incoming);
        let machine = (bytes.len() as u64 == meta.len && checksum(&bytes) == meta.checksum)
            .then(|| Machine::decode(&bytes, meta.members))
            .flatten()
            .ok_or_else(|| Broken(format!("the chunks of {meta:?} do not make that snapshot")))?;
        if machine.applied != meta.index
            || machine.history.last().map(|e| e.0) != (meta.index.0 > 0).then_some(meta.term)
        {
            return Err(Broken(format!(
                "snapshot {meta:?} holds a state machine at {}",
                machine.applied
            )));
        }
        if machine.applied < m.machine.applied {
            return Err(Broken(format!(
                "snapshot at {} is older than the state machine at {}",
                meta.index, m.machine.applied
            )));
        }
        *self.file = Some(SnapFile { meta: *meta, bytes });
        self.shared.snapshot_index.set(meta.index);
        for (n, (term, kind, data)) in machine.history.iter().enumerate() {
            m.record(LogIndex(n as u64 + 1), (*term, *kind, data));
        }
        *m.machine = machine;
        self.shared.installed.set(true);
        Ok(true)
    }
}

/// What the model notes of each core step of node `k`.
pub(crate) struct Seen<'a> {
    pub(crate) k: u8,
    pub(crate) bounds: &'a Bounds,
    /// Whether the first core step had outputs (`None` before it).
    pub(crate) acted: Option<bool>,
    /// A core step passed the term or log bound.
    pub(crate) out_of_bounds: bool,
    /// Every (term, node) that was ever leader, sorted.
    pub(crate) leaders: &'a mut Vec<(Term, u8)>,
    /// The election a TimeoutNow started.
    pub(crate) transfer_campaign: Option<(Term, u8)>,
    /// Milestones reached ([`reached`] bits).
    pub(crate) reached: &'a mut u8,
    /// Read answers, in order (the driver serves them after the step).
    pub(crate) reads: Vec<ReadResult>,
    pub(crate) shared: &'a Shared,
}

impl Events for Seen<'_> {
    fn read(&mut self, r: ReadResult) {
        self.reads.push(r);
    }

    fn observe(&mut self, view: &dyn StepView, outputs: &[Output]) {
        self.acted.get_or_insert(!outputs.is_empty());
        if view.term().0 > self.bounds.max_term || view.last_index().0 > self.bounds.max_log {
            self.out_of_bounds = true;
        }
        if view.role() == Role::Leader {
            let e = (view.term(), self.k);
            if let Err(at) = self.leaders.binary_search(&e) {
                self.leaders.insert(at, e);
            }
            if self.transfer_campaign == Some(e) {
                *self.reached |= reached::TRANSFER_DONE;
            }
        }
        // A step receives at most one chunk; the snapshot seam checks what it is given
        // against what the core named.
        for o in outputs {
            if let Output::SnapshotChunk { offset, len, .. } = *o {
                self.shared.chunk.set(Some((offset, len)));
            }
        }
    }
}
