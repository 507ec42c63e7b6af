//! `raft-client`: put / get / delete / cas against a raft-node cluster, membership changes,
//! and a benchmark. Exit codes: see [`raft_std_driver::cli`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use raft_std_driver::admin::{JointChange, MemberChange, MemberRefusal, MembershipView};
use raft_std_driver::cli;
use raft_std_driver::client::pipeline::Pipeline;
use raft_std_driver::client::settings::{ClientSettings, DEFAULT_TIMEOUT_MS};
use raft_std_driver::client::{Client, ClientError, ClientOptions};
use raft_std_driver::config::Peer;
use raft_std_driver::kv::{Command, Response};
use raft_std_driver::transport::ClusterKey;

/// A client of a raft-node key-value cluster: finds the leader by itself and retries a request
/// with the same session sequence number until it is answered (exactly-once writes).
///
/// --peer and --key-file are required: as flags (before or after the command), in the RAFT_*
/// environment variables, or in a --config file; flags override the variables, which override
/// the file. Exit codes: 0 ok, 1 error, 2 usage error, 3 cas not swapped, 4 get of an absent
/// key, 5 not sent (not applied), 6 no reply, 7 no authenticated reply (check the key file
/// and addresses), 8 outcome unknown (a write may have been applied).
#[derive(Parser, Debug)]
#[command(name = "raft-client", version)]
struct Args {
    /// A cluster node as ID=HOST:PORT; repeat for each (or separate them with commas).
    #[arg(
        long = "peer",
        value_name = "ID=ADDR",
        global = true,
        env = "RAFT_PEERS",
        value_delimiter = ','
    )]
    peers: Vec<String>,
    /// The cluster key file.
    #[arg(long, value_name = "FILE", global = true, env = "RAFT_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Give up after this many milliseconds without an answer.
    #[arg(
        long,
        value_name = "MS",
        global = true,
        env = "RAFT_TIMEOUT_MS",
        default_value_t = DEFAULT_TIMEOUT_MS
    )]
    timeout_ms: u64,
    /// A TOML file with `peers`, `key_file` and `timeout_ms`.
    #[arg(long, value_name = "FILE", global = true, env = "RAFT_CLIENT_CONFIG")]
    config: Option<PathBuf>,
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
    /// `--read-policy log`); an absent key prints nothing and exits 4.
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
    /// Shows or changes the cluster membership (one voter at a time, or several in one joint
    /// step; served by the leader).
    Member {
        #[command(subcommand)]
        op: MemberOp,
    },
    /// Runs N concurrent clients doing puts; prints puts/s and latency percentiles.
    Bench {
        /// Concurrent clients (each one socket; `--pipeline` sessions, one request in flight
        /// each).
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Requests each client keeps in flight (each in its own session).
        #[arg(long, default_value_t = 1)]
        pipeline: usize,
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
    /// Prints the voters and learners as the leader has them (the outgoing voters too while
    /// a joint configuration is in force), and every member's address.
    Show,
    /// Adds node ID as a learner: it receives the log but does not vote. With --addr the
    /// change carries its address, so every member accepts its datagrams once the change
    /// commits (a node started with `raft-node --join`); without, the leader must know it.
    AddLearner {
        /// The node's id.
        id: u32,
        /// The node's UDP address (its --listen).
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<SocketAddr>,
    },
    /// Makes several changes in one joint configuration (Raft's joint consensus): the cluster
    /// needs majorities of both the old and the new voters until it leaves it, by itself once
    /// committed (or with `leave-joint` under --explicit-leave). New voters must be learners
    /// that caught up (waited for, up to --timeout-ms).
    Joint {
        /// Add a learner, as ID or ID=HOST:PORT; repeat for each.
        #[arg(long = "add-learner", value_name = "ID[=ADDR]")]
        add_learner: Vec<String>,
        /// Make a learner a voter; repeat for each.
        #[arg(long, value_name = "ID")]
        promote: Vec<u32>,
        /// Remove a voter or learner; repeat for each.
        #[arg(long, value_name = "ID")]
        remove: Vec<u32>,
        /// Stay in the joint configuration until `member leave-joint`.
        #[arg(long)]
        explicit_leave: bool,
    },
    /// Leaves the joint configuration in force (made with --explicit-leave).
    LeaveJoint,
    /// Replaces voter OLD by node NEW in one joint step: adds NEW as a learner if it is not a
    /// member yet (with --addr), waits until it caught up, then makes it a voter and removes
    /// OLD at once, and waits until the joint configuration is left.
    Replace {
        /// The voter to remove.
        old: u32,
        /// The node to make a voter.
        new: u32,
        /// NEW's UDP address, if it is not a member yet.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<SocketAddr>,
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

/// Why `raft-client` failed: its exit code and one-line message.
struct Failed(u8, String);

impl From<String> for Failed {
    fn from(msg: String) -> Failed {
        Failed(cli::Exit::Error as u8, msg)
    }
}

impl From<ClientError> for Failed {
    fn from(e: ClientError) -> Failed {
        Failed(cli::client_exit_code(&e), e.to_string())
    }
}

fn main() -> ExitCode {
    let (args, matches): (Args, _) = match cli::parse_matches() {
        Ok(a) => a,
        Err(code) => return code,
    };
    cli::init_tracing("warn");
    let flags = ClientSettings {
        peers: args.peers,
        key_file: args.key_file,
        timeout_ms: cli::given(&matches, "timeout_ms").then_some(args.timeout_ms),
    };
    let settings = match &args.config {
        Some(path) => match ClientSettings::from_file(path) {
            Ok(file) => flags.or(file),
            Err(e) => return cli::fail(e),
        },
        None => flags,
    };
    if settings.peers.is_empty() {
        return cli::usage_error("missing --peer ID=ADDR (or RAFT_PEERS, or `peers` in --config)");
    }
    let Some(key_file) = settings.key_file else {
        return cli::usage_error(
            "missing --key-file FILE (or RAFT_KEY_FILE, or `key_file` in --config)",
        );
    };
    let timeout_ms = settings.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    match run(args.op, &settings.peers, &key_file, timeout_ms) {
        Ok(code) => code,
        Err(Failed(code, msg)) => cli::fail_with(code, msg),
    }
}

fn run(op: Op, peers: &[String], key_file: &Path, timeout_ms: u64) -> Result<ExitCode, Failed> {
    let key = ClusterKey::from_file(key_file).map_err(|e| e.to_string())?;
    let peers = peers
        .iter()
        .map(|p| Peer::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = ClientOptions {
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_millis(timeout_ms),
    };
    let mut client = Client::new(&key, peers.clone(), opts).map_err(|e| e.to_string())?;
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    match op {
        Op::Put { key, value } => {
            let c = Command::Put {
                key: key.into_bytes(),
                value: value.into_bytes(),
            };
            expect(client.execute(c)?, |r| matches!(r, Response::Written))?;
            println!("ok");
        }
        Op::Get { key } => match client.execute(Command::Get {
            key: key.into_bytes(),
        })? {
            Response::Value(Some(v)) => println!("{}", text(&v)),
            // Nothing on stdout: a stored value, even "(absent)", always prints a line.
            Response::Value(None) => {
                eprintln!("(absent)");
                return Ok(ExitCode::from(cli::Exit::Absent as u8));
            }
            other => return Err(format!("unexpected response {other:?}").into()),
        },
        Op::Delete { key } => match client.execute(Command::Delete {
            key: key.into_bytes(),
        })? {
            Response::Deleted { existed } => {
                println!("{}", if existed { "deleted" } else { "(absent)" })
            }
            other => return Err(format!("unexpected response {other:?}").into()),
        },
        Op::Cas {
            key,
            expected,
            absent,
            new,
            remove,
        } => {
            if expected.is_none() && !absent {
                return Err(Failed(
                    cli::Exit::Usage as u8,
                    "cas needs --expected VALUE or --absent".into(),
                ));
            }
            if new.is_none() && !remove {
                return Err(Failed(
                    cli::Exit::Usage as u8,
                    "cas needs --new VALUE or --remove".into(),
                ));
            }
            let c = Command::Cas {
                key: key.into_bytes(),
                expected: expected.map(String::into_bytes),
                new: new.map(String::into_bytes),
            };
            match client.execute(c)? {
                Response::Cas { swapped: true, .. } => println!("swapped"),
                Response::Cas { previous, .. } => {
                    match previous {
                        Some(v) => println!("not swapped (current: {})", text(&v)),
                        None => println!("not swapped (key absent)"),
                    }
                    return Ok(ExitCode::from(cli::Exit::NotSwapped as u8));
                }
                other => return Err(format!("unexpected response {other:?}").into()),
            }
        }
        Op::Status => {
            let start = Instant::now();
            let mut any = false;
            for p in &peers {
                match client.status(p.id)? {
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
                return Err(client.failed(start.elapsed()).into());
            }
        }
        Op::Stats { id } => match client.stats(id)? {
            Some(v) => println!("{v:#}"),
            None => return Err(format!("node {id} did not answer").into()),
        },
        Op::Member { op } => member(&mut client, op, opts.deadline)?,
        Op::Bench {
            clients,
            pipeline,
            secs,
            value_size,
        } => {
            let shape = Shape {
                clients: clients.max(1),
                pipeline: pipeline.max(1),
                secs,
                value_size,
            };
            bench(&key, &peers, opts, shape)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn member(client: &mut Client, op: MemberOp, deadline: Duration) -> Result<(), Failed> {
    let start = Instant::now();
    let change = match op {
        MemberOp::Show => {
            let view = client.membership()?;
            println!("{view}");
            return Ok(());
        }
        MemberOp::LeaveJoint => {
            let view = client
                .leave_joint()
                .map_err(|e| failed("leave the joint configuration", e))?;
            println!("{view}");
            return Ok(());
        }
        MemberOp::Joint {
            add_learner,
            promote,
            remove,
            explicit_leave,
        } => {
            let mut changes = Vec::new();
            for a in &add_learner {
                changes.push(learner_change(a)?);
            }
            changes.extend(promote.into_iter().map(MemberChange::Promote));
            changes.extend(remove.into_iter().map(MemberChange::Remove));
            let change = JointChange {
                changes,
                auto_leave: !explicit_leave,
            };
            let view = joint(client, change, start + deadline)?;
            println!("{view}");
            return Ok(());
        }
        MemberOp::Replace { old, new, addr } => {
            let current = client.membership()?;
            if !current.voters.contains(&new) && !current.learners.contains(&new) {
                let add = addr.map_or(MemberChange::AddLearner(new), |a| {
                    MemberChange::AddLearnerAt(new, a)
                });
                single(client, add, start + deadline)?;
            }
            let change = JointChange {
                changes: vec![MemberChange::Promote(new), MemberChange::Remove(old)],
                auto_leave: true,
            };
            joint(client, change, start + deadline)?;
            let view = client.wait_not_joint(start + deadline)?;
            println!("{view}");
            return Ok(());
        }
        MemberOp::AddLearner { id, addr: None } => MemberChange::AddLearner(id),
        MemberOp::AddLearner { id, addr: Some(a) } => MemberChange::AddLearnerAt(id, a),
        MemberOp::Promote { id } => MemberChange::Promote(id),
        MemberOp::Remove { id } => MemberChange::Remove(id),
    };
    let view = single(client, change, start + deadline)?;
    println!("{view}");
    Ok(())
}

/// `ID` or `ID=HOST:PORT` of `joint --add-learner`.
fn learner_change(arg: &str) -> Result<MemberChange, Failed> {
    let bad = |why: String| {
        Failed(
            cli::Exit::Usage as u8,
            format!("--add-learner {arg}: {why}"),
        )
    };
    match arg.split_once('=') {
        None => arg
            .trim()
            .parse()
            .map(MemberChange::AddLearner)
            .map_err(|_| bad("not a node id".into())),
        Some(_) => {
            let p = Peer::parse(arg).map_err(bad)?;
            Ok(MemberChange::AddLearnerAt(p.id, p.addr))
        }
    }
}

/// `cannot <what>: <e>` with the exit code for `e`.
fn failed(what: impl std::fmt::Display, e: ClientError) -> Failed {
    Failed(cli::client_exit_code(&e), format!("cannot {what}: {e}"))
}

/// Makes one change, waiting for a learner to catch up until `deadline`.
fn single(
    client: &mut Client,
    change: MemberChange,
    deadline: Instant,
) -> Result<MembershipView, Failed> {
    loop {
        match client.change_membership(change) {
            Ok(view) => return Ok(view),
            // A learner still catching up: wait for it.
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(_)))
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(failed(change, e)),
        }
    }
}

/// Makes a joint change, waiting for new voters to catch up until `deadline`.
fn joint(
    client: &mut Client,
    change: JointChange,
    deadline: Instant,
) -> Result<MembershipView, Failed> {
    loop {
        match client.change_joint(change.clone()) {
            Ok(view) => return Ok(view),
            Err(ClientError::Refused(MemberRefusal::NotCaughtUp(_)))
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(failed(&change, e)),
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

/// What `raft-client bench` runs.
struct Shape {
    clients: usize,
    pipeline: usize,
    secs: f64,
    value_size: usize,
}

fn bench(
    key: &ClusterKey,
    peers: &[Peer],
    opts: ClientOptions,
    shape: Shape,
) -> Result<(), String> {
    let Shape {
        clients,
        pipeline,
        secs,
        value_size,
    } = shape;
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
                let mut p =
                    Pipeline::new(&key, peers, opts, pipeline).map_err(|e| e.to_string())?;
                p.set_target(leader);
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut done = Vec::new();
                let mut i = 0u64;
                while start.elapsed() < run_for {
                    while p.in_flight() < pipeline {
                        let put = Command::Put {
                            key: format!("bench-{t}-{i}").into_bytes(),
                            value: vec![b'v'; value_size],
                        };
                        i += 1;
                        if p.submit(put).is_err() {
                            break;
                        }
                    }
                    p.poll(&mut done).map_err(|e| e.to_string())?;
                    for c in done.drain(..) {
                        match c.result {
                            Ok(Response::Written) => lat.push(c.latency.as_micros() as u32),
                            _ => errors += 1,
                        }
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
        "clients={clients} puts={} secs={elapsed:.1} puts/s={:.0} p50={:.2}ms p99={:.2}ms p999={:.2}ms errors={errors} pipeline={pipeline}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999),
    );
    Ok(())
}
