//! The harness's FIFO network: each node's [`Outbox`] is the engine's transport, and one
//! queue of senders keeps every message in the order it was sent.
//!
//! Two transports, chosen per cluster ([`Transport`]):
//! - **frames**: each message encoded by [`Outgoing::encode`] (the codec reading entries from
//!   the sender's store) into its outbox's arena and decoded, borrowing, by
//!   [`codec::decode`] at the receiver: what a driver sending datagrams does;
//! - **in-process**: BENCH.md's "cheaper zero-copy path if the API offers one". The message
//!   descriptor itself ([`Outgoing::message`]) is queued and only its body (an
//!   AppendEntries' entry records, copied once from the sender's store by
//!   [`codec::encode_body`] through [`Outgoing::source`]) goes into the arena; the receiver
//!   attaches it with [`codec::attach_body`], which checks it as decoding would. What nodes
//!   sharing an address space (firmware running several nodes, a test) do.
//!
//! Each arena is allocated once per cluster; messages are appended at its tail and it is
//! reset whenever its outbox drains (each `drive()` drains them all), so the network
//! allocates nothing. A receiver decodes straight from the sender's arena while its own
//! step writes into its own (a node never sends to itself).

use std::collections::VecDeque;

use raftcore::codec::{self, EntrySource};
use raftcore::engine::Outgoing;
use raftcore::{EntryCount, Input, Message, NodeId, StoreError};

use super::CLUSTER;

/// Bytes of each outbox's arena (one drive() of the B=1000 workload needs ~0.3 MB in all).
pub const ARENA_BYTES: usize = 16 << 20;

/// How messages travel between the harness's nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Encoded frames, decoded at the receiver.
    Frames,
    /// The message descriptor queued as is, its body in the arena.
    InProcess,
}

/// A queued message: the addressee's index and where its bytes are in the sender's arena.
#[derive(Clone, Copy, Debug)]
pub struct Queued {
    /// Index of the addressee.
    pub to: usize,
    /// Start of the frame (or body) in the arena.
    pub start: usize,
    /// Its length.
    pub len: usize,
}

/// One node's sent messages not yet delivered: the engine's [`raftcore::engine::Transport`].
/// In-process, each message's descriptor waits in a second queue beside it (so the frames
/// transport moves no more than its 24-byte entries).
pub struct Outbox {
    transport: Transport,
    arena: Box<[u8]>,
    tail: usize,
    queue: VecDeque<Queued>,
    descs: VecDeque<Message<EntryCount>>,
}

impl Outbox {
    pub(super) fn new(transport: Transport) -> Outbox {
        Outbox {
            transport,
            arena: vec![0u8; ARENA_BYTES].into(),
            tail: 0,
            queue: VecDeque::with_capacity(1 << 16),
            descs: VecDeque::with_capacity(match transport {
                Transport::Frames => 0,
                Transport::InProcess => 1 << 16,
            }),
        }
    }

    /// Heap bytes of the outbox (arena and queue buffers).
    pub fn heap_bytes(&self) -> usize {
        self.arena.len()
            + self.queue.capacity() * std::mem::size_of::<Queued>()
            + self.descs.capacity() * std::mem::size_of::<Message<EntryCount>>()
    }

    /// Messages waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops every waiting message.
    #[inline]
    pub fn clear(&mut self) {
        self.queue.clear();
        self.descs.clear();
        self.tail = 0;
    }

    /// Queues `bytes` (a frame, or in-process a body with its descriptor `desc`) to `to` as
    /// the harness's own message, not a step's output (the micro benchmarks' setup).
    pub(super) fn inject(&mut self, to: NodeId, bytes: &[u8], desc: Option<Message<EntryCount>>) {
        self.arena[self.tail..self.tail + bytes.len()].copy_from_slice(bytes);
        if let (Transport::InProcess, Some(d)) = (self.transport, desc) {
            self.descs.push_back(d);
        }
        self.push(to, bytes.len());
    }

    #[inline(always)]
    fn push(&mut self, to: NodeId, len: usize) {
        self.queue.push_back(Queued {
            to: (to.0 - 1) as usize,
            start: self.tail,
            len,
        });
        self.tail += len;
    }

    /// Takes the front message: where it goes and, in-process, its descriptor. The bytes stay
    /// in the arena (read them with [`Outbox::bytes`]) until this node sends again.
    #[inline]
    pub(super) fn pop(&mut self) -> (Queued, Option<Message<EntryCount>>) {
        let q = self.queue.pop_front().expect("a queued message");
        let desc = match self.transport {
            Transport::Frames => None,
            Transport::InProcess => Some(self.descs.pop_front().expect("a descriptor per entry")),
        };
        if self.queue.is_empty() {
            self.tail = 0;
        }
        (q, desc)
    }

    /// The bytes of a message taken by [`Outbox::pop`].
    #[inline]
    pub(super) fn bytes(&self, q: &Queued) -> &[u8] {
        &self.arena[q.start..q.start + q.len]
    }
}

impl raftcore::engine::Transport for Outbox {
    type Error = StoreError;

    #[inline(always)]
    fn send<L: EntrySource + ?Sized>(&mut self, m: Outgoing<'_, L>) -> Result<(), StoreError> {
        let buf = &mut self.arena[self.tail..];
        let len = match self.transport {
            Transport::Frames => m.encode(buf).expect("encode (arena large enough)"),
            Transport::InProcess => {
                self.descs.push_back(*m.message());
                codec::encode_body(m.message(), m.source(), buf).expect("body (arena large enough)")
            }
        };
        self.push(m.to(), len);
        Ok(())
    }
}

/// The message `q` (taken from `sender`'s outbox, with its descriptor if in-process) as the
/// input its addressee steps.
#[inline(always)]
pub(super) fn input<'b>(
    sender: usize,
    sent: &'b Outbox,
    q: &Queued,
    desc: Option<Message<EntryCount>>,
) -> Input<'b> {
    let bytes = sent.bytes(q);
    match desc {
        Some(msg) => Input::Message {
            from: CLUSTER[sender],
            msg: codec::attach_body(&msg, bytes).expect("attach body"),
        },
        None => {
            let (hdr, msg) = codec::decode(bytes).expect("decode");
            debug_assert_eq!(hdr.to, CLUSTER[q.to]);
            Input::Message {
                from: hdr.from,
                msg,
            }
        }
    }
}

/// The order messages were sent in across the nodes: the sender of each, front first.
pub struct Net {
    /// The transport of this network.
    pub transport: Transport,
    order: VecDeque<u8>,
}

impl Net {
    pub(super) fn new(transport: Transport) -> Net {
        Net {
            transport,
            order: VecDeque::with_capacity(1 << 16),
        }
    }

    /// Heap bytes of the order queue (the outboxes count their own).
    pub fn heap_bytes(&self) -> usize {
        self.order.capacity()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// `n` messages were sent by node index `from`, in this order after every earlier one.
    #[inline(always)]
    pub(super) fn sent(&mut self, from: usize, n: usize) {
        for _ in 0..n {
            self.order.push_back(from as u8);
        }
    }

    /// The sender of the front message, taken off the order.
    #[inline(always)]
    pub(super) fn next_sender(&mut self) -> Option<usize> {
        self.order.pop_front().map(usize::from)
    }
}
