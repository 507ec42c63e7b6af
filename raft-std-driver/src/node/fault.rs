//! A fault hook for chaos tests, off by default: with `RAFT_FAULT_HOOK=1` in its environment a
//! node reads the file `drop-from` in its data directory (peer ids separated by commas or
//! whitespace; absent or empty: none) every [`REFRESH`], and drops the authenticated datagrams
//! of those peers before stepping them. Partitions and one-way loss are built from it: a node
//! cut off from `b` lists `b`, and `b` lists it for a two-way cut. Without the variable the
//! node holds no hook and pays one branch per datagram.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the file is read again.
pub(super) const REFRESH: Duration = Duration::from_millis(50);

/// The environment variable that turns the hook on (value `1`).
pub const FAULT_HOOK_VAR: &str = "RAFT_FAULT_HOOK";

/// The file in the data directory that lists the peers to drop.
pub const DROP_FROM_FILE: &str = "drop-from";

/// The peers whose datagrams are dropped, read from [`DROP_FROM_FILE`].
#[derive(Debug)]
pub(super) struct DropHook {
    file: PathBuf,
    from: Vec<u32>,
    next_read: Instant,
}

impl DropHook {
    /// The hook of the node whose data directory is `data_dir`, if [`FAULT_HOOK_VAR`] is `1`.
    pub(super) fn from_env(data_dir: &Path) -> Option<DropHook> {
        if std::env::var_os(FAULT_HOOK_VAR).is_none_or(|v| v != "1") {
            return None;
        }
        tracing::warn!(
            "fault hook on: dropping datagrams from the peers listed in {DROP_FROM_FILE}"
        );
        Some(DropHook {
            file: data_dir.join(DROP_FROM_FILE),
            from: Vec::new(),
            next_read: Instant::now(),
        })
    }

    /// Reads the file again if [`REFRESH`] passed since the last time.
    pub(super) fn refresh(&mut self, now: Instant) {
        if now < self.next_read {
            return;
        }
        self.next_read = now + REFRESH;
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let from: Vec<u32> = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter_map(|s| s.parse().ok())
            .collect();
        if from != self.from {
            tracing::info!(?from, "fault hook: dropping datagrams from these peers");
            self.from = from;
        }
    }

    /// Whether datagrams from peer `sender` are dropped.
    pub(super) fn drops(&self, sender: u32) -> bool {
        self.from.contains(&sender)
    }
}
