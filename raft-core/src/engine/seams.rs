//! The driver-side seams the [`Engine`](super::Engine) performs a step's outputs through.
//!
//! Each seam is a small trait with static dispatch, as embedded-hal's are: a driver implements
//! the ones it has and takes the provided no-op ones ([`NoSnapshots`], `()` for [`Events`]) for
//! the rest. All of one engine's seams share one error type (the storage's), so that a driver
//! has one thing to match on; any seam error stops the node (fail-stop).

use core::marker::PhantomData;

use crate::codec::{self, CodecError, EntryRef, EntrySource, Header};
use crate::input::Input;
use crate::log::store::{persist_entries, LogStore, StoreError};
use crate::message::{EntryCount, Message, SnapshotMeta, SnapshotPoint};
use crate::output::{Output, Persist, Proposal, ReadResult};
use crate::types::{HardState, LogIndex, NodeId, Role, Term};

/// Where the log and the hard state live: the [`LogStore`] the codec reads payloads from, made
/// durable by [`Storage::sync`].
///
/// Under [`Durability::Inline`](crate::Durability::Inline) the engine calls `sync` after every
/// `Persist`, so a store whose writes are durable when they return (flash, a RAM-only test)
/// leaves it empty. Under `Deferred` the engine never waits: writes are readable at once, and
/// the driver makes them durable when it likes ([`Engine::flush`](super::Engine::flush), or
/// in the background and [`Engine::persisted`](super::Engine::persisted)).
pub trait Storage: LogStore {
    /// What every seam of the engine fails with.
    type Error: From<StoreError>;

    /// Performs the log part of a `Persist` (truncate, then append the entries carried by the
    /// step's `input`). The provided method is [`persist_entries`]; a store whose failures carry
    /// more than a [`StoreError`] (a file and an errno) overrides it to return them.
    fn persist(&mut self, persist: &Persist, input: &Input<'_>) -> Result<(), Self::Error> {
        persist_entries(self, persist, input).map_err(Self::Error::from)
    }

    /// Records the hard state and the commit index, after the entries of the same `Persist`
    /// (so a torn write never keeps a commit index that covers entries it replaced). Called
    /// when the hard state changed or the commit index grew.
    fn save_hard_state(
        &mut self,
        hard_state: HardState,
        commit: LogIndex,
    ) -> Result<(), Self::Error>;

    /// Makes every write performed so far durable (one fsync for a batch: group commit).
    fn sync(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// May drop the entries up to `upto` (`Output::Compact`: a capture covers them).
    fn compact(&mut self, upto: LogIndex) -> Result<(), Self::Error> {
        self.compact_to(upto);
        Ok(())
    }

    /// A snapshot up to `(index, term)` was installed: the log now starts after `index`,
    /// keeping the entries after it only if the store holds `index` with `term`.
    fn install_snapshot(&mut self, index: LogIndex, term: Term) -> Result<(), Self::Error> {
        if self.entry(index).map(|e| e.term) != Some(term) {
            let from = index.min(self.last_index().next());
            self.truncate_from(from);
        }
        self.compact_to(index);
        Ok(())
    }
}

/// The application's state machine.
pub trait StateMachine {
    /// The engine's error type (the storage's).
    type Error;

    /// Applies the committed entry `index`. Called for every index exactly once, in order,
    /// for every kind (a state machine usually skips [`EntryKind::Empty`](crate::EntryKind)
    /// and [`EntryKind::Membership`](crate::EntryKind) entries; the engine tracks the
    /// membership as of the applied index itself, see [`Engine::applied_membership`](super::Engine::applied_membership)).
    fn apply(&mut self, index: LogIndex, entry: EntryRef<'_>) -> Result<(), Self::Error>;
}

/// Where a snapshot chunk lies: the snapshot, and the chunk's first byte in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkAt<'a> {
    /// The snapshot.
    pub meta: &'a SnapshotMeta,
    /// The chunk's first byte.
    pub offset: u64,
}

/// Durable snapshots of the state machine `M`: captured and read in chunks to send to a
/// follower that lags, written in chunks and installed on the follower. Never staged whole in
/// the core; a driver without snapshots takes [`NoSnapshots`].
pub trait Snapshots<M> {
    /// The engine's error type (the storage's).
    type Error;

