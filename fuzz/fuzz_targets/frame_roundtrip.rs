//! cargo-fuzz target: see `raft_sim::fuzz::frame_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raft_sim::fuzz::frame_roundtrip(data));
