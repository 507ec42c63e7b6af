//! The mixed run: two QEMU boards (nodes 1 and 2) and one `raft-node` process on the host
//! (node 3) in one cluster.
//!
//! The bus joins the boards' serial lines as in the three-board run and gives each board a UDP
//! socket on a loopback address of its own ([`crate::udp`]): a board's sealed datagram for
//! node 3 leaves from that address, unchanged, and node 3's peer table names those addresses
//! for nodes 1 and 2. Every node seals under the same key file, on the same cluster id, tick
//! (100 ms), election and heartbeat ticks and frame size (128 bytes, a board's). Writes are the
//! host's key-value puts ([`raft_embedded_example::kv`]): a board leader takes them from the
//! bus, the host leader from a `raft-std-driver` client.
//!
//! The run: a leader; `writes` writes acknowledged (each by whichever node leads; halfway the
//! leader is cut off at the bus once, so that leadership changes during the writes) and
//! applied on every node; leadership steered to the kind of node to kill (a board or the host) by
//! cutting the current leader off at the bus until a node of that kind leads; the leader
//! SIGKILLed; a new leader within 2 election timeouts (in the new leader's clock); a few more
//! writes acknowledged by it; the killed node restarted (a board from its flash file, the host
//! node from its data directory); every write on every node afterwards.
//!
//! Limits: the fault schedule is off (the host's UDP side has none, and the link between the
//! boards is perfect here; the three-board run has the faulty radio); a board keeps a count and
//! the last of the writes it applied, not the key-value map; and a board cannot take a
//! snapshot: it compacts only what every voter holds, while raft-node (with
//! `--snapshot-entries 0`, once half its log window is used or 4 MiB of log went by, far
//! beyond this run) would compact past a board that lags, which would then stall.

use std::fmt;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use raft_embedded_example::board_node::{self, BOARD_TICK};
use raft_embedded_example::cluster::CLUSTER_ID;
use raft_embedded_example::link::FRAME_BYTES;
use raft_embedded_example::serial::{Outcome, Report};
use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::config::Peer;
use raft_std_driver::kv::{Command as KvCommand, Request, Response};
use raft_std_driver::transport::ClusterKey;
use raftcore::{NodeId, Role};

use crate::boards::{Board, BoardSetup};
use crate::bus::{Bus, BusStats};
use crate::faults::FaultConfig;
use crate::udp::{UdpSide, UdpStats};

/// Boards in the mixed cluster (nodes 1 and 2).
pub const BOARDS: usize = 2;

/// The host node's id.
pub const HOST_ID: u32 = 3;

/// Writes made through the new leader while the killed node is down.
pub const WRITES_AFTER: u32 = 5;

/// The kinds of node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A QEMU board.
    Board,
    /// The `raft-node` process.
    Host,
}

fn kind(id: u32) -> Kind {
    if id == HOST_ID {
        Kind::Host
    } else {
        Kind::Board
    }
}

/// What the mixed run does.
#[derive(Clone, Debug)]
pub struct MixedConfig {
    /// The boards (ELF, directory, seed).
    pub setup: BoardSetup,
    /// The `raft-node` binary.
    pub raft_node: PathBuf,
    /// Writes acknowledged before the kill.
    pub writes: u32,
    /// Which kind of leader to kill.
    pub kill: Kind,
}

/// What the mixed run saw.
#[derive(Clone, Debug)]
pub struct MixedSummary {
    /// The first leader (id, term).
    pub first_leader: (u32, u64),
    /// Times the leader was cut off at the bus to steer leadership to the kind to kill.
    pub steered: u32,
    /// The node killed (id, term it led in) and its kind.
    pub killed: (u32, u64, Kind),
    /// The new leader (id, term).
    pub new_leader: (u32, u64),
    /// Kill to new leader, in the new leader's clock (a board's uptime; the host's clock
    /// for the host node).
    pub failover: Duration,
    /// Kill to new leader, in the host's clock.
    pub failover_host: Duration,
    /// Two election timeouts (the longest: 2 x `2 * election_ticks` ticks).
    pub bound: Duration,
    /// Writes acknowledged (before and after the kill).
    pub acked: u32,
    /// Of those, acknowledged by a board leader and by the host node leader.
    pub acked_by: (u32, u32),
    /// The boards' last reports.
    pub reports: Vec<Report>,
    /// Writes found on the host node at the end.
    pub host_writes: u32,
    /// The bus's counters.
    pub bus: BusStats,
    /// The UDP side's counters.
    pub udp: UdpStats,
    /// Time for the whole run.
    pub elapsed: Duration,
}

