//! Issue 16, Builds 2 and 3: flip every byte of a stopped node's storage, and cut every suffix
//! of every file, one case at a time, and reopen as a node does (`Wal::open_repairing`). Each
//! case must either open with the hard state (term, vote, commit) and every synced entry
//! intact; or open *repaired*: the vote intact, an intact prefix of the log, and a vote floor
//! at least every acknowledged index (and above the kept log), which survives a reopen, with
//! later appends well formed; or refuse with an error naming the damaged file (and the offset
//! of the damaged record, where the file has records). None may open having forgotten the
//! vote or an acknowledged entry without a floor covering it.
//!
//! The data directory is what `Node::open_with` opens through the storage layer: `LOCK` and
//! `IDENTITY` ([`DataDir`]), `snap/` with one snapshot, and `wal/` with preallocated
//! segments (the first ones compacted away), the two hard-state copies, entries, a compaction
//! point, the vote, then one more acknowledged entry past the copies' mark (only its seal
//! marks it synced), and past it what a crash mid-batch leaves (a whole unsynced record and a
//! torn one), which may be kept or cut. The WAL is swept a second time without those
//! leftovers, so that nothing but the last batch's own seal follows it. (`epoch` belongs to
//! the transport and is not swept.)

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use raftcore::{LogIndex, Membership, NodeId, Term};

use super::fault::FaultIo;
use super::{
    DataDir, FileIo, HardState, Record, SnapshotMeta, SnapshotPoint, SnapshotStore, StdIo,
    StorageError, Wal, WalOptions,
};

const NODE: u32 = 1;
const CLUSTER: u32 = 7;
const OPTS: WalOptions = WalOptions { segment_bytes: 256 };
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

/// Builds the swept directory, every write synced, then (if `crash_tail`) what a crash
/// mid-batch leaves after it; returns the snapshot's meta.
fn build(dir: &Path, crash_tail: bool) -> SnapshotMeta {
    let data = DataDir::open(dir, NODE, CLUSTER, &StdIo).unwrap();
    let mut snaps = SnapshotStore::open(data.snap_dir()).unwrap();
    let members = Membership::new(&[NodeId(1), NodeId(2), NodeId(3)], &[]).unwrap();
    let meta = snaps
        .save(
            LogIndex(SNAP),
            Term(term_of(SNAP)),
            members,
            b"kv state at 4",
        )
        .unwrap();
    let (mut wal, _) = Wal::open_with(data.wal_dir(), OPTS, Arc::new(StdIo)).unwrap();
    for i in 1..LAST {
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
            let deleted = wal.compact(SNAP).unwrap();
            assert!(deleted >= 1, "{deleted} segments deleted");
        }
    }
    wal.set_hard_state(VOTE).unwrap();
    wal.sync().unwrap();
    // The last acknowledged entry, synced past the mark the hard-state copies carry (they are
    // rewritten only when the term or vote changes): only its seals mark it synced.
    wal.append_entry(LAST, term_of(LAST), 0, &payload(LAST))
        .unwrap();
    wal.sync().unwrap();
    let mark = wal.synced_mark();
    assert!(
        mark.offset < wal.write_position(),
        "{mark:?} {}",
        wal.write_position()
    );
    assert!(wal.segment_count() >= 2, "{} segments", wal.segment_count());
    // What a crash in the middle of the next, unsynced batch leaves past the synced mark: one
    // whole record and the start of another. Never acknowledged, so it may be kept or cut.
    let at = wal.write_position() as usize;
    drop(wal);
    if !crash_tail {
        return meta;
    }
    let last = files(&data.wal_dir())
        .into_iter()
        .rfind(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let name = last.file_name().unwrap().to_string_lossy();
    assert!(
        name.starts_with(&format!("{:016x}", mark.segment)),
        "{mark:?}, {name}"
    );
    let mut tail = Vec::new();
    for i in LAST + 1..=LAST + 2 {
        Record::Entry {
            index: i,
            term: VOTE.term,
            kind: 0,
            payload: &payload(i),
        }
        .encode_framed(&mut tail);
    }
    tail.truncate(tail.len() - 5);
    let mut bytes = fs::read(&last).unwrap();
    bytes[at..at + tail.len()].copy_from_slice(&tail);
    fs::write(&last, bytes).unwrap();
    meta
}

