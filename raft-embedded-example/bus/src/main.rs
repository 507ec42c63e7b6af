//! `raft-board-bus`: runs the three-board cluster (three QEMU boards and the bus), or with
//! `--mixed` the mixed cluster (two boards and a `raft-node`, see `mixed`), and prints what it
//! saw; exits 0 only if every check passed.
//!
//! ```text
//! raft-board-bus --elf PATH [--dir DIR] [--seed N] [--writes N] [--flash-kib N] [--no-faults]
//! raft-board-bus --mixed --elf PATH --raft-node PATH [--kill board|host] [--dir DIR] [--seed N] [--writes N] [--flash-kib N]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use raft_board_bus::boards::{qemu_available, BoardSetup};
use raft_board_bus::faults::FaultConfig;
use raft_board_bus::mixed::{self, Kind, MixedConfig};
use raft_board_bus::scenario::{self, RunConfig};

fn usage(why: &str) -> ExitCode {
    eprintln!("raft-board-bus: {why}");
    eprintln!("usage: raft-board-bus --elf PATH [--dir DIR] [--seed N] [--writes N] [--flash-kib N] [--no-faults]");
    eprintln!("       raft-board-bus --mixed --elf PATH --raft-node PATH [--kill board|host] [--dir DIR] [--seed N] [--writes N] [--flash-kib N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut elf = None;
    let mut dir = std::env::temp_dir().join("raft-boards");
    let mut seed = 7u64;
    let mut writes = 100u32;
    let mut flash_kib = 64u32;
    let mut faults = FaultConfig::DEFAULT;
    let mut mixed = false;
    let mut raft_node = None;
    let mut kill = Kind::Board;
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
            "--flash-kib" => match args.next().and_then(|s| s.parse().ok()) {
                Some(k) if k >= 16 && k % 8 == 0 => flash_kib = k,
                _ => return usage(
                    "--flash-kib needs a multiple of 8 (two halves of 4 KiB units), at least 16",
                ),
            },
            "--no-faults" => faults = FaultConfig::NONE,
            "--mixed" => mixed = true,
            "--raft-node" => raft_node = args.next().map(PathBuf::from),
            "--kill" => match args.next().as_deref() {
                Some("board") => kill = Kind::Board,
                Some("host") => kill = Kind::Host,
                _ => return usage("--kill needs board or host"),
            },
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let Some(elf) = elf else {
        return usage("--elf is required (the firmware's raft-board ELF)");
    };
    if !qemu_available() {
        return usage("qemu-system-arm not found");
    }
    if mixed {
        let Some(raft_node) = raft_node else {
            return usage("--mixed needs --raft-node (the raft-node binary)");
        };
        let cfg = MixedConfig {
            setup: BoardSetup {
                elf,
                dir,
                seed,
                flash_kib,
            },
            raft_node,
            writes,
            kill,
        };
        return match mixed::run(&cfg) {
            Ok(summary) => {
                println!("{summary}");
                println!("mixed run: PASS");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mixed run: FAIL: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let cfg = RunConfig {
        setup: BoardSetup {
            elf,
            dir,
            seed,
            flash_kib,
        },
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
