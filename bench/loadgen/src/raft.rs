//! Our service: three `raft-node` processes, driven through raft-std-driver's client library
//! (`Client::execute`, as `raft-client bench` does), counters read with `Client::stats`.
//!
//! The library waits out a `Busy` answer inside `execute` (and retries it), so a session never
//! sees one; the servers count them (`driver.proposals_busy`), and that is what the tables show.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::config::Peer;
use raft_std_driver::kv::{Command, Response};
use raft_std_driver::transport::ClusterKey;
use raftcore::Role;
use serde_json::Value;

use crate::backend::{Cluster, OpError, ServerCounters, Session};

/// A running three-node cluster of ours.
pub struct RaftCluster {
    key: ClusterKey,
    peers: Vec<Peer>,
    pids: Vec<u32>,
    admin: Mutex<Client>,
}

impl RaftCluster {
    /// The cluster at `peers` (in member order, with their process ids) under `key`.
    pub fn new(key: ClusterKey, peers: Vec<Peer>, pids: Vec<u32>) -> Result<RaftCluster, String> {
        if peers.len() != pids.len() {
            return Err(format!(
                "{} peers but {} process ids",
                peers.len(),
                pids.len()
            ));
        }
        let admin = Client::new(&key, peers.clone(), ClientOptions::default())
            .map_err(|e| format!("client socket: {e}"))?;
        Ok(RaftCluster {
            key,
            peers,
            pids,
            admin: Mutex::new(admin),
        })
    }

    /// Every member's stats document (one attempt each, retried a few times under load).
    fn stats(&self) -> Result<Vec<Value>, String> {
        let mut admin = self.admin.lock().map_err(|_| "admin client poisoned")?;
        let mut all = Vec::new();
        for p in &self.peers {
            let mut got = None;
            for _ in 0..5 {
                if let Some(v) = admin.stats(p.id).map_err(|e| e.to_string())? {
                    got = Some(v);
                    break;
                }
            }
            all.push(got.ok_or_else(|| format!("node {} sent no stats", p.id))?);
        }
        Ok(all)
    }
}

fn counter(doc: &Value, path: &str) -> Result<f64, String> {
    doc.pointer(path)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("stats document has no number at {path}"))
}

impl Cluster for RaftCluster {
    fn name(&self) -> &'static str {
        "raft-core"
    }

    fn leader(&self) -> Result<usize, String> {
        let start = Instant::now();
        let mut admin = self.admin.lock().map_err(|_| "admin client poisoned")?;
        while start.elapsed() < crate::etcd::LEADER_WAIT {
            for (k, p) in self.peers.iter().enumerate() {
                if let Ok(Some(s)) = admin.status(p.id) {
                    if s.role == Role::Leader {
                        return Ok(k);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "no raft-node reported itself leader within {} s (processes alive: {:?})",
            crate::etcd::LEADER_WAIT.as_secs(),
            crate::procstat::alive(&self.pids)
        ))
    }

    fn pids(&self) -> &[u32] {
        &self.pids
    }

    fn session(&self, leader: usize) -> Result<Box<dyn Session>, String> {
        let mut client = Client::new(&self.key, self.peers.clone(), ClientOptions::default())
            .map_err(|e| format!("client socket: {e}"))?;
        client.set_target(self.peers[leader].id);
        Ok(Box::new(RaftSession { client }))
    }

    fn udp_ports(&self) -> Vec<u16> {
        self.peers.iter().map(|p| p.addr.port()).collect()
    }

    fn counters(&self, leader: usize) -> Result<ServerCounters, String> {
        let docs = self.stats()?;
        let mut c = ServerCounters::default();
        for (k, d) in docs.iter().enumerate() {
            let fsyncs = counter(d, "/driver/fsync_count")?;
            c.all_fsyncs += fsyncs;
            if k == leader {
                c.leader_fsyncs = fsyncs;
            }
            c.busy += counter(d, "/driver/proposals_busy")?;
        }
        Ok(c)
    }
}

/// One session of ours: a `Client` (one request in flight).
struct RaftSession {
    client: Client,
}

impl Session for RaftSession {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), OpError> {
        let command = Command::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        };
        match self.client.execute(command) {
            Ok(Response::Written) => Ok(()),
            Ok(other) => Err(OpError::Other(format!("put answered {other:?}"))),
            Err(e) => Err(OpError::Other(e.to_string())),
        }
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, OpError> {
        match self.client.execute(Command::Get { key: key.to_vec() }) {
            Ok(Response::Value(v)) => Ok(v),
            Ok(other) => Err(OpError::Other(format!("get answered {other:?}"))),
            Err(e) => Err(OpError::Other(e.to_string())),
        }
    }
}
