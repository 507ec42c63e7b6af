//! What the driver's integration tests share: starting nodes (as `raft-node` processes or as
//! in-process `Node`s), client options, bounded waits and the usual writes and reads.
//! Every wait here is bounded; none asserts a wall-clock duration.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use raft_std_driver::admin::MemberRefusal;
use raft_std_driver::client::{Client, ClientError, ClientOptions};
use raft_std_driver::config::{NodeConfig, RawConfig};
use raft_std_driver::kv::{Command as Kv, Request, Response};
use raft_std_driver::local::LocalCluster;

/// The `raft-node` binary built with these tests.
pub fn raft_node() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_raft-node"))
}

/// The `raft-client` binary built with these tests.
pub fn raft_client() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_raft-client"))
}

/// The `RAFT_*` variables `raft-client` reads.
pub const CLIENT_VARS: [&str; 4] = [
    "RAFT_PEERS",
    "RAFT_KEY_FILE",
    "RAFT_TIMEOUT_MS",
    "RAFT_CLIENT_CONFIG",
];

/// Runs `bin` with `args` to its end (the binaries' own deadlines bound it), with backtraces
/// on and only the `RAFT_*` variables of `env`.
pub fn run_env(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args).env("RUST_BACKTRACE", "1");
    for var in CLIENT_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

/// [`run_env`] without `RAFT_*` variables.
pub fn run(bin: &Path, args: &[&str]) -> Output {
    run_env(bin, args, &[])
}

/// The exit code of a finished binary.
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

/// `raft-client`'s `--peer` flags for every node of `cluster`, and `--key-file`.
pub fn client_flags(cluster: &LocalCluster) -> Vec<String> {
    let mut flags: Vec<String> = cluster
        .peers()
        .iter()
        .flat_map(|p| ["--peer".to_string(), p.to_string()])
        .collect();
    flags.push("--key-file".into());
    flags.push(cluster.key_file().display().to_string());
    flags
}

/// `n` voters as `raft-node` processes on 127.0.0.1, each given `extra` flags.
pub fn start(n: usize, extra: &[&str]) -> LocalCluster {
    LocalCluster::start(raft_node(), n, extra).expect("start nodes")
}

/// Client options for tests: short attempts, a 10 s deadline.
pub fn opts() -> ClientOptions {
    ClientOptions {
        attempt_timeout: Duration::from_millis(300),
        deadline: Duration::from_secs(10),
    }
}

/// A client aimed at the cluster's leader, once there is one, and that leader's id and term.
pub fn leader_client(cluster: &mut LocalCluster) -> (Client, u32, u64) {
    let mut client = cluster.client(opts()).unwrap();
    let (leader, term) = cluster
        .wait_for_leader(&mut client, None, 0, Duration::from_secs(10))
        .expect("a leader");
    client.set_target(leader);
    (client, leader, term)
}

/// Node `id`'s `stats.json` counters, asked through `client` (up to 50 attempts).
pub fn stats(client: &mut Client, id: u32) -> serde_json::Value {
    for _ in 0..50 {
        if let Ok(Some(v)) = client.stats(id) {
            return v;
        }
    }
    panic!("node {id} does not answer the stats request");
}

/// Polls until `f` holds or `secs` pass.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Writes `k = v` through the client and asserts it was acknowledged.
pub fn put(client: &mut Client, k: &str, v: &str) {
    let r = client.execute(Kv::Put {
        key: k.into(),
        value: v.into(),
    });
    assert_eq!(r.unwrap(), Response::Written, "put {k}");
}

/// Writes the `i`th of a numbered series, `k{i} = v{i}`.
pub fn put_nth(client: &mut Client, i: u32) {
    put(client, &format!("k{i}"), &format!("v{i}"));
}

/// A linearizable read of `k`.
pub fn get(client: &mut Client, k: &str) -> Response {
    client.execute(Kv::Get { key: k.into() }).unwrap()
}

/// Waits until node `down` has applied everything the leader has committed.
pub fn wait_caught_up(client: &mut Client, leader: u32, down: u32) {
    let mut commit = 0;
    assert!(
        eventually(20, || {
            let leader_status = client.status(leader).ok().flatten();
            let node_status = client.status(down).ok().flatten();
            match (leader_status, node_status) {
                (Some(l), Some(n)) => {
                    commit = l.commit;
                    n.applied >= l.commit
                }
                _ => false,
            }
        }),
        "node {down} did not reach the leader's commit index {commit}"
    );
}

/// The refusal a membership request met; any other outcome fails the test.
pub fn refused(r: Result<impl std::fmt::Debug, ClientError>) -> MemberRefusal {
    match r {
        Err(ClientError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Kills a `raft-node` process the test started by hand when the test ends, however it ends.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Configurations for `n` in-process nodes on free loopback ports, with their data under
/// `dir` and a key file of `key_byte` repeated; `tune` adjusts each before validation.
pub fn configs(
    dir: &Path,
    n: u32,
    key_byte: &str,
    tune: impl Fn(&mut RawConfig),
) -> Vec<NodeConfig> {
    let key = dir.join("key");
    std::fs::write(&key, key_byte.repeat(32)).unwrap();
    let addrs: Vec<String> = (0..n)
        .map(|_| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().to_string()
        })
        .collect();
    (1..=n)
        .map(|id| {
            let mut raw = RawConfig {
                id: Some(id),
                peers: (1..=n)
                    .map(|p| format!("{p}={}", addrs[p as usize - 1]))
                    .collect(),
                data_dir: Some(dir.join(format!("n{id}"))),
                key_file: Some(key.clone()),
                ..RawConfig::default()
            };
            tune(&mut raw);
            raw.validate().unwrap()
        })
        .collect()
}

/// An encoded request of client `client`'s session, for `NodeHandle::propose`.
pub fn request(client: u64, seq: u64, command: Kv) -> Vec<u8> {
    Request {
        client,
        seq,
        command,
    }
    .encode()
}

/// Reads `key` through `h` (a linearizable get, request `seq` of session `client`) and asserts
/// that it holds `v`, the value the disk tests write; `what` names the write in the failure.
pub fn assert_holds_v(
    h: &raft_std_driver::node::NodeHandle,
    client: u64,
    seq: u64,
    key: &str,
    what: &str,
) {
    let get = request(
        client,
        seq,
        Kv::Get {
            key: key.as_bytes().to_vec(),
        },
    );
    let r = h.propose(get, Duration::from_secs(5)).unwrap();
    assert_eq!(
        Response::decode(&r).unwrap(),
        Response::Value(Some(b"v".to_vec())),
        "{what}"
    );
}
