//! A leader paused (SIGSTOP, as a long GC pause or a stalled VM would) past its lease must not
//! answer a read from that lease when it resumes: meanwhile another leader was elected and
//! acknowledged a newer write. raft-core counts its lease in ticks and has no clock, so the
//! node loop must hand it the time the pause took before it serves anything.
//!
//! The paused leader also hears none of its peers (the fault hook drops their datagrams from
//! just before the pause), as when the new leader's messages were lost or overflowed its
//! socket buffer while it slept; so nothing but the clock can tell it that it was deposed.

mod common;

use std::time::Duration;

use common::{leader_client, opts, put};
use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::kv::{Command as Kv, Response};
use raft_std_driver::local::LocalCluster;

#[test]
fn a_leader_paused_past_its_lease_does_not_answer_a_read_from_it_after_resuming() {
    // Ticks of 20 ms, a lease of 28 ticks (560 ms), elections after 600-1,200 ms of silence.
    // The only test of this binary: the nodes inherit the variable that turns the hook on.
    std::env::set_var(raft_std_driver::node::FAULT_HOOK_VAR, "1");
    let mut cluster = LocalCluster::start(
        common::raft_node(),
        3,
        &[
            "--tick-ms",
            "20",
            "--election-ticks",
            "30",
            "--heartbeat-ticks",
            "3",
            "--read-policy",
            "lease",
        ],
    )
    .expect("start nodes");
    let (mut client, old, term) = leader_client(&mut cluster);
    put(&mut client, "k", "old");

    // The leader stops hearing its peers, then stops altogether, well inside its lease.
    let others: Vec<u32> = (1..=3).filter(|&id| id != old).collect();
    cluster.drop_from(old, &others).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    cluster.signal(old, "STOP").unwrap();

    // The others elect a new leader, which acknowledges a newer write.
    let (new, _) = cluster
        .wait_for_leader(&mut client, Some(old), term, Duration::from_secs(20))
        .expect("a new leader while the old one is paused");
    client.set_target(new);
    put(&mut client, "k", "new");

    // The old leader resumes, still deaf to its peers, and is asked first.
    let peer = cluster
        .peers()
        .into_iter()
        .find(|p| p.id == old)
        .expect("the old leader's address");
    let mut only_old = Client::new(
        cluster.key(),
        vec![peer],
        ClientOptions {
            deadline: Duration::from_secs(2),
            ..opts()
        },
    )
    .unwrap();
    cluster.signal(old, "CONT").unwrap();
    let read = only_old.execute(Kv::Get { key: "k".into() });
    assert!(
        !matches!(&read, Ok(Response::Value(Some(v))) if v == b"old"),
        "node {old}, paused past its lease while node {new} led and wrote, answered a stale read: {read:?}"
    );
    // It either refused (it knows its lease is over) or answered the newer value.
    if let Ok(Response::Value(v)) = &read {
        assert_eq!(v.as_deref(), Some(&b"new"[..]), "{read:?}");
    }
}
