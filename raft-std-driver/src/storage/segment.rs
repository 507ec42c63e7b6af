//! Segment file names: `<seq:016x>-<first_index:016x>.wal`, as etcd names its WAL files.
//!
//! `seq` numbers segments without gaps; `first_index` is the index the first entry appended to
//! the segment would carry (the log's `last_index + 1` when the segment was started), so every
//! live entry of segment `k` is below `first_index` of segment `k + 1`. Compaction relies on
//! that to know which whole segments a snapshot covers.

use std::path::Path;

use super::{FileIo, StorageError};

/// A segment's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SegmentId {
    pub(crate) seq: u64,
    pub(crate) first_index: u64,
}

impl SegmentId {
    pub(crate) fn file_name(&self) -> String {
        format!("{:016x}-{:016x}.wal", self.seq, self.first_index)
    }

    pub(crate) fn parse(name: &str) -> Option<SegmentId> {
        let stem = name.strip_suffix(".wal")?;
        let (seq, first) = stem.split_once('-')?;
        if seq.len() != 16 || first.len() != 16 {
            return None;
        }
        Some(SegmentId {
            seq: u64::from_str_radix(seq, 16).ok()?,
            first_index: u64::from_str_radix(first, 16).ok()?,
        })
    }
}

/// The segments in `dir`, in order, checked to be numbered without gaps.
pub(crate) fn list_segments(io: &dyn FileIo, dir: &Path) -> Result<Vec<SegmentId>, StorageError> {
    let names = io.list(dir).map_err(|e| StorageError::io("list", dir, e))?;
    let mut ids: Vec<SegmentId> = names.iter().filter_map(|n| SegmentId::parse(n)).collect();
    ids.sort();
    for pair in ids.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(StorageError::Inconsistent {
                reason: format!(
                    "segment {} is followed by {}: a segment is missing",
                    pair[0].file_name(),
                    pair[1].file_name()
                ),
            });
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_sequence() {
        let id = SegmentId {
            seq: 3,
            first_index: 0x3e9,
        };
        assert_eq!(id.file_name(), "0000000000000003-00000000000003e9.wal");
        assert_eq!(SegmentId::parse(&id.file_name()), Some(id));
        assert_eq!(SegmentId::parse("3-1.wal"), None);
        assert_eq!(
            SegmentId::parse("0000000000000003-00000000000003e9.wal.tmp"),
            None
        );
    }
}
