//! The two forms of the step function agree, and no step exceeds the documented output
//! bound `outputs_needed(PEERS)`.

use crate::common::*;
use raft_sim::SimRng;
use raftcore::{outputs_needed, Durability, Input, Output, Outputs, Role, State};

/// A long random run of 5 nodes (PreVote and CheckQuorum on) where every step of every node
/// is also taken by a copy driven by the by-value `raftcore::step`; the harness compares the
/// outputs, the public view and the whole state (`Debug`) after each step.
fn random_run(durability: Durability, seed: u64, actions: usize) -> (u64, usize) {
    let mut c = Cluster::with_config(5, |cfg| {
        cfg.pre_vote = true;
        cfg.check_quorum = true;
        cfg.durability = durability;
        cfg.max_uncommitted = 8;
        cfg.max_frame_bytes = 300;
    });
    c.auto_fsync = false;
    for id in c.ids() {
        c.shadow_by_value(id);
    }
    let mut rng = SimRng::new(seed);
    let mut steps = 0u64;
    let mut value = 0u32;
    for _ in 0..actions {
        let id = 1 + rng.in_range(0, 5);
        let r = rng.in_range(0, 100);
        match r {
            0..=34 => {
                if c.up(id) {
                    c.tick(id);
                    steps += 1;
                }
            }
            35..=69 => {
                if !c.wire.is_empty() {
                    let k = rng.in_range(0, c.wire.len() as u32) as usize;
                    let env = c.wire.remove(k).expect("in range");
                    if c.up(env.to.0) {
                        if r.is_multiple_of(2) {
                            c.deliver(&env);
                        } else {
                            // The same message handed over already decoded.
                            c.step(
                                env.to.0,
                                Input::Message {
                                    from: env.from,
                                    msg: env.decoded(),
                                },
                            );
                        }
                        steps += 1;
                    }
                }
            }
            70..=74 => {
                if !c.wire.is_empty() {
                    let k = rng.in_range(0, c.wire.len() as u32) as usize;
                    let dup = c.wire[k].clone();
                    c.wire.push_back(dup);
                }
            }
            75..=79 => {
                if !c.wire.is_empty() {
                    let k = rng.in_range(0, c.wire.len() as u32) as usize;
                    c.wire.remove(k);
                }
            }
            80..=89 => {
                if c.up(id) {
                    value += 1;
                    let len = rng.in_range(0, 64) as usize;
                    let mut data = value.to_le_bytes().to_vec();
                    data.resize(4 + len, id as u8);
                    c.propose(id, &data);
                    steps += 1;
                }
            }
            90..=96 => {
                if c.up(id) && !c.node(id).pending.is_empty() {
                    c.fsync(id);
                    steps += 1;
                }
            }
            97 => c.crash(id),
            _ => {
                if !c.up(id) {
                    c.restart(id);
                    c.shadow_by_value(id);
                }
            }
        }
    }
    // Heal: everyone up, every write durable, a few healthy rounds.
    c.auto_fsync = true;
    for id in c.ids() {
        if !c.up(id) {
            c.restart(id);
            c.shadow_by_value(id);
        }
    }
    for _ in 0..60 {
        for id in c.ids() {
            c.tick(id);
            steps += 1;
        }
        steps += c.deliver_all() as u64;
    }
    let views: Vec<String> = c.ids().iter().map(|&id| view(c.raft(id))).collect();
    assert!(
        c.ids().iter().any(|&id| c.role(id) == Role::Leader),
        "seed {seed} {durability:?}: no leader after healing:\n{}",
        views.join("\n")
    );
    (steps, c.max_outputs)
}

#[test]
fn by_value_step_and_in_place_step_give_identical_outputs_and_states_over_a_long_random_run() {
    let mut total = 0;
    for seed in 1..=6u64 {
        for durability in [Durability::Inline, Durability::Deferred] {
            let (steps, max) = random_run(durability, seed, 6_000);
            assert!(
                max <= OUT,
                "seed {seed}: {max} outputs > outputs_needed = {OUT}"
            );
            total += steps;
        }
    }
    assert!(total > 30_000, "only {total} steps compared");
}

