//! The harness's driver: raft-core's [`Engine`] over seams that perform each output on a
//! [`Node`]'s data and check the output contract while they do.
//!
//! The engine is built for each call into a node and taken apart after it, so that between
//! calls the node's protocol state and data lie in plain fields for the tests to read and
//! change. What a long-lived engine would remember between calls is handed back to it: the
//! newest write not yet durable ([`Engine::set_unsynced`], from the node's pending writes).
//! The rest needs no handing back: the hard state and commit index travel inside each
//! [`Write`], and a capture names the configuration in force (the engine's starting
//! "configuration as of the applied index").
//!
//! The seams share the node through a `RefCell` for the call; the storage seam holds the
//! node's readable log itself (the log store lends entries by reference), so during a call
//! `node.store` is empty and the transport reads the readable log through the message's
//! source.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;

use raft_sim::{chain_of, MemStore, SimSource};
use raftcore::codec::{self, EntryRef, EntrySource};
use raftcore::engine::{
    ChunkAt, Events, Outgoing, Snapshots, StateMachine, StepView, Storage, Transport,
};
use raftcore::{
    persist_entries, Durability, Engine, EngineError, EntryCount, EntryKind, HardState, Input,
    LogIndex, LogStore, Message, NodeId, Output, Persist, SnapshotMeta, SnapshotPoint, StoreError,
    Term,
};

use super::{
    checksum, decode_machine, snapshot_of, view, Cluster, Envelope, Node, Raft, Write, OUT,
};

/// What a harness seam fails with; either stops the node (the engine is fail-stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarnessError {
    /// The node crashes before performing this output (`Cluster::step_and_crash_after`).
    Crash,
    /// The log store refused a write.
    Store(StoreError),
}

impl From<StoreError> for HarnessError {
    fn from(e: StoreError) -> Self {
        HarnessError::Store(e)
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Crash => f.write_str("crashed"),
            HarnessError::Store(e) => write!(f, "store: {e}"),
        }
    }
}

/// One call into a node's engine.
#[derive(Clone, Copy, Debug)]
pub enum Call<'i> {
    /// Steps an input (`Engine::step`).
    Step(Input<'i>),
    /// Every write up to `seq` is durable (`Engine::persisted`).
    Persisted(u64),
    /// Captures the state machine into the snapshot file (`Engine::capture`).
    Capture,
    /// Installs the snapshot whose install was held back (`Engine::install_held`).
    InstallHeld(SnapshotMeta),
}

impl Call<'_> {
    /// The input the call steps first, if the caller names it.
    fn input(&self) -> Option<Input<'_>> {
        match *self {
            Call::Step(input) => Some(input),
            Call::Persisted(seq) => Some(Input::Persisted { seq }),
            Call::Capture | Call::InstallHeld(_) => None,
        }
    }
}

/// What one call did.
pub struct Called {
    /// The engine's answer.
    pub result: Result<(), EngineError<HarnessError>>,
    /// The outputs of every core step the call made, in order.
    pub steps: Vec<Vec<Output>>,
    /// The inputs the engine stepped on its own, in order (`SnapshotSaved` after a capture,
    /// `Persisted` and `SnapshotInstalled` after an install).
    pub fed: Vec<Input<'static>>,
    /// The snapshot a `Capture` made.
    pub captured: Option<SnapshotMeta>,
}

/// The engine of a harness node during one call.
type HarnessEngine<'a, 'n> = Engine<
    Raft,
    HarnessStorage<'a, 'n>,
    HarnessTransport<'a, 'n>,
    HarnessMachine<'a, 'n>,
    HarnessSnapshots<'a, 'n>,
    OUT,
>;

/// What the seams of a node share during one call.
struct Shared<'n> {
    node: &'n mut Node,
    /// Hold installs back for the test (`Cluster::hold_installs`).
    hold: bool,
    /// The outputs the seams may still perform before the node crashes (`None`: no crash).
    budget: Option<usize>,
    /// See [`Called::fed`].
    fed: Vec<Input<'static>>,
}

