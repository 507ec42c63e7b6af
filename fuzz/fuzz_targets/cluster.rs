//! cargo-fuzz target: see `raft_core::sim::fuzz::cluster`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raft_core::sim::fuzz::cluster(data));
