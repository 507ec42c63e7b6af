//! A data directory serves one `raft-node` process at a time: a second process started on it
//! exits non-zero with one line naming the lock, before writing anything there, and the lock
//! goes with the first process when it dies (`kill -9`).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn node_cmd(data: &Path, key: &Path, id: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raft-node"));
    cmd.args(["--id", id, "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--key-file")
        .arg(key)
        .env("RUST_LOG", "off")
        .env("RUST_BACKTRACE", "1");
    cmd
}

/// Runs a node that is expected to refuse the directory: it must exit within 20 s.
fn run_refused(data: &Path, key: &Path, id: &str) -> Output {
    let mut child = node_cmd(data, key, id)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the second raft-node did not exit: it runs on a locked data directory");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn one_error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0].to_owned()
}

/// Starts a node and waits until it has opened its storage (its hard-state copies exist).
fn start(data: &Path, key: &Path) -> Child {
    let mut child = node_cmd(data, key, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("wal").join("hardstate.1").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the first node exited");
        assert!(Instant::now() < deadline, "the first node did not open");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_second_raft_node_on_a_locked_data_dir_exits_naming_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let data = tmp.path().join("node-1");
    let mut first = start(&data, &key);
    let epoch = std::fs::read(data.join("epoch")).unwrap();

    let line = one_error_line(&run_refused(&data, &key, "1"));
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("locked by another process"), "{line}");
    assert!(line.contains("LOCK"), "{line}");
    // Refused before anything was written: the first node's boot epoch is still the file's.
    assert_eq!(std::fs::read(data.join("epoch")).unwrap(), epoch);

    // The kernel drops the lock with the process: a node starts there again after kill -9.
    first.kill().unwrap();
    first.wait().unwrap();
    let mut again = start(&data, &key);
    again.kill().unwrap();
    again.wait().unwrap();
}

#[test]
fn a_node_started_with_another_nodes_data_dir_exits_naming_both_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let data = tmp.path().join("node-1");
    let mut first = start(&data, &key);
    first.kill().unwrap();
    first.wait().unwrap();
    let epoch = std::fs::read(data.join("epoch")).unwrap();

    let line = one_error_line(&run_refused(&data, &key, "2"));
    assert!(
        line.contains("belongs to node 1 of cluster 0") && line.contains("not to node 2"),
        "{line}"
    );
    assert_eq!(std::fs::read(data.join("epoch")).unwrap(), epoch);
}
