//! The HTTP key-value example as a real cluster: three processes of the example binary, one
//! node each. 16 concurrent clients send 1,000 writes through the HTTP API, following the
//! leader's redirects and moving on to another node on `503` or no answer; after about 500
//! acknowledged writes the leader's process (the node that acknowledged the latest write: only
//! a leader answers a write) is killed with SIGKILL (`Child::kill`), the writes go on through
//! the survivors, and then every acknowledged write is read back through them
//! (linearizable GETs). Retries reuse the write's session sequence number, so they apply once.
//!
//! Loopback only; every wait is bounded; every child is killed on every exit path (`Nodes`'s
//! `Drop`), and a failure prints the tail of each node's log.

use std::fs::File;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{sleep, timeout};

const WRITES: u64 = 1_000;
const CLIENTS: u64 = 16;
/// How long one request may keep retrying, or the nodes take to serve.
const PATIENCE: Duration = Duration::from_secs(30);

/// The example binary, which `cargo test` builds next to this test's (in `examples/` of the
/// same profile directory) before it runs the tests.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let name = format!("http_kv{}", std::env::consts::EXE_SUFFIX);
    let bin = profile.join("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test -p raft-tokio` builds it, `cargo test --test http_kv` alone \
         does not; build it with `cargo build -p raft-tokio --example http_kv` (same profile)",
        bin.display()
    );
    bin
}

/// A free loopback port's address (TCP or UDP), released for a node to bind.
fn free_addr(udp: bool) -> String {
    let addr = if udp {
        std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    } else {
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr())
    };
    addr.expect("a free loopback port").to_string()
}

/// The three node processes; dropping this kills those still running.
struct Nodes {
    /// Node `i + 1`'s process, `None` once killed.
    children: Vec<Option<Child>>,
    /// Node `i + 1`'s HTTP address.
    http: Vec<String>,
    /// The nodes' data directories, the key file and the nodes' logs.
    dir: tempfile::TempDir,
}

impl Nodes {
    /// Starts three processes of the example, one node each, on free loopback ports.
    fn start() -> Nodes {
        let bin = example();
        let dir = tempfile::tempdir().expect("a scratch directory");
        let random = |i: u8| std::collections::hash_map::RandomState::new().hash_one(i);
        let key: String = (0..4).map(|i| format!("{:016x}", random(i))).collect();
        std::fs::write(dir.path().join("key"), key).expect("write the key file");
        let listed = |addrs: &[String]| -> String {
            let each = addrs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{}={a}", i + 1));
            each.collect::<Vec<_>>().join(",")
        };
        let udp: Vec<String> = (0..3).map(|_| free_addr(true)).collect();
        let http: Vec<String> = (0..3).map(|_| free_addr(false)).collect();
        let (peers, http_peers) = (listed(&udp), listed(&http));
        let mut nodes = Nodes {
            children: Vec::new(),
            http,
            dir,
        };
        for id in 1..=3 {
            let path = nodes.dir.path();
            let log = File::create(path.join(format!("n{id}.log"))).expect("a log file");
            let child = Command::new(&bin)
                .args([
                    "--id",
                    &id.to_string(),
                    "--peer",
                    &peers,
                    "--http",
                    &http_peers,
                ])
                .arg("--data-dir")
                .arg(path.join(format!("n{id}")))
                .arg("--key-file")
                .arg(path.join("key"))
                .env_remove("RAFT_FAULT_HOOK")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("the log file again"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            nodes.children.push(Some(child));
        }
        nodes
    }

    /// Waits until every node's HTTP API accepts connections, at most [`PATIENCE`].
    async fn ready(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        for (i, addr) in self.http.iter().enumerate() {
            while TcpStream::connect(addr).await.is_err() {
                let child = self.children[i].as_mut().expect("running");
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("node {} exited before serving: {status}", i + 1);
                }
                assert!(Instant::now() < deadline, "node {} never served", i + 1);
                sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Kills node `i + 1`'s process with SIGKILL and reaps it.
    fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("a running node");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap the killed node");
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for id in 1..=3 {
                let log = self.dir.path().join(format!("n{id}.log"));
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                eprintln!("--- node {id}'s log (last 20 lines):\n{tail}");
            }
        }
    }
}

/// What a node answered: the status, the `Location` header and the body.
type Answer = (u16, Option<String>, Vec<u8>);

/// One HTTP/1.1 request over a fresh connection, or `None` if it failed or took over five
/// seconds (a killed node refuses or resets the connection).
async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> Option<Answer> {
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
        let head = String::from_utf8_lossy(&reply[..at]);
        let location = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_string())
        });
        Some((status, location, reply[at..].to_vec()))
    };
    timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// Sends the request to node `*at`, follows redirects to the leader, and moves on to the next
