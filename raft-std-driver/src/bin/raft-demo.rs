//! `raft-demo`: a 3-node cluster on 127.0.0.1, writes, a leader killed with SIGKILL, failover,
//! restart, and a check that no acknowledged write was lost. Exit 0 only on pass.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use raft_std_driver::cli;
use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::kv::{Command, Response};
use raft_std_driver::local::LocalCluster;
use raft_std_driver::metrics;
use raft_std_driver::node::PUBLISH_EVERY;

/// Starts 3 raft-node processes on 127.0.0.1 in temporary directories, writes keys, kills the
/// leader with SIGKILL, measures the failover, restarts the killed node, and checks that every
/// acknowledged write is present on every node. Exits 0 only when none was lost.
#[derive(Parser, Debug)]
#[command(name = "raft-demo", version)]
struct Args {
    /// Keys written before the leader is killed (as many again after).
    #[arg(long, default_value_t = 200)]
    writes: usize,
    /// Keep the temporary directory (data and node logs) even on pass.
    #[arg(long)]
    keep: bool,
    /// Have node i serve Prometheus metrics at http://127.0.0.1:(PORT+i-1)/metrics (0: free
    /// ports), and print the leader's scrape after the first writes.
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// The raft-node binary (default: next to this one).
    #[arg(long, value_name = "FILE")]
    node_bin: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Args = match cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    cli::init_tracing("warn");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        return cli::fail(format!("cannot install the Ctrl-C handler: {e}"));
    }
    match run(&args, &stop) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => cli::fail(e),
    }
}

