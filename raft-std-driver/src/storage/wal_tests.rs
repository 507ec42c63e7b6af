//! WAL behaviour: recovery after crashes at every byte, corruption reports, fail-stop.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fault::FaultIo;
use super::{HardState, SnapshotPoint, StdIo, StorageError, Wal, WalOptions};

fn opts(segment_bytes: u64) -> WalOptions {
    WalOptions { segment_bytes }
}

fn open(dir: &Path) -> Result<(Wal, super::Recovered), StorageError> {
    Wal::open_with(dir, opts(1 << 20), Arc::new(StdIo))
}

fn payload(i: u64) -> Vec<u8> {
    format!("entry-{i}")
        .repeat((i % 4 + 1) as usize)
        .into_bytes()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

fn assert_entries(wal: &Wal, upto: u64) {
    assert_eq!(wal.last_index(), upto);
    for i in wal.first_index()..=upto {
        let e = wal.entry(i).unwrap_or_else(|| panic!("entry {i} missing"));
        assert_eq!(
            (e.term, e.kind, e.payload),
            (i / 3 + 1, (i % 2) as u8, &payload(i)[..])
        );
    }
}

#[test]
fn new_wal_is_empty_and_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, rec) = open(dir.path()).unwrap();
    assert_eq!((rec.first_index, rec.last_index), (1, 0));
    assert_eq!(rec.hard_state, HardState::default());
    assert_eq!(rec.snapshot, None);
    drop(wal);
    let (_, rec) = open(dir.path()).unwrap();
    assert_eq!((rec.last_index, rec.torn_tail), (0, None));
}

#[test]
fn synced_entries_and_hard_state_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path()).unwrap();
    for i in 1..=20 {
        wal.append_entry(i, i / 3 + 1, (i % 2) as u8, &payload(i))
            .unwrap();
    }
    let hs = HardState {
        term: 7,
        voted_for: Some(3),
        commit: 12,
    };
    wal.set_hard_state(hs).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(dir.path()).unwrap();
    assert_eq!(rec.hard_state, hs);
    assert_eq!((rec.first_index, rec.last_index), (1, 20));
    assert_entries(&wal, 20);
}

#[test]
fn entries_are_readable_before_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path()).unwrap();
    wal.append_entry(1, 1, 0, b"a").unwrap();
    assert_eq!(wal.entry(1).map(|e| e.payload), Some(&b"a"[..]));
}

#[test]
fn truncate_then_append_replaces_the_suffix_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path()).unwrap();
    for i in 1..=5 {
        wal.append_entry(i, 1, 0, b"old").unwrap();
    }
    wal.sync().unwrap();
    wal.truncate_from(3).unwrap();
    assert_eq!(wal.last_index(), 2);
    wal.append_entry(3, 2, 0, b"new3").unwrap();
    wal.append_entry(4, 2, 0, b"new4").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(dir.path()).unwrap();
    assert_eq!(rec.last_index, 4);
    assert_eq!(wal.entry(2).unwrap().payload, b"old");
    assert_eq!(wal.entry(3).unwrap().payload, b"new3");
    assert_eq!(wal.entry(4).unwrap().term, 2);
    assert!(wal.entry(5).is_none());
}

#[test]
fn appends_must_be_contiguous_and_truncation_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path()).unwrap();
    assert!(matches!(
        wal.append_entry(2, 1, 0, b""),
        Err(StorageError::NonContiguous {
            expected: 1,
            got: 2
        })
    ));
    wal.append_entry(1, 1, 0, b"").unwrap();
    assert!(matches!(
        wal.truncate_from(3),
        Err(StorageError::OutOfRange { index: 3 })
    ));
    assert!(matches!(
        wal.truncate_from(0),
        Err(StorageError::OutOfRange { index: 0 })
    ));
    // Usage errors do not poison.
    assert!(!wal.is_poisoned());
    wal.sync().unwrap();
}

