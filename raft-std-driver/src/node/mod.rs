//! The driver: a [`Node`] runs raft-core's [`Engine`] over a UDP socket, the WAL, the snapshot
//! store and a [`StateMachine`], and answers clients.
//!
//! The engine performs every step's outputs in the output contract's order through the
//! node's seams; the node never looks at an output itself. The seams, one file each:
//!
//! | seam | here | what it does for the engine |
//! |---|---|---|
//! | [`Storage`](raftcore::engine::Storage) | [`WalLog`] | appends and truncates the WAL, records hard state and commit index, one fsync per [`sync`](raftcore::engine::Storage::sync), compacts, moves the log past an installed snapshot |
//! | [`Transport`](raftcore::engine::Transport) | `udp.rs` | encodes after the raft tag byte, seals, sends to the peer's address |
//! | [`Snapshots`](raftcore::engine::Snapshots) | `snapshots.rs` | captures the state machine into a snapshot file on a worker thread; reads chunks out of it, writes received chunks, checks and installs a received snapshot |
//! | [`StateMachine`](raftcore::engine::StateMachine) | `apply.rs` | applies committed entries to the application's [`StateMachine`], recording what each proposer is owed |
//!
//! Application events ([`Events`](raftcore::engine::Events): proposal answers, read results,
//! role changes) are collected during a step; right after it the node answers the clients
//! (`serve.rs`: proposals whose entries were applied, reads whose read index the state
//! machine reached, proposals a received snapshot replaced) and publishes role changes to the
//! [`NodeHandle`]s.
//!
//! # One turn of the loop ([`Node::turn`])
//!
//! 1. Wait for a datagram (a [`NodeHandle`] wakes the wait; the socket's fixed receive timeout,
//!    a quarter tick, bounds it), taking what is queued in `recvmmsg` batches (up to
//!    [`BATCH`] datagrams a turn; see `sockio.rs`). Each is opened (authenticated,
//!    replay-checked, allow-listed, drops counted per reason) and stepped through the engine
//!    as `Input::Frame`, or handled as a client request (`serve.rs`). What the steps send is
//!    queued and leaves in `sendmmsg` batches.
//! 2. Step the ticks that are due (a monotonic [`Instant`] clock, one `Input::Tick` per tick
//!    length) and the handles' proposals. Every step's writes go to the WAL at once (readable,
//!    not yet durable), its sends go out, its applies reach the state machine.
//! 3. Reads that waited too long for raft-core's answer (a forwarded read or its answer was
//!    lost) are issued again under a new id, and after a few attempts answered `Retry`.
//! 4. Group commit (`syncer.rs`), with the fsync on a thread of its own: the sync job that is
//!    done, if any, is finished and `Input::Persisted` stepped for what it covered; then,
//!    unless a job is still in flight, every write not yet durable goes to the WAL in one
//!    write and its fdatasync to the sync thread, whose wake-up brings the loop back. A batch
//!    of at most one new entry (one request at a time) is synced on the loop's thread
//!    instead ([`Engine::flush`]), where the hand-off would only add wake-ups. raft-core
//!    runs with `Durability::Deferred`: it holds back the acknowledgements that need durable
//!    state and never applies past it, so the sends of the turn leave, queued, before the
//!    fsync; what `Persisted` sends leaves after it.
//! 5. Snapshots (`snapshots.rs`): a capture whose file became durable is reported to the core
//!    (`Input::SnapshotSaved`), which can then stream it to followers that lag and compact
//!    the WAL; then another flush. A due capture (raft-core's `CaptureWanted`, seen as
//!    [`Engine::capture_wanted`], the window half full, `snapshot_entries` applied, or the
//!    log grown past the state's size), unless one is in flight or streaming in:
//!    [`Engine::capture`] freezes the state machine and a worker thread writes it out while
//!    the loop goes on. After a restart the newest snapshot is reported again.
//!
//! Any storage error stops the node (fail-stop): the engine steps `Input::StorageFailed`,
//! every waiting proposal fails, and [`Node::turn`] returns the error naming the file.

