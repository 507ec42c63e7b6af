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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
