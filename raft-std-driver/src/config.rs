//! A node's configuration: from flags or a small TOML file, validated before anything starts.
//!
//! ```toml
//! id = 1
//! listen = "127.0.0.1:7001"          # optional when `peers` lists this node's own address
//! peers = ["1=127.0.0.1:7001", "2=127.0.0.1:7002", "3=127.0.0.1:7003"]
//! data_dir = "/var/lib/raft/1"
//! key_file = "/etc/raft/cluster.key"  # 64 hex digits (`openssl rand -hex 32`)
//! # Optional, with their defaults:
//! voters = [1, 2, 3]                 # the initial voters: every node of `peers` (and this
//!                                    # one); the others start as non-members to be added
//! cluster_id = 0
//! tick_ms = 10
//! election_ticks = 15
//! heartbeat_ticks = 3
//! fsync = true
//! max_frame_bytes = 1200
//! stats_interval_ms = 1000
//! snapshot_entries = 0               # also snapshot every N applied entries (0: only when
//!                                    # raft-core's log window fills)
//! snapshot_write_mib_per_sec = 16    # the most a snapshot capture writes a second (0: no
//!                                    # limit), so the WAL's fsyncs keep the disk
//! read_policy = "read_index"         # or "lease" or "log"
//! metrics_addr = "127.0.0.1:9101"    # serve Prometheus metrics at http://ADDR/metrics
//!                                    # (default: no endpoint)
//! join = "127.0.0.1:7001"            # a new node: any one member's address (see `crate::join`)
//! clients = 1024                     # concurrent clients the UDP socket buffers are sized
//!                                    # for (8 KiB each, plus 1 MiB for the other nodes), and
//!                                    # 4x this many requests waiting before `Busy`
//! ```

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::node::{INFLIGHT, MAX_VOTERS};

/// The optional settings' defaults (`raft-node --help` shows them).
pub mod defaults {
    /// `cluster_id`.
    pub const CLUSTER_ID: u32 = 0;
    /// `tick_ms`.
    pub const TICK_MS: u64 = 10;
    /// `election_ticks`.
    pub const ELECTION_TICKS: u32 = 15;
    /// `heartbeat_ticks`.
    pub const HEARTBEAT_TICKS: u32 = 3;
    /// `max_frame_bytes`.
    pub const MAX_FRAME_BYTES: u32 = 1200;
    /// `stats_interval_ms`.
    pub const STATS_INTERVAL_MS: u64 = 1000;
    /// `snapshot_entries`.
    pub const SNAPSHOT_ENTRIES: u64 = 0;
    /// `snapshot_write_mib_per_sec`.
    pub const SNAPSHOT_WRITE_MIB_PER_SEC: u64 = 16;
    /// `read_policy`.
    pub const READ_POLICY: &str = "read_index";
    /// `clients`.
    pub const CLIENTS: usize = 1024;
}

/// One `id=host:port` peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its node id.
    pub id: u32,
    /// Its UDP address.
    pub addr: SocketAddr,
}

impl Peer {
    /// Parses `id=host:port`.
    pub fn parse(s: &str) -> Result<Peer, String> {
        let (id, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("peer `{s}` is not of the form id=host:port"))?;
        let id: u32 = id
            .trim()
            .parse()
            .map_err(|_| format!("peer `{s}`: `{id}` is not a node id (a number)"))?;
        if id == 0 || id >= crate::transport::CLIENT_ID_MIN {
            return Err(format!(
                "peer `{s}`: node ids must be in 1..{}",
                crate::transport::CLIENT_ID_MIN
            ));
        }
        let addr = addr
            .trim()
            .to_socket_addrs()
            .map_err(|e| format!("peer `{s}`: bad address: {e}"))?
            .next()
            .ok_or_else(|| format!("peer `{s}`: address resolves to nothing"))?;
        Ok(Peer { id, addr })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.id, self.addr)
    }
}

