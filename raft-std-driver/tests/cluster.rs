//! Real `raft-node` processes on 127.0.0.1: replication, failover with SIGKILL, catch-up.
//! Every wait is bounded; no test asserts a wall-clock duration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::kv::{Command, Response};

mod common;

use common::{eventually, leader_client, opts, put, start, wait_caught_up};

#[test]
fn writes_through_one_node_are_read_back_linearizably_through_another() {
    read_back_through_another_node(&[]);
}

#[test]
fn with_reads_through_the_log_writes_are_read_back_linearizably_through_another_node() {
    read_back_through_another_node(&["--read-policy", "log"]);
}

fn read_back_through_another_node(extra: &[&str]) {
    let mut cluster = start(3, extra);
    let (mut writer, leader, _) = leader_client(&mut cluster);
    for i in 0..20 {
        common::put_nth(&mut writer, i);
    }
    // A second session entering through a follower: its gets are forwarded (ReadIndex) or
    // redirected (through the log), and see every write acknowledged before they began.
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let mut reader = cluster.client(opts()).unwrap();
    reader.set_target(follower);
    for i in 0..20 {
        let got = common::get(&mut reader, &format!("k{i}"));
        assert_eq!(got, Response::Value(Some(format!("v{i}").into())));
    }
    // And the follower's own copy converges.
    assert!(eventually(10, || {
        reader.local_get(follower, b"k19").ok().flatten()
            == Some(Response::Value(Some(b"v19".to_vec())))
    }));
}

#[test]
fn a_killed_leader_is_replaced_and_retried_writes_apply_exactly_once() {
    let mut cluster = start(3, &[]);
    let (mut probe, leader, term) = leader_client(&mut cluster);
    // A chain of compare-and-swap increments: a CAS applied twice would answer
    // `swapped: false` to its retry, and a lost one would break the chain.
    const N: usize = 40;
    let progress = Arc::new(AtomicUsize::new(0));
    let mut client = cluster
        .client(ClientOptions {
            attempt_timeout: Duration::from_millis(200),
            deadline: Duration::from_secs(15),
        })
        .unwrap();
    client.set_target(leader);
    let p = progress.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            let c = Command::Cas {
                key: b"counter".to_vec(),
                expected: (i > 0).then(|| i.to_string().into_bytes()),
                new: Some((i + 1).to_string().into_bytes()),
            };
            let r = client.execute(c).map_err(|e| format!("cas {i}: {e}"))?;
            match r {
                Response::Cas { swapped: true, .. } => {}
                other => return Err(format!("cas {i}: {other:?}")),
            }
            p.store(i + 1, Ordering::SeqCst);
        }
        Ok::<_, String>(client)
    });
    assert!(eventually(15, || progress.load(Ordering::SeqCst) >= N / 4));
    cluster.kill(leader).unwrap();
    let (new_leader, new_term) = cluster
        .wait_for_leader(&mut probe, Some(leader), term, Duration::from_secs(15))
        .expect("a new leader after the kill");
    assert_ne!(new_leader, leader);
    assert!(new_term > term);
    let mut client = writer
        .join()
        .unwrap()
        .expect("every CAS swapped exactly once");
    let got = common::get(&mut client, "counter");
    assert_eq!(got, Response::Value(Some(N.to_string().into_bytes())));
}

#[test]
fn a_restarted_node_catches_up() {
    let mut cluster = start(3, &[]);
    let (mut client, leader, _) = leader_client(&mut cluster);
    put(&mut client, "before", "1");
    let down = (1..=3).find(|&id| id != leader).unwrap();
    cluster.kill(down).unwrap();
    for i in 0..100 {
        put(&mut client, &format!("while-down-{i}"), "x");
    }
    cluster.restart(down).unwrap();
    wait_caught_up(&mut client, leader, down);
    for (k, v) in [
        ("before", "1"),
        ("while-down-0", "x"),
        ("while-down-99", "x"),
    ] {
        let got = client.local_get(down, k.as_bytes()).unwrap();
        let want = Some(Response::Value(Some(v.as_bytes().to_vec())));
        assert_eq!(got, want, "{k} on node {down}");
    }
}

#[test]
fn a_restarted_node_catches_up_through_a_snapshot_once_the_others_compacted_past_it() {
    // Snapshots every 16 applied entries: the log is compacted far past the node that is down.
    let mut cluster = start(3, &["--snapshot-entries", "16"]);
    let (mut client, leader, _) = leader_client(&mut cluster);
    put(&mut client, "before", "1");
    let down = (1..=3).find(|&id| id != leader).unwrap();
    cluster.kill(down).unwrap();
    for i in 0..150 {
        put(&mut client, &format!("while-down-{i}"), &"x".repeat(100));
    }
    let counter = |client: &mut Client, id: u32, name: &str| {
        client
            .stats(id)
            .ok()
            .flatten()
            .and_then(|s| s["driver"][name].as_u64())
            .unwrap_or(0)
    };
    // The leader snapshotted and compacted past everything the node that is down holds.
    assert!(
        eventually(10, || counter(&mut client, leader, "compactions") > 0),
        "the leader never compacted its log"
    );
    cluster.restart(down).unwrap();
    wait_caught_up(&mut client, leader, down);
    assert!(
        counter(&mut client, down, "snapshots_installed") >= 1,
        "node {down} caught up without a snapshot"
    );
    assert!(counter(&mut client, leader, "snapshot_chunks_sent") >= 1);
    for (k, v) in [
        ("before", "1".to_string()),
        ("while-down-0", "x".repeat(100)),
        ("while-down-149", "x".repeat(100)),
    ] {
        let got = client.local_get(down, k.as_bytes()).unwrap();
        let want = Some(Response::Value(Some(v.into_bytes())));
        assert_eq!(got, want, "{k} on node {down}");
    }
    // It keeps replicating after the install, and serves as a follower read path.
    put(&mut client, "after", "2");
    assert!(eventually(10, || {
        client.local_get(down, b"after").ok().flatten()
            == Some(Response::Value(Some(b"2".to_vec())))
    }));
}
