//! Protocol-aware repair under a running workload (issue 16, Build 3): a follower killed while
//! a client writes continuously, a byte flipped in the middle of its WAL, and restarted. It
//! starts repaired (one warning line naming file, offset, kept index and vote floor), catches
//! up from the leader, every acknowledged write is on every node, and it votes again: with
//! the leader killed, the two others elect a new one, which needs its vote. Real `raft-node`
//! processes over UDP on loopback; every wait is bounded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use raft_std_driver::client::Client;
use raft_std_driver::kv::{Command as Kv, Response};
use raft_std_driver::local::LocalCluster;

mod common;

use common::{eventually, leader_client, opts, start, wait_caught_up};

/// A client writing `w{i} = {i}` as fast as it can until stopped; the acknowledged `i`s.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<u32>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(mut client: Client) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), acked.clone());
        let deadline = Instant::now() + Duration::from_secs(120);
        let thread = std::thread::spawn(move || {
            let mut i = 0u32;
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                let put = Kv::Put {
                    key: format!("w{i}").into(),
                    value: i.to_string().into(),
                };
                if let Ok(Response::Written) = client.execute(put) {
                    a.lock().unwrap().push(i);
                }
                i += 1;
            }
        });
        Writer {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    fn finish(mut self) -> Vec<u32> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// The last WAL segment of node `id`'s data directory.
fn last_segment(cluster: &LocalCluster, id: u32) -> PathBuf {
    let wal = cluster.nodes[id as usize - 1].data_dir.join("wal");
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

/// Flips a byte halfway through the records of `seg` (its zero-filled end excluded); returns
/// the byte's offset.
fn flip_in_the_middle(seg: &Path) -> usize {
    let mut bytes = std::fs::read(seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    let at = end / 2;
    bytes[at] ^= 0x40;
    std::fs::write(seg, bytes).unwrap();
    at
}

/// The value of `key=` on the repair warning line of node `id`'s log.
fn repair_field(log: &str, key: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains("repaired a WAL damaged"))?;
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Kills `victims`, flips a byte in the middle of each one's last WAL segment, restarts them
/// while `writer` goes on, and checks they start repaired, catch up, hold every acknowledged
/// write, and vote again.
fn repair_under_load(n: usize, victims_wanted: usize) {
    let mut cluster = start(n, &[]);
    let (mut client, leader, _) = leader_client(&mut cluster);
    let writer = Writer::start(cluster.client(opts()).unwrap());
    assert!(
        eventually(30, || writer.acked() >= 300),
        "the workload did not get going"
    );
    let victims: Vec<u32> = (1..=n as u32)
        .filter(|&id| id != leader)
        .take(victims_wanted)
        .collect();
    for &v in &victims {
        cluster.kill(v).unwrap();
    }
    let mut offsets = Vec::new();
    for &v in &victims {
        let seg = last_segment(&cluster, v);
        offsets.push((seg.clone(), flip_in_the_middle(&seg)));
    }
    let before = writer.acked();
    for &v in &victims {
        cluster.restart(v).unwrap();
    }
    let mut floors = Vec::new();
    for (k, &v) in victims.iter().enumerate() {
        let log_path = cluster.nodes[v as usize - 1].log.clone();
        let mut log = String::new();
        assert!(
            eventually(20, || {
                log = std::fs::read_to_string(&log_path).unwrap_or_default();
                log.contains("repaired a WAL damaged")
            }),
            "node {v} did not start repaired: {log}"
        );
        assert!(cluster.is_running(v), "node {v} exited: {log}");
        let (seg, flipped) = &offsets[k];
        assert!(log.contains(&seg.display().to_string()), "{log}");
        let offset = repair_field(&log, "offset").unwrap() as usize;
        assert!(
            offset <= *flipped,
            "cut at {offset}, after the flip at {flipped}"
        );
        let kept = repair_field(&log, "kept_index").unwrap();
        let floor = repair_field(&log, "vote_floor").unwrap();
        assert!(floor > kept, "floor {floor}, kept {kept}");
        floors.push(floor);
    }
    // The workload goes on while they catch up.
    assert!(
        eventually(30, || writer.acked() >= before + 200),
        "the workload stalled after the restart"
    );
    for (k, &v) in victims.iter().enumerate() {
        wait_caught_up(&mut client, leader, v);
        let status = client.status(v).unwrap().unwrap();
        assert!(
            status.last_index >= floors[k],
            "node {v}: last index {} below its floor {}",
            status.last_index,
            floors[k]
        );
    }
    let acked = writer.finish();
    for id in 1..=n as u32 {
        wait_caught_up(&mut client, leader, id);
        for &i in &acked {
            let got = client.local_get(id, format!("w{i}").as_bytes()).unwrap();
            assert_eq!(
                got,
                Some(Response::Value(Some(i.to_string().into()))),
                "node {id} lacks acknowledged write w{i}"
            );
        }
    }
    // They vote again: with the leader gone, a new leader needs a majority of the rest, which
    // includes every repaired node when they are a minority of one in three or two in five.
    cluster.kill(leader).unwrap();
    let mut probe = cluster.client(opts()).unwrap();
    let (new_leader, _) = cluster
        .wait_for_leader(&mut probe, Some(leader), 0, Duration::from_secs(20))
        .expect("a new leader, elected with the repaired nodes' votes");
    assert_ne!(new_leader, leader);
    probe.set_target(new_leader);
    let r = probe.execute(Kv::Put {
        key: "after".into(),
        value: "election".into(),
    });
    assert_eq!(r.unwrap(), Response::Written);
}

#[test]
fn a_follower_with_a_byte_flipped_mid_wal_starts_repaired_under_load_catches_up_and_votes_again() {
    repair_under_load(3, 1);
}

#[test]
fn a_minority_of_two_in_five_with_flipped_wal_bytes_start_repaired_and_vote_again() {
    repair_under_load(5, 2);
}
