//! The client task: proposes values, power-cycles the leader, proposes more, then checks the run.
//!
//! 1. wait for a leader; propose `values_before` values, each until some node applied it;
//! 2. power-cycle the leader (its `State` is rebuilt from its disk alone when it comes back);
//! 3. wait for a new leader: another node, in a later term;
//! 4. propose `values_after` more values, while the old leader is still off;
//! 5. wait until all three nodes, the rebooted one included, have applied everything;
//! 6. check: every node applied the same entries in the same order (term and value, index by
//!    index), every state machine holds exactly `1..=N` in order, what the rebooted node had
//!    applied before the cycle is a prefix of that, and the link really dropped and duplicated.
//!
//! A proposal that gets no answer, `NotLeader` or `Busy`, or is not applied in time, is retried
//! (at the leader the board shows). A retried value may be committed twice; the state machine
//! applies it once (values only go up), as client sequence numbers do in the std driver.

use embassy_time::{with_timeout, Duration, Instant, Timer};
use raftcore::{NodeId, Proposal, Term};

use crate::board::NodeError;
use crate::cluster::{self, Shared};
use crate::link::NODES;
use crate::node::{Answer, Request};

/// How the client runs the scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Values proposed before the power cycle (`1..=values_before`).
    pub values_before: u32,
    /// Values proposed after it.
    pub values_after: u32,
    /// How long the leader stays powered off.
    pub off_ms: u32,
    /// Every wait gives up after this long (the checks then fail).
    pub patience: Duration,
}

impl Scenario {
    /// The run the firmware and the host test make: 20 values around one power cycle (with
    /// the leaders' empty entries about 22 entries, well inside the 32-entry window).
    pub const DEFAULT: Scenario = Scenario {
        values_before: 10,
        values_after: 10,
        off_ms: 400,
        patience: Duration::from_secs(5),
    };
}

/// What a passing run observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report {
    /// The leader that was power-cycled, and its term.
    pub first_leader: (NodeId, Term),
    /// The leader that took over, and its term.
    pub new_leader: (NodeId, Term),
    /// Values committed (and applied once by every state machine).
    pub values: u32,
    /// Entries every node applied (values, retried duplicates and leaders' empty entries).
    pub entries: u32,
    /// Proposals the client had to repeat.
    pub retries: u32,
    /// Milliseconds the run took.
    pub elapsed_ms: u64,
}

/// Why a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Failure {
    /// No leader was elected in time.
    NoLeader,
    /// A value was not committed in time.
    NotCommitted {
        /// The value.
        value: u32,
    },
    /// A proposal was refused as too large (the example's values are 4 bytes).
    TooLarge,
    /// No other node became leader in a later term after the power cycle.
    NoNewLeader,
    /// The nodes did not all apply every value in time.
    NotConverged,
    /// A node stopped on an error.
    NodeFailed {
        /// The node.
        node: NodeId,
        /// Its error.
        error: NodeError,
    },
    /// A node applied a different entry than node 1 at some index (or a different number).
    Diverged {
        /// The node.
        node: NodeId,
        /// The first index where it differs.
        index: u32,
    },
    /// A state machine does not hold exactly `1..=N` in order.
    WrongValues {
        /// The node.
        node: NodeId,
    },
    /// What the rebooted node applied before its power cycle is not a prefix of the final log.
    NotAPrefix,
    /// The link neither dropped nor duplicated anything: the faults were not exercised.
    NoFaults,
}

/// How often the client looks at the board.
const POLL: Duration = Duration::from_millis(5);
/// How long the client waits for a node's answer to a proposal.
const ANSWER_WAIT: Duration = Duration::from_millis(100);
/// How long the client waits for an accepted value to be applied before proposing it again.
const COMMIT_WAIT: Duration = Duration::from_millis(400);

/// The client task body.
pub async fn run(shared: &Shared, scenario: Scenario) -> Result<Report, Failure> {
    let start = Instant::now();
    let mut retries = 0;

    // 1. A leader, then the first values.
    let first_leader = wait_for(shared, scenario.patience, Failure::NoLeader, || {
        shared.board.leader()
    })
    .await?;
    info!(
        "client: leader {} in {}",
        cluster::id(first_leader.0),
        first_leader.1
    );
    for value in 1..=scenario.values_before {
        retries += propose(shared, value, scenario.patience).await?;
    }

    // 2. Power-cycle the leader of the moment.
    let (old, old_term) = wait_for(shared, scenario.patience, Failure::NoLeader, || {
        shared.board.leader()
    })
    .await?;
    info!("client: power-cycling the leader {}", cluster::id(old));
    let cycle = Request::PowerCycle {
        off_ms: scenario.off_ms,
    };
    // The node drains its requests while it runs, so this waits at most one step.
    shared.requests[old].send(cycle).await;

    // 3. Someone else takes over in a later term.
    let (new, new_term) = wait_for(shared, scenario.patience, Failure::NoNewLeader, || {
        shared
            .board
            .leader()
            .filter(|&(k, term)| k != old && term > old_term)
    })
    .await?;
    info!("client: new leader {} in {}", cluster::id(new), new_term);

    // 4. More values, while the old leader is (at first) still off.
    let values = scenario.values_before + scenario.values_after;
    for value in scenario.values_before + 1..=values {
        retries += propose(shared, value, scenario.patience).await?;
    }

    // 5. Everyone, the rebooted node included, catches up.
    wait_for(shared, scenario.patience, Failure::NotConverged, || {
        converged(shared, values).then_some(())
    })
    .await?;

    // 6. The checks.
    let entries = check(shared, old, values)?;
    let link = &shared.link_stats;
    info!(
        "client: link sent {}, delivered {}, dropped {} at random, {} duplicated, \
         full: {} uplink / {} delay line / {} inbox; {} lost while off",
        link.sent.get(),
        link.delivered.get(),
        link.dropped_random.get(),
        link.duplicated.get(),
        link.dropped_uplink_full.get(),
        link.dropped_delay_full.get(),
        link.dropped_inbox_full.get(),
        shared.lost_while_off.get()
    );
    if link.dropped_random.get() == 0 || link.duplicated.get() == 0 {
        return Err(Failure::NoFaults);
    }
    Ok(Report {
        first_leader: (cluster::id(old), old_term),
        new_leader: (cluster::id(new), new_term),
        values,
        entries,
        retries,
        elapsed_ms: start.elapsed().as_millis(),
    })
}

