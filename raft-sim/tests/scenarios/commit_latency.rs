//! Commit latency on a quiet network: no write may wait for a heartbeat, on the leader nor
//! for the followers to learn it is committed.
//!
//! With nothing lost, every write a leader accepts must commit (and apply on the leader, where
//! the client is answered) through the messages and fsyncs its proposal set in motion, never
//! through the next heartbeat. A write that waits for one costs a heartbeat interval: the
//! tail of the service's put latency (issue 15).

use std::collections::BTreeMap;

use crate::common::*;
use raftcore::{Durability, LogIndex, Proposal, Rng, Role};

/// The schedule's draws, from raftcore's own generator: a seed replays a schedule.
struct Draws(Rng);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// The shape of one schedule, drawn from its seed.
#[derive(Clone, Copy, Debug)]
struct Shape {
    durability: Durability,
    /// Closed-loop clients: each proposes its next write once its last one was applied.
    clients: usize,
    max_inflight_msgs: u32,
    heartbeat_ticks: u32,
    /// One event in this many is a tick of every node (so a heartbeat may fall anywhere).
    tick_every: u64,
    /// Payload bytes per write (large ones fill frames and the byte window).
    payload: usize,
    /// PreVote and CheckQuorum on (as the service runs).
    guarded: bool,
}

impl Shape {
    fn draw(rng: &mut Draws) -> Shape {
        Shape {
            durability: if rng.chance(1, 2) {
                Durability::Deferred
            } else {
                Durability::Inline
            },
            clients: 1 + rng.below(5) as usize,
            max_inflight_msgs: 1 + rng.below(4) as u32,
            heartbeat_ticks: 1 + rng.below(3) as u32,
            tick_every: if rng.chance(1, 3) {
                8 + rng.below(20)
            } else {
                30 + rng.below(120)
            },
            payload: if rng.chance(1, 4) {
                300 + rng.below(700) as usize
            } else {
                1 + rng.below(16) as usize
            },
            guarded: rng.chance(1, 2),
        }
    }
}

/// A write waiting to be applied on the leader.
#[derive(Debug)]
struct Pending {
    index: LogIndex,
    /// Leader ticks since it was proposed.
    ticks: u32,
}

/// What one schedule measured.
#[derive(Default)]
struct Measured {
    writes: u64,
    /// The ticks at which a waiting write could not have been applied without that tick:
    /// on a copy of the cluster with everything delivered and durable and no tick, it was
    /// still not applied.
    waited: Vec<String>,
    /// Writes by the leader ticks they spanned (ticks that fell during them by chance).
    by_ticks: BTreeMap<u32, u64>,
}

/// One random event that is neither a tick nor a proposal: a frame delivered (the oldest on
/// a random link) or a node's writes made durable. False when there is none left.
fn network_event(c: &mut Cluster, rng: &mut Draws, trace: bool) -> bool {
    let mut links: Vec<(u32, u32)> = c.wire.iter().map(|e| (e.from.0, e.to.0)).collect();
    links.sort_unstable();
    links.dedup();
    let unsynced: Vec<u32> = c
        .ids()
        .into_iter()
        .filter(|&id| !c.node(id).pending.is_empty())
        .collect();
    if links.is_empty() && unsynced.is_empty() {
        return false;
    }
    if !unsynced.is_empty() && (links.is_empty() || rng.chance(1, 3)) {
        let id = unsynced[rng.below(unsynced.len() as u64) as usize];
        if rng.chance(1, 3) {
            if trace {
                println!("  fsync oldest n{id}");
            }
            c.fsync_oldest(id);
        } else {
            if trace {
                println!("  fsync n{id}");
            }
            c.fsync(id);
        }
    } else {
        let (from, to) = links[rng.below(links.len() as u64) as usize];
        let at = c
            .wire
            .iter()
            .position(|e| (e.from.0, e.to.0) == (from, to))
            .expect("a frame on the link");
        let env = c.wire.remove(at).expect("in range");
        if trace {
            println!("  deliver n{from}->n{to}: {:?}", env.msg);
        }
        c.deliver(&env);
    }
    true
}

/// Whether every write in `pending` would be applied on the leader if no tick came, and
/// every follower would learn the leader's commit index: on a copy of the cluster, every
/// frame is delivered and every write made durable, in a random order, with no tick and no
/// new proposal.
fn commits_without_a_tick(c: &Cluster, pending: &[LogIndex], rng: &mut Draws) -> bool {
    let mut copy = c.clone();
    let mut rng = Draws(Rng::new(rng.next()));
    let mut guard = 0;
    while network_event(&mut copy, &mut rng, false) {
        guard += 1;
        assert!(guard < 100_000, "delivering does not converge");
    }
    let applied = copy.node(1).applied_index();
    let commit = copy.raft(1).commit();
    pending.iter().all(|&i| i <= applied)
        && copy
            .ids()
            .iter()
            .all(|&id| copy.raft(id).commit() >= commit)
}

