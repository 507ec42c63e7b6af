//! The address book: member id -> UDP address, part of the replicated state, from which the
//! transport's allow-list ([`Opener`](crate::transport::Opener)) and the send table are
//! rebuilt whenever it changes.
//!
//! # Where the addresses come from
//!
//! - **The configuration entries.** A membership entry's payload is raft-core's encoded
//!   configuration followed by an opaque context (raft-core's
//!   [`Membership::decode_with_context`], as etcd's `ConfChange.Context`): here, the addresses
//!   of the members the change adds ([`encode_context`]). Every node applies the entry, so
//!   every node learns the new member's address when the change commits. When an entry drops
//!   members from the configuration (a plain removal, or leaving a joint configuration), they
//!   are dropped from the book, hence from every allow-list and send table.
//! - **Snapshots.** The book travels in every snapshot the node captures, ahead of the state
//!   machine's bytes ([`BookImage`], [`split_snapshot`]), so a node that catches up through
//!   InstallSnapshot (a new learner) learns every member's address.
//! - **The flags.** At start the book holds this node's own address and the static `--peer`
//!   table (for clusters configured the classic way), then the newest snapshot's book, then
//!   what the log's membership entries say as they are applied again. A node started with
//!   `--join` fills its `--peer` table from the member it joins through (see `crate::join`).
//!
//! # Snapshot framing
//!
//! A snapshot written by this version starts with [`SNAPSHOT_MAGIC`] (16 bytes), a
//! little-endian `u32` length and the postcard-encoded book, then the state machine's bytes.
//! A snapshot without the magic (written before addresses were replicated) is the state
//! machine's bytes alone and leaves the book as it is. The magic starts with ten `0xff`
//! bytes, which no postcard varint (the first field of the key-value store's snapshot)
//! can begin with, so the two forms cannot be confused for it.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::net::SocketAddr;

use super::Node;
use crate::machine::{SnapshotImage, StateMachine};
use crate::transport::PeerBinding;

/// The first bytes of a snapshot that carries the address book.
pub const SNAPSHOT_MAGIC: &[u8; 16] = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffaddrs\x01";

/// The version byte a membership entry's context starts with.
const CONTEXT_VERSION: u8 = 1;

/// Member id -> address, ascending by id.
pub type AddressBook = BTreeMap<u32, SocketAddr>;

/// A membership entry's context: the addresses of the members the change adds.
pub fn encode_context(addrs: &[(u32, SocketAddr)]) -> Vec<u8> {
    let mut out = vec![CONTEXT_VERSION];
    // Postcard encodes a Vec of plain pairs into a growing Vec without error.
    out.extend(postcard::to_stdvec(addrs).unwrap_or_default());
    out
}

/// The addresses a membership entry's context carries; `None` for bytes that are not a
/// context of this version (an entry written by another driver is then applied without
/// addresses). An empty context (raft-core's plain encoding alone) carries none.
pub fn decode_context(bytes: &[u8]) -> Option<Vec<(u32, SocketAddr)>> {
    match bytes.split_first() {
        None => Some(Vec::new()),
        Some((&CONTEXT_VERSION, rest)) => crate::wire::decode(rest),
        Some(_) => None,
    }
}

/// A state machine's snapshot image with the address book written ahead of it.
pub(super) struct BookImage {
    /// The framed book: magic, length, postcard bytes.
    head: Vec<u8>,
    inner: Box<dyn SnapshotImage>,
}

impl BookImage {
    /// `inner` preceded by `book`.
    pub(super) fn new(book: &AddressBook, inner: Box<dyn SnapshotImage>) -> BookImage {
        let pairs: Vec<(u32, SocketAddr)> = book.iter().map(|(&id, &a)| (id, a)).collect();
        let body = postcard::to_stdvec(&pairs).unwrap_or_default();
        let mut head = SNAPSHOT_MAGIC.to_vec();
        head.extend_from_slice(&(body.len() as u32).to_le_bytes());
        head.extend_from_slice(&body);
        BookImage { head, inner }
    }
}

