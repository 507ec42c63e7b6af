//! Diagnosable failures: a wrong key is reported by the node (one rate-limited log line per
//! source address, every drop still counted) and by the client (no authenticated reply, exit
//! 7); a request that was never sent (exit 5) and one whose outcome is unknown (exit 8) are
//! told apart.

mod common;

use common::{code, eventually, leader_client, opts, raft_client, run};

/// `raft-client put k v` through node `peer` (`ID=ADDR`) alone, under `key_file`.
fn put_via(peer: &str, key_file: &str, timeout_ms: &str) -> std::process::Output {
    let args = [
        "--peer",
        peer,
        "--key-file",
        key_file,
        "--timeout-ms",
        timeout_ms,
    ];
    run(raft_client(), &[&args[..], &["put", "k", "v"]].concat())
}

/// Lines of node 1's log that report a datagram failing authentication.
fn refusal_lines(cluster: &raft_std_driver::local::LocalCluster) -> Vec<String> {
    let log = std::fs::read_to_string(&cluster.nodes[0].log).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("failed authentication"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_wrong_key_is_reported_by_the_node_and_the_client() {
    let cluster = common::start(1, &[]);
    let wrong = cluster.root().join("wrong.key");
    std::fs::write(&wrong, "cd".repeat(32)).unwrap();
    let peer = cluster.peers()[0].to_string();
    let out = put_via(&peer, wrong.to_str().unwrap(), "2600");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 7, "{stderr}");
    assert!(stderr.contains("no authenticated reply"), "{stderr}");
    assert!(stderr.contains("check the key file"), "{stderr}");
    assert!(stderr.contains("bad_tag"), "{stderr}");

    // One client, one address, several attempts: one log line, naming address and reason.
    assert!(eventually(5, || !refusal_lines(&cluster).is_empty()));
    let lines = refusal_lines(&cluster);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("bad_tag") && lines[0].contains("from=127.0.0.1:"),
        "{}",
        lines[0]
    );
    // Every attempt (one each 500 ms) was counted all the same, the unlogged ones too.
    let mut client = cluster.client(opts()).unwrap();
    let stats = client.stats(1).unwrap().expect("node 1 answers");
    assert!(
        stats["transport"]["bad_tag"].as_u64().unwrap() >= 2,
        "{stats:#}"
    );
}

#[test]
fn a_request_that_could_not_be_sent_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    // Port 0 cannot be sent to.
    let out = put_via("1=127.0.0.1:0", key.to_str().unwrap(), "300");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 5, "{stderr}");
    assert!(stderr.contains("not sent"), "{stderr}");
}

#[test]
fn a_write_a_leader_took_but_could_not_commit_has_an_unknown_outcome() {
    // Election timeouts of 1 to 2 s: the leader is still leading when the write reaches it.
    let mut cluster = common::start(3, &["--election-ticks", "100"]);
    let (_, leader, _) = leader_client(&mut cluster);
    for id in 1..=3 {
        if id != leader {
            cluster.kill(id).unwrap();
        }
    }
    // Only the leader is asked: it takes the write, cannot commit it, and answers later
    // attempts once it stepped down (check-quorum).
    let peer = cluster.peers()[leader as usize - 1].to_string();
    let key = cluster.key_file().display().to_string();
    let out = put_via(&peer, &key, "6000");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 8, "{stderr}");
    assert!(stderr.contains("may have been applied"), "{stderr}");
}
