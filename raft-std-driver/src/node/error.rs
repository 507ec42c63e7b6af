//! [`NodeError`]: why a node could not start or stopped. It is also the one error type of the
//! node's engine seams (the WAL, the snapshot files, the UDP transport, the state machine), so
//! a seam failure reaches [`Node::turn`](super::Node::turn) as the error it was.

use std::fmt;
use std::io;

use raftcore::{EngineError, StoreError};

use crate::storage::StorageError;
use crate::transport::epoch::EpochError;
use crate::transport::KeyError;

/// Why a node could not start or stopped.
#[derive(Debug)]
pub enum NodeError {
    /// The key file is missing or malformed.
    Key(KeyError),
    /// The WAL or snapshot store failed or is damaged (fail-stop).
    Storage(StorageError),
    /// The boot epoch could not be recorded.
    Epoch(EpochError),
    /// A socket operation failed.
    Io(&'static str, io::Error),
    /// What is on disk does not form a valid restart point.
    Restore(String),
    /// raft-core refused a driver call (a driver bug).
    Core(raftcore::StepError),
    /// The log store refused a write raft-core asked for without an I/O error behind it (a
    /// driver bug: entries out of order, or missing from the step's input).
    LogStore(StoreError),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Key(e) => write!(f, "{e}"),
            NodeError::Storage(e) => write!(f, "storage failed: {e}"),
            NodeError::Epoch(e) => write!(f, "{e}"),
            NodeError::Io(op, e) => write!(f, "{op}: {e}"),
            NodeError::Restore(m) => write!(f, "cannot restart from the data directory: {m}"),
            NodeError::Core(e) => write!(f, "raft-core: {e}"),
            NodeError::LogStore(e) => write!(f, "log store refused a Persist: {e}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<StorageError> for NodeError {
    fn from(e: StorageError) -> Self {
        NodeError::Storage(e)
    }
}

/// What the engine's provided seam methods fail with (the WAL overrides them all).
impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        NodeError::LogStore(e)
    }
}

impl From<EngineError<NodeError>> for NodeError {
    fn from(e: EngineError<NodeError>) -> Self {
        match e {
            EngineError::Driver(e) => e,
            EngineError::Core(e) => NodeError::Core(e),
            EngineError::MissingEntry(i) => {
                NodeError::Restore(format!("entry {i} to apply is not in the log"))
            }
        }
    }
}
