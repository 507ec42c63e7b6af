//! Runs the exhaustive model check of raft-core (see the crate docs).
//!
//! `cargo run --release -p raft-model` checks [`Bounds::SMALL`] (`.ci/run` runs it);
//! `RAFT_MODEL_BOUND=membership` [`Bounds::MEMBERSHIP`], `RAFT_MODEL_BOUND=features`
//! [`Bounds::FEATURES`], `RAFT_MODEL_BOUND=faults` [`Bounds::FAULTS`] and
//! `RAFT_MODEL_BOUND=prevote-cq` [`Bounds::PRE_VOTE_CQ`] (all in `.ci/run` too), the opt-in
//! `RAFT_MODEL_BOUND=large` [`Bounds::LARGE`], `RAFT_MODEL_BOUND=features-large`
//! [`Bounds::FEATURES_LARGE`], `RAFT_MODEL_BOUND=faults-large` [`Bounds::FAULTS_LARGE`] and
//! `RAFT_MODEL_BOUND=prevote-cq-faults` [`Bounds::PRE_VOTE_CQ_FAULTS`], and
//! `RAFT_MODEL_BOUND=one-election` the former single-tick bound; `terms`, `lease`,
//! `membership-wide` and the scripted `overwrite`, `read-after-change`, `lease-after-change`
//! and `change-split` are the bug catalogue's (`VERIFICATION.md`). A depth-bounded search runs
//! on one thread (exact breadth first; `RAFT_MODEL_THREADS` overrides), other `RAFT_MODEL_*`
//! variables tune a bound by hand. Prints the states explored and the time; exits non-zero if an
//! `always` property has a counterexample or a `sometimes` property has no example. A
//! counterexample, cut at its first violating step, prints three ways: a step-by-step trace (every frame decoded, every node
//! after each step), a Rust test to paste into `raft-model/tests/`, and a command that
//! replays the path (`RAFT_MODEL_REPLAY="Tick(0) Deliver(1) ..."`: trace only, no search).

use std::process::ExitCode;
use std::time::Instant;

use raft_model::{Bounds, RaftModel};
use stateright::{Checker, Expectation, Model};

