//! Regression tests from bugs injected on purpose to show that the fuzzers and the model
//! checker catch them (issue 6). Each passes on the real core and fails with its bug put
//! back; `fuzz/README.md` has the patches, the commands and the times to find.
#![cfg(feature = "sim")]

use raft_core::sim::fuzz::ClusterCase;
use raft_core::sim::{Action::*, SimConfig};
use raft_core::Durability;

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
    let case = ClusterCase {
        sim: SimConfig {
            nodes: 3,
            durability: Durability::Inline,
            max_frame_bytes: 128,
            max_inflight_msgs: 1,
            max_uncommitted: 4,
            max_apply: 2,
            log_bytes: 139,
            pre_vote: false,
            check_quorum: false,
            election_ticks: 5,
            heartbeat_ticks: 2,
        },
        seed: 0,
        actions: vec![
            Tick(0),
            Tick(0),
            Tick(0),
            Tick(0),
            Tick(0),
            Elapse(4),
            Deliver(101),
            Crash(5),
        ],
    };
    if let Err(e) = case.run() {
        panic!("{e}");
    }
}
