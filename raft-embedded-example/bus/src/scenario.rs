//! The three-board run: three QEMU boards on the bus elect a leader, acknowledge and apply 100
//! writes on every board while the bus injects hostile bytes, then the leader's QEMU is
//! SIGKILLed (a power cut) and started again from its flash file. A new leader must be
//! reported within 2 election timeouts of the kill, measured on the new leader's own clock (the
//! one its timeouts run on: under a loaded host QEMU's clock runs slower than the host's, by a
//! third at a load average of 26 on 2 cores; the host's figure is reported beside it), and afterwards every board, the restarted
//! one included, must hold every acknowledged write. The bus's fault schedule pauses from the
//! kill until the new leader is seen, and resumes for the restarted board's catch-up.
//!
//! Every raft frame travels sealed (the host's UDP datagram, under the run's key file). Beside
//! the hostile bytes, the bus writes forged datagrams (a fresh counter, so only the tag can
//! refuse them), replays of datagrams a board already took, and, after the restart, datagrams
//! of the killed board's earlier boot into the survivors (below their windows: the restarted
//! board's counters start at its new, greater epoch). Each board's `bad_tag`, `replayed` and
//! `too_old` counters must equal exactly what the bus predicts from what it wrote to that
//! board (see [`SealExpect`]), with the fault schedule paused so that no new duplicates are in
//! flight while they are compared.

use std::fmt;
use std::fs;
use std::time::{Duration, Instant};

use raft_embedded_example::board_node::{self, BOARD_LOG, BOARD_TICK};
use raft_embedded_example::rng::Rng;
use raft_embedded_example::serial::{self, Msg, Outcome, Report};
use raftcore::NodeId;

use crate::boards::{Board, BoardSetup};
use crate::bus::{Bus, BusStats, SealExpect};
use crate::faults::FaultConfig;
use raft_seal::frame::Header;

/// Boards in the cluster.
pub const BOARDS: usize = 3;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// How to start the boards (ELF, directory, seed).
    pub setup: BoardSetup,
    /// Client writes (values `1..=writes`).
    pub writes: u32,
    /// The bus's fault schedule.
    pub faults: FaultConfig,
    /// Hostile frames injected into each board's line during the writes.
    pub hostile_per_board: u32,
}

/// What the run saw.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The first leader (node id) and its term.
    pub first_leader: (u32, u64),
    /// The leader elected after the kill, and its term.
    pub new_leader: (u32, u64),
    /// From the SIGKILL to the first report of the new leader, on the host's clock.
    pub failover: Duration,
    /// The same on the new leader's own clock (from its last report before the kill to its
    /// first report as leader): the clock its election timeouts run on.
    pub failover_board: Duration,
    /// The bound: 2 election timeouts (the longest randomized timeout, twice).
    pub failover_bound: Duration,
    /// Writes acknowledged.
    pub acked: u32,
    /// Proposals sent (retries included).
    pub proposals: u32,
    /// Every board's last report.
    pub reports: Vec<Report>,
    /// Hostile frames injected into each board, and the drops it counted.
    pub hostile: Vec<(u32, u32)>,
    /// Forged datagrams and replays the bus wrote (in total), and the killed board's epochs
    /// (its boot before the kill, and after).
    pub sealed: (u32, u32, u64, u64),
    /// What the boards had to count of the sealed datagrams, as last checked (per board).
    pub seal_expect: Vec<SealExpect>,
    /// The bus's counters.
    pub bus: BusStats,
    /// Time for the whole run.
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "leader {} (term {}); after SIGKILL: leader {} (term {}) in {} ms of the new leader's clock (bound {} ms), {} ms of the host's",
            self.first_leader.0,
            self.first_leader.1,
            self.new_leader.0,
            self.new_leader.1,
            self.failover_board.as_millis(),
            self.failover_bound.as_millis(),
            self.failover.as_millis()
        )?;
        writeln!(
            f,
            "writes acknowledged {} ({} proposals); bus: {:?}",
            self.acked, self.proposals, self.bus
        )?;
        writeln!(
            f,
            "sealed: {} forged and {} replayed datagrams written; the killed board's epoch {} then {}",
            self.sealed.0, self.sealed.1, self.sealed.2, self.sealed.3
        )?;
        for (r, (inj, counted)) in self.reports.iter().zip(&self.hostile) {
            writeln!(
                f,
                "board {}: role {} term {} commit {} log {}..={} journal collections {} values {} last {} restarts {} peak stack {} B; hostile injected {} counted {}; drops {:?}",
                r.id, r.role, r.term, r.commit, r.first_index, r.last_index, r.collections, r.values, r.last_value, r.restarts, r.peak_stack, inj, counted, r.drops
            )?;
        }
        write!(f, "run took {:.1} s", self.elapsed.as_secs_f64())
    }
}

