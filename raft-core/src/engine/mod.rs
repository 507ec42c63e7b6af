//! The driver engine: the [output contract](crate::output) as code.
//!
//! [`State`](crate::State) is the protocol value; an [`Engine`] is the standard way to drive
//! it, as etcd's `Node` drives its `RawNode`. It owns the state and the driver's seams
//! ([`Storage`], [`Snapshots`], [`Transport`], [`StateMachine`]) and performs every step's
//! outputs in the contract's order, feeding back the inputs the contract requires
//! (`Persisted`, `SnapshotInstalled`, `SnapshotSaved`). What the application must see comes
//! back through [`Events`]. A driver is then a thin loop: receive a frame, `step` it; tick on
//! time; propose; under deferred durability, [`flush`](Engine::flush) once per batch.
//!
//! # What one step performs, in order
//!
//! | output | the engine |
//! |---|---|
//! | `Persist` | [`Storage::persist`] (the entries come from the step's input), then [`Storage::save_hard_state`] if the hard state changed or the commit index grew; under `Inline` durability [`Storage::sync`] at once, under `Deferred` the sequence number is remembered for [`Engine::flush`] |
//! | `Send` | reads a snapshot chunk first if the message carries one ([`Snapshots::read_chunk`]), then [`Transport::send`] |
//! | `Apply` | reads each entry from storage and hands it to [`StateMachine::apply`], tracking the membership as of the applied index |
//! | `Compact` | [`Storage::compact`] |
//! | `SnapshotChunk` | [`Snapshots::write_chunk`] with the chunk bytes of the step's input |
//! | `InstallSnapshot` | makes every earlier write durable first (the contract's ordering rule), then [`Snapshots::install`] and, if it checked out, [`Storage::install_snapshot`]; after the step's other outputs, steps `SnapshotInstalled` (and `Persisted` for the writes it synced). If [`Snapshots::hold_install`] holds it back, nothing until [`Engine::install_held`] |
//! | `CaptureWanted` | remembers it ([`Engine::capture_wanted`]) and tells [`Events::capture_wanted`]; [`Engine::capture`] captures when the driver chooses |
//! | `Proposal`, `Read`, `RoleChanged` | [`Events`] |
//!
//! Any seam error stops the node (fail-stop): the engine steps `Input::StorageFailed`, after
//! which every step fails with [`StepError::Halted`], and returns the error.
//!
//! # Cost
//!
//! Everything is monomorphized (no `dyn` on the hot path) and the output list is a field, so
//! a step through the engine costs what the hand-written loops it replaced cost; the
//! benchmark drives raft-core through it.

#[cfg(test)]
mod capture_tests;
mod core_trait;
mod seams;

pub use core_trait::Core;
pub use seams::{
    ChunkAt, Events, NoSnapshots, Outgoing, Snapshots, Source, StateMachine, StepView, Storage,
    Transport,
};

use core::fmt;

use crate::codec::Header;
use crate::config::Durability;
use crate::error::StepError;
use crate::feature::Feature;
use crate::input::Input;
use crate::log::store::StoreError;
use crate::membership::{Membership, MAX_MEMBERS};
use crate::message::{EntryCount, Message, SnapshotMeta, SnapshotPoint};
use crate::output::{outputs_needed, Output, Outputs, Persist};
use crate::types::{EntryKind, LogIndex, NodeId};

/// Why an engine call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError<E> {
    /// A seam failed; the node has stopped (fail-stop).
    Driver(E),
    /// raft-core refused the input (a driver mistake, or the node has halted).
    Core(StepError),
    /// The log store lacks an entry the core says it holds (a store that lost data); the node
    /// has stopped.
    MissingEntry(LogIndex),
}