#[test]
fn worst_case_step_stays_within_outputs_needed() {
    // The biggest step found: a candidate of a full cluster (PEERS voters) wins on a vote
    // while entries are still waiting to be applied and the log window is nearly full. It
    // becomes leader (RoleChanged), appends its empty entry (Persist), sends an append to
    // every other voter, applies the next committed entry (Apply) and asks for a capture
    // (CaptureWanted): PEERS + 3 outputs, within outputs_needed(PEERS) = PEERS + 6.
    assert_eq!(OUT, outputs_needed(PEERS));
    let logs: Vec<(u64, Vec<u64>)> = (0..PEERS).map(|_| (1, vec![1; 48])).collect();
    let mut c = Cluster::with_logs(&logs, |cfg| {
        cfg.durability = Durability::Deferred;
        cfg.max_apply = 1;
    });
    c.elect(1);
    c.heartbeat(1);
    assert_eq!(c.commit(2), 49);
    assert!(
        c.node(2).applied_index() < i(40),
        "n2 applies one entry per step"
    );
    c.crash(1);
    c.tick_until_campaign(2);
    let mut biggest: Vec<Output> = Vec::new();
    while let Some(env) = c.wire.pop_front() {
        c.fsync_all();
        let out = c.deliver(&env);
        if out.len() > biggest.len() {
            biggest = out;
        }
        c.fsync_all();
    }
    assert_eq!(c.role(2), Role::Leader);
    assert_eq!(biggest.len(), PEERS + 3, "{biggest:#?}");
    assert!(biggest.len() <= outputs_needed(PEERS));
    assert_eq!(
        role_changes(&biggest),
        vec![(Role::Leader, t(3), Some(n(2)))]
    );
    assert_eq!(persists(&biggest).len(), 1);
    assert_eq!(appends(&biggest).len(), PEERS - 1);
    assert_eq!(applies(&biggest).len(), 1);
    assert!(biggest
        .iter()
        .any(|o| matches!(o, Output::CaptureWanted { .. })));
    for id in c.ids().into_iter().filter(|&id| c.up(id)) {
        assert_eq!(c.raft(id).stats().output_overflow, 0, "n{id}");
    }
    assert!(c.max_outputs <= outputs_needed(PEERS));
}

/// `step_view` over a list shorter than `outputs_needed(PEERS)` (the caller broke the bound):
/// each output that does not fit is dropped and counted in `output_overflow`, never written
/// out of bounds. A node stepped over a one-slot list loses exactly what a twin stepped over a
/// full list emits beyond that slot, step by step through its first campaign.
#[test]
fn outputs_beyond_a_short_output_list_are_dropped_and_counted() {
    let voters = [n(1), n(2), n(3)];
    let mut full_node: State<3, 16, 4> = State::new(paper_config(1), &voters).unwrap();
    let mut short_node = full_node.clone();
    let mut full: Outputs<{ outputs_needed(3) }> = Outputs::new();
    let mut short: Outputs<1> = Outputs::new();
    let mut lost = 0;
    while full_node.role() == Role::Follower {
        full_node.step(Input::Tick, &mut full).unwrap();
        short.clear();
        short_node
            .step_view(Input::Tick, short.as_mut_view())
            .unwrap();
        let overflow = short_node.stats().output_overflow;
        assert_eq!(
            short.len() + (overflow - lost) as usize,
            full.len(),
            "{full:?}"
        );
        lost = overflow;
    }
    // The campaign's step: the Persist of the new term and vote, RoleChanged and two
    // RequestVotes; one of them fits.
    assert_eq!(full.len(), 4, "{full:?}");
    assert_eq!((short.len(), lost), (1, 3));
    assert_eq!(short_node.role(), Role::Candidate);
}
