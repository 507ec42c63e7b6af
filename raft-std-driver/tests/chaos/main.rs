//! Our own chaos test: three `raft-node` processes, concurrent clients through the client
//! library doing put / get / cas on a few keys, a seeded nemesis (kill -9 and restart,
//! SIGSTOP / SIGCONT, partitions and one-way loss through the nodes' fault hook), and a
//! linearizability check of the recorded history.
//!
//! `cargo test -p raft-std-driver --test chaos` runs a short run (`CHAOS_SECS`, default 15)
//! and the checker's own tests; the long mode is ignored:
//! `CHAOS_SECS=60 CHAOS_RUNS=10 cargo test -p raft-std-driver --test chaos -- --ignored`.
//! `CHAOS_SEED` replays a run's fault schedule (the seed is printed).

#[path = "../common/mod.rs"]
mod common;

mod checker;
mod disk;
mod history;
mod nemesis;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raft_std_driver::client::{Client, ClientError, ClientOptions, Failure};
use raft_std_driver::kv::{Command as Kv, Response};
use raft_std_driver::local::LocalCluster;

use history::{Entry, Op, Ret};

const CLIENTS: usize = 4;
const KEYS: usize = 3;

/// Bounded client attempts: an operation is recorded at most about 2 s after it began.
/// Half the clients give up after 250 ms, so that some writes end with an unknown outcome
/// while a fault lasts.
fn chaos_opts(id: usize) -> ClientOptions {
    ClientOptions {
        attempt_timeout: Duration::from_millis(150),
        deadline: Duration::from_millis(if id.is_multiple_of(2) { 2000 } else { 250 }),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn key_bytes(key: usize) -> Vec<u8> {
    format!("chaos-{key}").into_bytes()
}

fn value(v: Option<Vec<u8>>) -> Option<u64> {
    v.map(|b| {
        std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("a value this test wrote")
    })
}

/// What one run recorded.
struct Run {
    seed: u64,
    history: Vec<Entry>,
    final_reads: Vec<Entry>,
    failed: usize,
    unknown: usize,
    faults: nemesis::Applied,
}

/// Runs one operation and records it (`None`: failed definitely, not applied).
fn run_op(client: &mut Client, id: usize, key: usize, op: Op, start: Instant) -> Option<Entry> {
    let command = match op {
        Op::Put(v) => Kv::Put {
            key: key_bytes(key),
            value: v.to_string().into_bytes(),
        },
        Op::Get => Kv::Get {
            key: key_bytes(key),
        },
        Op::Cas { expected, new } => Kv::Cas {
            key: key_bytes(key),
            expected: expected.map(|e| e.to_string().into_bytes()),
            new: Some(new.to_string().into_bytes()),
        },
    };
    let invoke = start.elapsed().as_micros() as u64;
    let r = client.execute(command);
    let complete = start.elapsed().as_micros() as u64;
    let ret = match r {
        Ok(Response::Written) => Some(Ret::Written),
        Ok(Response::Value(v)) => Some(Ret::Value(value(v))),
        Ok(Response::Cas { swapped, previous }) => Some(Ret::Cas {
            swapped,
            previous: value(previous),
        }),
        Err(ClientError::Failed {
            failure: Failure::NotSent,
            ..
        }) => return None,
        // Anything else: the outcome is unknown.
        Ok(_) | Err(_) => None,
    };
    if ret.is_none() && op == Op::Get {
        return None;
    }
    Some(Entry {
        client: id,
        key,
        op,
        invoke,
        complete: ret.map(|_| complete),
        ret,
    })
}

/// One client's loop until `stop`: its operations, and how many failed definitely.
fn client_loop(
    mut client: Client,
    id: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
    start: Instant,
) -> (Vec<Entry>, usize) {
    let mut rng = nemesis::Rng::new(seed ^ (id as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut seen: [Option<u64>; KEYS] = [None; KEYS];
    let mut next = (id as u64 + 1) * 1_000_000_000;
    let mut out = Vec::new();
    let mut failed = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = nemesis::range(&mut rng, 0, KEYS as u64) as usize;
        next += 1;
        let op = match nemesis::range(&mut rng, 0, 10) {
            0..=3 => Op::Put(next),
            4..=7 => Op::Get,
            _ => Op::Cas {
                expected: seen[key],
                new: next,
            },
        };
        match run_op(&mut client, id, key, op, start) {
            Some(e) => {
                match e.ret {
                    Some(Ret::Value(v)) => seen[key] = v,
                    Some(Ret::Cas { previous, .. }) => seen[key] = e.written().or(previous),
                    Some(Ret::Written) => seen[key] = e.written(),
                    None => {}
                }
                out.push(e);
            }
            None => failed += 1,
        }
    }
    (out, failed)
}

/// Starts three nodes with the fault hook on, runs the clients and the nemesis of `seed` for
/// `secs` (no faults when `faults` is false), heals, and reads every key once more.
fn record(secs: u64, seed: u64, faults: bool) -> Run {
    // The nodes inherit the variable (this binary runs only chaos tests).
    std::env::set_var(raft_std_driver::node::FAULT_HOOK_VAR, "1");
    let policy = read_policy();
    let mut cluster = common::start(3, &["--read-policy", &policy]);
    let (_leader_client, _, _) = common::leader_client(&mut cluster);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let client = cluster.client(chaos_opts(id)).unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || client_loop(client, id, seed, stop, start))
        })
        .collect();
    let until = start + Duration::from_secs(secs);
    let applied = if faults {
        nemesis::run(&mut cluster, seed, start, until)
    } else {
        std::thread::sleep(until - Instant::now());
        nemesis::Applied::default()
    };
    stop.store(true, Ordering::Relaxed);
    let mut history = Vec::new();
    let mut failed = 0;
    for c in clients {
        let (ops, f) = c.join().expect("client thread");
        history.extend(ops);
        failed += f;
    }
    // Every fault is healed: the cluster must elect a leader and answer again.
    let (mut client, _, _) = common::leader_client(&mut cluster);
    let final_reads: Vec<Entry> = (0..KEYS)
        .map(|key| {
            run_op(&mut client, CLIENTS, key, Op::Get, start).unwrap_or_else(|| {
                let dir = cluster.keep();
                panic!("seed {seed}: the healed cluster did not answer a read; logs in {dir:?}")
            })
        })
        .collect();
    let unknown = history.iter().filter(|e| e.ret.is_none()).count();
    history.extend(final_reads.iter().copied());
    Run {
        seed,
        history,
        final_reads,
        failed,
        unknown,
        faults: applied,
    }
}

