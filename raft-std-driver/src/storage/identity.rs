//! The data directory's identity: which node of which cluster it belongs to.
//!
//! `<dir>/IDENTITY` is one 20-byte record, written atomically (temp file, fsync, rename,
//! directory fsync) the first time a node opens the directory and only read after that:
//!
//! ```text
//! [magic b"RAFTID01"][node_id u32 LE][cluster_id u32 LE][crc32 u32 LE of the 16 bytes before]
//! ```

use std::io;
use std::path::Path;

use super::{atomic_write, FileIo, StorageError};

/// The identity file's name inside the data directory.
pub const IDENTITY_FILE: &str = "IDENTITY";

const MAGIC: [u8; 8] = *b"RAFTID01";
const LEN: usize = 20;

/// The node and cluster a data directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The node id.
    pub node_id: u32,
    /// The cluster id.
    pub cluster_id: u32,
}

impl Identity {
    fn encode(&self) -> [u8; LEN] {
        let mut out = [0; LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.node_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.cluster_id.to_le_bytes());
        let crc = crc32fast::hash(&out[..16]);
        out[16..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(buf: &[u8]) -> Result<Identity, &'static str> {
        let Ok(buf) = <&[u8; LEN]>::try_from(buf) else {
            return Err("wrong length");
        };
        let [body @ .., c0, c1, c2, c3] = *buf;
        if crc32fast::hash(&body[..16]) != u32::from_le_bytes([c0, c1, c2, c3]) {
            return Err("checksum does not match");
        }
        if body[..8] != MAGIC {
            return Err("not an identity file");
        }
        Ok(Identity {
            node_id: u32::from_le_bytes([body[8], body[9], body[10], body[11]]),
            cluster_id: u32::from_le_bytes([body[12], body[13], body[14], body[15]]),
        })
    }
}

/// Checks that `dir` belongs to `me`, recording `me` there if the directory has no identity
/// yet. Call with the directory locked. Refuses a directory of another node or cluster with
/// [`StorageError::WrongIdentity`] and a damaged identity file with
/// [`StorageError::CorruptState`], writing nothing in either case.
pub fn check_or_record(io: &dyn FileIo, dir: &Path, me: Identity) -> Result<(), StorageError> {
    let file = dir.join(IDENTITY_FILE);
    match io.read(&file) {
        Ok(bytes) => {
            let found = Identity::decode(&bytes).map_err(|reason| StorageError::CorruptState {
                file: file.clone(),
                offset: 0,
                reason,
            })?;
            if found != me {
                return Err(StorageError::WrongIdentity {
                    file,
                    found_node: found.node_id,
                    found_cluster: found.cluster_id,
                    node: me.node_id,
                    cluster: me.cluster_id,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            atomic_write(io, dir, IDENTITY_FILE, &me.encode()).map(|_| ())
        }
        Err(e) => Err(StorageError::io("read", file, e)),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::storage::StdIo;

    const ME: Identity = Identity {
        node_id: 3,
        cluster_id: 9,
    };

    #[test]
    fn identity_is_recorded_once_and_then_checked() {
        let dir = tempfile::tempdir().unwrap();
        check_or_record(&StdIo, dir.path(), ME).unwrap();
        let bytes = std::fs::read(dir.path().join(IDENTITY_FILE)).unwrap();
        assert_eq!(Identity::decode(&bytes), Ok(ME));
        check_or_record(&StdIo, dir.path(), ME).unwrap();
        for other in [
            Identity {
                node_id: 4,
                cluster_id: 9,
            },
            Identity {
                node_id: 3,
                cluster_id: 8,
            },
        ] {
            let err = check_or_record(&StdIo, dir.path(), other).unwrap_err();
            assert!(
                matches!(
                    err,
                    StorageError::WrongIdentity {
                        found_node: 3,
                        found_cluster: 9,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        assert_eq!(
            std::fs::read(dir.path().join(IDENTITY_FILE)).unwrap(),
            bytes
        );
    }

    #[test]
    fn every_flipped_byte_and_every_cut_of_the_identity_file_is_refused() {
        let good = ME.encode();
        let mut cases: Vec<Vec<u8>> = (0..LEN)
            .map(|i| {
                let mut b = good.to_vec();
                b[i] ^= 0xff;
                b
            })
            .collect();
        cases.extend((0..LEN).map(|cut| good[..cut].to_vec()));
        for bad in cases {
            assert!(Identity::decode(&bad).is_err(), "{bad:?}");
        }
    }
}