/// Everything a node needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's id.
    pub id: u32,
    /// The address the UDP socket binds.
    pub listen: SocketAddr,
    /// The peer table: the other nodes this one may talk to at start (this node excluded).
    /// It seeds the node's address book, which membership changes then update (see the
    /// README's "Membership changes"): the allow-list and send table follow the book.
    pub peers: Vec<Peer>,
    /// The cluster's initial voters, sorted: a subset of the peer table and this node, the
    /// same on every node. A node outside them starts as a non-member that waits to be added
    /// (`raft-client member add-learner`).
    pub initial_voters: Vec<u32>,
    /// Where the WAL, snapshots, epoch file and `stats.json` live.
    pub data_dir: PathBuf,
    /// The pre-shared cluster key file.
    pub key_file: PathBuf,
    /// Wire cluster id; frames of another cluster are dropped.
    pub cluster_id: u32,
    /// Length of one raft-core tick.
    pub tick: Duration,
    /// Minimum election timeout, in ticks.
    pub election_ticks: u32,
    /// Heartbeat interval, in ticks.
    pub heartbeat_ticks: u32,
    /// Whether the WAL fsyncs (off only for benchmarks: a crash may then lose acknowledged
    /// writes).
    pub fsync: bool,
    /// raft-core's `max_frame_bytes`; a sealed datagram adds the AEAD overhead and a tag byte.
    pub max_frame_bytes: u32,
    /// How often `stats.json` is rewritten.
    pub stats_interval: Duration,
    /// Take a snapshot (and let the log be compacted up to it) once this many entries were
    /// applied since the last one; 0: only when raft-core's log window fills.
    pub snapshot_entries: u64,
    /// The most bytes a second a snapshot capture writes to the disk (0: no limit): a capture
    /// of a large state on the WAL's disk then leaves room for the WAL's fsyncs (BENCHMARKS.md,
    /// "Snapshots of a large state").
    pub snapshot_write_rate: u64,
    /// How linearizable gets are served.
    pub read_policy: crate::node::ReadPolicy,
    /// Where `raft-node` serves Prometheus metrics (`GET /metrics`); `None`: nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// `--join`: the address of one member of a running cluster to join through (see
    /// `crate::join`): the node fills its peer table and initial voters from that member's
    /// answer before it opens its storage.
    pub join: Option<SocketAddr>,
    /// The concurrent clients the node is sized for: its UDP receive and send buffers (the
    /// sizes granted are logged at start), the client requests it lets wait (4x this many)
    /// before it answers new ones `Busy`, and the uncommitted entries a leader takes on
    /// (raft-core's `max_uncommitted`: 4x this many, at least its default of 1,024).
    pub clients: usize,
}

/// The TOML file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: u32,
    listen: Option<String>,
    #[serde(default)]
    peers: Vec<String>,
    voters: Option<Vec<u32>>,
    data_dir: PathBuf,
    key_file: PathBuf,
    cluster_id: Option<u32>,
    tick_ms: Option<u64>,
    election_ticks: Option<u32>,
    heartbeat_ticks: Option<u32>,
    fsync: Option<bool>,
    max_frame_bytes: Option<u32>,
    stats_interval_ms: Option<u64>,
    snapshot_entries: Option<u64>,
    snapshot_write_mib_per_sec: Option<u64>,
    read_policy: Option<String>,
    metrics_addr: Option<String>,
    clients: Option<usize>,
    join: Option<String>,
}

/// The settings as given (flags or file), before validation.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    /// `--id`.
    pub id: Option<u32>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--peer`, repeated; may include this node itself.
    pub peers: Vec<String>,
    /// `--voters 1,2,3`: the initial voters (default: every peer and this node).
    pub voters: Option<Vec<u32>>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--cluster-id`.
    pub cluster_id: Option<u32>,
    /// `--tick-ms`.
    pub tick_ms: Option<u64>,
    /// `--election-ticks`.
    pub election_ticks: Option<u32>,
    /// `--heartbeat-ticks`.
    pub heartbeat_ticks: Option<u32>,
    /// `--no-fsync` gives `Some(false)`.
    pub fsync: Option<bool>,
    /// `--max-frame-bytes`.
    pub max_frame_bytes: Option<u32>,
    /// `--stats-interval-ms`.
    pub stats_interval_ms: Option<u64>,
    /// `--snapshot-entries`.
    pub snapshot_entries: Option<u64>,
    /// `--snapshot-write-mib-per-sec`.
    pub snapshot_write_mib_per_sec: Option<u64>,
    /// `--read-policy` (`read_index`, `lease` or `log`).
    pub read_policy: Option<String>,
    /// `--metrics-addr`.
    pub metrics_addr: Option<String>,
    /// `--clients`.
    pub clients: Option<usize>,
    /// `--join HOST:PORT`.
    pub join: Option<String>,
}

