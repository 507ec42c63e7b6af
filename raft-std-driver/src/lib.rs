//! The std driver for raft-core: UDP transport, durable storage, a replicated key-value
//! store, the [`Node`](node::Node) driver that runs raft-core's engine over them, a
//! blocking [`Client`](client::Client), and the binaries built on them (`raft-node`,
//! `raft-client`, `raft-demo`). Services on tokio use the `raft-tokio` crate, an async API
//! over this crate's [`NodeHandle`](node::NodeHandle).
#![deny(missing_docs)]

pub mod admin;
pub mod cli;
pub mod client;
pub mod config;
pub mod kv;
pub mod local;
pub mod logstore;
pub mod machine;
pub mod node;
pub mod storage;
pub mod transport;
pub mod wire;
