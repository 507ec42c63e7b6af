//! The driver: a [`Node`] owns a raft-core [`State`](raft_core::State), a UDP socket, the WAL,
//! the snapshot store and a [`StateMachine`], and runs the step loop.
//!
//! # One turn of the loop ([`Node::turn`])
//!
//! 1. Wait for a datagram until the next tick is due (a [`NodeHandle`] wakes the wait), then
//!    drain every datagram already queued (up to a batch). Each is opened (authenticated,
//!    replay-checked, allow-listed, drops counted per reason) and stepped in as
//!    `Input::Frame`, or handled as a client request.
//! 2. Step the ticks that are due (a monotonic [`Instant`] clock, one `Input::Tick` per tick
//!    length) and the handles' proposals.
//! 3. Every step's outputs are performed in order at once: `Persist` appends to the WAL
//!    (readable at once, not yet durable) and records the hard state and commit index, `Send`
//!    encodes from the WAL (a snapshot chunk is read from the snapshot file at its offset into
//!    a reusable buffer first), seals and sends, `Apply` applies to the state machine and
//!    answers whoever waits for that index (proposals, and reads whose read index it
//!    reached), `Read` serves or fails the reads it covers, `RoleChanged` is published to
//!    handles, `Compact` compacts the WAL, `CaptureWanted` schedules a snapshot,
//!    `SnapshotChunk` writes into the snapshot store's in-progress file, and
//!    `InstallSnapshot` verifies it, renames it into place, loads it into the state machine,
//!    resets the WAL to start after it and steps `Input::SnapshotInstalled`.
//! 4. Group commit: one `sync` (one write, one fsync) for every `Persist` of the turn, then
//!    `Input::Persisted { seq }` (raft-core runs with `Durability::Deferred`: it holds back the
//!    acknowledgements that need durable state and never applies past it, so the driver holds
//!    nothing itself and the sends of the turn left before the fsync).
//! 5. A wanted snapshot (raft-core's `CaptureWanted`, or `snapshot_entries` applied since the
//!    last one): the state machine's bytes are saved atomically, `Input::SnapshotSaved` with
//!    their length and CRC (the core can then stream it to followers that lag, and compact
//!    past them), and the `Compact` that follows drops the covered WAL segments. After a
//!    restart the newest snapshot is reported again.
//! 6. Reads that waited too long for raft-core's answer (a forwarded read or its answer was
//!    lost) are issued again under a new id, and after a few attempts answered `Retry`.
//!
//! Any storage error stops the node (fail-stop): the core gets `Input::StorageFailed`, every
//! waiting proposal fails, and [`Node::turn`] returns the error naming the file.

mod admin;
mod handle;
mod noio;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use raft_core::codec::{self, EntryRef, EntrySource};
use raft_core::{
    persist_entries, EntryKind, Input, LogIndex, Membership, Message, NodeId, Output, Outputs,
    Proposal, ReadResult, Restored, Role, SnapshotMeta, Term,
};

use crate::config::NodeConfig;
use crate::kv::KvStore;
use crate::logstore::WalLog;
use crate::machine::StateMachine;
use crate::storage::{self, FileIo, SnapshotStore, StdIo, StorageError, Wal, WalOptions};
use crate::transport::epoch::{advance_epoch_file, EpochError};
use crate::transport::{ClusterKey, KeyError, Opener, PeerBinding, Sealer, CLIENT_ID_MIN};
use crate::wire::{self, ClientBody, ClientRequest, NodeStatus, ReplyBody, ServerReply};

pub use handle::{NodeHandle, ProposeError, RoleEvent};
pub use noio::NoSyncIo;
pub use stats::DriverCounters;

use handle::{Cmd, Shared, Waker};

/// The most voters a cluster may have (raft-core's `PEERS`).
pub const MAX_VOTERS: usize = 7;
/// Entries in raft-core's log window (16 bytes of metadata each). A snapshot is wanted when it
/// is three quarters full; once a snapshot is saved the log is compacted up to it even past a
/// voter that is down, which then catches up through InstallSnapshot.
pub const LOG_WINDOW: usize = 16_384;
/// AppendEntries in flight per follower (raft-core's `INFLIGHT`).
pub const INFLIGHT: usize = 8;
/// The raft-core state this driver runs.
pub type Core = raft_core::State<MAX_VOTERS, LOG_WINDOW, INFLIGHT>;
type Outs = Outputs<{ raft_core::outputs_needed(MAX_VOTERS) }>;

/// Client replay windows kept (see [`Opener::accept_clients`]).
const MAX_CLIENTS: usize = 4096;
/// Datagrams handled per turn before the turn's group commit.
const BATCH: usize = 256;
/// The largest UDP payload.
const MAX_UDP: usize = 65_507;

/// How linearizable reads (commands the state machine calls read-only) are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPolicy {
    /// raft-core's ReadIndex (`Input::Read`): the leader confirms its leadership with a
    /// heartbeat round begun after the read arrived, and the read is answered from the state
    /// machine ([`StateMachine::query`]) once it has applied the commit index of that moment.
    /// No log entry, no fsync. A follower forwards the read to the leader; a read whose
    /// answer does not come within two election timeouts is issued again, and answered
    /// `Retry` after [`READ_ATTEMPTS`] attempts.
    #[default]
    ReadIndex,
    /// Reads are proposed like writes and answered when applied (ordered in the log after
    /// every write that completed before them): linearizable, at the cost of a log entry.
    ThroughLog,
}