/// The longest election timeout of a board: `2 * election_ticks` ticks.
pub fn election_timeout() -> Duration {
    let ticks = board_node::config(NodeId(1), 0).map_or(10, |c| c.election_ticks);
    Duration::from_millis(BOARD_TICK.as_millis() * 2 * u64::from(ticks))
}

struct Cluster {
    bus: Bus,
    boards: Vec<Board>,
}

impl Cluster {
    /// Polls until `done` gives a value, at most `limit`; fails early if a board exits.
    fn wait<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&mut Bus) -> Option<T>,
    ) -> Result<T, String> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.bus.poll();
            if let Some(t) = done(&mut self.bus) {
                return Ok(t);
            }
            for b in &mut self.boards {
                if let Some(s) = b.exited() {
                    return Err(format!(
                        "board {} exited ({s}) while waiting for {what}",
                        b.id
                    ));
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(format!("no {what} within {limit:?}"))
    }
}

/// The leader with the highest term among fresh reports (index, term).
fn leader(bus: &Bus, fresh: Duration) -> Option<(usize, u64)> {
    (0..BOARDS)
        .filter_map(|k| {
            bus.report(k)
                .filter(|(at, _)| at.elapsed() < fresh)
                .map(|(_, r)| (k, r))
        })
        .filter(|(_, r)| r.role == 2)
        .map(|(k, r)| (k, r.term))
        .max_by_key(|&(_, t)| t)
}

fn reports(bus: &Bus) -> Vec<Report> {
    (0..BOARDS)
        .map(|k| bus.report(k).map(|(_, r)| r).unwrap_or_default())
        .collect()
}

/// Hostile frames for one board: random bytes, truncated and bit-flipped valid frames, each
/// between `0x00` delimiters, so the board sees exactly one bad frame per injection.
fn hostile(rng: &mut Rng, to: u32, sample: &[u8], n: u32) -> Vec<u8> {
    let mut wire = [0u8; serial::MAX_WIRE];
    let valid = serial::encode(
        &Msg::Sealed {
            to,
            datagram: sample,
        },
        &mut wire,
    )
    .map(<[u8]>::to_vec)
    .unwrap_or_else(|_| vec![1, 1, 0]);
    let body = &valid[..valid.len() - 1];
    let mut out = Vec::new();
    for i in 0..n {
        out.push(0);
        match i % 3 {
            0 => {
                let len = 1 + rng.below(serial::MAX_WIRE as u32 * 2) as usize;
                out.extend((0..len).map(|_| 1 + rng.below(255) as u8));
            }
            1 => {
                let keep = 1 + rng.below(body.len().max(2) as u32 - 1) as usize;
                out.extend(&body[..keep.min(body.len())]);
            }
            _ => {
                let mut flipped = body.to_vec();
                loop {
                    let at = rng.below(flipped.len() as u32) as usize;
                    let bit = 1u8 << rng.below(8);
                    if flipped[at] ^ bit != 0 {
                        flipped[at] ^= bit;
                        break;
                    }
                }
                out.extend(flipped);
            }
        }
        out.push(0);
    }
    out
}

/// Waits until every board's sealed-datagram drops are exactly what the bus predicts (and none
/// came from an unknown peer); returns the predictions.
fn seal_counted(c: &mut Cluster, what: &str) -> Result<Vec<SealExpect>, String> {
    c.wait(what, Duration::from_secs(5), |bus| {
        let r = reports(bus);
        let e: Vec<SealExpect> = (0..BOARDS).map(|k| bus.expected(k)).collect();
        r.iter()
            .zip(&e)
            .all(|(r, e)| {
                r.drops.bad_tag == e.bad_tag
                    && r.drops.replayed == e.replayed
                    && r.drops.too_old == e.too_old
                    && r.drops.unknown_peer == 0
            })
            .then_some(e)
    })
    .map_err(|err| {
        let e: Vec<SealExpect> = (0..BOARDS).map(|k| c.bus.expected(k)).collect();
        format!("{err}: expected {e:?}, reports {:?}", reports(&c.bus))
    })
}

/// The boot epoch of a sealed datagram's sender (its counter's high half).
fn epoch_of(datagram: &[u8]) -> u64 {
    Header::read(datagram).map_or(0, |h| h.counter >> 32)
}

