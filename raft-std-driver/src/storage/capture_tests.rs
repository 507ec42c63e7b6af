//! A capture on a disk shared with the WAL: written in fsynced pieces, over the previous
//! snapshot's file.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use raftcore::{LogIndex, Membership, NodeId, SnapshotPoint, Term};

use super::capture::{SPARE, SYNC_EVERY};
use super::snapshot::{file_name, meta_of_bytes};
use super::{FileHandle, FileIo, SnapshotStore, StdIo};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 ^ seed).collect()
}

fn point(index: u64) -> SnapshotPoint {
    SnapshotPoint {
        index: LogIndex(index),
        term: Term(1),
        members: Membership::new(&[NodeId(1), NodeId(2), NodeId(3)], &[]).unwrap(),
    }
}

/// What the files of a [`Recording`] saw: the most bytes written to one file between two of
/// its fsyncs (or its open), and the fsyncs.
#[derive(Debug, Default)]
struct Seen {
    most_unsynced: u64,
    syncs: u64,
}

/// The real file system, recording writes and fsyncs.
#[derive(Debug, Default, Clone)]
struct Recording(Arc<Mutex<Seen>>);

struct RecordingFile {
    inner: Box<dyn FileHandle>,
    unsynced: u64,
    seen: Arc<Mutex<Seen>>,
}

impl FileHandle for RecordingFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.unsynced += buf.len() as u64;
        let mut seen = self.seen.lock().unwrap();
        seen.most_unsynced = seen.most_unsynced.max(self.unsynced);
        self.inner.write_at(offset, buf)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.unsynced = 0;
        self.seen.lock().unwrap().syncs += 1;
        self.inner.sync()
    }
}

impl FileIo for Recording {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(RecordingFile {
            inner: StdIo.open(path, create)?,
            unsynced: 0,
            seen: self.0.clone(),
        }))
    }
}

#[test]
fn a_large_capture_is_fsynced_in_pieces_as_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let io = Recording::default();
    let mut store = SnapshotStore::open_with(dir.path(), Arc::new(io.clone())).unwrap();
    let data = bytes(5 * SYNC_EVERY as usize + 12_345, 0);
    let meta = store
        .capture_target()
        .unwrap()
        .write(point(9), |out| {
            data.chunks(1000).try_for_each(|c| out.write_all(c))
        })
        .unwrap();
    assert_eq!(
        meta,
        meta_of_bytes(LogIndex(9), Term(1), point(9).members, &data)
    );
    let seen = io.0.lock().unwrap();
    assert!(
        seen.most_unsynced <= SYNC_EVERY,
        "{} bytes went to the disk between two fsyncs",
        seen.most_unsynced
    );
    // Five pieces and the last one's fsync.
    assert!(seen.syncs >= 6, "{} fsyncs", seen.syncs);
    drop(seen);
    assert!(store.adopt(meta).unwrap());
    assert_eq!(store.read_all().unwrap().unwrap().1, data);
}

#[cfg(unix)]
#[test]
fn a_capture_writes_over_the_previous_snapshots_file_cut_to_its_length() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    let capture = |store: &SnapshotStore, index: u64, data: &[u8]| {
        store
            .capture_target()
            .unwrap()
            .write(point(index), |out| out.write_all(data))
            .unwrap()
    };
    let (first, second, third) = (bytes(3 << 20, 1), bytes(2 << 20, 2), bytes(1 << 20, 3));
    let m1 = capture(&store, 10, &first);
    assert!(store.adopt(m1).unwrap());
    let m1_inode = fs::metadata(dir.path().join(file_name(&m1))).unwrap().ino();
    let m2 = capture(&store, 20, &second);
    assert!(store.adopt(m2).unwrap());
    // The first snapshot's file waits as the spare, whole.
    let spare = dir.path().join(SPARE);
    assert_eq!(fs::metadata(&spare).unwrap().ino(), m1_inode);
    assert_eq!(fs::read(&spare).unwrap(), first);
    // The third capture is written into it (no file freed, no blocks allocated) and cut to
    // its own, shorter, length.
    let m3 = capture(&store, 30, &third);
    let path = dir.path().join(file_name(&m3));
    assert_eq!(fs::metadata(&path).unwrap().ino(), m1_inode);
    assert_eq!(fs::read(&path).unwrap(), third);
    assert!(store.adopt(m3).unwrap());
    assert_eq!(store.read_all().unwrap().unwrap().1, third);
    drop(store);
    // It checks out on open (length and CRC against its name).
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.latest(), Some(m3));
    assert_eq!(store.read_all().unwrap().unwrap().1, third);
    assert_eq!(
        m3,
        meta_of_bytes(LogIndex(30), Term(1), point(30).members, &third)
    );
}
