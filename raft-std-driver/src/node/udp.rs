//! The engine's [`Transport`] seam over the UDP socket: a raft message is encoded after the
//! [`wire::TAG_RAFT`] byte into a reusable frame buffer (payloads read from the WAL, a snapshot
//! chunk from the buffer the snapshot seam read it into), sealed into the send queue for the
//! peer's configured address. The node's replies to clients are queued through the same
//! sealer ([`UdpTransport::reply`]). The queue goes out in `sendmmsg` batches
//! ([`UdpTransport::send_queued`]): when full, before every WAL sync (so appends still leave
//! before the leader's fsync) and at the end of each turn.
//!
//! Nothing here stops the node: a message to a node outside the peer table (rebuilt from the
//! address book, see `addresses.rs`) is dropped, and a
//! frame that cannot be encoded, sealed or sent is counted and dropped (raft retries).
//!
//! The receiving side is here too ([`Node::receive`], [`Node::on_datagram`]): datagrams come
//! in `recvmmsg` batches (see `sockio.rs`), and each is opened
//! (authenticated, replay-checked, allow-listed, drops counted per reason by the [`Opener`]),
//! then stepped into the engine as a raft frame or handed to the client protocol. A refused
//! datagram is logged, at most once per source address per
//! [`REPORT_INTERVAL`](crate::transport::REPORT_INTERVAL) (with the number left out since),
//! and a wrong key or an unknown sender is answered with a refusal notice
//! ([`notice_for`](crate::transport::notice_for)).
//!
//! [`Opener`]: crate::transport::Opener

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use raftcore::codec::{self, EntrySource};
use raftcore::engine::{Outgoing, Transport};
use raftcore::{Input, Message};

use super::sockio::{SendQueue, RECV_BATCH};
use super::{Node, NodeError, BATCH};
use crate::machine::StateMachine;
use crate::transport::{notice_for, read_notice, sender_of, DropReason, Sealer, CLIENT_ID_MIN};
use crate::wire::{self, ClientRequest, ReplyBody, ServerReply};

/// What the transport counts (reported in `stats.json`'s `driver` section).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SendCounters {
    /// Datagrams that could not be sealed or sent.
    pub(super) send_errors: u64,
    /// Messages that could not be encoded from the log (must stay 0).
    pub(super) encode_errors: u64,
    /// Snapshot chunks sent to followers.
    pub(super) snapshot_chunks_sent: u64,
}

/// The socket, the sealer and the peer table: where the node's datagrams go.
pub(super) struct UdpTransport {
    sock: UdpSocket,
    sealer: Sealer,
    peers: HashMap<u32, SocketAddr>,
    max_frame_bytes: usize,
    /// Reusable buffer: a frame to seal (tag byte first).
    frame: Vec<u8>,
    /// Sealed datagrams waiting for the next `sendmmsg`.
    queue: SendQueue,
    pub(super) counters: SendCounters,
}

impl UdpTransport {
    /// Sends through `sock`, sealed by `sealer`, raft frames of at most `max_frame_bytes`, to
    /// no peer until [`UdpTransport::set_peers`].
    pub(super) fn new(sock: UdpSocket, sealer: Sealer, max_frame_bytes: usize) -> UdpTransport {
        UdpTransport {
            sock,
            sealer,
            peers: HashMap::new(),
            max_frame_bytes,
            frame: Vec::new(),
            queue: SendQueue::new(),
            counters: SendCounters::default(),
        }
    }

    /// Sends raft messages to these peers from now on (messages to anyone else are dropped).
    pub(super) fn set_peers(&mut self, peers: HashMap<u32, SocketAddr>) {
        self.peers = peers;
    }

    /// The ids raft messages can be sent to, ascending.
    pub(super) fn peer_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.peers.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The socket (the node loop receives on it).
    pub(super) fn socket(&self) -> &UdpSocket {
        &self.sock
    }

    /// Sends a reply to a client's request `id` at `addr`.
    pub(super) fn reply(&mut self, addr: SocketAddr, id: u64, body: ReplyBody) {
        wire::encode(wire::TAG_REPLY, &ServerReply { id, body }, &mut self.frame);
        self.send_frame(addr);
    }

    /// Tells a node removed from the cluster, at `addr`, that this node's configuration as of
    /// its applied `index` no longer has it (see `retire.rs`).
    pub(super) fn removal_notice(&mut self, addr: SocketAddr, index: u64) {
        wire::encode(wire::TAG_REMOVED, &index, &mut self.frame);
        self.send_frame(addr);
    }

    /// Seals the frame buffer into the send queue for `addr` (sending the queue once a batch
    /// is full).
    fn send_frame(&mut self, addr: SocketAddr) {
        match self.sealer.seal(&self.frame, self.queue.slot()) {
            Ok(()) => {
                self.queue.push(addr);
                if self.queue.is_full() {
                    self.send_queued();
                }
            }
            Err(e) => {
                self.counters.send_errors += 1;
                tracing::warn!(error = %e, "cannot seal");
            }
        }
    }

    /// Sends every queued datagram (`sendmmsg` batches); what cannot be sent is counted.
    pub(super) fn send_queued(&mut self) {
        if !self.queue.is_empty() {
            self.counters.send_errors += self.queue.flush(&self.sock);
        }
    }
}

impl Transport for UdpTransport {
    type Error = NodeError;

