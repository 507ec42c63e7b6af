//! The host service's key-value command, as a board writes and reads it in log entries.
//!
//! A mixed cluster (boards and `raft-node` processes) shares one log, so a board's entries
//! must be commands the host's key-value store applies, and a board must make sense of the
//! entries a host leader replicates. The host encodes a command as the postcard encoding of
//! `raft_std_driver::kv::Request { client, seq, command }`; this module mirrors that layout
//! with borrowed byte slices (postcard writes a `Vec<u8>` and a `&[u8]` alike: a varint length,
//! then the bytes), without a heap. `tests/kv_host.rs` checks the bytes against the host's
//! own encoder.
//!
//! The example's writes are puts of a 4-byte big-endian key (the write's number, 1, 2, ...)
//! with an empty value, each in a session of its own (client id = the write's number, sequence
//! number 1), so the entry of write `v` is the same bytes whichever node took it, and a write
//! retried through another node is applied once by the host's session table.
//!
//! A board does not keep the key-value map (its RAM could not): its state machine counts the
//! writes it applied and keeps the last (see `board_node::Digest`); any other command is
//! skipped.

use serde::{Deserialize, Serialize};

/// The largest encoding of a write: two 10-byte varints, the variant, a 1-byte length and the
/// 4-byte key, and the empty value's length.
pub const MAX_WRITE: usize = 10 + 10 + 1 + 1 + 4 + 1;

/// `raft_std_driver::kv::Request`, borrowed.
#[derive(Serialize, Deserialize)]
struct Request<'a> {
    client: u64,
    seq: u64,
    #[serde(borrow)]
    command: Command<'a>,
}

/// `raft_std_driver::kv::Command`: only its first variant, `Put`, which a board reads; the
/// others do not decode here and are skipped.
#[derive(Serialize, Deserialize)]
enum Command<'a> {
    Put { key: &'a [u8], value: &'a [u8] },
}

/// Encodes write `value` (see the module docs) into `buf`; returns its bytes.
pub fn encode_write(value: u32, buf: &mut [u8; MAX_WRITE]) -> &[u8] {
    let key = value.to_be_bytes();
    let req = Request {
        client: u64::from(value),
        seq: 1,
        command: Command::Put {
            key: &key,
            value: &[],
        },
    };
    // At most MAX_WRITE bytes: cannot fail.
    match postcard::to_slice(&req, buf) {
        Ok(b) => b,
        Err(_) => &[],
    }
}

/// The write an entry's command carries: the key of a put with a 4-byte key, whoever
/// proposed it. `None` for anything else (another command, or bytes that are not a command).
pub fn decode_write(command: &[u8]) -> Option<u32> {
    match postcard::from_bytes::<Request<'_>>(command).ok()?.command {
        Command::Put { key, .. } => <[u8; 4]>::try_from(key).ok().map(u32::from_be_bytes),
    }
}
