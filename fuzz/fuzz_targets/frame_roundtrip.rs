//! cargo-fuzz target: see `raft_core::sim::fuzz::frame_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raft_core::sim::fuzz::frame_roundtrip(data));
