//! An HTTP key-value API (axum) on a three-node cluster in one process, on loopback.
//!
//! - `PUT /kv/{key}?client=C&seq=S` with the value as body: `204` once applied. `C` and `S`
//!   are the client's session: a client numbers its writes 1, 2, 3, ... and retries a write
//!   that got `503` (or no answer) with the same `S`; the store applies it once.
//! - `GET /kv/{key}`: a linearizable read, `200` with the value or `404`.
//! - `503` when no leader is known or the outcome is unknown: retry.
//!
//! Run with `cargo run -p raft-tokio --example http_kv [ADDR]` (default `127.0.0.1:8080`).

use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as Key, Query, State};
use axum::http::StatusCode;
use axum::{body::Bytes, routing::get, Router};
use raft_std_driver::config::RawConfig;
use raft_std_driver::kv::{Command, Request, Response};
use raft_tokio::AsyncNode;

/// Three in-process nodes; the HTTP handlers send each request to the one that leads.
pub struct Cluster {
    /// The nodes, ids 1, 2, 3.
    pub nodes: Vec<AsyncNode>,
}

impl Cluster {
    /// Starts three nodes on free loopback ports, with their data and a fresh key in `dir`.
    pub async fn start(dir: &Path) -> Cluster {
        let random = |i: u8| std::collections::hash_map::RandomState::new().hash_one(i);
        let key: String = (0..4).map(|i| format!("{:016x}", random(i))).collect();
        std::fs::write(dir.join("key"), key).expect("write the key file");
        let peers: Vec<String> = (1..=3)
            .map(|id| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port");
                format!("{id}={}", s.local_addr().expect("its address"))
            })
            .collect();
        let mut nodes = Vec::new();
        for id in 1..=3 {
            let raw = RawConfig {
                id: Some(id),
                peers: peers.clone(),
                data_dir: Some(dir.join(format!("n{id}"))),
                key_file: Some(dir.join("key")),
                ..RawConfig::default()
            };
            let cfg = raw.validate().expect("a valid config");
            nodes.push(AsyncNode::start_kv(cfg).await.expect("start a node"));
        }
        Cluster { nodes }
    }

    /// The node that leads, waiting up to two seconds for one.
    pub async fn leader(&self) -> Option<&AsyncNode> {
        for _ in 0..100 {
            if let Some(n) = self.nodes.iter().find(|n| n.status().is_leader()) {
                return Some(n);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Proposes `command` of the session `client`, `seq` to the leader; `None` when there is
    /// none or the outcome is unknown.
    async fn execute(&self, client: u64, seq: u64, command: Command) -> Option<Response> {
        let req = Request {
            client,
            seq,
            command,
        };
        let answer = self.leader().await?.propose(req.encode()).await.ok()?;
        Response::decode(&answer).ok()
    }
}

/// A write's client session.
#[derive(serde::Deserialize)]
struct Session {
    client: u64,
    seq: u64,
}

/// The HTTP API over `cluster`.
pub fn app(cluster: Arc<Cluster>) -> Router {
    Router::new()
        .route("/kv/{key}", get(read).put(write))
        .with_state(cluster)
}

async fn write(
    State(c): State<Arc<Cluster>>,
    Key(key): Key<String>,
    Query(s): Query<Session>,
    value: Bytes,
) -> StatusCode {
    let (key, value) = (key.into_bytes(), value.to_vec());
    match c
        .execute(s.client, s.seq, Command::Put { key, value })
        .await
    {
        Some(Response::Written) => StatusCode::NO_CONTENT,
        Some(_) => StatusCode::CONFLICT, // A stale sequence number or an expired session.
        None => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn read(State(c): State<Arc<Cluster>>, Key(key): Key<String>) -> (StatusCode, Vec<u8>) {
    let key = key.into_bytes();
    // Client 0, sequence 0: outside any session (a read needs no deduplication).
    match c.execute(0, 0, Command::Get { key }).await {
        Some(Response::Value(Some(v))) => (StatusCode::OK, v),
        Some(Response::Value(None)) => (StatusCode::NOT_FOUND, Vec::new()),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8080".into());
    let dir = tempfile::tempdir().expect("a data directory");
    let cluster = Arc::new(Cluster::start(dir.path()).await);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("key-value API on http://{addr}/kv/{{key}}; Ctrl-C stops");
    let server = axum::serve(listener, app(cluster.clone()));
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server.with_graceful_shutdown(stop).await.expect("serve");
    for n in &cluster.nodes {
        let _ = n.shutdown().await;
    }
}
