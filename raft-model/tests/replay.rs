//! Model paths as regression tests: `RaftModel::replay` re-runs a path on real `State`s and
//! checks every `always` property after each step. The binary prints any counterexample in
//! this form; this one is the checker's shortest example of a completed client operation
//! (`RAFT_MODEL_EXAMPLES=1 RAFT_MODEL_TICKS=2 RAFT_MODEL_FAULTS=0 cargo run --release -p
//! raft-model` prints it again after a protocol change moves the messages).

use raft_model::{Action, Bounds, RaftModel};
use stateright::semantics::ConsistencyTester;

#[test]
fn shortest_path_to_a_completed_read_and_write_replays_clean() {
    use Action::*;
    let model = RaftModel {
        bounds: Bounds::SMALL,
    };
    #[rustfmt::skip] // One schedule, read left to right.
    let path = [
        Tick(2), Tick(2), Deliver(0), Deliver(1), Deliver(0), Deliver(1), Deliver(0),
        Deliver(1), Deliver(1), Deliver(0), Deliver(0), Deliver(0), Deliver(0), Deliver(1),
        Invoke(1, 2), Deliver(1), Deliver(1), Deliver(1), Deliver(1), Deliver(1), Invoke(0, 2),
        Deliver(1), Deliver(2), Deliver(1), Deliver(2), Deliver(1), Deliver(1), Deliver(1),
        Deliver(1), Deliver(1),
    ];
    let end = model.replay(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(end.history.is_consistent());
    assert!(
        end.applied.iter().any(|(_, d)| !d.is_empty()),
        "a value is committed"
    );
    assert!(
        end.clients.iter().any(|c| c.0 == 1 && c.1.is_none()),
        "an operation completed"
    );
}

#[test]
fn a_path_through_a_disabled_action_is_refused() {
    let model = RaftModel {
        bounds: Bounds::SMALL,
    };
    // Nothing is in flight at the start, so there is nothing to deliver.
    assert!(model.replay(&[Action::Deliver(0)]).is_err());
}