/// Checks a run on a thread with room for the search's recursion; panics on a violation
/// or a lost write, printing the seed and the history around it.
fn check_run(run: &Run, secs: u64) -> usize {
    let history = run.history.clone();
    let report = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || checker::check(&history))
        .unwrap()
        .join()
        .unwrap();
    let lost = history::lost_writes(&run.history, &run.final_reads);
    let slowest = run
        .history
        .iter()
        .filter_map(|e| e.complete.map(|c| c - e.invoke))
        .max()
        .unwrap_or(0);
    let acked = run
        .history
        .iter()
        .filter(|e| e.acknowledged_write())
        .count();
    let reads = run
        .history
        .iter()
        .filter(|e| e.op == Op::Get && e.ret.is_some())
        .count();
    eprintln!(
        "chaos seed {}: {secs} s, {} read policy, {} ops ({acked} acknowledged writes, {reads} reads; slowest {} ms, {} unknown outcome, {} failed \
         definitely, not recorded), faults {:?}; {} states explored, {} violations, {} lost \
         acknowledged writes, {} keys undecided",
        run.seed,
        read_policy(),
        report.ops,
        slowest / 1000,
        run.unknown,
        run.failed,
        run.faults,
        report.explored,
        report.violations.len(),
        lost.len(),
        report.undecided.len()
    );
    for v in &report.violations {
        eprintln!("{}", v.excerpt(10));
    }
    if !report.violations.is_empty() || !lost.is_empty() {
        let path = std::env::temp_dir().join(format!("chaos-history-{}.txt", run.seed));
        let text: Vec<String> = run.history.iter().map(Entry::to_string).collect();
        match std::fs::write(&path, text.join("\n")) {
            Ok(()) => eprintln!("history saved in {}", path.display()),
            Err(e) => eprintln!("history not saved in {}: {e}", path.display()),
        }
    }
    for w in &lost {
        eprintln!("lost: {w}");
    }
    assert!(
        report.violations.is_empty() && lost.is_empty(),
        "chaos seed {}: not linearizable (replay with CHAOS_SEED={})",
        run.seed,
        run.seed
    );
    assert!(
        report.undecided.is_empty(),
        "seed {}: check undecided",
        run.seed
    );
    report.ops
}

/// The nodes' read policy: `CHAOS_READ_POLICY`, default `lease` (reads answered within the
/// leader's lease, the riskiest policy under pauses and transfers).
fn read_policy() -> String {
    std::env::var("CHAOS_READ_POLICY").unwrap_or_else(|_| "lease".into())
}

