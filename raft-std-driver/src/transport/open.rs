//! Opening incoming datagrams: allow-list, replay window, authentication.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use super::frame::{Header, HEADER_LEN, MAGIC_VERSION, NONCE_AT, OVERHEAD, TAG_LEN};
use super::replay::{ReplayWindow, Stale};
use super::{ClusterKey, DropCounters, DropReason};

/// Where a configured sender may send from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerBinding {
    /// Only from this address (cluster nodes).
    Fixed(SocketAddr),
    /// From any address (clients on ephemeral ports). The frame must still authenticate and be
    /// fresh; reply to the address it came from.
    Roaming,
}

struct Peer {
    binding: PeerBinding,
    window: ReplayWindow,
}

/// An accepted datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The authenticated sender id.
    pub sender: u32,
    /// Its counter (the sender's boot epoch is `counter >> 32`).
    pub counter: u64,
    /// The decrypted frame, borrowed from the opener's buffer until the next `open`.
    pub plaintext: &'a [u8],
}

/// The sender id in `datagram`'s header (`None` if it has no header). Authenticated only once
/// [`Opener::open`] accepted the datagram or refused it as [`DropReason::Removed`].
pub fn sender_of(datagram: &[u8]) -> Option<u32> {
    Header::read(datagram).map(|h| h.sender)
}

/// Sender ids at or above this are clients: never configured one by one, admitted on their
/// first authentic datagram when [`Opener::accept_clients`] is on (see its docs).
pub const CLIENT_ID_MIN: u32 = 0x8000_0000;

/// Replay windows of the clients seen, bounded: the oldest admitted is forgotten first.
struct Clients {
    max: usize,
    windows: HashMap<u32, ReplayWindow>,
    order: VecDeque<u32>,
}

