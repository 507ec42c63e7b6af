//! Disk full (issue 16, Build 4): a node whose disk fills stops (fail-stop), loses no
//! acknowledged write, and once space is freed it reopens and rejoins.
//!
//! The full disk is injected through the storage seam (`Node::open_with` with the driver's
//! `FaultIo`, whose writes fail with `ErrorKind::StorageFull` past a byte budget, after writing
//! the part that fits, as a full file system does); no real file system is filled. "Space freed" is a
//! restart on the real file system.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_std_driver::config::NodeConfig;
use raft_std_driver::kv::{Command, KvStore, Response};
use raft_std_driver::node::{Node, NodeHandle, ProposeError};
use raft_std_driver::storage::fault::FaultIo;

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
    let disk = FaultIo::default();
    let node = Node::open_with(cfg.clone(), KvStore::default(), Arc::new(disk.clone())).unwrap();
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for seq in 1..=5 {
        let r = h.propose(put(seq), Duration::from_secs(5)).unwrap();
        assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    }
    disk.faults.fill_disk_after(40);
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
        let key = format!("k{seq}");
        common::assert_holds_v(&h, 42, 100 + seq, &key, &key);
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
    let disk = FaultIo::default();
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
    disk.faults.fill_disk_after(0);
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
