//! `raft-node --rebuild`: rebuilds a node whose data directory is damaged from the cluster's
//! healthy majority, with the node's usual flags.
//!
//! [`prepare`] runs before the node opens its storage: it takes the directory's lock (refused
//! if a running process holds it), checks there is something to move, asks the other members
//! (the `--peer` table, under the node's key file) for the configuration through the leader,
//! removes this node if it is still a member, and only then moves the directory aside to
//! `<dir>.damaged-<unix seconds>`. It returns the current voters, which the node then starts
//! with on an empty directory, as `--voters` would. If no leader with a majority answers,
//! nothing is changed and the node does not start: a rebuild never makes the node a member
//! by itself. [`join`] runs once the node is open: it adds the node as a learner, waits
//! (bounded, logging progress) until its log has caught up, and promotes it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::admin::{MemberChange, MemberRefusal, MembershipView};
use crate::client::{Client, ClientError, ClientOptions};
use crate::config::NodeConfig;
use crate::storage::{DirLock, StorageError, LOCK_FILE};
use crate::transport::ClusterKey;

/// How long [`join`] waits for the rebuilt node to catch up before it gives up.
pub const CATCH_UP_DEADLINE: Duration = Duration::from_secs(300);

/// How often [`join`] logs its progress while the node catches up.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What [`prepare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Where the damaged directory now is.
    pub moved_to: PathBuf,
    /// The cluster's voters (without this node): the node's initial voters.
    pub voters: Vec<u32>,
}

/// A client of the other members of `cfg`'s peer table, under its key file.
fn cluster_client(cfg: &NodeConfig) -> Result<Client, String> {
    let others: Vec<_> = cfg
        .peers
        .iter()
        .copied()
        .filter(|p| p.id != cfg.id)
        .collect();
    if others.is_empty() {
        return Err("no other member in --peer to rebuild from".into());
    }
    let key = ClusterKey::from_file(&cfg.key_file).map_err(|e| e.to_string())?;
    Client::new(&key, others, ClientOptions::default()).map_err(|e| format!("socket: {e}"))
}

/// Whether `dir` holds anything besides the lock file.
fn has_data(dir: &Path) -> Result<bool, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(entries.flatten().any(|e| e.file_name() != LOCK_FILE))
}

/// What a rebuild does before the node opens its storage (see the module docs). Sets `cfg.initial_voters` to the
/// cluster's voters. The error is one line saying why nothing (or what) was done.
pub fn prepare(cfg: &mut NodeConfig) -> Result<Prepared, String> {
    let dir = cfg.data_dir.clone();
    if !dir.is_dir() || !has_data(&dir)? {
        return Err(format!(
            "nothing to move: {} is absent or empty (start the node without --rebuild)",
            dir.display()
        ));
    }
    let lock = DirLock::acquire(&dir).map_err(|e| match e {
        StorageError::Locked { .. } => format!(
            "{} is locked by a running process: stop that node first",
            dir.display()
        ),
        e => e.to_string(),
    })?;
    let mut client = cluster_client(cfg)?;
    let no_majority = |e: ClientError| {
        format!(
            "no leader with a majority of the cluster answered ({e}); nothing was changed. \
             --rebuild needs the healthy majority of the other members"
        )
    };
    let mut view = client.membership().map_err(no_majority)?;
    if view.voters.contains(&cfg.id) || view.learners.contains(&cfg.id) {
        tracing::info!(id = cfg.id, "rebuild: removing this node from the cluster");
        view = client
            .change_membership(MemberChange::Remove(cfg.id))
            .map_err(|e| format!("removing node {}: {e}", cfg.id))?;
    }
    let voters = view.voters.clone();
    if voters.is_empty() || voters.contains(&cfg.id) {
        return Err(format!("unexpected configuration: {view}"));
    }
    if let Some(v) = voters.iter().find(|&&v| !cfg.knows(v)) {
        return Err(format!(
            "voter {v} is not in this node's peer table (add --peer {v}=ADDR)"
        ));
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{secs}"));
    let moved_to = dir.with_file_name(name);
    if moved_to.exists() {
        return Err(format!("{} already exists", moved_to.display()));
    }
    std::fs::rename(&dir, &moved_to)
        .map_err(|e| format!("moving {} to {}: {e}", dir.display(), moved_to.display()))?;
    drop(lock);
    cfg.initial_voters = voters.clone();
    Ok(Prepared { moved_to, voters })
}

/// Step 4 of a rebuild, once the node runs on its empty directory: adds it as a learner,
/// waits up to [`CATCH_UP_DEADLINE`] (logging progress every second) until the leader takes
/// the promotion, and returns the configuration with the node a voter.
pub fn join(cfg: &NodeConfig) -> Result<MembershipView, String> {
    let id = cfg.id;
    let mut client = cluster_client(cfg)?;
    // Its removal dropped its address from every address book: the change carries it again
    // (the address it listens on, unless that is a wildcard the others cannot reach).
    let add = if cfg.listen.ip().is_unspecified() {
        MemberChange::AddLearner(id)
    } else {
        MemberChange::AddLearnerAt(id, cfg.listen)
    };
    client
        .change_membership(add)
        .map_err(|e| format!("adding node {id} as a learner: {e}"))?;
    tracing::info!(id, "rebuild: added as a learner; catching up");
    let start = Instant::now();
    let mut next_report = start + PROGRESS_EVERY;
    loop {
        match client.change_membership(MemberChange::Promote(id)) {
            Ok(view) => return Ok(view),
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(_))) => {}
            Err(e) => return Err(format!("promoting node {id}: {e}")),
        }
        if start.elapsed() >= CATCH_UP_DEADLINE {
            return Err(format!(
                "node {id} did not catch up within {} s; it stays a learner (promote it with \
                 `raft-client member promote {id}`, or run --rebuild again)",
                CATCH_UP_DEADLINE.as_secs()
            ));
        }
        if Instant::now() >= next_report {
            next_report += PROGRESS_EVERY;
            let leader = client.target();
            let commit = client.status(leader).ok().flatten().map(|s| s.commit);
            tracing::info!(
                id,
                leader,
                leader_commit = ?commit,
                waited_s = start.elapsed().as_secs(),
                "rebuild: catching up"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
