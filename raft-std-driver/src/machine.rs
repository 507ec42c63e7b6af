//! The state-machine seam: what a [`Node`](crate::node::Node) applies committed entries to.

use crate::kv::{Command, KvError, KvStore, Request, Response};

/// A replicated state machine. Every replica applies the same committed entries in the same
/// order and must reach the same state and the same responses.
pub trait StateMachine: Send + 'static {
    /// Applies the committed command at `index` (indices strictly increase) and returns the
    /// response bytes sent back to whoever proposed it. Must not panic on any bytes.
    fn apply(&mut self, index: u64, command: &[u8]) -> Vec<u8>;
    /// Marks `index` applied without a command (the leader's empty entry).
    fn advance(&mut self, index: u64);
    /// The last index applied.
    fn applied_index(&self) -> u64;
    /// The whole state as bytes (for a snapshot at [`StateMachine::applied_index`]).
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the state with a snapshot's.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
    /// Whether `command` only reads. Reads are routed by the node's
    /// [`ReadPolicy`](crate::node::ReadPolicy).
    fn is_read(&self, command: &[u8]) -> bool;
    /// Answers a read-only `command` from the local state, without the log. Linearizable only
    /// after a ReadIndex round; the node also uses it for explicitly local (possibly stale)
    /// diagnostic reads.
    fn query(&self, command: &[u8]) -> Vec<u8>;
}

impl StateMachine for KvStore {
    fn apply(&mut self, index: u64, command: &[u8]) -> Vec<u8> {
        KvStore::apply(self, index, command).encode()
    }

    fn advance(&mut self, index: u64) {
        KvStore::advance(self, index)
    }

    fn applied_index(&self) -> u64 {
        KvStore::applied_index(self)
    }

    fn snapshot(&self) -> Vec<u8> {
        KvStore::snapshot(self)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        KvStore::restore(self, snapshot).map_err(|e| e.to_string())
    }

    fn is_read(&self, command: &[u8]) -> bool {
        matches!(
            Request::decode(command),
            Ok(Request {
                command: Command::Get { .. },
                ..
            })
        )
    }

    fn query(&self, command: &[u8]) -> Vec<u8> {
        let response = match Request::decode(command) {
            Ok(Request {
                command: Command::Get { key },
                ..
            }) => Response::Value(self.get(&key).map(<[u8]>::to_vec)),
            _ => Response::Error(KvError::BadCommand),
        };
        response.encode()
    }
}