/// How many times a read is issued to raft-core before the client is told to retry.
pub const READ_ATTEMPTS: u32 = 3;

/// Why a node could not start or stopped.
#[derive(Debug)]
pub enum NodeError {
    /// The key file is missing or malformed.
    Key(KeyError),
    /// The WAL or snapshot store failed or is damaged (fail-stop).
    Storage(StorageError),
    /// The boot epoch could not be recorded.
    Epoch(EpochError),
    /// A socket operation failed.
    Io(&'static str, io::Error),
    /// What is on disk does not form a valid restart point.
    Restore(String),
    /// raft-core refused a driver call (a driver bug).
    Core(raft_core::StepError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Key(e) => write!(f, "{e}"),
            NodeError::Storage(e) => write!(f, "storage failed: {e}"),
            NodeError::Epoch(e) => write!(f, "{e}"),
            NodeError::Io(op, e) => write!(f, "{op}: {e}"),
            NodeError::Restore(m) => write!(f, "cannot restart from the data directory: {m}"),
            NodeError::Core(e) => write!(f, "raft-core: {e}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<StorageError> for NodeError {
    fn from(e: StorageError) -> Self {
        NodeError::Storage(e)
    }
}

/// Where the answer to a proposal goes once its index is applied.
enum ReplyTo {
    Udp { addr: SocketAddr, id: u64 },
    Local(mpsc::Sender<Result<Vec<u8>, ProposeError>>),
}

struct Waiter {
    term: Term,
    reply: ReplyTo,
}

/// A read issued to raft-core (`Input::Read`) and not answered yet.
struct PendingRead {
    cmd: Vec<u8>,
    reply: ReplyTo,
    deadline: Instant,
    attempts: u32,
}

/// raft-core's log store plus the snapshot chunk read for the message being encoded: what
/// `codec::encode` reads payloads from.
struct Source<'a> {
    log: &'a WalLog,
    chunk: Option<(SnapshotMeta, u64, &'a [u8])>,
}

impl EntrySource for Source<'_> {
    fn entry(&self, index: LogIndex) -> Option<EntryRef<'_>> {
        self.log.entry(index)
    }

    fn snapshot_chunk(&self, meta: &SnapshotMeta, offset: u64, len: u32) -> Option<&[u8]> {
        match self.chunk {
            Some((m, o, data)) if m == *meta && o == offset && data.len() == len as usize => {
                Some(data)
            }
            _ => None,
        }
    }
}

/// The snapshot store's name for raft-core's snapshot meta, and back.
fn to_store(m: SnapshotMeta) -> storage::SnapshotMeta {
    storage::SnapshotMeta {
        index: m.index.0,
        term: m.term.0,
        len: m.len,
        crc: m.checksum,
        members: m.members,
    }
}

fn to_core(m: storage::SnapshotMeta) -> SnapshotMeta {
    SnapshotMeta {
        index: LogIndex(m.index),
        term: Term(m.term),
        len: m.len,
        checksum: m.crc,
        members: m.members,
    }
}

/// One Raft node: protocol state, socket, storage, state machine. See the module docs.
pub struct Node<M: StateMachine = KvStore> {
    cfg: NodeConfig,
    core: Box<Core>,
    log: WalLog,
    snaps: SnapshotStore,
    sm: M,
    sock: UdpSocket,
    sealer: Sealer,
    opener: Opener,
    peers: HashMap<u32, SocketAddr>,
    read_policy: ReadPolicy,
    /// Reusable buffers: a datagram received, its plaintext, a frame to seal, a sealed one.
    rx: Vec<u8>,
    plain: Vec<u8>,
    frame: Vec<u8>,
    sealed: Vec<u8>,
    waiters: BTreeMap<u64, Waiter>,
    /// Reads issued to raft-core, by read id.
    reads: BTreeMap<u64, PendingRead>,
    /// Reads raft-core confirmed, waiting until the state machine applied their read index.
    ready_reads: BTreeMap<u64, Vec<(Vec<u8>, ReplyTo)>>,
    next_read_id: u64,
    /// The chunk of the newest snapshot read for the message being sent.
    snap_buf: Vec<u8>,
    /// When the last incoming snapshot chunk was written (a capture waits while one streams).
    last_chunk: Option<Instant>,
    /// The applied index of the newest snapshot (local or installed).
    snapshot_index: u64,
    /// The membership as of the state machine's applied index: the initial voters or the
    /// newest snapshot's, replaced by every membership entry applied. A snapshot captured at
    /// the applied index names it.
    applied_members: Membership,
    /// The highest `Persist` seq performed and not yet synced.
    unsynced: Option<u64>,
    capture_due: bool,
    next_tick: Instant,
    next_stats: Instant,
    counters: DriverCounters,
    shared: Arc<Shared>,
    cmds: mpsc::Receiver<Cmd>,
    cmd_tx: mpsc::Sender<Cmd>,
    waker: Arc<Waker>,
    waker_addr: SocketAddr,
    /// Holds the data directory's lock for as long as the node lives (see `storage::DataDir`).
    _data_dir: storage::DataDir,
}

impl<M: StateMachine> fmt::Debug for Node<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.cfg.id)
            .field("role", &self.core.role())
            .field("term", &self.core.term())
            .finish_non_exhaustive()
    }
}

