//! The three-board run as a test: builds the firmware's `raft-board` image, then runs the
//! `raft-board-bus` binary, which starts three QEMU boards and the bus and checks the run (a
//! leader, 300 writes acknowledged and applied on every board, hostile bytes counted and
//! dropped, forged, replayed and earlier-boot sealed datagrams counted exactly, the leader
//! SIGKILLed and restarted under a greater epoch, a new leader within 2 election timeouts,
//! nothing acknowledged missing). 300 writes are beyond a board's log window (160 entries)
//! and 16 KiB flash regions (halves of 8 KiB) beyond its journal's half: the run checks
//! every board compacted its log, and this test that every board's journal was collected.
//!
//! SKIPPED (with a message) when `qemu-system-arm` or the thumbv7em target is missing, unless
//! `RAFT_REQUIRE_QEMU=1` (set by `.ci/run`), which makes a skip a failure.

use std::process::Command;

mod common;

#[test]
fn three_boards_elect_replicate_and_survive_a_power_cut() {
    let Some(fw) = common::built_firmware("three_boards_elect_replicate_and_survive_a_power_cut")
    else {
        return;
    };

    let dir = std::env::temp_dir().join(format!("raft-boards-test-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_raft-board-bus"))
        .arg("--elf")
        .arg(raft_board_bus::boards::board_elf(&fw))
        .arg("--dir")
        .arg(&dir)
        .args(["--writes", "300", "--flash-kib", "16"])
        .output()
        .expect("run raft-board-bus");
    let log = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "the three-board run failed\n{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let collections: Vec<u32> = stdout
        .split("journal collections ")
        .skip(1)
        .filter_map(|s| s.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(collections.len(), 3, "one report per board\n{log}");
    assert!(
        collections.iter().all(|&n| n >= 1),
        "every board's journal collected at least once\n{log}"
    );
    eprintln!("{log}");
}