impl RawConfig {
    /// Reads a TOML config file. Flags given as well override it (see [`RawConfig::or`]).
    pub fn from_file(path: &Path) -> Result<RawConfig, String> {
        let f: File = read_toml(path)?;
        Ok(RawConfig {
            id: Some(f.id),
            listen: f.listen,
            peers: f.peers,
            voters: f.voters,
            data_dir: Some(f.data_dir),
            key_file: Some(f.key_file),
            cluster_id: f.cluster_id,
            tick_ms: f.tick_ms,
            election_ticks: f.election_ticks,
            heartbeat_ticks: f.heartbeat_ticks,
            fsync: f.fsync,
            max_frame_bytes: f.max_frame_bytes,
            stats_interval_ms: f.stats_interval_ms,
            snapshot_entries: f.snapshot_entries,
            snapshot_write_mib_per_sec: f.snapshot_write_mib_per_sec,
            read_policy: f.read_policy,
            metrics_addr: f.metrics_addr,
            clients: f.clients,
            join: f.join,
        })
    }

    /// `self`'s settings, falling back to `base` for each one not given.
    pub fn or(self, base: RawConfig) -> RawConfig {
        RawConfig {
            id: self.id.or(base.id),
            listen: self.listen.or(base.listen),
            peers: or_list(self.peers, base.peers),
            voters: self.voters.or(base.voters),
            data_dir: self.data_dir.or(base.data_dir),
            key_file: self.key_file.or(base.key_file),
            cluster_id: self.cluster_id.or(base.cluster_id),
            tick_ms: self.tick_ms.or(base.tick_ms),
            election_ticks: self.election_ticks.or(base.election_ticks),
            heartbeat_ticks: self.heartbeat_ticks.or(base.heartbeat_ticks),
            fsync: self.fsync.or(base.fsync),
            max_frame_bytes: self.max_frame_bytes.or(base.max_frame_bytes),
            stats_interval_ms: self.stats_interval_ms.or(base.stats_interval_ms),
            snapshot_entries: self.snapshot_entries.or(base.snapshot_entries),
            snapshot_write_mib_per_sec: self
                .snapshot_write_mib_per_sec
                .or(base.snapshot_write_mib_per_sec),
            read_policy: self.read_policy.or(base.read_policy),
            metrics_addr: self.metrics_addr.or(base.metrics_addr),
            clients: self.clients.or(base.clients),
            join: self.join.or(base.join),
        }
    }

