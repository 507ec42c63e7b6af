//! Hostile datagrams against a running node: each is counted under its reason and changes
//! nothing; the node keeps answering.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use raft_std_driver::client::{Client, ClientOptions};
use raft_std_driver::config::{Peer, RawConfig};
use raft_std_driver::kv::KvStore;
use raft_std_driver::node::Node;
use raft_std_driver::transport::{ClusterKey, Sealer};
use raft_std_driver::wire;
use raftcore::codec;
use raftcore::{LogIndex, Message, NodeId, Term, VoteRequest};

fn key_file(dir: &std::path::Path, key: &[u8; 32]) -> std::path::PathBuf {
    let path = dir.join("key");
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, hex).unwrap();
    path
}

/// A sealed raft frame from `from` (a PreVote of term 0: changes nothing).
fn raft_datagram(sealer: &mut Sealer, from: u32) -> Vec<u8> {
    // A PreVote never changes the receiver's term, vote or log.
    let msg: Message<raftcore::EntryCount> = Message::PreVote(VoteRequest {
        term: Term(0),
        last_index: LogIndex(0),
        last_term: Term(0),
    });
    let hdr = codec::Header {
        cluster_id: 0,
        from: NodeId(from),
        to: NodeId(1),
    };
    let mut frame = vec![0u8; 256];
    frame[0] = wire::TAG_RAFT;
    let n = codec::encode(&hdr, &msg, &codec::WireEntries::EMPTY, &mut frame[1..]).unwrap();
    frame.truncate(1 + n);
    let mut out = Vec::new();
    sealer.seal(&frame, &mut out).unwrap();
    out
}

#[test]
fn hostile_datagrams_are_counted_per_reason_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = [7u8; 32];
    let kf = key_file(dir.path(), &key);
    // Node 1's peers: node 2 is this test's socket; node 3 never speaks.
    let peer2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let raw = RawConfig {
        id: Some(1),
        listen: Some("127.0.0.1:0".into()),
        peers: vec![
            format!("2={}", peer2.local_addr().unwrap()),
            "3=127.0.0.1:9".into(),
        ],
        data_dir: Some(dir.path().join("n1")),
        key_file: Some(kf),
        ..RawConfig::default()
    };
    let node = Node::open(raw.validate().unwrap(), KvStore::default()).unwrap();
    let addr: SocketAddr = node.local_addr().unwrap();
    let (handle, thread) = node.spawn().unwrap();
    let mut client = Client::new(
        &ClusterKey::from_bytes(key),
        vec![Peer { id: 1, addr }],
        ClientOptions::default(),
    )
    .unwrap();
    let stats = |client: &mut Client| client.stats(1).unwrap().expect("node answers stats");
    let before = stats(&mut client);
    let count = |v: &serde_json::Value, reason: &str| v["transport"][reason].as_u64().unwrap();
    let send = |s: &UdpSocket, d: &[u8]| {
        s.send_to(d, addr).unwrap();
    };

    let mut sealer2 = Sealer::new(&ClusterKey::from_bytes(key), 2, 1, 65_507);
    let mut wrong = Sealer::new(&ClusterKey::from_bytes([8; 32]), 2, 1, 65_507);
    let mut sealer9 = Sealer::new(&ClusterKey::from_bytes(key), 9, 1, 65_507);

    // Random bytes (the first byte is not the magic): malformed.
    let mut x = 0x1234_5678_9abc_def0u64;
    for len in [1usize, 17, 60, 300] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x as u8) | 1 // never 0xA1 below: force the low bit and check
            })
            .map(|b| if b == 0xA1 { 0xA3 } else { b })
            .collect();
        send(&peer2, &bytes);
    }
    // Truncated frames: shorter than a header (malformed), and missing the tag's last byte
    // (the tag no longer verifies).
    let good = raft_datagram(&mut sealer2, 2);
    send(&peer2, &good[..20]);
    send(&peer2, &good[..good.len() - 1]);
    // Sealed with the wrong key.
    send(&peer2, &raft_datagram(&mut wrong, 2));
    // A valid frame, then the same datagram again: replayed.
    send(&peer2, &good);
    send(&peer2, &good);
    // A valid frame of node 2 from another address; a frame of an unconfigured sender.
    send(&stranger, &raft_datagram(&mut sealer2, 2));
    send(&peer2, &raft_datagram(&mut sealer9, 9));
    // Authentic, but the raft header claims node 3.
    send(&peer2, &raft_datagram(&mut sealer2, 3));

    std::thread::sleep(Duration::from_millis(300));
    let after = stats(&mut client);
    let delta = |r: &str| count(&after, r) - count(&before, r);
    assert_eq!(delta("malformed"), 5, "{after:#}");
    assert_eq!(delta("bad_tag"), 2, "{after:#}");
    assert_eq!(delta("replayed"), 1, "{after:#}");
    assert_eq!(delta("address_mismatch"), 1, "{after:#}");
    assert_eq!(delta("unknown_peer"), 1, "{after:#}");
    assert_eq!(delta("sender_mismatch"), 1, "{after:#}");
    // Nothing changed: same term, same log, and the node still runs and answers.
    for k in ["term", "commit", "last_index"] {
        assert_eq!(before[k], after[k], "{k}");
    }
    assert!(handle.stopped().is_none());
    handle.shutdown();
    thread.join().unwrap().unwrap();
    // The counters were also written to stats.json.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("n1/stats.json")).unwrap()).unwrap();
    assert_eq!(
        file["transport"]["replayed"],
        after["transport"]["replayed"]
    );
}