impl fmt::Display for MixedSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "first leader {} (term {}); steered {} time(s); killed {:?} node {} (leader in term {})",
            self.first_leader.0,
            self.first_leader.1,
            self.steered,
            self.killed.2,
            self.killed.0,
            self.killed.1
        )?;
        writeln!(
            f,
            "new leader {} (term {}) after {} ms of its clock ({:.2} election timeouts; bound {} ms = 2), {} ms of the host's",
            self.new_leader.0,
            self.new_leader.1,
            self.failover.as_millis(),
            self.failover.as_secs_f64() * 2.0 / self.bound.as_secs_f64(),
            self.bound.as_millis(),
            self.failover_host.as_millis()
        )?;
        writeln!(
            f,
            "writes acknowledged {}; missing: 0 on every node (host node holds {} of them)",
            self.acked, self.host_writes
        )?;
        writeln!(
            f,
            "acknowledged by a board leader {}, by the host node leader {}",
            self.acked_by.0, self.acked_by.1
        )?;
        for r in &self.reports {
            writeln!(
                f,
                "board {}: role {} term {} commit {} log {}..={} journal collections {} writes {} last {} restarts {} drops {:?}",
                r.id, r.role, r.term, r.commit, r.first_index, r.last_index, r.collections, r.values, r.last_value, r.restarts, r.drops
            )?;
        }
        writeln!(f, "bus: {:?}; udp: {:?}", self.bus, self.udp)?;
        write!(f, "run took {:.1} s", self.elapsed.as_secs_f64())
    }
}

/// The host's key-value command of write `value`: the bytes a board proposes for it
/// ([`raft_embedded_example::kv::encode_write`]).
pub fn write_request(value: u32) -> Request {
    Request {
        client: u64::from(value),
        seq: 1,
        command: KvCommand::Put {
            key: value.to_be_bytes().to_vec(),
            value: Vec::new(),
        },
    }
}