    /// Checks every setting; the error is one line naming what is wrong.
    pub fn validate(self) -> Result<NodeConfig, String> {
        let id = self.id.ok_or("missing --id (or `id` in the config file)")?;
        if id == 0 || id >= crate::transport::CLIENT_ID_MIN {
            return Err(format!(
                "--id {id}: node ids must be in 1..{}",
                crate::transport::CLIENT_ID_MIN
            ));
        }
        let mut peers = Vec::new();
        let mut own = None;
        for p in &self.peers {
            let peer = Peer::parse(p)?;
            if peer.id == id {
                own = Some(peer.addr);
            } else if peers.iter().any(|q: &Peer| q.id == peer.id) {
                return Err(format!("peer id {} is listed twice", peer.id));
            } else {
                peers.push(peer);
            }
        }
        if peers.len() + 1 > MAX_VOTERS {
            return Err(format!(
                "{} nodes in the peer table; at most {} are supported",
                peers.len() + 1,
                MAX_VOTERS
            ));
        }
        let join = match &self.join {
            Some(_) if self.voters.is_some() => {
                return Err(
                    "--join takes the voters from the member it joins through; drop --voters"
                        .into(),
                )
            }
            Some(a) => Some(resolve("--join", a)?),
            None => None,
        };
        let initial_voters = match self.voters {
            None => {
                let mut all: Vec<u32> = peers.iter().map(|p| p.id).chain([id]).collect();
                all.sort_unstable();
                all
            }
            Some(mut v) => {
                v.sort_unstable();
                if v.is_empty() {
                    return Err("--voters: at least one initial voter is needed".into());
                }
                if let Some(w) = v.windows(2).find(|w| w[0] == w[1]) {
                    return Err(format!("--voters: voter {} is listed twice", w[0]));
                }
                if let Some(&x) = v
                    .iter()
                    .find(|&&x| x != id && peers.iter().all(|p| p.id != x))
                {
                    return Err(format!(
                        "--voters: voter {x} is not in the peer table (--peer {x}=ADDR)"
                    ));
                }
                v
            }
        };
        let listen = match (self.listen, own) {
            (Some(l), _) => resolve("--listen", &l)?,
            (None, Some(a)) => a,
            (None, None) => {
                return Err("missing --listen (or list this node itself in --peer)".into())
            }
        };
        let data_dir = self.data_dir.ok_or("missing --data-dir")?;
        let key_file = self.key_file.ok_or("missing --key-file")?;
        let tick_ms = self.tick_ms.unwrap_or(defaults::TICK_MS);
        if tick_ms == 0 || tick_ms > 10_000 {
            return Err(format!("tick of {tick_ms} ms: must be in 1..=10000"));
        }
        let election_ticks = self.election_ticks.unwrap_or(defaults::ELECTION_TICKS);
        let heartbeat_ticks = self.heartbeat_ticks.unwrap_or(defaults::HEARTBEAT_TICKS);
        let max_frame_bytes = self.max_frame_bytes.unwrap_or(defaults::MAX_FRAME_BYTES);
        let max_datagram = max_frame_bytes as usize + 1 + crate::transport::OVERHEAD;
        if max_datagram > 65_507 {
            return Err(format!(
                "max_frame_bytes {max_frame_bytes}: the sealed datagram would exceed 65507 bytes"
            ));
        }
        let read_policy = match self.read_policy.as_deref().unwrap_or(defaults::READ_POLICY) {
            "read_index" | "read-index" => crate::node::ReadPolicy::ReadIndex,
            "log" | "through_log" => crate::node::ReadPolicy::ThroughLog,
            "lease" => crate::node::ReadPolicy::Lease,
            other => {
                return Err(format!(
                    "read policy `{other}`: must be `read_index`, `lease` or `log`"
                ))
            }
        };
        let metrics_addr = match self.metrics_addr {
            Some(a) => Some(resolve("--metrics-addr", &a)?),
            None => None,
        };
        let clients = self.clients.unwrap_or(defaults::CLIENTS);
        if clients == 0 || clients > 1 << 20 {
            return Err(format!("clients {clients}: must be in 1..=1048576"));
        }
        let cfg = NodeConfig {
            id,
            listen,
            peers,
            initial_voters,
            data_dir,
            key_file,
            cluster_id: self.cluster_id.unwrap_or(defaults::CLUSTER_ID),
            tick: Duration::from_millis(tick_ms),
            election_ticks,
            heartbeat_ticks,
            fsync: self.fsync.unwrap_or(true),
            max_frame_bytes,
            stats_interval: Duration::from_millis(
                self.stats_interval_ms
                    .unwrap_or(defaults::STATS_INTERVAL_MS)
                    .max(10),
            ),
            snapshot_entries: self.snapshot_entries.unwrap_or(defaults::SNAPSHOT_ENTRIES),
            snapshot_write_rate: self
                .snapshot_write_mib_per_sec
                .unwrap_or(defaults::SNAPSHOT_WRITE_MIB_PER_SEC)
                .saturating_mul(1 << 20),
            read_policy,
            metrics_addr,
            clients,
            join,
        };
        // raft-core's own rules (timeouts, frame size), reported in its words.
        raftcore::State::<{ MAX_VOTERS }, 64, { INFLIGHT }>::new(cfg.core(0), &cfg.voters())
            .map_err(|e| format!("invalid raft settings: {e}"))?;
        Ok(cfg)
    }
}

