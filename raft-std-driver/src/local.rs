//! A cluster of `raft-node` processes on 127.0.0.1 in a temporary directory: what `raft-demo`
//! and the integration tests run.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use raftcore::Role;

use crate::client::{Client, ClientOptions};
use crate::config::Peer;
use crate::transport::ClusterKey;

/// One node process.
#[derive(Debug)]
pub struct LocalNode {
    /// Its id.
    pub id: u32,
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log file (stderr of the process, appended across restarts).
    pub log: PathBuf,
    /// Where it serves Prometheus metrics (`--metrics-addr`), if it does.
    pub metrics: Option<SocketAddr>,
    /// The member it joins through (`--join`), for a node started with
    /// [`LocalCluster::join`]; `None`: started with the static `--peer` table.
    pub join_via: Option<SocketAddr>,
    child: Option<Child>,
}

/// N `raft-node` processes. Dropping it kills them (SIGKILL).
#[derive(Debug)]
pub struct LocalCluster {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    bin: PathBuf,
    key: ClusterKey,
    key_file: PathBuf,
    extra: Vec<String>,
    /// Nodes 1..=voters are the initial voters.
    voters: usize,
    /// Nodes 1..=static_nodes are in the static `--peer` tables (the others join).
    static_nodes: usize,
    /// The nodes, ids 1..=N.
    pub nodes: Vec<LocalNode>,
}

impl LocalCluster {
    /// Starts `n` nodes of the `raft-node` binary `bin`, each with `extra` flags, under a new
    /// temporary directory with a freshly generated key.
    pub fn start(bin: &Path, n: usize, extra: &[&str]) -> io::Result<LocalCluster> {
        LocalCluster::start_with_voters(bin, n, n, extra)
    }

    /// [`LocalCluster::start`] where only nodes `1..=voters` are the initial voters; the others
    /// are in every node's peer table and start as non-members, to be added with membership
    /// changes.
    pub fn start_with_voters(
        bin: &Path,
        n: usize,
        voters: usize,
        extra: &[&str],
    ) -> io::Result<LocalCluster> {
        LocalCluster::launch(bin, n, voters, extra, None)
    }

    /// A cluster that grows without restarts: nodes `1..=first` are started as the initial
    /// voters, each `--peer` table listing only them; nodes `first+1..=n` get an address and a
    /// data directory but are not started: start each with [`LocalCluster::join`], then add
    /// it with a membership change that carries its address.
    pub fn start_growing(
        bin: &Path,
        n: usize,
        first: usize,
        extra: &[&str],
    ) -> io::Result<LocalCluster> {
        let mut c = LocalCluster::allocate(bin, n, first, extra, None)?;
        c.static_nodes = first.clamp(1, n);
        for id in 1..=c.static_nodes as u32 {
            c.restart(id)?;
        }
        Ok(c)
    }

    /// Starts node `id` with only the address of node `via` (`raft-node --join`, no
    /// `--peer`); later [`LocalCluster::restart`]s join the same way.
    pub fn join(&mut self, id: u32, via: u32) -> io::Result<()> {
        let via = self.nodes[via as usize - 1].addr;
        self.nodes[id as usize - 1].join_via = Some(via);
        self.restart(id)
    }

    /// [`LocalCluster::start`] with each node serving Prometheus metrics on 127.0.0.1: node
    /// `i` on port `first_port + i - 1`, or on free ports when `first_port` is 0 (see
    /// [`LocalNode::metrics`]).
    pub fn start_with_metrics(bin: &Path, n: usize, first_port: u16) -> io::Result<LocalCluster> {
        LocalCluster::launch(bin, n, n, &[], Some(first_port))
    }

    fn launch(
        bin: &Path,
        n: usize,
        voters: usize,
        extra: &[&str],
        metrics_port: Option<u16>,
    ) -> io::Result<LocalCluster> {
        let mut c = LocalCluster::allocate(bin, n, voters, extra, metrics_port)?;
        for id in 1..=n as u32 {
            c.restart(id)?;
        }
        Ok(c)
    }

