//! Opening a node's data directory: lock it, then check whose it is, before anything else is
//! read or written there.

use std::path::{Path, PathBuf};

use super::identity::{self, Identity};
use super::lock::DirLock;
use super::{FileIo, StorageError};

/// A data directory opened for one node: locked for as long as this value lives, and checked
/// to belong to that node and cluster.
///
/// Open it before the epoch file, the WAL (`<dir>/wal`) and the snapshot store (`<dir>/snap`),
/// so a second process on the same directory, or a node started with another node's
/// directory, is refused before it writes anything.
#[derive(Debug)]
pub struct DataDir {
    lock: DirLock,
    identity: Identity,
}

impl DataDir {
    /// Creates `dir` if absent, takes its lock ([`StorageError::Locked`] if another process
    /// or another `DataDir` holds it), and checks or records its identity
    /// ([`StorageError::WrongIdentity`] for another node's or cluster's directory).
    pub fn open(
        dir: &Path,
        node_id: u32,
        cluster_id: u32,
        io: &dyn FileIo,
    ) -> Result<DataDir, StorageError> {
        io.create_dir_all(dir)
            .map_err(|e| StorageError::io("create dir", dir, e))?;
        let lock = DirLock::acquire(dir)?;
        let identity = Identity {
            node_id,
            cluster_id,
        };
        identity::check_or_record(io, dir, identity)?;
        Ok(DataDir { lock, identity })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.lock.dir()
    }

    /// Where the WAL lives: `<dir>/wal`.
    pub fn wal_dir(&self) -> PathBuf {
        self.path().join("wal")
    }

    /// Where snapshots live: `<dir>/snap`.
    pub fn snap_dir(&self) -> PathBuf {
        self.path().join("snap")
    }

    /// The node and cluster this directory belongs to.
    pub fn identity(&self) -> Identity {
        self.identity
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::storage::StdIo;

    #[test]
    fn a_second_open_of_the_same_dir_in_one_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path(), 1, 0, &StdIo).unwrap();
        let second = DataDir::open(dir.path(), 1, 0, &StdIo);
        assert!(
            matches!(second, Err(StorageError::Locked { .. })),
            "{second:?}"
        );
        drop(first);
        DataDir::open(dir.path(), 1, 0, &StdIo).unwrap();
    }

    #[test]
    fn another_node_or_cluster_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        drop(DataDir::open(dir.path(), 1, 7, &StdIo).unwrap());
        let listing = || {
            let mut v: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let before = listing();
        for (node, cluster) in [(2, 7), (1, 8)] {
            let err = DataDir::open(dir.path(), node, cluster, &StdIo).unwrap_err();
            assert!(
                matches!(
                    err,
                    StorageError::WrongIdentity {
                        found_node: 1,
                        found_cluster: 7,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("belongs to node 1 of cluster 7"),
                "{err}"
            );
        }
        assert_eq!(listing(), before);
        DataDir::open(dir.path(), 1, 7, &StdIo).unwrap();
    }

    #[test]
    fn a_refused_open_of_a_fresh_dir_writes_only_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("node");
        let _held = DataDir::open(&data, 1, 0, &StdIo).unwrap();
        std::fs::remove_file(data.join(identity::IDENTITY_FILE)).unwrap();
        assert!(DataDir::open(&data, 2, 0, &StdIo).is_err());
        assert!(!data.join(identity::IDENTITY_FILE).exists());
    }
}
