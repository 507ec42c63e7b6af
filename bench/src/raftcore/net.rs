//! The harness's FIFO network: each node's [`Outbox`] is the engine's transport, and every
//! outbox queues what it sends on the one FIFO queue of the network ([`Net`], shared by the
//! outboxes), so a message is queued and taken once, in the order it was sent.
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

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use raft_core::codec::{self, EntrySource};
use raft_core::engine::Outgoing;
use raft_core::{EntryCount, Input, Message, NodeId, StoreError};

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

/// A queued message: its sender's and addressee's indexes and where its bytes are in the
/// sender's arena.
#[derive(Clone, Copy, Debug)]
pub struct Queued {
    /// Index of the sender.
    pub from: usize,
    /// Index of the addressee.
    pub to: usize,
    /// Start of the frame (or body) in the arena.
    pub start: usize,
    /// Its length.
    pub len: usize,
}

/// The network's FIFO queue, shared by the outboxes.
type Fifo = Rc<RefCell<VecDeque<Queued>>>;

/// One node's sent messages not yet delivered: the engine's [`raft_core::engine::Transport`].
/// Each message is queued on the network's FIFO; its bytes wait in this outbox's arena and,
/// in-process, its descriptor in a queue beside them (so the FIFO moves no more than its
/// 32-byte entries).
pub struct Outbox {
    transport: Transport,
    /// This node's index.
    me: usize,
    arena: Box<[u8]>,
    tail: usize,
    /// Messages of this outbox still queued (the arena is reset when none is).
    waiting: usize,
    fifo: Fifo,
    descs: VecDeque<Message<EntryCount>>,
}

impl Outbox {
    pub(super) fn new(net: &Net, me: usize) -> Outbox {
        let transport = net.transport;
        Outbox {
            transport,
            me,
            arena: vec![0u8; ARENA_BYTES].into(),
            tail: 0,
            waiting: 0,
            fifo: Rc::clone(&net.fifo),
            descs: VecDeque::with_capacity(match transport {
                Transport::Frames => 0,
                Transport::InProcess => 1 << 16,
            }),
        }
    }

    /// Heap bytes of the outbox (arena and descriptor queue; the FIFO is the network's).
    pub fn heap_bytes(&self) -> usize {
        self.arena.len() + self.descs.capacity() * std::mem::size_of::<Message<EntryCount>>()
    }

    /// Messages of this outbox waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.waiting
    }

    /// Whether nothing of this outbox waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Drops every waiting message of the network. Only for a network where nothing else
    /// waits than what this outbox sent (the micro benchmarks drop each answer).
    #[inline]
    pub fn clear(&mut self) {
        debug_assert_eq!(self.fifo.borrow().len(), self.waiting);
        self.fifo.borrow_mut().clear();
        self.descs.clear();
        self.waiting = 0;
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
        self.fifo.borrow_mut().push_back(Queued {
            from: self.me,
            to: (to.0 - 1) as usize,
            start: self.tail,
            len,
        });
        self.waiting += 1;
        self.tail += len;
    }

    /// `q`, this outbox's message, was taken off the FIFO: its descriptor in-process. The
    /// bytes stay in the arena (read them with [`Outbox::bytes`]) until this node sends again.
    #[inline]
    pub(super) fn taken(&mut self) -> Option<Message<EntryCount>> {
        let desc = match self.transport {
            Transport::Frames => None,
            Transport::InProcess => Some(self.descs.pop_front().expect("a descriptor per entry")),
        };
        self.waiting -= 1;
        if self.waiting == 0 {
            self.tail = 0;
        }
        desc
    }

    /// The bytes of a message taken by [`Outbox::pop`].
    #[inline]
    pub(super) fn bytes(&self, q: &Queued) -> &[u8] {
        &self.arena[q.start..q.start + q.len]
    }
}

impl raft_core::engine::Transport for Outbox {
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

/// The network: one FIFO queue of every message sent, in the order it was sent (the outboxes
/// push onto it).
pub struct Net {
    /// The transport of this network.
    pub transport: Transport,
    fifo: Fifo,
}

impl Net {
    pub(super) fn new(transport: Transport) -> Net {
        Net {
            transport,
            fifo: Rc::new(RefCell::new(VecDeque::with_capacity(1 << 16))),
        }
    }

    /// Heap bytes of the FIFO queue (the outboxes count their own).
    pub fn heap_bytes(&self) -> usize {
        self.fifo.borrow().capacity() * std::mem::size_of::<Queued>()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.fifo.borrow().is_empty()
    }

    /// The front message, taken off the queue.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<Queued> {
        self.fifo.borrow_mut().pop_front()
    }
}
