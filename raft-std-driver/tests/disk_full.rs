//! Disk full (issue 16, Build 4): a node whose disk fills stops (fail-stop), loses no
//! acknowledged write, and once space is freed it reopens and rejoins.
//!
//! The full disk is injected through the storage seam (`Node::open_with` with a `FileIo` whose
//! writes fail with `ErrorKind::StorageFull` past a byte budget, after writing the part that
//! fits, as a full file system does); no real file system is filled. "Space freed" is a
//! restart on the real file system.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_std_driver::config::NodeConfig;
use raft_std_driver::kv::{Command, KvStore, Response};
use raft_std_driver::node::{Node, NodeHandle, ProposeError};
use raft_std_driver::storage::{FileHandle, FileIo, StdIo};

/// The real file system with `left` bytes of free space once `limited` is set.
#[derive(Debug, Default)]
struct Space {
    limited: AtomicBool,
    left: AtomicU64,
}

impl Space {
    fn fill_after(&self, bytes: u64) {
        self.left.store(bytes, Ordering::SeqCst);
        self.limited.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Default)]
struct DiskFull(Arc<Space>);

struct File(Box<dyn FileHandle>, Arc<Space>);

impl FileHandle for File {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if !self.1.limited.load(Ordering::SeqCst) {
            return self.0.write_at(offset, buf);
        }
        let left = self.1.left.load(Ordering::SeqCst);
        let fits = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.0.write_at(offset, &buf[..fits])?;
        self.1.left.fetch_sub(fits as u64, Ordering::SeqCst);
        if fits < buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device (injected ENOSPC)",
            ));
        }
        Ok(())
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync()
    }
}

impl FileIo for DiskFull {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(File(StdIo.open(path, create)?, self.0.clone())))
    }
}

mod common;

fn configs(dir: &Path, n: u32) -> Vec<NodeConfig> {
    common::configs(dir, n, "22", |raw| raw.stats_interval_ms = Some(20))
}

fn request(seq: u64, command: Command) -> Vec<u8> {
    common::request(42, seq, command)
}

fn put(seq: u64) -> Vec<u8> {
    request(
        seq,
        Command::Put {
            key: format!("k{seq}").into_bytes(),
            value: b"v".to_vec(),
        },
    )
}

/// Proposes `command` through whichever handle takes it (the same client and sequence number
/// on every try, so it applies once), until `timeout`.
fn propose_anywhere(handles: &[&NodeHandle], command: &[u8], timeout: Duration) -> Response {
    let deadline = Instant::now() + timeout;
    loop {
        for h in handles {
            if let Ok(r) = h.propose(command.to_vec(), Duration::from_secs(2)) {
                return Response::decode(&r).unwrap();
            }
        }
        assert!(Instant::now() < deadline, "no node took the proposal");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a node's thread to end, failing the test (instead of hanging) after `timeout`.
fn join_within<T>(t: std::thread::JoinHandle<T>, timeout: Duration) -> T {
    let deadline = Instant::now() + timeout;
    while !t.is_finished() {
        assert!(Instant::now() < deadline, "the node did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.join().unwrap()
}

fn stat(cfg: &NodeConfig, field: &str) -> u64 {
    let read = || -> Option<u64> {
        let bytes = std::fs::read(cfg.data_dir.join("stats.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get(field)?.as_u64()
    };
    read().unwrap_or(0)
}

#[test]
fn a_single_node_whose_disk_fills_stops_and_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = configs(dir.path(), 1).remove(0);
    let disk = DiskFull::default();
    let node = Node::open_with(cfg.clone(), KvStore::default(), Arc::new(disk.clone())).unwrap();
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for seq in 1..=5 {
        let r = h.propose(put(seq), Duration::from_secs(5)).unwrap();
        assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    }
    disk.0.fill_after(40);
    assert_eq!(
        h.propose(put(6), Duration::from_secs(5)),
        Err(ProposeError::Stopped)
    );
    let err = join_within(t, Duration::from_secs(30)).expect_err("the node stops");
    assert!(err.to_string().contains("No space left on device"), "{err}");

    // Space freed: the node starts on its directory and has every acknowledged write.
    let (h, t) = Node::spawn_kv(cfg).unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for seq in 1..=5 {
        let get = request(
            100 + seq,
            Command::Get {
                key: format!("k{seq}").into_bytes(),
            },
        );
        let r = h.propose(get, Duration::from_secs(5)).unwrap();
        assert_eq!(
            Response::decode(&r).unwrap(),
            Response::Value(Some(b"v".to_vec())),
            "k{seq}"
        );
    }
    let r = h.propose(put(7), Duration::from_secs(5)).unwrap();
    assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    h.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn a_node_whose_disk_fills_stops_and_rejoins_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let cfgs = configs(dir.path(), 3);
    let disk = DiskFull::default();
    let full = Node::open_with(cfgs[0].clone(), KvStore::default(), Arc::new(disk.clone()))
        .unwrap()
        .spawn()
        .unwrap();
    let others: Vec<_> = cfgs[1..]
        .iter()
        .map(|c| Node::spawn_kv(c.clone()).unwrap())
        .collect();
    let all = [&full.0, &others[0].0, &others[1].0];
    for seq in 1..=5 {
        let r = propose_anywhere(&all, &put(seq), Duration::from_secs(20));
        assert_eq!(r, Response::Written);
    }

    // Node 1's disk fills: it stops at its next write (as leader, at the next proposal it
    // takes; as follower, at the next append); the other two go on acknowledging writes.
    disk.0.fill_after(0);
    let live = [&others[0].0, &others[1].0];
    for seq in 6..=10 {
        let r = propose_anywhere(&all, &put(seq), Duration::from_secs(30));
        assert_eq!(r, Response::Written);
    }
    let err = join_within(full.1, Duration::from_secs(30)).expect_err("node 1 stops");
    assert!(err.to_string().contains("No space left on device"), "{err}");

    // Space freed: node 1 restarts on its directory and catches up on what it missed.
    let (h1, t1) = Node::spawn_kv(cfgs[0].clone()).unwrap();
    let r = propose_anywhere(&live, &put(11), Duration::from_secs(30));
    assert_eq!(r, Response::Written);
    std::thread::sleep(Duration::from_millis(100));
    let commit = stat(&cfgs[1], "commit").max(stat(&cfgs[2], "commit"));
    assert!(commit >= 11, "commit {commit}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while stat(&cfgs[0], "applied") < commit {
        assert!(
            Instant::now() < deadline,
            "node 1 applied {} of {commit}",
            stat(&cfgs[0], "applied")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    h1.shutdown();
    t1.join().unwrap().unwrap();
    for (h, t) in others {
        h.shutdown();
        t.join().unwrap().unwrap();
    }
}
