//! `raft-client`: put / get / delete / cas against a raft-node cluster, membership changes,
//! and a benchmark.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use raft_std_driver::admin::{MemberChange, MemberRefusal};
use raft_std_driver::cli;
use raft_std_driver::client::{Client, ClientError, ClientOptions};
use raft_std_driver::config::Peer;
use raft_std_driver::kv::{Command, Response};
use raft_std_driver::transport::ClusterKey;

/// A client of a raft-node key-value cluster: finds the leader by itself and retries a request
/// with the same session sequence number until it is answered (exactly-once writes).
#[derive(Parser, Debug)]
#[command(name = "raft-client", version)]
struct Args {
    /// A cluster node as ID=HOST:PORT; repeat for each.
    #[arg(long = "peer", value_name = "ID=ADDR", required = true)]
    peers: Vec<String>,
    /// The cluster key file.
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
    /// Give up after this many milliseconds without an answer.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand, Debug)]
enum Op {
    /// Sets KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Prints KEY's value (a linearizable read: ReadIndex, or through the log with the nodes'
    /// `--read-policy log`).
    Get {
        /// The key.
        key: String,
    },
    /// Removes KEY.
    Delete {
        /// The key.
        key: String,
    },
    /// Compare-and-swap: sets KEY to NEW if it currently equals EXPECTED (exit 3 if not).
    Cas {
        /// The key.
        key: String,
        /// The value expected; omit with --absent.
        #[arg(long, conflicts_with = "absent")]
        expected: Option<String>,
        /// Expect the key to be absent.
        #[arg(long)]
        absent: bool,
        /// The new value; omit with --remove.
        #[arg(long, conflicts_with = "remove")]
        new: Option<String>,
        /// Delete the key on success.
        #[arg(long)]
        remove: bool,
    },
    /// Prints each node's role, term, commit and applied index.
    Status,
    /// Prints a node's counters (JSON).
    Stats {
        /// The node's id.
        id: u32,
    },
    /// Shows or changes the cluster membership (one voter at a time, served by the leader).
    Member {
        #[command(subcommand)]
        op: MemberOp,
    },
    /// Runs N concurrent clients doing puts; prints puts/s and latency percentiles.
    Bench {
        /// Concurrent clients (each one session, one request in flight).
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Value size in bytes.
        #[arg(long, default_value_t = 64)]
        value_size: usize,
    },
}

#[derive(Subcommand, Debug)]
enum MemberOp {
    /// Prints the voters and learners as the leader has them.
    Show,
    /// Adds node ID (listed in every node's peer table) as a learner: it receives the log
    /// but does not vote.
    AddLearner {
        /// The node's id.
        id: u32,
    },
    /// Makes learner ID a voter, waiting (up to --timeout-ms) until it has caught up.
    Promote {
        /// The node's id.
        id: u32,
    },
    /// Removes node ID (voter or learner; removing the leader hands leadership over).
    Remove {
        /// The node's id.
        id: u32,
    },
}

fn main() -> ExitCode {
    let args: Args = match cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    cli::init_tracing("warn");
    match run(args) {
        Ok(code) => code,
        Err(e) => cli::fail(e),
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let key = ClusterKey::from_file(&args.key_file).map_err(|e| e.to_string())?;
    let peers = args
        .peers
        .iter()
        .map(|p| Peer::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = ClientOptions {
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_millis(args.timeout_ms),
    };
    let mut client = Client::new(&key, peers.clone(), opts).map_err(|e| e.to_string())?;
    let exec = |client: &mut Client, c: Command| client.execute(c).map_err(|e| e.to_string());
    let show = |v: &Option<Vec<u8>>| match v {
        Some(v) => String::from_utf8_lossy(v).into_owned(),
        None => "(absent)".into(),
    };
    match args.op {
        Op::Put { key, value } => {
            let c = Command::Put {
                key: key.into_bytes(),
                value: value.into_bytes(),
            };
            expect(exec(&mut client, c)?, |r| matches!(r, Response::Written))?;
            println!("ok");
        }
        Op::Get { key } => match exec(
            &mut client,
            Command::Get {
                key: key.into_bytes(),
            },
        )? {
            Response::Value(v) => println!("{}", show(&v)),
            other => return Err(format!("unexpected response {other:?}")),
        },
        Op::Delete { key } => {
            match exec(
                &mut client,
                Command::Delete {
                    key: key.into_bytes(),
                },
            )? {
                Response::Deleted { existed } => {
                    println!("{}", if existed { "deleted" } else { "(absent)" })
                }
                other => return Err(format!("unexpected response {other:?}")),
            }
        }
        Op::Cas {
            key,
            expected,
            absent,
            new,
            remove,
        } => {
            if expected.is_none() && !absent {
                return Err("cas needs --expected VALUE or --absent".into());
            }
            if new.is_none() && !remove {
                return Err("cas needs --new VALUE or --remove".into());
            }
            let c = Command::Cas {
                key: key.into_bytes(),
                expected: expected.map(String::into_bytes),
                new: new.map(String::into_bytes),
            };
            match exec(&mut client, c)? {
                Response::Cas { swapped: true, .. } => println!("swapped"),
                Response::Cas { previous, .. } => {
                    println!("not swapped (current: {})", show(&previous));
                    return Ok(ExitCode::from(3));
                }
                other => return Err(format!("unexpected response {other:?}")),
            }
        }
        Op::Status => {
            let mut any = false;
            for p in &peers {
                match client.status(p.id).map_err(|e| e.to_string())? {
                    Some(s) => {
                        any = true;
                        println!(
                            "node {} ({}): {} term {} leader {} commit {} applied {} last {}",
                            s.id,
                            p.addr,
                            s.role,
                            s.term,
                            s.leader.map_or("-".into(), |l| l.to_string()),
                            s.commit,
                            s.applied,
                            s.last_index
                        );
                    }
                    None => println!("node {} ({}): no answer", p.id, p.addr),
                }
            }
            if !any {
                return Err("cluster unreachable: no node answered".into());
            }
        }
        Op::Stats { id } => match client.stats(id).map_err(|e| e.to_string())? {
            Some(v) => println!("{v:#}"),
            None => return Err(format!("node {id} did not answer")),
        },
        Op::Member { op } => member(&mut client, op, opts.deadline)?,
        Op::Bench {
            clients,
            secs,
            value_size,
        } => bench(&key, &peers, opts, clients.max(1), secs, value_size)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn member(client: &mut Client, op: MemberOp, deadline: Duration) -> Result<(), String> {
    let change = match op {
        MemberOp::Show => {
            let view = client.membership().map_err(|e| e.to_string())?;
            println!("{view}");
            return Ok(());
        }
        MemberOp::AddLearner { id } => MemberChange::AddLearner(id),
        MemberOp::Promote { id } => MemberChange::Promote(id),
        MemberOp::Remove { id } => MemberChange::Remove(id),
    };
    let start = Instant::now();
    loop {
        match client.change_membership(change) {
            Ok(view) => {
                println!("{view}");
                return Ok(());
            }
            // A learner still catching up: wait for it.
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(_)))
                if start.elapsed() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("cannot {change}: {e}")),
        }
    }
}

fn expect(r: Response, ok: impl Fn(&Response) -> bool) -> Result<Response, String> {
    match r {
        Response::Error(e) => Err(e.to_string()),
        r if ok(&r) => Ok(r),
        r => Err(format!("unexpected response {r:?}")),
    }
}

fn bench(
    key: &ClusterKey,
    peers: &[Peer],
    opts: ClientOptions,
    clients: usize,
    secs: f64,
    value_size: usize,
) -> Result<(), String> {
    let run_for = Duration::from_secs_f64(secs.max(0.1));
    // Find the leader once, so every session starts there.
    let mut probe = Client::new(key, peers.to_vec(), opts).map_err(|e| e.to_string())?;
    probe
        .execute(Command::Put {
            key: b"bench-probe".to_vec(),
            value: vec![],
        })
        .map_err(|e| e.to_string())?;
    let leader = probe.target();
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let key = key.clone();
            let peers = peers.to_vec();
            std::thread::spawn(move || -> Result<(Vec<u32>, u64), String> {
                let mut c = Client::new(&key, peers, opts).map_err(|e| e.to_string())?;
                c.set_target(leader);
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let value = vec![b'v'; value_size];
                let mut i = 0u64;
                while start.elapsed() < run_for {
                    let k = format!("bench-{t}-{i}").into_bytes();
                    i += 1;
                    let t0 = Instant::now();
                    match c.execute(Command::Put {
                        key: k,
                        value: value.clone(),
                    }) {
                        Ok(Response::Written) => lat.push(t0.elapsed().as_micros() as u32),
                        _ => errors += 1,
                    }
                }
                Ok((lat, errors))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (lat, e) = t.join().map_err(|_| "a bench thread panicked")??;
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let k = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[k]) / 1000.0
    };
    println!(
        "clients={clients} puts={} secs={elapsed:.1} puts/s={:.0} p50={:.2}ms p99={:.2}ms p999={:.2}ms errors={errors}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999),
    );
    Ok(())
}
