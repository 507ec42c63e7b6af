//! cargo-fuzz target: see `raft_sim::fuzz::cluster`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raft_sim::fuzz::cluster(data));
