//! The size of the raft-core `State` the UDP driver runs ([`Core`]): its 16,384-entry log
//! window lives in a boxed slice beside it, so the value itself stays a few KiB and a by-value
//! step copies only that. (The firmware's `State` is printed by
//! `raft-embedded-example/tests/footprint.rs`.)

use std::mem::size_of;

use raft_std_driver::node::{Core, INFLIGHT, LOG_WINDOW, MAX_VOTERS};
use raftcore::{outputs_needed, Outputs, StepError};

const N: usize = outputs_needed(MAX_VOTERS);

#[test]
fn the_host_state_is_at_most_4_kib_with_its_window_out_of_line() {
    let state = size_of::<Core>();
    let by_value = state + size_of::<(Core, Result<Outputs<N>, StepError>)>();
    println!(
        "host State<{MAX_VOTERS}, {LOG_WINDOW}, {INFLIGHT}, Box<[LogSlot]>>: {state} bytes \
         (+ {} bytes of window on the heap); a by-value step copies {by_value} bytes",
        LOG_WINDOW * size_of::<raftcore::LogSlot>()
    );
    assert!(
        state <= 4096,
        "the host State grew past 4 KiB: {state} bytes"
    );
}
