//! One raft-core node per board: the node a board runs when each node is its own chip, talking
//! to the others over a serial line through the host's bus (`raft-board-bus`).
//!
//! The node is a raftcore [`Engine`] over three seams:
//!
//! - its disk, [`BoardDisk`] (in [`crate::board_disk`]): raft-core's `RingStore` in RAM (what the codec reads entries
//!   from) in front of a [`Journal`](crate::journal::Journal) in flash (what survives a power cut). Every `Persist` is
//!   journaled before the engine performs the next output (`Durability::Inline`), and a boot
//!   replays the journal into the ring ([`BoardDisk::open`]). When the core asks for a
//!   capture (its log window is filling), the board journals its digest ([`Capture`]) and the
//!   log compacts up to what every voter holds; a journal half that fills is collected into
//!   the other ([`crate::journal`]), so a board runs for as long as its flash lasts.
//! - its link, [`SerialLink`]: each outgoing message is encoded by the codec, sealed as the
//!   host's UDP driver seals a datagram ([`crate::seal`]) and framed for the serial line
//!   ([`crate::serial`]); a full transmit buffer drops the frame (counted). Received datagrams
//!   are opened there too: forged, replayed and too old ones are counted and dropped.
//! - its state machine, [`Digest`]: client writes (the host service's key-value commands,
//!   [`crate::kv`]), applied at most once and in increasing order, and the acknowledgement of
//!   the write this board proposed.
//!
//! [`run`] is the board's loop: bytes from the serial line, its tick, and a periodic report.
//! It is generic over the serial port ([`SerialRx`], [`SerialTx`]) and the flash ([`Flash`]),
//! so the firmware supplies a UART and semihosting file I/O and a host test could supply
//! in-memory ones.

use core::mem::MaybeUninit;

use embassy_futures::select::{select, Either};
use embassy_time::{Duration, Ticker};
use raftcore::codec::{EntryRef, EntrySource};
use raftcore::engine::{Events, NoSnapshots, Outgoing, StateMachine, Transport};
use raftcore::{
    outputs_needed, Config, Engine, EngineError, EntryKind, Input, LogIndex, LogStore, NodeId,
    Proposal, Restored, RingStore, Role, State, Term,
};

use crate::board::NodeError;
pub use crate::board_disk::{BoardDisk, Capture};
use crate::cluster::{self, Window, INFLIGHT, VOTERS};
use crate::journal::Flash;
use crate::kv;
use crate::link::{FRAME_BYTES, NODES};
use crate::seal::{BoardSeal, SealDrop, FRAME_AT, MAX_DATAGRAM, TAG_RAFT};
use crate::serial::{self, Answer, Deframer, Drops, Msg, Outcome, Pushed, Report};

/// Entries a board's log window holds. Once three quarters are used the core asks for a
/// capture: the board journals its digest and the log compacts up to what every voter holds
/// (there is no snapshot transfer on a board), so the window slides for as long as the
/// boards keep up; a voter down for longer than the window's writes holds the others'
/// windows, and leaders answer `Busy` until it is back.
pub const BOARD_LOG: usize = 160;

/// Bytes of the RAM ring the log's payloads live in. A write's record is 20 bytes (its 9-byte
/// key-value command, [`kv::encode_write`], and raft-core's 11-byte record); the core keeps
/// room for a quarter of the window in empty entries (40 x 11 bytes) and one largest record
/// (at most 128 bytes). 2,880 bytes hold about 115 writes beside those between two
/// compactions; the window's full 120 would take 3,000.
pub const BOARD_STORE: usize = BOARD_LOG * 18;

/// The logical clock of a board. Under QEMU several boards share a loaded host (three QEMU
/// processes on two cores beside other work), and a board that is not scheduled for a few
/// hundred milliseconds must not look dead, so the tick is ten times the single-chip demo's:
/// elections time out after 10 to 20 ticks, 1 to 2 s (with 50 ms, a loaded host made
/// followers campaign during the writes and failovers took several rounds).
pub const BOARD_TICK: Duration = Duration::from_millis(100);

/// A report goes to the bus every this many ticks.
pub const REPORT_TICKS: u32 = 1;

/// The board's protocol state: three voters, its log window lent from a static (so that the
/// `State` built at boot is small enough to pass through the stack: 2.5 KiB of window inline
/// made the boot the board's deepest stack).
pub type BoardState = State<NODES, BOARD_LOG, INFLIGHT, Window>;

/// The RAM ring in front of the journal.
pub type BoardRing = RingStore<'static, BOARD_LOG>;