/// Runs the three-board scenario; `Err` says what failed.
pub fn run(cfg: &RunConfig) -> Result<Summary, String> {
    let t0 = Instant::now();
    let setup = &cfg.setup;
    fs::create_dir_all(&setup.dir).map_err(|e| format!("{}: {e}", setup.dir.display()))?;
    for id in 1..=BOARDS as u32 {
        let _ = fs::remove_file(setup.flash(id));
    }
    setup
        .write_key()
        .map_err(|e| format!("{}: {e}", setup.key().display()))?;
    let bus = Bus::bind(BOARDS, setup.seed, cfg.faults).map_err(|e| format!("bus: {e}"))?;
    let mut boards = Vec::new();
    for k in 0..BOARDS {
        let addr = bus.addr(k).map_err(|e| e.to_string())?;
        boards.push(
            setup
                .start(k as u32 + 1, addr)
                .map_err(|e| format!("qemu-system-arm: {e}"))?,
        );
    }
    let mut c = Cluster { bus, boards };
    let fresh = Duration::from_millis(500);
    let first = c.wait("leader", Duration::from_secs(60), |bus| leader(bus, fresh))?;

    // The writes, one at a time, each acknowledged (applied by the leader that took it).
    let mut rng = Rng::new(setup.seed ^ 0xBAD);
    let mut injected = [0u32; BOARDS];
    let (mut forged, mut replays) = (0u32, 0u32);
    let mut proposals = 0u32;
    let mut target = first.0;
    for value in 1..=cfg.writes {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        loop {
            if Instant::now() > deadline {
                return Err(format!(
                    "write {value} not acknowledged within 60 s (last answer {last:?}); reports {:?}",
                    reports(&c.bus)
                ));
            }
            c.bus.propose(target, value);
            proposals += 1;
            let answer = c
                .wait("answer", Duration::from_millis(1500), |bus| {
                    while let Some((k, a)) = bus.answer() {
                        if k == target && a.value == value {
                            return Some(a.outcome);
                        }
                    }
                    None
                })
                .ok();
            last = answer;
            match answer {
                Some(Outcome::Applied) => break,
                Some(Outcome::NotLeader(hint)) if (1..=BOARDS as u32).contains(&hint) => {
                    target = hint as usize - 1
                }
                _ => {
                    c.bus.run_for(Duration::from_millis(50));
                    if let Some((k, _)) = leader(&c.bus, fresh) {
                        target = k;
                    } else {
                        target = (target + 1) % BOARDS;
                    }
                }
            }
        }
        // Hostile bytes into one board's line every few writes.
        if cfg.hostile_per_board > 0 && value % 10 == 0 {
            let k = (value / 10) as usize % BOARDS;
            let per = 3.min(cfg.hostile_per_board.saturating_sub(injected[k]));
            if per == 0 {
                continue;
            }
            if let Some(sample) = c.bus.recent_frame((k + 1) % BOARDS) {
                let bytes = hostile(&mut rng, k as u32 + 1, &sample, per);
                c.bus.inject(k, &bytes);
                injected[k] += per;
                // A forgery with a fresh counter (refused by its tag) and a replay of the
                // last datagram this board took (refused by its window).
                let counter = u64::MAX - u64::from(forged);
                if c.bus.forge(k, &sample, counter, rng.next_u64() | 1) {
                    forged += 1;
                }
                if c.bus.replay_last(k) {
                    replays += 1;
                }
            }
        }
    }
    let writes = cfg.writes;
    let all_applied = |bus: &mut Bus| {
        let r = reports(bus);
        r.iter()
            .all(|r| r.values == writes && r.last_value == writes)
            .then_some(r)
    };
    let applied = c.wait(
        "every write applied on every board",
        Duration::from_secs(30),
        all_applied,
    )?;
    // More writes than a log window holds: every board captured its digest and compacted.
    if writes as usize > BOARD_LOG {
        if let Some(r) = applied.iter().find(|r| r.first_index <= 1) {
            return Err(format!(
                "{writes} writes, beyond a {BOARD_LOG}-entry window, yet board {} never compacted its log: {r:?}",
                r.id
            ));
        }
    }
    // No new duplicates while the counters are compared (the schedule stays paused through
    // the failover below).
    c.bus.set_faults(false);
    c.bus.run_for(Duration::from_millis(300));
    // A lost byte merges two frames or cuts one, so no exact count could hold after one. The
    // UART driver holds the line back instead of losing bytes: any loss is its failure.
    if let Some(r) = reports(&c.bus).iter().find(|r| r.drops.overrun > 0) {
        return Err(format!(
            "board {} lost {} received bytes (UART overrun), though its driver holds the line back when its ring is full",
            r.id, r.drops.overrun
        ));
    }
    let hostile_counted = |bus: &mut Bus| {
        let r = reports(bus);
        let counted: Vec<u32> = r
            .iter()
            .map(|r| r.drops.framing + r.drops.crc + r.drops.malformed)
            .collect();
        counted
            .iter()
            .zip(&injected)
            .all(|(c, i)| c == i)
            .then_some(counted)
    };
    let counted = c
        .wait(
            "hostile frames counted",
            Duration::from_secs(5),
            hostile_counted,
        )
        .map_err(|e| format!("{e}: injected {injected:?}, reports {:?}", reports(&c.bus)))?;
    let before = seal_counted(&mut c, "sealed datagrams counted")?;
    let total = |e: &[SealExpect], f: fn(&SealExpect) -> u32| e.iter().map(f).sum::<u32>();
    if total(&before, |e| e.bad_tag) != forged || total(&before, |e| e.replayed) < replays {
        return Err(format!(
            "{forged} forged and {replays} replayed datagrams written, predicted {before:?}"
        ));
    }

    // The power cut. The fault schedule pauses while the failover is timed: a surviving board
    // cut off by a partition, or a lost vote, would make the bound a matter of the schedule
    // rather than of the election timeouts. It resumes once the new leader is seen.
    c.bus.set_faults(false);
    let (old, old_term) = c.wait("leader", Duration::from_secs(30), |bus| leader(bus, fresh))?;
    let before_kill = reports(&c.bus);
    let old_boot = c
        .bus
        .recent_frame(old)
        .ok_or("no datagram from the leader before the kill")?;
    // Timed from the signal: the bus goes on routing while the killed QEMU exits.
    let killed = Instant::now();
    c.boards[old].kill();
    c.bus.forget(old);
    let bound = 2 * election_timeout();
    let new_leader = c.wait("new leader", Duration::from_secs(60), |bus| {
        leader(bus, Duration::from_millis(300)).filter(|&(k, t)| k != old && t > old_term)
    })?;
    let failover = killed.elapsed();
    let failover_board = Duration::from_millis(
        reports(&c.bus)[new_leader.0]
            .uptime_ms
            .saturating_sub(before_kill[new_leader.0].uptime_ms),
    );
    c.bus.set_faults(true);
    c.boards[old].reap();
    let addr = c.bus.addr(old).map_err(|e| e.to_string())?;
    c.boards[old] = setup
        .start(old as u32 + 1, addr)
        .map_err(|e| format!("restart: {e}"))?;
    c.wait(
        "the restarted board to catch up",
        Duration::from_secs(60),
        |bus| {
            let r = reports(bus);
            (r[old].restarts >= 1
                && r.iter()
                    .all(|r| r.values == writes && r.last_value == writes))
            .then_some(())
        },
    )?;
    // The restarted board seals under a greater epoch; its earlier boot's datagrams, written
    // into the survivors once they heard the new boot, are below their windows. (A board
    // whose journal holds every commit applies all values at boot, before it sends anything,
    // so its first datagram is waited for.)
    c.bus.set_faults(false);
    let old_epoch = epoch_of(&old_boot);
    let new_boot = c
        .wait(
            "a datagram of the restarted board's new boot",
            Duration::from_secs(10),
            |bus| bus.latest_frame(old).filter(|d| epoch_of(d) != old_epoch),
        )
        .map_err(|e| format!("{e}: it still seals under epoch {old_epoch}"))?;
    let epochs = (old_epoch, epoch_of(&new_boot));
    if epochs.1 <= epochs.0 {
        return Err(format!(
            "the restarted board sealed under epoch {} after {}",
            epochs.1, epochs.0
        ));
    }
    c.bus.run_for(Duration::from_millis(100));
    for k in (0..BOARDS).filter(|&k| k != old) {
        if c.bus.replay(k, &old_boot) {
            replays += 1;
        }
    }
    c.bus.run_for(Duration::from_millis(300));
    let seal_expect = seal_counted(&mut c, "sealed datagrams counted after the restart")?;
    if total(&seal_expect, |e| e.too_old) == 0 {
        return Err(format!(
            "no datagram of the killed board's earlier boot was too old: {seal_expect:?}"
        ));
    }
    let after = reports(&c.bus);
    let summary = Summary {
        first_leader: (first.0 as u32 + 1, first.1),
        new_leader: (new_leader.0 as u32 + 1, new_leader.1),
        failover,
        failover_board,
        failover_bound: bound,
        acked: writes,
        proposals,
        reports: after,
        hostile: injected.iter().copied().zip(counted).collect(),
        sealed: (forged, replays, epochs.0, epochs.1),
        seal_expect,
        bus: c.bus.stats(),
        elapsed: t0.elapsed(),
    };
    if failover_board > bound {
        return Err(format!(
            "new leader after {} ms of its clock, more than 2 election timeouts ({} ms)\n{summary}",
            failover_board.as_millis(),
            bound.as_millis()
        ));
    }
    Ok(summary)
}
