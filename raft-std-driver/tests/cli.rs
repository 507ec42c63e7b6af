//! Bad flags and configs give one `error:` line and a non-zero exit, never a backtrace; an
//! unreachable cluster makes the client exit non-zero with one line.

use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

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
    let node = env!("CARGO_BIN_EXE_raft-node");
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
fn the_client_exits_nonzero_with_one_line_when_the_cluster_is_unreachable() {
    let client = env!("CARGO_BIN_EXE_raft-client");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    // Nobody listens on these ports.
    let ports: Vec<String> = (0..2)
        .map(|_| {
            std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string()
        })
        .collect();
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
    assert_one_line_error(&run(client, &["put", "a"]), "client without peers");
}
