//! Issue 16, Build 5: after a majority is lost for good, `raft-node --force-new-cluster` turns
//! the survivor into a one-node cluster from its own log (unsafe, last resort; see the
//! README). Real `raft-node` processes; every wait is bounded.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use raft_std_driver::client::Client;
use raft_std_driver::kv::Response;
use raft_std_driver::local::LocalCluster;
use raftcore::Role;

mod common;

use common::{leader_client, put_nth as put, raft_node, start, Reaped};

fn start_forced(cluster: &LocalCluster, id: u32, log: &Path) -> Reaped {
    let child = Command::new(raft_node())
        .args(cluster.args(id))
        .arg("--force-new-cluster")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap();
    Reaped(child)
}

fn wait_leader_alone(client: &mut Client, id: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(s)) = client.status(id) {
            if s.role == Role::Leader {
                return;
            }
        }
        assert!(Instant::now() < deadline, "node {id} did not lead alone");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_survivor_of_a_lost_majority_becomes_a_one_node_cluster_with_its_log() {
    let mut cluster = start(3, &[]);
    let (mut client, leader, _) = leader_client(&mut cluster);
    for i in 0..20 {
        put(&mut client, i);
    }
    // The majority is lost for good; the old leader, which holds every acknowledged write,
    // survives.
    for id in 1..=3 {
        cluster.kill(id).unwrap();
    }
    let log = cluster.root().join("forced.log");
    let forced = start_forced(&cluster, leader, &log);
    wait_leader_alone(&mut client, leader);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("WARNING: --force-new-cluster") && stderr.contains("NEVER start"),
        "{stderr}"
    );
    client.set_target(leader);
    for i in 0..20 {
        assert_eq!(
            common::get(&mut client, &format!("k{i}")),
            Response::Value(Some(format!("v{i}").into()))
        );
    }
    for i in 20..25 {
        put(&mut client, i);
    }
    let view = client.membership().unwrap();
    assert_eq!((view.voters, view.learners), (vec![leader], vec![]));

    // The flag left in place: a restart with it changes nothing.
    drop(forced);
    let _again = start_forced(&cluster, leader, &log);
    wait_leader_alone(&mut client, leader);
    assert!(!std::fs::read_to_string(&log)
        .unwrap()
        .contains("WARNING: --force-new-cluster"));
    for i in [0, 19, 24] {
        assert_eq!(
            common::get(&mut client, &format!("k{i}")),
            Response::Value(Some(format!("v{i}").into()))
        );
    }
}
