//! `raft-node --join HOST:PORT`: a new node started with the address of any one member.
//!
//! Before the node opens its storage, [`fetch`] asks that member for its view of the
//! configuration (the client protocol's `Membership` request, sealed under the cluster key
//! like any client's) and [`apply`] makes the answer the node's starting point: the member's
//! address book becomes the node's `--peer` table (so the members' datagrams are
//! accepted, each from its own address, and the node can answer them), and the
//! configuration's voters its initial voters (the node is not among them: it starts as a
//! non-member and waits to be added). Then an administrator adds it as a learner with its
//! address (`raft-client member add-learner ID --addr HOST:PORT`); the membership entry
//! carries the address, so every member accepts it from then on; it catches up (log or
//! snapshot, whose address book tells it every member), and is promoted. Nothing else is
//! restarted.
//!
//! # Trust
//!
//! The answer authenticates under the cluster key, from the address asked, and must name a
//! node id as its sender: it is trusted as any member's frames are. Anyone holding the key
//! can already impersonate any member (the key is the cluster's only secret), so `--join`
//! adds no new way in; without the key nothing is accepted. The node never binds an unknown
//! sender to an address on its own: a member it has no address for is learned only from the
//! log or a snapshot (that is, from the leader). A configuration that changes between the
//! fetch and the node's addition (a new member it never heard of becomes leader) is caught
//! up through the log the same way, once the leader is one it knows; restart the node with
//! `--join` again if it was not.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::admin::MembershipView;
use crate::config::{NodeConfig, Peer};
use crate::transport::{
    ClusterKey, Opener, PeerBinding, Sealer, CLIENT_ID_MIN, HEADER_LEN, MAGIC_VERSION,
};
use crate::wire::{self, ClientBody, ClientRequest, ReplyBody, ServerReply};

/// How long one request waits for the answer before it is sent again.
const ATTEMPT: Duration = Duration::from_millis(300);

/// The largest datagram read.
const MAX_UDP: usize = 65_507;

/// Asks the member at `member` for its view of the configuration, under `key`, until it
/// answers or `timeout` passed. The error is one line.
pub fn fetch(
    key: &ClusterKey,
    member: SocketAddr,
    timeout: Duration,
) -> Result<MembershipView, String> {
    let any: SocketAddr = if member.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(any).map_err(|e| format!("socket: {e}"))?;
    sock.set_read_timeout(Some(ATTEMPT / 4))
        .map_err(|e| format!("socket: {e}"))?;
    let me = CLIENT_ID_MIN | (crate::node::random_u64() as u32 & !CLIENT_ID_MIN);
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let mut sealer = Sealer::new(key, me, epoch, MAX_UDP);
    let (mut frame, mut sealed, mut buf) = (Vec::new(), Vec::new(), vec![0u8; MAX_UDP]);
    let deadline = Instant::now() + timeout;
    let mut id = crate::node::random_u64();
    while Instant::now() < deadline {
        id = id.wrapping_add(1);
        let req = ClientRequest {
            id,
            body: ClientBody::Membership,
        };
        wire::encode(wire::TAG_CLIENT, &req, &mut frame);
        sealer
            .seal(&frame, &mut sealed)
            .map_err(|e| format!("cannot seal: {e}"))?;
        // A send error (nothing listening yet) is retried like a lost datagram.
        let _ = sock.send_to(&sealed, member);
        let until = (Instant::now() + ATTEMPT).min(deadline);
        while Instant::now() < until {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if let Some(view) = open_reply(key, me, member, from, &buf[..n], id) {
                return Ok(view);
            }
        }
    }
    Err(format!(
        "no authenticated answer from {member} within {timeout:?} (is a member listening there, \
         under the same key file?)"
    ))
}

/// The configuration in `datagram`, if it is the authentic answer to request `id` from the
/// member at `member`.
fn open_reply(
    key: &ClusterKey,
    me: u32,
    member: SocketAddr,
    from: SocketAddr,
    datagram: &[u8],
    id: u64,
) -> Option<MembershipView> {
    if from != member || datagram.len() < HEADER_LEN || datagram[0] != MAGIC_VERSION {
        return None;
    }
    // The sender id is authenticated with the rest of the header: an opener that knows only
    // that id, bound to the address asked, accepts the datagram only if it is genuine.
    let sender = u32::from_le_bytes(datagram[1..5].try_into().ok()?);
    if sender == 0 || sender >= CLIENT_ID_MIN {
        return None;
    }
    let mut opener = Opener::new(key, me, [(sender, PeerBinding::Fixed(member))], MAX_UDP);
    let opened = opener.open(from, datagram).ok()?;
    let (&tag, body) = opened.plaintext.split_first()?;
    if tag != wire::TAG_REPLY {
        return None;
    }
    match wire::decode::<ServerReply>(body)? {
        ServerReply {
            id: got,
            body: ReplyBody::Membership(view),
        } if got == id => Some(view),
        _ => None,
    }
}

