//! The README's cluster by hand on one machine, run as written: the `sh` blocks marked
//! `<!-- readme-test: by-hand -->`, in order, as one `sh -e` script in a scratch directory,
//! with the `raft-node` and `raft-client` built with these tests first on `PATH` (where
//! `cargo install` puts them for a reader) and the README's ports 7001-7003 replaced by free
//! ones. The script gets a bounded time; it and every process it started (one process group)
//! are killed when the test ends, however it ends.
#![cfg(unix)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, raft_client, raft_node, CLIENT_VARS};

/// The README these blocks come from (also the crate docs).
const README: &str = include_str!("../README.md");

/// The line before each block the test runs.
const MARKER: &str = "<!-- readme-test: by-hand -->";

/// How long the whole script may take (it starts three nodes, elects a leader and makes
/// three client calls: about a second when the machine is idle).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(90);

/// The `sh` blocks that follow `marker` in `readme`, in order. A marker that is not followed
/// by a ```` ```sh ```` block fails the test (a marked block that silently stopped running would
/// be rot of its own).
fn marked_blocks(readme: &str, marker: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != marker {
            continue;
        }
        let fence = lines.by_ref().find(|l| !l.trim().is_empty());
        assert_eq!(
            fence.map(str::trim),
            Some("```sh"),
            "`{marker}` must be followed by a ```sh block"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(body.join("\n") + "\n");
    }
    blocks
}

/// `n` distinct free UDP ports on 127.0.0.1 (held together while chosen, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// Sends `signal` (a name, or 0 to probe) to every process of group `pgid`; whether any
/// process was there to receive it.
fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} -{pgid} 2>/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

/// The running script: its own process group, with the nodes it starts in the background.
/// Dropping it kills the whole group.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        signal_group(self.0.id(), "KILL");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The script's output and the nodes' logs, for a failure message.
fn report(dir: &Path) -> String {
    let mut out = String::new();
    let mut files = vec![dir.join("stdout"), dir.join("stderr")];
    for id in 1..=3 {
        files.push(dir.join("raft-by-hand").join(format!("node{id}.log")));
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| format!("({e})"));
        out += &format!("--- {}\n{text}", f.display());
    }
    out
}

#[test]
fn the_single_machine_cluster_by_hand_runs_as_written() {
    let blocks = marked_blocks(README, MARKER);
    assert!(
        !blocks.is_empty(),
        "no block marked `{MARKER}` in the README"
    );
    let mut script = blocks.concat();
    for (i, port) in free_ports(3).into_iter().enumerate() {
        let readme_addr = format!("127.0.0.1:700{}", i + 1);
        assert!(
            script.contains(&readme_addr),
            "the README's blocks no longer use {readme_addr}: update this test's substitution"
        );
        script = script.replace(&readme_addr, &format!("127.0.0.1:{port}"));
    }

    let dir = tempfile::tempdir().unwrap();
    let bin_dir = raft_node().parent().unwrap();
    assert_eq!(raft_client().parent(), Some(bin_dir));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    std::fs::write(dir.path().join("by-hand.sh"), &script).unwrap();

    let mut cmd = Command::new("sh");
    cmd.arg("-e")
        .arg("by-hand.sh")
        .current_dir(dir.path())
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .stdin(Stdio::null())
        // Files, not pipes: the nodes inherit them and outlive a failed script.
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .process_group(0);
    for var in CLIENT_VARS {
        cmd.env_remove(var);
    }
    let mut running = Script(cmd.spawn().unwrap());
    let pgid = running.0.id();

    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < SCRIPT_DEADLINE,
            "the README's blocks did not finish within {SCRIPT_DEADLINE:?}:\n{script}\n{}",
            report(dir.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "the README's blocks failed ({status}):\n{script}\n{}",
        report(dir.path())
    );

    // The client's answers: the put, the get, then one status line per node with one leader.
    let stdout = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.len() == 5 && lines[0] == "ok" && lines[1] == "hello",
        "unexpected client output:\n{}",
        report(dir.path())
    );
    for (id, line) in (1..=3).zip(&lines[2..]) {
        assert!(
            line.starts_with(&format!("node {id} (127.0.0.1:")),
            "status line {line:?}"
        );
    }
    let leaders = lines[2..]
        .iter()
        .filter(|l| l.contains("): leader term"))
        .count();
    assert_eq!(leaders, 1, "status:\n{stdout}");

    // The stop block stopped every node, cleanly.
    assert!(
        eventually(20, || !signal_group(pgid, "0")),
        "nodes still running after the README's stop block:\n{}",
        report(dir.path())
    );
    let here = dir.path().join("raft-by-hand");
    assert!(!here.join("raft.pids").exists());
    for id in 1..=3 {
        let log = std::fs::read_to_string(here.join(format!("node{id}.log"))).unwrap();
        assert!(
            log.contains(&format!("stopped id={id}")),
            "node {id} did not stop cleanly:\n{log}"
        );
    }
}