mod addresses;
mod admin;
mod apply;
mod disk_hook;
mod error;
mod fault;
mod handle;
mod metrics;
mod noio;
mod read_room;
mod retire;
mod serve;
mod snapshots;
mod sockio;
mod stats;
mod syncer;
mod udp;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use raftcore::engine::Storage as _;
use raftcore::{Engine, Input, LogIndex, Membership, NodeId, Proposal, Restored, Term};

use crate::config::NodeConfig;
use crate::kv::KvStore;
use crate::logstore::WalLog;
use crate::machine::StateMachine;
use crate::storage::{FileIo, SnapshotStore, StdIo, SyncStart, Wal, WalOptions};
use crate::transport::epoch::advance_epoch_file;
use crate::transport::{ClusterKey, DropLog, Opener, Sealer};

pub use addresses::{decode_context, encode_context, split_snapshot, AddressBook, SNAPSHOT_MAGIC};
pub use disk_hook::ENOSPC_FILE;
pub use error::NodeError;
pub use fault::{DROP_FROM_FILE, FAULT_HOOK_VAR, TRANSFER_TO_FILE};
pub use handle::{NodeHandle, ProposeError, RoleEvent};
pub use metrics::PUBLISH_EVERY;
pub use noio::NoSyncIo;
pub use serve::{ReadPolicy, READ_ATTEMPTS};
pub use stats::DriverCounters;

use apply::{Applied, Applier, Seen};
use handle::{Cmd, Shared, Waker};
use serve::{PendingRead, ReplyTo, Waiter};
use snapshots::SnapshotFiles;
pub use snapshots::MIN_SNAPSHOT_LOG_BYTES;
use udp::UdpTransport;

/// The most voters a cluster may have (raft-core's `PEERS`).
pub const MAX_VOTERS: usize = 7;
/// Entries in raft-core's log window (16 bytes of metadata each: 4 MiB). A snapshot starts
/// when it is half full at the latest (raft-core wants one at three quarters, and refuses
/// proposals past that), so a large state is captured about once per log of its own size,
/// not every few thousand writes; once a snapshot is saved the log is compacted up to it even
/// past a voter that is down, which then catches up through InstallSnapshot.
pub const LOG_WINDOW: usize = 1 << 18;
/// AppendEntries in flight per follower (raft-core's `INFLIGHT`).
pub const INFLIGHT: usize = 8;
/// The raft-core state this driver runs: its log window (`LOG_WINDOW` slots of 16 bytes) is a
/// boxed slice beside it, so `Core` itself is a few KiB.
pub type Core = raftcore::State<MAX_VOTERS, LOG_WINDOW, INFLIGHT, Box<[raftcore::LogSlot]>>;

/// The engine a node runs: raft-core's state and the node's four seams.
type NodeEngine<M> = Engine<Core, WalLog, UdpTransport, Applier<M>, SnapshotFiles>;

/// Client replay windows kept (see [`Opener::accept_clients`]).
const MAX_CLIENTS: usize = 4096;
/// Datagrams handled per turn before the turn's group commit.
pub const BATCH: usize = 256;
/// The largest UDP payload.
const MAX_UDP: usize = 65_507;