/// One random schedule: a 3-node cluster, node 1 leading, `shape.clients` closed-loop
/// clients writing to it, frames delivered in a random order across links (in order on each
/// link, as a quiet network does), writes made durable (under `Deferred`) at random moments,
/// all at once or oldest first, ticks at random moments. Before each tick, every write still
/// waiting must be one that would be applied without it.
fn run(seed: u64, writes: u64, trace: bool) -> Measured {
    let mut rng = Draws(Rng::new(seed ^ 0x5eed));
    let shape = Shape::draw(&mut rng);
    let mut c = Cluster::with_config(3, |cfg| {
        cfg.durability = shape.durability;
        cfg.max_inflight_msgs = shape.max_inflight_msgs;
        cfg.max_inflight_bytes = shape.max_inflight_msgs * cfg.max_frame_bytes;
        cfg.heartbeat_ticks = shape.heartbeat_ticks;
        cfg.election_ticks = 100;
        cfg.pre_vote = shape.guarded;
        cfg.check_quorum = shape.guarded;
    });
    c.elect(1);
    c.deliver_all();
    c.heartbeat(1);
    c.auto_fsync = false;
    if trace {
        println!("seed {seed}: {shape:?}");
    }
    let mut m = Measured::default();
    let mut clients: Vec<Option<Pending>> = (0..shape.clients).map(|_| None).collect();
    let mut w = 0u64;
    let mut guard = 0u64;
    while m.writes < writes || clients.iter().any(Option::is_some) {
        guard += 1;
        assert!(guard < 1_000_000, "seed {seed}: the schedule does not end");
        assert_eq!(
            c.role(1),
            Role::Leader,
            "seed {seed}: node 1 lost leadership"
        );
        // Answer the clients whose writes were applied on the leader.
        let applied = c.node(1).applied_index();
        for (k, slot) in clients.iter_mut().enumerate() {
            if let Some(p) = slot.as_ref().filter(|p| p.index <= applied) {
                if trace {
                    println!(
                        "  client {k}: index {} applied after {} ticks",
                        p.index, p.ticks
                    );
                }
                *m.by_ticks.entry(p.ticks).or_default() += 1;
                *slot = None;
            }
        }
        let idle: Vec<usize> = (0..clients.len())
            .filter(|&k| clients[k].is_none())
            .collect();
        let may_propose = !idle.is_empty() && m.writes < writes;
        let roll = rng.below(100);
        // A tick falls between any two events, except while frames pile up (a heartbeat
        // interval is long next to a round trip).
        let tick = c.wire.len() <= 6 && rng.chance(1, shape.tick_every);
        if tick
            || (!may_propose
                && c.wire.is_empty()
                && c.ids().iter().all(|&id| c.node(id).pending.is_empty()))
        {
            // Time passes. A write still waiting must have been able to commit without
            // this tick.
            let pending: Vec<LogIndex> = clients.iter().flatten().map(|p| p.index).collect();
            if !pending.is_empty() && !commits_without_a_tick(&c, &pending, &mut rng) {
                let r = c.raft(1);
                m.waited.push(format!(
                    "seed {seed} {shape:?}: one of {pending:?} needs a tick (leader commit {} durable {} applied {} last {}, match {:?})",
                    r.commit(),
                    r.durable_index(),
                    r.applied(),
                    r.last_index(),
                    c.ids()
                        .iter()
                        .map(|&id| r.match_index(n(id)))
                        .collect::<Vec<_>>()
                ));
            }
            if trace {
                println!("  tick");
            }
            for id in c.ids() {
                c.tick(id);
            }
            for p in clients.iter_mut().flatten() {
                p.ticks += 1;
            }
        } else if may_propose && roll < 30 {
            let k = idle[rng.below(idle.len() as u64) as usize];
            let mut data = vec![b'w'; shape.payload];
            let len = 8.min(shape.payload);
            data[..len].copy_from_slice(&w.to_le_bytes()[..len]);
            w += 1;
            match c.propose(1, &data) {
                Proposal::Accepted { index, .. } => {
                    if trace {
                        println!("  client {k}: propose -> {index}");
                    }
                    m.writes += 1;
                    clients[k] = Some(Pending { index, ticks: 0 });
                }
                other => panic!("seed {seed}: a write on a quiet network got {other:?}"),
            }
        } else {
            network_event(&mut c, &mut rng, trace);
        }
    }
    m
}

/// The ticks every write on the leader needs, measured over random schedules with the
/// network quiet (nothing lost, each link in order): inline and deferred durability, fsyncs
/// of the leader and the followers in any order relative to the acknowledgements, up to five
/// closed-loop clients (so proposals arrive while appends are in flight and the in-flight
/// windows fill), windows of one to four messages, small and frame-filling payloads,
/// heartbeats of one to three ticks falling anywhere, PreVote and CheckQuorum on or off.
/// Before every tick, each write still waiting is checked on a copy of the cluster: with
/// every frame delivered and every write made durable and no tick, it must be applied on the
/// leader. Fails if any write needed a tick (a heartbeat) to commit. Prints the writes by
/// the ticks they spanned (ticks that fell while they were in flight by chance).
/// `SEED=n TRACE=1` replays one schedule with its events.
#[test]
fn no_write_waits_for_a_heartbeat_on_a_quiet_network() {
    let only: Option<u64> = std::env::var("SEED").ok().map(|s| s.parse().unwrap());
    let trace = std::env::var("TRACE").is_ok();
    let mut writes = 0;
    let mut waited = Vec::new();
    let mut by_ticks: BTreeMap<u32, u64> = BTreeMap::new();
    for seed in 0..1000u64 {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let m = run(seed, 40, trace);
        writes += m.writes;
        waited.extend(m.waited);
        for (t, k) in m.by_ticks {
            *by_ticks.entry(t).or_default() += k;
        }
    }
    println!("{writes} writes; by leader ticks spanned: {by_ticks:?}");
    for w in waited.iter().take(10) {
        println!("{w}");
    }
    assert!(
        waited.is_empty(),
        "{} times, of {writes} writes, a write needed a tick to commit",
        waited.len()
    );
}
