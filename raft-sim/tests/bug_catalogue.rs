//! The bug catalogue against the property tests: each classic Raft bug of
//! `raftcore::inject`, switched on alone, must be found by the random schedules of
//! `properties.rs` (the same shapes, actions, invariants and healing) within a budget of
//! schedules, as a violation of the invariant it breaks; the schedule that finds it must pass
//! on the core as it is. Seeds come in a fixed order, so the count is the same on every run.
//! One search draws its actions with other weights: the lease search's shapes
//! (`SimConfig::leader_cuts`) cut links around the current leader, as random as the others
//! otherwise.
//!
//! Test-only and behind the `inject` feature (the bug switch is process-wide, so this binary
//! runs its tests one at a time and nothing else):
//! `cargo test --release -p raft-sim --features inject --test bug_catalogue -- --nocapture`
//! prints one line per bug: the schedules it took, the seed, the shape and the violation.
//! `VERIFICATION.md` has the table.
#![cfg(feature = "inject")]

mod schedules;

use std::sync::Mutex;
use std::time::Instant;

use raft_sim::SimConfig;
use raftcore::inject::{self, Bug};
use raftcore::Durability;
use schedules::{run_on, shape, steps_for};

/// The bug switch is global: one search at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The `k`-th seed of every search (splitmix64: seeds spread over every shape and length).
fn seed(k: u64) -> u64 {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shape a search runs `seed` on: the properties' own, changed by `adapt` (`None`: the
/// seed is skipped and not counted).
type Adapt = fn(&'static str, SimConfig) -> Option<(&'static str, SimConfig)>;

fn as_is(name: &'static str, sim: SimConfig) -> Option<(&'static str, SimConfig)> {
    Some((name, sim))
}

/// Membership changes that demote or remove a voter demote a second one too (a correct
/// leader refuses them).
fn wide(name: &'static str, sim: SimConfig) -> Option<(&'static str, SimConfig)> {
    Some((
        name,
        SimConfig {
            wide_changes: true,
            ..sim
        },
    ))
}

/// Lease reads asked for, CheckQuorum (and PreVote, which a lease does not need) off, on
/// the shapes with inline durability (with deferred durability and both off the core failed
/// Log Matching before a fix: `VERIFICATION.md`, "Found on the way"; the searches' counts
/// were measured on these shapes).
fn lease(name: &'static str, sim: SimConfig) -> Option<(&'static str, SimConfig)> {
    if sim.durability != Durability::Inline {
        return None;
    }
    Some((
        name,
        SimConfig {
            lease_reads: true,
            check_quorum: false,
            pre_vote: false,
            ..sim
        },
    ))
}

/// The lease shapes with [`SimConfig::leader_cuts`]: random cuts around the current leader,
/// clocks that run until a node acts, more reads and writes (the window in which an old
/// leader still counts its lease while a newer one commits opens often). Not on the tiny
/// shapes: their 8-entry window is the bound the crate docs name (more consecutive leaders
/// that commit nothing than the 2 slots proposals keep free fill it for good), which this
/// shape's many elections reach without any bug.
fn lease_cuts(name: &'static str, sim: SimConfig) -> Option<(&'static str, SimConfig)> {
    if name.contains("tiny") {
        return None;
    }
    lease(name, sim).map(|(name, sim)| {
        (
            name,
            SimConfig {
                leader_cuts: true,
                ..sim
            },
        )
    })
}

/// The safety properties the checker reports, by the start of its message.
const ELECTION_SAFETY: &str = "Election Safety";
const LOG_MATCHING: &str = "Log Matching";
const LEADER_COMPLETENESS: &str = "Leader Completeness";
const STATE_MACHINE_SAFETY: &str = "State Machine Safety";
/// A node's committed entry differs from the entry committed there before (the checker's
/// global committed log): State Machine Safety seen at commit rather than at apply.
const COMMITTED_LOG: &str = "differs from the committed log";
/// A committed entry must be durable on a majority of the voters.
const DURABLE_QUORUM: &str = "durable on only";
/// A read sees every write acknowledged before it began (linearizable reads).
const STALE_READ: &str = "older than write";
/// A node's commit index never passes its log.
const COMMIT_IN_LOG: &str = "commit/applied beyond the log";

/// Searches schedules with `bug` on until one breaks an invariant of `expect` (a failure of
/// another kind, a liveness one after healing for instance, is printed and the search goes
/// on), within `budget` schedules, and checks that the same schedule passes with the bug
/// off. Returns the schedules it took.
fn hunt(bug: Bug, adapt: Adapt, budget: u64, expect: &[&str]) -> u64 {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let mut tried = 0;
    let mut k = 0;
    while tried < budget {
        let s = seed(k);
        k += 1;
        let (name, sim) = shape(s);
        let Some((name, sim)) = adapt(name, sim) else {
            continue;
        };
        tried += 1;
        inject::set(&[bug]);
        let found = run_on(name, sim, s, steps_for(s));
        inject::set(&[]);
        let Err(e) = found else {
            continue;
        };
        let first = e.lines().next().unwrap_or_default();
        if !expect.iter().any(|p| first.contains(p)) {
            println!("{}: schedule {tried}, another failure: {first}", bug.name());
            continue;
        }
        println!(
            "{}: found after {tried} schedules ({:.1} s): {first}",
            bug.name(),
            start.elapsed().as_secs_f64()
        );
        if let Err(clean) = run_on(name, sim, s, steps_for(s)) {
            panic!(
                "the schedule that found {} fails without it: {clean}",
                bug.name()
            );
        }
        return tried;
    }
    panic!(
        "{} not found in {budget} schedules ({:.1} s)",
        bug.name(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn figure8_commit_is_found() {
    // Only an append that a frame-sized entry split away from the new leader's empty entry
    // exposes it, after four elections: three nodes, frame-sized proposals, and no PreVote
    // or CheckQuorum (more elections), with inline durability.
    fn large(name: &'static str, sim: SimConfig) -> Option<(&'static str, SimConfig)> {
        let fits =
            sim.nodes == 3 && sim.initial_voters == 0 && sim.durability == Durability::Inline;
        fits.then_some((
            name,
            SimConfig {
                large_proposals: true,
                pre_vote: false,
                check_quorum: false,
                ..sim
            },
        ))
    }
    hunt(
        Bug::Figure8Commit,
        large,
        100_000,
        &[LEADER_COMPLETENESS, STATE_MACHINE_SAFETY, COMMITTED_LOG],
    );
}

#[test]
fn a_forgotten_vote_is_found() {
    hunt(Bug::ForgetVote, as_is, 20_000, &[ELECTION_SAFETY]);
}

#[test]
fn a_commit_past_the_match_is_found() {
    hunt(
        Bug::CommitPastMatch,
        as_is,
        20_000,
        &[STATE_MACHINE_SAFETY, COMMITTED_LOG, LEADER_COMPLETENESS],
    );
}

#[test]
fn a_missing_prev_check_is_found() {
    hunt(Bug::NoPrevCheck, as_is, 20_000, &[LOG_MATCHING]);
}

#[test]
fn an_ignored_higher_term_is_found() {
    hunt(Bug::IgnoreHigherTerm, as_is, 20_000, &[ELECTION_SAFETY]);
}

#[test]
fn a_stale_read_index_is_found() {
    hunt(Bug::StaleReadIndex, as_is, 20_000, &[STALE_READ]);
}

#[test]
fn an_unsettled_membership_change_is_found() {
    hunt(
        Bug::UnsettledChange,
        as_is,
        20_000,
        &[
            ELECTION_SAFETY,
            LEADER_COMPLETENESS,
            STATE_MACHINE_SAFETY,
            COMMITTED_LOG,
            LOG_MATCHING,
            DURABLE_QUORUM,
            STALE_READ,
        ],
    );
}

#[test]
fn a_two_voter_change_is_found() {
    hunt(
        Bug::TwoVoterChange,
        wide,
        20_000,
        &[
            ELECTION_SAFETY,
            LEADER_COMPLETENESS,
            STATE_MACHINE_SAFETY,
            COMMITTED_LOG,
            LOG_MATCHING,
            DURABLE_QUORUM,
            STALE_READ,
        ],
    );
}

/// The old leader must answer a read inside its lease after a new leader committed a write
/// and before any frame of the new term reaches it: a window the inline shapes' random ticks
/// did not open in 20,000 schedules, and the leader-cut shapes open often (`lease_cuts`,
/// `VERIFICATION.md`).
#[test]
fn a_lease_without_check_quorum_is_found() {
    hunt(
        Bug::LeaseWithoutCheckQuorum,
        lease_cuts,
        20_000,
        &[STALE_READ],
    );
}

#[test]
fn an_install_that_rolls_back_the_log_is_found() {
    hunt(
        Bug::InstallRollsBack,
        as_is,
        20_000,
        &[
            COMMIT_IN_LOG,
            LEADER_COMPLETENESS,
            STATE_MACHINE_SAFETY,
            COMMITTED_LOG,
            LOG_MATCHING,
        ],
    );
}

/// The adapted shapes pass on the core as it is (the catalogue's searches find the bugs,
/// not their own settings): 300 schedules of each.
#[test]
fn the_adapted_shapes_pass_without_bugs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    inject::set(&[]);
    for adapt in [wide as Adapt, lease, lease_cuts] {
        let mut tried = 0;
        for k in 0.. {
            let s = seed(k);
            let (name, sim) = shape(s);
            let Some((name, sim)) = adapt(name, sim) else {
                continue;
            };
            if let Err(e) = run_on(name, sim, s, steps_for(s)) {
                panic!("{e}");
            }
            tried += 1;
            if tried == 300 {
                break;
            }
        }
    }
}

#[test]
fn new_only_joint_majorities_are_found() {
    // The joiner shapes with joint changes on (a seed's bit 4; the others are skipped).
    fn joint(name: &'static str, sim: SimConfig) -> Option<(&'static str, SimConfig)> {
        sim.joint_changes.then_some((name, sim))
    }
    hunt(
        Bug::JointNewOnly,
        joint,
        20_000,
        &[
            ELECTION_SAFETY,
            LOG_MATCHING,
            LEADER_COMPLETENESS,
            STATE_MACHINE_SAFETY,
            COMMITTED_LOG,
            DURABLE_QUORUM,
        ],
    );
}

/// Replays one seed of a search by hand:
/// `SEED=<n> [BUG=<name>] [ADAPT=lease|lease-cuts|wide|no-cq] cargo test --release -p raft-sim --features inject
/// --test bug_catalogue replay -- --ignored --nocapture` (without `BUG`, on the core as it is).
#[test]
#[ignore = "run by hand with SEED=<n> to replay a search's schedule"]
fn replay() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let s: u64 = std::env::var("SEED")
        .expect("set SEED")
        .parse()
        .expect("SEED is a number");
    let (name, sim) = shape(s);
    let sim = match std::env::var("ADAPT").as_deref() {
        Ok("lease") => lease(name, sim),
        Ok("lease-cuts") => lease_cuts(name, sim),
        Ok("wide") => wide(name, sim),
        // The lease shape without the lease: PreVote and CheckQuorum off.
        Ok("no-cq") => lease(name, sim).map(|(n, s)| {
            (
                n,
                SimConfig {
                    lease_reads: false,
                    ..s
                },
            )
        }),
        _ => Some((name, sim)),
    };
    let (name, sim) = sim.expect("the adapted shape");
    let bug = std::env::var("BUG")
        .ok()
        .map(|b| Bug::parse(&b).expect("a bug's name"));
    inject::set(bug.as_slice());
    let res = run_on(name, sim, s, steps_for(s));
    inject::set(&[]);
    if let Err(e) = res {
        panic!("{e}");
    }
}