    fn send<L: EntrySource + ?Sized>(&mut self, msg: Outgoing<'_, L>) -> Result<(), NodeError> {
        let to = msg.to();
        let Some(&addr) = self.peers.get(&to.0) else {
            return Ok(());
        };
        if matches!(msg.message(), Message::Snapshot(_)) {
            self.counters.snapshot_chunks_sent += 1;
        }
        self.frame.clear();
        self.frame.resize(1 + self.max_frame_bytes, 0);
        self.frame[0] = wire::TAG_RAFT;
        match msg.encode(&mut self.frame[1..]) {
            Ok(n) => {
                self.frame.truncate(1 + n);
                self.send_frame(addr);
            }
            Err(e) => {
                // Not fatal: raft retries. Counted: it would mean a core/driver mismatch.
                self.counters.encode_errors += 1;
                tracing::warn!(error = %e, to = to.0, "cannot encode");
            }
        }
        Ok(())
    }
}

impl<M: StateMachine> Node<M> {
    /// Receives and handles the datagrams queued on the socket, waiting for the first one up
    /// to the socket's timeout when `wait`: `recvmmsg` batches until the queue is empty or
    /// [`BATCH`] datagrams were handled (the rest wait for the next turn, after this turn's
    /// group commit).
    pub(super) fn receive(&mut self, wait: bool) -> Result<(), NodeError> {
        let mut handled = 0;
        loop {
            let sock = self.engine.transport().socket();
            let n = match self.rx.recv(sock, wait && handled == 0) {
                Ok(n) => n,
                Err(_) => {
                    // E.g. ECONNREFUSED from an ICMP error of an earlier send: not fatal.
                    self.counters.recv_errors += 1;
                    0
                }
            };
            if n > 0 {
                // What arrived while the process was stalled is handled only after the
                // stall's ticks: a leader paused past its lease learns it first.
                self.step_due_ticks(std::time::Instant::now())?;
            }
            for i in 0..n {
                self.on_datagram(i)?;
            }
            handled += n;
            if n < RECV_BATCH || handled >= BATCH {
                return Ok(());
            }
        }
    }

    /// Handles the `i`th datagram of the last batch received.
    pub(super) fn on_datagram(&mut self, i: usize) -> Result<(), NodeError> {
        let Some((datagram, from)) = self.rx.get(i) else {
            return Ok(());
        };
        if from == self.waker_addr {
            return Ok(());
        }
        let sender = match self.opener.open(from, datagram) {
            Ok(o) => {
                self.plain.clear();
                self.plain.extend_from_slice(o.plaintext);
                o.sender
            }
            Err(reason) => {
                let removed = (reason == DropReason::Removed)
                    .then(|| sender_of(datagram))
                    .flatten();
                let theirs = read_notice(datagram);
                if let Some(sender) = removed {
                    self.tell_removed(sender, from);
                }
                self.report_refusal(from, reason, theirs);
                return Ok(());
            }
        };
        if self.fault.as_ref().is_some_and(|f| f.drops(sender)) {
            return Ok(());
        }
        let plain = std::mem::take(&mut self.plain);
        let r = match plain.split_first() {
            Some((&wire::TAG_RAFT, frame)) => self.on_raft_frame(sender, frame),
            Some((&wire::TAG_REMOVED, body)) if sender < CLIENT_ID_MIN => {
                match wire::decode::<u64>(body) {
                    Some(index) => self.told_removed(sender, index),
                    None => self.counters.bad_payload += 1,
                }
                Ok(())
            }
            Some((&wire::TAG_CLIENT, body)) => match wire::decode_command(body) {
                // The common request, borrowed from the plaintext buffer (no allocation).
                Some((id, cmd)) => self.on_command(from, id, cmd),
                None => match wire::decode::<ClientRequest>(body) {
                    Some(req) => self.on_client(from, req),
                    None => {
                        self.counters.bad_payload += 1;
                        Ok(())
                    }
                },
            },
            _ => {
                self.counters.bad_payload += 1;
                Ok(())
            }
        };
        self.plain = plain;
        r
    }

    /// Logs the refusal of a datagram from `from` (already counted by the opener; `theirs`:
    /// the refusal notice it is, if it is one) unless `from` was reported within the interval,
    /// and then answers a misconfigured sender with a refusal notice.
    fn report_refusal(&mut self, from: SocketAddr, reason: DropReason, theirs: Option<DropReason>) {
        let Some(suppressed) = self.drop_log.note(from, Instant::now()) else {
            return;
        };
        if let Some(theirs) = theirs {
            tracing::warn!(
                %from,
                reason = %theirs,
                hint = theirs.hint(),
                suppressed,
                "a node refused this node's datagrams: check the key file and peer addresses"
            );
            return;
        }
        match reason {
            DropReason::Removed => tracing::info!(
                %from,
                suppressed,
                "dropped a datagram from a node removed from the cluster (told it so)"
            ),
            DropReason::Replayed | DropReason::TooOld => tracing::info!(
                %from,
                %reason,
                hint = reason.hint(),
                suppressed,
                "dropped a stale datagram"
            ),
            _ => tracing::warn!(
                %from,
                %reason,
                hint = reason.hint(),
                suppressed,
                "dropped a datagram that failed authentication"
            ),
        }
        if let Some(notice) = notice_for(reason) {
            let _ = self.engine.transport().socket().send_to(&notice, from);
        }
    }

    fn on_raft_frame(&mut self, sender: u32, frame: &[u8]) -> Result<(), NodeError> {
        // The transport authenticated `sender`; the frame must not claim to be someone else.
        if let Ok((h, _)) = codec::decode(frame) {
            if h.from.0 != sender || sender >= CLIENT_ID_MIN {
                self.counters.sender_mismatch += 1;
                return Ok(());
            }
        }
        // raft-core decodes again and counts malformed, wrong-cluster, misaddressed frames.
        self.step(Input::Frame(frame)).map(|_| ())
    }
}
