//! The nemesis's disk faults: a full disk through the nodes' fault hook (`ENOSPC` while the
//! file `fault-enospc` exists in the data directory), a byte flipped in a stopped node's WAL
//! or hard-state copy, and the README's rebuild of a node that refuses to start on damage.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raft_std_driver::admin::{MemberChange, MembershipView};
use raft_std_driver::client::Client;
use raft_std_driver::local::LocalCluster;
use raft_std_driver::node::ENOSPC_FILE;

/// Fills node `id`'s disk: its next storage write or sync fails with `ENOSPC`.
pub fn fill(cluster: &LocalCluster, id: u32) {
    let dir = &cluster.nodes[id as usize - 1].data_dir;
    std::fs::write(dir.join(ENOSPC_FILE), b"").expect("write the ENOSPC flag");
}

/// Frees node `id`'s disk (removes the flag; absent is fine).
pub fn free(cluster: &LocalCluster, id: u32) {
    let dir = &cluster.nodes[id as usize - 1].data_dir;
    match std::fs::remove_file(dir.join(ENOSPC_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove the ENOSPC flag: {e}"),
    }
}

/// Waits up to `limit` for node `id`'s process to exit; whether it did.
pub fn exits_within(cluster: &mut LocalCluster, id: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !cluster.is_running(id) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !cluster.is_running(id)
}

/// Whether node `id`, just started on a damaged directory, refused to start (its process
/// exited) rather than started (it answers a status request); waits up to 15 s for either.
pub fn refused(cluster: &mut LocalCluster, admin: &mut Client, id: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if !cluster.is_running(id) {
            return true;
        }
        if matches!(admin.status(id), Ok(Some(_))) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("n{id} neither started nor refused to start within 15 s");
}

/// The last line of node `id`'s log that says `error`, if any.
pub fn last_error(cluster: &LocalCluster, id: u32) -> Option<String> {
    let log = std::fs::read_to_string(&cluster.nodes[id as usize - 1].log).ok()?;
    log.lines()
        .rev()
        .find(|l| l.contains("error"))
        .map(|l| l.chars().take(300).collect())
}

/// Flips one byte of a stopped node's WAL directory `wal`, chosen by `pick`: three times in
/// four a byte of a segment's written part (up to its last non-zero byte), else a byte of a
/// hard-state copy. Returns the file and offset.
pub fn flip(wal: &Path, pick: u64) -> Option<(PathBuf, u64)> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(wal)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    segments.sort();
    let hard = [wal.join("hardstate.0"), wal.join("hardstate.1")];
    let (file, written) = if pick % 4 != 3 && !segments.is_empty() {
        let file = segments[(pick / 4) as usize % segments.len()].clone();
        let bytes = std::fs::read(&file).ok()?;
        let written = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        (file, written)
    } else {
        let file = hard[(pick / 4) as usize % 2].clone();
        let len = std::fs::metadata(&file).ok()?.len() as usize;
        (file, len)
    };
    if written == 0 {
        return None;
    }
    let mut bytes = std::fs::read(&file).ok()?;
    let at = (pick >> 8) as usize % written;
    bytes[at] ^= 1 << ((pick >> 4) % 8);
    std::fs::write(&file, bytes).ok()?;
    Some((file, at as u64))
}

/// Retries `change` through `admin` for up to 30 s; panics if it never succeeds.
pub fn change(admin: &mut Client, change: MemberChange) -> MembershipView {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match admin.change_membership(change) {
            Ok(view) => return view,
            Err(e) if Instant::now() < deadline => {
                eprintln!("nemesis: {change:?}: {e}; again");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("nemesis: {change:?} still fails after 30 s: {e}"),
        }
    }
}

/// The manual steps behind `raft-node --rebuild` (README) for node `id`, which refuses to start
/// on damaged storage: remove it through the majority, move its directory aside, start it on
/// an empty one with the current voters. The caller adds it back (learner, then voter), so the
/// nemesis keeps control of each step's timing under its faults.
pub fn rebuild(cluster: &mut LocalCluster, admin: &mut Client, id: u32, attempt: u32) {
    let view = change(admin, MemberChange::Remove(id));
    assert!(!view.voters.contains(&id), "n{id} is still a voter");
    let data = cluster.nodes[id as usize - 1].data_dir.clone();
    std::fs::rename(&data, data.with_extension(format!("damaged{attempt}")))
        .expect("move the damaged directory aside");
    let voters: Vec<String> = view.voters.iter().map(u32::to_string).collect();
    cluster
        .restart_with(id, &["--voters".into(), voters.join(",")])
        .expect("start the rebuilt node");
}
