//! The engine's [`Snapshots`] seam over the [`SnapshotStore`]: the state machine's snapshots
//! as files, captured off the node loop, streamed out to followers that lag and in from a
//! leader; and when the node takes one ([`Node::snapshot_turn`]).
//!
//! - **Capture** (leader or follower, [`Engine::capture`](raftcore::Engine::capture)): the
//!   state machine's state is frozen on the loop ([`StateMachine::image`], O(1) for the
//!   key-value store's persistent maps) and a worker thread writes it to a temp file, fsyncs,
//!   renames it into place and fsyncs the directory ([`CaptureTarget::write`]). The seam
//!   declines to report it at once; once the worker is done the node adopts the file
//!   ([`SnapshotStore::adopt`]) and steps `Input::SnapshotSaved`, and only then may the core
//!   compact the WAL up to it. One capture runs at a time.
//! - **When**: the core asks (`CaptureWanted`: its log window is three quarters full), or the
//!   window is half full, or `snapshot_entries` were applied since the last snapshot, or the
//!   log applied since the last one outgrew the state ([`StateMachine::state_bytes`], at
//!   least [`MIN_SNAPSHOT_LOG_BYTES`]): a large state is rewritten about as often as a log of
//!   its own size goes by, not every few thousand writes. Never while a snapshot streams in.
//! - **Read a chunk** (leader): the `len` bytes at `offset` of the snapshot file go into a
//!   reusable buffer the codec encodes from. A snapshot replaced meanwhile is not sent (the
//!   core moves on to the new one).
//! - **Write a chunk** (follower): into the store's temp file at its offset; offset 0 starts a
//!   new snapshot. A chunk of a snapshot that is not the one in progress is ignored: the
//!   install then fails its check and the transfer restarts.
//! - **Install** (follower): waits for a capture in flight (so the two never race on the
//!   directory), then length and CRC checked, fsynced and renamed into place
//!   ([`SnapshotStore::finish`]), read back and loaded into the state machine
//!   ([`StateMachine::restore`]); the engine then moves the WAL past it. Bytes that do not
//!   check out are `Ok(false)` (the leader starts over); I/O errors stop the node.
//!
//! The node learns of an install after the step ([`SnapshotFiles::take_installed`]) to tell
//! the clients whose proposals the snapshot replaced to retry.

use std::io;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use raftcore::engine::{ChunkAt, Snapshots};
use raftcore::{Input, LogIndex, SnapshotMeta, SnapshotPoint};

use super::addresses::{split_snapshot, BookImage};
use super::apply::Applier;
use super::{Node, NodeError};
use crate::machine::StateMachine;
use crate::storage::{CaptureTarget, SnapshotStore, StorageError};

/// Log bytes applied since the last snapshot that make a new one due however small the state
/// is (a tiny state is not rewritten for every few writes).
pub const MIN_SNAPSHOT_LOG_BYTES: u64 = 4 << 20;

/// A capture being written by its worker thread.
struct Capture {
    index: LogIndex,
    started: Instant,
    worker: JoinHandle<Result<SnapshotMeta, StorageError>>,
}

/// The snapshot store, seen by the engine.
pub(super) struct SnapshotFiles {
    store: SnapshotStore,
    /// This node's id (for the logs).
    id: u32,
    /// The chunk read for the message being sent.
    buf: Vec<u8>,
    /// When the last incoming chunk was written (a capture waits while one streams).
    last_chunk: Option<Instant>,
    /// The applied index of the newest snapshot (captured or installed).
    snapshot_index: LogIndex,
    /// A snapshot installed since the node last asked.
    installed: Option<SnapshotMeta>,
    /// The capture in flight, if any.
    capture: Option<Capture>,
    /// A captured snapshot made durable and adopted, not yet reported to the core.
    saved: Option<SnapshotMeta>,
    /// The applier's [`log_bytes`](Applier) when the last capture started (or a snapshot was
    /// installed): the log since then is what the next capture would fold in.
    log_mark: u64,
    /// Snapshots captured.
    pub(super) captured: u64,
    /// Snapshots received from a leader and installed.
    pub(super) installs: u64,
}

