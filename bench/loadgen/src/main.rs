//! `loadgen`: closed-loop clients against our key-value service (three `raft-node`s) and etcd
//! 3.4 (three members), the same worker code over both (see `bench/loadgen.sh`, which starts
//! the servers, and BENCHMARKS.md, issue 15).
//!
//! - `loadgen run ...`: every point (workload x client count), alternating the systems point
//!   by point, a markdown table of each point and the ratios.
//! - `loadgen check ...`: the correctness smoke (CI): a few seconds of puts and gets per system,
//!   every acknowledged put read back, no failed request; exit status 1 otherwise.

mod backend;
mod check;
mod etcd;
mod metrics;
mod point;
mod procstat;
mod raft;
mod report;
mod strace;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use raft_std_driver::config::Peer;
use raft_std_driver::transport::ClusterKey;

use backend::Cluster;
use worker::{Shape, Workload};

/// Load generator: our key-value service against etcd 3.4.
#[derive(Parser, Debug)]
#[command(name = "loadgen")]
struct Cli {
    #[command(flatten)]
    systems: Systems,
    #[command(subcommand)]
    op: Op,
}

/// Where the two systems run (a system whose flags are missing is left out).
#[derive(Args, Debug)]
struct Systems {
    /// One of our nodes as ID=HOST:PORT, in member order; repeat for each.
    #[arg(long = "raft-peer", value_name = "ID=ADDR", global = true)]
    raft_peers: Vec<String>,
    /// Our cluster's key file.
    #[arg(long, value_name = "FILE", global = true)]
    raft_key_file: Option<PathBuf>,
    /// The process ids of our nodes, in the order of --raft-peer.
    #[arg(long, value_name = "PIDS", value_delimiter = ',', global = true)]
    raft_pids: Vec<u32>,
    /// One etcd member's client address as HOST:PORT, in member order; repeat for each.
    #[arg(long = "etcd-endpoint", value_name = "ADDR", global = true)]
    etcd_endpoints: Vec<SocketAddr>,
    /// The process ids of the etcd members, in the order of --etcd-endpoint.
    #[arg(long, value_name = "PIDS", value_delimiter = ',', global = true)]
    etcd_pids: Vec<u32>,
    /// Keys per run (`k0000` ...).
    #[arg(long, default_value_t = 1000, global = true)]
    keys: u32,
    /// Bytes per value.
    #[arg(long, default_value_t = 64, global = true)]
    value_size: usize,
}

