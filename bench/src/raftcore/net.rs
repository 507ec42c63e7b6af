//! The harness's FIFO network: one queue ([`Fifo`]) that every node's [`Outbox`] (the
//! engine's transport) appends to, so a message is queued and taken once, in the order it was
//! sent across the nodes.
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
//! The queue is shared by the outboxes (each engine owns its transport) and the network
//! without a `RefCell`: its slots and its two positions are `Cell`s of `Copy` values, so a
//! push or a pop is plain loads and stores, with no borrow flag to test and set. It is a ring
//! of [`FIFO_SLOTS`] fixed slots, allocated once per cluster; a push that would overrun it
//! panics.
//!
//! Each arena is allocated once per cluster; messages are appended at its tail and every
//! arena is reset when the network has drained (the end of each `drive()`), so the network
//! allocates nothing. A receiver decodes straight from the sender's arena while its own step
//! writes into its own (a node never sends to itself).

use std::cell::Cell;
use std::rc::Rc;

use raftcore::codec::{self, EntrySource, WireEntries};
use raftcore::engine::Outgoing;
use raftcore::{
    Append, AppendResponse, EntryCount, Input, Message, NodeId, ReadIndexRequest, StoreError, Term,
};

use super::CLUSTER;

/// Bytes of each outbox's arena (one drive() of the B=1000 workload needs ~0.3 MB in all).
pub const ARENA_BYTES: usize = 16 << 20;

/// Slots of the network's queue: more messages than wait at once in any of the workloads
/// (a push past this panics, so a workload that queued more would say so).
pub const FIFO_SLOTS: usize = 1 << 13;

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
#[derive(Clone, Copy, Debug, Default)]
pub struct Queued {
    /// Index of the sender.
    pub from: usize,
    /// Index of the addressee.
    pub to: usize,
    /// Start of the frame (or body) in the sender's arena.
    pub start: usize,
    /// Its length.
    pub len: usize,
}

/// A queued message's descriptor (in-process): the two hot kinds in place, any other kind in
/// the queue's ring of whole messages at the same slot. (A `Message` is as large as its
/// largest kind, a snapshot chunk with its membership; an AppendEntries or its answer is half
/// as large, and copying only that in and out is what every message costs.)
#[derive(Clone, Copy, Debug)]
enum Desc {
    Append(Append<EntryCount>),
    AppendResponse(AppendResponse),
    Other,
}

/// The network's one FIFO queue, shared by the outboxes: a ring of [`FIFO_SLOTS`] slots,
/// message `i` (counted from the cluster's start) in slot `i % FIFO_SLOTS`. In-process,
/// message `i`'s descriptor is in `descs` (and, if neither an AppendEntries nor its answer,
/// in `others`) at the same slot.
pub struct Fifo {
    /// Position of the front message.
    head: Cell<usize>,
    /// Position after the back message.
    tail: Cell<usize>,
    slots: Box<[Cell<Queued>; FIFO_SLOTS]>,
    descs: Box<[Cell<Desc>; FIFO_SLOTS]>,
    others: Box<[Cell<Message<EntryCount>>; FIFO_SLOTS]>,
}

impl Fifo {
    fn new() -> Fifo {
        // A placeholder message (never read: a slot is read only after a push wrote it).
        let blank = Message::ReadIndex(ReadIndexRequest {
            term: Term(0),
            id: 0,
        });
        Fifo {
            head: Cell::new(0),
            tail: Cell::new(0),
            slots: ring(Queued::default()),
            descs: ring(Desc::Other),
            others: ring(blank),
        }
    }

    /// Whether nothing is queued.
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.head.get() == self.tail.get()
    }

    /// Queues `q` (in-process with its descriptor `desc`) at the back.
    #[inline(always)]
    fn push(&self, q: Queued, desc: Option<&Message<EntryCount>>) {
        let t = self.tail.get();
        assert!(
            t.wrapping_sub(self.head.get()) < FIFO_SLOTS,
            "the network's queue is full"
        );
        let slot = t % FIFO_SLOTS;
        if let Some(m) = desc {
            let d = match m {
                Message::Append(a) => Desc::Append(*a),
                Message::AppendResponse(r) => Desc::AppendResponse(*r),
                m => {
                    self.others[slot].set(*m);
                    Desc::Other
                }
            };
            self.descs[slot].set(d);
        }
        self.slots[slot].set(q);
        self.tail.set(t + 1);
    }

    /// Takes the front message off the queue: its position, to read it with
    /// [`Fifo::queued`] and [`Fifo::attach`] before anything else is queued.
    #[inline(always)]
    fn pop(&self) -> Option<usize> {
        let h = self.head.get();
        if h == self.tail.get() {
            return None;
        }
        self.head.set(h + 1);
        Some(h)
    }

    /// Where the message at `pos` goes and where its bytes are.
    #[inline(always)]
    fn queued(&self, pos: usize) -> Queued {
        self.slots[pos % FIFO_SLOTS].get()
    }

    /// The message at `pos` (in-process): its descriptor with `body` attached.
    #[inline(always)]
    fn attach<'b>(&self, pos: usize, body: &'b [u8]) -> Message<WireEntries<'b>> {
        let slot = pos % FIFO_SLOTS;
        match self.descs[slot].get() {
            Desc::Append(a) => codec::attach_body(&Message::Append(a), body),
            Desc::AppendResponse(r) => codec::attach_body(&Message::AppendResponse(r), body),
            Desc::Other => codec::attach_body(&self.others[slot].get(), body),
        }
        .expect("attach body")
    }

    /// Drops every queued message.
    #[inline(always)]
    fn clear(&self) {
        self.head.set(self.tail.get());
    }

    /// Heap bytes of the rings.
    fn heap_bytes(&self) -> usize {
        FIFO_SLOTS
            * (std::mem::size_of::<Queued>()
                + std::mem::size_of::<Desc>()
                + std::mem::size_of::<Message<EntryCount>>())
    }
}

