//! `raft-node`: one member of a replicated key-value cluster over authenticated UDP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use raft_std_driver::cli;
use raft_std_driver::config::{defaults, NodeConfig, RawConfig};
use raft_std_driver::join;
use raft_std_driver::kv::KvStore;
use raft_std_driver::metrics::MetricsServer;
use raft_std_driver::node::Node;
use raft_std_driver::rebuild;
use raft_std_driver::storage::{self, DataDir, FileIo, Forced, StdIo, StorageError};
use raft_std_driver::transport::ClusterKey;

/// How long `--join` asks the member for the configuration before the node gives up.
const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The heading of the arguments `raft-node` needs, unless the `--config` file gives them.
const REQUIRED: &str = "Required (unless given in the --config file)";

/// Runs one raft-core node of a replicated key-value store over authenticated, encrypted UDP.
///
/// Give the settings as flags or in a TOML file (`--config`); flags override the file.
/// Counters are written to `<data-dir>/stats.json` every second and, with `--metrics-addr`,
/// served to Prometheus. Ctrl-C (or SIGTERM) stops the node cleanly.
#[derive(Parser, Debug)]
#[command(
    name = "raft-node",
    version,
    override_usage = "raft-node --id <ID> --data-dir <DIR> --key-file <FILE> [--peer <ID=ADDR>]... [OPTIONS]\n       \
                      raft-node --config <FILE> [OPTIONS]"
)]
struct Args {
    /// This node's id (1..2^31).
    #[arg(help_heading = REQUIRED, long, required_unless_present = "config")]
    id: Option<u32>,
    /// A node of the peer table as ID=HOST:PORT; repeat for each. May include this node (then
    /// --listen may be left out). Only these nodes are allowed to talk to this one.
    #[arg(long = "peer", value_name = "ID=ADDR")]
    peers: Vec<String>,
    /// The cluster's initial voters, e.g. `1,2,3` [default: every --peer and this node]. The
    /// same on every node; the other peers start as non-members that can be added later
    /// (`raft-client member add-learner`).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    voters: Option<Vec<u32>>,
    /// The UDP address to bind [default: this node's own --peer address].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Directory for the WAL, snapshots and stats.json (created if absent).
    #[arg(help_heading = REQUIRED, long, value_name = "DIR", required_unless_present = "config")]
    data_dir: Option<PathBuf>,
    /// The cluster key: 64 hex digits (e.g. `openssl rand -hex 32 > key`).
    #[arg(help_heading = REQUIRED, long, value_name = "FILE", required_unless_present = "config")]
    key_file: Option<PathBuf>,
    /// A TOML file with the same settings (id, listen, peers, data_dir, key_file, ...); flags
    /// given override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Cluster id on the wire.
    #[arg(long, default_value_t = defaults::CLUSTER_ID)]
    cluster_id: u32,
    /// Tick length in milliseconds.
    #[arg(long, default_value_t = defaults::TICK_MS)]
    tick_ms: u64,
    /// Minimum election timeout in ticks.
    #[arg(long, default_value_t = defaults::ELECTION_TICKS)]
    election_ticks: u32,
    /// Heartbeat interval in ticks.
    #[arg(long, default_value_t = defaults::HEARTBEAT_TICKS)]
    heartbeat_ticks: u32,
    /// Skip fsync (benchmarks only: a machine crash may lose acknowledged writes).
    #[arg(long)]
    no_fsync: bool,
    /// Largest raft frame in bytes (the default is safe for any path MTU).
    #[arg(long, default_value_t = defaults::MAX_FRAME_BYTES)]
    max_frame_bytes: u32,
    /// How often stats.json is rewritten, in milliseconds.
    #[arg(long, default_value_t = defaults::STATS_INTERVAL_MS)]
    stats_interval_ms: u64,
    /// Also take a snapshot every N applied entries (0: only when the log window fills).
    /// Small values make followers that lag catch up through InstallSnapshot.
    #[arg(long, value_name = "N", default_value_t = defaults::SNAPSHOT_ENTRIES)]
    snapshot_entries: u64,
    /// The most MiB a second a snapshot capture writes to the disk (0: no limit), so that the
    /// WAL's fsyncs on the same disk keep going while a large state is written.
    #[arg(long, value_name = "N", default_value_t = defaults::SNAPSHOT_WRITE_MIB_PER_SEC)]
    snapshot_write_mib_per_sec: u64,
    /// How linearizable gets are served: `read_index` (a heartbeat round, no log entry),
    /// `lease` (at once within the leader's lease; assumes no long stalls) or `log` (proposed
    /// through the log like a write).
    #[arg(long, value_name = "POLICY", default_value = defaults::READ_POLICY)]
    read_policy: String,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9101; default: no
    /// endpoint). Bind it to loopback or a private interface: it has no authentication.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
    /// The concurrent clients to size for: the UDP socket buffers (8 KiB a client plus 1 MiB;
    /// the sizes granted are logged) and the requests let wait (4x) before `Busy`.
    #[arg(long, value_name = "N", default_value_t = defaults::CLIENTS)]
    clients: usize,
    /// UNSAFE, LAST RESORT when a majority is lost for good: make this node the only voter of
    /// a one-node cluster built from its own log, then run. Writes the old cluster acknowledged
    /// but this node lacks are lost; never start the other nodes on their old data again. A
    /// no-op once the node is alone. See the README ("Losing a majority for good").
    #[arg(long)]
    force_new_cluster: bool,
    /// Rebuild this node from the cluster's healthy majority, for a node that refuses to start
    /// because its storage is damaged: stop it, then run it with its usual flags plus this
    /// one. Moves the data directory aside to `<DIR>.damaged-<unix seconds>`, removes the node
    /// through the other --peer members (refused, changing nothing, unless a leader with a
    /// majority answers), starts it empty with the current voters, adds it as a learner and
    /// promotes it once caught up, then runs on. Restart later without the flag. See the
    /// README ("A node that refuses to start because its storage is damaged").
    #[arg(long, conflicts_with = "force_new_cluster")]
    rebuild: bool,
    /// Join a running cluster through the member at HOST:PORT (any one member): take the
    /// configuration and the members' addresses from it, then wait, as a non-member, to be
    /// added with `raft-client member add-learner ID --addr <this node's --listen>`. Needs
    /// --listen; no --peer or --voters. See the README ("Adding a node without restarting
    /// anyone").
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["rebuild", "force_new_cluster", "voters"])]
    join: Option<String>,
}