    /// Captures `machine` (which has applied exactly `at.index`, of `at.term`, with
    /// `at.members` in force) into a durable snapshot and describes it
    /// ([`SnapshotPoint::meta`]), or `Ok(None)` to decline (nothing new to capture, or this
    /// driver cannot send snapshots).
    fn capture(
        &mut self,
        machine: &M,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, Self::Error>;

    /// The `len` bytes at `at.offset` of the durable snapshot `at.meta`, to send as one chunk,
    /// or `Ok(None)` if this snapshot is no longer held (replaced by a newer one: the core
    /// moves on to that one).
    fn read_chunk(&mut self, at: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, Self::Error>;

    /// Writes a received chunk at `at.offset` of the incoming snapshot `at.meta` (offset 0
    /// starts a new one: discard any partial one). A chunk of a snapshot that is no longer the
    /// one in progress may be ignored: the install then fails its check and the transfer
    /// restarts.
    fn write_chunk(&mut self, at: ChunkAt<'_>, data: &[u8]) -> Result<(), Self::Error>;

    /// Every chunk of `meta` was written: verify it (length, checksum), make it durable and
    /// load it into `machine`. `Ok(false)` when the bytes do not check out (the core restarts
    /// the transfer); errors stop the node.
    fn install(&mut self, meta: &SnapshotMeta, machine: &mut M) -> Result<bool, Self::Error>;

    /// Every chunk of `meta` was written: `true` holds its install back instead of performing
    /// it now (a driver that verifies and loads a large snapshot off its step loop, or a test
    /// that builds a schedule around the install). The chunks stay written and the core keeps
    /// waiting; the driver installs later with
    /// [`Engine::install_held`](super::Engine::install_held). The provided method holds
    /// nothing back.
    fn hold_install(&mut self, _meta: &SnapshotMeta) -> bool {
        false
    }
}

/// A message leaving the node, for [`Transport::send`]: the header, the message descriptor,
/// and where its payloads come from (the log store, and a snapshot chunk already read).
/// Encode it with [`Outgoing::encode`], or take it apart for an in-process path.
pub struct Outgoing<'a, L: ?Sized> {
    header: Header,
    msg: &'a Message<EntryCount>,
    source: Source<'a, L>,
}

/// The log store plus the snapshot chunk read for the message being sent: what the codec
/// reads payloads from.
pub struct Source<'a, L: ?Sized> {
    log: &'a L,
    chunk: Option<(&'a SnapshotMeta, u64, &'a [u8])>,
}

impl<L: EntrySource + ?Sized> EntrySource for Source<'_, L> {
    #[inline]
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }

    #[inline]
    fn records(&self, first: LogIndex, count: u32) -> Option<&[u8]> {
        self.log.records(first, count)
    }

    fn snapshot_chunk(&self, meta: &SnapshotMeta, offset: u64, len: u32) -> Option<&[u8]> {
        match self.chunk {
            Some((m, o, data)) if m == meta && o == offset && data.len() == len as usize => {
                Some(data)
            }
            _ => self.log.snapshot_chunk(meta, offset, len),
        }
    }
}

impl<'a, L: EntrySource + ?Sized> Outgoing<'a, L> {
    pub(crate) fn new(
        header: Header,
        msg: &'a Message<EntryCount>,
        log: &'a L,
        chunk: Option<(&'a SnapshotMeta, u64, &'a [u8])>,
    ) -> Self {
        Outgoing {
            header,
            msg,
            source: Source { log, chunk },
        }
    }

    /// The addressee.
    #[inline]
    pub fn to(&self) -> NodeId {
        self.header.to
    }

