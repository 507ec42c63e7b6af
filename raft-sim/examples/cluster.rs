//! A simulated 3-node cluster, printing elections, commits and a leader failover as they
//! happen, then a one-line summary. Everything is deterministic: the same seed prints the
//! same story.
//!
//! ```text
//! cargo run --release -p raft-sim --example cluster [seed]
//! ```

use std::process::ExitCode;

use raft_sim::{Cluster, SimConfig};
use raftcore::{Durability, Input, LogIndex, Role};

type Sim = Cluster<3, 64, 8>;

fn leader_of(c: &Sim) -> Option<usize> {
    c.leader()
}

fn run(seed: u64) -> Result<String, String> {
    let sim = SimConfig {
        durability: Durability::Deferred,
        ..SimConfig::default()
    };
    let mut c: Sim = Cluster::new(sim, seed)?;
    c.verbose = true;
    println!("3 nodes, seed {seed}: election timeout 10-19 ticks, heartbeat 3, PreVote and CheckQuorum on");

    let mut rounds = 0;
    while leader_of(&c).is_none() {
        c.healthy_round()?;
        rounds += 1;
    }
    let first = leader_of(&c).ok_or("no leader")?;
    println!("n{} elected after {rounds} ticks", first + 1);

    for v in 0..20u64 {
        propose(&mut c, v)?;
    }
    settle(&mut c)?;
    println!("20 writes committed on every node");

    println!("crashing the leader n{}", first + 1);
    c.crash(first);
    let mut ticks = 0;
    let second = loop {
        c.healthy_round()?;
        ticks += 1;
        match leader_of(&c) {
            Some(l) if l != first => break l,
            _ if ticks > 500 => return Err("no new leader".into()),
            _ => {}
        }
    };
    println!("failover: n{} leads after {ticks} ticks", second + 1);
    for v in 20..40u64 {
        propose(&mut c, v)?;
    }
    settle(&mut c)?;
    println!("restarting n{}", first + 1);
    c.restart(first)?;
    let rounds = c.heal_and_settle(500)?;
    let applied: Vec<LogIndex> = c
        .nodes
        .iter()
        .map(|n| n.machine().map_or(LogIndex(0), |m| m.applied))
        .collect();
    let digests: Vec<u64> = c
        .nodes
        .iter()
        .map(|n| n.machine().map_or(0, |m| m.digest))
        .collect();
    if digests.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("state machines differ: {digests:x?}"));
    }
    Ok(format!(
        "PASS: {} acknowledged writes on all 3 nodes (applied {}), failover in {ticks} ticks, caught up in {rounds} ticks, {} invariant checks",
        c.acked.len(),
        applied[0],
        c.checker().steps
    ))
}

fn propose(c: &mut Sim, v: u64) -> Result<(), String> {
    let l = leader_of(c).ok_or("no leader")?;
    let data = v.to_le_bytes();
    c.step_node(l, Input::Propose { data: &data })?;
    c.healthy_round()
}

fn settle(c: &mut Sim) -> Result<(), String> {
    for _ in 0..100 {
        if c.settled() {
            return Ok(());
        }
        c.healthy_round()?;
    }
    let _ = Role::Leader;
    Err(format!("did not settle:\n{}", c.describe()))
}

fn main() -> ExitCode {
    let seed = match std::env::args().nth(1).map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("error: seed must be a number: {e}");
            return ExitCode::from(2);
        }
    };
    match run(seed) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