/// `given` unless it is empty, else `base` (a repeated flag replaces a file's list whole).
pub(crate) fn or_list<T>(given: Vec<T>, base: Vec<T>) -> Vec<T> {
    if given.is_empty() {
        base
    } else {
        given
    }
}

/// Reads and parses a TOML config file; the error is one line naming the file.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config {}: {}", path.display(), e.message()))
}

/// The first address `addr` (given as `flag`) resolves to.
fn resolve(flag: &str, addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{flag} {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{flag} {addr}: resolves to nothing"))
}

impl NodeConfig {
    /// The initial voters' ids, sorted (this node among them or not).
    pub fn voters(&self) -> Vec<raftcore::NodeId> {
        self.initial_voters
            .iter()
            .copied()
            .map(raftcore::NodeId)
            .collect()
    }

    /// Whether `id` is this node or in its peer table.
    pub fn knows(&self, id: u32) -> bool {
        id == self.id || self.peers.iter().any(|p| p.id == id)
    }

    /// The raft-core configuration: deferred durability (group commit), the timeouts and
    /// frame size given, and the flow-control windows scaled to the frame size.
    pub fn core(&self, seed: u64) -> raftcore::Config {
        let mut c = raftcore::Config::new(raftcore::NodeId(self.id), seed);
        c.cluster_id = self.cluster_id;
        c.election_ticks = self.election_ticks;
        c.heartbeat_ticks = self.heartbeat_ticks;
        c.max_frame_bytes = self.max_frame_bytes;
        // The pipelining window: `INFLIGHT` full frames.
        c.max_inflight_msgs = INFLIGHT as u32;
        c.max_inflight_bytes = (INFLIGHT as u32).saturating_mul(self.max_frame_bytes);
        c.max_apply = 256;
        // As many writes as the clients the node is sized for can have waiting, so that a
        // burst from all of them (or their retries) is not refused `Busy` by the core while
        // the driver still lets them wait (a pause of 1 to 100 ms each, the tail of the
        // latencies at 1,024 clients when it was the core's 1,024).
        c.max_uncommitted = u32::try_from(self.clients.saturating_mul(4))
            .unwrap_or(u32::MAX)
            .max(c.max_uncommitted);
        c.durability = raftcore::Durability::Deferred;
        c.lease_reads = self.read_policy == crate::node::ReadPolicy::Lease;
        c
    }

    /// The largest sealed datagram: a tag byte and a frame, plus the AEAD overhead.
    pub fn max_datagram(&self) -> usize {
        self.max_frame_bytes as usize + 1 + crate::transport::OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::RawConfig;

    fn with_clients(clients: Option<usize>) -> super::NodeConfig {
        RawConfig {
            id: Some(1),
            peers: vec!["1=127.0.0.1:9".into()],
            data_dir: Some("/nonexistent".into()),
            key_file: Some("/nonexistent/key".into()),
            clients,
            ..RawConfig::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn a_leader_takes_on_as_many_uncommitted_writes_as_its_clients_may_have_waiting() {
        // The default (1,024 clients): 4,096 uncommitted, as the driver lets 4,096 wait.
        assert_eq!(with_clients(None).core(1).max_uncommitted, 4_096);
        assert_eq!(with_clients(Some(5_000)).core(1).max_uncommitted, 20_000);
        // Never below raft-core's own default.
        let floor = raftcore::Config::new(raftcore::NodeId(1), 1).max_uncommitted;
        assert_eq!(with_clients(Some(1)).core(1).max_uncommitted, floor);
    }
}