/// Writes 1..=n, syncing after each entry, and returns the file length after each sync.
fn write_synced(dir: &Path, n: u64) -> (PathBuf, Vec<u64>) {
    let (mut wal, _) = open(dir).unwrap();
    let mut lens = vec![];
    for i in 1..=n {
        wal.append_entry(i, i / 3 + 1, (i % 2) as u8, &payload(i))
            .unwrap();
        if i == n / 2 {
            wal.set_hard_state(HardState {
                term: 2,
                voted_for: Some(1),
                ..Default::default()
            })
            .unwrap();
        }
        wal.sync().unwrap();
        lens.push(wal.write_position());
    }
    (segments(dir).pop().unwrap(), lens)
}

#[test]
fn a_write_torn_at_every_byte_of_the_last_batches_loses_nothing_synced_before_it() {
    let src = tempfile::tempdir().unwrap();
    let n = 12;
    let (seg, lens) = write_synced(src.path(), n);
    let full = fs::read(&seg).unwrap();
    let name = seg.file_name().unwrap();
    let end = lens[(n - 1) as usize] as usize;
    // The last four batches, byte by byte: the preallocated file keeps its length and what
    // was not written is still zero-fill.
    let from = lens[(n - 5) as usize] as usize;
    for cut in from..=end {
        let dir = tempfile::tempdir().unwrap();
        for file in fs::read_dir(src.path()).unwrap() {
            let file = file.unwrap().path();
            fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
        }
        let mut torn = full.clone();
        torn[cut..end].fill(0);
        fs::write(dir.path().join(name), &torn).unwrap();
        let (mut wal, rec) = open(dir.path()).unwrap();
        // Every entry whose sync completed at or before `cut` is there; the next one too if
        // its record is whole (only its seal torn).
        let durable = lens.iter().filter(|&&l| l as usize <= cut).count() as u64;
        assert!(
            (durable..=durable + 1).contains(&rec.last_index),
            "cut at {cut}: {rec:?}"
        );
        assert_entries(&wal, rec.last_index);
        let durable = rec.last_index;
        // The torn bytes are zero-fill again and the log takes new appends.
        let on_disk = fs::read(dir.path().join(name)).unwrap();
        assert_eq!(on_disk.len(), full.len());
        assert!(on_disk[wal.write_position() as usize..]
            .iter()
            .all(|&b| b == 0));
        wal.append_entry(durable + 1, 9, 0, b"after").unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (wal, rec) = open(dir.path()).unwrap();
        assert_eq!((rec.last_index, rec.torn_tail), (durable + 1, None));
        assert_eq!(wal.entry(durable + 1).unwrap().payload, b"after");
    }
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, lens) = write_synced(dir.path(), 3);
    let mut bytes = fs::read(&seg).unwrap();
    let at = lens[2] as usize;
    bytes[at..at + 4096].fill(0xab);
    fs::write(&seg, &bytes).unwrap();
    let (wal, rec) = open(dir.path()).unwrap();
    assert_entries(&wal, 3);
    let torn = rec.torn_tail.unwrap();
    assert_eq!((torn.offset, torn.dropped_bytes), (lens[2], 4096));
    assert!(fs::read(&seg).unwrap()[at..].iter().all(|&b| b == 0));
}

#[test]
fn flipped_byte_in_a_middle_record_is_corrupt_at_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, lens) = write_synced(dir.path(), 10);
    let record_start = lens[3]; // the 5th entry's frame starts where the 4th sync ended
    let mut bytes = fs::read(&seg).unwrap();
    bytes[record_start as usize + 12] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    match open(dir.path()) {
        Err(StorageError::Corrupt { file, offset }) => {
            assert_eq!((file, offset), (seg, record_start));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn flipped_length_in_a_middle_record_is_corrupt_not_torn() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, lens) = write_synced(dir.path(), 10);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[lens[6] as usize] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        open(dir.path()),
        Err(StorageError::Corrupt { offset, .. }) if offset == lens[6]
    ));
}

/// Ten synced 40-byte entries in 64-byte segments (so in several segments), the WAL closed.
fn ten_entries_in_small_segments(dir: &Path) {
    let (mut wal, _) = Wal::open_with(dir, opts(64), Arc::new(StdIo)).unwrap();
    for i in 1..=10 {
        wal.append_entry(i, 1, 0, &[7; 40]).unwrap();
        wal.sync().unwrap();
    }
}