impl SnapshotFiles {
    /// The opened `store` of node `id`.
    pub(super) fn new(store: SnapshotStore, id: u32) -> SnapshotFiles {
        let snapshot_index = store.latest().map_or(LogIndex(0), |m| m.index);
        SnapshotFiles {
            store,
            id,
            buf: Vec::new(),
            last_chunk: None,
            snapshot_index,
            installed: None,
            capture: None,
            saved: None,
            log_mark: 0,
            captured: 0,
            installs: 0,
        }
    }

    /// The applied index of the newest snapshot (captured or installed).
    pub(super) fn snapshot_index(&self) -> LogIndex {
        self.snapshot_index
    }

    /// When the last chunk of an incoming snapshot was written, if one is in progress.
    pub(super) fn last_chunk(&self) -> Option<Instant> {
        self.last_chunk
    }

    /// The snapshot installed since the last call, if any.
    pub(super) fn take_installed(&mut self) -> Option<SnapshotMeta> {
        self.installed.take()
    }

    /// Whether a capture is being written.
    pub(super) fn capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// The captured snapshot that became durable since the last call, if any, for the core
    /// (`Input::SnapshotSaved`). A worker's I/O error stops the node.
    pub(super) fn take_saved(&mut self) -> Result<Option<SnapshotMeta>, NodeError> {
        self.finish_capture(false)?;
        Ok(self.saved.take())
    }

    /// Starts writing `image`, the state at `at`, on a worker thread.
    fn start_capture(
        &mut self,
        image: Box<dyn crate::machine::SnapshotImage>,
        target: CaptureTarget,
        at: SnapshotPoint,
    ) -> Result<(), NodeError> {
        let index = at.index;
        let worker = thread::Builder::new()
            .name(format!("snapshot-{}", self.id))
            .spawn(move || {
                lower_priority();
                target.write(at, |out| image.write_to(out))
            })
            .map_err(|e| NodeError::Io("start the snapshot thread", e))?;
        self.capture = Some(Capture {
            index,
            started: Instant::now(),
            worker,
        });
        tracing::debug!(id = self.id, index = index.0, "snapshot capture started");
        Ok(())
    }

    /// Collects the capture in flight if its worker is done (or, with `wait`, once it is):
    /// adopts the file and keeps its meta for [`SnapshotFiles::take_saved`].
    fn finish_capture(&mut self, wait: bool) -> Result<(), NodeError> {
        let Some(c) = self.capture.take_if(|c| wait || c.worker.is_finished()) else {
            return Ok(());
        };
        let meta = match c.worker.join() {
            Ok(Ok(meta)) => meta,
            Ok(Err(e)) => return Err(self.store.capture_failed(e).into()),
            Err(_) => {
                let e = io::Error::other("the snapshot thread panicked");
                return Err(NodeError::Io("capture a snapshot", e));
            }
        };
        if !self.store.adopt(meta)? {
            tracing::debug!(
                id = self.id,
                index = c.index.0,
                "captured snapshot superseded"
            );
            return Ok(());
        }
        self.snapshot_index = self.snapshot_index.max(meta.index);
        self.saved = Some(meta);
        self.captured += 1;
        tracing::info!(
            id = self.id,
            index = meta.index.0,
            bytes = meta.len,
            ms = c.started.elapsed().as_millis() as u64,
            "snapshot saved"
        );
        Ok(())
    }
}

/// The nice value of the snapshot worker: it yields the CPU to the node loops when the cores
/// are busy (weight 110 against a loop's 1024), and runs at full speed when they are not.
/// (`SCHED_IDLE`, weight 3, was tried and dropped as a risk: on cores kept busy by other
/// work a capture would get almost no CPU, and until it finishes the node cannot compact its
/// log; it measured only a little better than nice 10, BENCHMARKS.md.)
#[cfg(target_os = "linux")]
const WORKER_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`WORKER_NICE`] (Linux: `setpriority` on the
/// thread id). Best effort: a process already nicer, or a refusal, leaves it as it is.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), WORKER_NICE) {
            tracing::debug!(error = %e, "snapshot worker priority unchanged");
        }
    }
}

