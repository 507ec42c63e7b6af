//! Group commit with the fsync on another thread (`Wal::begin_sync`, `Wal::finish_sync`): a job
//! makes exactly its batch durable while appends go on, a failed job stops the WAL, and the
//! batches that need the synchronous path take it.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::fault::FaultIo;
use super::{FileHandle, FileIo, HardState, StdIo, StorageError, SyncStart, Wal, WalOptions};

fn open_with(dir: &Path, segment_bytes: u64, io: Arc<dyn FileIo>) -> Wal {
    Wal::open_with(dir, WalOptions { segment_bytes }, io)
        .unwrap()
        .0
}

fn append(wal: &mut Wal, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        wal.append_entry(i, 1, 0, format!("entry-{i}").as_bytes())
            .unwrap();
    }
}

fn begun(start: SyncStart) -> super::SyncJob {
    match start {
        SyncStart::Begun(job) => job,
        other => panic!("expected a job, got {other:?}"),
    }
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v.pop().unwrap()
}

/// A new WAL in `dir` (1 MiB segments) with entries `1..=n` appended and a sync job begun
/// for them.
fn wal_with_job(dir: &Path, n: u64) -> (Wal, super::SyncJob) {
    let mut wal = open_with(dir, 1 << 20, Arc::new(StdIo));
    append(&mut wal, 1..=n);
    let job = begun(wal.begin_sync().unwrap());
    (wal, job)
}

/// Writes out what `wal` holds beyond `end` (a job begun, never finished), then cuts the
/// power: every byte of the segment past `end` is lost (zeros, as preallocated). Reopens.
fn power_cut_past(mut wal: Wal, dir: &Path, end: u64) -> (Wal, super::Recovered) {
    let mut later = begun(wal.begin_sync().unwrap());
    assert!(later.end() > end);
    later.run();
    drop(later);
    drop(wal);
    let seg = only_segment(dir);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[end as usize..].fill(0);
    fs::write(&seg, &bytes).unwrap();
    Wal::open_with(
        dir,
        WalOptions {
            segment_bytes: 1 << 20,
        },
        Arc::new(StdIo),
    )
    .unwrap()
}

/// The job covers the batch written when it began, and nothing after it: with every byte past
/// the job's end lost (a power cut before a later sync), the WAL reopens with that batch
/// exactly, the later appends cut as an unsynced tail.
#[test]
fn a_job_makes_its_batch_durable_and_appends_go_on_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, mut job) = wal_with_job(dir.path(), 10);
    // The loop goes on while the thread syncs: more appends, readable at once.
    append(&mut wal, 11..=15);
    assert_eq!(wal.entry(15).map(|e| e.payload), Some(&b"entry-15"[..]));
    let handle = std::thread::spawn(move || {
        job.run();
        job
    });
    let job = handle.join().unwrap();
    let end = job.end();
    wal.finish_sync(job).unwrap();
    // The later appends reach the file (written out, not synced) before the "power cut".
    let (wal, rec) = power_cut_past(wal, dir.path(), end);
    assert_eq!(rec.last_index, 10);
    assert_eq!(wal.entry(10).map(|e| e.payload), Some(&b"entry-10"[..]));
}

/// A failed fsync on the sync thread stops the WAL as a failed synchronous one does.
#[test]
fn a_failed_job_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let io = FaultIo::default();
    let mut wal = open_with(dir.path(), 1 << 20, Arc::new(io.clone()));
    append(&mut wal, 1..=3);
    let mut job = begun(wal.begin_sync().unwrap());
    io.faults.fail_fsync.store(true, Ordering::SeqCst);
    job.run();
    io.faults.fail_fsync.store(false, Ordering::SeqCst);
    assert!(matches!(
        wal.finish_sync(job),
        Err(StorageError::Io { op: "fsync", .. })
    ));
    assert!(wal.is_poisoned());
    assert!(matches!(wal.begin_sync(), Err(StorageError::Poisoned)));
    assert!(matches!(
        wal.append_entry(4, 1, 0, b"x"),
        Err(StorageError::Poisoned)
    ));
}

/// A job handed back without having run claims nothing: the WAL stops.
#[test]
fn a_job_never_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, job) = wal_with_job(dir.path(), 2);
    assert!(matches!(
        wal.finish_sync(job),
        Err(StorageError::Io { op: "fsync", .. })
    ));
}