/// Polls `found` until it returns something, a node fails, or `patience` runs out.
async fn wait_for<T>(
    shared: &Shared,
    patience: Duration,
    timeout: Failure,
    mut found: impl FnMut() -> Option<T>,
) -> Result<T, Failure> {
    let deadline = Instant::now() + patience;
    loop {
        if let Some((node, error)) = shared.board.error() {
            return Err(Failure::NodeFailed { node, error });
        }
        if let Some(t) = found() {
            return Ok(t);
        }
        if Instant::now() >= deadline {
            return Err(timeout);
        }
        Timer::after(POLL).await;
    }
}

/// Proposes `value` at the leader until some node applied it. Returns the number of retries.
async fn propose(shared: &Shared, value: u32, patience: Duration) -> Result<u32, Failure> {
    let deadline = Instant::now() + patience;
    let mut attempts = 0;
    loop {
        if shared.board.applied_anywhere(value) {
            return Ok(attempts.max(1) - 1);
        }
        if let Some((node, error)) = shared.board.error() {
            return Err(Failure::NodeFailed { node, error });
        }
        if Instant::now() >= deadline {
            return Err(Failure::NotCommitted { value });
        }
        let Some((k, _)) = shared.board.leader() else {
            Timer::after(POLL).await;
            continue;
        };
        if shared.requests[k]
            .try_send(Request::Propose(value))
            .is_err()
        {
            Timer::after(POLL).await;
            continue;
        }
        attempts += 1;
        match with_timeout(ANSWER_WAIT, answer(shared, k, value)).await {
            Ok(Proposal::Accepted { .. }) => {
                // Committed once any node applied it; if not in time, the entry was probably
                // lost with a leader change: propose again.
                let until = Instant::now() + COMMIT_WAIT;
                while !shared.board.applied_anywhere(value) && Instant::now() < until {
                    Timer::after(POLL).await;
                }
            }
            // `Refused` answers membership changes, which this client never asks for.
            Ok(Proposal::TooLarge | Proposal::Refused(_)) => return Err(Failure::TooLarge),
            Ok(Proposal::NotLeader { .. } | Proposal::Busy) | Err(_) => {
                Timer::after(POLL).await;
            }
        }
    }
}

/// Node `k`'s answer about `value` (stale answers to earlier attempts are skipped).
async fn answer(shared: &Shared, k: usize, value: u32) -> Proposal {
    loop {
        let Answer {
            node,
            value: v,
            proposal,
        } = shared.answers.receive().await;
        if node == k && v == value {
            return proposal;
        }
    }
}

/// Every node is powered, its state machine holds all values, and all applied as many entries.
fn converged(shared: &Shared, values: u32) -> bool {
    shared.board.with(|v| {
        let n = &v.nodes;
        n.iter()
            .all(|n| !n.off && n.values.len() == values as usize)
            && n.iter()
                .all(|n| n.applied.len() == v.nodes[0].applied.len())
    })
}

/// The end-of-run checks; returns the number of entries every node applied.
fn check(shared: &Shared, rebooted: usize, values: u32) -> Result<u32, Failure> {
    shared.board.with(|v| {
        let reference = &v.nodes[0].applied;
        for (k, n) in v.nodes.iter().enumerate() {
            let node = cluster::id(k);
            if let Some(i) = (0..reference.len().max(n.applied.len()))
                .find(|&i| reference.get(i) != n.applied.get(i))
            {
                return Err(Failure::Diverged {
                    node,
                    index: i as u32 + 1,
                });
            }
            if !n.values.iter().copied().eq(1..=values) {
                return Err(Failure::WrongValues { node });
            }
        }
        if v.nodes[rebooted].restarts != 1 || !reference.starts_with(&v.before_cycle) {
            return Err(Failure::NotAPrefix);
        }
        Ok(reference.len() as u32)
    })
}

// The checks compare node 1 with the others; there must be others.
const _: () = assert!(NODES >= 2);
