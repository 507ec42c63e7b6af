//! The random schedules of the property tests (`properties.rs`), shared with the bug
//! catalogue (`bug_catalogue.rs`): the cluster shapes a seed picks, the schedule length, and
//! one run with every invariant checked after every step and liveness after healing.

use raft_sim::{Cluster, SimConfig, SimRng};
use raftcore::Durability;

/// Ticks the cluster gets to elect a leader and converge after healing.
pub const SETTLE_ROUNDS: u32 = 400;

/// The cluster shapes schedules run on, chosen by the seed. Half the seeds of shapes 0, 3
/// and 5 (by bit 3) make every second proposal as large as a frame allows, so appends split
/// at those entries; half the seeds of shapes 6 and 7 (by bit 4) make joint membership
/// changes as well as single ones; the other seeds, and so the seeds of the regression tests,
/// draw the same schedules as before those knobs existed.
pub fn shape(n: u64) -> (&'static str, SimConfig) {
    let (name, sim) = base_shape(n);
    if matches!(n % 8, 6 | 7) && n >> 4 & 1 == 1 {
        let name = if n % 8 == 6 {
            "5-joiners-joint"
        } else {
            "4-joiners-tiny-joint"
        };
        return (
            name,
            SimConfig {
                joint_changes: true,
                ..sim
            },
        );
    }
    if matches!(n % 8, 0 | 3 | 5) && n >> 3 & 1 == 1 {
        let name = match n % 8 {
            0 => "3-inline-large",
            3 => "3-tiny-large",
            _ => "5-tiny-inline-large",
        };
        return (
            name,
            SimConfig {
                large_proposals: true,
                ..sim
            },
        );
    }
    (name, sim)
}

pub fn base_shape(n: u64) -> (&'static str, SimConfig) {
    let base = SimConfig::default();
    match n % 8 {
        0 => ("3-inline", base),
        1 => (
            "3-deferred",
            SimConfig {
                durability: Durability::Deferred,
                ..base
            },
        ),
        2 => (
            "5-deferred",
            SimConfig {
                nodes: 5,
                durability: Durability::Deferred,
                ..base
            },
        ),
        3 => (
            // Tiny capacities: an 8-entry window, 2 messages in flight, 3 uncommitted entries,
            // 1 entry per Apply, frames that hold about two entries, a 200-byte store.
            "3-tiny",
            SimConfig {
                max_frame_bytes: 120,
                max_inflight_msgs: 2,
                max_uncommitted: 3,
                max_apply: 1,
                log_bytes: 200,
                durability: Durability::Deferred,
                ..base
            },
        ),
        4 => (
            "3-no-prevote",
            SimConfig {
                pre_vote: false,
                check_quorum: false,
                ..base
            },
        ),
        6 => (
            // Three voters and two nodes outside the cluster that membership changes add
            // (as learners first), promote, demote and remove.
            "5-joiners",
            SimConfig {
                nodes: 5,
                initial_voters: 3,
                durability: Durability::Deferred,
                ..base
            },
        ),
        7 => (
            "4-joiners-tiny",
            SimConfig {
                nodes: 4,
                initial_voters: 2,
                max_frame_bytes: 140,
                max_inflight_msgs: 2,
                max_uncommitted: 3,
                max_apply: 1,
                log_bytes: 260,
                ..base
            },
        ),
        _ => (
            "5-tiny-inline",
            SimConfig {
                nodes: 5,
                max_frame_bytes: 120,
                max_inflight_msgs: 2,
                max_uncommitted: 3,
                max_apply: 1,
                log_bytes: 200,
                ..base
            },
        ),
    }
}

/// Runs `seed`'s schedule of `steps` random actions on its shape, then heals and settles.
#[allow(dead_code)] // `bug_catalogue.rs` runs adapted shapes only (`run_on`).
pub fn run(seed: u64, steps: usize) -> Result<(), String> {
    let (name, sim) = shape(seed);
    let replay = format!(
        "SEED={seed} cargo test -p raft-sim --test properties replay -- --ignored --nocapture"
    );
    run_on(name, sim, seed, steps).map_err(|e| format!("{e}\nreplay: {replay}"))
}

/// [`run`] on the shape `name`, `sim` (the seed also draws the schedule).
pub fn run_on(name: &str, sim: SimConfig, seed: u64, steps: usize) -> Result<(), String> {
    let mut rng = SimRng::new(seed);
    let res = if name.contains("tiny") {
        let mut c: Cluster<5, 8, 2> = Cluster::new(sim, seed)?;
        c.run_random(&mut rng, steps)
            .and_then(|()| c.heal_and_settle(SETTLE_ROUNDS).map(|_| ()))
    } else {
        let mut c: Cluster<5, 64, 4> = Cluster::new(sim, seed)?;
        c.run_random(&mut rng, steps)
            .and_then(|()| c.heal_and_settle(SETTLE_ROUNDS).map(|_| ()))
    };
    res.map_err(|e| format!("seed {seed} ({name}): {e}"))
}

/// Schedules of 500 to 3,000 actions: several elections, crashes and partitions each.
pub fn steps_for(seed: u64) -> usize {
    500 + (seed >> 8) as usize % 2500
}
