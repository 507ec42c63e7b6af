//! Loads a raft-node cluster with many keys, then overwrites random ones of them for a while
//! and prints puts/s (overall and per second): the load for measuring what snapshots of a
//! large state cost the write path.
//!
//! ```text
//! cargo run --release -p raft-std-driver --example snapload -- \
//!     --key-file KEY --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 \
//!     --load 1000000 --secs 20 --clients 64
//! ```
//!
//! `--load N` first puts keys `key-0` .. `key-{N-1}` once each (split over the clients); with
//! `--load 0` the overwrite phase assumes they are there (`--keys N`).
//!
//! `--node-log FILE` (once per node, each node's stderr at `RUST_LOG=info`): after the overwrite
//! phase, the seconds of it during which any node was capturing a snapshot (from its
//! `snapshot saved` lines: the capture ran for `ms` before that line's time) are told apart
//! from the others, and the puts/s of each kind printed, with the leader changes in the phase.
//! `bench/snapshot-load.sh` runs the whole measurement.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::config::Peer;
use raft_std_driver::kv::{Command, Response};
use raft_std_driver::transport::ClusterKey;

#[derive(Parser)]
struct Args {
    /// The cluster key file.
    #[arg(long)]
    key_file: std::path::PathBuf,
    /// The nodes, `id=host:port,...`.
    #[arg(long, value_delimiter = ',', value_parser = parse_peer)]
    peers: Vec<Peer>,
    /// Concurrent clients (one request in flight each).
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Keys to put first (0: none).
    #[arg(long, default_value_t = 0)]
    load: u64,
    /// Keys the overwrite phase picks from (default: `--load`).
    #[arg(long)]
    keys: Option<u64>,
    /// Seconds of random overwrites.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Value bytes.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
    /// A node's log (its stderr at `RUST_LOG=info`); once per node.
    #[arg(long)]
    node_log: Vec<PathBuf>,
}

fn parse_peer(s: &str) -> Result<Peer, String> {
    let (id, addr) = s.split_once('=').ok_or("expected id=host:port")?;
    Ok(Peer {
        id: id.parse().map_err(|e| format!("{e}"))?,
        addr: addr.parse().map_err(|e| format!("{e}"))?,
    })
}

/// A small xorshift generator per client (the keys to overwrite; no need for quality).
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let key = ClusterKey::from_file(&args.key_file).map_err(|e| e.to_string())?;
    let opts = ClientOptions {
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(30),
    };
    let mut probe = Client::new(&key, args.peers.clone(), opts).map_err(|e| e.to_string())?;
    probe
        .execute(Command::Put {
            key: b"probe".to_vec(),
            value: vec![],
        })
        .map_err(|e| e.to_string())?;
    let leader = probe.target();
    if args.load > 0 {
        let t0 = Instant::now();
        let done = run(&args, &key, opts, leader, |c, t, _| {
            let n = args.load / args.clients + u64::from(t < args.load % args.clients);
            let first = t * (args.load / args.clients) + t.min(args.load % args.clients);
            (c < n).then(|| first + c)
        });
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "loaded {} keys in {secs:.1} s ({:.0} puts/s)",
            done.0,
            done.0 as f64 / secs
        );
    }
    let keys = args.keys.unwrap_or(args.load).max(1);
    let until = Instant::now() + Duration::from_secs_f64(args.secs);
    let wall0 = day_seconds(SystemTime::now());
    let t0 = Instant::now();
    let (puts, series) = run(&args, &key, opts, leader, |_, _, x| {
        (Instant::now() < until).then(|| next(x) % keys)
    });
    let secs = t0.elapsed().as_secs_f64();
    let per_s: Vec<String> = series.iter().map(u64::to_string).collect();
    println!(
        "overwrote: clients={} keys={keys} puts={puts} secs={secs:.1} puts/s={:.0}",
        args.clients,
        puts as f64 / secs
    );
    println!("puts per second: {}", per_s.join(" "));
    if !args.node_log.is_empty() {
        // Whole seconds of the phase only (the last one ends with the clients).
        let whole = &series[..(secs as usize).min(series.len())];
        compare(&args.node_log, wall0, whole)?;
    }
    Ok(())
}

