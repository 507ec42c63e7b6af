//! Property tests: random schedules with loss, duplication, reordering, (asymmetric)
//! partitions, crash-restart keeping only durable state, late persistence and tiny
//! capacities. The checker verifies Election Safety, Leader Append-Only, Log Matching,
//! Leader Completeness, State Machine Safety and "nothing acknowledged before durable" after
//! every step; after the schedule the network heals and a leader must emerge and every node
//! apply every committed entry within a bound.
//!
//! 2,000 schedules per run by default; `QUICKCHECK_TESTS=N` for more. A failure prints the
//! seed and the command that replays it:
//! `SEED=<seed> SHAPE=<shape> cargo test -p raft-sim --test properties replay -- --ignored --nocapture`

mod schedules;

use quickcheck::{QuickCheck, TestResult};
use raft_sim::{Cluster, SimRng};
use schedules::{run, shape, steps_for, SETTLE_ROUNDS};

fn tests() -> u64 {
    std::env::var("QUICKCHECK_TESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn safety_holds_and_the_cluster_recovers_on_random_schedules() {
    fn prop(seed: u64) -> TestResult {
        match run(seed, steps_for(seed)) {
            Ok(()) => TestResult::passed(),
            Err(e) => TestResult::error(e),
        }
    }
    QuickCheck::new()
        .tests(tests())
        .max_tests(tests() * 2)
        .quickcheck(prop as fn(u64) -> TestResult);
}

/// Found by the bug catalogue's searches (a clean core, PreVote and CheckQuorum off, deferred
/// durability): a candidate granted by a majority of the others became leader before its own
/// term and vote were durable, crashed, restarted in the term before, won the same term again
/// from the same voters, and wrote a different entry 2 under term 2: Log Matching broken.
/// A candidate now leads only once its own term and vote are durable.
#[test]
fn a_candidate_leads_only_once_its_own_term_is_durable() {
    let seed = 2_597_055_107_677_508_241;
    let (name, sim) = shape(seed);
    let sim = raft_sim::SimConfig {
        pre_vote: false,
        check_quorum: false,
        lease_reads: false,
        ..sim
    };
    assert_eq!(name, "3-deferred");
    if let Err(e) = schedules::run_on(name, sim, seed, steps_for(seed)) {
        panic!("{e}");
    }
}

/// Runs `seed`'s schedule (the regression tests below), panicking with its failure.
fn check_seed(seed: u64) {
    if let Err(e) = run(seed, steps_for(seed)) {
        panic!("{e}");
    }
}

/// Replays one seed: `SEED=<n> cargo test -p raft-sim --test properties replay -- --ignored --nocapture`.
#[test]
#[ignore = "run by hand with SEED=<n> to replay a failing schedule"]
fn replay() {
    let seed: u64 = std::env::var("SEED")
        .expect("set SEED")
        .parse()
        .expect("SEED is a number");
    let steps = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(steps_for(seed));
    if let Err(e) = run(seed, steps) {
        panic!("{e}");
    }
}

/// Found by `safety_holds_and_the_cluster_recovers_on_random_schedules` (a random seed): a
/// leader demoted itself to learner, the change reached one other voter and was not committed,
/// and the third voter had an empty log. The demoted node, still a voter of the configuration
/// before (so it campaigns, thesis 4.2.2), needed the other holder's vote, which ignored it as a
/// non-voter with no newer log; its campaigns kept taking the third voter's vote, and no leader
/// arose for 400 rounds after healing. A voter of the configuration before an uncommitted one
/// is now heard.
#[test]
fn a_voter_of_the_configuration_before_an_uncommitted_one_is_heard() {
    check_seed(12_092_144_553_462_602_180);
}

/// Found by `safety_holds_and_the_cluster_recovers_on_random_schedules` at 100,000 schedules
/// (shape `3-no-prevote`): n3 was removed by an uncommitted change, so the voters in force
/// were n1 and n2, and n3, a voter of the configuration before, held the longest log. n1 (the
/// shortest log, never electable) campaigned again and again, but asked only the members in
/// force: n3 never learned n1's term, campaigned in the term n1 had already voted itself in,
/// and lost n1's vote every time; no leader for 453 rounds after healing. A candidate now asks
/// every node it tracks, former members included; the cluster settles at once.
#[test]
fn a_former_member_that_may_still_campaign_learns_the_candidates_term() {
    check_seed(12_750_093_435_238_890_908);
}

/// Found at 100,000 schedules (shape `3-no-prevote`): a demotion of n2 to learner is
/// uncommitted, so n1 and n3 are the voters in force and n2, a voter of the configuration
/// before, may campaign too. n3 holds the longest log and must win; n1 (the shortest) and n2
/// keep campaigning, n1 gives its vote to n2 (whose log is newer), and every campaign, its
/// higher term seen by the others, restarted their election timers as well, so n3's timer
/// rarely ran out first: without PreVote the cluster settled only after 416 rounds, past the
/// property's bound of 400. A follower's or candidate's timer now restarts only as Figure 2
/// says (a vote granted, the current leader heard), not on a higher term or a refused vote
/// request, and the schedule settles within the bound.
#[test]
fn three_campaigners_around_an_uncommitted_demotion_settle_within_the_bound() {
    check_seed(1_370_994_385_946_788_204);
}

/// Found at 100,000 schedules (2026-12-06; it failed the same way on the core before the
/// simulator left raft-core, at `a3443ef`): after the schedule all three nodes held the same
/// eight uncommitted entries (terms up to 6, commit 0) and filled the 8-entry window of the tiny
/// shape; the leader of term 7 could not append its empty entry, so nothing ever committed.
/// This is the limit the crate docs name ("every leader appends an empty entry, so if more
/// consecutive leaders than the slots proposals keep free (`LOG / 4`) all fail to commit
/// anything, the window fills"); with `LOG` = 8 two free slots are few. Since election timers
/// restart only as Figure 2 says (not on a higher term), the same schedule reaches fewer
/// terms: it ends at term 4 with n2 holding five uncommitted entries (window 5 of 8), and
/// the cluster settles 7 rounds after healing. The limit itself stands (enough consecutive
/// leaders that commit nothing still fill the window); this seed no longer reaches it and is
/// kept as a passing schedule of the tiny shape.
#[test]
fn failed_leaders_uncommitted_entries_fill_the_tiny_window() {
    let seed = 6_623_028_705_032_936_155;
    assert_eq!(shape(seed).0, "3-tiny-large");
    check_seed(seed);
}

/// Reported failing (shape `3-tiny`, not settled after healing) by a 100,000-schedule run of an
/// earlier attempt at the Figure 2 timer rule, and taken for the window-filling limit above.
/// It passes both before the rule and with it as committed (a leader stepping down still
/// restarts its timer); kept so that the schedule stays checked.
#[test]
fn a_tiny_window_schedule_reported_against_an_earlier_timer_rule() {
    let seed = 4_936_126_985_237_728_419;
    assert_eq!(shape(seed).0, "3-tiny");
    check_seed(seed);
}

/// The Figure 8 rule (5.4.2: a leader commits entries of earlier terms only by committing one
/// of its own term): with the rule broken on purpose (`maybe_commit` counting replicas of any
/// entry), this seed of a large-proposals shape fails Leader Completeness (the leader of term 5
/// lacks committed entry 5): a leader counted an earlier term's entry on a majority from an
/// append that a frame-sized entry split away from its own empty entry. Kept so that the
/// schedule stays one the property checks, and passes, with the rule in place.
#[test]
fn an_earlier_terms_entry_on_a_majority_is_not_committed_by_counting() {
    let seed = 2_767_572_680_556_053_480;
    assert_eq!(shape(seed).0, "3-inline-large");
    check_seed(seed);
}

/// Found by `safety_holds_and_the_cluster_recovers_on_random_schedules` at 50,000 schedules (a
/// random seed, shape `5-joiners`, deferred durability): a deposed leader still had two of its
/// appends waiting to become durable when it installed a leader's snapshot whose entry at the
/// snapshot's index was of another term. The simulator's driver reset its durable log at the
/// install and only then let the older writes land, so the durable log held the old term's
/// entry after the snapshot (Log Matching broken on disk; a crash there would have left a log
/// that fails to restore). The std driver's WAL orders the install after the writes before it;
/// the output contract now says it must, and the simulator's driver does.
#[test]
fn a_snapshot_install_lands_after_the_writes_before_it() {
    check_seed(7_281_706_824_538_180_102);
}

/// Membership churn: the joiner shapes with faults in one action of four (so leaders last
/// long enough to change the membership often), every property checked after every step and
/// liveness after healing; over 300 schedules leaders accept hundreds of changes and some
/// leader is removed or demoted by one.
#[test]
fn membership_churn_keeps_safety_and_removes_leaders() {
    let (mut changes, mut removed) = (0, 0);
    for k in 0..300u64 {
        let seed = k * 8 + 6 + (k % 2);
        let (name, sim) = shape(seed);
        let mut c: Cluster<5, 64, 4> = Cluster::new(sim, seed).expect("valid shape");
        let mut rng = SimRng::new(seed);
        let res = (0..steps_for(seed))
            .try_for_each(|step| {
                let a = c.random_action(&mut rng, step % 4 == 0);
                c.act(a).map_err(|e| format!("step {step} ({a:?}): {e}"))
            })
            .and_then(|()| c.heal_and_settle(SETTLE_ROUNDS).map(|_| ()));
        if let Err(e) = res {
            panic!("seed {seed} ({name}), churn: {e}");
        }
        changes += c.membership_changes;
        removed += c.leaders_removed;
    }
    println!("{changes} membership changes, {removed} leaders stepped down after removal");
    assert!(changes > 200, "{changes} changes");
    assert!(removed > 20, "{removed} leaders removed");
}

/// Joint consensus under churn: the joiner shapes with joint changes, faults in one action of
/// four, every property checked after every step and liveness after healing. Over 200
/// schedules the committed configuration becomes joint about 40 times and is left again about
/// 20 times (the others, explicit ones, stay joint until the schedule ends), with the safety
/// properties held throughout and both majorities deciding in between.
/// `RAFT_JOINT_SCHEDULES=N` runs N schedules instead (the 100,000-schedule run of
/// VERIFICATION.md: `RAFT_JOINT_SCHEDULES=100000 cargo test --release -p raft-sim --test
/// properties joint_changes -- --nocapture`).
#[test]
fn joint_changes_commit_and_are_left_under_churn() {
    let schedules: u64 = std::env::var("RAFT_JOINT_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (mut entered, mut left) = (0, 0);
    for k in 0..schedules {
        // Shapes 6 and 7 with bit 4 set: joint changes on.
        let seed = k * 32 + 16 + 6 + (k % 2);
        let (name, sim) = shape(seed);
        assert!(sim.joint_changes, "{name}");
        let mut c: Cluster<5, 64, 4> = Cluster::new(sim, seed).expect("valid shape");
        let mut rng = SimRng::new(seed);
        let mut joint = false;
        let res = (0..steps_for(seed))
            .try_for_each(|step| {
                let a = c.random_action(&mut rng, step % 4 == 0);
                c.act(a).map_err(|e| format!("step {step} ({a:?}): {e}"))?;
                let now = c.checker().committed_membership().is_joint();
                if now != joint {
                    if now {
                        entered += 1;
                    } else {
                        left += 1;
                    }
                    joint = now;
                }
                Ok::<(), String>(())
            })
            .and_then(|()| c.heal_and_settle(SETTLE_ROUNDS).map(|_| ()));
        if let Err(e) = res {
            panic!("seed {seed} ({name}), joint churn: {e}");
        }
    }
    println!("committed joint configurations: {entered} entered, {left} left");
    println!("{schedules} schedules");
    assert!(
        entered > schedules / 10,
        "{entered} joint configurations committed"
    );
    assert!(left > schedules / 20, "{left} joint configurations left");
}
