//! The size of the firmware's raft-core `State` ([`Node`]): its 32-entry log window is inline
//! (the whole value lives in a `static`, inside the node's engine, [`NodeEngine`]). The host
//! driver's is printed by `raft-std-driver/tests/footprint.rs`.

use core::mem::size_of;

use raft_core::StepError;
use raft_embedded_example::cluster::{Node, NodeEngine, INFLIGHT, LOG, OUTPUTS};
use raft_embedded_example::link::NODES;

#[test]
fn the_firmware_state_keeps_its_window_inline_and_small() {
    let state = size_of::<Node>();
    let by_value = state + size_of::<(Node, Result<raft_core::Outputs<OUTPUTS>, StepError>)>();
    println!(
        "firmware State<{NODES}, {LOG}, {INFLIGHT}>: {state} bytes (of which {} of log \
         window); a by-value step copies {by_value} bytes",
        LOG * size_of::<raft_core::LogSlot>()
    );
    assert!(state <= 2300, "the firmware State grew: {state} bytes");
    // The engine keeps the state, an output list of exactly `outputs_needed(NODES)` and the
    // seams (disk index and hard state, link, state machine) in one static per node.
    println!(
        "firmware node engine: {} bytes (of which {} of output list for {OUTPUTS} outputs)",
        size_of::<NodeEngine>(),
        size_of::<raft_core::Outputs<OUTPUTS>>()
    );
}
