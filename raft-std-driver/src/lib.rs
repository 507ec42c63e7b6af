//! The std driver for raft-core: UDP transport, durable storage, a replicated key-value
//! store and the binaries built on them.
#![deny(missing_docs)]

pub mod kv;
pub mod storage;
pub mod transport;