/// Polls the bus on its own thread (every millisecond) while the run waits on the host node.
struct Pump {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pump {
    fn start(bus: Arc<Mutex<Bus>>) -> Pump {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Ok(mut b) = bus.lock() {
                    b.poll();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Pump {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `raft-node` process.
struct HostNode {
    cmd: Vec<String>,
    program: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl HostNode {
    fn start(&mut self) -> Result<(), String> {
        let log = |ext: &str| {
            fs::File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("node-{HOST_ID}.{ext}")))
                .map_err(|e| format!("node log: {e}"))
        };
        let child = Command::new(&self.program)
            .args(&self.cmd)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log("out")?)
            .stderr(log("err")?)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no chance to flush anything.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn running(&self) -> bool {
        self.child.is_some()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for HostNode {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Mixed {
    bus: Arc<Mutex<Bus>>,
    boards: Vec<Board>,
    host: HostNode,
    host_addr: SocketAddr,
    key: ClusterKey,
    status: Client,
    _pump: Pump,
}

/// How fresh a board's report must be to count.
const FRESH: Duration = Duration::from_millis(500);

impl Mixed {
    fn bus(&self) -> MutexGuard<'_, Bus> {
        // The pump never panics while holding the lock; a poisoned lock is still usable.
        self.bus.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn client(&self, attempt: Duration, deadline: Duration) -> Result<Client, String> {
        Client::new(
            &self.key,
            vec![Peer {
                id: HOST_ID,
                addr: self.host_addr,
            }],
            ClientOptions {
                attempt_timeout: attempt,
                deadline,
            },
        )
        .map_err(|e| format!("client: {e}"))
    }

    /// The host node's status, if it runs and answers.
    fn host_status(&mut self) -> Option<raft_std_driver::wire::NodeStatus> {
        if !self.host.running() {
            return None;
        }
        self.status.status(HOST_ID).ok().flatten()
    }

    /// The leader with the highest term among the boards' fresh reports and the host node's
    /// status (id, term).
    fn leader(&mut self) -> Option<(u32, u64)> {
        let mut best: Option<(u32, u64)> = None;
        {
            let bus = self.bus();
            for k in 0..BOARDS {
                if let Some((at, r)) = bus.report(k) {
                    if at.elapsed() < FRESH && r.role == 2 && best.is_none_or(|b| r.term > b.1) {
                        best = Some((k as u32 + 1, r.term));
                    }
                }
            }
        }
        if let Some(s) = self.host_status() {
            if s.role == Role::Leader && best.is_none_or(|b| s.term > b.1) {
                best = Some((HOST_ID, s.term));
            }
        }
        best
    }

    /// Polls `done` every 20 ms until it gives a value, at most `limit`; fails early if a
    /// process that should run exited.
    fn wait<T>(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&mut Mixed) -> Option<T>,
    ) -> Result<T, String> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(t) = done(self) {
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
            if let Some(s) = self.host.exited() {
                return Err(format!(
                    "raft-node exited ({s}) while waiting for {what}; see node-{HOST_ID}.err"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no {what} within {limit:?}"))
    }

    /// Cuts leader `old` (id, term) off at the bus until another node leads; returns that
    /// leader.
    fn cut_leader(&mut self, old: (u32, u64)) -> Result<(u32, u64), String> {
        self.bus().set_cut(Some(old.0));
        let next = self.wait(
            "a leader other than the cut one",
            Duration::from_secs(30),
            |m| m.leader().filter(|&(id, t)| id != old.0 && t > old.1),
        );
        self.bus().set_cut(None);
        next
    }

    /// Makes write `value` acknowledged by whichever node leads; returns the kind of node
    /// that acknowledged it.
    fn write(&mut self, value: u32) -> Result<Kind, String> {
        let end = Instant::now() + Duration::from_secs(60);
        let mut attempts = 0u32;
        let mut last = String::from("no leader");
        while Instant::now() < end {
            let Some((id, _)) = self.leader() else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            attempts += 1;
            if id == HOST_ID {
                let mut c = self.client(Duration::from_millis(300), Duration::from_secs(3))?;
                match c.execute_request(&write_request(value)) {
                    Ok(Response::Written) => return Ok(Kind::Host),
                    Ok(other) => last = format!("host node answered {other:?}"),
                    Err(e) => last = format!("host node: {e}"),
                }
            } else {
                let k = id as usize - 1;
                self.bus().propose(k, value);
                let answer = self
                    .wait("answer", Duration::from_millis(1500), |m| {
                        let mut bus = m.bus();
                        while let Some((from, a)) = bus.answer() {
                            if from == k && a.value == value {
                                return Some(a.outcome);
                            }
                        }
                        None
                    })
                    .ok();
                match answer {
                    Some(Outcome::Applied) => return Ok(Kind::Board),
                    a => last = format!("board {id} answered {a:?}"),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "write {value} not acknowledged within 60 s ({attempts} attempts; last: {last})"
        ))
    }

    fn reports(&self) -> Vec<Report> {
        let bus = self.bus();
        (0..BOARDS)
            .map(|k| bus.report(k).map(|(_, r)| r).unwrap_or_default())
            .collect()
    }

    /// How many of writes `1..=total` the host node has applied (local reads), if it answers.
    fn host_writes(&mut self, total: u32) -> Option<u32> {
        let mut c = self
            .client(Duration::from_millis(200), Duration::from_secs(1))
            .ok()?;
        let mut n = 0;
        for v in 1..=total {
            match c.local_get(HOST_ID, &v.to_be_bytes()).ok()? {
                Some(Response::Value(Some(_))) => n += 1,
                Some(_) => {}
                None => return None,
            }
        }
        Some(n)
    }

    /// Waits until every board applied exactly writes `1..=total` and the host node holds
    /// every one of them.
    fn all_applied(&mut self, what: &str, total: u32) -> Result<(), String> {
        self.wait(what, Duration::from_secs(60), |m| {
            let boards = m
                .reports()
                .iter()
                .all(|r| r.values == total && r.last_value == total);
            (boards && m.host_writes(total) == Some(total)).then_some(())
        })
        .map_err(|e| {
            let host = self.host_writes(total);
            format!(
                "{e}: boards {:?}; host node holds {host:?} of {total}",
                self.reports()
            )
        })
    }
}

/// The longest election timeout: `2 * election_ticks` ticks of [`BOARD_TICK`].
pub fn election_timeout() -> Duration {
    crate::scenario::election_timeout()
}

/// A free UDP port on `ip` (bound, read and released: the host node binds it next).
fn free_port(ip: Ipv4Addr) -> Result<SocketAddr, String> {
    UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .map_err(|e| format!("bind {ip}: {e}"))
}

/// Runs the mixed cluster; `Err` says what failed.
pub fn run(cfg: &MixedConfig) -> Result<MixedSummary, String> {
    let t0 = Instant::now();
    let setup = &cfg.setup;
    fs::create_dir_all(&setup.dir).map_err(|e| format!("{}: {e}", setup.dir.display()))?;
    for id in 1..=BOARDS as u32 {
        let _ = fs::remove_file(setup.flash(id));
    }
    let data = setup.dir.join(format!("node-{HOST_ID}"));
    let _ = fs::remove_dir_all(&data);
    setup
        .write_key()
        .map_err(|e| format!("{}: {e}", setup.key().display()))?;
    let key = ClusterKey::from_file(setup.key()).map_err(|e| format!("key: {e}"))?;

    // One loopback address per board, and another for the host node.
    let ips: Vec<Ipv4Addr> = (0..BOARDS as u8)
        .map(|k| Ipv4Addr::new(127, 0, 0, 11 + k))
        .collect();
    let udp = UdpSide::bind(&ips).map_err(|e| format!("udp: {e}"))?;
    let host_addr = free_port(Ipv4Addr::new(127, 0, 0, 10 + BOARDS as u8 + 1))?;
    let mut udp = udp;
    udp.add_host(HOST_ID, host_addr);
    let mut peers = Vec::new();
    for k in 0..BOARDS {
        let a = udp.addr(k).map_err(|e| e.to_string())?;
        peers.push(format!("{}={a}", k + 1));
    }
    peers.push(format!("{HOST_ID}={host_addr}"));

    let mut bus =
        Bus::bind(BOARDS, setup.seed, FaultConfig::NONE).map_err(|e| format!("bus: {e}"))?;
    bus.set_faults(false);
    bus.attach_udp(udp);
    let mut boards = Vec::new();
    for k in 0..BOARDS {
        let addr = bus.addr(k).map_err(|e| e.to_string())?;
        boards.push(
            setup
                .start(k as u32 + 1, addr)
                .map_err(|e| format!("qemu-system-arm: {e}"))?,
        );
    }
    let bus = Arc::new(Mutex::new(bus));
    let pump = Pump::start(bus.clone());

    // The boards' protocol settings, for the host node.
    let core = board_node::config(NodeId(1), 0).ok_or("no board config")?;
    let mut cmd = vec![
        "--id".to_string(),
        HOST_ID.to_string(),
        "--data-dir".into(),
        data.display().to_string(),
        "--key-file".into(),
        setup.key().display().to_string(),
        "--cluster-id".into(),
        CLUSTER_ID.to_string(),
        "--tick-ms".into(),
        BOARD_TICK.as_millis().to_string(),
        "--election-ticks".into(),
        core.election_ticks.to_string(),
        "--heartbeat-ticks".into(),
        core.heartbeat_ticks.to_string(),
        "--max-frame-bytes".into(),
        FRAME_BYTES.to_string(),
        "--clients".into(),
        "4".into(),
    ];
    for p in &peers {
        cmd.push("--peer".into());
        cmd.push(p.clone());
    }
    let mut host = HostNode {
        cmd,
        program: cfg.raft_node.clone(),
        dir: setup.dir.clone(),
        child: None,
    };
    host.start()?;
    let status = Client::new(
        &key,
        vec![Peer {
            id: HOST_ID,
            addr: host_addr,
        }],
        ClientOptions {
            attempt_timeout: Duration::from_millis(100),
            deadline: Duration::from_secs(1),
        },
    )
    .map_err(|e| format!("client: {e}"))?;
    let mut m = Mixed {
        bus,
        boards,
        host,
        host_addr,
        key,
        status,
        _pump: pump,
    };

    let first = m.wait("leader", Duration::from_secs(60), Mixed::leader)?;
    let mut acked_by = (0u32, 0u32);
    let mut count = |k: Kind| match k {
        Kind::Board => acked_by.0 += 1,
        Kind::Host => acked_by.1 += 1,
    };
    for value in 1..=cfg.writes {
        if value == cfg.writes / 2 + 1 {
            // A change of leader halfway, so that both kinds of node are likely to take writes.
            let cur = m.wait("leader", Duration::from_secs(30), Mixed::leader)?;
            m.cut_leader(cur)?;
        }
        count(m.write(value)?);
    }
    m.all_applied("every write applied on every node", cfg.writes)?;

    // Steer leadership to the kind of node to kill: cut the leader off until another leads.
    let mut steered = 0u32;
    let mut cur = m.wait("leader", Duration::from_secs(30), Mixed::leader)?;
    loop {
        if kind(cur.0) == cfg.kill {
            // Settled: still the leader a moment after the cuts healed.
            std::thread::sleep(Duration::from_millis(500));
            let now = m.wait("leader", Duration::from_secs(30), Mixed::leader)?;
            if now == cur {
                break;
            }
            cur = now;
            continue;
        }
        if steered >= 8 {
            return Err(format!(
                "leadership not steered to a {:?} node in {steered} cuts",
                cfg.kill
            ));
        }
        steered += 1;
        cur = m.cut_leader(cur)?;
    }

    // The power cut.
    let before = m.reports();
    let killed = cur;
    // Timed from the signal (the kill returns before the process has exited).
    let at = Instant::now();
    match kind(killed.0) {
        Kind::Host => m.host.kill(),
        Kind::Board => {
            let k = killed.0 as usize - 1;
            m.boards[k].kill();
            m.bus().forget(k);
        }
    }
    let new_leader = m.wait("new leader", Duration::from_secs(60), |m| {
        m.leader().filter(|&(id, t)| id != killed.0 && t > killed.1)
    })?;
    let failover_host = at.elapsed();
    let failover = match kind(new_leader.0) {
        Kind::Host => failover_host,
        Kind::Board => {
            let k = new_leader.0 as usize - 1;
            Duration::from_millis(m.reports()[k].uptime_ms.saturating_sub(before[k].uptime_ms))
        }
    };
    let bound = 2 * election_timeout();

    // The new leader takes writes while the killed node is down.
    let total = cfg.writes + WRITES_AFTER;
    for value in cfg.writes + 1..=total {
        count(m.write(value)?);
    }

    // The restart: a board from its flash file, the host node from its data directory.
    match kind(killed.0) {
        Kind::Host => {
            m.host.start()?;
            m.status = m.client(Duration::from_millis(100), Duration::from_secs(1))?;
        }
        Kind::Board => {
            let k = killed.0 as usize - 1;
            m.boards[k].reap();
            let addr = m.bus().addr(k).map_err(|e| e.to_string())?;
            m.boards[k] = setup
                .start(killed.0, addr)
                .map_err(|e| format!("restart: {e}"))?;
        }
    }
    m.all_applied("every write on every node after the restart", total)?;
    let reports = m.reports();
    if let Kind::Board = kind(killed.0) {
        if reports[killed.0 as usize - 1].restarts < 1 {
            return Err(format!(
                "board {} did not boot from its flash file",
                killed.0
            ));
        }
    }
    let host_writes = m.host_writes(total).unwrap_or(0);
    let (bus_stats, udp) = {
        let b = m.bus();
        (b.stats(), b.udp_stats())
    };
    let summary = MixedSummary {
        first_leader: first,
        steered,
        killed: (killed.0, killed.1, kind(killed.0)),
        new_leader,
        failover,
        failover_host,
        bound,
        acked: total,
        acked_by,
        reports,
        host_writes,
        bus: bus_stats,
        udp,
        elapsed: t0.elapsed(),
    };
    if summary.killed.2 != cfg.kill {
        return Err(format!(
            "killed a {:?} node, not a {:?} one\n{summary}",
            summary.killed.2, cfg.kill
        ));
    }
    if failover > bound {
        return Err(format!(
            "new leader after {} ms of its clock, more than 2 election timeouts ({} ms)\n{summary}",
            failover.as_millis(),
            bound.as_millis()
        ));
    }
    Ok(summary)
}
