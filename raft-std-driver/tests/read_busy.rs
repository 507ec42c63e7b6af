//! A leader with no room for more reads keeps its clients, and answers them: raft-core holds a
//! few batches of ReadIndex reads at the leader (one per requester waiting for a round, one
//! per requester in the round in flight), so bursts of reads at all three nodes at once (the
//! followers forward theirs) overflow it. A read the leader's raft-core refuses while it
//! still leads is held by the driver and issued again every turn until raft-core takes it
//! (`node/read_room.rs`), so its client neither pauses on `Busy` nor is sent away. Answered
//! "not leader" (as at first), clients went to followers, whose forwarded reads took more of
//! the same room, and under a write load the reads collapsed; answered `Busy` (as next), the
//! clients' pauses made the tail of a 50/50 mix at 1,024 clients (BENCHMARKS.md).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use raft_std_driver::kv::Command;
use raft_std_driver::node::{Node, NodeHandle, ProposeError};
use raftcore::Role;

mod common;

/// Reads each node gets in one burst.
const BURST: usize = 200;
/// Bursts tried before giving up on seeing the leader's read room overflow.
const BURSTS: usize = 50;

/// A sessionless read of `k` (client 43).
fn get(k: &[u8]) -> Vec<u8> {
    common::request(43, 0, Command::Get { key: k.to_vec() })
}

/// Issues a burst of reads at every node at once; returns the outcomes of the leader's own.
fn burst(nodes: &[NodeHandle], leader: usize) -> Vec<Result<Vec<u8>, ProposeError>> {
    let (tx, rx) = mpsc::channel();
    for _ in 0..BURST {
        for (k, h) in nodes.iter().enumerate() {
            let tx = tx.clone();
            h.propose_then(get(b"k"), move |r| {
                let _ = tx.send((k, r));
            });
        }
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut at_leader = Vec::new();
    let mut answered = 0;
    while answered < BURST * nodes.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let (k, r) = rx.recv_timeout(left).expect("every read is answered");
        answered += 1;
        if k == leader {
            at_leader.push(r);
        }
    }
    at_leader
}

/// The leader's `driver.reads_held` in its `stats.json` (written once a second and at stop).
fn reads_held(dir: &std::path::Path) -> u64 {
    let read = || -> Option<u64> {
        let bytes = std::fs::read(dir.join("stats.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.pointer("/driver/reads_held")?.as_u64()
    };
    read().unwrap_or(0)
}

#[test]
fn a_leader_out_of_read_room_holds_the_reads_and_answers_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfgs = common::configs(dir.path(), 3, "12", |_| {});
    let dirs: Vec<_> = cfgs.iter().map(|c| c.data_dir.clone()).collect();
    let nodes: Vec<_> = cfgs
        .into_iter()
        .map(|c| Node::spawn_kv(c).unwrap())
        .collect();
    let handles: Vec<NodeHandle> = nodes.iter().map(|(h, _)| h.clone()).collect();
    let leader = handles[0]
        .wait_until_leader(Duration::from_secs(10))
        .expect("a leader");
    let li = leader.0 as usize - 1;
    let (role, term) = handles[li].role();
    assert_eq!(role, Role::Leader);
    let mut bursts = 0;
    while reads_held(&dirs[li]) == 0 && bursts < BURSTS {
        bursts += 1;
        for r in burst(&handles, li) {
            // Every read the leader got is answered with the value while it leads: never
            // `Busy` (the read was held and issued again), never sent elsewhere.
            if let Err(e) = r {
                assert_ne!(
                    handles[li].role(),
                    (Role::Leader, term),
                    "the leader answered {e:?} to its own read while leading"
                );
            }
        }
        // `stats.json` is rewritten once a second.
        std::thread::sleep(Duration::from_millis(1_100));
    }
    for (h, t) in nodes {
        h.shutdown();
        t.join().unwrap().unwrap();
    }
    let held = reads_held(&dirs[li]);
    assert!(
        held > 0,
        "{bursts} bursts of {BURST} reads per node never filled the leader's read room"
    );
    eprintln!("{bursts} bursts, {held} reads held at the leader and answered");
}
