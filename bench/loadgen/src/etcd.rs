//! etcd 3.4: three `etcd` processes, driven through the `etcd-client` crate (gRPC), counters
//! read from each member's `/metrics`.
//!
//! Sessions talk to the leader's endpoint only, as ours do (a follower would forward each
//! request to the leader: one more hop). Gets are etcd's default, linearizable ones.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use etcd_client::{Client, KvClient};
use tokio::runtime::{Handle, Runtime};

use crate::backend::{Cluster, OpError, ServerCounters, Session};
use crate::{metrics, procstat};

/// How long a new or re-elected cluster (either system) may take to report a leader (a loaded CI
/// machine is slow to start three members).
pub const LEADER_WAIT: Duration = Duration::from_secs(60);

/// How many gRPC connections (HTTP/2, each carrying many sessions' streams) the sessions share.
const CONNECTIONS: usize = 8;

/// A running three-member etcd cluster.
pub struct EtcdCluster {
    addrs: Vec<SocketAddr>,
    pids: Vec<u32>,
    rt: Runtime,
    /// The connections to the leader of the moment (member index, connections).
    pool: Mutex<Option<(usize, Vec<KvClient>)>>,
    next: AtomicUsize,
}

impl EtcdCluster {
    /// The cluster whose members serve clients at `addrs` (in member order, with their pids).
    pub fn new(addrs: Vec<SocketAddr>, pids: Vec<u32>) -> Result<EtcdCluster, String> {
        if addrs.len() != pids.len() {
            return Err(format!(
                "{} endpoints but {} process ids",
                addrs.len(),
                pids.len()
            ));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(EtcdCluster {
            addrs,
            pids,
            rt,
            pool: Mutex::new(None),
            next: AtomicUsize::new(0),
        })
    }

    fn connect(&self, member: usize) -> Result<KvClient, String> {
        let url = format!("http://{}", self.addrs[member]);
        let opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(10));
        let client = self
            .rt
            .block_on(Client::connect([url.as_str()], Some(opts)))
            .map_err(|e| format!("etcd {url}: {e}"))?;
        Ok(client.kv_client())
    }

    fn scrape(&self, member: usize) -> Result<String, String> {
        metrics::scrape(self.addrs[member])
    }
}

fn sample(body: &str, name: &str) -> Result<f64, String> {
    metrics::sample(body, name).ok_or_else(|| format!("etcd /metrics has no {name}"))
}

impl Cluster for EtcdCluster {
    fn name(&self) -> &'static str {
        "etcd 3.4"
    }

    fn leader(&self) -> Result<usize, String> {
        let start = Instant::now();
        let mut last = Vec::new();
        while start.elapsed() < LEADER_WAIT {
            last.clear();
            for k in 0..self.addrs.len() {
                match self.scrape(k) {
                    Ok(body) => match metrics::sample(&body, "etcd_server_is_leader") {
                        Some(1.0) => return Ok(k),
                        v => last.push(format!("member {k}: etcd_server_is_leader {v:?}")),
                    },
                    Err(e) => last.push(format!("member {k}: {e}")),
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let alive = procstat::alive(&self.pids);
        Err(format!(
            "no etcd member reported itself leader within {} s ({}; processes alive: {alive:?})",
            LEADER_WAIT.as_secs(),
            last.join("; ")
        ))
    }

    fn pids(&self) -> &[u32] {
        &self.pids
    }

    fn session(&self, leader: usize) -> Result<Box<dyn Session>, String> {
        let mut pool = self.pool.lock().map_err(|_| "etcd pool poisoned")?;
        if pool.as_ref().is_none_or(|(m, _)| *m != leader) {
            let conns = (0..CONNECTIONS)
                .map(|_| self.connect(leader))
                .collect::<Result<Vec<_>, _>>()?;
            *pool = Some((leader, conns));
        }
        let conns = &pool.as_ref().expect("filled above").1;
        let kv = conns[self.next.fetch_add(1, Ordering::Relaxed) % conns.len()].clone();
        Ok(Box::new(EtcdSession {
            kv,
            rt: self.rt.handle().clone(),
        }))
    }

    fn counters(&self, leader: usize) -> Result<ServerCounters, String> {
        let mut c = ServerCounters {
            busy: f64::NAN,
            ..ServerCounters::default()
        };
        for k in 0..self.addrs.len() {
            let body = self.scrape(k)?;
            let fsyncs = sample(&body, "etcd_disk_wal_fsync_duration_seconds_count")?;
            c.all_fsyncs += fsyncs;
            if k == leader {
                c.leader_fsyncs = fsyncs;
            }
        }
        Ok(c)
    }
}

/// One etcd session: a handle on a shared connection, used from one blocking worker thread.
struct EtcdSession {
    kv: KvClient,
    rt: Handle,
}

fn op_error(e: etcd_client::Error) -> OpError {
    let text = e.to_string();
    // etcd's overload answer (ErrTooManyRequests: the applied index lags the commit index).
    if text.contains("too many requests") {
        OpError::Busy(text)
    } else {
        OpError::Other(text)
    }
}

impl Session for EtcdSession {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), OpError> {
        self.rt
            .block_on(self.kv.put(key, value, None))
            .map(drop)
            .map_err(op_error)
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, OpError> {
        let resp = self.rt.block_on(self.kv.get(key, None)).map_err(op_error)?;
        Ok(resp.kvs().first().map(|kv| kv.value().to_vec()))
    }
}