impl SnapshotImage for BookImage {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.head)?;
        self.inner.write_to(out)
    }
}

/// A snapshot's address book (`None` for a snapshot written without one) and the state
/// machine's bytes after it; `Err` for a framed book that does not decode.
pub fn split_snapshot(bytes: &[u8]) -> Result<(Option<AddressBook>, &[u8]), String> {
    let Some(rest) = bytes.strip_prefix(&SNAPSHOT_MAGIC[..]) else {
        return Ok((None, bytes));
    };
    let bad = || "the snapshot's address book is damaged".to_string();
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(bad());
    }
    let (body, sm) = rest.split_at(len);
    let pairs: Vec<(u32, SocketAddr)> = crate::wire::decode(body).ok_or_else(bad)?;
    Ok((Some(pairs.into_iter().collect()), sm))
}

impl<M: StateMachine> Node<M> {
    /// Rebuilds the allow-list and the send table from the address book if it changed (after
    /// every step and at open). A node the applied configuration no longer lists, after it
    /// was a member, was removed: it logs it once and reports it in `stats.json`
    /// (`driver.removed`). It keeps its tables: as a non-member raft-core never campaigns
    /// or sends on its own, it only answers what it receives, and a leader that adds it back
    /// (without a restart) is heard.
    pub(super) fn sync_peers(&mut self) {
        if !self.engine.machine_mut().take_book_change() {
            return;
        }
        let applier = self.engine.machine();
        let removed = applier.removed();
        let peers: HashMap<u32, SocketAddr> = applier
            .book
            .iter()
            .filter(|(&id, _)| id != self.cfg.id)
            .map(|(&id, &a)| (id, a))
            .collect();
        if removed && !self.counters.removed {
            tracing::warn!(
                id = self.cfg.id,
                "this node was removed from the cluster: it no longer votes or campaigns, and \
                 the members no longer accept its datagrams (stop it, or add it back)"
            );
        }
        self.counters.removed = removed;
        self.opener.set_peers(
            self.cfg.id,
            peers.iter().map(|(&id, &a)| (id, PeerBinding::Fixed(a))),
        );
        tracing::info!(id = self.cfg.id, peers = ?self.opener.peer_ids(), "peer table");
        self.engine.transport_mut().set_peers(peers);
    }

    /// The address book, ascending by id (this node's own address included).
    pub(super) fn addresses(&self) -> Vec<(u32, SocketAddr)> {
        self.engine
            .machine()
            .book
            .iter()
            .map(|(&id, &a)| (id, a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_context_round_trips_and_foreign_bytes_carry_no_addresses() {
        let pairs = vec![(4, addr(7004)), (9, "[::1]:7009".parse().unwrap())];
        assert_eq!(decode_context(&encode_context(&pairs)), Some(pairs));
        assert_eq!(decode_context(&[]), Some(vec![]));
        assert_eq!(decode_context(&[7, 1, 2]), None);
        let mut cut = encode_context(&[(4, addr(1))]);
        cut.pop();
        assert_eq!(decode_context(&cut), None);
    }

    #[test]
    fn a_snapshot_carries_the_book_ahead_of_the_state_and_old_snapshots_still_read() {
        let book: AddressBook = [(1, addr(7001)), (4, addr(7004))].into_iter().collect();
        let image = BookImage::new(&book, Box::new(b"state bytes".to_vec()));
        let mut bytes = Vec::new();
        image.write_to(&mut bytes).unwrap();
        assert_eq!(
            split_snapshot(&bytes),
            Ok((Some(book), &b"state bytes"[..]))
        );
        // Written before the book existed: the state machine's bytes alone.
        let kv = crate::kv::KvStore::default().snapshot();
        assert_eq!(split_snapshot(&kv), Ok((None, &kv[..])));
        // A damaged book is refused, not misread as state.
        bytes.truncate(SNAPSHOT_MAGIC.len() + 6);
        assert!(split_snapshot(&bytes).is_err());
    }
}
