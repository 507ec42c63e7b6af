//! What [`State::step`](crate::State::step) asks the driver to do.
//!
//! **A driver does not perform these by hand: it runs an [`Engine`](crate::Engine)**, which
//! performs every output below through the driver's seams (log storage, snapshots, transport,
//! state machine) in exactly this contract's order, feeds back the inputs it requires
//! (`Persisted`, `SnapshotInstalled`, `SnapshotSaved`), and hands the application only what
//! it must see (proposal and read answers, role changes) through
//! [`Events`](crate::engine::Events). The contract is written here once, for the engine and
//! for whoever reviews it (and for the rare driver that needs the raw outputs: a checker, a
//! model).
//!
//! # The output contract
//!
//! Each step returns a short list of small descriptors (no payload copies). **Perform them in
//! order.** A driver that makes every [`Output::Persist`] durable before it performs the next
//! output is correct; that is all a firmware needs ([`Durability::Inline`]).
//!
//! Under [`Durability::Deferred`] a driver may instead make a `Persist` durable in the
//! background (group commit, fsync while the sends go out) and report
//! [`Input::Persisted { seq }`](crate::Input::Persisted) when it is. The core then holds back
//! exactly the messages that acknowledge durable state — vote grants and append
//! acknowledgements — until their `Persist` is reported durable; a leader counts its own log
//! toward a quorum only up to its durable index; and `Apply` never passes the durable index.
//! Everything else may go out at once.
//!
//! What each output asks of the driver (the [`engine`](crate::engine) module's table says
//! which seam performs each):
//!
//! | output | the driver |
//! |---|---|
//! | `Persist` | truncates and appends the log store ([`persist_entries`](crate::persist_entries): entries come from the step's input), writes the hard state; makes both durable (now, or later with `Persisted`) |
//! | `Send` | encodes with [`codec::encode`](crate::codec::encode) from its log store and sends; may drop it (the protocol retries) |
//! | `Apply` | applies the committed entries `first..=last`, read from its log store, to the state machine, in order. Each index comes out exactly once per `State`; after a restart the core resumes after the applied index it was restored with |
//! | `Proposal` | answers the client that proposed (or changed the membership) in this step |
//! | `RoleChanged` | notifies the application (raftos' `on_leader` / `on_follower`) |
//! | `Read` | serves the reads it covers once its state machine has applied the index (`Ready`), or fails them (`Failed`) |
//! | `Compact` | may drop log-store entries up to `upto` (they are captured in a snapshot) |
//! | `SnapshotChunk` | writes the chunk's bytes (from this step's input) at its offset of the incoming snapshot; never staged in the core |
//! | `InstallSnapshot` | verifies, makes durable and loads the received snapshot, resets its log store to start after it, and reports `SnapshotInstalled`. Under `Deferred` durability the reset is ordered after every earlier `Persist`: none of those writes may land after it (a driver that writes one log stream with the install as a record in it, as the std driver's WAL does, gets this for free: a crash keeps a prefix of the stream, never a later record without the earlier ones) |
//! | `CaptureWanted` | should capture the state machine at its applied index soon and report `Captured`, so the window can slide |
//!
//! # Bounded outputs
//!
//! A step emits at most [`outputs_needed`]`(PEERS)` outputs: one `Persist`, one `Proposal`,
//! one `Apply`, one `Read`, one `Compact` or `CaptureWanted`, one `RoleChanged`, at most one
//! protocol message and one read-index answer to each other peer, and one held-back
//! acknowledgement released by `Persisted`. `State::step`
//! checks at compile time that its `Outputs` capacity is at least that bound, so outputs never
//! overflow; work beyond the bound per step (more entries to apply, more entries to send) stays
//! pending in `State` and comes out on the next step, of any kind including `Tick`.

use crate::config::Durability;
use crate::membership::MembershipRefusal;
use crate::message::{EntryCount, Message, SnapshotMeta};
use crate::types::{HardState, LogIndex, NodeId, Role, Term};

/// The bounded list a step fills.
pub type Outputs<const N: usize> = heapless::Vec<Output, N>;

/// The smallest `Outputs` capacity for a cluster of up to `peers` voters (self included).
pub const fn outputs_needed(peers: usize) -> usize {
    // peers - 1 appends + Persist + Proposal + Apply + Compact/CaptureWanted + RoleChanged +
    // one released acknowledgement + one reply to the sender of this input + one Read, and
    // peers - 1 read-index answers to followers.
    2 * peers + 6
}