fn bar(len: usize, msg: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>22} [{bar:40}] {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// Writes `keys`, recording each acknowledged one.
fn write(
    client: &mut Client,
    keys: std::ops::Range<usize>,
    acked: &mut BTreeMap<String, String>,
    stop: &AtomicBool,
    pb: &ProgressBar,
    mut first_ack: Option<&mut Option<Instant>>,
) -> Result<usize, String> {
    let mut failed = 0;
    for i in keys {
        if stop.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        let (k, v) = (format!("key-{i:05}"), format!("value-{i}"));
        let c = Command::Put {
            key: k.clone().into_bytes(),
            value: v.clone().into_bytes(),
        };
        match client.execute(c) {
            Ok(Response::Written) => {
                acked.insert(k, v);
                if let Some(f) = first_ack.as_deref_mut() {
                    f.get_or_insert_with(Instant::now);
                }
            }
            Ok(other) => {
                failed += 1;
                pb.println(format!("  {k}: unexpected answer {other:?}"));
            }
            Err(e) => {
                failed += 1;
                pb.println(format!("  {k}: {e}"));
            }
        }
        pb.inc(1);
    }
    pb.finish();
    Ok(failed)
}

/// Prints node `id`'s metrics (the samples; the histogram's buckets left out).
fn print_scrape(id: u32, addr: SocketAddr) {
    // The node publishes its figures every 100 ms: let the last writes show.
    std::thread::sleep(PUBLISH_EVERY * 2);
    match metrics::scrape(addr, Duration::from_secs(2)) {
        Ok(text) => {
            println!("metrics of node {id} (http://{addr}/metrics, buckets left out):");
            for line in text.lines() {
                if !line.starts_with('#') && !line.contains("_bucket{") {
                    println!("  {line}");
                }
            }
        }
        Err(e) => println!("cannot scrape node {id} at {addr}: {e}"),
    }
}

fn run(args: &Args, stop: &AtomicBool) -> Result<bool, String> {
    let bin = match &args.node_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("raft-node"),
    };
    if !bin.exists() {
        return Err(format!(
            "{} not found (build it: cargo build -p raft-std-driver --bins)",
            bin.display()
        ));
    }
    let started = match args.metrics_port {
        Some(port) => LocalCluster::start_with_metrics(&bin, 3, port),
        None => LocalCluster::start(&bin, 3, &[]),
    };
    let mut cluster = started.map_err(|e| e.to_string())?;
    println!(
        "raft-demo: 3 nodes on 127.0.0.1 under {}",
        cluster.root().display()
    );
    for n in &cluster.nodes {
        match n.metrics {
            Some(m) => println!(
                "  node {} at {} (metrics: http://{m}/metrics)",
                n.id, n.addr
            ),
            None => println!("  node {} at {}", n.id, n.addr),
        }
    }
    let opts = ClientOptions {
        attempt_timeout: Duration::from_millis(300),
        deadline: Duration::from_secs(15),
    };
    let mut client = cluster.client(opts).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let (leader, term) = cluster
        .wait_for_leader(&mut client, None, 0, Duration::from_secs(15))
        .ok_or("no leader elected within 15 s")?;
    println!(
        "leader: node {leader} (term {term}), elected {} ms after start",
        t.elapsed().as_millis()
    );
    client.set_target(leader);

    let mut acked = BTreeMap::new();
    let n = args.writes.max(1);
    let mut failed = write(
        &mut client,
        0..n,
        &mut acked,
        stop,
        &bar(n, "writing"),
        None,
    )?;

    // Kill the leader (it may have changed since; ask again).
    let (leader, term) = cluster
        .wait_for_leader(&mut client, None, 0, Duration::from_secs(10))
        .ok_or("no leader before the kill")?;
    if let Some(addr) = cluster.nodes[leader as usize - 1].metrics {
        print_scrape(leader, addr);
    }
    println!("killing leader node {leader} (term {term}) with SIGKILL");
    cluster.kill(leader).map_err(|e| e.to_string())?;
    let killed_at = Instant::now();
    let (new_leader, new_term) = cluster
        .wait_for_leader(&mut client, Some(leader), term, Duration::from_secs(15))
        .ok_or("no new leader within 15 s of the kill")?;
    let failover = killed_at.elapsed();
    println!(
        "failover: node {new_leader} leads term {new_term}, {} ms after the kill",
        failover.as_millis()
    );
    client.set_target(new_leader);
    let mut first_ack = None;
    failed += write(
        &mut client,
        n..2 * n,
        &mut acked,
        stop,
        &bar(n, "writing after failover"),
        Some(&mut first_ack),
    )?;

    println!("restarting node {leader}");
    cluster.restart(leader).map_err(|e| e.to_string())?;
    // Every node must reach the leader's commit index.
    let deadline = Instant::now() + Duration::from_secs(20);
    let target = loop {
        if stop.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        let commit = client
            .status(new_leader)
            .ok()
            .flatten()
            .map_or(0, |s| s.commit);
        let behind: Vec<u32> = (1..=3)
            .filter(|&id| {
                client
                    .status(id)
                    .ok()
                    .flatten()
                    .is_none_or(|s| s.applied < commit)
            })
            .collect();
        if behind.is_empty() && commit > 0 {
            break commit;
        }
        if Instant::now() > deadline {
            return Err(format!("nodes {behind:?} did not catch up within 20 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("all nodes applied up to index {target}");

    let pb = bar(3 * acked.len(), "checking every node");
    let mut missing = [0usize; 3];
    for id in 1..=3u32 {
        for (k, v) in &acked {
            let got = client
                .local_get(id, k.as_bytes())
                .map_err(|e| e.to_string())?;
            if got != Some(Response::Value(Some(v.clone().into_bytes()))) {
                missing[id as usize - 1] += 1;
            }
            pb.inc(1);
        }
    }
    pb.finish();

    let lost: usize = missing.iter().sum();
    let pass = lost == 0 && !acked.is_empty();
    println!();
    println!("summary");
    println!("  writes acknowledged      {} of {}", acked.len(), 2 * n);
    println!(
        "  writes not acknowledged  {failed} (retried until the deadline; none is counted as lost)"
    );
    println!("  leader killed            node {leader} (term {term})");
    println!("  new leader               node {new_leader} (term {new_term})");
    println!(
        "  failover                 {} ms (kill -> new leader)",
        failover.as_millis()
    );
    if let Some(f) = first_ack {
        println!(
            "  first write after kill   {} ms",
            f.duration_since(killed_at).as_millis()
        );
    }
    for (k, m) in missing.iter().enumerate() {
        println!("  node {} missing          {m}", k + 1);
    }
    if pass {
        println!("PASS: every acknowledged write is present on every node");
    } else {
        println!("FAIL: {lost} acknowledged writes missing");
    }
    if args.keep || !pass {
        println!("data and logs kept in {}", cluster.keep().display());
    }
    Ok(pass)
}