/// A boxed ring of [`FIFO_SLOTS`] cells holding `v`.
fn ring<T: Copy>(v: T) -> Box<[Cell<T>; FIFO_SLOTS]> {
    let slots: Box<[Cell<T>]> = vec![Cell::new(v); FIFO_SLOTS].into_boxed_slice();
    slots.try_into().ok().expect("FIFO_SLOTS cells")
}

/// One node's side of the network, the engine's [`raftcore::engine::Transport`]: its arena,
/// where the bytes of what it sent wait until the network drains, and a handle on the
/// network's queue, where each message it sends is queued.
pub struct Outbox {
    transport: Transport,
    /// This node's index.
    me: usize,
    arena: Box<[u8]>,
    tail: usize,
    fifo: Rc<Fifo>,
}

impl Outbox {
    pub(super) fn new(net: &Net, me: usize) -> Outbox {
        Outbox {
            transport: net.transport,
            me,
            arena: vec![0u8; ARENA_BYTES].into(),
            tail: 0,
            fifo: Rc::clone(&net.fifo),
        }
    }

    /// Heap bytes of the outbox (its arena; the queue is the network's).
    pub fn heap_bytes(&self) -> usize {
        self.arena.len()
    }

    /// Whether nothing waits in the network (this outbox's messages or any other's).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.fifo.is_empty()
    }

    /// Drops every message waiting in the network and resets this outbox's arena. Only for a
    /// network where nothing waits but what this outbox sent (the micro benchmarks drop each
    /// answer).
    #[inline]
    pub fn clear(&mut self) {
        self.fifo.clear();
        self.tail = 0;
    }

    /// Resets the arena; the network must have drained (nothing refers to it any more).
    #[inline]
    pub(super) fn reset(&mut self) {
        debug_assert!(self.fifo.is_empty());
        self.tail = 0;
    }

    /// Queues `bytes` (a frame, or in-process a body with its descriptor `desc`) to `to` as
    /// the harness's own message, not a step's output (the micro benchmarks' setup).
    pub(super) fn inject(&mut self, to: NodeId, bytes: &[u8], desc: Option<Message<EntryCount>>) {
        self.arena[self.tail..self.tail + bytes.len()].copy_from_slice(bytes);
        let desc = match self.transport {
            Transport::Frames => None,
            Transport::InProcess => Some(desc.expect("a descriptor in-process")),
        };
        self.push(to, bytes.len(), desc.as_ref());
    }

    #[inline(always)]
    fn push(&mut self, to: NodeId, len: usize, desc: Option<&Message<EntryCount>>) {
        let q = Queued {
            from: self.me,
            to: (to.0 - 1) as usize,
            start: self.tail,
            len,
        };
        self.fifo.push(q, desc);
        self.tail += len;
    }

    /// The bytes of message `q`, sent by this outbox.
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
        match self.transport {
            Transport::Frames => {
                let len = m.encode(buf).expect("encode (arena large enough)");
                self.push(m.to(), len, None);
            }
            Transport::InProcess => {
                let len = codec::encode_body(m.message(), m.source(), buf)
                    .expect("body (arena large enough)");
                self.push(m.to(), len, Some(m.message()));
            }
        }
        Ok(())
    }
}

/// The message at `pos` of `net`'s queue, sent by `sender` (whose arena holds its bytes), as
/// the input its addressee steps.
#[inline(always)]
pub(super) fn input<'b>(net: &Net, pos: usize, q: &Queued, sender: &'b Outbox) -> Input<'b> {
    let bytes = sender.bytes(q);
    match net.transport {
        Transport::InProcess => Input::Message {
            from: NodeId(q.from as u32 + 1),
            msg: net.fifo.attach(pos, bytes),
        },
        Transport::Frames => {
            let (hdr, msg) = codec::decode(bytes).expect("decode");
            debug_assert_eq!(hdr.to, CLUSTER[q.to]);
            Input::Message {
                from: hdr.from,
                msg,
            }
        }
    }
}

/// The network: its one FIFO queue, which the outboxes share.
pub struct Net {
    /// The transport of this network.
    pub transport: Transport,
    fifo: Rc<Fifo>,
}

impl Net {
    pub(super) fn new(transport: Transport) -> Net {
        Net {
            transport,
            fifo: Rc::new(Fifo::new()),
        }
    }

    /// Heap bytes of the queue (the outboxes count their arenas).
    pub fn heap_bytes(&self) -> usize {
        self.fifo.heap_bytes()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.fifo.is_empty()
    }

    /// Takes the front message off the queue: where it goes, where its bytes are (in its
    /// sender's arena until the network drains), and its position, to read it with
    /// [`input`] before anything else is queued.
    #[inline(always)]
    pub(super) fn pop(&self) -> Option<(usize, Queued)> {
        let pos = self.fifo.pop()?;
        Some((pos, self.fifo.queued(pos)))
    }
}
