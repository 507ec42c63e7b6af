//! The synced mark: a synced WAL record is never cut as a torn tail, and the hard-state copies
//! survive the loss of either one.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::hardstate::FILES;
use super::{HardState, StdIo, StorageError, Wal, WalOptions};

fn open(dir: &Path, segment_bytes: u64) -> Result<(Wal, super::Recovered), StorageError> {
    Wal::open_with(dir, WalOptions { segment_bytes }, Arc::new(StdIo))
}

const VOTE: HardState = HardState {
    term: 3,
    voted_for: Some(2),
    commit: 2,
};

/// Entries 1..=4, then the vote as the last record, all synced. Returns the segment and the
/// offset of the vote record.
fn entries_then_vote(dir: &Path) -> (PathBuf, u64) {
    let (mut wal, _) = open(dir, 1 << 20).unwrap();
    for i in 1..=4 {
        wal.append_entry(i, 1, 0, format!("entry {i}").as_bytes())
            .unwrap();
    }
    wal.sync().unwrap();
    let vote_at = wal.write_position();
    wal.set_hard_state(VOTE).unwrap();
    wal.sync().unwrap();
    let seg = dir.join("0000000000000000-0000000000000001.wal");
    // A new vote rewrites the hard-state copies, with the mark past the vote's batch.
    assert_eq!(wal.synced_mark().offset, wal.write_position());
    (seg, vote_at)
}

fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).unwrap();
    f(&mut bytes);
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_in_the_synced_vote_record_is_corrupt_not_a_torn_tail() {
    // Issue 16: the last, synced record (the term/vote) was cut as a torn tail and the node
    // rejoined without its vote.
    let dir = tempfile::tempdir().unwrap();
    let (seg, vote_at) = entries_then_vote(dir.path());
    rewrite(&seg, |b| b[vote_at as usize + 12] ^= 0x01);
    match open(dir.path(), 1 << 20) {
        Err(StorageError::Corrupt { file, offset }) => assert_eq!((file, offset), (seg, vote_at)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_synced_segment_cut_short_is_corrupt_at_the_first_missing_record() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, vote_at) = entries_then_vote(dir.path());
    let len = fs::metadata(&seg).unwrap().len();
    for (cut, at) in [
        (vote_at, vote_at),
        (vote_at + 3, vote_at),
        (len - 1, len - 1),
    ] {
        let case = tempfile::tempdir().unwrap();
        for entry in fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            fs::copy(&p, case.path().join(p.file_name().unwrap())).unwrap();
        }
        let torn = case.path().join(seg.file_name().unwrap());
        rewrite(&torn, |b| b.truncate(cut as usize));
        assert!(
            matches!(open(case.path(), 1 << 20),
                Err(StorageError::Corrupt { file, offset }) if file == torn && offset == at),
            "cut at {cut}"
        );
    }
}

#[test]
fn bytes_past_the_synced_mark_are_still_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = entries_then_vote(dir.path());
    let synced = open(dir.path(), 1 << 20).unwrap().0.write_position();
    // An unsynced batch half written when the machine died: a whole record and a torn one.
    let mut batch = Vec::new();
    super::Record::Entry {
        index: 5,
        term: 3,
        kind: 0,
        payload: b"unsynced",
    }
    .encode_framed(&mut batch);
    let whole = batch.len();
    super::Record::Entry {
        index: 6,
        term: 3,
        kind: 0,
        payload: b"torn",
    }
    .encode_framed(&mut batch);
    let at = synced as usize;
    rewrite(&seg, |b| {
        b[at..at + batch.len() - 2].copy_from_slice(&batch[..batch.len() - 2]);
    });
    let (wal, rec) = open(dir.path(), 1 << 20).unwrap();
    assert_eq!((rec.hard_state, rec.last_index), (VOTE, 5));
    let torn = rec.torn_tail.unwrap();
    assert_eq!(torn.offset, synced + whole as u64);
    assert_eq!(wal.synced_mark().offset, torn.offset);
}

#[test]
fn a_closed_segment_cut_at_a_record_boundary_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), 64).unwrap();
    for i in 1..=6 {
        wal.append_entry(i, 1, 0, &[7; 40]).unwrap();
        wal.sync().unwrap();
    }
    drop(wal);
    let mut segs: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segs.sort();
    // Segment 1 holds its header (the hard state and a seal) and one entry: zero everything
    // after the header, as if the segment had been cut at that record boundary and its
    // preallocation kept.
    let second = &segs[1];
    let header = (8 + 22 + super::record::SEAL_FRAME) as u64;
    rewrite(second, |b| b[header as usize..].fill(0));
    assert!(matches!(
        open(dir.path(), 64),
        Err(StorageError::Corrupt { file, offset }) if &file == second && offset == header
    ));
}

#[test]
fn either_hard_state_copy_may_be_lost_and_is_rewritten() {
    for lost in FILES {
        for damage in [0usize, 1] {
            let dir = tempfile::tempdir().unwrap();
            entries_then_vote(dir.path());
            let copy = dir.path().join(lost);
            if damage == 0 {
                fs::remove_file(&copy).unwrap();
            } else {
                rewrite(&copy, |b| b[30] ^= 0xff);
            }
            let (wal, rec) = open(dir.path(), 1 << 20).unwrap();
            assert_eq!((rec.hard_state, rec.last_index), (VOTE, 4), "{lost}");
            assert_eq!(rec.damaged_hard_state_copy, Some(copy.clone()));
            drop(wal);
            let (_, rec) = open(dir.path(), 1 << 20).unwrap();
            assert_eq!(
                rec.damaged_hard_state_copy, None,
                "{lost} was not rewritten"
            );
        }
    }
}

#[test]
fn both_hard_state_copies_damaged_is_refused_naming_one() {
    let dir = tempfile::tempdir().unwrap();
    entries_then_vote(dir.path());
    for name in FILES {
        rewrite(&dir.path().join(name), |b| b.truncate(10));
    }
    assert!(matches!(
        open(dir.path(), 1 << 20),
        Err(StorageError::CorruptState { file, offset: 0, .. }) if file == dir.path().join(FILES[0])
    ));
}

#[test]
fn a_wal_without_hard_state_copies_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    entries_then_vote(dir.path());
    for name in FILES {
        fs::remove_file(dir.path().join(name)).unwrap();
    }
    let (wal, rec) = open(dir.path(), 1 << 20).unwrap();
    assert_eq!((rec.hard_state, rec.last_index), (VOTE, 4));
    assert_eq!(rec.damaged_hard_state_copy, None);
    let synced = wal.synced_mark();
    drop(wal);
    for name in FILES {
        assert!(dir.path().join(name).exists());
    }
    let (wal, _) = open(dir.path(), 1 << 20).unwrap();
    assert_eq!(wal.synced_mark(), synced);
}
