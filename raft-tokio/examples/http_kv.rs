//! One node of a replicated key-value store with an HTTP API (axum), one process per node;
//! the nodes talk raft-std-driver's sealed UDP (so `raft-client` reaches the same store).
//!
//! - `PUT /kv/{key}?client=C&seq=S`, the value as body: `204` once applied. A client numbers
//!   its writes 1, 2, 3, ... and retries one with the same `S`: the store applies it once.
//! - `GET /kv/{key}`: a linearizable read on any node (ReadIndex), `200` and the value or `404`.
//! - A follower answers a `PUT` with `307` to the leader's HTTP address (`curl -L` follows it);
//!   `503` means no leader is known or the outcome is unknown: retry (elsewhere if no answer).
//!
//! Three nodes; `--help` lists the arguments (`--peer`, `--http` and `--key-file` may come
//! from `RAFT_PEERS`, `RAFT_HTTP` and `RAFT_KEY_FILE`); Ctrl-C stops a node:
//!
//! ```sh
//! mkdir -p /tmp/kv && openssl rand -hex 32 > /tmp/kv/key && export RAFT_KEY_FILE=/tmp/kv/key
//! export RAFT_PEERS=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
//! export RAFT_HTTP=1=127.0.0.1:8081,2=127.0.0.1:8082,3=127.0.0.1:8083
//! cargo build -p raft-tokio --example http_kv  # `cargo run ... -- --id 1 --data-dir ...` runs one
//! for id in 1 2 3; do target/debug/examples/http_kv --id $id --data-dir /tmp/kv/n$id & done
//! curl -L -X PUT --data v1 'http://127.0.0.1:8082/kv/k?client=1&seq=1'
//! curl -L http://127.0.0.1:8083/kv/k
//! ```

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use axum::extract::{Path as Key, Query, State};
use axum::http::{header::LOCATION, StatusCode, Uri};
use axum::response::{IntoResponse, Response as Reply};
use axum::{body::Bytes, routing::get, Router};
use raft_std_driver::config::{Peer, RawConfig};
use raft_std_driver::kv::{Command, Request, Response};
use raft_std_driver::{cli, node::ProposeError};
use raft_tokio::AsyncNode;

/// One node of a replicated key-value store with an HTTP API.
#[derive(clap::Parser)]
struct Args {
    /// This node's id.
    #[arg(long)]
    id: u32,
    /// Every node's UDP address as ID=HOST:PORT, this one's too (repeat, or commas).
    #[arg(long, env = "RAFT_PEERS", value_delimiter = ',')]
    peer: Vec<String>,
    /// Every node's HTTP address as ID=HOST:PORT; this one serves at its own.
    #[arg(long, env = "RAFT_HTTP", value_delimiter = ',', value_parser = Peer::parse)]
    http: Vec<Peer>,
    /// Directory for the WAL and snapshots (created if absent).
    #[arg(long)]
    data_dir: PathBuf,
    /// The cluster key: 64 hex digits.
    #[arg(long, env = "RAFT_KEY_FILE")]
    key_file: PathBuf,
}

/// What the handlers share: this node, and every node's HTTP address.
struct Kv(AsyncNode, Vec<Peer>);

/// A client session: writes have one, reads are outside any (client 0, sequence 0).
#[derive(serde::Deserialize, Default)]
struct Session {
    client: u64,
    seq: u64,
}

/// Runs `command` if this node leads and answers with its outcome; else sends the client on.
async fn execute(kv: &Kv, uri: &Uri, s: Session, command: Command) -> Reply {
    let req = Request {
        client: s.client,
        seq: s.seq,
        command,
    };
    let answer = kv.0.propose(req.encode()).await;
    let unavailable = StatusCode::SERVICE_UNAVAILABLE.into_response();
    match answer.as_deref().map(Response::decode) {
        Ok(Ok(Response::Written)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(Response::Value(Some(v)))) => (StatusCode::OK, v).into_response(),
        Ok(Ok(Response::Value(None))) => StatusCode::NOT_FOUND.into_response(),
        Ok(Ok(_)) => StatusCode::CONFLICT.into_response(), // A stale `seq`, an expired session.
        Err(ProposeError::NotLeader(Some(l))) => match kv.1.iter().find(|p| p.id == l.0) {
            Some(p) => {
                let to = [(LOCATION, format!("http://{}{uri}", p.addr))];
                (StatusCode::TEMPORARY_REDIRECT, to).into_response()
            }
            None => unavailable,
        },
        _ => unavailable, // No leader known, or the outcome is unknown.
    }
}

async fn write(
    State(kv): State<Arc<Kv>>,
    uri: Uri,
    Key(key): Key<String>,
    Query(s): Query<Session>,
    value: Bytes,
) -> Reply {
    let (key, value) = (key.into_bytes(), value.to_vec());
    execute(&kv, &uri, s, Command::Put { key, value }).await
}

async fn read(State(kv): State<Arc<Kv>>, uri: Uri, Key(key): Key<String>) -> Reply {
    let key = key.into_bytes();
    execute(&kv, &uri, Session::default(), Command::Get { key }).await
}

/// Runs the node and its HTTP API until Ctrl-C.
async fn run(args: Args) -> Result<(), String> {
    cli::init_tracing("warn");
    let id = args.id;
    let own = args.http.iter().find(|p| p.id == id);
    let addr: SocketAddr = own.ok_or(format!("no --http address for node {id}"))?.addr;
    let (peers, data_dir, key_file) = (args.peer, Some(args.data_dir), Some(args.key_file));
    let raw = RawConfig {
        id: Some(id),
        peers,
        data_dir,
        key_file,
        ..RawConfig::default()
    };
    let node = AsyncNode::start_kv(raw.validate()?).await;
    let node = node.map_err(|e| format!("node {id}: {e}"))?;
    let tcp = tokio::net::TcpListener::bind(addr).await;
    let tcp = tcp.map_err(|e| format!("--http {addr}: {e}"))?;
    println!("node {id}: key-value API on http://{addr}/kv/{{key}}; Ctrl-C stops");
    let app = Router::new().route("/kv/{key}", get(read).put(write));
    let app = app.with_state(Arc::new(Kv(node.clone(), args.http)));
    let stop = async { tokio::signal::ctrl_c().await.unwrap_or(()) };
    let served = axum::serve(tcp, app).with_graceful_shutdown(stop).await;
    served.map_err(|e| format!("serve: {e}"))?;
    node.shutdown().await
}

#[tokio::main]
async fn main() -> ExitCode {
    match cli::parse::<Args>() {
        Ok(args) => run(args).await.err().map_or(ExitCode::SUCCESS, cli::fail),
        Err(code) => code,
    }
}