/// Opens datagrams for one node and counts what it drops.
pub struct Opener {
    cipher: XChaCha20Poly1305,
    peers: HashMap<u32, Peer>,
    /// The replay windows of nodes dropped from the allow-list (see [`Opener::set_peers`]).
    retired: HashMap<u32, ReplayWindow>,
    clients: Option<Clients>,
    max_datagram: usize,
    buf: Vec<u8>,
    counters: DropCounters,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("peers", &self.peers.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener for node `local_id` accepting the `peers` listed (an entry for `local_id`
    /// itself is ignored), datagrams of at most `max_datagram` bytes.
    pub fn new(
        key: &ClusterKey,
        local_id: u32,
        peers: impl IntoIterator<Item = (u32, PeerBinding)>,
        max_datagram: usize,
    ) -> Opener {
        let peers = peers
            .into_iter()
            .filter(|(id, _)| *id != local_id)
            .map(|(id, binding)| {
                let window = ReplayWindow::default();
                (id, Peer { binding, window })
            })
            .collect();
        Opener {
            cipher: XChaCha20Poly1305::new(key.as_bytes().into()),
            peers,
            retired: HashMap::new(),
            clients: None,
            max_datagram,
            buf: Vec::with_capacity(max_datagram),
            counters: DropCounters::default(),
        }
    }

    /// Replaces the allow-list of nodes with `peers` (an entry for `local_id` is ignored): a
    /// sender no longer listed is refused from now on, as [`DropReason::Removed`] when its
    /// datagram authenticates (else as [`DropReason::BadTag`]). A sender
    /// kept keeps its replay window (so nothing it sent before can be replayed), also when
    /// its address changes; so does a sender listed again after it was dropped (its window
    /// is kept aside meanwhile: one per node id ever dropped, which only membership changes
    /// make). A new one starts with a fresh window. Clients are not affected.
    pub fn set_peers(
        &mut self,
        local_id: u32,
        peers: impl IntoIterator<Item = (u32, PeerBinding)>,
    ) {
        let mut old = std::mem::take(&mut self.peers);
        for (id, binding) in peers {
            if id == local_id {
                continue;
            }
            let window = match old.remove(&id) {
                Some(p) => p.window,
                None => self.retired.remove(&id).unwrap_or_default(),
            };
            self.peers.insert(id, Peer { binding, window });
        }
        self.retired
            .extend(old.into_iter().map(|(id, p)| (id, p.window)));
    }

    /// The node ids on the allow-list, ascending.
    pub fn peer_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.peers.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Checks and decrypts `datagram`, received from `from`. Every refusal is counted in
    /// [`Opener::counters`] before it is returned; nothing about a refused datagram changes any
    /// other state.
    pub fn open(&mut self, from: SocketAddr, datagram: &[u8]) -> Result<Opened<'_>, DropReason> {
        match self.check_and_decrypt(from, datagram) {
            Ok((sender, counter)) => {
                self.counters.accepted += 1;
                Ok(Opened {
                    sender,
                    counter,
                    plaintext: &self.buf,
                })
            }
            Err(reason) => {
                self.counters.record(reason);
                Err(reason)
            }
        }
    }

    /// Also accepts clients: any sender id at or above [`CLIENT_ID_MIN`], from any address
    /// ([`PeerBinding::Roaming`]), once its datagram authenticates. A replay window is kept for
    /// at most `max` clients; past that the longest-known one is forgotten, so a datagram it
    /// sent earlier could be accepted once more. That is harmless for the client protocol:
    /// writes are deduplicated by the key-value sessions and replies are matched to requests.
    pub fn accept_clients(&mut self, max: usize) {
        self.clients = Some(Clients {
            max: max.max(1),
            windows: HashMap::new(),
            order: VecDeque::new(),
        });
    }

    /// Accepted and dropped datagrams so far.
    pub fn counters(&self) -> &DropCounters {
        &self.counters
    }

    fn check_and_decrypt(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(u32, u64), DropReason> {
        if datagram.len() > self.max_datagram {
            return Err(DropReason::Oversized);
        }
        if datagram.len() < OVERHEAD {
            return Err(DropReason::Malformed);
        }
        let header = Header::read(datagram).ok_or(DropReason::Malformed)?;
        if header.version != MAGIC_VERSION {
            return Err(DropReason::Malformed);
        }
        // Cheap refusals first, before any cryptography; none of them changes state.
        let stale = |s| match s {
            Stale::Replayed => DropReason::Replayed,
            Stale::TooOld => DropReason::TooOld,
        };
        let is_client = match self.peers.get(&header.sender) {
            Some(peer) => {
                if let PeerBinding::Fixed(addr) = peer.binding {
                    if addr != from {
                        return Err(DropReason::AddressMismatch);
                    }
                }
                peer.window.check(header.counter).map_err(stale)?;
                false
            }
            None if self.retired.contains_key(&header.sender) => {
                // A node dropped from the allow-list: authenticated like a peer (from any
                // address: it may have moved), so that only the real node is told it was
                // removed, then refused.
                if let Some(w) = self.retired.get(&header.sender) {
                    w.check(header.counter).map_err(stale)?;
                }
                self.decrypt(datagram)?;
                if let Some(w) = self.retired.get_mut(&header.sender) {
                    w.mark(header.counter);
                }
                return Err(DropReason::Removed);
            }
            None => {
                let clients = self
                    .clients
                    .as_ref()
                    .filter(|_| header.sender >= CLIENT_ID_MIN)
                    .ok_or(DropReason::UnknownPeer)?;
                if let Some(w) = clients.windows.get(&header.sender) {
                    w.check(header.counter).map_err(stale)?;
                }
                true
            }
        };
        self.decrypt(datagram)?;
        // Authentic: only now may the window move (or a client's window be created).
        if !is_client {
            if let Some(peer) = self.peers.get_mut(&header.sender) {
                peer.window.mark(header.counter);
            }
        } else if let Some(c) = self.clients.as_mut() {
            if !c.windows.contains_key(&header.sender) {
                while c.windows.len() >= c.max {
                    match c.order.pop_front() {
                        Some(old) => c.windows.remove(&old),
                        None => break,
                    };
                }
                c.order.push_back(header.sender);
            }
            c.windows
                .entry(header.sender)
                .or_default()
                .mark(header.counter);
        }
        Ok((header.sender, header.counter))
    }

    /// Authenticates `datagram` (at least [`OVERHEAD`] bytes, its header read) and decrypts
    /// it into the buffer.
    fn decrypt(&mut self, datagram: &[u8]) -> Result<(), DropReason> {
        let (head, rest) = datagram.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        self.buf.clear();
        self.buf.extend_from_slice(ciphertext);
        let nonce = XNonce::from_slice(&head[NONCE_AT..HEADER_LEN]);
        // `tag` is exactly TAG_LEN bytes: `rest` holds at least TAG_LEN (checked against
        // OVERHEAD by the caller) and was split TAG_LEN from its end.
        let tag = Tag::from_slice(tag);
        if self
            .cipher
            .decrypt_in_place_detached(nonce, head, &mut self.buf, tag)
            .is_err()
        {
            self.buf.clear();
            return Err(DropReason::BadTag);
        }
        Ok(())
    }
}
