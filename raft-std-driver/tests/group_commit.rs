//! Group commit with the fsync on the node's sync thread: concurrent writes are synced there,
//! every acknowledged one survives a restart, and a failed fsync there stops the node
//! (fail-stop) without losing an acknowledged write.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_std_driver::config::NodeConfig;
use raft_std_driver::kv::{Command, KvStore, Response};
use raft_std_driver::node::{Node, NodeHandle};
use raft_std_driver::storage::fault::FaultIo;

mod common;

/// Writers proposing at once, and writes each (until one fails).
const WRITERS: u64 = 16;
const WRITES: u64 = 40;
/// Writes each when the fsync fails part-way: more than the writers get through first.
const WRITES_UNTIL_FAILURE: u64 = 100_000;

fn config(dir: &Path) -> NodeConfig {
    common::configs(dir, 1, "31", |raw| raw.stats_interval_ms = Some(20)).remove(0)
}

fn put(writer: u64, seq: u64) -> Vec<u8> {
    common::request(
        writer,
        seq,
        Command::Put {
            key: format!("w{writer}-{seq}").into_bytes(),
            value: b"v".to_vec(),
        },
    )
}

/// Runs `WRITERS` threads proposing `writes` puts each through `h` until one fails; returns the
/// (writer, seq) pairs acknowledged as written.
fn write_concurrently(h: &NodeHandle, writes: u64) -> Vec<(u64, u64)> {
    let threads: Vec<_> = (1..=WRITERS)
        .map(|w| {
            let h = h.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for seq in 1..=writes {
                    match h.propose(put(w, seq), Duration::from_secs(10)) {
                        Ok(r) if Response::decode(&r) == Ok(Response::Written) => {
                            acked.push((w, seq))
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

/// Reopens the node on the real file system and reads every acknowledged write back.
fn assert_all_present(cfg: NodeConfig, acked: &[(u64, u64)]) {
    let (h, t) = Node::spawn_kv(cfg).unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    for (n, &(w, seq)) in acked.iter().enumerate() {
        let key = format!("w{w}-{seq}");
        let what = format!("acknowledged write {key} lost");
        common::assert_holds_v(&h, 1000, n as u64 + 1, &key, &what);
    }
    h.shutdown();
    t.join().unwrap().unwrap();
}

fn driver_stat(cfg: &NodeConfig, field: &str) -> u64 {
    let bytes = std::fs::read(cfg.data_dir.join("stats.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["driver"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no driver.{field} in stats.json"))
}

#[test]
fn concurrent_writes_are_synced_on_the_sync_thread_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (h, t) = Node::spawn_kv(cfg.clone()).unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    let acked = write_concurrently(&h, WRITES);
    assert_eq!(acked.len() as u64, WRITERS * WRITES);
    h.shutdown();
    t.join().unwrap().unwrap();
    let (syncs, background) = (
        driver_stat(&cfg, "syncs"),
        driver_stat(&cfg, "syncs_background"),
    );
    // 640 writes from 16 writers at once: batches of several entries, synced off the loop.
    assert!(
        background > 0 && syncs < WRITERS * WRITES,
        "{syncs} syncs, {background} on the sync thread"
    );
    assert_all_present(cfg, &acked);
}

#[test]
fn a_failed_fsync_stops_the_node_and_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let disk = FaultIo::default();
    let node = Node::open_with(cfg.clone(), KvStore::default(), Arc::new(disk.clone())).unwrap();
    let (h, t) = node.spawn().unwrap();
    assert!(h.wait_until_leader(Duration::from_secs(10)).is_some());
    let fail = {
        let disk = disk.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            disk.faults.fail_fsync.store(true, Ordering::SeqCst);
        })
    };
    let acked = write_concurrently(&h, WRITES_UNTIL_FAILURE);
    fail.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !t.is_finished() {
        assert!(Instant::now() < deadline, "the node did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = t.join().unwrap().expect_err("the node stops");
    assert!(err.to_string().contains("fsync"), "{err}");
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the fault"
    );
    let (syncs, background) = (
        driver_stat(&cfg, "syncs"),
        driver_stat(&cfg, "syncs_background"),
    );
    assert!(background > 0, "{syncs} syncs, none on the sync thread");
    assert_all_present(cfg, &acked);
}