/// Rewrites the data directory for `--force-new-cluster` (see `storage::force_new_cluster`),
/// saying loudly what it did, before the node opens it as usual.
fn force_new_cluster(cfg: &NodeConfig) -> Result<(), StorageError> {
    let io: Arc<dyn FileIo> = Arc::new(StdIo);
    let data = DataDir::open(&cfg.data_dir, cfg.id, cfg.cluster_id, io.as_ref())?;
    match storage::force_new_cluster(&data, &cfg.voters(), io)? {
        Forced::AlreadyAlone => tracing::warn!(
            id = cfg.id,
            "--force-new-cluster: this node is already the only member; nothing rewritten \
             (remove the flag)"
        ),
        Forced::Rewritten {
            index,
            term,
            previous,
        } => {
            let old: Vec<u32> = previous.members().map(|n| n.0).collect();
            eprintln!(
                "WARNING: --force-new-cluster: node {} is now the only voter (membership entry \
                 {index}, term {term}; was {old:?}). Writes the old cluster acknowledged that \
                 this node did not hold are lost. NEVER start the other nodes on their old data \
                 directories; rebuild them empty and add them back. Remove the flag for later \
                 restarts.",
                cfg.id
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let (args, m): (Args, _) = match cli::parse_matches() {
        Ok(a) => a,
        Err(code) => return code,
    };
    cli::init_tracing("info");
    // A flag left at its default gives way to the config file.
    let given = |id: &str| cli::given(&m, id);
    let flags = RawConfig {
        id: args.id,
        listen: args.listen,
        peers: args.peers,
        voters: args.voters,
        data_dir: args.data_dir,
        key_file: args.key_file,
        cluster_id: given("cluster_id").then_some(args.cluster_id),
        tick_ms: given("tick_ms").then_some(args.tick_ms),
        election_ticks: given("election_ticks").then_some(args.election_ticks),
        heartbeat_ticks: given("heartbeat_ticks").then_some(args.heartbeat_ticks),
        fsync: args.no_fsync.then_some(false),
        max_frame_bytes: given("max_frame_bytes").then_some(args.max_frame_bytes),
        stats_interval_ms: given("stats_interval_ms").then_some(args.stats_interval_ms),
        snapshot_entries: given("snapshot_entries").then_some(args.snapshot_entries),
        snapshot_write_mib_per_sec: given("snapshot_write_mib_per_sec")
            .then_some(args.snapshot_write_mib_per_sec),
        read_policy: given("read_policy").then_some(args.read_policy),
        metrics_addr: args.metrics_addr,
        clients: given("clients").then_some(args.clients),
        join: args.join,
    };
    let raw = match &args.config {
        Some(path) => match RawConfig::from_file(path) {
            Ok(file) => flags.or(file),
            Err(e) => return cli::fail(e),
        },
        None => flags,
    };
    let cfg = match raw.validate() {
        Ok(c) => c,
        Err(e) => return cli::fail(e),
    };
    let mut cfg = cfg;
    if let Some(member) = cfg.join {
        let joined = ClusterKey::from_file(&cfg.key_file)
            .map_err(|e| e.to_string())
            .and_then(|key| join::fetch(&key, member, JOIN_TIMEOUT))
            .and_then(|view| join::apply(&mut cfg, &view).map(|()| view));
        match joined {
            Ok(view) => tracing::info!(
                id = cfg.id,
                %member,
                voters = ?cfg.initial_voters,
                peers = ?cfg.peers.iter().map(|p| p.id).collect::<Vec<_>>(),
                index = view.index,
                "join: learned the configuration; waiting to be added \
                 (raft-client member add-learner {} --addr {})",
                cfg.id,
                cfg.listen
            ),
            Err(e) => return cli::fail(format!("node {}: --join {member}: {e}", cfg.id)),
        }
    }
    if args.rebuild {
        match rebuild::prepare(&mut cfg) {
            Ok(done) => tracing::info!(
                id = cfg.id,
                moved_to = %done.moved_to.display(),
                voters = ?done.voters,
                "rebuild: damaged data directory moved aside; starting empty"
            ),
            Err(e) => return cli::fail(format!("node {}: --rebuild refused: {e}", cfg.id)),
        }
    }
    let join_cfg = args.rebuild.then(|| cfg.clone());
    let (id, listen, metrics_addr) = (cfg.id, cfg.listen, cfg.metrics_addr);
    if args.force_new_cluster {
        if let Err(e) = force_new_cluster(&cfg) {
            return cli::fail(format!("node {id}: --force-new-cluster: {e}"));
        }
    }
    let mut node = match Node::open(cfg, KvStore::default()) {
        Ok(n) => n,
        Err(e) => return cli::fail(format!("node {id}: {e}")),
    };
    // Serves from its own thread until the process ends.
    let _metrics = match metrics_addr {
        Some(addr) => match MetricsServer::start(addr, node.metrics_feed()) {
            Ok(server) => {
                tracing::info!(id, url = %format!("http://{}/metrics", server.local_addr()), "metrics");
                Some(server)
            }
            Err(e) => return cli::fail(format!("node {id}: --metrics-addr {addr}: {e}")),
        },
        None => None,
    };
    let handle = node.handle();
    if let Err(e) = ctrlc::set_handler(move || handle.shutdown()) {
        return cli::fail(format!("cannot install the Ctrl-C handler: {e}"));
    }
    // The rebuild's last step runs beside the node; a failure is noted, then stops it.
    let failed: Arc<Mutex<Option<String>>> = Arc::default();
    if let Some(cfg) = join_cfg {
        let (handle, failed) = (node.handle(), failed.clone());
        std::thread::spawn(move || match rebuild::join(&cfg) {
            Ok(view) => tracing::info!(id, %view, "rebuild: done; this node is a voter again"),
            Err(e) => {
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                handle.shutdown();
            }
        });
    }
    tracing::info!(id, %listen, "running");
    let result = node.run();
    if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return cli::fail(format!("node {id}: --rebuild: {e}"));
    }
    match result {
        Ok(()) => {
            tracing::info!(id, "stopped");
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail(format!("node {id} stopped: {e}")),
    }
}