#[test]
fn damage_in_an_earlier_segment_is_corrupt_even_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    ten_entries_in_small_segments(dir.path());
    let segs = segments(dir.path());
    assert!(segs.len() > 2);
    let first = &segs[0];
    let len = fs::metadata(first).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    assert!(matches!(
        Wal::open_with(dir.path(), opts(64), Arc::new(StdIo)),
        Err(StorageError::Corrupt { file, .. }) if &file == first
    ));
}

#[test]
fn a_missing_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    ten_entries_in_small_segments(dir.path());
    fs::remove_file(&segments(dir.path())[1]).unwrap();
    assert!(matches!(
        Wal::open_with(dir.path(), opts(64), Arc::new(StdIo)),
        Err(StorageError::Inconsistent { .. })
    ));
}

#[test]
fn injected_fsync_failure_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultIo::default();
    let (mut wal, _) = Wal::open_with(dir.path(), opts(1 << 20), Arc::new(io.clone())).unwrap();
    wal.append_entry(1, 1, 0, b"a").unwrap();
    wal.sync().unwrap();
    wal.append_entry(2, 1, 0, b"b").unwrap();
    io.faults.fail_fsync.store(true, Ordering::SeqCst);
    assert!(matches!(
        wal.sync(),
        Err(StorageError::Io { op: "fsync", .. })
    ));
    // Even with the disk healthy again, nothing is retried or accepted.
    io.faults.fail_fsync.store(false, Ordering::SeqCst);
    assert!(wal.is_poisoned());
    assert!(matches!(wal.sync(), Err(StorageError::Poisoned)));
    assert!(matches!(
        wal.append_entry(3, 1, 0, b"c"),
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(
        wal.set_hard_state(HardState::default()),
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(wal.compact(1), Err(StorageError::Poisoned)));
    assert!(StorageError::Poisoned.is_fatal());
}

#[test]
fn injected_write_failure_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultIo::default();
    let (mut wal, _) = Wal::open_with(dir.path(), opts(1 << 20), Arc::new(io.clone())).unwrap();
    wal.append_entry(1, 1, 0, b"a").unwrap();
    io.faults.fail_write.store(true, Ordering::SeqCst);
    assert!(matches!(
        wal.sync(),
        Err(StorageError::Io { op: "write", .. })
    ));
    assert!(matches!(wal.truncate_from(1), Err(StorageError::Poisoned)));
}

#[test]
fn segments_roll_and_compaction_deletes_covered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open_with(dir.path(), opts(200), Arc::new(StdIo)).unwrap();
    // The commit index rides in the hard-state record that every new segment restates.
    let hs = HardState {
        term: 4,
        voted_for: Some(2),
        commit: 9,
    };
    wal.set_hard_state(hs).unwrap();
    for i in 1..=40 {
        wal.append_entry(i, i / 3 + 1, (i % 2) as u8, &payload(i))
            .unwrap();
        if i % 3 == 0 {
            wal.sync().unwrap();
        }
    }
    wal.sync().unwrap();
    let before = wal.segment_count();
    assert!(before > 4, "{before} segments");
    let removed = wal.compact(30).unwrap();
    assert!(removed > 0);
    assert_eq!(wal.segment_count(), before - removed);
    assert_eq!(segments(dir.path()).len(), wal.segment_count());
    assert_eq!(wal.first_index(), 31);
    assert_eq!(wal.term(30), Some(30 / 3 + 1));
    assert!(wal.entry(30).is_none());
    drop(wal);
    let (wal, rec) = Wal::open_with(dir.path(), opts(200), Arc::new(StdIo)).unwrap();
    assert_eq!(rec.hard_state, hs);
    assert_eq!(
        rec.snapshot,
        Some(SnapshotPoint {
            index: 30,
            term: 11
        })
    );
    assert_eq!((rec.first_index, rec.last_index), (31, 40));
    assert_entries(&wal, 40);
}

