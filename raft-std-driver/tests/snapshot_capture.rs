//! Snapshots captured off the node loop: writes go on while a capture is being written, a
//! crash in the middle of one leaves the previous snapshot and a WAL that still holds every
//! acknowledged write, and a capture that fails to write stops the node (fail-stop) without
//! touching the previous snapshot.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use raft_std_driver::config::NodeConfig;
use raft_std_driver::kv::{Command, KvStore, Response};
use raft_std_driver::node::{Node, NodeHandle, ProposeError};
use raft_std_driver::storage::{FileHandle, FileIo, StdIo};

mod common;

/// The real file system, except that writes to a capture's temp file can be held at a gate
/// (as a slow disk would hold them) or made to fail.
#[derive(Debug, Default, Clone)]
struct CaptureGate {
    state: Arc<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    /// While true, capture writes wait.
    closed: Mutex<bool>,
    opened: Condvar,
    /// Set once a capture write waits at the closed gate.
    held: AtomicBool,
    /// While set, capture writes fail.
    fail: AtomicBool,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock().unwrap() = true;
    }

    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.opened.notify_all();
    }
}

struct GatedFile {
    inner: Box<dyn FileHandle>,
    gate: Arc<Gate>,
}

impl FileHandle for GatedFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.gate.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected capture write failure"));
        }
        let mut closed = self.gate.closed.lock().unwrap();
        while *closed {
            self.gate.held.store(true, Ordering::SeqCst);
            closed = self.gate.opened.wait(closed).unwrap();
        }
        drop(closed);
        self.inner.write_at(offset, buf)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
    fn write_back(&mut self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.write_back(offset, len)
    }
}

impl FileIo for CaptureGate {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        let inner = StdIo.open(path, create)?;
        let capture = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("capture-"));
        if !capture {
            return Ok(inner);
        }
        Ok(Box::new(GatedFile {
            inner,
            gate: self.state.clone(),
        }))
    }
}

/// One node that snapshots every 5 entries.
fn config(dir: &Path) -> NodeConfig {
    let mut cfg = common::configs(dir, 1, "15", |_| {}).remove(0);
    cfg.snapshot_entries = 5;
    cfg
}

fn put(seq: u64) -> Vec<u8> {
    let command = Command::Put {
        key: format!("k{seq}").into_bytes(),
        value: format!("v{seq}").into_bytes(),
    };
    common::request(7, seq, command)
}

/// Puts `k{seq}` through `h`, which must answer `Written`.
fn write(h: &NodeHandle, seq: u64) {
    let r = h.propose(put(seq), Duration::from_secs(5)).unwrap();
    assert_eq!(Response::decode(&r).unwrap(), Response::Written);
}

/// The files in the node's snapshot directory whose names end in `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("snap"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.to_string_lossy().ends_with(suffix));
    v.sort();
    v
}

/// The complete snapshots in the node's snapshot directory.
fn snapshots(dir: &Path) -> Vec<PathBuf> {
    files(dir, ".snap")
}

