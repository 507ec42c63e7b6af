//! The state-machine seam: what a [`Node`](crate::node::Node) applies committed entries to.
//!
//! A snapshot is taken in two halves: [`StateMachine::image`] freezes the state on the node
//! loop (cheap for a state machine built on persistent maps, as [`KvStore`] is), and a worker
//! thread writes the frozen [`SnapshotImage`] to the snapshot file while the loop goes on.

use std::io::{self, Write};

use crate::kv::{Command, KvError, KvImage, KvStore, Request, Response};

/// A state machine's state frozen at one applied index, written out on a worker thread.
pub trait SnapshotImage: Send + 'static {
    /// Writes the snapshot's bytes, exactly what [`StateMachine::snapshot`] returned when the
    /// image was taken, to `out` (buffered by the caller). Returns the first error of `out`.
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// The image of a state machine that copied its bytes ([`StateMachine::image`]'s default).
impl SnapshotImage for Vec<u8> {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self)
    }
}

impl SnapshotImage for KvImage {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        KvImage::write_to(self, out)
    }
}

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
    /// The state frozen now (at [`StateMachine::applied_index`]), for a snapshot written on
    /// another thread while this one keeps applying. The default copies
    /// [`StateMachine::snapshot`]'s bytes here; a state machine on persistent (copy-on-write)
    /// structures returns a shared version in O(1).
    fn image(&self) -> Box<dyn SnapshotImage> {
        Box::new(self.snapshot())
    }
    /// About how many bytes a snapshot of the state takes now (0: unknown). The node takes a
    /// snapshot once the log applied since the last one outgrows it, so a large state is not
    /// rewritten for every few thousand small writes.
    fn state_bytes(&self) -> u64 {
        0
    }
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

    fn image(&self) -> Box<dyn SnapshotImage> {
        Box::new(KvStore::image(self))
    }

    fn state_bytes(&self) -> u64 {
        self.data_bytes()
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