impl Shared<'_> {
    /// One more output performed, or the crash the budget asks for.
    fn spend(&mut self) -> Result<(), HarnessError> {
        match &mut self.budget {
            Some(0) => Err(HarnessError::Crash),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// The outputs of every core step, from the engine's `observe` hook.
#[derive(Default)]
struct Recorder {
    steps: Vec<Vec<Output>>,
}

impl Events for Recorder {
    fn observe(&mut self, _view: &dyn StepView, outputs: &[Output]) {
        self.steps.push(outputs.to_vec());
    }
}

impl Cluster {
    /// Builds node `id`'s engine over its state and seams, makes `call` on it and takes the
    /// engine apart again. A `budget` crashes the node (a seam error) before the seams
    /// perform more than that many outputs (the caller then crashes the node).
    pub(super) fn call(&mut self, id: u32, call: Call<'_>, budget: Option<usize>) -> Called {
        let Cluster {
            nodes,
            wire,
            hold_installs,
            ..
        } = self;
        let node = &mut nodes[id as usize - 1];
        let state = node.raft.take().expect("calling a crashed node");
        let unsynced = node.pending.back().map(|w| w.seq);
        let store = std::mem::take(&mut node.store);
        let shared = RefCell::new(Shared {
            node,
            hold: *hold_installs,
            budget,
            fed: Vec::new(),
        });
        let mut engine: HarnessEngine = Engine::with_outputs(
            state,
            HarnessStorage {
                store,
                appended: Vec::new(),
                shared: &shared,
            },
            HarnessSnapshots {
                shared: &shared,
                chunk: Vec::new(),
            },
            HarnessTransport {
                shared: &shared,
                wire,
            },
            HarnessMachine { shared: &shared },
        );
        engine.set_unsynced(unsynced);
        let mut rec = Recorder::default();
        let mut captured = None;
        let result = match call {
            Call::Step(input) => engine.step(input, &mut rec),
            Call::Persisted(seq) => engine.persisted(seq, &mut rec),
            Call::Capture => engine.capture(&mut rec).map(|m| captured = m),
            Call::InstallHeld(meta) => engine.install_held(meta, &mut rec),
        };
        let (state, HarnessStorage { store, .. }, ..) = engine.into_parts();
        let Shared { node, fed, .. } = shared.into_inner();
        node.store = store;
        node.raft = Some(state);
        Called {
            result,
            steps: rec.steps,
            fed,
            captured,
        }
    }

    /// Steps node `id`'s by-value copy through the inputs `call` stepped (the caller's and
    /// the engine's own) and compares each step's outputs, then the public view and the
    /// whole state, with what the engine's in-place steps gave.
    pub(super) fn check_shadow(&mut self, id: u32, call: &Call<'_>, called: &Called) {
        let node = self.node_mut(id);
        let Some(mut shadow) = node.shadow.take() else {
            return;
        };
        let inputs = call.input().into_iter().chain(called.fed.iter().copied());
        for (k, input) in inputs.enumerate() {
            let (next, by_value) = raftcore::step::<_, _, _, _, OUT>(shadow, input);
            shadow = next;
            let mine = match (called.steps.get(k), called.result) {
                (Some(out), _) => Ok(out.clone()),
                (None, Err(EngineError::Core(e))) => Err(e),
                (None, r) => panic!("n{id}: no outputs for {input:?} ({r:?})"),
            };
            assert_eq!(
                by_value.map(|o| o.to_vec()),
                mine,
                "n{id}: by-value outputs differ on {input:?}"
            );
        }
        let raft = node.raft();
        assert_eq!(view(&shadow), view(raft), "n{id}: views differ on {call:?}");
        assert_eq!(
            format!("{shadow:?}"),
            format!("{raft:?}"),
            "n{id}: states differ on {call:?}"
        );
        node.shadow = Some(shadow);
    }
}

// ----- The log storage -----

/// The node's log storage: its readable log (held for the call) and, through the node, the
/// durable copy, the durable hard state and the writes not yet durable.
pub struct HarnessStorage<'a, 'n> {
    store: MemStore,
    /// The entries the write being performed appended.
    appended: Vec<(LogIndex, Term, EntryKind, Vec<u8>)>,
    shared: &'a RefCell<Shared<'n>>,
}

impl EntrySource for HarnessStorage<'_, '_> {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.store.entry(index)
    }
}

/// Writes go to the readable log; appends are kept for the write that makes them; a
/// compaction drops entries from the durable log too (a capture covers them).
impl LogStore for HarnessStorage<'_, '_> {
    fn append(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), StoreError> {
        self.store.append(index, e)?;
        self.appended.push((index, e.term, e.kind, e.data.to_vec()));
        Ok(())
    }
    fn truncate_from(&mut self, index: LogIndex) {
        self.store.truncate_from(index)
    }
    fn compact_to(&mut self, upto: LogIndex) {
        self.store.compact_to(upto);
        self.shared.borrow_mut().node.durable.compact_to(upto);
    }
    fn last_index(&self) -> LogIndex {
        self.store.last_index()
    }
}

impl Storage for HarnessStorage<'_, '_> {
    type Error = HarnessError;

    /// Writes to the readable log and records the write (hard state included) as pending.
    fn persist(&mut self, p: &Persist, input: &Input<'_>) -> Result<(), HarnessError> {
        self.shared.borrow_mut().spend()?;
        let id = self.shared.borrow().node.id;
        persist_entries(self, p, input).unwrap_or_else(|e| panic!("{id}: persist {p:?}: {e}"));
        let entries = std::mem::take(&mut self.appended);
        self.shared.borrow_mut().node.pending.push_back(Write {
            seq: p.seq,
            hard_state: p.hard_state,
            truncate_from: p.truncate_from,
            entries,
        });
        Ok(())
    }

    /// The hard state is part of the write [`persist`](Self::persist) recorded.
    fn save_hard_state(&mut self, _: HardState, _: LogIndex) -> Result<(), HarnessError> {
        Ok(())
    }

    /// Every pending write becomes durable. The engine calls it after every `Persist` under
    /// `Inline`; under `Deferred` only to order the writes before a snapshot install, and then
    /// reports them (`Persisted`).
    fn sync(&mut self) -> Result<(), HarnessError> {
        let mut sh = self.shared.borrow_mut();
        let synced = make_all_durable(sh.node);
        if let (Durability::Deferred, Some(seq)) = (sh.node.cfg.durability, synced) {
            sh.fed.push(Input::Persisted { seq });
        }
        Ok(())
    }

    fn compact(&mut self, upto: LogIndex) -> Result<(), HarnessError> {
        self.shared.borrow_mut().spend()?;
        self.compact_to(upto);
        Ok(())
    }

    /// Both logs start after the snapshot, keeping the entries after it if they hold its
    /// index with its term.
    fn install_snapshot(&mut self, index: LogIndex, term: Term) -> Result<(), HarnessError> {
        let mut sh = self.shared.borrow_mut();
        let chain = self.store.chain(index).unwrap_or(0);
        for store in [&mut self.store, &mut sh.node.durable] {
            if store.term(index) == Some(term) {
                store.rebase(index);
            } else {
                store.reset(index, term, chain);
            }
        }
        Ok(())
    }
}

/// Makes every pending write of `node` durable, in order; the sequence number of the last.
pub(super) fn make_all_durable(node: &mut Node) -> Option<u64> {
    let mut last = None;
    while let Some(w) = node.pending.pop_front() {
        make_durable(node, &w);
        last = Some(w.seq);
    }
    last
}

/// Makes node's oldest pending write durable (a background writer that reports its writes
/// one at a time); its sequence number.
pub(super) fn make_oldest_durable(node: &mut Node) -> Option<u64> {
    let w = node.pending.pop_front()?;
    make_durable(node, &w);
    Some(w.seq)
}

fn make_durable(node: &mut Node, w: &Write) {
    if let Some(hs) = w.hard_state {
        node.durable_hs = hs;
    }
    if let Some(from) = w.truncate_from {
        node.durable.truncate_from(from);
    }
    for (idx, term, kind, data) in &w.entries {
        if *idx <= node.durable.base() {
            continue;
        }
        if *idx <= node.durable.last_index() {
            node.durable.truncate_from(*idx);
        }
        let e = EntryRef {
            term: *term,
            kind: *kind,
            data,
        };
        node.durable.append(*idx, e).expect("durable append");
    }
}

// ----- The network -----

/// The node's link: checks each message against what is durable, encodes it with the real
/// codec within `max_frame_bytes` and puts it on the wire.
pub struct HarnessTransport<'a, 'n> {
    shared: &'a RefCell<Shared<'n>>,
    wire: &'a mut VecDeque<Envelope>,
}

impl Transport for HarnessTransport<'_, '_> {
    type Error = HarnessError;

    fn send<L: EntrySource + ?Sized>(&mut self, m: Outgoing<'_, L>) -> Result<(), HarnessError> {
        let mut sh = self.shared.borrow_mut();
        sh.spend()?;
        let node = &*sh.node;
        let (id, to, msg) = (node.id, m.to(), *m.message());
        check_durable_before_ack(node, to, &msg, m.source());
        let mut buf = vec![0u8; codec::MAX_FRAME_BYTES as usize];
        let len = m
            .encode(&mut buf)
            .unwrap_or_else(|e| panic!("{id}: encode {msg:?}: {e}"));
        let max_frame = node.cfg.max_frame_bytes as usize;
        assert!(
            len <= max_frame,
            "{id}: frame of {len} bytes > max_frame_bytes {max_frame}: {msg:?}"
        );
        buf.truncate(len);
        self.wire.push_back(Envelope {
            from: id,
            to,
            msg,
            frame: buf,
        });
        Ok(())
    }
}

/// Figure 2's "persistent state ... updated on stable storage before responding to RPCs":
/// a grant or acknowledgement may only leave once what it vouches for is durable. `log` reads
/// the readable log.
fn check_durable_before_ack(
    node: &Node,
    to: NodeId,
    msg: &Message<EntryCount>,
    log: &impl EntrySource,
) {
    match msg {
        Message::VoteResponse(r) if r.granted => {
            assert!(
                node.durable_hs.term == r.term && node.durable_hs.vote == Some(to),
                "{}: vote for {to} in {} sent before it was durable (durable {:?})",
                node.id,
                r.term,
                node.durable_hs
            );
        }
        Message::SnapshotResponse(r) if r.installed => {
            let held = node
                .snap_file
                .as_ref()
                .is_some_and(|f| f.0.index >= r.index)
                || node.durable.last_index() >= r.index;
            assert!(
                held,
                "{}: acknowledged the snapshot at {} as installed before it was durable",
                node.id, r.index
            );
        }
        Message::AppendResponse(r) if r.success => {
            let d = &node.durable;
            let ok = r.index <= d.base()
                || (d.last_index() >= r.index && d.chain(r.index) == chain_at(log, d, r.index));
            assert!(
                ok && node.durable_hs.term >= r.term,
                "{}: acknowledged {} before it was durable",
                node.id,
                r.index
            );
        }
        _ => {}
    }
}

/// The chain hash of the log `log` reads at `index`, from the durable log's base on (the
/// readable and durable logs always share their base: both are compacted and reset
/// together, and a crash copies one into the other).
fn chain_at(log: &impl EntrySource, durable: &MemStore, index: LogIndex) -> Option<u64> {
    let mut chain = durable.chain(durable.base())?;
    let mut i = durable.base().next();
    while i <= index {
        let e = log.entry(i)?;
        chain = chain_of(chain, e.term, e.kind, e.data);
        i = i.next();
    }
    Some(chain)
}

// ----- The state machine -----

/// The node's state machine: every applied entry, in `node.applied`.
pub struct HarnessMachine<'a, 'n> {
    shared: &'a RefCell<Shared<'n>>,
}

impl StateMachine for HarnessMachine<'_, '_> {
    type Error = HarnessError;

    /// Applies in order and exactly once (each entry counts as one output for a crash
    /// budget).
    fn apply(&mut self, index: LogIndex, e: EntryRef<'_>) -> Result<(), HarnessError> {
        let mut sh = self.shared.borrow_mut();
        sh.spend()?;
        let node = &mut *sh.node;
        assert_eq!(
            index,
            node.applied_index().next(),
            "{}: Apply {index} is not the next in order (applied {})",
            node.id,
            node.applied_index()
        );
        node.applied.push((index, e.term, e.data.to_vec()));
        Ok(())
    }
}

// ----- Snapshot files -----

/// The node's snapshot files: the durable one (`node.snap_file`) and the one being received
/// (`node.incoming`, lost on a crash). A snapshot's bytes are the state machine (see
/// `encode_machine`), so installing one replaces `node.applied`.
pub struct HarnessSnapshots<'a, 'n> {
    shared: &'a RefCell<Shared<'n>>,
    /// The chunk last read (lent from here: the file is the node's).
    chunk: Vec<u8>,
}

impl<'a, 'n> Snapshots<HarnessMachine<'a, 'n>> for HarnessSnapshots<'a, 'n> {
    type Error = HarnessError;

    /// Captures `node.applied` into the snapshot file; `members` is the configuration in
    /// force (what the harness's snapshots always named).
    fn capture(
        &mut self,
        _: &HarnessMachine<'a, 'n>,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, HarnessError> {
        let (index, term, members) = (at.index, at.term, at.members);
        let mut sh = self.shared.borrow_mut();
        let node = &mut *sh.node;
        let (meta, bytes) = snapshot_of(&node.applied, members);
        assert_eq!(
            (meta.index, meta.term),
            (index, term),
            "{}: the state machine is not at the applied index",
            node.id
        );
        node.snap_file = Some((meta, bytes));
        sh.fed.push(Input::SnapshotSaved { meta });
        Ok(Some(meta))
    }

    /// A chunk of the snapshot file: the core only names the one it was told of last.
    fn read_chunk(&mut self, at: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, HarnessError> {
        let (meta, offset) = (at.meta, at.offset);
        let sh = self.shared.borrow();
        let node = &*sh.node;
        // (The source's log is not read for a chunk: the storage seam holds the log.)
        let file = SimSource {
            store: &node.store,
            snap: node.snap_file.as_ref(),
        };
        let bytes = file.snapshot_chunk(meta, offset, len).unwrap_or_else(|| {
            let held = node.snap_file.as_ref().map(|f| f.0);
            panic!(
                "{}: chunk {offset}+{len} of {meta:?}, holding {held:?}",
                node.id
            )
        });
        self.chunk.clear();
        self.chunk.extend_from_slice(bytes);
        Ok(Some(&self.chunk))
    }

    /// Writes this step's chunk bytes at `offset` of the incoming file, in order.
    fn write_chunk(&mut self, at: ChunkAt<'_>, data: &[u8]) -> Result<(), HarnessError> {
        let (meta, offset) = (at.meta, at.offset);
        let mut sh = self.shared.borrow_mut();
        sh.spend()?;
        let node = &mut *sh.node;
        let id = node.id;
        if offset == 0 {
            // A new incoming snapshot: the partial one is discarded.
            node.incoming = Some((*meta, Vec::new()));
        }
        let (m, bytes) = node
            .incoming
            .as_mut()
            .unwrap_or_else(|| panic!("{id}: chunk at {offset} with no incoming snapshot"));
        assert_eq!(
            m, meta,
            "{id}: chunk of another snapshot than the incoming one"
        );
        assert_eq!(
            offset,
            bytes.len() as u64,
            "{id}: chunk written out of order"
        );
        bytes.extend_from_slice(data);
        Ok(())
    }

    /// Every chunk was written; the install is held back (`node.install_wanted`) while the
    /// test asks for it.
    fn hold_install(&mut self, meta: &SnapshotMeta) -> bool {
        let mut sh = self.shared.borrow_mut();
        let node = &mut *sh.node;
        let incoming = node.incoming.as_ref().map(|f| (f.0, f.1.len() as u64));
        assert_eq!(
            incoming,
            Some((*meta, meta.len)),
            "{}: InstallSnapshot before every chunk was written",
            node.id
        );
        if sh.hold {
            sh.node.install_wanted = Some(*meta);
        }
        sh.hold
    }

    /// Verifies the incoming file against its checksum, makes it durable and loads it into
    /// the state machine, which must then stand at the snapshot's index and term.
    fn install(
        &mut self,
        meta: &SnapshotMeta,
        _: &mut HarnessMachine<'a, 'n>,
    ) -> Result<bool, HarnessError> {
        let mut sh = self.shared.borrow_mut();
        sh.spend()?;
        let node = &mut *sh.node;
        let id = node.id;
        let (m, bytes) = node.incoming.take().expect("the chunks were written");
        assert_eq!(m, *meta);
        let machine = decode_machine(&bytes)
            .filter(|_| bytes.len() as u64 == meta.len && checksum(&bytes) == meta.checksum);
        let ok = machine.is_some();
        if let Some(applied) = machine {
            assert_eq!(
                applied.last().map(|a| (a.0, a.1)),
                Some((meta.index, meta.term)),
                "{id}: snapshot {meta:?} holds another state"
            );
            node.applied = applied;
            node.snap_file = Some((*meta, bytes));
        }
        sh.fed.push(Input::SnapshotInstalled { meta: *meta, ok });
        Ok(ok)
    }
}
