//! The harness's FIFO network and the performing of one step's outputs.
//!
//! Two transports, chosen per cluster ([`Transport`]):
//! - **frames**: each message encoded by [`codec::encode`] from the sender's store into a frame
//!   arena and decoded, borrowing, by [`codec::decode`] at the receiver: what a driver sending
//!   datagrams does;
//! - **in-process**: BENCH.md's "cheaper zero-copy path if the API offers one". The message
//!   descriptor itself is queued and only its body (an AppendEntries' entry records, copied
//!   once from the sender's store by [`codec::encode_body`]) goes into the arena; the receiver
//!   attaches it with [`codec::attach_body`], which checks it as decoding would. What nodes
//!   sharing an address space (firmware running several nodes, a test) do.
//!
//! The arena is allocated once per cluster; messages are appended at its tail and it is reset
//! whenever the queue drains (each `drive()` drains it), so the network allocates nothing.

use std::collections::VecDeque;

use raft_core::codec::{self, EntrySource, Header};
use raft_core::{
    persist_entries, EntryCount, HardState, Input, LogIndex, LogStore, Message, NodeId, Output,
    Outputs,
};

use super::{Store, CLUSTER, OUT};

/// Bytes of the network's arena (one drive() of the B=1000 workload needs ~0.3 MB).
pub const ARENA_BYTES: usize = 16 << 20;

/// How messages travel between the harness's nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Encoded frames, decoded at the receiver.
    Frames,
    /// The message descriptor queued as is, its body in the arena.
    InProcess,
}

/// A queued message: the addressee's index and where its bytes are in the arena.
#[derive(Clone, Copy, Debug)]
pub struct Queued {
    /// Index of the addressee.
    pub to: usize,
    /// Start of the frame (or body) in the arena.
    pub start: usize,
    /// Its length.
    pub len: usize,
}

/// The queue of a [`Net`]; in-process, each entry's sender and descriptor wait in a second
/// queue beside it (so the frames transport moves no more than its 24-byte entries).
pub struct Queue {
    bytes: VecDeque<Queued>,
    descs: VecDeque<(NodeId, Message<EntryCount>)>,
}

/// The FIFO network: bytes in an arena, [`Queued`] entries in a queue.
pub struct Net {
    /// The transport of this network.
    pub transport: Transport,
    pub(super) arena: Box<[u8]>,
    pub(super) tail: usize,
    pub(super) queue: Queue,
}

impl Net {
    pub(super) fn new(transport: Transport) -> Net {
        Net {
            transport,
            arena: vec![0u8; ARENA_BYTES].into(),
            tail: 0,
            queue: Queue {
                bytes: VecDeque::with_capacity(1 << 16),
                descs: VecDeque::with_capacity(match transport {
                    Transport::Frames => 0,
                    Transport::InProcess => 1 << 16,
                }),
            },
        }
    }

    /// Heap bytes of the network (arena and queue buffers).
    pub fn heap_bytes(&self) -> usize {
        self.arena.len()
            + self.queue.bytes.capacity() * std::mem::size_of::<Queued>()
            + self.queue.descs.capacity() * std::mem::size_of::<(NodeId, Message<EntryCount>)>()
    }

    /// Drops every queued message.
    pub fn clear(&mut self) {
        self.queue.bytes.clear();
        self.queue.descs.clear();
        self.tail = 0;
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.bytes.is_empty()
    }

    /// Queues `msg` from node index `from` to node index `to`, its bytes from `store`.
    pub fn inject(&mut self, from: usize, to: usize, msg: &Message<EntryCount>, store: &Store<'_>) {
        let tail = self.tail;
        self.tail += send(
            self.transport,
            from,
            to,
            msg,
            store,
            &mut self.arena[tail..],
            tail,
            &mut self.queue,
        );
    }

