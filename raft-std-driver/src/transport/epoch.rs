//! Choosing a sender's boot epoch: strictly greater every boot, so a restarted sender's counters
//! (which start at `epoch << 32`) are above everything it sent before. See the
//! [transport docs](super) for why it is ordered and not random.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::storage::{atomic_write, StdIo, StorageError};

/// The epoch for this boot: the current Unix time in seconds, but never less than the previous
/// boot's epoch + 1 (a clock set backwards, or two boots within one second). `None` when the
/// epochs are exhausted (year 2106, or a floor that high).
pub fn next_epoch(previous: Option<u32>, now_unix_secs: u64) -> Option<u32> {
    let floor = match previous {
        Some(p) => p.checked_add(1)?,
        None => 0,
    };
    let now = u32::try_from(now_unix_secs).ok()?;
    Some(now.max(floor))
}

/// Why the epoch file could not be advanced.
#[derive(Debug)]
pub enum EpochError {
    /// Reading or durably writing the file failed.
    Storage(StorageError),
    /// The file does not hold a decimal u32.
    Format,
    /// No greater epoch exists.
    Exhausted,
}

impl fmt::Display for EpochError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EpochError::Storage(e) => write!(f, "epoch file: {e}"),
            EpochError::Format => f.write_str("epoch file does not hold a decimal number"),
            EpochError::Exhausted => f.write_str("no boot epoch is left"),
        }
    }
}

impl std::error::Error for EpochError {}

/// Reads the previous epoch from `dir/epoch`, picks this boot's with [`next_epoch`], and
/// durably records it (temp file, fsync, rename, directory fsync) before returning it, so that
/// no frame is ever sealed under an epoch a later boot could reuse.
pub fn advance_epoch_file(dir: &Path) -> Result<u32, EpochError> {
    let path = dir.join("epoch");
    let previous = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s.trim().parse::<u32>().map_err(|_| EpochError::Format)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(EpochError::Storage(StorageError::io("read", path, e))),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let epoch = next_epoch(previous, now).ok_or(EpochError::Exhausted)?;
    atomic_write(&StdIo, dir, "epoch", format!("{epoch}\n").as_bytes())
        .map_err(EpochError::Storage)?;
    Ok(epoch)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn epoch_follows_the_clock_but_never_goes_back() {
        assert_eq!(next_epoch(None, 1_700_000_000), Some(1_700_000_000));
        assert_eq!(
            next_epoch(Some(1_700_000_000), 1_700_000_000),
            Some(1_700_000_001)
        );
        assert_eq!(next_epoch(Some(1_700_000_000), 5), Some(1_700_000_001));
        assert_eq!(next_epoch(Some(u32::MAX), 5), None);
    }

    #[test]
    fn the_epoch_file_increases_every_boot() {
        let dir = tempfile::tempdir().unwrap();
        let a = advance_epoch_file(dir.path()).unwrap();
        let b = advance_epoch_file(dir.path()).unwrap();
        assert!(b > a);
        std::fs::write(dir.path().join("epoch"), "junk").unwrap();
        assert!(matches!(
            advance_epoch_file(dir.path()),
            Err(EpochError::Format)
        ));
    }
}
