//! Two checksummed copies of the hard state and of the WAL's synced mark, written alternately
//! as database superblocks are.
//!
//! `<wal dir>/hardstate.0` and `hardstate.1` each hold one 57-byte record (integers
//! little-endian):
//!
//! ```text
//! [magic b"RAFTHS01"][generation u64][term u64][has_vote u8][voted_for u32][commit u64]
//! [mark segment seq u64][mark offset u64][crc32 u32 of everything before]
//! ```
//!
//! Every write bumps the generation and goes, in place, to copy `generation % 2`, followed by
//! an fdatasync; the other copy is untouched. So a crash tears at most the copy being written
//! while the other still holds the previous generation, and a flipped byte damages at most one
//! copy: recovery takes the newest copy whose checksum holds. The WAL writes the copies only
//! when the term or vote changes, when it starts a segment and at open; each write happens
//! after the WAL fsync it describes and before that sync is reported, so the newest copy's
//! term and vote are always durable in the WAL too, and its mark is at or past every record
//! synced before it was written (records synced later are recognised by the seals that end
//! their batches; see the WAL module docs).
//!
//! Neither cause is mistaken for the other where it matters: the WAL's own hard-state record
//! (below the mark of the older copy or at worst just after it) still holds what the newest
//! copy held, and the WAL replay is the source of the hard state; the copies bound it from
//! below ([`check_not_behind`]) and carry the mark.

use std::io;
use std::path::{Path, PathBuf};

use super::record::HardState;
use super::{atomic_write, FileHandle, FileIo, StorageError};

/// The two copies' file names.
pub const FILES: [&str; 2] = ["hardstate.0", "hardstate.1"];

const MAGIC: [u8; 8] = *b"RAFTHS01";
/// Bytes of one copy.
pub const LEN: usize = 57;

/// How far the WAL is known durable: every byte of segment `segment` below `offset`, and every
/// earlier segment whole, was fsynced before this mark was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncMark {
    /// The segment's sequence number.
    pub segment: u64,
    /// The synced length of that segment.
    pub offset: u64,
}

/// One copy's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Superblock {
    pub(crate) generation: u64,
    pub(crate) hard_state: HardState,
    pub(crate) mark: SyncMark,
}

