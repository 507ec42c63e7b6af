//! A node task: one raft-core [`Engine`](raftcore::Engine) driven by its inbox, its own tick
//! timer and client requests. The engine performs each step's outputs in order through the
//! node's seams: its [`Disk`](crate::cluster::Disk) (`Durability::Inline`: every `Persist` is
//! written before the next output), its [`Link`] and its [`Machine`].

use embassy_futures::select::{select3, Either3};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::{Duration, Instant, Ticker, Timer};
use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::{Events, Outgoing, StateMachine, Transport};
use raftcore::{EngineError, EntryKind, Input, LogIndex, LogStore, NodeId, Proposal, Role, Term};

use crate::board::{AppliedEntry, Board, NodeError};
use crate::cluster::{self, NodeEngine, Shared, VOTERS};
use crate::link::{self, Frame, FRAME_BYTES};

/// The logical clock: every node steps `Input::Tick` this often, on its own timer. With the
/// example's 10-tick election timeout a leader is elected within 100-200 ms.
pub const TICK: Duration = Duration::from_millis(10);

/// What the client asks of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Request {
    /// Propose a value (its 4 little-endian bytes are the entry's payload).
    Propose(u32),
    /// Cut the power for this many milliseconds; the node then reboots from its disk.
    PowerCycle {
        /// How long the node stays off.
        off_ms: u32,
    },
}

/// A node's answer to a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Answer {
    /// The node that answered.
    pub node: usize,
    /// The value proposed.
    pub value: u32,
    /// What the core said.
    pub proposal: Proposal,
}

/// Client requests to one node.
pub type RequestQueue = Channel<CriticalSectionRawMutex, Request, 2>;

/// Answers from all nodes to the client.
pub type AnswerQueue = Channel<CriticalSectionRawMutex, Answer, 4>;

/// The engine's [`Transport`]: encodes each message with raft-core's codec (entries read from
/// the disk) and hands the frame to the lossy link.
pub struct Link {
    shared: &'static Shared,
}

impl Link {
    /// A node's link into `shared`'s uplink (the engine writes the sender into each frame's
    /// header).
    pub fn new(shared: &'static Shared) -> Link {
        Link { shared }
    }
}

impl Transport for Link {
    type Error = NodeError;

    fn send<L: EntrySource + ?Sized>(&mut self, msg: Outgoing<'_, L>) -> Result<(), NodeError> {
        // The core only addresses the voters it was configured with.
        let Some(dest) = cluster::index(msg.to()) else {
            return Ok(());
        };
        let mut buf = [0u8; FRAME_BYTES];
        let n = msg.encode(&mut buf).map_err(NodeError::Codec)?;
        // `n <= FRAME_BYTES`: `encode` wrote it into `buf`.
        if let Ok(frame) = Frame::from_slice(&buf[..n]) {
            link::send(&self.shared.uplink, &self.shared.link_stats, dest, frame);
        }
        Ok(())
    }
}

/// The engine's [`StateMachine`]: records each applied entry on the board, whose state machine
/// keeps the client values.
pub struct Machine {
    k: usize,
    board: &'static Board,
}

impl Machine {
    /// Node `k`'s state machine, shown on `board`.
    pub fn new(k: usize, board: &'static Board) -> Machine {
        Machine { k, board }
    }
}

impl StateMachine for Machine {
    type Error = NodeError;

    fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), NodeError> {
        let value = match e.kind {
            EntryKind::Normal => <[u8; 4]>::try_from(e.data).ok().map(u32::from_le_bytes),
            // The example never changes its membership; neither kind carries a value.
            EntryKind::Empty | EntryKind::Membership => None,
        };
        self.board.apply(
            self.k,
            AppliedEntry {
                term: u32::try_from(e.term.0).unwrap_or(u32::MAX),
                value,
            },
        )
    }
}

/// What the node task sees of a step: the answer to a proposal, and role changes (logged).
struct Seen {
    k: usize,
    proposal: Option<Proposal>,
}

impl Events for Seen {
    fn proposal(&mut self, p: Proposal) {
        self.proposal = Some(p);
    }

    fn role_changed(&mut self, role: Role, term: Term, leader: Option<NodeId>) {
        // raft-core logs role changes itself (at info with its `defmt` feature).
        debug!(
            "node {}: {} in {}, leader {}",
            cluster::id(self.k),
            role,
            term,
            leader
        );
    }
}

/// Node `k`'s task body: runs forever (or parks after reporting an error on the board).
pub async fn run(k: usize, engine: &mut NodeEngine, shared: &'static Shared, seed: u64) -> ! {
    if let Err(error) = serve(k, engine, shared, seed).await {
        info!("node {}: stopped on {}", cluster::id(k), error);
        shared.board.fail(k, error);
    }
    core::future::pending().await
}

