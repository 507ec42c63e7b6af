//! The HTTP key-value example on three nodes: 1,000 writes from 16 concurrent clients, the
//! leader shut down midway, and every acknowledged write readable afterwards through the
//! survivors. Retries reuse the write's session sequence number, so they apply once.
//! Loopback only; every wait is bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

#[path = "../examples/http_kv.rs"]
#[allow(dead_code)] // `main` is the example's.
mod http_kv;

const WRITES: u64 = 1_000;
const CLIENTS: u64 = 16;
/// How long one write or read may keep retrying.
const PATIENCE: Duration = Duration::from_secs(60);

/// One HTTP/1.1 request over a fresh connection: the status and the body, or `None` if it
/// failed or took over five seconds.
async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.ok()?;
        s.write_all(body).await.ok()?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.ok()?;
        let status = std::str::from_utf8(reply.get(9..12)?).ok()?.parse().ok()?;
        let at = reply.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        Some((status, reply[at..].to_vec()))
    };
    timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// Retries `req` until it answers something other than `503` (or no answer), at most
/// [`PATIENCE`]; counts the retries.
async fn until_answered(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    retries: &AtomicU64,
) -> Option<(u16, Vec<u8>)> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match http(addr, method, path, body).await {
            Some((503, _)) | None => {
                retries.fetch_add(1, Ordering::Relaxed);
                sleep(Duration::from_millis(20)).await;
            }
            answer => return answer,
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_the_leader_shut_down_midway() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Arc::new(http_kv::Cluster::start(dir.path()).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = http_kv::app(cluster.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (acked, retries) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();

    let clients: Vec<_> = (1..=CLIENTS)
        .map(|client| {
            let (addr, acked, retries) = (addr.clone(), acked.clone(), retries.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                let writes = (client - 1..WRITES).step_by(CLIENTS as usize);
                for (seq, i) in (1..).zip(writes) {
                    let path = format!("/kv/k{i}?client={client}&seq={seq}");
                    let value = format!("v{i}");
                    let r = until_answered(&addr, "PUT", &path, value.as_bytes(), &retries).await;
                    match r {
                        Some((204, _)) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                            mine.push(i);
                        }
                        other => panic!("write k{i} (client {client}, seq {seq}): {other:?}"),
                    }
                }
                mine
            })
        })
        .collect();

    // Midway, shut the leader down.
    let deadline = Instant::now() + PATIENCE;
    while acked.load(Ordering::Relaxed) < WRITES / 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
    }
    let at_kill = acked.load(Ordering::Relaxed);
    assert!(at_kill < WRITES, "the leader must go down midway");
    let old = cluster.leader().await.expect("a leader").clone();
    old.shutdown().await.expect("a graceful shutdown");

    let mut written = Vec::new();
    for c in clients {
        written.extend(timeout(PATIENCE * 2, c).await.unwrap().unwrap());
    }
    let new = cluster.leader().await.expect("a new leader").id();
    assert_ne!(new, old.id());
    assert_eq!(written.len() as u64, WRITES, "every write was acknowledged");

    for i in written {
        let r = until_answered(&addr, "GET", &format!("/kv/k{i}"), b"", &retries).await;
        assert_eq!(r, Some((200, format!("v{i}").into_bytes())), "read k{i}");
    }
    eprintln!(
        "{WRITES} writes from {CLIENTS} clients, leader {} shut down after {at_kill} \
         acknowledged, new leader {new}, {} retries, every write read back; {:.1?}",
        old.id(),
        retries.load(Ordering::Relaxed),
        started.elapsed()
    );
    server.abort();
    for n in &cluster.nodes {
        let _ = n.shutdown().await;
    }
}
