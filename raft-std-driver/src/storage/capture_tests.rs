//! A capture on a disk shared with the WAL: written back in pieces, over the previous
//! snapshot's file.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use raftcore::{LogIndex, Membership, NodeId, SnapshotPoint, Term};

use super::capture::{SPARE, WRITE_CHUNK};
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

/// What the files of a [`Recording`] saw: the most bytes of one file written but not yet
/// written back (by [`FileHandle::write_back`] or an fsync), the write-backs and the fsyncs.
#[derive(Debug, Default)]
struct Seen {
    most_pending: u64,
    write_backs: u64,
    syncs: u64,
}

/// The real file system, recording writes, write-backs and fsyncs.
#[derive(Debug, Default, Clone)]
struct Recording(Arc<Mutex<Seen>>);

struct RecordingFile {
    inner: Box<dyn FileHandle>,
    /// The ranges written and not yet written back.
    pending: Vec<(u64, u64)>,
    seen: Arc<Mutex<Seen>>,
}

impl FileHandle for RecordingFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.pending.push((offset, offset + buf.len() as u64));
        let pending = self.pending.iter().map(|(a, b)| b - a).sum::<u64>();
        let mut seen = self.seen.lock().unwrap();
        seen.most_pending = seen.most_pending.max(pending);
        self.inner.write_at(offset, buf)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(offset, buf)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.pending.clear();
        self.seen.lock().unwrap().syncs += 1;
        self.inner.sync()
    }
    fn write_back(&mut self, offset: u64, len: u64) -> io::Result<()> {
        // Only a range that covers a whole write counts as written back.
        self.pending
            .retain(|&(a, b)| !(offset <= a && b <= offset + len));
        self.seen.lock().unwrap().write_backs += 1;
        self.inner.write_back(offset, len)
    }
}

impl FileIo for Recording {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn FileHandle>> {
        Ok(Box::new(RecordingFile {
            inner: StdIo.open(path, create)?,
            pending: Vec::new(),
            seen: self.0.clone(),
        }))
    }
}

#[test]
fn a_large_capture_is_written_back_in_pieces_as_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let io = Recording::default();
    let mut store = SnapshotStore::open_with(dir.path(), Arc::new(io.clone())).unwrap();
    let data = bytes(20 * WRITE_CHUNK + 12_345, 0);
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
        seen.most_pending <= WRITE_CHUNK as u64,
        "{} bytes were waiting to be written back at once",
        seen.most_pending
    );
    // Twenty-one pieces, one fsync at the end.
    assert!(seen.write_backs >= 21, "{} write-backs", seen.write_backs);
    assert_eq!(seen.syncs, 1);
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

#[test]
fn a_capture_keeps_to_its_write_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SnapshotStore::open(dir.path()).unwrap();
    store.set_write_rate(8 << 20);
    let data = bytes(2 << 20, 4);
    let started = std::time::Instant::now();
    let meta = store
        .capture_target()
        .unwrap()
        .write(point(9), |out| out.write_all(&data))
        .unwrap();
    // 2 MiB at 8 MiB/s: a quarter of a second at least (a lower bound only: the sleeps
    // guarantee it, a busy machine may take longer).
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(250), "{took:?}");
    assert!(store.adopt(meta).unwrap());
    assert_eq!(store.read_all().unwrap().unwrap().1, data);
}