#[derive(Subcommand, Debug)]
enum Op {
    /// Runs every point and writes the tables.
    Run {
        /// Client counts.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256,1024")]
        clients: Vec<usize>,
        /// Workloads, in order.
        #[arg(long, value_delimiter = ',', default_value = "put,get,mix")]
        workloads: Vec<Workload>,
        /// Measured seconds per point.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Unmeasured seconds before each point.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Seconds of `strace -c -f` on the leader after each put point (0: none).
        #[arg(long, default_value_t = 2.0)]
        strace_secs: f64,
        /// Where the strace tables go.
        #[arg(long, default_value = "loadgen-strace")]
        strace_dir: PathBuf,
        /// The markdown file to write (the tables).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The correctness smoke: puts and linearizable gets, each key written by one worker.
    Check {
        /// Seconds per system.
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        /// Workers per system.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
}

fn clusters(s: &Systems) -> Result<Vec<Box<dyn Cluster>>, String> {
    let mut out: Vec<Box<dyn Cluster>> = Vec::new();
    if !s.raft_peers.is_empty() {
        let peers = s
            .raft_peers
            .iter()
            .map(|p| Peer::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let key_file = s
            .raft_key_file
            .as_ref()
            .ok_or("--raft-peer needs --raft-key-file")?;
        let key =
            ClusterKey::from_file(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
        out.push(Box::new(raft::RaftCluster::new(
            key,
            peers,
            s.raft_pids.clone(),
        )?));
    }
    if !s.etcd_endpoints.is_empty() {
        out.push(Box::new(etcd::EtcdCluster::new(
            s.etcd_endpoints.clone(),
            s.etcd_pids.clone(),
        )?));
    }
    if out.is_empty() {
        return Err("no system given: pass --raft-peer ... and/or --etcd-endpoint ...".into());
    }
    Ok(out)
}

/// Writes every key once, so that gets find values.
fn prefill(cluster: &dyn Cluster, shape: Shape) -> Result<(), String> {
    let leader = cluster.leader()?;
    let mut session = cluster.session(leader)?;
    let value = vec![b'v'; shape.value_size];
    for i in 0..shape.keys {
        session
            .put(&worker::key(i), &value)
            .map_err(|e| format!("{}: prefill put {i}: {e}", cluster.name()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let systems = clusters(&cli.systems)?;
    let shape = Shape {
        keys: cli.systems.keys,
        value_size: cli.systems.value_size,
    };
    match cli.op {
        Op::Check { secs, clients } => {
            let mut ok = true;
            for c in &systems {
                let r = check::run(
                    c.as_ref(),
                    clients,
                    shape.keys,
                    shape.value_size,
                    Duration::from_secs_f64(secs),
                )?;
                println!(
                    "{}: {} puts acknowledged, {} gets checked, {} keys read back, {} problems",
                    c.name(),
                    r.puts,
                    r.gets,
                    r.read_back,
                    r.problems.len()
                );
                for p in r.problems.iter().take(10) {
                    println!("  {p}");
                }
                ok &= r.problems.is_empty();
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Op::Run {
            clients,
            workloads,
            secs,
            warmup,
            strace_secs,
            strace_dir,
            out,
        } => {
            for c in &systems {
                prefill(c.as_ref(), shape)?;
            }
            if strace_secs > 0.0 {
                std::fs::create_dir_all(&strace_dir)
                    .map_err(|e| format!("{}: {e}", strace_dir.display()))?;
            }
            let mut outcomes = Vec::new();
            let mut n = 0usize;
            for &w in &workloads {
                for &c in &clients {
                    // Alternate which system goes first, point by point.
                    let mut order: Vec<&dyn Cluster> = systems.iter().map(|s| s.as_ref()).collect();
                    if n % 2 == 1 {
                        order.reverse();
                    }
                    n += 1;
                    for system in order {
                        let tag = format!(
                            "{}-{}-{c}",
                            system.name().split(' ').next().unwrap_or("x"),
                            w.label().replace('/', "-")
                        );
                        let spec = point::Spec {
                            workload: w,
                            clients: c,
                            warmup: Duration::from_secs_f64(warmup),
                            measure: Duration::from_secs_f64(secs),
                            shape,
                            strace: (strace_secs > 0.0).then(|| {
                                (
                                    Duration::from_secs_f64(strace_secs),
                                    strace_dir.join(format!("{tag}.txt")),
                                )
                            }),
                            seed: n as u64,
                        };
                        let o = point::run(system, &spec)?;
                        eprintln!(
                            "{:<10} {:<5} {:>5} clients: {:>8.0} ops/s p50 {:.2} p99 {:.2} p999 {:.2} max {:.2} ms, cpu us/op {:.1}/{:.1}/{:.1}, fsync/put {:.3}, errors {}, busy {}/{}, drops {:?}, load {}{}",
                            o.system,
                            w.label(),
                            c,
                            o.ops_per_s,
                            o.latency.p50,
                            o.latency.p99,
                            o.latency.p999,
                            o.latency.max,
                            o.cpu_us[0],
                            o.cpu_us[1],
                            o.cpu_us[2],
                            o.fsyncs_per_put[0],
                            o.errors,
                            o.busy_server,
                            o.busy_client,
                            o.udp_drops,
                            o.load,
                            o.first_error
                                .as_ref()
                                .map_or(String::new(), |e| format!(" (first error: {e})")),
                        );
                        outcomes.push(o);
                    }
                }
            }
            let mut md = report::points(&outcomes);
            if systems.len() == 2 {
                md.push_str("\nops/s, ours / etcd:\n\n");
                md.push_str(&report::ratios(
                    &outcomes,
                    systems[0].name(),
                    systems[1].name(),
                ));
            }
            let sys = report::syscalls(&outcomes);
            if !sys.is_empty() {
                md.push_str(
                    "\nstrace windows on the leader (after each put point; calls per put):\n\n",
                );
                md.push_str(&sys);
            }
            for o in &outcomes {
                if let Some(e) = &o.first_error {
                    md.push_str(&format!(
                        "\n- first error, {} {} at {} clients: {e}",
                        o.system,
                        o.workload.label(),
                        o.clients
                    ));
                }
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, &md).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => print!("{md}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
