//! Runs the exhaustive model check of raft-core (see the crate docs).
//!
//! `cargo run --release -p raft-model` checks [`Bounds::SMALL`] (what `.ci/run` runs);
//! `RAFT_MODEL_BOUND=large` checks [`Bounds::LARGE`]. Prints the states explored and the
//! time; exits non-zero if an `always` property has a counterexample (printed as a Rust
//! regression test) or a `sometimes` property has no example.

use std::process::ExitCode;
use std::time::Instant;

use raft_model::{Bounds, RaftModel};
use stateright::{Checker, Expectation, Model};

fn main() -> ExitCode {
    let (name, bounds) = match std::env::var("RAFT_MODEL_BOUND").as_deref() {
        Ok("large") => ("large", Bounds::LARGE),
        Ok("small") | Err(_) => ("small", Bounds::SMALL),
        Ok(other) => {
            eprintln!("RAFT_MODEL_BOUND must be small or large, not {other}");
            return ExitCode::FAILURE;
        }
    };
    let mut bounds = bounds;
    // Tuning knobs for exploring bounds by hand; .ci/run uses neither.
    if let Some(t) = env_u8("RAFT_MODEL_TICKS") {
        bounds.ticks = t;
    }
    if let Some(n) = env_u8("RAFT_MODEL_NET") {
        bounds.max_in_flight = usize::from(n);
    }
    if let Some(f) = env_u8("RAFT_MODEL_FAULTS") {
        bounds.faults = f;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("raft-model: {name} bound {bounds:?}, {threads} threads");
    let model = RaftModel { bounds };
    let properties = model.properties();
    let start = Instant::now();
    let checker = if std::env::var_os("RAFT_MODEL_PROGRESS").is_some() {
        let mut stdout = std::io::stdout();
        let mut reporter = stateright::report::WriteReporter::new(&mut stdout);
        model
            .checker()
            .threads(threads)
            .spawn_bfs()
            .join_and_report(&mut reporter)
    } else {
        model.checker().threads(threads).spawn_bfs().join()
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "raft-model: {} unique states ({} generated), max depth {}, {secs:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth()
    );
    let mut ok = true;
    for p in properties {
        let found = checker.discovery(p.name);
        match (p.expectation, found) {
            (Expectation::Always, Some(path)) => {
                ok = false;
                let actions = path.into_actions();
                println!("VIOLATED: {} after {} steps:", p.name, actions.len());
                println!("{}", RaftModel::path_as_rust(&actions));
            }
            (Expectation::Sometimes, None) => {
                ok = false;
                println!("NEVER: {} (no reachable example)", p.name);
            }
            (Expectation::Sometimes, Some(path)) => {
                let actions = path.into_actions();
                println!("ok: {} (example in {} steps)", p.name, actions.len());
                if std::env::var_os("RAFT_MODEL_EXAMPLES").is_some() {
                    println!("{}", RaftModel::path_as_rust(&actions));
                }
            }
            (_, _) => println!("ok: {}", p.name),
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn env_u8(name: &str) -> Option<u8> {
    std::env::var(name).ok()?.parse().ok()
}
