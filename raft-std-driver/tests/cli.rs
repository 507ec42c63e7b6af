//! The binaries' command lines: bad flags and configs give one `error:` line and a non-zero
//! exit, never a backtrace (clap's usage errors exit 2 and name the argument); global flags
//! anywhere; defaults and required arguments in `--help`; the client's settings from `RAFT_*`
//! variables or a config file; an absent key told apart from a stored value.

mod common;

use std::process::Output;

use common::{client_flags, code, raft_client, raft_node, run, run_env};
use raft_std_driver::local::LocalCluster;

fn assert_one_line_error(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: exit {:?}", out.status);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: {stderr}");
    assert!(lines[0].starts_with("error: "), "{what}: {stderr}");
}

#[test]
fn bad_node_flags_and_configs_give_one_line_errors() {
    let node = raft_node();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let k = key.to_str().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "id = \"one\"\n").unwrap();
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        format!("id = 1\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\nkey_file = \"{k}\"\ncolour = 3\n"),
    )
    .unwrap();
    let short_key = dir.path().join("short.key");
    std::fs::write(&short_key, "abcd").unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("unknown flag", vec!["--frobnicate"]),
        ("id not a number", vec!["--id", "x"]),
        (
            "missing id",
            vec!["--listen", "127.0.0.1:0", "--data-dir", d, "--key-file", k],
        ),
        (
            "bad peer",
            vec![
                "--id",
                "1",
                "--peer",
                "2:127.0.0.1:1",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                d,
                "--key-file",
                k,
            ],
        ),
        ("missing config", vec!["--config", "/nonexistent/raft.toml"]),
        (
            "bad toml value",
            vec!["--config", bad_toml.to_str().unwrap()],
        ),
        (
            "unknown toml key",
            vec!["--config", unknown.to_str().unwrap()],
        ),
        (
            "bad key file",
            vec![
                "--id",
                "1",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                d,
                "--key-file",
                short_key.to_str().unwrap(),
            ],
        ),
        (
            "bad timeouts",
            vec![
                "--id",
                "1",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                d,
                "--key-file",
                k,
                "--election-ticks",
                "2",
            ],
        ),
        (
            "voter outside the peer table",
            vec![
                "--id",
                "1",
                "--listen",
                "127.0.0.1:0",
                "--peer",
                "2=127.0.0.1:9",
                "--voters",
                "1,5",
                "--data-dir",
                d,
                "--key-file",
                k,
            ],
        ),
        (
            "voters not numbers",
            vec!["--id", "1", "--voters", "1,x", "--data-dir", d],
        ),
    ];
    for (what, args) in cases {
        assert_one_line_error(&run(node, &args), what);
    }
    assert!(run(node, &["--help"]).status.success());
}