async fn serve(
    k: usize,
    engine: &mut NodeEngine,
    shared: &'static Shared,
    seed: u64,
) -> Result<(), NodeError> {
    let mut ticker = Ticker::every(TICK);
    shared.board.publish(k, engine.state());
    loop {
        // The select waits for a frame but does not take it: a frame taken by the select
        // would be kept in the task's future (in the task pool, for ever) beside everything
        // else it holds across an await. This task is the inbox's only receiver, so the frame
        // is still there.
        let event = select3(
            shared.inboxes[k].ready_to_receive(),
            ticker.next(),
            shared.requests[k].receive(),
        )
        .await;
        match event {
            Either3::First(()) => {
                if let Ok(frame) = shared.inboxes[k].try_receive() {
                    step(k, engine, shared, Input::Frame(&frame))?;
                }
            }
            Either3::Second(()) => {
                step(k, engine, shared, Input::Tick)?;
            }
            Either3::Third(Request::Propose(value)) => {
                let data = value.to_le_bytes();
                if let Some(proposal) = step(k, engine, shared, Input::Propose { data: &data })? {
                    debug!("node {}: value {} -> {}", cluster::id(k), value, proposal);
                    // A client that stopped listening loses the answer, like a lost reply.
                    let _ = shared.answers.try_send(Answer {
                        node: k,
                        value,
                        proposal,
                    });
                }
            }
            Either3::Third(Request::PowerCycle { off_ms }) => {
                power_cycle(
                    k,
                    engine,
                    shared,
                    seed,
                    Duration::from_millis(off_ms.into()),
                )
                .await?;
                ticker = Ticker::every(TICK);
            }
        }
    }
}

/// One step through the engine; returns the answer to a proposal, if the step gave one.
fn step(
    k: usize,
    engine: &mut NodeEngine,
    shared: &Shared,
    input: Input<'_>,
) -> Result<Option<Proposal>, NodeError> {
    let mut seen = Seen { k, proposal: None };
    engine.step(input, &mut seen).map_err(|e| match e {
        EngineError::Driver(e) => e,
        EngineError::Core(e) => NodeError::Step(e),
        EngineError::MissingEntry(i) => NodeError::MissingEntry(i),
    })?;
    shared.board.publish(k, engine.state());
    Ok(seen.proposal)
}

/// Power off for `off`, then rebuild the node from its disk alone.
async fn power_cycle(
    k: usize,
    engine: &mut NodeEngine,
    shared: &'static Shared,
    seed: u64,
    off: Duration,
) -> Result<(), NodeError> {
    info!(
        "node {}: power off for {} ms",
        cluster::id(k),
        off.as_millis()
    );
    shared.board.power_off(k);
    // Off: whatever reaches the node is lost.
    let back = Instant::now() + off;
    loop {
        match select3(
            shared.inboxes[k].receive(),
            Timer::at(back),
            shared.requests[k].receive(),
        )
        .await
        {
            Either3::First(_) => shared.lost_while_off.bump(),
            Either3::Second(()) => break,
            Either3::Third(_) => {}
        }
    }
    reboot(k, engine, shared, seed)?;
    info!(
        "node {}: power on in {} with {} entries on disk",
        cluster::id(k),
        engine.state().term(),
        engine.storage().last_index()
    );
    shared.board.power_on(k, engine.state());
    Ok(())
}

/// Power on: the old `State` is gone; the engine restarts on a `State` restored from the disk
/// alone, with the same disk, link and state machine (whose record on the board was wiped).
///
/// The state is rebuilt where it lies, inside the engine (`Engine::restart_in_place` and
/// `State::restore_in_place`), on the spare log window; the old window becomes the spare when
/// the old state is overwritten. Returning the restored `State` by value (`State::restore`,
/// then `Engine::restart`) took about three `State`-sized copies in this frame on thumbv7em
/// and made the reboot the firmware's peak stack.
///
/// Not inlined: what the restore keeps on the stack then lives in this frame, which exists
/// only during a reboot, instead of in the node task's poll frame, which every poll of every
/// node pays for (measured on thumbv7em: an 8 KiB poll frame when inlined).
#[inline(never)]
fn reboot(
    k: usize,
    engine: &mut NodeEngine,
    shared: &'static Shared,
    seed: u64,
) -> Result<(), NodeError> {
    engine.restart_in_place(|state, disk| {
        let window = shared.windows.take().ok_or(NodeError::NoWindow)?;
        state
            .restore_in_place(
                cluster::config(k, seed),
                &VOTERS,
                disk.restored(),
                disk,
                window,
            )
            .map_err(NodeError::Restore)
    })
}
