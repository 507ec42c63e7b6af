//! The library API in process: three `Node`s on threads, their handles, and fail-stop on an
//! fsync error injected through the storage seam.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use raft_std_driver::config::NodeConfig;
use raft_std_driver::kv::{Command, KvStore, Response};
use raft_std_driver::node::{Node, ProposeError};
use raft_std_driver::storage::fault::FaultIo;

mod common;

fn configs(dir: &Path, n: u32) -> Vec<NodeConfig> {
    common::configs(dir, n, "11", |_| {})
}

fn put(seq: u64, k: &str) -> Vec<u8> {
    let command = Command::Put {
        key: k.into(),
        value: b"v".to_vec(),
    };
    common::request(42, seq, command)
}

/// A sessionless read of `k` (client 43).
fn get(k: &[u8]) -> Vec<u8> {
    common::request(43, 0, Command::Get { key: k.to_vec() })
}

#[test]
fn handles_find_the_leader_report_roles_and_propose_until_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfgs = configs(dir.path(), 3).into_iter();
    let first = Node::spawn_kv(cfgs.next().unwrap()).unwrap();
    // Subscribed before the others open (each allocates its log window): no leader can be
    // elected before it, so node 1's learning of the leader is an event it sees.
    let events = first.0.subscribe();
    let nodes: Vec<_> = std::iter::once(first)
        .chain(cfgs.map(|c| Node::spawn_kv(c).unwrap()))
        .collect();
    let leader = nodes[0]
        .0
        .wait_until_leader(Duration::from_secs(10))
        .expect("a leader");
    // The subscription saw node 1 learn that leader (raftos' on_leader / on_follower).
    let seen = std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(5)).ok())
        .any(|ev| ev.leader == Some(leader) && (ev.is_leader() == (leader.0 == 1)));
    assert!(seen);
    let (lh, _) = &nodes[leader.0 as usize - 1];
    let r = lh.propose(put(1, "a"), Duration::from_secs(5)).unwrap();
    assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    let (follower, _) = nodes
        .iter()
        .find(|(h, _)| h.role().0 != raftcore::Role::Leader)
        .unwrap();
    assert_eq!(
        follower.wait_until_leader(Duration::from_secs(5)),
        Some(leader)
    );
    assert!(matches!(
        follower.propose(put(2, "b"), Duration::from_secs(5)),
        Err(ProposeError::NotLeader(Some(l))) if l == leader
    ));
    for (h, t) in nodes {
        h.shutdown();
        t.join().unwrap().unwrap();
    }
}

#[test]
fn an_fsync_failure_stops_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = configs(dir.path(), 1).remove(0);
    let io = FaultIo::default();
    let node = Node::open_with(cfg, KvStore::default(), Arc::new(io.clone())).unwrap();
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    let r = h.propose(put(1, "a"), Duration::from_secs(5)).unwrap();
    assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    io.faults.fail_fsync.store(true, Ordering::SeqCst);
    let r = h.propose(put(2, "b"), Duration::from_secs(5));
    assert_eq!(r, Err(ProposeError::Stopped));
    let err = t.join().unwrap().expect_err("the node stops");
    assert!(err.to_string().contains("fsync"), "{err}");
    assert!(matches!(h.stopped(), Some(Some(_))));
    assert_eq!(
        h.propose(put(3, "c"), Duration::from_secs(1)),
        Err(ProposeError::Stopped)
    );
}

#[test]
fn a_restart_restores_the_snapshot_and_the_stored_commit_index_and_reads_see_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = configs(dir.path(), 1).remove(0);
    cfg.snapshot_entries = 3;
    let (h, t) = Node::spawn_kv(cfg.clone()).unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    // Index 1 is the leader's empty entry; the puts are 2..=7, each applied before the next.
    for seq in 1..=6 {
        let r = h
            .propose(put(seq, &format!("k{seq}")), Duration::from_secs(5))
            .unwrap();
        assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    }
    h.shutdown();
    t.join().unwrap().unwrap();

    let node = Node::open(cfg, KvStore::default()).unwrap();
    // The Persist of the sixth put recorded a commit index covering the fifth.
    assert!(node.core().commit().0 >= 6, "{:?}", node.core().commit());
    // The state machine came back from a snapshot, not from index 0.
    assert!(node.state_machine().applied_index() >= 3);
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    let r = h.propose(get(b"k6"), Duration::from_secs(5)).unwrap();
    assert_eq!(
        Response::decode(&r).unwrap(),
        Response::Value(Some(b"v".to_vec()))
    );
    h.shutdown();
    t.join().unwrap().unwrap();
}

#[test]
fn a_snapshot_newer_than_the_wal_finishes_its_install_on_open() {
    // As after a crash between a received snapshot's rename and the WAL's record of it: the
    // snapshot directory is ahead of the WAL (here: the WAL is gone altogether).
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = configs(dir.path(), 1).remove(0);
    cfg.snapshot_entries = 2;
    let (h, t) = Node::spawn_kv(cfg.clone()).unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for seq in 1..=4 {
        h.propose(put(seq, &format!("k{seq}")), Duration::from_secs(5))
            .unwrap();
    }
    h.shutdown();
    t.join().unwrap().unwrap();
    std::fs::remove_dir_all(cfg.data_dir.join("wal")).unwrap();

    let node = Node::open(cfg, KvStore::default()).unwrap();
    let applied = node.state_machine().applied_index();
    assert!(applied >= 2, "{applied}");
    assert_eq!(node.core().first_index().0, applied + 1);
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    let r = h.propose(get(b"k1"), Duration::from_secs(5)).unwrap();
    assert_eq!(
        Response::decode(&r).unwrap(),
        Response::Value(Some(b"v".to_vec()))
    );
    // And it keeps going after the reset.
    let r = h.propose(put(5, "k5"), Duration::from_secs(5)).unwrap();
    assert_eq!(Response::decode(&r).unwrap(), Response::Written);
    h.shutdown();
    t.join().unwrap().unwrap();
}