impl Node<KvStore> {
    /// Starts the key-value node of `cfg` on a thread of its own.
    pub fn spawn_kv(
        cfg: NodeConfig,
    ) -> Result<(NodeHandle, std::thread::JoinHandle<Result<(), NodeError>>), NodeError> {
        Node::open(cfg, KvStore::default())?.spawn()
    }
}

impl<M: StateMachine> Node<M> {
    /// Opens (or creates) the node's data directory and binds its socket: reads the key,
    /// advances the boot epoch, restores the state machine from the newest snapshot, replays
    /// the WAL (cutting a torn tail, refusing other damage) and rebuilds raft-core's state.
    pub fn open(cfg: NodeConfig, sm: M) -> Result<Node<M>, NodeError> {
        let io: Arc<dyn FileIo> = if cfg.fsync {
            Arc::new(StdIo)
        } else {
            Arc::new(NoSyncIo)
        };
        Node::open_with(cfg, sm, io)
    }

    /// [`Node::open`] with the storage going through `io` (tests inject failures here).
    pub fn open_with(
        cfg: NodeConfig,
        mut sm: M,
        io: Arc<dyn FileIo>,
    ) -> Result<Node<M>, NodeError> {
        let key = ClusterKey::from_file(&cfg.key_file).map_err(NodeError::Key)?;
        let data_dir = storage::DataDir::open(&cfg.data_dir, cfg.id, cfg.cluster_id, &*io)?;
        let epoch = advance_epoch_file(&cfg.data_dir).map_err(NodeError::Epoch)?;

        let mut snaps = SnapshotStore::open_with(cfg.data_dir.join("snap"), io.clone())?;
        if let Some((meta, bytes)) = snaps.read_all()? {
            sm.restore(&bytes).map_err(|e| {
                NodeError::Restore(format!("snapshot at index {}: {e}", meta.index))
            })?;
            tracing::info!(index = meta.index, term = meta.term, "restored snapshot");
        }
        let (wal, rec) = Wal::open_with(cfg.data_dir.join("wal"), WalOptions::default(), io)?;
        if let Some(t) = &rec.torn_tail {
            tracing::warn!(file = %t.file.display(), offset = t.offset, dropped = t.dropped_bytes,
                "cut a torn WAL tail");
        }
        let mut log = WalLog::new(wal);
        if let Some(m) = snaps.latest() {
            // A snapshot received from a leader is durable before the WAL records that the log
            // starts after it; a crash in between leaves the WAL behind: finish the reset.
            let covered = rec.snapshot.map_or(0, |p| p.index);
            if m.index > covered && log.term(LogIndex(m.index)) != Some(Term(m.term)) {
                tracing::warn!(index = m.index, "finishing an interrupted snapshot install");
                log.install_snapshot(m.index, m.term)?;
            }
        }
        let base = log
            .wal()
            .snapshot_point()
            .map_or((0, 0), |p| (p.index, p.term));
        let applied = sm.applied_index();
        if applied < base.0 {
            return Err(NodeError::Restore(format!(
                "the WAL is compacted up to {} but the newest snapshot covers only {applied}",
                base.0
            )));
        }
        let restored = Restored {
            hard_state: raft_core::HardState {
                term: Term(rec.hard_state.term),
                vote: rec.hard_state.voted_for.map(NodeId),
            },
            commit: LogIndex(rec.hard_state.commit),
            base: (LogIndex(base.0), Term(base.1)),
            applied: LogIndex(applied),
            // The membership as of the snapshot; raft-core replays the entries after it.
            members: snaps.latest().map(|m| m.members),
        };
        let applied_members = match snaps.latest() {
            Some(m) => m.members,
            None => Membership::new(&cfg.voters(), &[])
                .map_err(|e| NodeError::Restore(format!("initial voters: {e}")))?,
        };
        let seed = random_u64();
        let (core, log) = build_core(cfg.core(seed), cfg.voters(), restored, log)?;
        tracing::info!(
            id = cfg.id,
            term = rec.hard_state.term,
            first = rec.first_index,
            last = rec.last_index,
            applied,
            "opened"
        );

        let sock = UdpSocket::bind(cfg.listen).map_err(|e| NodeError::Io("bind", e))?;
        let local = sock.local_addr().map_err(|e| NodeError::Io("bind", e))?;
        let sealer = Sealer::new(&key, cfg.id, epoch, MAX_UDP);
        let peers: HashMap<u32, SocketAddr> = cfg.peers.iter().map(|p| (p.id, p.addr)).collect();
        let mut opener = Opener::new(
            &key,
            cfg.id,
            peers.iter().map(|(&id, &a)| (id, PeerBinding::Fixed(a))),
            cfg.max_datagram(),
        );
        opener.accept_clients(MAX_CLIENTS);
        let waker = Arc::new(Waker::new(local).map_err(|e| NodeError::Io("waker socket", e))?);
        let waker_addr = waker
            .local_addr()
            .map_err(|e| NodeError::Io("waker socket", e))?;
        let (cmd_tx, cmds) = mpsc::channel();
        let now = Instant::now();
        let latest = snaps.latest();
        let read_policy = cfg.read_policy;
        let mut node = Node {
            next_tick: now + cfg.tick,
            next_stats: now,
            cfg,
            core,
            log,
            snaps,
            sm,
            sock,
            sealer,
            opener,
            peers,
            read_policy,
            rx: vec![0; MAX_UDP],
            plain: Vec::new(),
            frame: Vec::new(),
            sealed: Vec::new(),
            waiters: BTreeMap::new(),
            reads: BTreeMap::new(),
            ready_reads: BTreeMap::new(),
            next_read_id: 1,
            snap_buf: Vec::new(),
            last_chunk: None,
            snapshot_index: latest.map_or(0, |m| m.index),
            applied_members,
            unsynced: None,
            capture_due: false,
            counters: DriverCounters::default(),
            shared: Arc::new(Shared::new()),
            cmds,
            cmd_tx,
            waker,
            waker_addr,
            _data_dir: data_dir,
        };
        if let Some(m) = latest {
            // raft-core may stream it to followers that lag, and compact up to it.
            node.step(Input::SnapshotSaved { meta: to_core(m) })?;
        }
        Ok(node)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// A handle for other threads.
    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            shared: self.shared.clone(),
            cmds: self.cmd_tx.clone(),
            waker: self.waker.clone(),
        }
    }

    /// The raft-core state (read-only view).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The state machine.
    pub fn state_machine(&self) -> &M {
        &self.sm
    }

    /// Runs the loop on a new thread until [`NodeHandle::shutdown`] or a fatal error.
    pub fn spawn(
        mut self,
    ) -> Result<(NodeHandle, std::thread::JoinHandle<Result<(), NodeError>>), NodeError> {
        let handle = self.handle();
        let t = std::thread::Builder::new()
            .name(format!("raft-node-{}", self.cfg.id))
            .stack_size(8 << 20)
            .spawn(move || self.run())
            .map_err(|e| NodeError::Io("spawn", e))?;
        Ok((handle, t))
    }

    /// Runs turns until [`NodeHandle::shutdown`] (then syncs and returns `Ok`) or a fatal
    /// error (returned after the node stopped: fail-stop).
    pub fn run(&mut self) -> Result<(), NodeError> {
        let r = loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                break self.sync_and_report();
            }
            if let Err(e) = self.turn() {
                break Err(e);
            }
        };
        self.write_stats();
        self.fail_waiters(ProposeError::Stopped);
        self.shared.stopped(r.as_ref().err().map(|e| e.to_string()));
        r
    }

    /// One turn of the loop (see the module docs). It blocks at most until the next tick.
    /// After an error the node has stopped: raft-core is halted and every later turn fails.
    pub fn turn(&mut self) -> Result<(), NodeError> {
        let r = self.turn_inner();
        if let Err(e) = &r {
            if !self.core.is_halted() {
                tracing::error!(id = self.cfg.id, error = %e, "stopping (fail-stop)");
                let mut out = Outs::new();
                let _ = self.core.step(Input::StorageFailed, &mut out);
            }
            self.fail_waiters(ProposeError::Stopped);
        }
        r
    }

    fn turn_inner(&mut self) -> Result<(), NodeError> {
        if self.core.is_halted() {
            return Err(NodeError::Core(raft_core::StepError::Halted));
        }
        let wait = self
            .next_tick
            .saturating_duration_since(Instant::now())
            .max(Duration::from_micros(200));
        self.sock
            .set_read_timeout(Some(wait))
            .map_err(|e| NodeError::Io("socket timeout", e))?;
        if let Some((n, from)) = self.recv() {
            self.on_datagram(n, from)?;
            self.sock
                .set_nonblocking(true)
                .map_err(|e| NodeError::Io("socket mode", e))?;
            let mut drained = Ok(());
            for _ in 0..BATCH {
                match self.recv() {
                    Some((n, from)) => {
                        if let Err(e) = self.on_datagram(n, from) {
                            drained = Err(e);
                            break;
                        }
                    }
                    None => break,
                }
            }
            self.sock
                .set_nonblocking(false)
                .map_err(|e| NodeError::Io("socket mode", e))?;
            drained?;
        }
        let now = Instant::now();
        let mut ticks = 0;
        while self.next_tick <= now && ticks < 4 {
            self.step(Input::Tick)?;
            self.next_tick += self.cfg.tick;
            ticks += 1;
        }
        if self.next_tick <= now {
            // Far behind (the process was paused): do not replay the lost time in a burst.
            self.next_tick = now + self.cfg.tick;
        }
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Cmd::Propose { data, reply } => self.submit(&data, ReplyTo::Local(reply))?,
            }
        }
        self.retry_reads(now)?;
        self.sync_and_report()?;
        let every = self.cfg.snapshot_entries;
        if every > 0 && self.sm.applied_index() >= self.snapshot_index + every {
            self.capture_due = true;
        }
        let streaming = self
            .last_chunk
            .is_some_and(|t| now.duration_since(t) < self.read_timeout());
        if self.capture_due && !streaming {
            self.capture()?;
            self.sync_and_report()?;
        }
        if now >= self.next_stats {
            self.next_stats = now + self.cfg.stats_interval;
            self.write_stats();
        }
        Ok(())
    }

    fn recv(&mut self) -> Option<(usize, SocketAddr)> {
        match self.sock.recv_from(&mut self.rx) {
            Ok(r) => Some(r),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(_) => {
                // E.g. ECONNREFUSED from an ICMP error of an earlier send: not fatal.
                self.counters.recv_errors += 1;
                None
            }
        }
    }

    fn on_datagram(&mut self, n: usize, from: SocketAddr) -> Result<(), NodeError> {
        if from == self.waker_addr {
            return Ok(());
        }
        let sender = match self.opener.open(from, &self.rx[..n]) {
            Ok(o) => {
                self.plain.clear();
                self.plain.extend_from_slice(o.plaintext);
                o.sender
            }
            Err(reason) => {
                tracing::debug!(%from, %reason, "dropped datagram");
                return Ok(());
            }
        };
        let plain = std::mem::take(&mut self.plain);
        let r = match plain.split_first() {
            Some((&wire::TAG_RAFT, frame)) => self.on_raft_frame(sender, frame),
            Some((&wire::TAG_CLIENT, body)) => match wire::decode::<ClientRequest>(body) {
                Some(req) => self.on_client(from, req),
                None => {
                    self.counters.bad_payload += 1;
                    Ok(())
                }
            },
            _ => {
                self.counters.bad_payload += 1;
                Ok(())
            }
        };
        self.plain = plain;
        r
    }

    fn on_raft_frame(&mut self, sender: u32, frame: &[u8]) -> Result<(), NodeError> {
        // The transport authenticated `sender`; the frame must not claim to be someone else.
        if let Ok((h, _)) = codec::decode(frame) {
            if h.from.0 != sender || sender >= CLIENT_ID_MIN {
                self.counters.sender_mismatch += 1;
                return Ok(());
            }
        }
        // raft-core decodes again and counts malformed, wrong-cluster, misaddressed frames.
        self.step(Input::Frame(frame)).map(|_| ())
    }

    fn on_client(&mut self, from: SocketAddr, req: ClientRequest) -> Result<(), NodeError> {
        let body = match req.body {
            ClientBody::Command(cmd) => {
                return self.submit(
                    &cmd,
                    ReplyTo::Udp {
                        addr: from,
                        id: req.id,
                    },
                );
            }
            ClientBody::LocalQuery(cmd) => ReplyBody::Applied(self.sm.query(&cmd)),
            ClientBody::Status => ReplyBody::Status(self.status()),
            ClientBody::Stats => ReplyBody::Stats(self.stats_json().to_string()),
            ClientBody::ChangeMembership(change) => {
                let reply = ReplyTo::Udp {
                    addr: from,
                    id: req.id,
                };
                return self.change_membership(change, reply);
            }
            ClientBody::Membership => ReplyBody::Membership(self.membership_view()),
        };
        self.reply(
            ReplyTo::Udp {
                addr: from,
                id: req.id,
            },
            body,
        );
        Ok(())
    }

    /// Where every command enters; reads are routed here by the [`ReadPolicy`].
    fn submit(&mut self, cmd: &[u8], reply: ReplyTo) -> Result<(), NodeError> {
        if self.sm.is_read(cmd) {
            match self.read_policy {
                ReadPolicy::ReadIndex => {
                    self.counters.reads_index += 1;
                    let read = PendingRead {
                        cmd: cmd.to_vec(),
                        reply,
                        deadline: Instant::now(),
                        attempts: 0,
                    };
                    return self.issue_read(read);
                }
                ReadPolicy::ThroughLog => self.counters.reads_through_log += 1,
            }
        }
        self.counters.proposals += 1;
        let answer = match self.step(Input::Propose { data: cmd })? {
            Some(Proposal::Accepted { index, term }) => {
                self.waiters.insert(index.0, Waiter { term, reply });
                return Ok(());
            }
            Some(Proposal::NotLeader { leader_hint }) => ReplyBody::NotLeader {
                leader: leader_hint.map(|l| l.0),
            },
            Some(Proposal::Busy) => ReplyBody::Busy,
            Some(Proposal::TooLarge) => ReplyBody::TooLarge,
            // Only membership changes are refused; a command never is.
            Some(Proposal::Refused(_)) | None => ReplyBody::Retry,
        };
        self.reply(reply, answer);
        Ok(())
    }

    /// Registers `read` under a new id and steps `Input::Read` (the answer may come in the
    /// same step: a single-node leader, or a refusal).
    fn issue_read(&mut self, mut read: PendingRead) -> Result<(), NodeError> {
        let id = self.next_read_id;
        self.next_read_id += 1;
        read.attempts += 1;
        read.deadline = Instant::now() + self.read_timeout();
        self.reads.insert(id, read);
        self.step(Input::Read { id }).map(|_| ())
    }

    /// How long a read waits for raft-core's answer before it is issued again: two election
    /// timeouts (a forwarded read or its answer may be lost; a leader may be changing).
    fn read_timeout(&self) -> Duration {
        self.cfg.tick * (2 * self.cfg.election_ticks).max(1)
    }

    /// Issues the reads that waited too long again, or tells their clients to retry.
    fn retry_reads(&mut self, now: Instant) -> Result<(), NodeError> {
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            let Some(read) = self.reads.remove(&id) else {
                continue;
            };
            self.counters.read_timeouts += 1;
            if read.attempts < READ_ATTEMPTS {
                self.issue_read(read)?;
            } else {
                self.reply(read.reply, ReplyBody::Retry);
            }
        }
        Ok(())
    }

    /// raft-core's answer to the reads up to `upto`.
    fn on_read(&mut self, r: ReadResult) {
        let upto = match r {
            ReadResult::Ready { upto, .. } | ReadResult::Failed { upto, .. } => upto,
        };
        let rest = self.reads.split_off(&upto.saturating_add(1));
        let covered = std::mem::replace(&mut self.reads, rest);
        for (_, read) in covered {
            match r {
                ReadResult::Ready { index, .. } => {
                    if self.sm.applied_index() >= index.0 {
                        self.serve_read(&read.cmd, read.reply);
                    } else {
                        self.ready_reads
                            .entry(index.0)
                            .or_default()
                            .push((read.cmd, read.reply));
                    }
                }
                ReadResult::Failed { leader_hint, .. } => {
                    self.counters.reads_failed += 1;
                    let leader = leader_hint.map(|l| l.0).filter(|&l| l != self.cfg.id);
                    self.reply(read.reply, ReplyBody::NotLeader { leader });
                }
            }
        }
    }

    fn serve_read(&mut self, cmd: &[u8], reply: ReplyTo) {
        let answer = self.sm.query(cmd);
        self.reply(reply, ReplyBody::Applied(answer));
    }

    /// Serves the confirmed reads whose read index the state machine has reached.
    fn serve_ready_reads(&mut self) {
        let applied = self.sm.applied_index();
        while let Some(entry) = self.ready_reads.first_entry() {
            if *entry.key() > applied {
                break;
            }
            for (cmd, reply) in entry.remove() {
                self.serve_read(&cmd, reply);
            }
        }
    }

    fn reply(&mut self, to: ReplyTo, body: ReplyBody) {
        match to {
            ReplyTo::Local(tx) => {
                let r = match body {
                    ReplyBody::Applied(bytes) => Ok(bytes),
                    ReplyBody::NotLeader { leader } => {
                        Err(ProposeError::NotLeader(leader.map(NodeId)))
                    }
                    ReplyBody::Busy => Err(ProposeError::Busy),
                    ReplyBody::TooLarge => Err(ProposeError::TooLarge),
                    _ => Err(ProposeError::Retry),
                };
                let _ = tx.send(r);
            }
            ReplyTo::Udp { addr, id } => {
                wire::encode(wire::TAG_REPLY, &ServerReply { id, body }, &mut self.frame);
                self.send_frame(addr);
            }
        }
    }

    fn send_frame(&mut self, addr: SocketAddr) {
        match self.sealer.seal(&self.frame, &mut self.sealed) {
            Ok(()) => {
                if self.sock.send_to(&self.sealed, addr).is_err() {
                    self.counters.send_errors += 1;
                }
            }
            Err(e) => {
                self.counters.send_errors += 1;
                tracing::warn!(error = %e, "cannot seal");
            }
        }
    }

    /// Steps one input and performs its outputs in order. Returns the proposal answer.
    fn step(&mut self, input: Input<'_>) -> Result<Option<Proposal>, NodeError> {
        let mut out = Outs::new();
        self.core.step(input, &mut out).map_err(NodeError::Core)?;
        let mut proposal = None;
        let mut installed = None;
        for o in &out {
            match *o {
                Output::Persist(p) => {
                    if let Err(e) = persist_entries(&mut self.log, &p, &input) {
                        return Err(match self.log.take_error() {
                            Some(se) => NodeError::Storage(se),
                            None => NodeError::Restore(format!("log store refused a Persist: {e}")),
                        });
                    }
                    // After the entries: the commit index recorded never covers entries that
                    // this Persist replaces (a torn tail keeps a prefix of the records).
                    if p.hard_state.is_some() || p.commit.0 > self.log.stored_commit() {
                        let hs = p.hard_state.unwrap_or(self.core_hard_state());
                        self.log.set_hard_state(hs, p.commit.0)?;
                    }
                    if let Some(se) = self.log.take_error() {
                        return Err(NodeError::Storage(se));
                    }
                    self.unsynced = Some(p.seq);
                    self.counters.persists += 1;
                }
                Output::Send { to, msg } => self.send_raft(to, &msg)?,
                Output::Apply { first, last } => {
                    self.apply(first, last)?;
                    self.serve_ready_reads();
                }
                Output::Proposal(p) => proposal = Some(p),
                Output::RoleChanged { role, term, leader } => {
                    tracing::info!(id = self.cfg.id, %role, term = term.0,
                        leader = leader.map(|l| l.0), "role changed");
                    if role == Role::Leader {
                        self.counters.became_leader += 1;
                    }
                    self.shared.publish(RoleEvent { role, term, leader });
                }
                Output::Compact { upto } => {
                    self.log.compact(upto)?;
                    self.counters.compactions += 1;
                }
                Output::CaptureWanted { .. } => self.capture_due = true,
                Output::Read(r) => self.on_read(r),
                Output::SnapshotChunk { meta, offset, len } => {
                    let data = input.snapshot_data().unwrap_or(&[]);
                    let data = data.get(..len as usize).unwrap_or(data);
                    self.write_chunk(meta, offset, data)?;
                }
                Output::InstallSnapshot { meta } => {
                    let ok = self.install_snapshot(meta)?;
                    installed = Some((meta, ok));
                }
            }
        }
        if let Some((meta, ok)) = installed {
            // After every output of this step, as the contract orders.
            self.step(Input::SnapshotInstalled { meta, ok })?;
        }
        Ok(proposal)
    }

    /// The hard state raft-core holds (written again beside a new commit index).
    fn core_hard_state(&self) -> raft_core::HardState {
        self.core.hard_state()
    }

    /// A follower's incoming snapshot chunk: offset 0 starts a new one.
    fn write_chunk(
        &mut self,
        meta: SnapshotMeta,
        offset: u64,
        data: &[u8],
    ) -> Result<(), NodeError> {
        self.last_chunk = Some(Instant::now());
        let want = to_store(meta);
        let r = if offset == 0 {
            self.snaps
                .begin(want)
                .and_then(|()| self.snaps.write_chunk(0, data))
        } else if self.snaps.receiving().map(|(m, _)| m) == Some(want) {
            self.snaps.write_chunk(offset, data)
        } else {
            // Not the snapshot in progress (it was abandoned): the install will fail its
            // check and raft-core restarts the transfer.
            return Ok(());
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if self.snaps.is_poisoned() => Err(e.into()),
            Err(e) => {
                tracing::warn!(id = self.cfg.id, error = %e, "snapshot chunk refused");
                Ok(())
            }
        }
    }

    /// `Output::InstallSnapshot`: checks the received snapshot, makes it durable (rename),
    /// loads it into the state machine and resets the WAL to start after it. `Ok(false)`
    /// when the bytes do not check out (the transfer restarts); errors are fatal.
    fn install_snapshot(&mut self, meta: SnapshotMeta) -> Result<bool, NodeError> {
        self.last_chunk = None;
        let want = to_store(meta);
        if self.snaps.receiving().map(|(m, _)| m) != Some(want) {
            tracing::warn!(
                id = self.cfg.id,
                index = meta.index.0,
                "no such snapshot received"
            );
            return Ok(false);
        }
        match self.snaps.finish() {
            Ok(_) => {}
            Err(e) if self.snaps.is_poisoned() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(id = self.cfg.id, error = %e, "received snapshot refused");
                self.snaps.abort()?;
                return Ok(false);
            }
        }
        let Some((_, bytes)) = self.snaps.read_all()? else {
            return Err(NodeError::Restore("installed snapshot vanished".into()));
        };
        // The snapshot is durable and the newest: a state machine that cannot load it could
        // not restart either.
        self.sm
            .restore(&bytes)
            .map_err(|e| NodeError::Restore(format!("snapshot at index {}: {e}", meta.index.0)))?;
        self.log.install_snapshot(meta.index.0, meta.term.0)?;
        self.snapshot_index = meta.index.0;
        self.applied_members = meta.members;
        self.counters.snapshots_installed += 1;
        // Proposals waiting for entries the snapshot replaced: their clients retry (sessions
        // keep the retry exactly-once).
        let rest = self.waiters.split_off(&meta.index.0.saturating_add(1));
        for (_, w) in std::mem::replace(&mut self.waiters, rest) {
            self.reply(w.reply, ReplyBody::Retry);
        }
        self.serve_ready_reads();
        tracing::info!(
            id = self.cfg.id,
            index = meta.index.0,
            term = meta.term.0,
            bytes = meta.len,
            "snapshot installed"
        );
        Ok(true)
    }

    fn send_raft(
        &mut self,
        to: NodeId,
        msg: &Message<raft_core::EntryCount>,
    ) -> Result<(), NodeError> {
        let Some(&addr) = self.peers.get(&to.0) else {
            return Ok(());
        };
        let mut chunk = None;
        if let Message::Snapshot(c) = msg {
            // Read the chunk from the snapshot file into the reusable buffer.
            let len = c.data.0 as usize;
            self.snap_buf.resize(len, 0);
            let mut at = 0;
            while at < len {
                match self.snaps.read_chunk(
                    to_store(c.meta),
                    c.offset + at as u64,
                    &mut self.snap_buf[at..],
                ) {
                    Ok(0) => break,
                    Ok(n) => at += n,
                    Err(e) if self.snaps.is_poisoned() => return Err(e.into()),
                    Err(e) => {
                        // Replaced by a newer snapshot: raft-core moves on to that one.
                        tracing::debug!(error = %e, "snapshot chunk not sent");
                        return Ok(());
                    }
                }
            }
            if at < len {
                return Err(NodeError::Storage(StorageError::CorruptSnapshot {
                    file: self.snaps.latest_path().unwrap_or_default(),
                }));
            }
            chunk = Some((c.meta, c.offset));
            self.counters.snapshot_chunks_sent += 1;
        }
        let source = Source {
            log: &self.log,
            chunk: chunk.map(|(m, o)| (m, o, &self.snap_buf[..])),
        };
        let hdr = codec::Header {
            cluster_id: self.cfg.cluster_id,
            from: NodeId(self.cfg.id),
            to,
        };
        self.frame.clear();
        self.frame.resize(1 + self.cfg.max_frame_bytes as usize, 0);
        self.frame[0] = wire::TAG_RAFT;
        match codec::encode(&hdr, msg, &source, &mut self.frame[1..]) {
            Ok(n) => {
                self.frame.truncate(1 + n);
                self.send_frame(addr);
            }
            Err(e) => {
                // Not fatal: raft retries. Counted: it would mean a core/driver mismatch.
                self.counters.encode_errors += 1;
                tracing::warn!(error = %e, to = to.0, "cannot encode");
            }
        }
        Ok(())
    }

    fn apply(&mut self, first: LogIndex, last: LogIndex) -> Result<(), NodeError> {
        for i in first.0..=last.0 {
            let Some(e) = self.log.entry(LogIndex(i)) else {
                return Err(NodeError::Restore(format!(
                    "entry {i} to apply is not in the log"
                )));
            };
            let term = e.term;
            let response = match e.kind {
                EntryKind::Normal => Some(ReplyBody::Applied(self.sm.apply(i, e.data))),
                EntryKind::Membership => {
                    // raft-core checked it when it was proposed or received.
                    self.applied_members = Membership::decode(e.data).map_err(|_| {
                        NodeError::Restore(format!("membership entry {i} does not decode"))
                    })?;
                    self.sm.advance(i);
                    // A change waiting for this entry is told the configuration in force.
                    self.waiters
                        .contains_key(&i)
                        .then(|| ReplyBody::Membership(self.membership_view()))
                }
                EntryKind::Empty => {
                    self.sm.advance(i);
                    None
                }
            };
            self.counters.applied += 1;
            if let Some(w) = self.waiters.remove(&i) {
                let body = match response {
                    Some(r) if w.term == term => r,
                    _ => ReplyBody::Retry,
                };
                self.reply(w.reply, body);
            }
        }
        Ok(())
    }

    /// Group commit: one sync for the turn's `Persist`s, then `Persisted`.
    fn sync_and_report(&mut self) -> Result<(), NodeError> {
        for _ in 0..4 {
            let Some(seq) = self.unsynced.take() else {
                return Ok(());
            };
            self.log.sync()?;
            self.counters.syncs += 1;
            self.step(Input::Persisted { seq })?;
        }
        Ok(())
    }

    /// Captures the state machine into a snapshot file, then tells the core.
    fn capture(&mut self) -> Result<(), NodeError> {
        self.capture_due = false;
        let index = self.sm.applied_index();
        if index < self.core.first_index().0 {
            return Ok(());
        }
        let Some(term) = self.log.term(LogIndex(index)) else {
            return Ok(());
        };
        if index <= self.snapshot_index {
            return Ok(());
        }
        let bytes = self.sm.snapshot();
        let meta = self
            .snaps
            .save(index, term.0, self.applied_members, &bytes)?;
        self.snapshot_index = index;
        self.counters.snapshots += 1;
        tracing::info!(
            id = self.cfg.id,
            index,
            bytes = bytes.len(),
            "snapshot saved"
        );
        self.step(Input::SnapshotSaved {
            meta: to_core(meta),
        })?;
        Ok(())
    }

    fn fail_waiters(&mut self, e: ProposeError) {
        let reads = std::mem::take(&mut self.reads)
            .into_values()
            .map(|r| r.reply);
        let ready = std::mem::take(&mut self.ready_reads)
            .into_values()
            .flatten();
        for reply in reads.chain(ready.map(|(_, reply)| reply)) {
            if let ReplyTo::Local(tx) = reply {
                let _ = tx.send(Err(e.clone()));
            }
        }
        for (_, w) in std::mem::take(&mut self.waiters) {
            match w.reply {
                ReplyTo::Local(tx) => {
                    let _ = tx.send(Err(e.clone()));
                }
                ReplyTo::Udp { .. } => {} // The client times out and retries elsewhere.
            }
        }
        while let Ok(Cmd::Propose { reply, .. }) = self.cmds.try_recv() {
            let _ = reply.send(Err(e.clone()));
        }
    }

    /// The node's protocol position.
    pub fn status(&self) -> NodeStatus {
        NodeStatus {
            id: self.cfg.id,
            role: self.core.role(),
            term: self.core.term().0,
            leader: self.core.leader().map(|l| l.0),
            commit: self.core.commit().0,
            applied: self.core.applied().0,
            last_index: self.core.last_index().0,
        }
    }

    /// The counters: transport drops by reason, raft-core's, the driver's.
    pub fn stats_json(&self) -> serde_json::Value {
        stats::to_json(
            &self.status(),
            self.opener.counters(),
            self.core.stats(),
            &self.counters,
        )
    }

    fn write_stats(&self) {
        let path = self.cfg.data_dir.join("stats.json");
        let tmp = self.cfg.data_dir.join("stats.json.tmp");
        let text = format!("{:#}\n", self.stats_json());
        // Best effort, no fsync: the counters are for operators, not for recovery.
        if std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            tracing::debug!("cannot write stats.json");
        }
    }
}

/// `Core::restore`, boxed, on a helper thread with a large stack: `State` holds the log
/// window inline (about 16 bytes per entry of [`LOG_WINDOW`]) and an unoptimized build may copy
/// it several times on the stack before it reaches the box, more than a default 2 MiB thread
/// stack (e.g. a test thread's) allows.
fn build_core(
    cfg: raft_core::Config,
    voters: Vec<NodeId>,
    restored: Restored,
    log: WalLog,
) -> Result<(Box<Core>, WalLog), NodeError> {
    let restore = move || {
        let core = Core::restore(cfg, &voters, restored, &log).map(Box::new);
        (core, log)
    };
    let (core, log) = std::thread::Builder::new()
        .name("raft-core-restore".into())
        .stack_size(64 << 20)
        .spawn(restore)
        .map_err(|e| NodeError::Io("spawn", e))?
        .join()
        .map_err(|_| NodeError::Restore("raft-core restore panicked".into()))?;
    Ok((core.map_err(|e| NodeError::Restore(e.to_string()))?, log))
}

/// 64 random bits from the OS (the election jitter seed).
pub(crate) fn random_u64() -> u64 {
    use chacha20poly1305::aead::rand_core::RngCore;
    chacha20poly1305::aead::OsRng.next_u64()
}
