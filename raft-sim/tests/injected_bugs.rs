//! Regression tests from bugs injected on purpose to show that the fuzzers and the model
//! checker catch them (issue 6). Each passes on the real core and fails with its bug put
//! back; `fuzz/README.md` has the patches, the commands and the times to find.

use raft_sim::fuzz::ClusterCase;
use raft_sim::Action::*;
use raftcore::Durability;

/// Injected bug: `State::restore` forgets the durable vote (`hard_state.vote = None`).
/// Found by `cargo +nightly fuzz run cluster` in 103 s (28,000 executions) once the
/// schedule decoder had `Elapse` (an election timeout in one action); minimized with
/// `cargo fuzz tmin` to these 13 bytes (`fuzz/regressions/cluster/injected-forget-vote-on-restart`).
///
/// n1 ticks into its election timeout and campaigns in term 1; n2 times out too (`Elapse`)
/// and campaigns in term 1; n3 receives n1's request and grants it, then crashes. Healing
/// restarts n3 and delivers everything: with its vote forgotten, n3 grants n2 as well and both
/// lead term 1 (Election Safety). With the vote restored, n3 refuses n2.
#[test]
fn a_restarted_voter_keeps_its_vote() {
    // The fuzz input itself (decoded below), so the test follows `SimConfig` as it grows.
    let case = ClusterCase::from_bytes(&[
        0xf8, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0x40, 0x65, 0xcd,
    ]);
    let s = &case.sim;
    assert_eq!((s.nodes, s.pre_vote, s.check_quorum), (3, false, false));
    assert_eq!(s.durability, Durability::Inline);
    assert_eq!((s.election_ticks, case.seed), (5, 0));
    // n1 runs into its election timeout, n2's clock runs until it campaigns (Elapse(4) is
    // node 4 % 3), a vote request reaches n3 (frame 101 % 4), n3 (node 5 % 3) crashes.
    assert_eq!(
        case.actions,
        [
            Tick(0),
            Tick(0),
            Tick(0),
            Tick(0),
            Tick(0),
            Elapse(4),
            Deliver(101),
            Crash(5)
        ]
    );
    if let Err(e) = case.run() {
        panic!("{e}\n{}", case.to_rust());
    }
}