/// The real file system without fsyncs: the cases reopen copies and never crash the machine,
/// and a thousand reopens' fsyncs would take most of the sweep's time.
fn no_fsync() -> Arc<dyn FileIo> {
    let io = FaultIo::default();
    io.faults.skip_fsync.store(true, Ordering::SeqCst);
    Arc::new(io)
}

/// How a case that opened came out.
enum Opened {
    /// Nothing needed fixing.
    Intact,
    /// Everything is there after a repair: a damaged hard-state copy rewritten, or bytes past
    /// the synced mark cut.
    Fixed,
    /// The vote and an intact prefix of the log are there, with a vote floor covering every
    /// acknowledged index (protocol-aware repair).
    Repaired,
    /// Something synced is missing or wrong.
    Lost(String),
}

/// Reopens the storage of `dir` as a node does.
fn reopen(dir: &Path, snap: SnapshotMeta) -> Result<Opened, StorageError> {
    let io = no_fsync();
    let data = DataDir::open(dir, NODE, CLUSTER, io.as_ref())?;
    let mut snaps = SnapshotStore::open_with(data.snap_dir(), io.clone())?;
    let got = snaps.read_all()?;
    let snapshot_index = snaps.latest().map_or(0, |m| m.index.0);
    let (wal, rec) = Wal::open_repairing(data.wal_dir(), OPTS, io.clone(), snapshot_index)?;
    if got != Some((snap, b"kv state at 4".to_vec())) {
        return Ok(Opened::Lost(format!("snapshot {got:?}")));
    }
    let hs = rec.hard_state;
    // A repaired case keeps the kept prefix's own commit index (see `repair`).
    let repaired = rec.repaired.is_some() || rec.vote_floor > 0;
    if (hs.term, hs.voted_for) != (VOTE.term, VOTE.voted_for)
        || (hs.commit < VOTE.commit && !repaired)
    {
        return Ok(Opened::Lost(format!("hard state {hs:?}")));
    }
    let point = SnapshotPoint {
        index: SNAP,
        term: term_of(SNAP),
    };
    if rec.snapshot != Some(point) {
        return Ok(Opened::Lost(format!("log {rec:?}")));
    }
    if repaired {
        return check_repaired(dir, wal, rec, io);
    }
    if rec.last_index < LAST {
        return Ok(Opened::Lost(format!("log {rec:?}")));
    }
    for i in rec.first_index..=LAST {
        let ok = wal
            .entry(i)
            .is_some_and(|e| (e.term, e.payload) == (term_of(i), &payload(i)[..]));
        if !ok {
            return Ok(Opened::Lost(format!("entry {i}")));
        }
    }
    if rec.damaged_hard_state_copy.is_some() || rec.torn_tail.is_some() {
        return Ok(Opened::Fixed);
    }
    Ok(Opened::Intact)
}

/// A case opened with a vote floor: the kept entries must be the synced ones, the floor must
/// cover every acknowledged index (up to `LAST`) and lie above the kept log, and the repaired
/// WAL must take a new entry and reopen (without repairing) with the floor still there.
fn check_repaired(
    dir: &Path,
    mut wal: Wal,
    rec: super::Recovered,
    io: Arc<dyn FileIo>,
) -> Result<Opened, StorageError> {
    let floor = rec.vote_floor;
    if rec.repaired.as_ref().map(|r| r.vote_floor) != Some(floor) {
        return Ok(Opened::Lost(format!("a floor without a repair: {rec:?}")));
    }
    if floor < LAST || floor <= rec.last_index {
        return Ok(Opened::Lost(format!("vote floor {floor} for {rec:?}")));
    }
    for i in rec.first_index..=rec.last_index {
        let ok = wal
            .entry(i)
            .is_some_and(|e| (e.term, e.payload) == (term_of(i), &payload(i)[..]));
        if !ok {
            return Ok(Opened::Lost(format!("kept entry {i} is wrong")));
        }
    }
    let next = rec.last_index + 1;
    wal.append_entry(next, VOTE.term, 0, b"after the repair")?;
    wal.sync()?;
    drop(wal);
    let (wal, again) = Wal::open_with(dir.join("wal"), OPTS, io)?;
    let hs = again.hard_state;
    if (hs.term, hs.voted_for) != (VOTE.term, VOTE.voted_for)
        || again.vote_floor != floor
        || wal.entry(next).map(|e| e.payload) != Some(&b"after the repair"[..])
    {
        return Ok(Opened::Lost(format!("after reopening: {again:?}")));
    }
    Ok(Opened::Repaired)
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
    cases: usize,
    intact: usize,
    fixed: usize,
    repaired: usize,
    refused: usize,
    refused_whole_file: usize,
    /// Of `repaired`, the cases whose damage was in a segment before the last.
    repaired_earlier: usize,
    failures: Vec<String>,
}