/// One thing for the driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Make this durable (see the contract above).
    Persist(Persist),
    /// Send `msg` to `to`.
    Send {
        /// The addressee.
        to: NodeId,
        /// The message; an AppendEntries names its entries by count after `prev_index`.
        msg: Message<EntryCount>,
    },
    /// Apply committed entries `first..=last` to the state machine.
    Apply {
        /// First index to apply.
        first: LogIndex,
        /// Last index to apply.
        last: LogIndex,
    },
    /// The answer to this step's `Propose`.
    Proposal(Proposal),
    /// The node's role or known leader changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The current term.
        term: Term,
        /// The known leader, if any.
        leader: Option<NodeId>,
    },
    /// The log up to `upto` is no longer needed: the store may drop it.
    Compact {
        /// Last index that may be dropped.
        upto: LogIndex,
    },
    /// The answer to reads: every read with an id up to `upto` not answered yet.
    Read(ReadResult),
    /// Write the `len` bytes of this step's snapshot chunk (`Input::snapshot_data`) at
    /// `offset` of the incoming snapshot `meta` (into a temporary file, say). Offset 0 starts
    /// a new incoming snapshot: discard any partial one.
    SnapshotChunk {
        /// The incoming snapshot.
        meta: SnapshotMeta,
        /// Where the bytes go.
        offset: u64,
        /// How many bytes.
        len: u32,
    },
    /// Every chunk of `meta` was written: verify its checksum, make it durable, load it into
    /// the state machine, reset the log store to start after `meta.index` (keeping entries
    /// after it if the store holds `meta.index` with `meta.term`), then report
    /// `Input::SnapshotInstalled`.
    InstallSnapshot {
        /// The snapshot to install.
        meta: SnapshotMeta,
    },
    /// The log window is filling up: capture the state machine and report `Captured`.
    CaptureWanted {
        /// The applied index a capture would cover now.
        upto: LogIndex,
    },
}

/// The answer to a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Proposal {
    /// Appended at `index` in `term`; it is committed once `Apply` covers `index` (and the
    /// entry at `index` still has `term`).
    Accepted {
        /// Where the entry went.
        index: LogIndex,
        /// The leader's term.
        term: Term,
    },
    /// This node is not the leader; try `leader_hint` if known.
    NotLeader {
        /// The leader this node knows of.
        leader_hint: Option<NodeId>,
    },
    /// A bounded resource is full (log window, store bytes, uncommitted cap, persist queue,
    /// or a leadership transfer in progress); retry later.
    Busy,
    /// The payload cannot fit in one frame of `max_frame_bytes`.
    TooLarge,
    /// A membership change breaks a rule (see [`crate::membership`]).
    Refused(MembershipRefusal),
}

/// The answer to linearizable reads (`Input::Read`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadResult {
    /// Leadership was confirmed after these reads began: serve every read up to `upto` once
    /// the state machine has applied `index`.
    Ready {
        /// The newest read id covered.
        upto: u64,
        /// The read index.
        index: LogIndex,
    },
    /// These reads cannot be served here (not the leader, leadership lost, too many pending):
    /// retry, at `leader_hint` if known.
    Failed {
        /// The newest read id covered.
        upto: u64,
        /// The leader this node knows of.
        leader_hint: Option<NodeId>,
    },
}

/// A durable write: hard state and/or log entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Persist {
    /// Increases by one per `Persist`; report it back with `Persisted` under
    /// `Durability::Deferred`.
    pub seq: u64,
    /// New hard state to write, if it changed.
    pub hard_state: Option<HardState>,
    /// The commit index when this was written. Storing it beside the hard state is optional;
    /// a driver that passes it back in [`Restored::commit`](crate::Restored::commit) restarts
    /// knowing which entries are committed (a cluster restarted as a whole then need not
    /// re-learn it before it can compact a full log window).
    pub commit: LogIndex,
    /// Drop every log entry at or after this index first.
    pub truncate_from: Option<LogIndex>,
    /// Then append these entries.
    pub entries: Option<NewEntries>,
}

/// Entries a `Persist` appends, and where the driver finds their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NewEntries {
    /// Index of the first new entry.
    pub first: LogIndex,
    /// How many.
    pub count: u32,
    /// Where their bytes come from.
    pub from: NewEntriesFrom,
}

/// The source of a `Persist`'s new entries: always the input of the same step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NewEntriesFrom {
    /// The `Propose` payload, as one `Normal` entry of `term`.
    Proposal {
        /// The leader's term.
        term: Term,
    },
    /// The `ChangeMembership` payload, as one `Membership` entry of `term`.
    Membership {
        /// The leader's term.
        term: Term,
    },
    /// The entry that leaves a joint configuration, as one `Membership` entry of `term` with
    /// an empty payload ([`LEAVE_JOINT`](crate::LEAVE_JOINT)): the leader appends it by
    /// itself once the joint configuration is committed, or for a `ChangeMembership` that
    /// asks to leave with an empty payload.
    LeaveJoint {
        /// The leader's term.
        term: Term,
    },
    /// A new leader's empty entry of `term`.
    Empty {
        /// The leader's term.
        term: Term,
    },
    /// The entries of the received AppendEntries, after skipping the first `skip`.
    Message {
        /// Entries of the message already held (matching) and not re-appended.
        skip: u32,
    },
}

#[allow(dead_code)] // Referenced from the docs above.
const _DOC_LINK: Option<Durability> = None;