/// The board's engine over flash `F` and serial transmitter `T`. It borrows the node's
/// `State`, which lives in a `static` of its own and is built there ([`state`]): neither is
/// ever built on the stack and moved.
pub type BoardEngine<F, T> = Engine<
    &'static mut BoardState,
    BoardDisk<F>,
    SerialLink<T>,
    Digest,
    NoSnapshots<NodeError>,
    OUTPUTS,
>;

/// The output list: raft-core's bound for three voters.
pub const OUTPUTS: usize = outputs_needed(NODES);

/// The configuration of the board with id `id` (1 to 3) and seed `seed`.
pub fn config(id: NodeId, seed: u64) -> Option<Config> {
    let k = cluster::index(id)?;
    let mut cfg = cluster::config(k, seed);
    cfg.max_uncommitted = 16;
    cfg.log_bytes = BoardRing::budget(BOARD_STORE, cfg.max_payload());
    Some(cfg)
}

/// Where a board's serial bytes go: queued whole or not at all.
pub trait SerialTx {
    /// Queues all of `bytes` for transmission, or none of them (`false`: no room).
    fn send(&mut self, bytes: &[u8]) -> bool;
}

/// Where a board's serial bytes come from.
pub trait SerialRx {
    /// Waits until at least one byte is ready.
    fn readable(&mut self) -> impl core::future::Future<Output = ()>;
    /// Takes up to `buf.len()` received bytes; returns how many.
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Received bytes lost so far: a byte that arrived before the one ahead of it was taken
    /// (a UART's overrun), or that found no room in the driver's buffer.
    fn overruns(&self) -> u32;
}

/// The engine's [`Transport`] over the serial line, sealing what it sends and opening what it
/// receives.
pub struct SerialLink<T> {
    tx: T,
    tx_full: u32,
    seal: BoardSeal,
}

impl<T: SerialTx> SerialLink<T> {
    /// A link over `tx`, sealing with `seal`.
    pub fn new(tx: T, seal: BoardSeal) -> SerialLink<T> {
        SerialLink {
            tx,
            tx_full: 0,
            seal,
        }
    }

    /// The seal (its counter, for a test).
    pub fn seal(&self) -> &BoardSeal {
        &self.seal
    }

    /// Frames and queues `msg`; a full transmit buffer drops it (counted).
    pub fn send_msg(&mut self, msg: &Msg<'_>) {
        let mut wire = [0u8; serial::MAX_WIRE];
        match serial::encode(msg, &mut wire) {
            Ok(bytes) if self.tx.send(bytes) => {}
            _ => self.tx_full += 1,
        }
    }
}

impl<T: SerialTx> Transport for SerialLink<T> {
    type Error = NodeError;

    fn send<L: EntrySource + ?Sized>(&mut self, msg: Outgoing<'_, L>) -> Result<(), NodeError> {
        let mut buf = [0u8; MAX_DATAGRAM];
        // The host's node-to-node plaintext: the raft tag, then the frame.
        buf[FRAME_AT] = TAG_RAFT;
        let n = msg
            .encode(&mut buf[FRAME_AT + 1..FRAME_AT + 1 + FRAME_BYTES])
            .map_err(NodeError::Codec)?;
        let len = self.seal.seal(&mut buf, 1 + n).map_err(NodeError::Seal)?;
        self.send_msg(&Msg::Sealed {
            to: msg.to().0,
            datagram: &buf[..len],
        });
        Ok(())
    }
}

/// The board's state machine: the example's writes (the host's key-value puts,
/// [`kv::decode_write`], whichever node proposed them), each applied once and only above the
/// last (a retried write committed twice is applied once), and the acknowledgement of the
/// write this board proposed. It keeps a count and the last write, not the key-value map.
#[derive(Debug, Default)]
pub struct Digest {
    /// Values applied since boot.
    pub values: u32,
    /// The last value applied.
    pub last: u32,
    /// The value this board proposed and has not yet seen applied.
    pending: Option<u32>,
    /// The pending value was applied: answer it.
    acked: Option<u32>,
}

impl StateMachine for Digest {
    type Error = NodeError;

    fn apply(&mut self, _: LogIndex, e: EntryRef<'_>) -> Result<(), NodeError> {
        let value = match e.kind {
            EntryKind::Normal => kv::decode_write(e.data),
            EntryKind::Empty | EntryKind::Membership => None,
        };
        if let Some(v) = value {
            if v > self.last {
                self.last = v;
                self.values += 1;
            }
            if self.pending == Some(v) {
                self.pending = None;
                self.acked = Some(v);
            }
        }
        Ok(())
    }
}

/// Role changes, logged.
struct Seen(Option<Proposal>);