/// Seconds since midnight UTC of `t`.
fn day_seconds(t: SystemTime) -> f64 {
    let unix = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    unix % 86_400.0
}

/// Seconds since midnight of a log line's RFC 3339 UTC timestamp (`2026-12-07T15:19:19.59Z`).
fn line_seconds(line: &str) -> Option<f64> {
    let time = line.split_whitespace().next()?.split_once('T')?.1;
    let time = time.strip_suffix('Z')?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The value of `key=` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Prints the puts/s of the seconds of `series` (second `k` starts `k` s after `wall0`) with a
/// capture running on any node against those without, and the leader changes in the phase.
fn compare(logs: &[PathBuf], wall0: f64, series: &[u64]) -> Result<(), String> {
    // A time of day as seconds after the phase's start (a run never spans a day, but may
    // cross midnight).
    let rel = |t: f64| (t - wall0 + 86_400.0 + 43_200.0) % 86_400.0 - 43_200.0;
    let mut busy = vec![false; series.len()];
    let (mut captures, mut leaders) = (0, 0);
    for log in logs {
        let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
        for line in text.lines() {
            let Some(at) = line_seconds(line).map(rel) else {
                continue;
            };
            if line.contains("snapshot saved") {
                let ms: f64 = field(line, "ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                let (from, to) = (at - ms / 1000.0, at);
                if to < 0.0 || from > series.len() as f64 {
                    continue;
                }
                captures += 1;
                for (k, b) in busy.iter_mut().enumerate() {
                    let k = k as f64;
                    *b |= from < k + 1.0 && to > k;
                }
            } else if line.contains("role changed")
                && field(line, "role") == Some("leader")
                && (0.0..series.len() as f64).contains(&at)
            {
                leaders += 1;
            }
        }
    }
    let mean = |capturing: bool| {
        let picked: Vec<u64> = series
            .iter()
            .zip(&busy)
            .filter(|&(_, &b)| b == capturing)
            .map(|(&n, _)| n)
            .collect();
        let avg = picked.iter().sum::<u64>() as f64 / picked.len().max(1) as f64;
        (picked.len(), avg)
    };
    let (n_cap, cap) = mean(true);
    let (n_free, free) = mean(false);
    println!("captures in the phase (all nodes): {captures}; leaders elected in it: {leaders}");
    println!(
        "puts/s: {cap:.0} over {n_cap} s with a capture running, {free:.0} over {n_free} s \
         without; ratio {:.2}",
        cap / free.max(1.0)
    );
    Ok(())
}

/// Runs `args.clients` clients, each putting `key-{k}` for the `k`s `pick(count, client, rng)`
/// gives until `None`. Returns the puts written and the count per second since the start.
fn run(
    args: &Args,
    key: &ClusterKey,
    opts: ClientOptions,
    leader: u32,
    pick: impl Fn(u64, u64, &mut u64) -> Option<u64> + Sync,
) -> (u64, Vec<u64>) {
    let start = Instant::now();
    let seconds: Arc<Vec<AtomicU64>> = Arc::new((0..3600).map(|_| AtomicU64::new(0)).collect());
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..args.clients {
            let (pick, seconds, total) = (&pick, seconds.clone(), &total);
            let peers = args.peers.clone();
            let value = vec![b'v'; args.value_size];
            s.spawn(move || {
                let mut c = Client::new(key, peers, opts).expect("a client socket");
                c.set_target(leader);
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1).wrapping_mul(0xA24B_AED4_963E_E407);
                let mut count = 0;
                while let Some(k) = pick(count, t, &mut rng) {
                    count += 1;
                    let put = Command::Put {
                        key: format!("key-{k}").into_bytes(),
                        value: value.clone(),
                    };
                    match c.execute(put) {
                        Ok(Response::Written) => {
                            total.fetch_add(1, Ordering::Relaxed);
                            let sec = start.elapsed().as_secs() as usize;
                            if let Some(b) = seconds.get(sec) {
                                b.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        other => eprintln!("client {t}: {other:?}"),
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs() as usize + 1;
    let series = seconds[..secs.min(seconds.len())]
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect();
    (total.load(Ordering::Relaxed), series)
}
