//! Election latency in raft-core's deterministic simulator (`raft-sim`).
//!
//! Per seed: a fresh 3-node simulated cluster (the simulator's defaults: election timeout 10
//! ticks, each timeout drawn from [10, 20), heartbeat 3 ticks, CheckQuorum on, inline
//! durability; PreVote on or off) runs healthy rounds until it has settled under one leader;
//! then 0 to 9 further rounds (drawn from the seed, so the loss falls at every phase of the
//! heartbeat); then the leader crashes. The latency is the number of healthy rounds after the
//! crash until another node is leader. A healthy round is one tick on every live node followed
//! by the delivery of every frame in flight (through the real codec, invariants checked after
//! every step), so rounds are ticks and message delays count as zero.

use raft_sim::{Cluster, SimConfig, SimRng};

/// Election timeout of the simulated nodes (ticks).
pub const ELECTION_TICKS: u32 = 10;
/// Heartbeat interval of the simulated nodes (ticks).
pub const HEARTBEAT_TICKS: u32 = 3;

/// Latency distribution over seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// Seeds run.
    pub seeds: u64,
    /// Median ticks.
    pub p50: u32,
    /// 99th percentile ticks (nearest rank).
    pub p99: u32,
    /// Worst case ticks.
    pub max: u32,
}

fn sim_config(pre_vote: bool) -> SimConfig {
    SimConfig {
        pre_vote,
        check_quorum: true,
        election_ticks: ELECTION_TICKS,
        heartbeat_ticks: HEARTBEAT_TICKS,
        ..SimConfig::default()
    }
}

/// Ticks from the loss of the leader to a new leader for one seed.
pub fn one(pre_vote: bool, seed: u64) -> Result<u32, String> {
    let mut c: Cluster<3, 64, 4> = Cluster::new(sim_config(pre_vote), seed)?;
    let mut rounds = 0;
    while !c.settled() {
        c.healthy_round()?;
        rounds += 1;
        if rounds > 1000 {
            return Err(format!("seed {seed}: no first leader in 1000 rounds"));
        }
    }
    let extra = SimRng::new(seed ^ 0xe1ec_7104).in_range(0, 10);
    for _ in 0..extra {
        c.healthy_round()?;
    }
    let old = c.leader().ok_or("leader vanished")?;
    c.crash(old);
    let mut ticks = 0u32;
    loop {
        c.healthy_round()?;
        ticks += 1;
        if c.leader().is_some_and(|l| l != old) {
            return Ok(ticks);
        }
        if ticks > 10_000 {
            return Err(format!("seed {seed}: no new leader in 10,000 ticks"));
        }
    }
}

/// Runs seeds `0..seeds` and returns the distribution.
pub fn latency(pre_vote: bool, seeds: u64) -> Result<Latency, String> {
    let mut v = Vec::with_capacity(seeds as usize);
    for seed in 0..seeds {
        v.push(one(pre_vote, seed)?);
    }
    v.sort_unstable();
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Ok(Latency {
        seeds,
        p50: rank(0.50),
        p99: rank(0.99),
        max: *v.last().expect("at least one seed"),
    })
}