impl Drop for SnapshotFiles {
    /// Waits for a capture in flight, so that no worker writes into a data directory after
    /// its node is gone (another node may open it next).
    fn drop(&mut self) {
        if let Some(c) = self.capture.take() {
            let _ = c.worker.join();
        }
    }
}

impl<M: StateMachine> Node<M> {
    /// The turn's snapshot work: report a capture that became durable (then the core may
    /// compact the WAL up to it: a second flush), and start one that is due.
    pub(super) fn snapshot_turn(&mut self, now: Instant) -> Result<(), NodeError> {
        let saved = self.engine.snapshots_mut().take_saved()?;
        if let Some(meta) = saved {
            self.step(Input::SnapshotSaved { meta })?;
            self.flush()?;
        }
        if self.capture_due(now) {
            let r = self.engine.capture(&mut self.events);
            self.settle();
            r?;
        }
        Ok(())
    }

    /// Whether to start a capture now (see the module docs): none is in flight, none is
    /// streaming in, something was applied since the last snapshot, and the core wants one,
    /// the window is half full, `snapshot_entries` went by, or the log outgrew the state.
    fn capture_due(&self, now: Instant) -> bool {
        let files = self.engine.snapshots();
        let streaming = files
            .last_chunk()
            .is_some_and(|t| now.duration_since(t) < self.read_timeout());
        let applied = self.state_machine().applied_index();
        let since = files.snapshot_index().0;
        if files.capturing() || streaming || applied <= since {
            return false;
        }
        let every = self.cfg.snapshot_entries;
        let (used, cap) = self.core().window_usage();
        let grown = self
            .engine
            .machine()
            .log_bytes
            .saturating_sub(files.log_mark);
        let state = self.state_machine().state_bytes();
        self.engine.capture_wanted()
            || (every > 0 && applied >= since + every)
            || used >= cap / 2
            || grown >= state.max(MIN_SNAPSHOT_LOG_BYTES)
    }
}

impl<M: StateMachine> Snapshots<Applier<M>> for SnapshotFiles {
    type Error = NodeError;

    /// Freezes the state and starts writing it on a worker thread; reports nothing yet
    /// (`Ok(None)`): [`Node::snapshot_turn`] steps `SnapshotSaved` once the file is durable.
    fn capture(
        &mut self,
        machine: &Applier<M>,
        at: SnapshotPoint,
    ) -> Result<Option<SnapshotMeta>, NodeError> {
        let index = at.index;
        if index <= self.snapshot_index || self.capture.is_some() {
            return Ok(None);
        }
        // The engine captures at the index the state machine applied last.
        debug_assert_eq!(machine.sm.applied_index(), index.0);
        let target = self.store.capture_target()?;
        let image = BookImage::new(&machine.book, machine.sm.image());
        self.start_capture(Box::new(image), target, at)?;
        self.log_mark = machine.log_bytes;
        Ok(None)
    }

    fn read_chunk(&mut self, chunk: ChunkAt<'_>, len: u32) -> Result<Option<&[u8]>, NodeError> {
        let (meta, offset) = (chunk.meta, chunk.offset);
        let len = len as usize;
        self.buf.resize(len, 0);
        let mut at = 0;
        while at < len {
            match self
                .store
                .read_chunk(*meta, offset + at as u64, &mut self.buf[at..])
            {
                Ok(0) => break,
                Ok(n) => at += n,
                Err(e) if self.store.is_poisoned() => return Err(e.into()),
                Err(e) => {
                    // Replaced by a newer snapshot: raft-core moves on to that one.
                    tracing::debug!(error = %e, "snapshot chunk not sent");
                    return Ok(None);
                }
            }
        }
        if at < len {
            return Err(NodeError::Storage(StorageError::CorruptSnapshot {
                file: self.store.latest_path().unwrap_or_default(),
            }));
        }
        Ok(Some(&self.buf[..len]))
    }

