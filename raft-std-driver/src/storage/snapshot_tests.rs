//! Snapshot store behaviour: chunked writes, atomic install, leftovers, corruption.

use std::fs;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fault::FaultIo;
use raftcore::{LogIndex, Membership, NodeId, Term};

use super::capture::SPARE;
use super::snapshot::{file_name, meta_of_bytes};
use super::{SnapshotStore, StorageError};

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// Voters 1, 2, 3.
fn three() -> Membership {
    Membership::new(&[NodeId(1), NodeId(2), NodeId(3)], &[]).unwrap()
}

#[test]
fn chunked_snapshot_is_installed_and_read_back_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let data = bytes(10_000);
    let meta = meta_of_bytes(LogIndex(42), Term(5), three(), &data);
    store.begin(meta).unwrap();
    let mut at = 0;
    for chunk in data.chunks(1500) {
        assert_eq!(
            store.write_chunk(at, chunk).unwrap(),
            at + chunk.len() as u64
        );
        // A duplicated chunk is harmless.
        store.write_chunk(at, chunk).unwrap();
        at += chunk.len() as u64;
    }
    assert_eq!(store.finish().unwrap(), meta);
    assert_eq!(store.latest(), Some(meta));
    let mut back = vec![];
    let mut buf = [0u8; 777];
    loop {
        let n = store.read_chunk(meta, back.len() as u64, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert_eq!(back, data);
    drop(store);
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.read_all().unwrap(), Some((meta, data)));
}

#[test]
fn holes_overruns_and_bad_checksums_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.write_chunk(0, b"x"),
        Err(StorageError::SnapshotChunk { .. })
    ));
    let data = bytes(100);
    let mut meta = meta_of_bytes(LogIndex(1), Term(1), three(), &data);
    store.begin(meta).unwrap();
    assert!(matches!(
        store.write_chunk(10, b"x"),
        Err(StorageError::SnapshotChunk { .. })
    ));
    assert!(matches!(
        store.write_chunk(0, &bytes(101)),
        Err(StorageError::SnapshotChunk { .. })
    ));
    store.write_chunk(0, &data[..50]).unwrap();
    assert!(matches!(
        store.finish(),
        Err(StorageError::SnapshotChunk { .. })
    ));
    meta.checksum ^= 1;
    store.begin(meta).unwrap();
    store.write_chunk(0, &data).unwrap();
    assert!(matches!(
        store.finish(),
        Err(StorageError::SnapshotChunk { .. })
    ));
    assert_eq!(store.latest(), None);
    assert!(!store.is_poisoned());
    // Nothing is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn leftover_temp_file_is_ignored_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let old = store
        .save(LogIndex(5), Term(1), three(), b"old state")
        .unwrap();
    // A crash mid-receive leaves a temp file of a newer snapshot.
    let newer = meta_of_bytes(LogIndex(9), Term(2), three(), b"newer state");
    store.begin(newer).unwrap();
    store.write_chunk(0, b"newer").unwrap();
    drop(store);
    let tmp = dir.path().join(format!("{}.tmp", file_name(&newer)));
    assert!(tmp.exists());
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(old));
    assert!(!tmp.exists());
    assert_eq!(store.read_all().unwrap().unwrap().1, b"old state");
}

#[test]
fn a_new_snapshot_replaces_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    store.save(LogIndex(5), Term(1), three(), b"old").unwrap();
    let new = store.save(LogIndex(9), Term(2), three(), b"new").unwrap();
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(new));
}

#[test]
fn a_damaged_snapshot_file_is_reported_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    store
        .save(LogIndex(5), Term(1), three(), b"some state")
        .unwrap();
    let path = store.latest_path().unwrap();
    drop(store);
    let mut b = fs::read(&path).unwrap();
    b[3] ^= 0x10;
    fs::write(&path, b).unwrap();
    assert!(matches!(
        SnapshotStore::open(dir.path()),
        Err(StorageError::CorruptSnapshot { file }) if file == path
    ));
}

#[test]
fn fsync_failure_while_installing_poisons_and_keeps_the_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultIo::default();
    let mut store = SnapshotStore::open_with(dir.path(), Arc::new(io.clone())).unwrap();
    let old = store.save(LogIndex(5), Term(1), three(), b"old").unwrap();
    io.faults.fail_fsync.store(true, Ordering::SeqCst);
    assert!(matches!(
        store.save(LogIndex(9), Term(2), three(), b"new"),
        Err(StorageError::Io { op: "fsync", .. })
    ));
    io.faults.fail_fsync.store(false, Ordering::SeqCst);
    assert!(matches!(
        store.save(LogIndex(9), Term(2), three(), b"new"),
        Err(StorageError::Poisoned)
    ));
    drop(store);
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(old));
}

#[test]
fn the_membership_is_named_in_the_file_and_read_back_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let members = Membership::new(&[NodeId(1), NodeId(3)], &[NodeId(4), NodeId(7)]).unwrap();
    let meta = store
        .save(LogIndex(12), Term(3), members, b"state")
        .unwrap();
    assert_eq!(meta.members, members);
    drop(store);
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest().map(|m| m.members), Some(members));
    assert_eq!(store.read_all().unwrap().unwrap().1, b"state");
    // A name that is not the canonical spelling of a meta is not a snapshot: uppercase hex,
    // an undecodable membership, the four-field names of before membership changes.
    let name = file_name(&meta);
    let stem = name.strip_suffix(".snap").unwrap();
    let (fields, hex) = stem.rsplit_once('-').unwrap();
    for bad in [
        format!("{fields}-{}.snap", hex.to_uppercase()),
        format!("{fields}-ff{hex}.snap"),
        format!("{fields}-{}.snap", &hex[..hex.len() - 1]),
        format!("{fields}.snap"),
    ] {
        fs::write(dir.path().join(&bad), b"state").unwrap();
    }
    drop(store);
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(meta));
}