    /// The frame header (cluster id, sender, addressee).
    #[inline]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The message descriptor (an AppendEntries names its entries by count).
    #[inline]
    pub fn message(&self) -> &'a Message<EntryCount> {
        self.msg
    }

    /// Where the payloads come from (for [`codec::encode_body`] on an in-process path).
    #[inline]
    pub fn source(&self) -> &Source<'a, L> {
        &self.source
    }

    /// Encodes the whole frame into `buf` ([`codec::encode`]) and returns its length.
    #[inline]
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, CodecError> {
        codec::encode(&self.header, self.msg, &self.source, buf)
    }
}

/// Where frames go: a UDP socket, a UART, a channel, a simulator's queue.
pub trait Transport {
    /// The engine's error type (the storage's).
    type Error;

    /// Sends `msg` (usually: encode it into a buffer and hand the bytes to the link). A frame
    /// that cannot be sent may be dropped (counted): the protocol retries. An error stops the
    /// node, so return one only for a failure the node cannot live with.
    fn send<L: EntrySource + ?Sized>(&mut self, msg: Outgoing<'_, L>) -> Result<(), Self::Error>;
}

/// What the application sees of a step: answers to its requests and role changes. Every
/// method has an empty default; `()` ignores everything.
pub trait Events {
    /// Whether [`Events::observe`] does anything. An implementation that keeps the empty
    /// default sets it `false`, and the engine then skips the observation bookkeeping at
    /// compile time (it is on every step's path). Leave it `true` when overriding `observe`.
    const OBSERVES: bool = true;

    /// The answer to the `Propose` or `ChangeMembership` of this step.
    fn proposal(&mut self, _result: Proposal) {}

    /// Reads up to an id are ready (serve them once `applied` reaches the index) or failed.
    fn read(&mut self, _result: ReadResult) {}

    /// The node's role or known leader changed.
    fn role_changed(&mut self, _role: Role, _term: Term, _leader: Option<NodeId>) {}

    /// The log window is filling: capture soon ([`Engine::capture`](super::Engine::capture)).
    fn capture_wanted(&mut self, _upto: LogIndex) {}

    /// For tracing and checkers: the outputs of one core step, seen after its `Persist` (if
    /// any) was performed and before anything else was. Drivers leave it empty.
    fn observe(&mut self, _view: &dyn StepView, _outputs: &[Output]) {}
}

impl Events for () {
    const OBSERVES: bool = false;
}

/// A read-only view of the node for [`Events::observe`] (checkers compare it with the log
/// store): what a step left the protocol state at.
pub trait StepView {
    /// The node's id.
    fn id(&self) -> NodeId;
    /// The current role.
    fn role(&self) -> Role;
    /// The current term.
    fn term(&self) -> Term;
    /// The commit index.
    fn commit(&self) -> LogIndex;
    /// The applied index handed out so far.
    fn applied(&self) -> LogIndex;
    /// The last index of the log.
    fn last_index(&self) -> LogIndex;
}

/// The [`Snapshots`] of a driver that keeps none: it never captures, and a snapshot offered by
/// a leader is refused (the core restarts that transfer, so such a node needs a leader that
/// still holds the log it lacks).
pub struct NoSnapshots<E>(PhantomData<E>);

impl<E> NoSnapshots<E> {
    /// No snapshots.
    pub const fn new() -> Self {
        NoSnapshots(PhantomData)
    }
}

impl<E> Default for NoSnapshots<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, E> Snapshots<M> for NoSnapshots<E> {
    type Error = E;

    fn capture(&mut self, _: &M, _: SnapshotPoint) -> Result<Option<SnapshotMeta>, E> {
        Ok(None)
    }

    fn read_chunk(&mut self, _: ChunkAt<'_>, _: u32) -> Result<Option<&[u8]>, E> {
        Ok(None)
    }

    fn write_chunk(&mut self, _: ChunkAt<'_>, _: &[u8]) -> Result<(), E> {
        Ok(())
    }

    fn install(&mut self, _: &SnapshotMeta, _: &mut M) -> Result<bool, E> {
        Ok(false)
    }
}