impl Events for Seen {
    fn proposal(&mut self, p: Proposal) {
        self.0 = Some(p);
    }

    fn role_changed(&mut self, role: Role, term: Term, leader: Option<NodeId>) {
        debug!("{} in {}, leader {}", role, term, leader);
    }
}

/// The node of board `cfg.id`, restored from what `disk` replayed, on its log window
/// `window` (exactly [`BOARD_LOG`] slots), written into `slot` (a static's, so that the
/// `State` never passes through a stack frame but the one being written: see
/// `State::init_in`).
#[inline(never)]
pub fn state<F: Flash>(
    slot: &'static mut MaybeUninit<BoardState>,
    cfg: Config,
    disk: &BoardDisk<F>,
    restored: Restored,
    window: Window,
) -> Result<&'static mut BoardState, NodeError> {
    BoardState::init_in(slot, cfg, &VOTERS, restored, disk, window).map_err(NodeError::Restore)
}

/// The engine around the node `state` and its seams; the digest restarts from the disk's
/// last capture.
pub fn engine<F: Flash, T: SerialTx>(
    state: &'static mut BoardState,
    disk: BoardDisk<F>,
    commit: LogIndex,
    tx: T,
    seal: BoardSeal,
) -> BoardEngine<F, T> {
    let c = disk.capture();
    let digest = Digest {
        values: c.values,
        last: c.last,
        ..Digest::default()
    };
    let mut engine = BoardEngine::with_outputs(
        state,
        disk,
        NoSnapshots::new(),
        SerialLink::new(tx, seal),
        digest,
    );
    engine.set_saved_commit(commit);
    engine
}

/// The board's loop: runs until the node stops on an error, which it returns. `peak_stack`
/// reads the board's stack high-water mark for the reports.
pub async fn run<F: Flash, T: SerialTx, R: SerialRx>(
    engine: &mut BoardEngine<F, T>,
    rx: &mut R,
    restarts: u32,
    peak_stack: fn() -> usize,
) -> NodeError {
    let mut deframer = Deframer::new();
    let mut drops = Drops::default();
    let mut ticker = Ticker::every(BOARD_TICK);
    let mut ticks = 0u32;
    let mut chunk = [0u8; 32];
    loop {
        let r = match select(rx.readable(), ticker.next()).await {
            Either::First(()) => {
                let n = rx.read(&mut chunk);
                let mut r = Ok(());
                for &b in &chunk[..n] {
                    match deframer.push(b) {
                        Pushed::More => {}
                        Pushed::Dropped(serial::Drop::Framing) => drops.framing += 1,
                        Pushed::Dropped(serial::Drop::Crc) => drops.crc += 1,
                        Pushed::Frame => match deframer.message() {
                            Some(msg) => match take(engine, msg) {
                                Ok(Taken::Yes) => {}
                                Ok(Taken::No) => drops.malformed += 1,
                                Ok(Taken::Unsealed(d)) => count(&mut drops, d),
                                Err(e) => r = r.and(Err(e)),
                            },
                            None => drops.malformed += 1,
                        },
                    }
                }
                r
            }
            Either::Second(()) => {
                ticks = ticks.wrapping_add(1);
                let r = step(engine, Input::Tick).map(|_| ());
                if ticks.is_multiple_of(REPORT_TICKS) {
                    drops.overrun = rx.overruns();
                    let peak = u32::try_from(peak_stack()).unwrap_or(u32::MAX);
                    report(engine, restarts, drops, peak);
                }
                r
            }
        };
        if let Err(e) = r.and_then(|()| capture(engine)) {
            return e;
        }
        if let Some(value) = engine.machine_mut().acked.take() {
            engine.transport_mut().send_msg(&Msg::Answer(Answer {
                value,
                outcome: Outcome::Applied,
            }));
        }
    }
}

/// What became of a received message.
enum Taken {
    /// Taken.
    Yes,
    /// Not a message a board takes.
    No,
    /// A sealed datagram that did not open.
    Unsealed(SealDrop),
}

/// Counts a datagram that did not open.
fn count(drops: &mut Drops, d: SealDrop) {
    let n = match d {
        SealDrop::Malformed => &mut drops.malformed,
        SealDrop::UnknownPeer => &mut drops.unknown_peer,
        SealDrop::Replayed => &mut drops.replayed,
        SealDrop::TooOld => &mut drops.too_old,
        SealDrop::BadTag => &mut drops.bad_tag,
    };
    *n += 1;
}

