//! Model paths as regression tests: `RaftModel::replay` re-runs a path on real `State`s and
//! checks every `always` property after each step. The binary prints any counterexample in
//! this form; this one is the checker's shortest example of a completed client operation
//! under the former single-tick bound `Bounds::ONE_ELECTION`
//! (`RAFT_MODEL_BOUND=one-election RAFT_MODEL_EXAMPLES=1 RAFT_MODEL_FAULTS=0 cargo run --release
//! -p raft-model` prints it again after a protocol change moves the messages).

use raft_model::{Action, Bounds, ModelState, RaftModel};
use stateright::semantics::ConsistencyTester;

/// n3's disk still holds its vote for n2, and no term had two leaders.
fn assert_n3_kept_its_vote_for_n2(end: &ModelState) {
    assert_eq!(
        end.disks[2].hs.1.map(|v| v.0),
        Some(2),
        "n3 keeps its vote for n2"
    );
    assert!(end.leaders.len() <= 1, "{:?}", end.leaders);
}

/// Replays `path` under `bounds`, failing the test with the checker's message if any step is
/// no transition or breaks a property.
fn replay_clean(bounds: Bounds, path: &[Action]) -> ModelState {
    RaftModel { bounds }
        .replay(path)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shortest_path_to_a_completed_read_and_write_replays_clean() {
    use Action::*;
    #[rustfmt::skip] // One schedule, read left to right.
    let path = [
        Tick(2), Tick(2), Deliver(0), Deliver(1), Deliver(0), Deliver(1), Deliver(0),
        Deliver(1), Deliver(1), Deliver(0), Deliver(0), Deliver(0), Deliver(0), Deliver(1),
        Invoke(1, 2), Deliver(1), Deliver(1), Deliver(1), Deliver(1), Deliver(1), Invoke(0, 2),
        Deliver(1), Deliver(2), Deliver(1), Deliver(2), Deliver(1), Deliver(1), Deliver(1),
        Deliver(1), Deliver(1),
    ];
    let end = replay_clean(Bounds::ONE_ELECTION, &path);
    assert!(end.history.is_consistent());
    assert!(
        end.applied.iter().any(|(_, _, d)| !d.is_empty()),
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

/// The counterexample `Bounds::SMALL` found (11 steps, 109,768 states, 10.8 s) with the
/// injected bug "forget the vote on restart" (`State::restore` clearing `HardState::vote`):
/// n1 and n2 both time out into term 1, n3 grants n2, reboots, and grants n1 as well; both
/// become leaders of term 1. With the vote restored from disk, n3 refuses n1 and the path
/// replays clean; with the bug it breaks Election Safety at step 10. Its trace:
/// `RAFT_MODEL_REPLAY="Tick(0) Tick(1) Deliver(0) Deliver(0) Deliver(0) Deliver(2) Reboot(2)
/// Deliver(1) Deliver(1) Deliver(1) Deliver(1)" cargo run --release -p raft-model`.
#[test]
fn a_rebooted_voter_does_not_vote_twice_in_one_term() {
    use Action::*;
    #[rustfmt::skip] // One schedule, read left to right.
    let path = [
        Tick(0), Tick(1), Deliver(0), Deliver(0), Deliver(0), Deliver(2), Reboot(2),
        Deliver(1), Deliver(1), Deliver(1), Deliver(1),
    ];
    let end = replay_clean(Bounds::SMALL, &path);
    // The path really is the double-vote schedule: n3 rebooted after voting for n2 in term 1.
    assert_eq!(end.disks[2].hs.0 .0, 1, "n3 is in term 1");
    assert_n3_kept_its_vote_for_n2(&end);
}

/// The counterexample `Bounds::FAULTS_LARGE` found (10 steps, 443,076 states, 27-34 s) with
/// the same injected bug, a path `Bounds::FAULTS` admits too (one drop, one reboot): a lost
/// vote request (n1 -> n2) makes room in the network for n1's request to reach n3 after n3
/// granted n2 and rebooted. With the vote restored from disk, n3 refuses n1 and the path
/// replays clean; with the bug it breaks Election Safety at step 9. (`Bounds::FAULTS` itself
/// finds another 10-step path, whose end the correct core never reaches.)
#[test]
fn a_rebooted_voter_does_not_vote_twice_after_a_lost_request() {
    use Action::*;
    #[rustfmt::skip] // One schedule, read left to right.
    let path = [
        Tick(0), Tick(1), Deliver(0), Drop(0), Deliver(2), Reboot(2),
        Deliver(1), Deliver(1), Deliver(1), Deliver(1),
    ];
    let end = replay_clean(Bounds::FAULTS, &path);
    assert_n3_kept_its_vote_for_n2(&end);
}

#[test]
fn a_printed_path_parses_back() {
    use Action::*;
    let path = [
        Tick(0),
        Deliver(3),
        Reboot(2),
        Invoke(1, 2),
        Drop(0),
        Duplicate(1),
        RemoveMember(0, 2),
        MakeLearner(1, 2),
        MakeVoter(2, 2),
        Snapshot(1),
        Transfer(0, 2),
    ];
    let text: Vec<String> = path.iter().map(|a| format!("{a:?}")).collect();
    assert_eq!(RaftModel::parse_path(&text.join(" ")).unwrap(), path);
    assert_eq!(
        RaftModel::parse_path("[Action::Tick(0), Action::Invoke(1, 2)]").unwrap(),
        [Tick(0), Invoke(1, 2)]
    );
}

/// The membership bound's shortest committed change: n3 is elected, commits its empty
/// entry, removes n2 from the voters, and the change reaches n1 and commits.
#[test]
fn a_membership_change_commits_and_replays_clean() {
    use Action::*;
    #[rustfmt::skip] // One schedule, read left to right.
    let path = [
        Tick(2), Deliver(1), Deliver(1), Deliver(1), Deliver(2), Deliver(1), Deliver(2),
        Deliver(2), RemoveMember(2, 1), Deliver(1), Deliver(2),
    ];
    let end = replay_clean(Bounds::MEMBERSHIP, &path);
    let leader = &end.nodes[2].as_ref().expect("n3 is up").state;
    assert_eq!(leader.membership().voters().count(), 2);
    assert!(leader.commit() >= leader.membership_index(), "committed");
    // A change is refused once the budget is spent.
    let mut b = Bounds::MEMBERSHIP;
    b.changes = 0;
    assert!(RaftModel { bounds: b }.replay(&path).is_err());
}

/// The features bound's counterexample (6 steps, 3,379 states, 0.4 s) with the injected bug
/// "a leader transferring leadership keeps accepting proposals" (the `transfer.is_some()`
/// test dropped from the leader's proposal check): n1 is elected, is asked to hand over to
/// n2, and accepts a client's write meanwhile. The correct core answers `Busy`, which is no
/// transition of the model.
#[test]
fn a_leader_transferring_leadership_refuses_proposals() {
    use Action::*;
    let model = RaftModel {
        bounds: Bounds::FEATURES,
    };
    let path = [
        Tick(0),
        Deliver(0),
        Deliver(1),
        Deliver(1),
        Transfer(0, 1),
        Invoke(0, 0),
    ];
    let before = model.replay(&path[..5]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.transfer.map(|t| (t.0, t.1 .0)), Some((0, 1)));
    let e = model.replay(&path).expect_err("the write must be refused");
    assert!(e.contains("step 5: Invoke(0, 0) is no transition"), "{e}");
}

/// The features bound's counterexample (16 steps, 136,820 states, 22.5 s) with the injected
/// bug "a follower that installs a snapshot does not advance its applied index": n1 commits
/// its empty entry and a write with n2, snapshots at index 1 and compacts; n3, which holds
/// entry 1 but not its commit, gets the snapshot in one chunk and installs it (keeping its
/// log after index 1). With the bug the core then asks n3's driver to apply entry 1 again,
/// which the snapshot already holds: the driver contract breaks. The path needs 5 frames in
/// flight at its last step (both of n3's snapshot responses), one more than the bound has.
#[test]
fn a_follower_that_installs_a_snapshot_applies_after_it() {
    use Action::*;
    let model = RaftModel {
        bounds: Bounds {
            max_in_flight: 5,
            ..Bounds::FEATURES
        },
    };
    #[rustfmt::skip] // One schedule, read left to right.
    let path = [
        Tick(0), Deliver(0), Deliver(0), Invoke(0, 0), Deliver(0), Deliver(0), Snapshot(0),
        Deliver(0), Deliver(3), Deliver(1), Deliver(0), Deliver(3), Deliver(3), Deliver(1),
        Deliver(0), Deliver(3),
    ];
    let end = model.replay(&path).unwrap_or_else(|e| panic!("{e}"));
    let n3 = &end.disks[2];
    assert_eq!(n3.snapshot.as_ref().map(|f| f.meta.index.0), Some(1));
    assert_eq!(n3.machine.applied.0, 1, "the snapshot's state machine");
    assert_eq!(n3.log.base.0, 1, "the log store starts after the snapshot");
    assert!(end.broken.is_none());
}

#[test]
fn every_scripted_start_runs_clean() {
    for bounds in [
        Bounds::OVERWRITE,
        Bounds::READ_AFTER_CHANGE,
        Bounds::LEASE_AFTER_CHANGE,
        Bounds::CHANGE_SPLIT,
    ] {
        let model = RaftModel { bounds };
        let start = model
            .scripted_start()
            .unwrap_or_else(|e| panic!("{bounds:?}: {e}"));
        // Budgets whole after the script, and its opening reached: a leader in its last term.
        assert_eq!(start.left[0], bounds.ticks);
        assert!(!start.leaders.is_empty());
        // The empty path from the start breaks no property.
        model.replay(&[]).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_script_step_without_its_frame_is_an_error() {
    let model = RaftModel {
        bounds: Bounds {
            script: &[raft_model::Step::Deliver(0, 1)],
            ..Bounds::SMALL
        },
    };
    let e = model.scripted_start().unwrap_err();
    assert!(e.contains("no frame n1 -> n2"), "{e}");
}