#[test]
fn the_client_exits_6_with_one_line_when_no_node_replies() {
    let client = raft_client();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    // Nobody listens on these ports.
    let ports = silent_ports(2);
    let p1 = format!("1={}", ports[0]);
    let p2 = format!("2={}", ports[1]);
    let out = run(
        client,
        &[
            "--peer",
            &p1,
            "--peer",
            &p2,
            "--key-file",
            key.to_str().unwrap(),
            "--timeout-ms",
            "600",
            "put",
            "a",
            "b",
        ],
    );
    assert_one_line_error(&out, "unreachable");
    assert_eq!(code(&out), 6, "no reply");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no reply from any node"));
    assert_one_line_error(&run(client, &["put", "a"]), "client without peers");
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that `out` succeeded and printed exactly `text`.
fn assert_prints(out: &Output, text: &str) {
    assert_eq!(code(out), 0, "{}", stderr(out));
    assert_eq!(stdout(out), text);
}

/// A one-node cluster (it elects itself at once) and the client flags for it.
fn one_node() -> (LocalCluster, Vec<String>) {
    let cluster = common::start(1, &[]);
    let flags = client_flags(&cluster);
    (cluster, flags)
}

/// `raft-client` with `flags` after the subcommand `op`.
/// `raft-client put k VALUE` then `get k` (flags after the subcommand): "ok", then the value.
fn put_then_get(flags: &[String], value: &str) {
    assert_prints(&client(&["put", "k", value], flags), "ok\n");
    assert_prints(&client(&["get", "k"], flags), &format!("{value}\n"));
}

fn client(op: &[&str], flags: &[String]) -> Output {
    let mut args: Vec<&str> = op.to_vec();
    args.extend(flags.iter().map(String::as_str));
    run(raft_client(), &args)
}

#[test]
fn usage_errors_exit_2_naming_the_missing_argument() {
    let out = run(raft_client(), &["--peer", "1=127.0.0.1:9", "put", "a"]);
    assert_one_line_error(&out, "missing value");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("<VALUE>"), "{}", stderr(&out));
    let out = run(
        raft_node(),
        &["--listen", "127.0.0.1:0", "--data-dir", "/nonexistent"],
    );
    assert_one_line_error(&out, "node without --id");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--id") && stderr(&out).contains("--key-file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_shows_the_defaults() {
    let help = stdout(&run(raft_node(), &["--help"]));
    for default in [
        "[default: 10]",
        "[default: 15]",
        "[default: 1200]",
        "[default: read_index]",
    ] {
        assert!(
            help.contains(default),
            "raft-node --help lacks {default}: {help}"
        );
    }
    let help = stdout(&run(raft_client(), &["bench", "--help"]));
    for default in ["[default: 10000]", "[default: 16]"] {
        assert!(
            help.contains(default),
            "raft-client bench --help lacks {default}: {help}"
        );
    }
}

#[test]
fn help_shows_the_required_node_arguments() {
    let help = stdout(&run(raft_node(), &["--help"]));
    assert!(
        help.contains("Usage: raft-node --id <ID> --data-dir <DIR> --key-file <FILE>"),
        "{help}"
    );
    assert!(help.contains("Required"), "{help}");
}

#[test]
fn global_flags_work_after_the_subcommand() {
    let (_cluster, flags) = one_node();
    // The flags after the subcommand.
    put_then_get(&flags, "v");
}

#[test]
fn client_settings_come_from_raft_variables_and_a_config_file() {
    let (cluster, _) = one_node();
    let peers: Vec<String> = cluster.peers().iter().map(|p| p.to_string()).collect();
    let key = cluster.key_file().display().to_string();
    let vars = [
        ("RAFT_PEERS", peers.join(",")),
        ("RAFT_KEY_FILE", key.clone()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run_env(raft_client(), &["put", "k", "from-env"], &vars);
    assert_prints(&out, "ok\n");

    let config = cluster.root().join("client.toml");
    let quoted: Vec<String> = peers.iter().map(|p| format!("{p:?}")).collect();
    let toml = format!("peers = [{}]\nkey_file = {key:?}\n", quoted.join(", "));
    std::fs::write(&config, toml).unwrap();
    let path = config.to_str().unwrap();
    let out = run(raft_client(), &["get", "k", "--config", path]);
    assert_prints(&out, "from-env\n");
    let out = run_env(
        raft_client(),
        &["get", "k"],
        &[("RAFT_CLIENT_CONFIG", path)],
    );
    assert_prints(&out, "from-env\n");
}

#[test]
fn get_of_an_absent_key_is_told_apart_from_a_stored_value() {
    let (_cluster, flags) = one_node();
    put_then_get(&flags, "(absent)");
    let missing = client(&["get", "nothing-here"], &flags);
    assert_eq!(code(&missing), 4, "{}", stderr(&missing));
    assert_eq!(stdout(&missing), "");
}

/// `--rebuild` refuses with exit 1 and one line, changing nothing: on a directory a running
/// node holds, on nothing to move, and when no leader with a majority answers.
#[test]
fn rebuild_refuses_with_one_line_on_a_locked_dir_an_empty_dir_or_no_majority() {
    let node = raft_node();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let data = dir.path().join("n3");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("IDENTITY"), "damaged").unwrap();
    // Nobody listens on these ports.
    let ports = silent_ports(3);
    let peers: Vec<String> = (0..3).map(|i| format!("{}={}", i + 1, ports[i])).collect();
    let args = |data: &std::path::Path| -> Vec<String> {
        let mut a: Vec<String> = [
            "--id",
            "3",
            "--key-file",
            key.to_str().unwrap(),
            "--rebuild",
        ]
        .map(String::from)
        .to_vec();
        a.extend(["--data-dir".to_string(), data.display().to_string()]);
        for p in &peers {
            a.extend(["--peer".to_string(), p.clone()]);
        }
        a
    };
    let refused = |data: &std::path::Path, what: &str, says: &str| {
        let a = args(data);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = run(node, &a);
        assert_one_line_error(&out, what);
        assert_eq!(code(&out), 1, "{what}");
        let err = stderr(&out);
        assert!(
            err.contains("--rebuild refused") && err.contains(says),
            "{what}: {err}"
        );
    };
    let lock = raft_std_driver::storage::DirLock::acquire(&data).unwrap();
    refused(&data, "locked", "is locked by a running process");
    drop(lock);
    refused(&dir.path().join("absent"), "absent", "nothing to move");
    refused(&data, "no majority", "no leader with a majority");
    // Nothing was moved.
    assert!(data.join("IDENTITY").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    let help = stdout(&run(node, &["--help"]));
    assert!(
        help.contains("--rebuild") && help.contains("healthy majority"),
        "{help}"
    );
}

/// `n` loopback addresses nobody listens on (bound to find a free port, then released).
fn silent_ports(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string()
        })
        .collect()
}