fn wait_for(secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Copies the directory tree `from` to `to` (what a crash leaves on disk: every write the
/// process made is in the page cache, so a copy sees it).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Reads `k{seq}` through a fresh node on `cfg`'s data directory; every acknowledged write
/// must be there.
fn reopen_and_read(cfg: NodeConfig, last: u64) {
    let node = Node::open(cfg, KvStore::default()).unwrap();
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for seq in 1..=last {
        let get = common::request(
            8,
            0,
            Command::Get {
                key: format!("k{seq}").into_bytes(),
            },
        );
        let r = h.propose(get, Duration::from_secs(5)).unwrap();
        assert_eq!(
            Response::decode(&r).unwrap(),
            Response::Value(Some(format!("v{seq}").into_bytes())),
            "k{seq}"
        );
    }
    h.shutdown();
    t.join().unwrap().unwrap();
}

/// The applied index a snapshot file's name starts with.
fn index_of(snapshot: &Path) -> u64 {
    let name = snapshot.file_name().unwrap().to_str().unwrap();
    u64::from_str_radix(&name[..16], 16).unwrap()
}

/// A node leading alone with its storage behind a [`CaptureGate`], six writes applied and a
/// first snapshot saved (`old`, the snapshot files then).
struct Started {
    cfg: NodeConfig,
    io: CaptureGate,
    h: NodeHandle,
    t: std::thread::JoinHandle<Result<(), raft_std_driver::node::NodeError>>,
    old: Vec<PathBuf>,
}

/// Starts the node of [`Started`] in `dir`.
fn started_with_a_snapshot(dir: &Path) -> Started {
    let cfg = config(dir);
    let io = CaptureGate::default();
    let node = Node::open_with(cfg.clone(), KvStore::default(), Arc::new(io.clone())).unwrap();
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for seq in 1..=6 {
        write(&h, seq);
    }
    wait_for(10, || !snapshots(&cfg.data_dir).is_empty());
    let old = snapshots(&cfg.data_dir);
    Started { cfg, io, h, t, old }
}

#[test]
fn writes_go_on_during_a_capture_and_a_crash_in_it_keeps_the_old_snapshot_and_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let Started { cfg, io, h, t, old } = started_with_a_snapshot(dir.path());
    // The next capture's writes are held: it stays in flight.
    io.state.close();
    let mut seq = 6;
    while !io.state.held.load(Ordering::SeqCst) {
        seq += 1;
        write(&h, seq);
    }
    // The loop goes on: 50 more writes are applied while the capture cannot finish.
    for _ in 0..50 {
        seq += 1;
        write(&h, seq);
    }
    assert_eq!(files(&cfg.data_dir, ".snap.tmp").len(), 1);
    assert_eq!(snapshots(&cfg.data_dir), old);
    // A crash now: what is on disk is the old snapshot, a temp file and the WAL.
    let crashed = tempfile::tempdir().unwrap();
    copy_tree(&cfg.data_dir, crashed.path());
    io.state.open();
    h.shutdown();
    t.join().unwrap().unwrap();

    let mut cfg2 = cfg.clone();
    cfg2.data_dir = crashed.path().to_path_buf();
    // It restarts from the old snapshot; every later write comes from the WAL, which was not
    // compacted past it. The temp file is gone.
    let names = |v: Vec<PathBuf>| -> Vec<_> {
        v.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(snapshots(&cfg2.data_dir)), names(old.clone()));
    reopen_and_read(cfg2.clone(), seq);
    // (A snapshot the reopened node took since then may have left the one before it as the
    // spare, `spare.snap.tmp`, that the next capture writes over.)
    let mut left = files(&cfg2.data_dir, ".tmp");
    left.retain(|p| !p.ends_with("spare.snap.tmp"));
    assert!(left.is_empty(), "{left:?}");
    // The node that was not crashed finished its capture on shutdown (the loop may not have
    // adopted it: then the old file is still there, and open keeps only the newest).
    let now = snapshots(&cfg.data_dir);
    let newest = now.last().expect("a snapshot");
    assert!(index_of(newest) > index_of(&old[0]), "{now:?}");
    reopen_and_read(cfg.clone(), seq);
    assert_eq!(snapshots(&cfg.data_dir).len(), 1);
}

#[test]
fn a_capture_that_cannot_write_stops_the_node_and_keeps_the_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let Started { cfg, io, h, t, old } = started_with_a_snapshot(dir.path());
    io.state.fail.store(true, Ordering::SeqCst);
    let mut acked = 6;
    for seq in 7..=100 {
        match h.propose(put(seq), Duration::from_secs(5)) {
            Ok(_) => acked = seq,
            Err(ProposeError::Stopped) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    let err = t.join().unwrap().expect_err("the node stops");
    assert!(err.to_string().contains(".snap.tmp"), "{err}");
    assert!(
        err.to_string().contains("injected capture write failure"),
        "{err}"
    );
    assert_eq!(snapshots(&cfg.data_dir), old);
    io.state.fail.store(false, Ordering::SeqCst);
    reopen_and_read(cfg, acked);
}