/// The capture point at `index` of `term`, three voters.
fn point(index: u64, term: u64) -> raftcore::SnapshotPoint {
    raftcore::SnapshotPoint {
        index: LogIndex(index),
        term: Term(term),
        members: three(),
    }
}

#[test]
fn a_capture_streams_into_place_and_is_adopted_over_the_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let old = store.save(LogIndex(5), Term(1), three(), b"old").unwrap();
    let data = bytes(3 << 20);
    let target = store.capture_target().unwrap();
    // Written by another thread in pieces of every size; the store still serves the old one.
    let (meta, target) = std::thread::spawn(move || {
        let meta = target
            .write(point(9, 2), |out| {
                let mut at = 0;
                let mut n = 1;
                while at < data.len() {
                    let end = (at + n).min(data.len());
                    out.write_all(&data[at..end])?;
                    at = end;
                    n = n * 3 + 1;
                }
                Ok(())
            })
            .unwrap();
        (meta, target)
    })
    .join()
    .unwrap();
    assert_eq!(
        meta,
        meta_of_bytes(LogIndex(9), Term(2), three(), &bytes(3 << 20))
    );
    assert_eq!(store.latest(), Some(old));
    assert_eq!(store.read_all().unwrap().unwrap().1, b"old");
    assert!(store.adopt(meta).unwrap());
    assert_eq!(store.latest(), Some(meta));
    assert_eq!(store.read_all().unwrap().unwrap().1, bytes(3 << 20));
    // The old snapshot's file is the spare the next capture writes over.
    assert_eq!(names(dir.path()), [file_name(&meta), SPARE.to_string()]);
    assert_eq!(fs::read(dir.path().join(SPARE)).unwrap(), b"old");
    // A capture older than what the store holds (an install came first) is deleted.
    let stale = target
        .write(point(7, 2), |out| out.write_all(b"7"))
        .unwrap();
    assert!(!store.adopt(stale).unwrap());
    assert_eq!(store.latest(), Some(meta));
    assert_eq!(names(dir.path()), [file_name(&meta), SPARE.to_string()]);
    assert_eq!(fs::read(dir.path().join(SPARE)).unwrap(), b"7");
    drop(store);
    assert_eq!(
        SnapshotStore::open(dir.path()).unwrap().latest(),
        Some(meta)
    );
    // Open deletes the spare with the other temp files.
    assert_eq!(names(dir.path()), [file_name(&meta)]);
}

/// The names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_crash_during_a_capture_leaves_the_old_snapshot_and_open_removes_the_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let old = store.save(LogIndex(5), Term(1), three(), b"old").unwrap();
    let target = store.capture_target().unwrap();
    // The process dies half way: the writer never returns (here: the thread stops, leaving
    // what it wrote).
    let tmp = target.temp_path(&point(9, 2));
    fs::write(&tmp, bytes(5000)).unwrap();
    drop(store);
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(old));
    assert!(!tmp.exists());
    assert_eq!(store.read_all().unwrap().unwrap().1, b"old");
}

#[test]
fn a_failed_capture_write_removes_its_temp_file_and_keeps_the_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultIo::default();
    let mut store = SnapshotStore::open_with(dir.path(), Arc::new(io.clone())).unwrap();
    let old = store.save(LogIndex(5), Term(1), three(), b"old").unwrap();
    let target = store.capture_target().unwrap();
    io.faults.fill_disk_after(1000);
    let err = target
        .write(point(9, 2), |out| out.write_all(&bytes(2 << 20)))
        .unwrap_err();
    assert!(err.is_disk_full(), "{err:?}");
    assert!(
        err.to_string()
            .contains("capture-0000000000000009.snap.tmp"),
        "{err}"
    );
    // The node poisons the store with it (fail-stop).
    let err = store.capture_failed(err);
    assert!(err.is_disk_full());
    assert!(matches!(
        store.capture_target(),
        Err(StorageError::Poisoned)
    ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(store);
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(old));
    assert_eq!(store.read_all().unwrap().unwrap().1, b"old");
}

#[test]
fn a_flipped_byte_in_a_captured_snapshot_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let target = store.capture_target().unwrap();
    let meta = target
        .write(point(9, 2), |out| out.write_all(&bytes(100_000)))
        .unwrap();
    assert!(store.adopt(meta).unwrap());
    let path = store.latest_path().unwrap();
    drop(store);
    let mut b = fs::read(&path).unwrap();
    b[70_000] ^= 0x01;
    fs::write(&path, &b).unwrap();
    assert!(matches!(
        SnapshotStore::open(dir.path()),
        Err(StorageError::CorruptSnapshot { file }) if file == path
    ));
    // Torn (cut short) as well.
    fs::write(&path, &b[..50_000]).unwrap();
    assert!(matches!(
        SnapshotStore::open(dir.path()),
        Err(StorageError::CorruptSnapshot { file }) if file == path
    ));
}