    /// The cluster's directory, key and node addresses; no process started.
    fn allocate(
        bin: &Path,
        n: usize,
        voters: usize,
        extra: &[&str],
        metrics_port: Option<u16>,
    ) -> io::Result<LocalCluster> {
        let dir = tempfile::Builder::new().prefix("raft-cluster-").tempdir()?;
        let root = dir.path().to_path_buf();
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&crate::node::random_u64().to_le_bytes());
        }
        let key_file = root.join("cluster.key");
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&key_file, hex + "\n")?;
        let mut nodes = Vec::new();
        for id in 1..=n as u32 {
            // Ask the OS for a free port; the node binds it right after (a race with other
            // programs is possible but harmless on a test machine).
            let addr = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
            let metrics = match metrics_port {
                None => None,
                Some(0) => Some(TcpListener::bind("127.0.0.1:0")?.local_addr()?),
                Some(first) => {
                    let port = u16::try_from(u32::from(first) + id - 1)
                        .map_err(|_| io::Error::other("metrics port out of range"))?;
                    Some(SocketAddr::from(([127, 0, 0, 1], port)))
                }
            };
            nodes.push(LocalNode {
                id,
                addr,
                data_dir: root.join(format!("node-{id}")),
                log: root.join(format!("node-{id}.log")),
                metrics,
                join_via: None,
                child: None,
            });
        }
        Ok(LocalCluster {
            dir: Some(dir),
            root,
            bin: bin.to_path_buf(),
            key: ClusterKey::from_bytes(key),
            key_file,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            voters: voters.clamp(1, n),
            static_nodes: n,
            nodes,
        })
    }

    /// The cluster's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key file.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The cluster key.
    pub fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// Every node's id and address.
    pub fn peers(&self) -> Vec<Peer> {
        self.nodes
            .iter()
            .map(|n| Peer {
                id: n.id,
                addr: n.addr,
            })
            .collect()
    }

    /// A new client session of this cluster.
    pub fn client(&self, opts: ClientOptions) -> io::Result<Client> {
        Client::new(&self.key, self.peers(), opts)
    }

    /// The flags `raft-node` runs node `id` with.
    pub fn args(&self, id: u32) -> Vec<String> {
        let node = &self.nodes[id as usize - 1];
        let mut args = vec![
            "--id".to_string(),
            id.to_string(),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
            "--key-file".into(),
            self.key_file.display().to_string(),
        ];
        if let Some(via) = node.join_via {
            args.extend(["--listen".into(), node.addr.to_string()]);
            args.extend(["--join".into(), via.to_string()]);
        } else {
            for p in self.peers().into_iter().take(self.static_nodes) {
                args.push("--peer".into());
                args.push(p.to_string());
            }
        }
        if node.join_via.is_none() && self.voters < self.static_nodes {
            let ids: Vec<String> = (1..=self.voters).map(|v| v.to_string()).collect();
            args.push("--voters".into());
            args.push(ids.join(","));
        }
        if let Some(m) = node.metrics {
            args.push("--metrics-addr".into());
            args.push(m.to_string());
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// Starts (again) node `id`'s process, killing a running one first.
    pub fn restart(&mut self, id: u32) -> io::Result<()> {
        self.restart_with(id, &[])
    }

    /// [`LocalCluster::restart`] with `extra` flags after the usual ones (e.g. `--voters` for
    /// a node rebuilt on an empty data directory).
    pub fn restart_with(&mut self, id: u32, extra: &[String]) -> io::Result<()> {
        self.kill(id)?;
        let mut args = self.args(id);
        args.extend(extra.iter().cloned());
        let node = &mut self.nodes[id as usize - 1];
        let log: File = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let child = Command::new(&self.bin)
            .args(&args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        node.child = Some(child);
        Ok(())
    }

    /// Kills node `id` with SIGKILL (no chance to sync or clean up) and reaps it.
    pub fn kill(&mut self, id: u32) -> io::Result<()> {
        if let Some(mut c) = self.nodes[id as usize - 1].child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Node `id`'s process id, if it was started and not killed.
    pub fn pid(&self, id: u32) -> Option<u32> {
        self.nodes[id as usize - 1].child.as_ref().map(Child::id)
    }

    /// Sends `signal` (a name `kill -s` knows, e.g. `STOP`, `CONT`) to node `id`'s process:
    /// `STOP` pauses it as a long GC pause or a hung VM would, `CONT` resumes it.
    pub fn signal(&self, id: u32, signal: &str) -> io::Result<()> {
        let Some(pid) = self.pid(id) else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "kill -s {signal} {pid}: {status}"
            )))
        }
    }

    /// Makes node `id` drop the datagrams of the peers `from` (none: heal), through the fault
    /// hook its process has only when started with `RAFT_FAULT_HOOK=1` in the environment
    /// (see [`FAULT_HOOK_VAR`](crate::node::FAULT_HOOK_VAR)); it takes effect within 50 ms.
    pub fn drop_from(&self, id: u32, from: &[u32]) -> io::Result<()> {
        let node = &self.nodes[id as usize - 1];
        std::fs::create_dir_all(&node.data_dir)?;
        let list: Vec<String> = from.iter().map(u32::to_string).collect();
        let tmp = node.data_dir.join("drop-from.tmp");
        std::fs::write(&tmp, list.join(","))?;
        std::fs::rename(&tmp, node.data_dir.join(crate::node::DROP_FROM_FILE))
    }

    /// Whether node `id`'s process runs.
    pub fn is_running(&mut self, id: u32) -> bool {
        match self.nodes[id as usize - 1].child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Polls the running nodes (all but `except`) until one reports itself leader in a term
    /// above `above_term`: its id and term.
    pub fn wait_for_leader(
        &mut self,
        client: &mut Client,
        except: Option<u32>,
        above_term: u64,
        timeout: Duration,
    ) -> Option<(u32, u64)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let ids: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
            for id in ids {
                if Some(id) == except || !self.is_running(id) {
                    continue;
                }
                if let Ok(Some(s)) = client.status(id) {
                    if s.role == Role::Leader && s.term > above_term {
                        return Some((id, s.term));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Keeps the directory (logs, data) after the cluster is dropped; returns its path.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(d) = self.dir.take() {
            let _ = d.keep();
        }
        self.root.clone()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