/// A synchronous sync while a job is in flight (the engine syncs before a snapshot install)
/// covers everything, and the job finishing afterwards changes nothing; a vote recorded in
/// between reaches the hard-state copies and survives a restart.
#[test]
fn a_synchronous_sync_and_a_vote_while_a_job_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, mut job) = wal_with_job(dir.path(), 4);
    append(&mut wal, 5..=6);
    let hs = HardState {
        term: 3,
        voted_for: Some(2),
        commit: 4,
    };
    wal.set_hard_state(hs).unwrap();
    wal.sync().unwrap();
    job.run();
    wal.finish_sync(job).unwrap();
    assert!(matches!(wal.begin_sync().unwrap(), SyncStart::Clean));
    append(&mut wal, 7..=7);
    let mut job = begun(wal.begin_sync().unwrap());
    job.run();
    wal.finish_sync(job).unwrap();
    drop(wal);
    let (wal, rec) = Wal::open_with(
        dir.path(),
        WalOptions {
            segment_bytes: 1 << 20,
        },
        Arc::new(StdIo),
    )
    .unwrap();
    assert_eq!((rec.last_index, rec.hard_state), (7, hs));
    assert_eq!(wal.entry(6).map(|e| e.payload), Some(&b"entry-6"[..]));
}

/// A vote in a job's batch goes to the hard-state copies when the job is finished, with the
/// synced mark at the job's end.
#[test]
fn a_vote_in_a_job_is_marked_at_the_jobs_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open_with(dir.path(), 1 << 20, Arc::new(StdIo));
    append(&mut wal, 1..=2);
    wal.set_hard_state(HardState {
        term: 5,
        voted_for: Some(1),
        commit: 0,
    })
    .unwrap();
    let mut job = begun(wal.begin_sync().unwrap());
    let end = job.end();
    append(&mut wal, 3..=3);
    job.run();
    wal.finish_sync(job).unwrap();
    assert_eq!(wal.synced_mark().offset, end);
}

/// A term raised while a job runs is not durable when the job is finished: the hard-state
/// copies get the job's hard state, not the newer one, so that after a power cut that loses
/// everything past the job the copies are not ahead of the WAL and the node starts.
#[test]
fn a_term_raised_during_a_job_stays_out_of_the_copies_until_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open_with(dir.path(), 1 << 20, Arc::new(StdIo));
    let old = HardState {
        term: 5,
        voted_for: Some(1),
        commit: 0,
    };
    wal.set_hard_state(old).unwrap();
    append(&mut wal, 1..=2);
    let mut job = begun(wal.begin_sync().unwrap());
    let end = job.end();
    wal.set_hard_state(HardState {
        term: 6,
        voted_for: Some(3),
        commit: 0,
    })
    .unwrap();
    job.run();
    wal.finish_sync(job).unwrap();
    assert_eq!(wal.synced_mark().offset, end);
    // The term-6 record is written out, never synced; the power cut loses it.
    let (_, rec) = power_cut_past(wal, dir.path(), end);
    assert_eq!((rec.last_index, rec.hard_state), (2, old));
}

/// A batch that reaches the segment's end is synced on the caller's thread, and the segment
/// rolled, so that only the last segment ever holds unsynced records.
#[test]
fn a_batch_that_fills_the_segment_is_synced_inline_and_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open_with(dir.path(), 4096, Arc::new(StdIo));
    append(&mut wal, 1..=2);
    let mut job = begun(wal.begin_sync().unwrap());
    job.run();
    wal.finish_sync(job).unwrap();
    for i in 3..=200 {
        wal.append_entry(i, 1, 0, &[7u8; 64]).unwrap();
    }
    assert!(matches!(wal.begin_sync().unwrap(), SyncStart::Synced));
    assert_eq!(wal.segment_count(), 2);
    assert!(matches!(wal.begin_sync().unwrap(), SyncStart::Clean));
}

/// A file system that opens no file once `refuse` is set.
#[derive(Debug, Default)]
struct NoReopen {
    refuse: std::sync::atomic::AtomicBool,
}

impl FileIo for NoReopen {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(io::ErrorKind::PermissionDenied.into());
        }
        StdIo.open(path, create)
    }
}

/// Where the segment cannot be opened again, the sync runs on the caller's thread.
#[test]
fn a_segment_that_cannot_be_opened_again_is_synced_inline() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(NoReopen::default());
    let mut wal = open_with(dir.path(), 1 << 20, io.clone());
    io.refuse.store(true, Ordering::SeqCst);
    append(&mut wal, 1..=3);
    assert!(matches!(wal.begin_sync().unwrap(), SyncStart::Synced));
    assert!(matches!(wal.begin_sync().unwrap(), SyncStart::Clean));
}
