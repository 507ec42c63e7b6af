//! cargo-fuzz target: see `raft_sim::fuzz::single_node`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raft_sim::fuzz::single_node(data));
