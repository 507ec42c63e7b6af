//! The async API on three in-process nodes: the role watch, a read, a proposal whose future is
//! dropped after its first poll and retried (applied once), a leadership transfer, a
//! membership change and graceful shutdown. Loopback only; every wait is bounded.

use std::future::Future;
use std::hash::BuildHasher;
use std::path::Path;
use std::task::Poll;
use std::time::Duration;

use raft_std_driver::admin::MemberChange;
use raft_std_driver::config::RawConfig;
use raft_std_driver::kv::{Command, Request, Response};
use raft_std_driver::node::ProposeError;
use raft_tokio::AsyncNode;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// Three in-process nodes.
struct Cluster {
    /// The nodes, ids 1, 2, 3.
    nodes: Vec<AsyncNode>,
}

impl Cluster {
    /// Starts three nodes on free loopback ports, with their data and a fresh key in `dir`.
    async fn start(dir: &Path) -> Cluster {
        let random = |i: u8| std::collections::hash_map::RandomState::new().hash_one(i);
        let key: String = (0..4).map(|i| format!("{:016x}", random(i))).collect();
        std::fs::write(dir.join("key"), key).expect("write the key file");
        let peers: Vec<String> = (1..=3)
            .map(|id| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port");
                format!("{id}={}", s.local_addr().expect("its address"))
            })
            .collect();
        let mut nodes = Vec::new();
        for id in 1..=3 {
            let raw = RawConfig {
                id: Some(id),
                peers: peers.clone(),
                data_dir: Some(dir.join(format!("n{id}"))),
                key_file: Some(dir.join("key")),
                ..RawConfig::default()
            };
            let cfg = raw.validate().expect("a valid config");
            nodes.push(AsyncNode::start_kv(cfg).await.expect("start a node"));
        }
        Cluster { nodes }
    }

    /// The node that leads, waiting up to ten seconds for one.
    async fn leader(&self) -> Option<&AsyncNode> {
        for _ in 0..500 {
            if let Some(n) = self.nodes.iter().find(|n| n.status().is_leader()) {
                return Some(n);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

fn request(client: u64, seq: u64, command: Command) -> Vec<u8> {
    Request {
        client,
        seq,
        command,
    }
    .encode()
}

fn answer(r: Result<Vec<u8>, ProposeError>) -> Response {
    Response::decode(&r.expect("an answer")).expect("a response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_resolve_and_a_dropped_proposal_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path()).await;
    let n1 = &cluster.nodes[0];
    let leader = timeout(WAIT, n1.wait_for_leader()).await.unwrap().unwrap();
    let lead = cluster.leader().await.expect("a leader");
    assert_eq!(lead.id(), leader);

    // A compare-and-swap whose future is dropped right after it handed the request over:
    // the retry with the same session sequence number gets the first outcome (`swapped`),
    // which a second application could not give.
    let cas = || Command::Cas {
        key: b"k".to_vec(),
        expected: None,
        new: Some(b"x".to_vec()),
    };
    let mut dropped = Box::pin(lead.propose(request(7, 1, cas())));
    let first = std::future::poll_fn(|cx| Poll::Ready(dropped.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the proposal had not completed yet");
    drop(dropped);
    let retried = answer(
        timeout(WAIT, lead.propose(request(7, 1, cas())))
            .await
            .unwrap(),
    );
    assert!(
        matches!(retried, Response::Cas { swapped: true, .. }),
        "{retried:?}"
    );
    let get = request(0, 0, Command::Get { key: b"k".to_vec() });
    let read = answer(timeout(WAIT, lead.read(get.clone())).await.unwrap());
    assert_eq!(read, Response::Value(Some(b"x".to_vec())));

    // Leadership moves to another voter; the old leader's watch shows it.
    let to = cluster.nodes.iter().find(|n| n.id() != leader).unwrap();
    lead.transfer_leader(to.id(), WAIT)
        .await
        .expect("transferred");
    let mut watch = lead.watch();
    let seen = watch.wait_for(|s| !s.is_leader() && s.leader == Some(to.id()));
    timeout(WAIT, seen).await.unwrap().unwrap();
    let put = Command::Put {
        key: b"k".to_vec(),
        value: b"y".to_vec(),
    };
    let refused = lead.propose(request(7, 2, put)).await;
    assert_eq!(refused, Err(ProposeError::NotLeader(Some(to.id()))));

    // The new leader removes the old one from the voters.
    let new = cluster.leader().await.expect("the new leader");
    assert_eq!(new.id(), to.id());
    let remove = async {
        loop {
            match new.change_membership(MemberChange::Remove(leader.0)).await {
                // Not yet committed in its term: the new leader's first entry is on its way.
                Err(ProposeError::Busy) => tokio::time::sleep(Duration::from_millis(20)).await,
                other => break other,
            }
        }
    };
    let view = timeout(WAIT, remove).await.unwrap().expect("removed");
    assert!(!view.voters.contains(&leader.0), "{view:?}");
    let read = answer(timeout(WAIT, new.read(get)).await.unwrap());
    assert_eq!(read, Response::Value(Some(b"x".to_vec())));

    for n in &cluster.nodes {
        timeout(WAIT, n.shutdown()).await.unwrap().unwrap();
        assert!(n.status().stopped.is_some());
        let after = n.propose(request(8, 1, cas())).await;
        assert_eq!(after, Err(ProposeError::Stopped));
    }
}
