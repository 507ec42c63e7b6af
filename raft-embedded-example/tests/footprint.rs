//! The size of the firmware's raft-core `State` ([`Node`]): its 32-entry log window is not
//! inline but a [`Window`] lent from the application's memory (a `static` on the firmware, one
//! window per node and a spare), and the rest lives in a `static`, inside the node's engine,
//! [`NodeEngine`]. The host driver's is printed by `raft-std-driver/tests/footprint.rs`.

use core::mem::size_of;

use raft_embedded_example::cluster::{
    Node, NodeEngine, Window, WindowMemory, INFLIGHT, LOG, OUTPUTS, WINDOWS,
};
use raft_embedded_example::link::NODES;
use raftcore::StepError;

#[test]
fn the_firmware_state_lends_its_window_and_stays_small() {
    let state = size_of::<Node>();
    let by_value = state + size_of::<(Node, Result<raftcore::Outputs<OUTPUTS>, StepError>)>();
    println!(
        "firmware State<{NODES}, {LOG}, {INFLIGHT}, Window>: {state} bytes (of which {} of \
         window handle; the {LOG} slots, {} bytes, are lent); a by-value step copies \
         {by_value} bytes",
        size_of::<Window>(),
        LOG * size_of::<raftcore::LogSlot>()
    );
    println!(
        "firmware log windows: {WINDOWS} of {LOG} slots, {} bytes (one per node and a spare)",
        size_of::<WindowMemory>()
    );
    assert!(state <= 1800, "the firmware State grew: {state} bytes");
    // The engine keeps the state, an output list of exactly `outputs_needed(NODES)` and the
    // seams (disk index and hard state, link, state machine) in one static per node.
    println!(
        "firmware node engine: {} bytes (of which {} of output list for {OUTPUTS} outputs)",
        size_of::<NodeEngine>(),
        size_of::<raftcore::Outputs<OUTPUTS>>()
    );
}