    /// Takes the front message and hands it, as an input, to `f` with the addressee's index
    /// and the free arena after the tail (where `f` writes what the step sends; it returns
    /// how many bytes it wrote). False if the queue is empty.
    #[inline]
    pub(super) fn deliver<F>(&mut self, f: F) -> bool
    where
        F: FnOnce(usize, Input<'_>, &mut [u8], usize, &mut Queue) -> usize,
    {
        let Some(q) = self.queue.bytes.pop_front() else {
            self.tail = 0;
            return false;
        };
        let tail = self.tail;
        let (sent, free) = self.arena.split_at_mut(tail);
        let bytes = &sent[q.start..q.start + q.len];
        let input = match self.transport {
            Transport::InProcess => {
                let (from, msg) = self
                    .queue
                    .descs
                    .pop_front()
                    .expect("a descriptor per entry");
                Input::Message {
                    from,
                    msg: codec::attach_body(&msg, bytes).expect("attach body"),
                }
            }
            Transport::Frames => {
                let (hdr, msg) = codec::decode(bytes).expect("decode");
                debug_assert_eq!(hdr.to, CLUSTER[q.to]);
                Input::Message {
                    from: hdr.from,
                    msg,
                }
            }
        };
        let w = f(q.to, input, free, tail, &mut self.queue);
        self.tail += w;
        true
    }
}

/// Writes `msg` from node index `from` to node index `to` into `buf` (the arena at `base`) the
/// way `transport` carries it, entries from `store`, and queues it; the bytes written.
#[allow(clippy::too_many_arguments)] // The harness's one send path; a struct adds nothing.
#[inline(always)]
pub(super) fn send(
    transport: Transport,
    from: usize,
    to: usize,
    msg: &Message<EntryCount>,
    store: &Store<'_>,
    buf: &mut [u8],
    base: usize,
    queue: &mut Queue,
) -> usize {
    let len = match transport {
        Transport::Frames => {
            let hdr = Header {
                cluster_id: 0,
                from: CLUSTER[from],
                to: CLUSTER[to],
            };
            codec::encode(&hdr, msg, store, buf).expect("encode (arena large enough)")
        }
        Transport::InProcess => {
            let len = codec::encode_body(msg, store, buf).expect("body (arena large enough)");
            queue.descs.push_back((CLUSTER[from], *msg));
            len
        }
    };
    queue.bytes.push_back(Queued {
        to,
        start: base,
        len,
    });
    len
}

/// What performing one step's outputs changes in the harness (everything but the network).
pub(super) struct NodeIo<'s, 'a> {
    pub(super) k: usize,
    pub(super) store: &'s mut Store<'a>,
    pub(super) hard: &'s mut HardState,
    pub(super) applied: &'s mut u64,
}

/// Performs `out` in order for node index `io.k`, whose step consumed `input`. Messages are
/// written into `free` (the arena after its tail) and queued as starting at `base`. Returns
/// the bytes written and the index of a wanted capture, if any (the caller reports it with
/// `Input::Captured` once this step's outputs are done).
#[inline(always)]
pub(super) fn perform(
    io: NodeIo<'_, '_>,
    transport: Transport,
    input: &Input<'_>,
    out: &Outputs<OUT>,
    free: &mut [u8],
    base: usize,
    queue: &mut Queue,
) -> (usize, Option<LogIndex>) {
    let mut w = 0;
    let mut capture = None;
    for o in out {
        match o {
            Output::Persist(p) => {
                persist_entries(io.store, p, input).expect("persist");
                if let Some(hs) = p.hard_state {
                    *io.hard = hs;
                }
            }
            Output::Send { to, msg } => {
                let to = (to.0 - 1) as usize;
                w += send(
                    transport,
                    io.k,
                    to,
                    msg,
                    io.store,
                    &mut free[w..],
                    base + w,
                    queue,
                );
            }
            Output::Apply { first, last } => {
                let mut i = *first;
                while i <= *last {
                    let e = io.store.entry(i).expect("applied entry in store");
                    if !e.data.is_empty() {
                        *io.applied += 1;
                    }
                    i = i.next();
                }
            }
            Output::Compact { upto } => io.store.compact_to(*upto),
            Output::CaptureWanted { upto } => capture = Some(*upto),
            // Proposal answers, role changes (and outputs added later, e.g. reads) need
            // nothing from this harness.
            _ => {}
        }
    }
    (w, capture)
}