/// Whether `file` is a WAL segment with a later one beside it (segment names sort in order).
fn is_earlier_segment(file: &Path) -> bool {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return false;
    };
    name.to_string_lossy().ends_with(".wal")
        && files(dir).iter().any(|f| {
            f.extension().is_some_and(|e| e == "wal") && f.file_name().is_some_and(|n| n > name)
        })
}

impl Tally {
    /// Counts one case; `earlier` says the damaged file is a segment before the last.
    fn case(
        &mut self,
        what: String,
        damaged: &Path,
        earlier: bool,
        outcome: Result<Opened, StorageError>,
    ) {
        match outcome {
            Ok(Opened::Intact) => self.intact += 1,
            Ok(Opened::Fixed) => self.fixed += 1,
            Ok(Opened::Repaired) => {
                self.repaired += 1;
                self.repaired_earlier += usize::from(earlier);
            }
            Ok(Opened::Lost(lost)) => self
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

/// Flips every byte and cuts every suffix of each file of `src` that `swept` selects, one case
/// at a time, and reopens.
fn sweep(src: &Path, snap: SnapshotMeta, swept: impl Fn(&Path) -> bool, tally: &mut Tally) {
    for file in files(src).into_iter().filter(|f| swept(f)) {
        let rel = file.strip_prefix(src).unwrap().to_path_buf();
        let bytes = fs::read(&file).unwrap();
        let earlier = is_earlier_segment(&file);
        println!("swept: {} ({} bytes)", rel.display(), bytes.len());
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
            tally.cases += 1;
            let case = tempfile::tempdir().unwrap();
            copy_tree(src, case.path());
            let damaged = case.path().join(&rel);
            fs::write(&damaged, damaged_bytes).unwrap();
            tally.case(what, &damaged, earlier, reopen(case.path(), snap));
        }
    }
}

#[test]
fn every_flipped_byte_and_every_cut_opens_intact_or_repaired_with_a_vote_floor_or_is_refused() {
    let mut tally = Tally::default();
    // The whole directory, with a crash's leftovers after the last acknowledged batch.
    let src = tempfile::tempdir().unwrap();
    let snap = build(src.path(), true);
    sweep(src.path(), snap, |_| true, &mut tally);
    // The WAL again without them: the last acknowledged batch is followed only by zero-fill,
    // so only its own seal tells a damaged record of it from a torn one.
    let clean = tempfile::tempdir().unwrap();
    let snap = build(clean.path(), false);
    let wal = clean.path().join("wal");
    sweep(clean.path(), snap, |f| f.starts_with(&wal), &mut tally);
    let cases = tally.cases;
    println!(
        "storage sweep: {cases} cases: {} started intact ({} of them after cutting a torn tail \
         or rewriting a hard-state copy), {} repaired (intact prefix kept, vote floor over every \
         acknowledged index; {} of them damaged in a segment before the last), {} refused naming \
         file and offset, {} refused naming the snapshot file (whole-file checksum), {} opened \
         having lost something",
        tally.intact + tally.fixed,
        tally.fixed,
        tally.repaired,
        tally.repaired_earlier,
        tally.refused,
        tally.refused_whole_file,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert_eq!(
        tally.intact + tally.fixed + tally.repaired + tally.refused + tally.refused_whole_file,
        cases
    );
    // Damage to a hard-state copy or past the last seal is repaired; a crash's leftovers are
    // cut in every case of the first directory, so none opens untouched there.
    // Damage in a segment before the last is repaired too (its successors bound it).
    assert!(
        tally.fixed > 0 && tally.repaired_earlier > 0 && tally.refused > 0,
        "{tally:?}"
    );
}
