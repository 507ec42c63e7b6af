//! A node whose WAL is damaged refuses to start, naming the file and the byte offset, and is
//! rebuilt from the healthy majority by the procedure in the README ("A node that refuses to
//! start because its storage is damaged"): remove it, move its directory aside, start it on an
//! empty directory with the current voters, add it as a learner, promote it. Real `raft-node`
//! processes over UDP; every wait is bounded.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use raft_std_driver::admin::{MemberChange, MemberRefusal};
use raft_std_driver::client::{Client, ClientError};
use raft_std_driver::kv::Response;

mod common;

use common::{eventually, leader_client, put_nth as put, raft_node, start, Reaped};

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

    // The README's procedure.
    let view = client
        .change_membership(MemberChange::Remove(victim))
        .unwrap();
    assert!(!view.voters.contains(&victim));
    std::fs::rename(&data, data.with_extension("damaged")).unwrap();
    let voters: Vec<String> = view.voters.iter().map(u32::to_string).collect();
    let child = Command::new(raft_node())
        .args(cluster.args(victim))
        .args(["--voters", &voters.join(",")])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _rebuilt = Reaped(child);
    client
        .change_membership(MemberChange::AddLearner(victim))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        match client.change_membership(MemberChange::Promote(victim)) {
            Ok(view) => break view,
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(_))) => {
                assert!(
                    Instant::now() < deadline,
                    "the rebuilt node never caught up"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("promote: {e}"),
        }
    };
    assert!(view.voters.contains(&victim));
    for i in 20..30 {
        put(&mut client, i);
    }
    assert!(
        eventually(10, || holds(&mut client, 30)),
        "the rebuilt node misses writes"
    );
}
