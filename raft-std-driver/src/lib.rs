// The crate docs are the README (its command blocks are `sh`, `toml` and `text`: not doctests).
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// The stats document is one `serde_json::json!` literal, deeper than the default limit allows.
#![recursion_limit = "256"]

pub mod admin;
pub mod cli;
pub mod client;
pub mod config;
pub mod join;
pub mod kv;
pub mod local;
pub mod logstore;
pub mod machine;
pub mod metrics;
pub mod node;
pub mod rebuild;
pub mod storage;
pub mod transport;
pub mod wire;