impl Superblock {
    fn encode(&self) -> [u8; LEN] {
        let mut out = [0; LEN];
        let hs = self.hard_state;
        out[..8].copy_from_slice(&MAGIC);
        out[8..16].copy_from_slice(&self.generation.to_le_bytes());
        out[16..24].copy_from_slice(&hs.term.to_le_bytes());
        out[24] = u8::from(hs.voted_for.is_some());
        out[25..29].copy_from_slice(&hs.voted_for.unwrap_or(0).to_le_bytes());
        out[29..37].copy_from_slice(&hs.commit.to_le_bytes());
        out[37..45].copy_from_slice(&self.mark.segment.to_le_bytes());
        out[45..53].copy_from_slice(&self.mark.offset.to_le_bytes());
        let crc = crc32fast::hash(&out[..53]);
        out[53..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(buf: &[u8]) -> Result<Superblock, &'static str> {
        let Ok(buf) = <&[u8; LEN]>::try_from(buf) else {
            return Err("wrong length");
        };
        let u64_at = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&buf[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let crc = u32::from_le_bytes([buf[53], buf[54], buf[55], buf[56]]);
        if crc32fast::hash(&buf[..53]) != crc {
            return Err("checksum does not match");
        }
        if buf[..8] != MAGIC {
            return Err("not a hard-state file");
        }
        let voted = u32::from_le_bytes([buf[25], buf[26], buf[27], buf[28]]);
        let voted_for = match buf[24] {
            0 if voted == 0 => None,
            1 => Some(voted),
            _ => return Err("bad vote field"),
        };
        Ok(Superblock {
            generation: u64_at(8),
            hard_state: HardState {
                term: u64_at(16),
                voted_for,
                commit: u64_at(29),
            },
            mark: SyncMark {
                segment: u64_at(37),
                offset: u64_at(45),
            },
        })
    }
}

/// What [`load`] found.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// Neither copy exists: a new WAL, or one written before the copies existed.
    Absent,
    /// The newest intact copy, the index in [`FILES`] of the copy it was read from, and which
    /// copy (if any) is damaged or missing.
    Found {
        newest: Superblock,
        slot: usize,
        damaged: Option<PathBuf>,
    },
}

/// Reads both copies. Fails only when both are damaged (or one is damaged and the other
/// missing): [`StorageError::CorruptState`] naming the first damaged copy.
pub(crate) fn load(io: &dyn FileIo, dir: &Path) -> Result<Loaded, StorageError> {
    let mut intact: Option<(Superblock, usize)> = None;
    let mut damaged: Option<(PathBuf, &'static str)> = None;
    let mut missing = 0;
    for (slot, name) in FILES.into_iter().enumerate() {
        let path = dir.join(name);
        match io.read(&path) {
            Ok(bytes) => match Superblock::decode(&bytes) {
                Ok(sb) if intact.is_none_or(|(i, _)| sb.generation > i.generation) => {
                    intact = Some((sb, slot))
                }
                Ok(_) => {}
                Err(reason) => {
                    damaged.get_or_insert((path, reason));
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing += 1;
                damaged.get_or_insert((path, "missing"));
            }
            Err(e) => return Err(StorageError::io("read", path, e)),
        }
    }
    match (intact, damaged) {
        _ if missing == FILES.len() => Ok(Loaded::Absent),
        (Some((newest, slot)), damaged) => Ok(Loaded::Found {
            newest,
            slot,
            damaged: damaged.map(|(p, _)| p),
        }),
        (None, Some((file, reason))) => Err(StorageError::CorruptState {
            file,
            offset: 0,
            reason,
        }),
        // Unreachable: with no intact copy, at least one was damaged or missing.
        (None, None) => Ok(Loaded::Absent),
    }
}

/// Refuses a WAL whose replayed hard state is behind the newest intact copy: an older term, or
/// the same term without the vote the copy records (the WAL lost a synced hard-state record).
pub(crate) fn check_not_behind(
    dir: &Path,
    copy: HardState,
    wal: HardState,
) -> Result<(), StorageError> {
    let behind = wal.term < copy.term
        || (wal.term == copy.term && copy.voted_for.is_some() && wal.voted_for != copy.voted_for);
    if behind {
        return Err(StorageError::Inconsistent {
            reason: format!(
                "the WAL's hard state (term {}, vote {:?}) is behind {}'s (term {}, vote {:?})",
                wal.term,
                wal.voted_for,
                dir.display(),
                copy.term,
                copy.voted_for
            ),
        });
    }
    Ok(())
}

/// The two open copies and the newest content written.
pub(crate) struct HardStateFiles {
    dir: PathBuf,
    files: [Box<dyn FileHandle>; 2],
    current: Superblock,
    /// The copy that holds `current`; the next write goes to the other one, so the newest
    /// intact copy is never the one being overwritten.
    newest_slot: usize,
    /// The other copy is damaged: the next write must not be skipped.
    other_damaged: bool,
}

impl HardStateFiles {
    /// Opens the copies for writing after [`load`]; `current` is the newest intact copy,
    /// `newest_slot` the copy it was read from and `other_damaged` whether the other one failed
    /// its check (it is rewritten by the next [`HardStateFiles::write`]). Missing copies are
    /// created with `current` (whole, atomically), so each copy is either absent or a full
    /// record at all times.
    pub(crate) fn open(
        io: &dyn FileIo,
        dir: &Path,
        current: Superblock,
        newest_slot: usize,
        other_damaged: bool,
    ) -> Result<HardStateFiles, StorageError> {
        let bytes = current.encode();
        let open = |name: &str| -> Result<Box<dyn FileHandle>, StorageError> {
            let path = dir.join(name);
            match io.open(&path, false) {
                Ok(f) => Ok(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    atomic_write(io, dir, name, &bytes)?;
                    io.open(&path, false)
                        .map_err(|e| StorageError::io("open", &path, e))
                }
                Err(e) => Err(StorageError::io("open", &path, e)),
            }
        };
        let files = [open(FILES[0])?, open(FILES[1])?];
        Ok(HardStateFiles {
            dir: dir.to_path_buf(),
            files,
            current,
            newest_slot: newest_slot % FILES.len(),
            other_damaged,
        })
    }

    /// The newest content written (or loaded).
    pub(crate) fn current(&self) -> Superblock {
        self.current
    }

    /// Durably records `hard_state` and `mark` as the next generation, in the copy that does
    /// not hold the newest one (in place, then fdatasync). Does nothing when both are
    /// unchanged and the other copy is intact.
    pub(crate) fn write(
        &mut self,
        hard_state: HardState,
        mark: SyncMark,
    ) -> Result<(), StorageError> {
        if self.current.hard_state == hard_state && self.current.mark == mark && !self.other_damaged
        {
            return Ok(());
        }
        let next = Superblock {
            generation: self.current.generation + 1,
            hard_state,
            mark,
        };
        let slot = 1 - self.newest_slot;
        let file = &mut self.files[slot];
        let done = file
            .write_at(0, &next.encode())
            .and_then(|()| file.set_len(LEN as u64))
            .and_then(|()| file.sync());
        if let Err(e) = done {
            return Err(StorageError::io(
                "write hard state",
                self.dir.join(FILES[slot]),
                e,
            ));
        }
        self.current = next;
        self.newest_slot = slot;
        self.other_damaged = false;
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::storage::StdIo;
    use std::sync::Arc;

    fn sb(generation: u64) -> Superblock {
        Superblock {
            generation,
            hard_state: HardState {
                term: 4,
                voted_for: Some(2),
                commit: 9,
            },
            mark: SyncMark {
                segment: 1,
                offset: 300,
            },
        }
    }

    #[test]
    fn copies_round_trip_and_any_flip_or_cut_fails_the_check() {
        let good = sb(5).encode();
        assert_eq!(Superblock::decode(&good), Ok(sb(5)));
        for i in 0..LEN {
            let mut b = good;
            b[i] ^= 0x01;
            assert!(Superblock::decode(&b).is_err(), "flip {i}");
            assert!(Superblock::decode(&good[..i]).is_err(), "cut {i}");
        }
    }

    /// What `load` found, which must be a copy.
    fn found(io: &dyn FileIo, dir: &Path) -> (Superblock, usize, Option<PathBuf>) {
        match load(io, dir) {
            Ok(Loaded::Found {
                newest,
                slot,
                damaged,
            }) => (newest, slot, damaged),
            other => panic!("no copy found: {other:?}"),
        }
    }

    #[test]
    fn writes_alternate_and_a_damaged_newest_copy_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let io: Arc<dyn FileIo> = Arc::new(StdIo);
        assert!(matches!(load(io.as_ref(), dir.path()), Ok(Loaded::Absent)));
        let mut files = HardStateFiles::open(io.as_ref(), dir.path(), sb(0), 0, false).unwrap();
        let mut hs = sb(0).hard_state;
        hs.term = 5;
        files.write(hs, sb(0).mark).unwrap(); // generation 1, copy 1
        let (newest, slot, damaged) = found(io.as_ref(), dir.path());
        assert_eq!((newest.generation, newest.hard_state.term), (1, 5));
        assert_eq!((slot, damaged), (1, None));
        // Damage copy 1: copy 0 (generation 0) is the newest intact one.
        let one = dir.path().join(FILES[1]);
        let mut bytes = std::fs::read(&one).unwrap();
        bytes[20] ^= 0x80;
        std::fs::write(&one, &bytes).unwrap();
        let (newest, slot, damaged) = found(io.as_ref(), dir.path());
        assert_eq!((newest.generation, slot), (0, 0));
        assert_eq!(damaged, Some(one.clone()));
        // Both damaged: refused, naming a file.
        std::fs::write(dir.path().join(FILES[0]), b"x").unwrap();
        assert!(matches!(
            load(io.as_ref(), dir.path()),
            Err(StorageError::CorruptState { .. })
        ));
    }

    #[test]
    fn a_wal_behind_the_copies_is_refused() {
        let copy = sb(1).hard_state;
        let d = Path::new("x");
        assert!(check_not_behind(d, copy, copy).is_ok());
        let newer = HardState { term: 5, ..copy };
        assert!(check_not_behind(d, copy, newer).is_ok());
        let older = HardState { term: 3, ..copy };
        assert!(check_not_behind(d, copy, older).is_err());
        let no_vote = HardState {
            voted_for: None,
            ..copy
        };
        assert!(check_not_behind(d, copy, no_vote).is_err());
    }
}