impl<E: fmt::Display> fmt::Display for EngineError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Driver(e) => write!(f, "{e}"),
            EngineError::Core(e) => write!(f, "raft-core: {e}"),
            EngineError::MissingEntry(i) => write!(f, "entry {i} is not in the log store"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for EngineError<E> {}

/// A follow-up input the contract requires after a step's outputs.
#[derive(Clone, Copy)]
enum FollowUp {
    Persisted(u64),
    Installed(SnapshotMeta, bool),
}

/// The follow-up inputs waiting after a step (at most a `Persisted` and a `SnapshotInstalled`:
/// only an `InstallSnapshot` output queues them, and their own steps queue none). A `Vec`, read
/// in order by index: its emptiness check, on every step, is one compare.
type FollowUps = heapless::Vec<FollowUp, 4>;

/// One node driven through its seams. See the module docs.
///
/// `OUT` is the capacity of the output list the engine keeps: by default enough for any
/// cluster ([`outputs_needed`]`(MAX_MEMBERS)`, 22 outputs); a firmware that counts its RAM
/// names `outputs_needed(PEERS)` instead and builds the engine with
/// [`with_outputs`](Engine::with_outputs) (the state checks the bound at compile time).
pub struct Engine<
    C,
    S: Storage,
    T,
    M,
    N = NoSnapshots<<S as Storage>::Error>,
    const OUT: usize = { outputs_needed(MAX_MEMBERS) },
> {
    state: C,
    storage: S,
    snapshots: N,
    transport: T,
    machine: M,
    out: Outputs<OUT>,
    /// The newest `Persist` performed and not yet made durable (`Deferred` only).
    unsynced: Option<u64>,
    /// The commit index last handed to `save_hard_state`.
    saved_commit: LogIndex,
    /// The configuration as of the applied index (named by captured snapshots).
    applied_members: Membership,
    /// `CaptureWanted` came and no capture was made since.
    capture_wanted: bool,
    /// The follow-up inputs of the step being performed (empty between calls). A field, not
    /// a local: a local queue cost its setup on every step, and follow-ups are rare.
    follow: FollowUps,
}

impl<C, S, T, M> Engine<C, S, T, M>
where
    C: Core,
    S: Storage,
    T: Transport<Error = S::Error>,
    M: StateMachine<Error = S::Error>,
{
    /// An engine without snapshots ([`NoSnapshots`]): `state` (fresh or restored), its log
    /// `storage` (holding what `state` was restored from), a `transport` and a `machine`
    /// that has applied exactly `state.applied()`.
    pub fn new(state: C, storage: S, transport: T, machine: M) -> Self {
        Engine::with_snapshots(state, storage, NoSnapshots::new(), transport, machine)
    }
}

impl<C, S, N, T, M> Engine<C, S, T, M, N>
where
    C: Core,
    S: Storage,
    N: Snapshots<M, Error = S::Error>,
    T: Transport<Error = S::Error>,
    M: StateMachine<Error = S::Error>,
{
    /// An engine with snapshot storage. The membership as of the applied index starts as
    /// the core's configuration in force; a restarted driver whose log holds a membership
    /// change after its applied index sets the right one with
    /// [`set_applied_membership`](Engine::set_applied_membership).
    pub fn with_snapshots(state: C, storage: S, snapshots: N, transport: T, machine: M) -> Self {
        Engine::with_outputs(state, storage, snapshots, transport, machine)
    }
}

impl<C, S, N, T, M, const OUT: usize> Engine<C, S, T, M, N, OUT>
where
    C: Core,
    S: Storage,
    N: Snapshots<M, Error = S::Error>,
    T: Transport<Error = S::Error>,
    M: StateMachine<Error = S::Error>,
{
    /// [`with_snapshots`](Engine::with_snapshots) for an engine whose output list holds `OUT`
    /// outputs (the engine's type names it), at least `outputs_needed(PEERS)` of `state`.
    pub fn with_outputs(state: C, storage: S, snapshots: N, transport: T, machine: M) -> Self {
        let applied_members = *state.membership();
        let saved_commit = state.commit();
        Engine {
            state,
            storage,
            snapshots,
            transport,
            machine,
            out: Outputs::new(),
            unsynced: None,
            saved_commit,
            applied_members,
            capture_wanted: false,
            follow: FollowUps::new(),
        }
    }

    /// Steps `input` and performs its outputs (see the module docs).
    #[inline(always)]
    pub fn step(
        &mut self,
        input: Input<'_>,
        events: &mut impl Events,
    ) -> Result<(), EngineError<S::Error>> {
        self.step_once(&input, events)?;
        if self.follow.is_empty() {
            return Ok(());
        }
        self.follow_up(events)
    }

    /// Steps the follow-up inputs of a step, in order. At most a `Persisted` and a
    /// `SnapshotInstalled` follow one step; each of their own steps may only be followed by
    /// another `Persisted` (bounded by the persist queue).
    #[inline(never)]
    fn follow_up(&mut self, events: &mut impl Events) -> Result<(), EngineError<S::Error>> {
        let mut k = 0;
        while k < self.follow.len() && k < 8 {
            // Invariant: `k < self.follow.len()` is the loop condition just above; `follow` only
            // grows inside the loop (`step_once` may queue more) and is cleared only after it.
            let input = match self.follow[k] {
                FollowUp::Persisted(seq) => Input::Persisted { seq },
                FollowUp::Installed(meta, ok) => Input::SnapshotInstalled { meta, ok },
            };
            k += 1;
            if let Err(e) = self.step_once(&input, events) {
                self.follow.clear();
                return Err(e);
            }
        }
        self.follow.clear();
        Ok(())
    }

    /// Group commit: makes every write performed so far durable with one [`Storage::sync`]
    /// and reports it (`Input::Persisted`). Call it once per batch of steps under
    /// `Durability::Deferred` (the sends of the batch went out before the fsync); a no-op
    /// when nothing waits.
    pub fn flush(&mut self, events: &mut impl Events) -> Result<(), EngineError<S::Error>> {
        // `Persisted` may release work that persists again (rarely): a few rounds at most.
        for _ in 0..4 {
            let Some(seq) = self.unsynced.take() else {
                return Ok(());
            };
            if let Err(e) = self.storage.sync() {
                return Err(self.fail(e));
            }
            self.step(Input::Persisted { seq }, events)?;
        }
        Ok(())
    }

    /// For a driver that makes writes durable in the background: every `Persist` up to `seq`
    /// is durable now. Steps `Input::Persisted`.
    pub fn persisted(
        &mut self,
        seq: u64,
        events: &mut impl Events,
    ) -> Result<(), EngineError<S::Error>> {
        if self.unsynced.is_some_and(|u| u <= seq) {
            self.unsynced = None;
        }
        self.step(Input::Persisted { seq }, events)
    }

    /// The sequence number of the newest `Persist` performed and not yet made durable
    /// (`Durability::Deferred`).
    pub fn unsynced(&self) -> Option<u64> {
        self.unsynced
    }

    /// Sets the sequence number of the newest `Persist` performed and not yet made durable
    /// (`Durability::Deferred`): for a driver that builds an engine over a running state and
    /// storage it kept, whose storage still holds writes that are not durable (as
    /// [`set_saved_commit`](Engine::set_saved_commit) restores the commit index recorded), so
    /// that a snapshot install is still ordered after those writes and they are reported.
    pub fn set_unsynced(&mut self, seq: Option<u64>) {
        self.unsynced = seq;
    }

    /// Installs the snapshot `meta`, whose install [`Snapshots::hold_install`] held back, as
    /// the step that asked for it would have: makes every earlier write durable, then
    /// [`Snapshots::install`] and, if it checked out, [`Storage::install_snapshot`]; then steps
    /// `Persisted` (for the writes it synced) and `SnapshotInstalled`. `meta` must be the
    /// snapshot held and the node not restarted since: the core refuses any other
    /// ([`StepError::SnapshotNotRequested`]), after the seams installed it.
    pub fn install_held(
        &mut self,
        meta: SnapshotMeta,
        events: &mut impl Events,
    ) -> Result<(), EngineError<S::Error>> {
        if let Err(e) = self.perform_install(meta) {
            self.halt();
            return Err(e);
        }
        self.follow_up(events)
    }

    /// Whether the core asked for a capture (`CaptureWanted`) since the last one.
    pub fn capture_wanted(&self) -> bool {
        self.capture_wanted
    }

    /// Captures the state machine at the applied index ([`Snapshots::capture`]) and reports
    /// the snapshot to the core (`Input::SnapshotSaved`), which may then compact the log and
    /// stream the snapshot to followers that lag. Without the `snapshots` feature the core
    /// cannot send one, so the capture is reported as `Input::Captured` (the log compacts up to
    /// what every voter holds). Returns the snapshot, `None` if the snapshot store declined or
    /// the applied index is not in the log any more.
    pub fn capture(
        &mut self,
        events: &mut impl Events,
    ) -> Result<Option<SnapshotMeta>, EngineError<S::Error>> {
        self.capture_wanted = false;
        let index = self.state.applied();
        let Some(term) = self.state.term_at(index) else {
            return Ok(None);
        };
        let at = SnapshotPoint {
            index,
            term,
            members: self.applied_members,
        };
        let meta = match self.snapshots.capture(&self.machine, at) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        if Feature::Snapshots.enabled() {
            self.step(Input::SnapshotSaved { meta }, events)?;
        } else {
            self.step(Input::Captured { index: meta.index }, events)?;
        }
        Ok(Some(meta))
    }

    /// The driver captured the state machine itself, durably, up to `index` (at most the
    /// applied index), outside the [`Snapshots`] seam: a machine small enough to be written
    /// with the log, say. Steps `Input::Captured`, so the log may compact up to `index` and
    /// what every voter holds, and clears [`capture_wanted`](Engine::capture_wanted).
    pub fn captured(
        &mut self,
        index: LogIndex,
        events: &mut impl Events,
    ) -> Result<(), EngineError<S::Error>> {
        self.capture_wanted = false;
        self.step(Input::Captured { index }, events)
    }

    /// The protocol state (read-only).
    pub fn state(&self) -> &C {
        &self.state
    }

    /// The log storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The log storage, mutably (for driver housekeeping; writes that bypass the core break
    /// the contract).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// The snapshot storage.
    pub fn snapshots(&self) -> &N {
        &self.snapshots
    }

    /// The snapshot storage, mutably.
    pub fn snapshots_mut(&mut self) -> &mut N {
        &mut self.snapshots
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The state machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The state machine, mutably.
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The configuration as of the applied index (what a snapshot captured now names).
    pub fn applied_membership(&self) -> &Membership {
        &self.applied_members
    }

    /// Sets the configuration as of the applied index (after a restart: the snapshot's,
    /// updated by the membership entries up to the applied index).
    pub fn set_applied_membership(&mut self, members: Membership) {
        self.applied_members = members;
    }

    /// The commit index the storage last recorded ([`Storage::save_hard_state`]). It starts
    /// as the state's commit index, which is the recorded one after a restore; a driver that
    /// builds an engine over a running state and storage it kept (a model checker that
    /// rebuilds one per step) sets the recorded one, so that the next `Persist` records a
    /// commit index that grew meanwhile, as one long-lived engine would.
    pub fn set_saved_commit(&mut self, commit: LogIndex) {
        self.saved_commit = commit;
    }

    /// Restarts the node in place after a crash or power cycle: `state` was rebuilt
    /// (`State::restore`) from what this engine's storage holds durably, and the state
    /// machine has applied exactly `state.applied()`. The same as taking the engine apart and
    /// building it again around the same seams, without moving them (a firmware keeps its
    /// engine in a static and has no stack for a second one).
    pub fn restart(&mut self, state: C) {
        self.state = state;
        self.restarted();
    }

    /// [`restart`](Engine::restart) on a state rebuilt where it lies: `rebuild` gets the
    /// engine's state to overwrite and the storage to read it from, as
    /// [`State::restore_in_place`](crate::State::restore_in_place) does, so no second state
    /// passes through the caller's stack. If `rebuild` fails, its error is returned and the
    /// node is halted (fail-stop): every later step fails with [`StepError::Halted`].
    pub fn restart_in_place<E>(
        &mut self,
        rebuild: impl FnOnce(&mut C, &S) -> Result<(), E>,
    ) -> Result<(), E> {
        let r = rebuild(&mut self.state, &self.storage);
        self.restarted();
        if r.is_err() {
            self.halt();
        }
        r
    }

    /// The engine's side of a restart, once `self.state` is the restored state.
    fn restarted(&mut self) {
        self.saved_commit = self.state.commit();
        self.applied_members = *self.state.membership();
        self.out.clear();
        self.unsynced = None;
        self.capture_wanted = false;
        self.follow.clear();
    }

    /// Takes the engine apart.
    pub fn into_parts(self) -> (C, S, N, T, M) {
        (
            self.state,
            self.storage,
            self.snapshots,
            self.transport,
            self.machine,
        )
    }

    /// Stops the node after a seam failed (fail-stop) and wraps the error.
    fn fail(&mut self, e: S::Error) -> EngineError<S::Error> {
        self.halt();
        EngineError::Driver(e)
    }

    fn halt(&mut self) {
        if !self.state.is_halted() {
            let _ = self.state.step_into(&Input::StorageFailed, &mut self.out);
        }
        self.out.clear();
        self.follow.clear();
    }

    /// One core step and its outputs; queues the follow-up inputs the contract requires
    /// behind those waiting in `self.follow`. Inlined into [`Engine::step`], so that a driver's step
    /// costs one call frame (the core's) beside its own.
    #[inline(always)]
    fn step_once<E: Events>(
        &mut self,
        input: &Input<'_>,
        events: &mut E,
    ) -> Result<(), EngineError<S::Error>> {
        self.state
            .step_into(input, &mut self.out)
            .map_err(EngineError::Core)?;
        // Without an observer the bookkeeping below folds away at compile time.
        let mut observed = !E::OBSERVES;
        for k in 0..self.out.len() {
            // Invariant: `k` ranges over `0..self.out.len()` taken before the loop, and nothing in
            // the loop shortens `out`: `perform` and `perform_rare` only read it and `observe`
            // borrows it shared; `halt` (which clears it) is followed by a return.
            if !observed && !matches!(self.out[k], Output::Persist(_)) {
                events.observe(&self.state, &self.out);
                observed = true;
            }
            if let Err(e) = self.perform(k, input, events) {
                self.halt();
                return Err(e);
            }
        }
        if !observed {
            events.observe(&self.state, &self.out);
        }
        Ok(())
    }

    /// Performs output `k` of the list. The output is borrowed in place, not copied out (an
    /// `Output` is as large as its largest message, and copying it cost every step), while
    /// the seams are borrowed beside it. One match on the output's kind: the rare kinds go
    /// out of line to [`perform_rare`](Self::perform_rare).
    #[inline(always)]
    fn perform(
        &mut self,
        k: usize,
        input: &Input<'_>,
        events: &mut impl Events,
    ) -> Result<(), EngineError<S::Error>> {
        let Engine {
            state,
            storage,
            snapshots,
            transport,
            machine,
            out,
            unsynced,
            saved_commit,
            applied_members,
            ..
        } = self;
        // Invariant: the only caller, `step_once`, passes `k` from its loop over
        // `0..self.out.len()`, which does not shorten `out` (see there).
        match &out[k] {
            Output::Persist(p) => Self::persist(state, storage, unsynced, saved_commit, p, input)
                .map_err(EngineError::Driver)?,
            Output::Send { to, msg } => Self::send(state, storage, snapshots, transport, *to, msg)
                .map_err(EngineError::Driver)?,
            Output::Apply { first, last } => {
                Self::apply(storage, machine, applied_members, *first, *last)?
            }
            Output::Proposal(p) => events.proposal(*p),
            Output::Read(r) => events.read(*r),
            Output::RoleChanged { role, term, leader } => {
                events.role_changed(*role, *term, *leader)
            }
            Output::Compact { .. }
            | Output::CaptureWanted { .. }
            | Output::SnapshotChunk { .. }
            | Output::InstallSnapshot { .. } => return self.perform_rare(k, input, events),
        }
        Ok(())
    }

    /// The outputs a step rarely has (compaction, captures, snapshot transfers), kept out of
    /// line so that the per-step path stays small (inlined, they cost every step the setup
    /// of registers they need).
    #[cold]
    #[inline(never)]
    fn perform_rare(
        &mut self,
        k: usize,
        input: &Input<'_>,
        events: &mut impl Events,
    ) -> Result<(), EngineError<S::Error>> {
        // Invariant: `k < self.out.len()`: the only caller, `perform`, passes its own `k`, the
        // index of the step loop over the output list, which performing outputs does not change.
        if let Output::InstallSnapshot { meta } = self.out[k] {
            if self.snapshots.hold_install(&meta) {
                return Ok(());
            }
            return self.perform_install(meta);
        }
        let Engine {
            storage,
            snapshots,
            out,
            capture_wanted,
            ..
        } = self;
        // Invariant: the same `k` as the `self.out[k]` above, still below `self.out.len()`.
        match &out[k] {
            Output::Persist(_)
            | Output::Send { .. }
            | Output::Apply { .. }
            | Output::Proposal(_)
            | Output::Read(_)
            | Output::RoleChanged { .. }
            // Performed above.
            | Output::InstallSnapshot { .. } => {}
            Output::Compact { upto } => storage.compact(*upto).map_err(EngineError::Driver)?,
            Output::CaptureWanted { upto } => {
                *capture_wanted = true;
                events.capture_wanted(*upto);
            }
            Output::SnapshotChunk { meta, offset, len } => {
                let data = input.snapshot_data().unwrap_or(&[]);
                let data = data.get(..*len as usize).unwrap_or(data);
                let at = ChunkAt {
                    meta,
                    offset: *offset,
                };
                snapshots
                    .write_chunk(at, data)
                    .map_err(EngineError::Driver)?;
            }
        }
        Ok(())
    }

    /// Installs the complete snapshot `meta` (`Output::InstallSnapshot`, or one held back)
    /// and queues the follow-up inputs: `Persisted` for the writes it synced first, then
    /// `SnapshotInstalled`.
    fn perform_install(&mut self, meta: SnapshotMeta) -> Result<(), EngineError<S::Error>> {
        // Ordered after every earlier `Persist`: none of those writes may land after the log
        // is reset.
        if let Some(seq) = self.unsynced.take() {
            self.storage.sync().map_err(EngineError::Driver)?;
            let _ = self.follow.push(FollowUp::Persisted(seq));
        }
        let ok = self
            .snapshots
            .install(&meta, &mut self.machine)
            .map_err(EngineError::Driver)?;
        if ok {
            self.storage
                .install_snapshot(meta.index, meta.term)
                .map_err(EngineError::Driver)?;
            self.applied_members = meta.members;
        }
        let _ = self.follow.push(FollowUp::Installed(meta, ok));
        Ok(())
    }

    #[inline]
    fn persist(
        state: &C,
        storage: &mut S,
        unsynced: &mut Option<u64>,
        saved_commit: &mut LogIndex,
        p: &Persist,
        input: &Input<'_>,
    ) -> Result<(), S::Error> {
        storage.persist(p, input)?;
        if p.hard_state.is_some() || p.commit > *saved_commit {
            let hs = p.hard_state.unwrap_or(state.hard_state());
            storage.save_hard_state(hs, p.commit)?;
            *saved_commit = (*saved_commit).max(p.commit);
        }
        match state.durability() {
            Durability::Inline => storage.sync(),
            Durability::Deferred => {
                *unsynced = Some(p.seq);
                Ok(())
            }
        }
    }

    #[inline]
    fn send(
        state: &C,
        storage: &S,
        snapshots: &mut N,
        transport: &mut T,
        to: NodeId,
        msg: &Message<EntryCount>,
    ) -> Result<(), S::Error> {
        let header = Header {
            cluster_id: state.cluster_id(),
            from: state.id(),
            to,
        };
        if let Message::Snapshot(_) = msg {
            return Self::send_chunk(header, storage, snapshots, transport, msg);
        }
        transport.send(Outgoing::new(header, msg, storage, None))
    }

    /// Sends a snapshot chunk, read from the snapshot storage (out of line: rare).
    #[cold]
    #[inline(never)]
    fn send_chunk(
        header: Header,
        storage: &S,
        snapshots: &mut N,
        transport: &mut T,
        msg: &Message<EntryCount>,
    ) -> Result<(), S::Error> {
        let Message::Snapshot(c) = msg else {
            return transport.send(Outgoing::new(header, msg, storage, None));
        };
        let at = ChunkAt {
            meta: &c.meta,
            offset: c.offset,
        };
        match snapshots.read_chunk(at, c.data.0)? {
            Some(bytes) => {
                let chunk = Some((&c.meta, c.offset, bytes));
                transport.send(Outgoing::new(header, msg, storage, chunk))
            }
            // Replaced by a newer snapshot: the core moves on to that one.
            None => Ok(()),
        }
    }

    /// Out of line: once per `Apply` output, not per step.
    #[inline(never)]
    fn apply(
        storage: &S,
        machine: &mut M,
        applied_members: &mut Membership,
        first: LogIndex,
        last: LogIndex,
    ) -> Result<(), EngineError<S::Error>> {
        let mut i = first;
        while i <= last {
            let Some(e) = storage.entry(i) else {
                return Err(EngineError::MissingEntry(i));
            };
            if e.kind == EntryKind::Membership {
                // The core checked it when it was proposed or received.
                if let Ok(m) = Membership::decode_entry(e.data, applied_members) {
                    *applied_members = m;
                }
            }
            machine.apply(i, e).map_err(EngineError::Driver)?;
            i = i.next();
        }
        Ok(())
    }
}

impl<E> From<StoreError> for EngineError<E>
where
    E: From<StoreError>,
{
    fn from(e: StoreError) -> Self {
        EngineError::Driver(E::from(e))
    }
}
