//! Issue 16, Build 2: flip every byte of a stopped node's storage, and cut every suffix of
//! every file, one case at a time, and reopen. Each case must either open with the hard state
//! (term, vote, commit) and every synced entry intact, or refuse with an error naming the
//! damaged file (and the offset of the damaged record, where the file has records). None may
//! open having forgotten the vote or a synced entry.
//!
//! The data directory is what `Node::open_with` opens through the storage layer: `LOCK` and
//! `IDENTITY` ([`DataDir`]), `snap/` with one snapshot, and `wal/` with three segments (the
//! first compacted away), the two hard-state copies, entries, a compaction point, and the vote
//! as the last synced record. (`epoch` belongs to the transport and is not swept.)

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use raft_core::{Membership, NodeId};

use super::fault::FaultIo;
use super::{
    DataDir, FileIo, HardState, SnapshotMeta, SnapshotPoint, SnapshotStore, StdIo, StorageError,
    Wal, WalOptions,
};

const NODE: u32 = 1;
const CLUSTER: u32 = 7;
const OPTS: WalOptions = WalOptions { segment_bytes: 160 };
const VOTE: HardState = HardState {
    term: 3,
    voted_for: Some(2),
    commit: 5,
};
const LAST: u64 = 9;
/// Where the snapshot (and the WAL's compaction point) is.
const SNAP: u64 = 4;

fn payload(i: u64) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

fn term_of(i: u64) -> u64 {
    1 + i / 4
}

/// Builds the swept directory, every write synced; returns the snapshot's meta.
fn build(dir: &Path) -> SnapshotMeta {
    let data = DataDir::open(dir, NODE, CLUSTER, &StdIo).unwrap();
    let mut snaps = SnapshotStore::open(data.snap_dir()).unwrap();
    let members = Membership::new(&[NodeId(1), NodeId(2), NodeId(3)], &[]).unwrap();
    let meta = snaps
        .save(SNAP, term_of(SNAP), members, b"kv state at 4")
        .unwrap();
    let (mut wal, _) = Wal::open_with(data.wal_dir(), OPTS, Arc::new(StdIo)).unwrap();
    for i in 1..=LAST {
        wal.append_entry(i, term_of(i), (i % 2) as u8, &payload(i))
            .unwrap();
        if i == 3 {
            wal.set_hard_state(HardState {
                term: 2,
                voted_for: Some(1),
                commit: 1,
            })
            .unwrap();
        }
        wal.sync().unwrap();
        if i == SNAP {
            assert_eq!(wal.compact(SNAP).unwrap(), 1);
        }
    }
    wal.set_hard_state(VOTE).unwrap();
    wal.sync().unwrap();
    assert!(wal.segment_count() >= 2, "{} segments", wal.segment_count());
    meta
}

/// The real file system without fsyncs: the cases reopen copies and never crash the machine,
/// and a thousand reopens' fsyncs would take most of the sweep's time.
fn no_fsync() -> Arc<dyn FileIo> {
    let io = FaultIo::default();
    io.faults.skip_fsync.store(true, Ordering::SeqCst);
    Arc::new(io)
}

/// Reopens the storage of `dir` as a node does; `Ok(None)` if it opened intact, `Ok(Some(what))`
/// if it opened having lost something.
fn reopen(dir: &Path, snap: SnapshotMeta) -> Result<Option<String>, StorageError> {
    let io = no_fsync();
    let data = DataDir::open(dir, NODE, CLUSTER, io.as_ref())?;
    let mut snaps = SnapshotStore::open_with(data.snap_dir(), io.clone())?;
    let got = snaps.read_all()?;
    let (wal, rec) = Wal::open_with(data.wal_dir(), OPTS, io)?;
    if got != Some((snap, b"kv state at 4".to_vec())) {
        return Ok(Some(format!("snapshot {got:?}")));
    }
    let hs = rec.hard_state;
    if (hs.term, hs.voted_for) != (VOTE.term, VOTE.voted_for) || hs.commit < VOTE.commit {
        return Ok(Some(format!("hard state {hs:?}")));
    }
    let point = SnapshotPoint {
        index: SNAP,
        term: term_of(SNAP),
    };
    if rec.snapshot != Some(point) || rec.last_index < LAST {
        return Ok(Some(format!("log {rec:?}")));
    }
    for i in rec.first_index..=LAST {
        let ok = wal
            .entry(i)
            .is_some_and(|e| (e.term, e.payload) == (term_of(i), &payload(i)[..]));
        if !ok {
            return Ok(Some(format!("entry {i}")));
        }
    }
    Ok(None)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for file in files(from) {
        let dest = to.join(file.strip_prefix(from).unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&file, dest).unwrap();
    }
}

