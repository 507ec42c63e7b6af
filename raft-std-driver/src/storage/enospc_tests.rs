//! Disk full: `ENOSPC` on a WAL write, on the hard-state copy written at a sync, or on a
//! snapshot save stops that store's writes (fail-stop, as any I/O error does), loses nothing
//! that was synced, and the directory reopens and takes writes again once space is freed.
//!
//! The full disk is injected through the `FileIo` seam ([`FaultIo`], `fill_disk_after`): writes
//! beyond a byte budget write the part that fits and fail with `ErrorKind::StorageFull`, as a
//! full file system does. No real file system is filled. "Space freed" is a reopen through
//! [`StdIo`].

use std::sync::Arc;

use raftcore::{LogIndex, Membership, NodeId, Term};

use super::fault::FaultIo;
use super::{HardState, Record, SnapshotMeta, SnapshotStore, StdIo, StorageError, Wal, WalOptions};

const OPTS: WalOptions = WalOptions {
    segment_bytes: 1 << 20,
};
const HS: HardState = HardState {
    term: 2,
    voted_for: Some(3),
    commit: 4,
};

fn payload(i: u64) -> Vec<u8> {
    format!("payload of entry {i}").into_bytes()
}

/// A WAL with entries 1..=5 and `HS`, synced (acknowledged), on a disk that can fill up.
fn synced_wal(dir: &std::path::Path) -> (Wal, FaultIo) {
    let io = FaultIo::default();
    let (mut wal, _) = Wal::open_with(dir, OPTS, Arc::new(io.clone())).unwrap();
    for i in 1..=5 {
        wal.append_entry(i, 1, 0, &payload(i)).unwrap();
    }
    wal.set_hard_state(HS).unwrap();
    wal.sync().unwrap();
    (wal, io)
}

fn assert_poisoned(wal: &mut Wal) {
    assert!(wal.is_poisoned());
    assert!(matches!(wal.sync(), Err(StorageError::Poisoned)));
    assert!(matches!(
        wal.append_entry(wal.last_index() + 1, 2, 0, b"x"),
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(
        wal.set_hard_state(HardState::default()),
        Err(StorageError::Poisoned)
    ));
}

/// Reopens on the healthy file system, checks what was synced, and writes again.
fn reopen_after_freeing_space(dir: &std::path::Path) {
    let (mut wal, rec) = Wal::open_with(dir, OPTS, Arc::new(StdIo)).unwrap();
    // The synced hard state, or a newer one whose batch became durable although its sync
    // was not reported (never acknowledged, so either is allowed).
    let hs = rec.hard_state;
    assert!(hs == HS || hs.term > HS.term, "{hs:?}");
    assert!(rec.last_index >= 5);
    for i in 1..=5 {
        assert_eq!(wal.entry(i).unwrap().payload, &payload(i)[..], "entry {i}");
    }
    // Rejoining: the leader overwrites whatever unacknowledged suffix survived.
    if wal.last_index() > 5 {
        wal.truncate_from(6).unwrap();
    }
    wal.append_entry(6, 2, 0, b"after the disk was freed")
        .unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = Wal::open_with(dir, OPTS, Arc::new(StdIo)).unwrap();
    assert_eq!((rec.last_index, rec.torn_tail), (6, None));
    assert_eq!(wal.entry(6).unwrap().payload, b"after the disk was freed");
}

#[test]
fn enospc_part_way_through_a_batch_write_poisons_the_wal_and_loses_nothing_synced() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, io) = synced_wal(dir.path());
    io.faults.fill_disk_after(100);
    for i in 6..=12 {
        wal.append_entry(i, 2, 0, &payload(i)).unwrap();
    }
    let err = wal.sync().unwrap_err();
    assert!(
        err.is_disk_full() && matches!(err, StorageError::Io { op: "write", .. }),
        "{err:?}"
    );
    assert_poisoned(&mut wal);
    drop(wal);
    // The first 100 bytes of the batch reached the file: past the synced mark, so what is
    // torn of them is cut, never anything synced.
    reopen_after_freeing_space(dir.path());
}

#[test]
fn enospc_while_a_large_batch_is_flushed_before_its_sync_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, io) = synced_wal(dir.path());
    io.faults.fill_disk_after(300 << 10);
    let big = vec![7u8; 64 << 10];
    // Appends write the batch out once it passes 1 MiB: that write fails mid-batch.
    let failed = (6..40).find_map(|i| wal.append_entry(i, 2, 0, &big).err());
    let err = failed.expect("an append hits the full disk");
    assert!(err.is_disk_full(), "{err:?}");
    assert_poisoned(&mut wal);
    drop(wal);
    reopen_after_freeing_space(dir.path());
}

#[test]
fn enospc_on_the_hard_state_copy_poisons_the_wal_before_the_sync_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, io) = synced_wal(dir.path());
    // Room for the batch's records and seal exactly, none for the hard-state copy written
    // after them (the batch carries a new vote, so the copies are rewritten).
    let mut batch = Vec::new();
    for i in 6..=7 {
        wal.append_entry(i, 2, 0, &payload(i)).unwrap();
        Record::Entry {
            index: i,
            term: 2,
            kind: 0,
            payload: &payload(i),
        }
        .encode_framed(&mut batch);
    }
    let vote = HardState {
        term: 3,
        voted_for: Some(1),
        commit: 0,
    };
    wal.set_hard_state(vote).unwrap();
    Record::HardState(vote).encode_framed(&mut batch);
    io.faults
        .fill_disk_after((batch.len() + super::record::SEAL_FRAME) as u64);
    let err = wal.sync().unwrap_err();
    assert!(
        err.is_disk_full()
            && matches!(
                err,
                StorageError::Io {
                    op: "write hard state",
                    ..
                }
            ),
        "{err:?}"
    );
    assert_poisoned(&mut wal);
    drop(wal);
    reopen_after_freeing_space(dir.path());
}

#[test]
fn enospc_on_a_snapshot_save_poisons_the_store_and_keeps_the_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultIo::default();
    let members = Membership::new(&[NodeId(1)], &[]).unwrap();
    let mut store = SnapshotStore::open_with(dir.path(), Arc::new(io.clone())).unwrap();
    let old: SnapshotMeta = store
        .save(LogIndex(5), Term(1), members, b"state at 5")
        .unwrap();
    io.faults.fill_disk_after(10);
    let err = store
        .save(LogIndex(9), Term(2), members, &[1; 4096])
        .unwrap_err();
    assert!(err.is_disk_full(), "{err:?}");
    assert!(store.is_poisoned());
    assert!(matches!(
        store.save(LogIndex(10), Term(2), members, b"x"),
        Err(StorageError::Poisoned)
    ));
    drop(store);
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(old));
    assert_eq!(store.read_all().unwrap().unwrap().1, b"state at 5");
    // The partial temp file is gone, and the store saves again.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    store
        .save(LogIndex(9), Term(2), members, &[1; 4096])
        .unwrap();
}
