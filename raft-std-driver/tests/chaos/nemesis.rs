//! The seeded nemesis: a schedule of faults, one at a time, each healed before the next,
//! drawn from a seed so that a run's faults can be replayed (`CHAOS_SEED`).

use std::time::{Duration, Instant};

use raft_std_driver::admin::MemberChange;
use raft_std_driver::client::{Client, ClientError, ClientOptions};
use raft_std_driver::local::LocalCluster;
use raft_std_driver::node::TRANSFER_TO_FILE;

use crate::disk;

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
    /// The node's disk fills: its next storage write or sync fails with `ENOSPC` and it must
    /// stop; the space is freed and it is started again once it stopped.
    DiskFull(u32),
    /// The node is killed, a byte of its WAL or a hard-state copy (`pick` chooses which) is
    /// flipped, and it is started again: it starts (repairing) or refuses naming file and
    /// offset, and then is rebuilt by the README's procedure.
    Corrupt {
        /// The node.
        node: u32,
        /// Chooses the file, byte and bit.
        pick: u64,
    },
    /// The leader hands leadership to `to` (another voter), through the fault hook, while the
    /// clients read and write.
    Transfer {
        /// The new leader asked for (another node if it leads).
        to: u32,
    },
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

/// How many kinds of [`Fault`] there are.
pub const KINDS: u64 = 8;

/// The next step of the schedule of `rng` over nodes `1..=n`. The kinds are dealt from
/// `deck`, refilled with every kind in a shuffled order when empty: every run of at least
/// [`KINDS`] faults applies each kind.
pub fn next_step(rng: &mut Rng, n: u32, deck: &mut Vec<u64>) -> Step {
    if deck.is_empty() {
        deck.extend(0..KINDS);
        for i in (1..deck.len()).rev() {
            let j = range(rng, 0, i as u64 + 1) as usize;
            deck.swap(i, j);
        }
    }
    let node = range(rng, 1, u64::from(n) + 1) as u32;
    let other = (node + range(rng, 0, u64::from(n) - 1) as u32) % n + 1;
    let pick = rng.next_u64();
    let fault = match deck.pop().expect("refilled") {
        0 => Fault::Kill(node),
        1 => Fault::Pause(node),
        2 => Fault::Isolate(node),
        3 => Fault::OneWay {
            from: node,
            to: other,
        },
        4 => Fault::Member(node),
        5 => Fault::DiskFull(node),
        6 => Fault::Corrupt { node, pick },
        _ => Fault::Transfer { to: node },
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
    /// Disks filled (`ENOSPC`).
    pub disk_full: u32,
    /// Of those, the nodes that stopped on it within the fault's time (the others did not
    /// write meanwhile).
    pub disk_full_stops: u32,
    /// Bytes flipped in a stopped node's WAL or hard state.
    pub corruptions: u32,
    /// Of those, the restarts that started (repairing or not noticing an unused byte).
    pub corrupt_started: u32,
    /// Of those, the restarts refused naming the damage, then rebuilt.
    pub corrupt_rebuilt: u32,
    /// Leadership transfers asked of the leader.
    pub transfers: u32,
    /// Of those, the ones after which the node asked leads.
    pub transfers_done: u32,
    /// Faults that hit the leader of the moment.
    pub at_leader: u32,
}

/// Runs the schedule of `seed` on `cluster` until `until` (a fault in course is held no
/// longer than that), then heals everything.
pub fn run(cluster: &mut LocalCluster, seed: u64, start: Instant, until: Instant) -> Applied {
    let n = cluster.nodes.len() as u32;
    let mut rng = Rng::new(seed);
    let mut applied = Applied::default();
    let mut rebuilds = 0;
    let mut deck = Vec::new();
    let mut admin = cluster
        .client(ClientOptions {
            attempt_timeout: Duration::from_millis(150),
            deadline: Duration::from_secs(3),
        })
        .expect("admin client");
    loop {
        let mut step = next_step(&mut rng, n, &mut deck);
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
            Fault::DiskFull(id) => {
                applied.disk_full += 1;
                disk::fill(cluster, id);
                let limit = step.hold.max(Duration::from_secs(2));
                if disk::exits_within(cluster, id, limit) {
                    applied.disk_full_stops += 1;
                    let why = disk::last_error(cluster, id).unwrap_or_default();
                    assert!(
                        why.contains("No space left on device"),
                        "n{id} stopped, but not on ENOSPC: {why}"
                    );
                    eprintln!("nemesis: n{id} stopped on the full disk: {why}");
                }
                // Heal frees the space and starts it again.
            }
            Fault::Corrupt { node: id, pick } => {
                applied.corruptions += 1;
                cluster.kill(id).expect("kill");
                let wal = cluster.nodes[id as usize - 1].data_dir.join("wal");
                let flipped = disk::flip(&wal, pick);
                eprintln!("nemesis: n{id}: flipped a byte: {flipped:?}");
                cluster.restart(id).expect("restart");
                if disk::refused(cluster, &mut admin, id) {
                    let why = disk::last_error(cluster, id).unwrap_or_default();
                    assert!(
                        why.contains("storage failed"),
                        "n{id} stopped, but not refusing its storage: {why}"
                    );
                    eprintln!("nemesis: n{id} refused to start: {why}; rebuilding it");
                    rebuilds += 1;
                    disk::rebuild(cluster, &mut admin, id, rebuilds);
                    add_back(&mut admin, id, start);
                    applied.corrupt_rebuilt += 1;
                } else {
                    applied.corrupt_started += 1;
                }
            }
            Fault::Transfer { to } => {
                match cluster.wait_for_leader(&mut admin, None, 0, Duration::from_millis(300)) {
                    Some((leader, _)) => {
                        let to = if to == leader { leader % n + 1 } else { to };
                        applied.transfers += 1;
                        let dir = &cluster.nodes[leader as usize - 1].data_dir;
                        std::fs::write(dir.join(TRANSFER_TO_FILE), to.to_string())
                            .expect("write the transfer request");
                        let done = cluster
                            .wait_for_leader(&mut admin, Some(leader), 0, step.hold)
                            .is_some_and(|(l, _)| l == to);
                        applied.transfers_done += u32::from(done);
                        eprintln!("nemesis: transfer n{leader} -> n{to}: done {done}");
                    }
                    None => eprintln!("nemesis: no leader to transfer from"),
                }
            }
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
        Fault::DiskFull(_) => Fault::DiskFull(leader),
        Fault::Corrupt { pick, .. } => Fault::Corrupt { node: leader, pick },
        Fault::Transfer { to } => Fault::Transfer { to },
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
        disk::free(cluster, id);
        let _ = std::fs::remove_file(
            cluster.nodes[id as usize - 1]
                .data_dir
                .join(TRANSFER_TO_FILE),
        );
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