/// The file an error names, if it names one, and whether it names an offset too.
fn named_file(e: &StorageError) -> Option<(&Path, bool)> {
    match e {
        StorageError::Corrupt { file, .. } | StorageError::CorruptState { file, .. } => {
            Some((file, true))
        }
        // A snapshot is checked whole against the length and CRC in its name: the damage
        // cannot be placed at an offset.
        StorageError::CorruptSnapshot { file } => Some((file, false)),
        _ => None,
    }
}

#[derive(Default, Debug)]
struct Tally {
    intact: usize,
    refused: usize,
    refused_whole_file: usize,
    failures: Vec<String>,
}

impl Tally {
    fn case(
        &mut self,
        what: String,
        damaged: &Path,
        outcome: Result<Option<String>, StorageError>,
    ) {
        match outcome {
            Ok(None) => self.intact += 1,
            Ok(Some(lost)) => self
                .failures
                .push(format!("{what}: opened but lost {lost}")),
            Err(e) => match named_file(&e) {
                Some((file, true)) if file == damaged => self.refused += 1,
                Some((file, false)) if file == damaged => self.refused_whole_file += 1,
                _ => self
                    .failures
                    .push(format!("{what}: refused without naming the file: {e}")),
            },
        }
    }
}

#[test]
fn every_flipped_byte_and_every_cut_either_opens_intact_or_is_refused_naming_the_file() {
    let src = tempfile::tempdir().unwrap();
    let snap = build(src.path());
    for file in files(src.path()) {
        let len = fs::metadata(&file).unwrap().len();
        println!(
            "swept: {} ({len} bytes)",
            file.strip_prefix(src.path()).unwrap().display()
        );
    }
    let mut tally = Tally::default();
    let mut cases = 0;
    for file in files(src.path()) {
        let rel = file.strip_prefix(src.path()).unwrap().to_path_buf();
        let bytes = fs::read(&file).unwrap();
        let flips = (0..bytes.len()).map(|i| {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            (format!("{} byte {i} flipped", rel.display()), b)
        });
        let cuts = (0..bytes.len()).map(|len| {
            (
                format!("{} cut to {len} bytes", rel.display()),
                bytes[..len].to_vec(),
            )
        });
        for (what, damaged_bytes) in flips.chain(cuts) {
            cases += 1;
            let case = tempfile::tempdir().unwrap();
            copy_tree(src.path(), case.path());
            let damaged = case.path().join(&rel);
            fs::write(&damaged, damaged_bytes).unwrap();
            tally.case(what, &damaged, reopen(case.path(), snap));
        }
    }
    println!(
        "storage sweep: {cases} cases over {} files: {} opened intact, {} refused naming file and \
         offset, {} refused naming the snapshot file (whole-file checksum), {} opened having lost \
         something",
        files(src.path()).len(),
        tally.intact,
        tally.refused,
        tally.refused_whole_file,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert_eq!(
        tally.intact + tally.refused + tally.refused_whole_file,
        cases
    );
    // The sweep exercised both outcomes.
    assert!(tally.intact > 0 && tally.refused > 0, "{tally:?}");
}