fn seed() -> u64 {
    match std::env::var("CHAOS_SEED") {
        Ok(s) => s.parse().expect("CHAOS_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// The short run of `cargo test`: every fault kind is drawn, the history is linearizable and
/// no acknowledged write is lost.
#[test]
fn a_short_chaos_run_is_linearizable() {
    let secs = env_u64("CHAOS_SECS", 15);
    let seed = seed();
    eprintln!("chaos seed {seed} ({secs} s; replay with CHAOS_SEED={seed})");
    let run = record(secs, seed, true);
    let ops = check_run(&run, secs);
    assert!(ops > 50, "seed {seed}: too few operations ({ops})");
}

/// The long mode: `CHAOS_RUNS` runs (default 10) of `CHAOS_SECS` (default 60) each.
#[test]
#[ignore = "long: CHAOS_SECS=60 CHAOS_RUNS=10"]
fn long_chaos_runs_are_linearizable() {
    let secs = env_u64("CHAOS_SECS", 60);
    let runs = env_u64("CHAOS_RUNS", 10);
    let first = seed();
    let mut total = 0;
    let mut failed = Vec::new();
    for i in 0..runs {
        let seed = first.wrapping_add(i);
        eprintln!("chaos run {}/{runs}: seed {seed}, {secs} s", i + 1);
        // A failed run is reported and the others still run.
        match std::panic::catch_unwind(|| check_run(&record(secs, seed, true), secs)) {
            Ok(ops) => total += ops,
            Err(_) => failed.push(seed),
        }
    }
    eprintln!(
        "chaos: {runs} runs of {secs} s, {total} ops in the passing runs; failed seeds: {failed:?}"
    );
    assert!(failed.is_empty(), "failed seeds: {failed:?}");
}

/// The checker catches a stale read and a lost write planted in a real history.
#[test]
fn the_checker_catches_a_stale_read_and_a_lost_write_planted_in_a_real_history() {
    let run = record(4, seed(), false);
    check_run(&run, 4);
    // Two acknowledged puts of one key, the second invoked after the first completed.
    let puts: Vec<&Entry> = run
        .history
        .iter()
        .filter(|e| matches!(e.op, Op::Put(_)) && e.ret.is_some())
        .collect();
    let (w1, w2) = puts
        .iter()
        .rev()
        .find_map(|w2| {
            puts.iter()
                .rev()
                .find(|w1| w1.key == w2.key && w1.complete.unwrap() < w2.invoke)
                .map(|w1| (**w1, **w2))
        })
        .expect("two sequential puts of one key");
    let old = w1.written();

    // A stale read: after w2 completed, a read returns w1's value.
    let mut stale = run.history.clone();
    let done = w2.complete.unwrap();
    stale.push(Entry {
        client: CLIENTS + 1,
        key: w2.key,
        op: Op::Get,
        invoke: done + 1,
        complete: Some(done + 2),
        ret: Some(Ret::Value(old)),
    });
    let report = checker::check(&stale);
    assert_eq!(report.violations.len(), 1, "the stale read is caught");
    eprintln!("planted stale read:\n{}", report.violations[0].excerpt(3));

    // A lost write: the final read of the key returns the value from before its last
    // acknowledged write, as if that write were lost.
    let mut lost = run.history.clone();
    let last = lost
        .iter()
        .rposition(|e| e.key == w2.key && e.acknowledged_write())
        .unwrap();
    let before = lost[..last]
        .iter()
        .rev()
        .find(|e| {
            e.key == w2.key && e.acknowledged_write() && e.complete.unwrap() < lost[last].invoke
        })
        .and_then(Entry::written);
    let final_read = lost
        .iter()
        .rposition(|e| e.key == w2.key && e.client == CLIENTS)
        .unwrap();
    lost[final_read].ret = Some(Ret::Value(before));
    let report = checker::check(&lost);
    assert_eq!(report.violations.len(), 1, "the lost write is caught");
    eprintln!("planted lost write:\n{}", report.violations[0].excerpt(3));
    let finals = [lost[final_read]];
    assert!(
        history::lost_writes(&lost, &finals).contains(&lost[last]),
        "the lost write is named"
    );
}

/// The fault hook cuts a node off and lets it back: isolated, it cannot be written through;
/// healed, it catches up.
#[test]
fn the_fault_hook_partitions_and_heals() {
    std::env::set_var(raft_std_driver::node::FAULT_HOOK_VAR, "1");
    let mut cluster: LocalCluster = common::start(3, &[]);
    let (mut client, leader, term) = common::leader_client(&mut cluster);
    let others: Vec<u32> = (1..=3).filter(|&o| o != leader).collect();
    cluster.drop_from(leader, &others).unwrap();
    for &o in &others {
        cluster.drop_from(o, &[leader]).unwrap();
    }
    // The majority elects another leader in a later term.
    let mut probe = cluster.client(common::opts()).unwrap();
    let (new_leader, _) = cluster
        .wait_for_leader(&mut probe, Some(leader), term, Duration::from_secs(10))
        .expect("the majority elects a leader");
    assert_ne!(new_leader, leader);
    nemesis::heal(&mut cluster);
    client.set_target(new_leader);
    common::put(&mut client, "after", "heal");
    common::wait_caught_up(&mut client, new_leader, leader);
}