/// node on `503` or no answer, until some node answers otherwise (the status and body), at
/// most [`PATIENCE`]. Counts the detours.
async fn request(
    nodes: &[String],
    at: &mut usize,
    method: &str,
    path: &str,
    body: &[u8],
    detours: &AtomicU64,
) -> Option<(u16, Vec<u8>)> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match http(&nodes[*at], method, path, body).await {
            Some((307, Some(location), _)) => {
                detours.fetch_add(1, Ordering::Relaxed);
                let leader = location
                    .strip_prefix("http://")
                    .and_then(|l| l.split('/').next());
                let known = leader.and_then(|l| nodes.iter().position(|a| a == l));
                *at = known.unwrap_or((*at + 1) % nodes.len());
                sleep(Duration::from_millis(1)).await;
            }
            Some((503, ..)) | None => {
                detours.fetch_add(1, Ordering::Relaxed);
                *at = (*at + 1) % nodes.len();
                sleep(Duration::from_millis(20)).await;
            }
            Some((status, _, body)) => return Some((status, body)),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_the_leader_killed_midway() {
    let started = Instant::now();
    let mut nodes = Nodes::start();
    nodes.ready().await;
    let http = Arc::new(nodes.http.clone());
    let (acked, detours) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // The node that acknowledged the latest write: only a leader answers a write with `204`.
    let acker = Arc::new(AtomicUsize::new(usize::MAX));
    let midway = Arc::new(Notify::new());

    let clients: Vec<_> = (1..=CLIENTS)
        .map(|client| {
            let (http, acked, detours) = (http.clone(), acked.clone(), detours.clone());
            let (acker, midway) = (acker.clone(), midway.clone());
            tokio::spawn(async move {
                let (mut at, mut mine) = (client as usize % http.len(), Vec::new());
                let writes = (client - 1..WRITES).step_by(CLIENTS as usize);
                for (seq, i) in (1..).zip(writes) {
                    let path = format!("/kv/k{i}?client={client}&seq={seq}");
                    let value = format!("v{i}");
                    let r = request(&http, &mut at, "PUT", &path, value.as_bytes(), &detours);
                    match r.await {
                        Some((204, _)) => {
                            acker.store(at, Ordering::Relaxed);
                            if acked.fetch_add(1, Ordering::Relaxed) + 1 == WRITES / 2 {
                                midway.notify_one();
                            }
                            mine.push(i);
                        }
                        other => panic!("write k{i} (client {client}, seq {seq}): {other:?}"),
                    }
                }
                mine
            })
        })
        .collect();

    // Midway, SIGKILL the leader's process.
    let half = timeout(PATIENCE, midway.notified()).await;
    half.expect("half the writes acknowledged in time");
    let (old, at_kill) = (acker.load(Ordering::Relaxed), acked.load(Ordering::Relaxed));
    nodes.kill(old);
    assert!(at_kill < WRITES, "the leader must go down midway");

    let mut written = Vec::new();
    for c in clients {
        let mine = timeout(PATIENCE * 3, c).await.expect("the clients finish");
        written.push(mine.expect("a client's writes"));
    }
    let acked_total: usize = written.iter().map(Vec::len).sum();
    assert_eq!(acked_total as u64, WRITES, "every write was acknowledged");
    let new = acker.load(Ordering::Relaxed);
    assert_ne!(
        new, old,
        "the last writes were acknowledged by a new leader"
    );
    let survivors: Vec<String> = (0..3)
        .filter(|&i| i != old)
        .map(|i| http[i].clone())
        .collect();

    // Every acknowledged write, read back through the survivors, 16 readers at once.
    let (survivors, writing) = (Arc::new(survivors), detours.load(Ordering::Relaxed));
    let readers: Vec<_> = written
        .into_iter()
        .enumerate()
        .map(|(r, keys)| {
            let (survivors, detours) = (survivors.clone(), detours.clone());
            tokio::spawn(async move {
                let mut at = r % survivors.len();
                for i in keys {
                    let path = format!("/kv/k{i}");
                    let r = request(&survivors, &mut at, "GET", &path, b"", &detours).await;
                    assert_eq!(r, Some((200, format!("v{i}").into_bytes())), "read k{i}");
                }
            })
        })
        .collect();
    for r in readers {
        timeout(PATIENCE * 3, r)
            .await
            .expect("the readers finish")
            .expect("reads");
    }
    eprintln!(
        "{WRITES} writes from {CLIENTS} clients over 3 processes; node {}, the leader, SIGKILLed \
         after {at_kill} acknowledged; then node {} led; {} redirects and retries while writing \
         ({} more while reading); every write read back; {:.1?}",
        old + 1,
        new + 1,
        writing,
        detours.load(Ordering::Relaxed) - writing,
        started.elapsed()
    );
}