fn main() -> ExitCode {
    let expect = match injected() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (name, bounds) = match std::env::var("RAFT_MODEL_BOUND").as_deref() {
        Ok("large") => ("large", Bounds::LARGE),
        Ok("one-election") => ("one-election", Bounds::ONE_ELECTION),
        Ok("membership") => ("membership", Bounds::MEMBERSHIP),
        Ok("faults") => ("faults", Bounds::FAULTS),
        Ok("faults-large") => ("faults-large", Bounds::FAULTS_LARGE),
        Ok("prevote-cq") => ("prevote-cq", Bounds::PRE_VOTE_CQ),
        Ok("prevote-cq-faults") => ("prevote-cq-faults", Bounds::PRE_VOTE_CQ_FAULTS),
        Ok("features") => ("features", Bounds::FEATURES),
        Ok("features-large") => ("features-large", Bounds::FEATURES_LARGE),
        Ok("terms") => ("terms", Bounds::TERMS),
        Ok("lease") => ("lease", Bounds::LEASE),
        Ok("membership-wide") => ("membership-wide", Bounds::MEMBERSHIP_WIDE),
        Ok("joint") => ("joint", Bounds::JOINT),
        Ok("overwrite") => ("overwrite", Bounds::OVERWRITE),
        Ok("read-after-change") => ("read-after-change", Bounds::READ_AFTER_CHANGE),
        Ok("lease-after-change") => ("lease-after-change", Bounds::LEASE_AFTER_CHANGE),
        Ok("change-split") => ("change-split", Bounds::CHANGE_SPLIT),
        Ok("small") | Err(_) => ("small", Bounds::SMALL),
        Ok(other) => {
            eprintln!(
                "RAFT_MODEL_BOUND must be small, faults, prevote-cq, membership, features, large, \
                 features-large, faults-large, prevote-cq-faults, terms, lease, membership-wide, \
                 overwrite, read-after-change, lease-after-change, change-split, \
                 joint or one-election, not {other}"
            );
            return ExitCode::FAILURE;
        }
    };
    let mut bounds = bounds;
    // Tuning knobs for exploring bounds by hand; .ci/run uses none of them.
    let knobs: [Knob; 19] = [
        ("RAFT_MODEL_TICKS", |b, t| b.ticks = t),
        ("RAFT_MODEL_NET", |b, n| b.max_in_flight = usize::from(n)),
        ("RAFT_MODEL_FAULTS", |b, f| b.faults = f),
        ("RAFT_MODEL_DROPS", |b, n| b.drops = n),
        ("RAFT_MODEL_DUPS", |b, n| b.duplicates = n),
        ("RAFT_MODEL_CRASHES", |b, n| b.crashes = n),
        ("RAFT_MODEL_DEPTH", |b, n| {
            b.max_depth = (n > 0).then_some(usize::from(n))
        }),
        ("RAFT_MODEL_REBOOT", |b, n| b.reboot = n != 0),
        ("RAFT_MODEL_CHANGES", |b, n| b.changes = n),
        ("RAFT_MODEL_LOG", |b, n| b.max_log = u64::from(n)),
        ("RAFT_MODEL_TERM", |b, n| b.max_term = u64::from(n)),
        ("RAFT_MODEL_SNAPSHOTS", |b, n| b.snapshots = n),
        ("RAFT_MODEL_TRANSFERS", |b, n| b.transfers = n),
        ("RAFT_MODEL_READ_INDEX", |b, n| b.read_index = n != 0),
        // The first `n` clients only.
        ("RAFT_MODEL_CLIENTS", |b, n| {
            b.clients = &b.clients[..usize::from(n).min(b.clients.len())]
        }),
        ("RAFT_MODEL_TICKERS", |b, n| b.tickers = n),
        ("RAFT_MODEL_MACRO", |b, n| b.macro_ticks = n != 0),
        ("RAFT_MODEL_PRE_VOTE", |b, n| b.pre_vote = n != 0),
        ("RAFT_MODEL_CHECK_QUORUM", |b, n| b.check_quorum = n != 0),
    ];
    for (name, set) in knobs {
        if let Some(n) = env_u8(name) {
            set(&mut bounds, n);
        }
    }
    let model = RaftModel { bounds };
    if let Err(e) = model.scripted_start() {
        eprintln!("raft-model: {name}: {e}");
        return ExitCode::FAILURE;
    }
    if let Ok(text) = std::env::var("RAFT_MODEL_REPLAY") {
        return match RaftModel::parse_path(&text) {
            Ok(path) => {
                let trace = model.trace(&path);
                print!("{trace}");
                if model.replay(&path).is_ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("RAFT_MODEL_REPLAY: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // A depth-bounded search is exact only breadth first level by level, which stateright's
    // search is on one thread (a FIFO queue); its threads share work in no fixed order, so
    // with several a state may first be reached by a longer path and its successors fall
    // past the depth bound (the count then varies from run to run). Without a depth bound
    // every reachable state is explored whatever the order: all cores.
    let threads = env_u8("RAFT_MODEL_THREADS")
        .filter(|&t| t > 0)
        .map(usize::from)
        .unwrap_or_else(|| match bounds.max_depth {
            Some(_) => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        });
    println!("raft-model: {name} bound {bounds:?}, {threads} threads");
    let properties = model.properties();
    let start = Instant::now();
    let checker = if std::env::var_os("RAFT_MODEL_PROGRESS").is_some() {
        let mut stdout = std::io::stdout();
        let mut reporter = stateright::report::WriteReporter::new(&mut stdout);
        checker(&model, threads)
            .spawn_bfs()
            .join_and_report(&mut reporter)
    } else {
        checker(&model, threads).spawn_bfs().join()
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "raft-model: {} unique states ({} generated), max depth {}, {secs:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth()
    );
    let mut ok = true;
    let mut expected_found = false;
    for p in properties {
        let found = checker.discovery(p.name);
        match (p.expectation, found) {
            (Expectation::Always, Some(path)) => {
                if expect.as_deref() == Some(p.name) {
                    expected_found = true;
                } else {
                    ok = false;
                }
                let actions = path.into_actions();
                let actions = model.up_to_first_violation(&actions).to_vec();
                println!("VIOLATED: {} after {} steps:\n", p.name, actions.len());
                print!("{}", model.trace(&actions));
                println!("\nAs a regression test (paste into raft-model/tests/):\n");
                println!("{}", RaftModel::path_as_rust(&bounds, &actions));
                let items: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
                println!(
                    "Replay it (trace only): RAFT_MODEL_BOUND={name} RAFT_MODEL_REPLAY=\"{}\" \
                     cargo run --release -p raft-model",
                    items.join(" ")
                );
            }
            (Expectation::Sometimes, None) => {
                ok = false;
                println!("NEVER: {} (no reachable example)", p.name);
            }
            (Expectation::Sometimes, Some(path)) => {
                let actions = path.into_actions();
                println!("ok: {} (example in {} steps)", p.name, actions.len());
                if std::env::var_os("RAFT_MODEL_EXAMPLES").is_some() {
                    println!("{}", RaftModel::path_as_rust(&bounds, &actions));
                }
            }
            (_, _) => println!("ok: {}", p.name),
        }
    }
    if let Some(name) = expect {
        // An injected bug: what matters is that its property broke (the search stopped at
        // the first counterexample, so the others may be unreached).
        return if expected_found {
            println!("raft-model: the injected bug broke \"{name}\", as expected");
            ExitCode::SUCCESS
        } else {
            println!("raft-model: the injected bug did NOT break \"{name}\" within the bound");
            ExitCode::FAILURE
        };
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `RAFT_INJECT=<bug>[,<bug>...]` (with the `inject` feature) switches raft-core's injected
/// bugs on for this run; `RAFT_MODEL_EXPECT=<property>` then names the `always` property the
/// bug must break, and the run succeeds only if it does. Returns that property.
fn injected() -> Result<Option<String>, String> {
    let bugs = std::env::var("RAFT_INJECT").unwrap_or_default();
    let expect = std::env::var("RAFT_MODEL_EXPECT").ok();
    if bugs.is_empty() {
        return match expect {
            Some(_) => Err("RAFT_MODEL_EXPECT needs RAFT_INJECT".into()),
            None => Ok(None),
        };
    }
    #[cfg(feature = "inject")]
    {
        use raftcore::inject::{self, Bug};
        let mut on = Vec::new();
        for name in bugs.split(',') {
            let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
            let bug = Bug::parse(name.trim())
                .ok_or_else(|| format!("RAFT_INJECT: unknown bug {name} (known: {known:?})"))?;
            on.push(bug);
        }
        inject::set(&on);
        println!("raft-model: injected bugs {on:?}");
        Ok(expect)
    }
    #[cfg(not(feature = "inject"))]
    {
        let _ = expect;
        Err(format!(
            "RAFT_INJECT={bugs} needs the inject feature: cargo run --release -p raft-model --features inject"
        ))
    }
}

/// The BFS checker for `model`: its depth bound, and a stop at the first counterexample of
/// an `always` property.
fn checker(model: &RaftModel, threads: usize) -> stateright::CheckerBuilder<RaftModel> {
    let builder = model
        .clone()
        .checker()
        .threads(threads)
        .finish_when(stateright::HasDiscoveries::AnyFailures);
    match model.bounds.max_depth {
        Some(d) => builder.target_max_depth(d),
        None => builder,
    }
}

/// A tuning knob: the environment variable and how its value changes the bounds.
type Knob = (&'static str, fn(&mut Bounds, u8));

fn env_u8(name: &str) -> Option<u8> {
    std::env::var(name).ok()?.parse().ok()
}
