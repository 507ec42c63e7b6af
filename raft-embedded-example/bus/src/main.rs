//! `raft-board-bus`: runs the three-board cluster (three QEMU boards and the bus) and prints
//! what it saw; exits 0 only if every check passed.
//!
//! ```text
//! raft-board-bus --elf PATH [--dir DIR] [--seed N] [--writes N] [--no-faults]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use raft_board_bus::boards::{qemu_available, BoardSetup};
use raft_board_bus::faults::FaultConfig;
use raft_board_bus::scenario::{self, RunConfig};

fn usage(why: &str) -> ExitCode {
    eprintln!("raft-board-bus: {why}");
    eprintln!("usage: raft-board-bus --elf PATH [--dir DIR] [--seed N] [--writes N] [--no-faults]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut elf = None;
    let mut dir = std::env::temp_dir().join("raft-boards");
    let mut seed = 7u64;
    let mut writes = 100u32;
    let mut faults = FaultConfig::DEFAULT;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--elf" => elf = args.next().map(PathBuf::from),
            "--dir" => match args.next() {
                Some(d) => dir = PathBuf::from(d),
                None => return usage("--dir needs a directory"),
            },
            "--seed" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => return usage("--seed needs a number"),
            },
            "--writes" => match args.next().and_then(|s| s.parse().ok()) {
                Some(w) => writes = w,
                None => return usage("--writes needs a number"),
            },
            "--no-faults" => faults = FaultConfig::NONE,
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let Some(elf) = elf else {
        return usage("--elf is required (the firmware's raft-board ELF)");
    };
    if !qemu_available() {
        return usage("qemu-system-arm not found");
    }
    let cfg = RunConfig {
        setup: BoardSetup { elf, dir, seed },
        writes,
        faults,
        hostile_per_board: 12,
    };
    match scenario::run(&cfg) {
        Ok(summary) => {
            println!("{summary}");
            println!("three-board run: PASS");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("three-board run: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