#[test]
fn compaction_keeps_segments_with_live_entries_above_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open_with(dir.path(), opts(100), Arc::new(StdIo)).unwrap();
    for i in 1..=20 {
        wal.append_entry(i, 1, 0, &[1; 30]).unwrap();
        wal.sync().unwrap();
    }
    let removed = wal.compact(1).unwrap();
    // Only a segment whose successor starts at or below index 2 may go.
    assert!(removed <= 1);
    drop(wal);
    let (wal, rec) = Wal::open_with(dir.path(), opts(100), Arc::new(StdIo)).unwrap();
    assert_eq!((rec.first_index, rec.last_index), (2, 20));
    assert!(wal.entry(2).is_some());
}

#[test]
fn compacting_past_the_log_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path()).unwrap();
    wal.append_entry(1, 1, 0, b"").unwrap();
    assert!(matches!(
        wal.compact(2),
        Err(StorageError::OutOfRange { index: 2 })
    ));
}

#[test]
fn installed_snapshot_with_other_term_discards_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path()).unwrap();
    for i in 1..=5 {
        wal.append_entry(i, 1, 0, b"x").unwrap();
    }
    wal.install_snapshot(SnapshotPoint { index: 8, term: 3 })
        .unwrap();
    wal.compact(8).unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (9, 8));
    wal.append_entry(9, 3, 0, b"nine").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(dir.path()).unwrap();
    assert_eq!(rec.snapshot, Some(SnapshotPoint { index: 8, term: 3 }));
    assert_eq!((rec.first_index, rec.last_index), (9, 9));
    assert_eq!(wal.entry(9).unwrap().payload, b"nine");
}

#[test]
fn a_crash_after_rolling_keeps_the_new_segments_header() {
    // Roll, then crash with nothing appended to the new segment: it still replays.
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open_with(dir.path(), opts(10), Arc::new(StdIo)).unwrap();
    wal.set_hard_state(HardState {
        term: 3,
        voted_for: None,
        ..Default::default()
    })
    .unwrap();
    wal.append_entry(1, 3, 0, b"one").unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.segment_count(), 2);
    drop(wal);
    let (_, rec) = Wal::open_with(dir.path(), opts(10), Arc::new(StdIo)).unwrap();
    assert_eq!((rec.hard_state.term, rec.last_index), (3, 1));
}

#[test]
fn a_segment_torn_while_being_started_gets_a_fresh_header_before_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(150);
    let hs = HardState {
        term: 6,
        voted_for: Some(1),
        ..Default::default()
    };
    let (mut wal, _) = Wal::open_with(dir.path(), o, Arc::new(StdIo)).unwrap();
    wal.set_hard_state(hs).unwrap();
    for i in 1..=4 {
        wal.append_entry(i, 6, 0, &[1; 30]).unwrap();
    }
    wal.sync().unwrap();
    wal.compact(2).unwrap();
    for i in 5..=8 {
        wal.append_entry(i, 6, 0, &[1; 30]).unwrap();
    }
    wal.sync().unwrap(); // rolls: the new segment's header holds the hard state and snapshot
    drop(wal);
    let last = segments(dir.path()).pop().unwrap();
    let bytes = fs::read(&last).unwrap();
    let header_len = bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    // Every cut of the header: empty, mid-record, and exactly after the hard state record.
    for cut in 0..header_len {
        let case = tempfile::tempdir().unwrap();
        for seg in segments(dir.path()) {
            fs::copy(&seg, case.path().join(seg.file_name().unwrap())).unwrap();
        }
        let torn = case.path().join(last.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (mut wal, _) = Wal::open_with(case.path(), o, Arc::new(StdIo)).unwrap();
        wal.compact(8).unwrap();
        drop(wal);
        let (wal, rec) = Wal::open_with(case.path(), o, Arc::new(StdIo)).unwrap();
        assert_eq!(rec.hard_state, hs, "cut {cut}");
        assert_eq!(
            rec.snapshot,
            Some(SnapshotPoint { index: 8, term: 6 }),
            "cut {cut}"
        );
        assert_eq!(wal.last_index(), 8, "cut {cut}");
    }
}