/// One Raft node: the engine (protocol state, WAL, snapshots, socket, state machine) and the
/// clients it owes answers. See the module docs.
pub struct Node<M: StateMachine = KvStore> {
    cfg: NodeConfig,
    engine: NodeEngine<M>,
    opener: Opener,
    /// Which refused datagrams are logged (and answered with a refusal notice).
    drop_log: DropLog,
    read_policy: ReadPolicy,
    /// Batches of received datagrams (reused), and the plaintext of the one being handled.
    rx: sockio::RecvBatch,
    /// The socket's inode, naming its line (and drop count) in `/proc/net/udp`.
    sock_inode: Option<u64>,
    plain: Vec<u8>,
    /// The application events of the current step.
    events: Seen,
    /// Reusable buffer: the entries a step applied, while their proposers are answered.
    applied: Vec<Applied>,
    /// Clients waiting for the entry they proposed, by index.
    waiters: BTreeMap<u64, Waiter>,
    /// Reads issued to raft-core, by read id.
    reads: BTreeMap<u64, PendingRead>,
    /// Reads raft-core confirmed, waiting until the state machine applied their read index.
    ready_reads: BTreeMap<u64, Vec<(Vec<u8>, ReplyTo)>>,
    next_read_id: u64,
    next_tick: Instant,
    next_stats: Instant,
    /// What the loop itself counts (the seams count the rest; see [`Node::counters`]).
    counters: DriverCounters,
    /// Where the figures go once [`Node::metrics_feed`] was asked for, and when next.
    metrics: Option<crate::metrics::MetricsFeed>,
    next_metrics: Instant,
    shared: Arc<Shared>,
    cmds: mpsc::Receiver<Cmd>,
    cmd_tx: mpsc::Sender<Cmd>,
    waker: Arc<Waker>,
    waker_addr: SocketAddr,
    /// Holds the data directory's lock for as long as the node lives (see `storage::DataDir`).
    _data_dir: crate::storage::DataDir,
    /// The chaos tests' fault hook (`None` unless turned on; see `fault.rs`).
    fault: Option<fault::DropHook>,
    /// Removal notices sent and received; quiet once told (see `retire.rs`).
    retirement: retire::Retirement,
    /// Reads the leader's raft-core had no room for, oldest first (`read_room.rs`).
    held_reads: std::collections::VecDeque<serve::PendingRead>,
    /// The thread that runs the WAL's fsyncs (`syncer.rs`).
    syncer: syncer::Syncer,
}

