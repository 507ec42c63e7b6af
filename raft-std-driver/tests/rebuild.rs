//! A node whose WAL is damaged refuses to start, naming the file and the byte offset, and is
//! rebuilt from the healthy majority by one command, `raft-node ... --rebuild` (the README's
//! "A node that refuses to start because its storage is damaged"): it moves the directory
//! aside, removes the node, starts it empty with the current voters, adds it as a learner and
//! promotes it. A later restart without the flag simply restarts it. Real `raft-node`
//! processes over UDP; every wait is bounded.

use raft_std_driver::client::Client;
use raft_std_driver::kv::Response;

mod common;

use common::{eventually, leader_client, put_nth as put, start};

#[test]
fn a_node_with_a_corrupt_wal_refuses_to_start_and_is_rebuilt_from_the_majority() {
    let mut cluster = start(3, &[]);
    let (mut client, leader, _) = leader_client(&mut cluster);
    for i in 0..20 {
        put(&mut client, i);
    }
    let victim = if leader == 3 { 2 } else { 3 };
    let holds = |client: &mut Client, upto: u32| {
        (0..upto).all(|i| {
            client
                .local_get(victim, format!("k{i}").as_bytes())
                .ok()
                .flatten()
                == Some(Response::Value(Some(format!("v{i}").into())))
        })
    };
    assert!(eventually(10, || holds(&mut client, 20)));

    // Stop it and flip a byte of its first WAL record (synced long ago), then start it again.
    cluster.kill(victim).unwrap();
    let data = cluster.nodes[victim as usize - 1].data_dir.clone();
    let seg = data
        .join("wal")
        .join("0000000000000000-0000000000000001.wal");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[12] ^= 0x01;
    std::fs::write(&seg, bytes).unwrap();
    cluster.restart(victim).unwrap();
    assert!(
        eventually(10, || !cluster.is_running(victim)),
        "the node started on a corrupt WAL"
    );
    let log = std::fs::read_to_string(&cluster.nodes[victim as usize - 1].log).unwrap();
    let want = format!("corrupt WAL record in {} at byte 0", seg.display());
    assert!(log.contains(&want), "{log}");

    // The one command: the node's usual flags plus --rebuild.
    cluster.restart_with(victim, &["--rebuild".into()]).unwrap();
    let log_path = cluster.nodes[victim as usize - 1].log.clone();
    let done = || std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("rebuild: done"));
    assert!(
        eventually(30, done),
        "the rebuilt node never became a voter again"
    );
    let voter_again = |client: &mut Client| {
        client
            .membership()
            .is_ok_and(|v| v.voters.contains(&victim) && v.committed)
    };
    assert!(voter_again(&mut client));
    assert!(cluster.is_running(victim), "the rebuilt node stopped");
    let moved: Vec<_> = std::fs::read_dir(data.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".damaged-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    for i in 20..30 {
        put(&mut client, i);
    }
    assert!(
        eventually(10, || holds(&mut client, 30)),
        "the rebuilt node misses writes"
    );

    // A later restart without the flag simply restarts it, as a voter with its data.
    cluster.restart(victim).unwrap();
    for i in 30..35 {
        put(&mut client, i);
    }
    assert!(
        eventually(10, || holds(&mut client, 35)),
        "the restarted node misses writes"
    );
    assert!(voter_again(&mut client));
}