/// Starts `cfg` from the member's `view`: its address book (but this node's own entry)
/// joins the `--peer` table, overriding an address given there, and its voters are the
/// initial voters. Refused if the view lists this node's id at another address than it
/// listens on (another node has that id).
pub fn apply(cfg: &mut NodeConfig, view: &MembershipView) -> Result<(), String> {
    for &(id, addr) in &view.addresses {
        if id == cfg.id {
            if addr != cfg.listen && cfg.listen.port() != 0 {
                return Err(format!(
                    "the cluster already has a node {id} at {addr}; this one listens on {}",
                    cfg.listen
                ));
            }
            continue;
        }
        cfg.peers.retain(|p| p.id != id);
        cfg.peers.push(Peer { id, addr });
    }
    // Voters of the outgoing configuration too, while joint: raft-core replays the log from
    // the leader either way.
    let mut voters: Vec<u32> = view.voters.iter().chain(&view.outgoing).copied().collect();
    voters.sort_unstable();
    voters.dedup();
    if voters.is_empty() {
        return Err("the member reported no voters".into());
    }
    if let Some(v) = voters.iter().find(|&&v| v != cfg.id && !cfg.knows(v)) {
        return Err(format!("the member reported voter {v} without an address"));
    }
    cfg.initial_voters = voters;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;
    use raftcore::Role;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn joiner() -> NodeConfig {
        RawConfig {
            id: Some(4),
            listen: Some("127.0.0.1:7004".into()),
            join: Some("127.0.0.1:7001".into()),
            data_dir: Some("/nonexistent".into()),
            key_file: Some("/nonexistent".into()),
            ..RawConfig::default()
        }
        .validate()
        .unwrap()
    }

    fn view(addresses: Vec<(u32, SocketAddr)>) -> MembershipView {
        MembershipView {
            node: 1,
            role: Role::Leader,
            leader: Some(1),
            voters: vec![1, 2, 3],
            learners: vec![],
            outgoing: vec![],
            addresses,
            index: 5,
            committed: true,
        }
    }

    #[test]
    fn the_members_book_becomes_the_peer_table_and_its_voters_the_initial_ones() {
        let mut cfg = joiner();
        assert_eq!(cfg.join, Some(addr(7001)));
        let v = view(vec![(1, addr(7001)), (2, addr(7002)), (3, addr(7003))]);
        apply(&mut cfg, &v).unwrap();
        let peers: Vec<(u32, SocketAddr)> = cfg.peers.iter().map(|p| (p.id, p.addr)).collect();
        assert_eq!(peers, v.addresses);
        assert_eq!(cfg.initial_voters, vec![1, 2, 3]);
        // This node listed elsewhere: another node has its id.
        let mut cfg = joiner();
        let taken = view(vec![(1, addr(7001)), (4, addr(7999))]);
        assert!(apply(&mut cfg, &taken)
            .unwrap_err()
            .contains("already has a node 4"));
        // A voter without an address cannot be reached.
        let mut cfg = joiner();
        let blind = view(vec![(1, addr(7001))]);
        assert!(apply(&mut cfg, &blind).unwrap_err().contains("voter 2"));
    }

    #[test]
    fn join_refuses_voters_and_an_unresolvable_member() {
        let base = || RawConfig {
            id: Some(4),
            listen: Some("127.0.0.1:7004".into()),
            data_dir: Some("/nonexistent".into()),
            key_file: Some("/nonexistent".into()),
            ..RawConfig::default()
        };
        let with_voters = RawConfig {
            join: Some("127.0.0.1:7001".into()),
            voters: Some(vec![1]),
            ..base()
        };
        assert!(with_voters
            .validate()
            .unwrap_err()
            .contains("drop --voters"));
        let nowhere = RawConfig {
            join: Some("nowhere".into()),
            ..base()
        };
        assert!(nowhere
            .validate()
            .unwrap_err()
            .starts_with("--join nowhere"));
    }
}