    fn write_chunk(&mut self, chunk: ChunkAt<'_>, data: &[u8]) -> Result<(), NodeError> {
        let (meta, offset) = (chunk.meta, chunk.offset);
        self.last_chunk = Some(Instant::now());
        let r = if offset == 0 {
            self.store
                .begin(*meta)
                .and_then(|()| self.store.write_chunk(0, data))
        } else if self.store.receiving().map(|(m, _)| m) == Some(*meta) {
            self.store.write_chunk(offset, data)
        } else {
            // Not the snapshot in progress (it was abandoned): the install will fail its
            // check and raft-core restarts the transfer.
            return Ok(());
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if self.store.is_poisoned() => Err(e.into()),
            Err(e) => {
                tracing::warn!(id = self.id, error = %e, "snapshot chunk refused");
                Ok(())
            }
        }
    }

    fn install(
        &mut self,
        meta: &SnapshotMeta,
        machine: &mut Applier<M>,
    ) -> Result<bool, NodeError> {
        self.last_chunk = None;
        // A capture in flight finishes first: it and the install both write the directory.
        self.finish_capture(true)?;
        if self.store.receiving().map(|(m, _)| m) != Some(*meta) {
            tracing::warn!(
                id = self.id,
                index = meta.index.0,
                "no such snapshot received"
            );
            return Ok(false);
        }
        match self.store.finish() {
            Ok(_) => {}
            Err(e) if self.store.is_poisoned() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(id = self.id, error = %e, "received snapshot refused");
                self.store.abort()?;
                return Ok(false);
            }
        }
        let Some((_, bytes)) = self.store.read_all()? else {
            return Err(NodeError::Restore("installed snapshot vanished".into()));
        };
        // The snapshot is durable and the newest: a state machine that cannot load it could
        // not restart either.
        let restore_error =
            |e: String| NodeError::Restore(format!("snapshot at index {}: {e}", meta.index.0));
        let (book, state) = split_snapshot(&bytes).map_err(restore_error)?;
        machine.sm.restore(state).map_err(restore_error)?;
        machine.installed(meta.members, book);
        self.snapshot_index = meta.index;
        self.log_mark = machine.log_bytes;
        self.installed = Some(*meta);
        self.installs += 1;
        tracing::info!(
            id = self.id,
            index = meta.index.0,
            term = meta.term.0,
            bytes = meta.len,
            "snapshot installed"
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use raftcore::codec::EntryRef;
    use raftcore::engine::StateMachine as _;
    use raftcore::{EntryKind, Membership, NodeId, Term};

    use super::*;
    use crate::kv::{Command, KvStore, Request};

    fn voters() -> Membership {
        Membership::new(&[NodeId(1), NodeId(2), NodeId(3)], &[]).unwrap()
    }

    /// The capture point at `index` of `term`, with three voters.
    fn point(index: u64, term: u64) -> SnapshotPoint {
        SnapshotPoint {
            index: LogIndex(index),
            term: Term(term),
            members: voters(),
        }
    }

    /// A key-value applier that applied `n` puts.
    fn machine(n: u64) -> Applier<KvStore> {
        let mut a = Applier::new(KvStore::default(), 1, voters(), Default::default());
        for i in 1..=n {
            let cmd = Request {
                client: 1,
                seq: i,
                command: Command::Put {
                    key: format!("k{i}").into_bytes(),
                    value: vec![i as u8; 100],
                },
            }
            .encode();
            let e = EntryRef {
                term: Term(1),
                kind: EntryKind::Normal,
                data: &cmd,
            };
            a.apply(LogIndex(i), e).unwrap();
        }
        a
    }

    fn files(dir: &std::path::Path) -> SnapshotFiles {
        SnapshotFiles::new(SnapshotStore::open(dir).unwrap(), 1)
    }

    /// Captures `m` at `at` and waits for the worker: the meta the node would report.
    fn capture(
        files: &mut SnapshotFiles,
        m: &Applier<KvStore>,
        at: SnapshotPoint,
    ) -> Option<SnapshotMeta> {
        assert_eq!(
            files.capture(m, at).unwrap(),
            None,
            "reported only once durable"
        );
        files.finish_capture(true).unwrap();
        files.take_saved().unwrap()
    }

    /// Streams `meta` from `from` to `to` in chunks of 300 bytes, `damage` flipping a byte of
    /// the second chunk on the way.
    fn stream(from: &mut SnapshotFiles, to: &mut SnapshotFiles, meta: &SnapshotMeta, damage: bool) {
        let mut offset = 0;
        while offset < meta.len {
            let len = (meta.len - offset).min(300) as u32;
            let at = ChunkAt { meta, offset };
            let chunk = Snapshots::<Applier<KvStore>>::read_chunk(from, at, len)
                .unwrap()
                .expect("the snapshot is held")
                .to_vec();
            let mut chunk = chunk;
            if damage && offset == 300 {
                chunk[0] ^= 1;
            }
            Snapshots::<Applier<KvStore>>::write_chunk(to, at, &chunk).unwrap();
            offset += u64::from(len);
        }
    }

    #[test]
    fn a_captured_snapshot_streams_through_the_seam_and_installs_on_another_node() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut leader, mut follower) = (files(a.path()), files(b.path()));
        let m = machine(20);
        let meta = capture(&mut leader, &m, point(20, 1)).expect("captured");
        assert_eq!((meta.index, meta.members), (LogIndex(20), voters()));
        assert_eq!(leader.snapshot_index(), LogIndex(20));
        // Nothing new to capture at the same index.
        assert_eq!(capture(&mut leader, &m, point(20, 1)), None);
        let mut target = machine(0);
        stream(&mut leader, &mut follower, &meta, false);
        assert!(follower.last_chunk().is_some());
        assert!(follower.install(&meta, &mut target).unwrap());
        assert_eq!(target.sm.applied_index(), 20);
        assert_eq!(target.sm.get(b"k7"), Some(&[7u8; 100][..]));
        assert_eq!(follower.take_installed(), Some(meta));
        assert_eq!(follower.take_installed(), None);
        assert_eq!(
            (follower.snapshot_index(), follower.installs),
            (LogIndex(20), 1)
        );
        assert!(follower.last_chunk().is_none());
        // The installed snapshot survives a reopen.
        drop(follower);
        assert_eq!(files(b.path()).snapshot_index(), LogIndex(20));
    }

    #[test]
    fn a_damaged_snapshot_is_refused_and_the_state_machine_keeps_its_state() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (mut leader, mut follower) = (files(a.path()), files(b.path()));
        let meta = capture(&mut leader, &machine(20), point(20, 1)).unwrap();
        let mut target = machine(3);
        stream(&mut leader, &mut follower, &meta, true);
        assert!(!follower.install(&meta, &mut target).unwrap());
        assert_eq!(target.sm.applied_index(), 3);
        assert_eq!(follower.take_installed(), None);
        // A snapshot never received is refused as well; then a clean transfer installs.
        assert!(!follower.install(&meta, &mut target).unwrap());
        stream(&mut leader, &mut follower, &meta, false);
        assert!(follower.install(&meta, &mut target).unwrap());
        assert_eq!(target.sm.applied_index(), 20);
    }

    #[test]
    fn a_chunk_of_a_replaced_snapshot_is_not_sent() {
        let a = tempfile::tempdir().unwrap();
        let mut leader = files(a.path());
        let old = capture(&mut leader, &machine(5), point(5, 1)).unwrap();
        capture(&mut leader, &machine(9), point(9, 1)).unwrap();
        let r = Snapshots::<Applier<KvStore>>::read_chunk(
            &mut leader,
            ChunkAt {
                meta: &old,
                offset: 0,
            },
            10,
        )
        .unwrap();
        assert_eq!(r, None);
    }
}
