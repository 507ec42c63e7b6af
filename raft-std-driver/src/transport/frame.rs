//! Byte layout of a sealed datagram: the shared definition in `raft-seal`, which the firmware
//! boards use too.

pub(crate) use raft_seal::frame::{Header, NONCE_AT};
pub use raft_seal::frame::{HEADER_LEN, MAGIC_VERSION, OVERHEAD, TAG_LEN};
