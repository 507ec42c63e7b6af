//! A fault hook for chaos tests, off by default: with `RAFT_FAULT_HOOK=1` in its environment a
//! node reads the file `drop-from` in its data directory (peer ids separated by commas or
//! whitespace; absent or empty: none) every [`REFRESH`], and drops the authenticated datagrams
//! of those peers before stepping them. Partitions and one-way loss are built from it: a node
//! cut off from `b` lists `b`, and `b` lists it for a two-way cut. Without the variable the
//! node holds no hook and pays one branch per datagram.
//!
//! The same hook transfers leadership on demand: a node that finds the file `transfer-to` in
//! its data directory (a peer id) removes it and, if it leads and the peer is another voter,
//! steps `Input::TransferLeader` to it (the chaos test's transfers during reads). The disk half
//! of the hook (a full disk on demand) is in `disk_hook.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raftcore::{Input, MemberKind, NodeId, Role};

use super::{Node, NodeError};
use crate::machine::StateMachine;

/// How often the file is read again.
pub(super) const REFRESH: Duration = Duration::from_millis(50);

/// The environment variable that turns the hook on (value `1`).
pub const FAULT_HOOK_VAR: &str = "RAFT_FAULT_HOOK";

/// The file in the data directory that lists the peers to drop.
pub const DROP_FROM_FILE: &str = "drop-from";

/// The file in the data directory that asks the node, if it leads, to hand leadership to
/// the peer it names; the node removes it once read.
pub const TRANSFER_TO_FILE: &str = "transfer-to";

/// The peers whose datagrams are dropped, read from [`DROP_FROM_FILE`], and the transfer
/// requests of [`TRANSFER_TO_FILE`].
#[derive(Debug)]
pub(super) struct DropHook {
    file: PathBuf,
    transfer: PathBuf,
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
            transfer: data_dir.join(TRANSFER_TO_FILE),
            from: Vec::new(),
            next_read: Instant::now(),
        })
    }

    /// Reads the files again if [`REFRESH`] passed since the last time; returns the peer a
    /// transfer was asked to (the request's file is removed).
    pub(super) fn refresh(&mut self, now: Instant) -> Option<u32> {
        if now < self.next_read {
            return None;
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
        let to = std::fs::read_to_string(&self.transfer).ok()?;
        let _ = std::fs::remove_file(&self.transfer);
        to.trim().parse().ok()
    }

    /// Whether datagrams from peer `sender` are dropped.
    pub(super) fn drops(&self, sender: u32) -> bool {
        self.from.contains(&sender)
    }
}

impl<M: StateMachine> Node<M> {
    /// A transfer asked through [`TRANSFER_TO_FILE`]: stepped if this node leads and `to` is
    /// another voter, else ignored.
    pub(super) fn hook_transfer(&mut self, to: NodeId) -> Result<(), NodeError> {
        let voter = self.core().membership().kind_of(to) == Some(MemberKind::Voter);
        if self.core().role() == Role::Leader && to.0 != self.cfg.id && voter {
            tracing::info!(
                id = self.cfg.id,
                to = to.0,
                "fault hook: leadership transfer"
            );
            self.step(Input::TransferLeader { to })?;
        }
        Ok(())
    }
}
