//! A leader with no room for more reads keeps its clients: raft-core holds a few batches of
//! ReadIndex reads at the leader (one per requester waiting for a round, one per requester in
//! the round in flight), so bursts of reads at all three nodes at once (the followers forward
//! theirs) overflow it. A read the leader fails while it still leads is answered `Busy`, so
//! the client pauses and stays; answered "not leader" (as before), clients went to followers,
//! whose forwarded reads took more of the same room, and under a write load the reads
//! collapsed (BENCHMARKS.md, the 50/50 mix past 64 clients).

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

#[test]
fn a_leader_out_of_read_room_answers_busy_and_never_sends_its_clients_away() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<_> = common::configs(dir.path(), 3, "12", |_| {})
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
    let mut busy = 0;
    let mut bursts = 0;
    while busy == 0 && bursts < BURSTS {
        bursts += 1;
        for r in burst(&handles, li) {
            match r {
                Ok(_) => {}
                Err(ProposeError::Busy) => busy += 1,
                // Only a leader that stopped leading may send its clients elsewhere.
                Err(e) => assert_ne!(
                    handles[li].role(),
                    (Role::Leader, term),
                    "the leader answered {e:?} to its own read while leading"
                ),
            }
        }
    }
    assert!(
        busy > 0,
        "{bursts} bursts of {BURST} reads per node never filled the leader's read room"
    );
    for (h, t) in nodes {
        h.shutdown();
        t.join().unwrap().unwrap();
    }
}
