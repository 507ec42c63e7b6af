//! The mixed cluster as a test: two QEMU boards and one `raft-node` on the host, the boards'
//! frames forwarded as UDP datagrams (unchanged, one loopback address per board). Run twice
//! with different seeds: once killing a board leader, once killing the host node as leader
//! (leadership is steered to that kind by cutting the leader off at the bus), each time a
//! leader, 100 writes acknowledged and applied on every node, the leader SIGKILLed and
//! restarted, a new leader within 2 election timeouts, no acknowledged write missing on any
//! node.
//!
//! SKIPPED (with a message) when `qemu-system-arm` or the thumbv7em target is missing, unless
//! `RAFT_REQUIRE_QEMU=1` (set by `.ci/run`), which makes a skip a failure.
//!
//! The `raft-node` binary is the one `cargo test --workspace` builds beside this test (in the
//! same target directory); when it is not there (e.g. `cargo test -p raft-board-bus`), it is
//! built into `<target>/mixed-raft-node` (a target directory of its own, since this test's
//! cargo holds the lock of its own).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

/// The `raft-node` binary: beside this test, else built (see the module docs).
fn raft_node() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // <target>/<profile>/deps/<test>
    let profile = exe.parent().and_then(Path::parent).expect("target layout");
    let beside = profile.join("raft-node");
    if beside.is_file() {
        return beside;
    }
    let target = profile
        .parent()
        .expect("target dir")
        .join("mixed-raft-node");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "raft-std-driver", "--bin", "raft-node"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root)
        .stdout(Stdio::null())
        .status()
        .expect("run cargo build for raft-node");
    assert!(status.success(), "raft-node did not build");
    target.join("debug/raft-node")
}

fn run(fw: &Path, node: &Path, seed: u64, kill: &str) -> String {
    let dir = std::env::temp_dir().join(format!("raft-mixed-test-{}-{kill}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_raft-board-bus"))
        .arg("--mixed")
        .arg("--elf")
        .arg(raft_board_bus::boards::board_elf(fw))
        .arg("--raft-node")
        .arg(node)
        .args(["--kill", kill, "--seed", &seed.to_string()])
        .arg("--dir")
        .arg(&dir)
        .output()
        .expect("run raft-board-bus --mixed");
    let log = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        out.status.success(),
        "the mixed run (seed {seed}, kill {kill}) failed; logs kept in {}\n{log}",
        dir.display()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = match kill {
        "host" => "killed Host node 3",
        _ => "killed Board node",
    };
    assert!(stdout.contains(want), "expected '{want}' in\n{log}");
    assert!(
        stdout.contains("writes acknowledged 105; missing: 0"),
        "{log}"
    );
    stdout
}

#[test]
fn a_mixed_cluster_survives_killing_a_board_leader_and_the_host_leader() {
    let Some(fw) = common::built_firmware(
        "a_mixed_cluster_survives_killing_a_board_leader_and_the_host_leader",
    ) else {
        return;
    };
    let node = raft_node();
    // One run after the other: each is three processes on a shared machine.
    let board = run(&fw, &node, 11, "board");
    let host = run(&fw, &node, 23, "host");
    eprintln!("--- kill a board leader (seed 11) ---\n{board}\n--- kill the host leader (seed 23) ---\n{host}");
}
