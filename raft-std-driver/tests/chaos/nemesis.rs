//! The seeded nemesis: a schedule of faults, one at a time, each healed before the next,
//! drawn from a seed so that a run's faults can be replayed (`CHAOS_SEED`).

use std::time::{Duration, Instant};

use raft_std_driver::admin::MemberChange;
use raft_std_driver::client::{Client, ClientError, ClientOptions};
use raft_std_driver::local::LocalCluster;

pub use raftcore::Rng;

/// A number in `lo..hi` drawn from `rng`.
pub fn range(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.next_u64() % (hi - lo)
}

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the node, restart it after the fault's duration.
    Kill(u32),
    /// SIGSTOP the node, SIGCONT it after the fault's duration.
    Pause(u32),
    /// The node and the others drop each other's datagrams.
    Isolate(u32),
    /// `to` drops the datagrams of `from` (the other direction still flows).
    OneWay {
        /// The node that sends and is not heard.
        from: u32,
        /// The node that drops.
        to: u32,
    },
    /// The node is removed from the configuration (a removed leader hands leadership to the
    /// most caught-up voter), then added back as a learner and promoted.
    Member(u32),
}

/// A fault, after a quiet gap, held for a duration.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Quiet time before it.
    pub gap: Duration,
    /// The fault.
    pub fault: Fault,
    /// Whether the fault hits the leader of the moment instead of the node it names.
    pub at_leader: bool,
    /// How long it lasts.
    pub hold: Duration,
}

/// The next step of the schedule of `rng` over nodes `1..=n`.
pub fn next_step(rng: &mut Rng, n: u32) -> Step {
    let node = range(rng, 1, u64::from(n) + 1) as u32;
    let other = (node + range(rng, 0, u64::from(n) - 1) as u32) % n + 1;
    let fault = match range(rng, 0, 5) {
        0 => Fault::Kill(node),
        1 => Fault::Pause(node),
        2 => Fault::Isolate(node),
        3 => Fault::OneWay {
            from: node,
            to: other,
        },
        _ => Fault::Member(node),
    };
    Step {
        gap: Duration::from_millis(range(rng, 200, 1000)),
        fault,
        at_leader: range(rng, 0, 2) == 0,
        hold: Duration::from_millis(range(rng, 300, 2500)),
    }
}

/// Counts of the faults applied.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    /// Kill and restart.
    pub kills: u32,
    /// Pause and resume.
    pub pauses: u32,
    /// Two-way partitions.
    pub partitions: u32,
    /// One-way losses.
    pub one_way: u32,
    /// Removals from the configuration (each added back).
    pub removals: u32,
    /// Faults that hit the leader of the moment.
    pub at_leader: u32,
}

/// Runs the schedule of `seed` on `cluster` until `until` (a fault in course is held no
/// longer than that), then heals everything.
pub fn run(cluster: &mut LocalCluster, seed: u64, start: Instant, until: Instant) -> Applied {
    let n = cluster.nodes.len() as u32;
    let mut rng = Rng::new(seed);
    let mut applied = Applied::default();
    let mut admin = cluster
        .client(ClientOptions {
            attempt_timeout: Duration::from_millis(150),
            deadline: Duration::from_secs(3),
        })
        .expect("admin client");
    loop {
        let mut step = next_step(&mut rng, n);
        sleep_until(Instant::now() + step.gap, until);
        if Instant::now() >= until {
            break;
        }
        if step.at_leader {
            if let Some((leader, _)) =
                cluster.wait_for_leader(&mut admin, None, 0, Duration::from_millis(300))
            {
                applied.at_leader += 1;
                step.fault = at(step.fault, leader, n);
            }
        }
        eprintln!(
            "[{:>7.3}s] nemesis: {:?} for {} ms",
            start.elapsed().as_secs_f64(),
            step.fault,
            step.hold.as_millis()
        );
        let mut removed = None;
        match step.fault {
            Fault::Kill(id) => {
                applied.kills += 1;
                cluster.kill(id).expect("kill");
            }
            Fault::Pause(id) => {
                applied.pauses += 1;
                cluster.signal(id, "STOP").expect("SIGSTOP");
            }
            Fault::Isolate(id) => {
                applied.partitions += 1;
                let others: Vec<u32> = (1..=n).filter(|&o| o != id).collect();
                cluster.drop_from(id, &others).expect("fault hook");
                for o in others {
                    cluster.drop_from(o, &[id]).expect("fault hook");
                }
            }
            Fault::OneWay { from, to } => {
                applied.one_way += 1;
                cluster.drop_from(to, &[from]).expect("fault hook");
            }
            Fault::Member(id) => match admin.change_membership(MemberChange::Remove(id)) {
                Ok(_) => {
                    applied.removals += 1;
                    removed = Some(id);
                }
                Err(e) => eprintln!("nemesis: remove n{id}: {e}"),
            },
        }
        sleep_until(Instant::now() + step.hold, until);
        heal(cluster);
        if let Some(id) = removed {
            add_back(&mut admin, id, start);
        }
    }
    heal(cluster);
    applied
}

/// The fault `f` aimed at `leader` instead of its node.
fn at(f: Fault, leader: u32, n: u32) -> Fault {
    match f {
        Fault::Kill(_) => Fault::Kill(leader),
        Fault::Pause(_) => Fault::Pause(leader),
        Fault::Isolate(_) => Fault::Isolate(leader),
        Fault::OneWay { .. } => Fault::OneWay {
            from: leader,
            to: leader % n + 1,
        },
        Fault::Member(_) => Fault::Member(leader),
    }
}

/// Adds removed node `id` back as a learner and promotes it once it caught up; bounded (30 s),
/// panics if it cannot.
fn add_back(admin: &mut Client, id: u32, start: Instant) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for change in [MemberChange::AddLearner(id), MemberChange::Promote(id)] {
        loop {
            match admin.change_membership(change) {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    if !matches!(e, ClientError::Failed { .. }) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                Err(e) => panic!("nemesis: {change:?} still fails after 30 s: {e}"),
            }
        }
    }
    eprintln!(
        "[{:>7.3}s] nemesis: n{id} is a voter again",
        start.elapsed().as_secs_f64()
    );
}

/// Undoes every fault: restarts dead nodes, resumes paused ones, lifts every drop.
pub fn heal(cluster: &mut LocalCluster) {
    for id in 1..=cluster.nodes.len() as u32 {
        cluster.drop_from(id, &[]).expect("fault hook");
        if cluster.is_running(id) {
            cluster.signal(id, "CONT").expect("SIGCONT");
        } else {
            cluster.restart(id).expect("restart");
        }
    }
}

fn sleep_until(t: Instant, limit: Instant) {
    let t = t.min(limit);
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}