impl<M: StateMachine> fmt::Debug for Node<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.cfg.id)
            .field("role", &self.core().role())
            .field("term", &self.core().term())
            .finish_non_exhaustive()
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
        let io = disk_hook::wrap(io, &cfg.data_dir);
        Node::open_with(cfg, sm, io)
    }

    /// [`Node::open`] with the storage going through `io` (tests inject failures here).
    pub fn open_with(
        cfg: NodeConfig,
        mut sm: M,
        io: Arc<dyn FileIo>,
    ) -> Result<Node<M>, NodeError> {
        let key = ClusterKey::from_file(&cfg.key_file).map_err(NodeError::Key)?;
        let data_dir_path = cfg.data_dir.clone();
        let data_dir = crate::storage::DataDir::open(&cfg.data_dir, cfg.id, cfg.cluster_id, &*io)?;
        let epoch = advance_epoch_file(&cfg.data_dir).map_err(NodeError::Epoch)?;

        let mut snaps = SnapshotStore::open_with(cfg.data_dir.join("snap"), io.clone())?;
        snaps.set_write_rate(cfg.snapshot_write_rate);
        let mut snapshot_book = None;
        if let Some((meta, bytes)) = snaps.read_all()? {
            let restore_error =
                |e: String| NodeError::Restore(format!("snapshot at index {}: {e}", meta.index));
            let (book, state) = addresses::split_snapshot(&bytes).map_err(restore_error)?;
            sm.restore(state).map_err(restore_error)?;
            snapshot_book = book;
            tracing::info!(
                index = meta.index.0,
                term = meta.term.0,
                "restored snapshot"
            );
        }
        let snapshot_index = snaps.latest().map_or(0, |m| m.index.0);
        let (wal, rec) = Wal::open_repairing(
            cfg.data_dir.join("wal"),
            WalOptions::default(),
            io,
            snapshot_index,
        )?;
        if let Some(t) = &rec.torn_tail {
            tracing::warn!(file = %t.file.display(), offset = t.offset, dropped = t.dropped_bytes,
                "cut a torn WAL tail");
        }
        if let Some(r) = &rec.repaired {
            tracing::warn!(file = %r.file.display(), offset = r.offset, kept_index = r.kept_index,
                vote_floor = r.vote_floor,
                "repaired a WAL damaged in the middle: kept the intact prefix; no vote until the \
                log reaches the vote floor (caught up from the leader)");
        }
        let mut log = WalLog::new(wal);
        if let Some(m) = snaps.latest() {
            // A snapshot received from a leader is durable before the WAL records that the log
            // starts after it; a crash in between leaves the WAL behind: finish the reset.
            let covered = LogIndex(rec.snapshot.map_or(0, |p| p.index));
            if m.index > covered && log.term(m.index) != Some(m.term) {
                tracing::warn!(
                    index = m.index.0,
                    "finishing an interrupted snapshot install"
                );
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
            hard_state: raftcore::HardState {
                term: Term(rec.hard_state.term),
                vote: rec.hard_state.voted_for.map(NodeId),
            },
            commit: LogIndex(rec.hard_state.commit),
            base: (LogIndex(base.0), Term(base.1)),
            applied: LogIndex(applied),
            // The membership as of the snapshot; raft-core replays the entries after it.
            members: snaps.latest().map(|m| m.members),
            vote_floor: LogIndex(rec.vote_floor),
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
            vote_floor = rec.vote_floor,
            "opened"
        );

        let sock = UdpSocket::bind(cfg.listen).map_err(|e| NodeError::Io("bind", e))?;
        let local = sock.local_addr().map_err(|e| NodeError::Io("bind", e))?;
        let wanted = sockio::buffer_bytes(cfg.clients);
        let granted = sockio::prepare(&sock, sockio::recv_granule(cfg.tick), wanted)
            .map_err(|e| NodeError::Io("socket options", e))?;
        if granted.recv < wanted || granted.send < wanted {
            tracing::warn!(
                clients = cfg.clients,
                wanted,
                recv = granted.recv,
                send = granted.send,
                "the kernel granted smaller UDP buffers than the clients need (raise \
                 net.core.rmem_max and net.core.wmem_max, or run with CAP_NET_ADMIN): \
                 bursts may be dropped (counted as receive_buffer_full)"
            );
        } else {
            tracing::info!(
                clients = cfg.clients,
                recv = granted.recv,
                send = granted.send,
                "UDP socket buffers"
            );
        }
        let sealer = Sealer::new(&key, cfg.id, epoch, MAX_UDP);
        // The address book: this node, the static peer table, then the snapshot's book (the
        // log's membership entries update it as they are applied again).
        let mut book: addresses::AddressBook = cfg.peers.iter().map(|p| (p.id, p.addr)).collect();
        book.extend(snapshot_book.unwrap_or_default());
        book.insert(cfg.id, local);
        // The allow-list and send table are filled from the book once the node is built.
        let mut opener = Opener::new(&key, cfg.id, [], cfg.max_datagram());
        opener.accept_clients(MAX_CLIENTS);
        let waker = Arc::new(Waker::new(local).map_err(|e| NodeError::Io("waker socket", e))?);
        let waker_addr = waker
            .local_addr()
            .map_err(|e| NodeError::Io("waker socket", e))?;
        let max_datagram = cfg.max_datagram();
        let sock_inode = sockio::socket_inode(&sock);
        let (cmd_tx, cmds) = mpsc::channel();
        let now = Instant::now();
        let latest = snaps.latest();
        let read_policy = cfg.read_policy;
        let transport = UdpTransport::new(sock, sealer, cfg.max_frame_bytes as usize);
        let snapshots = SnapshotFiles::new(snaps, cfg.id);
        let applier = Applier::new(sm, cfg.id, applied_members, book);
        let mut engine = Engine::with_snapshots(core, log, snapshots, transport, applier);
        engine.set_applied_membership(applied_members);
        let shared = Arc::new(Shared::new());
        let syncer = syncer::Syncer::start(cfg.id.into(), waker.clone())
            .map_err(|e| NodeError::Io("sync thread", e))?;
        let mut node = Node {
            next_tick: now + cfg.tick,
            next_stats: now,
            events: Seen::new(cfg.id, shared.clone()),
            cfg,
            engine,
            opener,
            drop_log: DropLog::default(),
            read_policy,
            rx: sockio::RecvBatch::new(max_datagram),
            sock_inode,
            plain: Vec::new(),
            applied: Vec::new(),
            waiters: BTreeMap::new(),
            reads: BTreeMap::new(),
            ready_reads: BTreeMap::new(),
            next_read_id: 1,
            counters: DriverCounters::default(),
            metrics: None,
            next_metrics: now,
            shared,
            cmds,
            cmd_tx,
            waker,
            waker_addr,
            fault: fault::DropHook::from_env(&data_dir_path),
            retirement: retire::Retirement::default(),
            held_reads: std::collections::VecDeque::new(),
            syncer,
            _data_dir: data_dir,
        };
        node.sync_peers();
        if let Some(meta) = latest {
            // raft-core may stream it to followers that lag, and compact up to it.
            node.step(Input::SnapshotSaved { meta })?;
        }
        Ok(node)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.engine.transport().socket().local_addr()
    }

    /// The raft-core state (read-only view).
    pub fn core(&self) -> &Core {
        self.engine.state()
    }

    /// The state machine.
    pub fn state_machine(&self) -> &M {
        &self.engine.machine().sm
    }

    /// Runs turns until [`NodeHandle::shutdown`] (then syncs and returns `Ok`) or a fatal
    /// error (returned after the node stopped: fail-stop).
    pub fn run(&mut self) -> Result<(), NodeError> {
        let r = loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                break self.flush();
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
            if !matches!(e, NodeError::Core(raftcore::StepError::Halted)) {
                tracing::error!(id = self.cfg.id, error = %e, "stopping (fail-stop)");
            }
            if !self.core().is_halted() {
                // A seam error halted the engine already; a socket error did not.
                let _ = self.engine.step(Input::StorageFailed, &mut self.events);
            }
            self.fail_waiters(ProposeError::Stopped);
        }
        r
    }

    fn turn_inner(&mut self) -> Result<(), NodeError> {
        if self.core().is_halted() {
            return Err(NodeError::Core(raftcore::StepError::Halted));
        }
        // Anything stepped outside a turn (e.g. at open) leaves before the wait.
        self.engine.transport_mut().send_queued();
        // Wait (up to the socket's timeout) unless a tick is already due.
        let wait = self.next_tick > Instant::now();
        self.receive(wait)?;
        let now = Instant::now();
        self.step_due_ticks(now)?;
        if let Some(to) = self.fault.as_mut().and_then(|hook| hook.refresh(now)) {
            self.hook_transfer(NodeId(to))?;
        }
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Cmd::Submit { data, done } => self.submit(&data, ReplyTo::Local(done))?,
                Cmd::Member { change, done } => {
                    self.change_membership(change, ReplyTo::Local(done))?
                }
                Cmd::Transfer { to, done } => self.transfer_leader(to, ReplyTo::Local(done))?,
            }
        }
        self.retry_reads(now)?;
        self.reissue_held_reads(now)?;
        self.group_commit()?;
        self.snapshot_turn(now)?;
        if now >= self.next_stats {
            self.next_stats = now + self.cfg.stats_interval;
            self.write_stats();
        }
        self.publish_due(now);
        Ok(())
    }

    /// Steps every tick due by `now` (the loop's clock is the monotonic [`Instant`]; raft-core
    /// has none and counts time in these ticks). After a stall (the process paused by SIGSTOP,
    /// a slow fsync, a stalled VM) the missed ticks are all stepped, up to `2 *
    /// election_ticks`: by then the leader lease, CheckQuorum and every election timeout have
    /// run out, so more would change nothing. Dropping them instead (as an earlier loop did)
    /// let a leader paused past its lease resume believing it still held one and answer a
    /// lease read stale (`tests/lease_pause.rs`). `receive` calls this before it handles
    /// what a receive returned, so nothing that arrived during a stall is served first.
    pub(super) fn step_due_ticks(&mut self, now: Instant) -> Result<(), NodeError> {
        let cap = 2 * self.cfg.election_ticks.max(2);
        let mut ticks = 0;
        while self.next_tick <= now && ticks < cap {
            // A node told it was removed keeps time but never times out (see `retire.rs`),
            // unless it leads.
            if !self.ticks_paused() {
                self.step(Input::Tick)?;
            }
            self.next_tick += self.cfg.tick;
            ticks += 1;
        }
        if self.next_tick <= now {
            // Further behind than any timer reaches: resume the count from now.
            self.next_tick = now + self.cfg.tick;
        }
        Ok(())
    }

    /// Steps one input through the engine (which performs its outputs), then answers what it
    /// decided ([`Node::settle`]). Returns the proposal answer.
    fn step(&mut self, input: Input<'_>) -> Result<Option<Proposal>, NodeError> {
        self.events.proposal = None;
        let r = self.engine.step(input, &mut self.events);
        self.settle();
        self.resume_if_added_back();
        r?;
        Ok(self.events.proposal.take())
    }

    /// Group commit off the loop (see `syncer.rs`): finishes the sync job that is done, if
    /// any, stepping `Persisted` for what it covered; then, unless a job is still in flight,
    /// writes the appends not yet durable and hands their fsync to the sync thread. The
    /// queued sends leave first (appends reach the followers while the fsync runs), and what
    /// `Persisted` released (acknowledgements, replies) right after it is stepped.
    fn group_commit(&mut self) -> Result<(), NodeError> {
        self.engine.transport_mut().send_queued();
        let done = self.syncer.try_done();
        self.finish_job(done)?;
        if self.syncer.busy() {
            return Ok(());
        }
        let Some(seq) = self.engine.unsynced() else {
            return Ok(());
        };
        if self.syncer.inline(self.engine.storage().wal().last_index()) {
            return self.flush();
        }
        match self.engine.storage_mut().begin_sync()? {
            SyncStart::Begun(job) => self
                .syncer
                .submit(seq, job)
                .map_err(|e| NodeError::Io("sync thread", e)),
            SyncStart::Clean | SyncStart::Synced => self.persisted(seq),
        }
    }

    /// Finishes a sync job the thread is done with, if any, and steps `Persisted` for it.
    fn finish_job(
        &mut self,
        done: std::io::Result<Option<(u64, crate::storage::SyncJob)>>,
    ) -> Result<(), NodeError> {
        if let Some((seq, job)) = done.map_err(|e| NodeError::Io("sync thread", e))? {
            self.engine.storage_mut().finish_sync(job)?;
            self.persisted(seq)?;
        }
        Ok(())
    }

    /// Steps `Persisted` for every persist up to `seq`, and sends what it released.
    fn persisted(&mut self, seq: u64) -> Result<(), NodeError> {
        let r = self.engine.persisted(seq, &mut self.events);
        self.settle();
        self.engine.transport_mut().send_queued();
        Ok(r?)
    }

    /// Group commit on the loop's thread: waits for a sync job in flight and finishes it (so
    /// that its outcome is never lost, at shutdown included), then one sync for every write
    /// not yet durable, then `Persisted` ([`Engine::flush`]); for small batches, shutdown and
    /// snapshots. The queued sends leave before the sync and what it released after it.
    fn flush(&mut self) -> Result<(), NodeError> {
        self.engine.transport_mut().send_queued();
        let done = self.syncer.wait();
        self.finish_job(done)?;
        let r = self.engine.flush(&mut self.events);
        self.settle();
        self.engine.transport_mut().send_queued();
        Ok(r?)
    }
}

/// raft-core's state rebuilt from what `log` holds, its log window boxed.
fn build_core(
    cfg: raftcore::Config,
    voters: Vec<NodeId>,
    restored: Restored,
    log: WalLog,
) -> Result<(Core, WalLog), NodeError> {
    let window = vec![raftcore::LogSlot::default(); LOG_WINDOW].into_boxed_slice();
    let core = Core::restore_in(cfg, &voters, restored, &log, window)
        .map_err(|e| NodeError::Restore(e.to_string()))?;
    Ok((core, log))
}

/// 64 random bits from the OS (the election jitter seed).
pub(crate) fn random_u64() -> u64 {
    use chacha20poly1305::aead::rand_core::RngCore;
    chacha20poly1305::aead::OsRng.next_u64()
}