/// One received message.
fn take<F: Flash, T: SerialTx>(
    engine: &mut BoardEngine<F, T>,
    msg: Msg<'_>,
) -> Result<Taken, NodeError> {
    match msg {
        Msg::Sealed { to, datagram } => {
            if to != engine.state().id().0 {
                // Misrouted: the bus delivers a board only what is addressed to it.
                return Ok(Taken::No);
            }
            let mut buf = [0u8; MAX_DATAGRAM];
            match engine.transport_mut().seal.open(datagram, &mut buf) {
                Ok((_, [TAG_RAFT, frame @ ..])) => {
                    step(engine, Input::Frame(frame)).map(|_| Taken::Yes)
                }
                // Authentic but not a raft frame (a client's tag, or empty).
                Ok(_) => Ok(Taken::Unsealed(SealDrop::Malformed)),
                Err(d) => Ok(Taken::Unsealed(d)),
            }
        }
        Msg::Propose(value) => {
            let outcome = if value <= engine.machine().last {
                // Applied here, so committed: a retry of an acknowledged write.
                Some(Outcome::Applied)
            } else {
                let mut buf = [0u8; kv::MAX_WRITE];
                let data = kv::encode_write(value, &mut buf);
                match step(engine, Input::Propose { data })? {
                    Some(Proposal::Accepted { .. }) => {
                        engine.machine_mut().pending = Some(value);
                        None
                    }
                    Some(Proposal::NotLeader { leader_hint }) => {
                        Some(Outcome::NotLeader(leader_hint.map_or(0, |l| l.0)))
                    }
                    _ => Some(Outcome::Busy),
                }
            };
            if let Some(outcome) = outcome {
                engine
                    .transport_mut()
                    .send_msg(&Msg::Answer(Answer { value, outcome }));
            }
            Ok(Taken::Yes)
        }
        // A board's own messages: the bus never sends them to a board.
        Msg::Answer(_) | Msg::Report(_) => Ok(Taken::No),
    }
}

/// Captures the digest when the core asked for it (its log window is filling): journals it at
/// the applied index, then lets the log compact up to there ([`Engine::captured`]; without
/// snapshot transfer, the core compacts only what every voter holds).
fn capture<F: Flash, T: SerialTx>(engine: &mut BoardEngine<F, T>) -> Result<(), NodeError> {
    if !engine.capture_wanted() {
        return Ok(());
    }
    let index = engine.state().applied();
    // The applied index is in the log window or is its compaction point, so this is found;
    // were it not, the capture waits (the request stays, as in `Engine::capture`).
    let Some(term) = engine.state().term_at(index) else {
        return Ok(());
    };
    let d = engine.machine();
    let c = Capture {
        index,
        term,
        values: d.values,
        last: d.last,
    };
    engine.storage_mut().save_capture(c)?;
    engine.captured(index, &mut Seen(None)).map_err(node_error)
}

/// The node's error for an engine error.
fn node_error(e: EngineError<NodeError>) -> NodeError {
    match e {
        EngineError::Driver(e) => e,
        EngineError::Core(e) => NodeError::Step(e),
        EngineError::MissingEntry(i) => NodeError::MissingEntry(i),
    }
}

/// One step through the engine; the answer to a proposal, if the step gave one.
fn step<F: Flash, T: SerialTx>(
    engine: &mut BoardEngine<F, T>,
    input: Input<'_>,
) -> Result<Option<Proposal>, NodeError> {
    let mut seen = Seen(None);
    engine.step(input, &mut seen).map_err(node_error)?;
    Ok(seen.0)
}

/// Sends the board's report.
fn report<F: Flash, T: SerialTx>(
    engine: &mut BoardEngine<F, T>,
    restarts: u32,
    mut drops: Drops,
    peak_stack: u32,
) {
    let s = engine.state();
    let stats = s.stats();
    let core = stats.dropped_malformed + stats.dropped_wrong_cluster + stats.dropped_misaddressed;
    drops.core = u32::try_from(core).unwrap_or(u32::MAX);
    drops.tx_full = engine.transport().tx_full;
    let r = Report {
        id: s.id().0,
        role: match s.role() {
            Role::Leader => 2,
            Role::Follower => 0,
            _ => 1,
        },
        term: s.term().0,
        leader: s.leader().map_or(0, |l| l.0),
        commit: s.commit().0,
        last_index: engine.storage().last_index().0,
        first_index: s.first_index().0,
        collections: engine.storage().collections(),
        values: engine.machine().values,
        last_value: engine.machine().last,
        restarts,
        drops,
        uptime_ms: embassy_time::Instant::now().as_millis(),
        peak_stack,
    };
    engine.transport_mut().send_msg(&Msg::Report(r));
}
