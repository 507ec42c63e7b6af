//! Many requests in flight from one socket: a [`Pipeline`] has `depth` slots, each its own
//! key-value session with at most one request outstanding (so the session's sequence numbers
//! stay in order and every write still applies exactly once), all sealed by one sealer and
//! answered on one socket, matched to their slot by request id. It finds and follows the
//! leader and backs off like a [`Client`](super::Client) ([`backoff`](super::backoff)).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::backoff::Backoff;
use super::{ClientError, ClientOptions, Failure, MAX_UDP};
use crate::config::Peer;
use crate::kv::{Command, Request, Response};
use crate::transport::{ClusterKey, Opener, PeerBinding, Sealer, CLIENT_ID_MIN};
use crate::wire::{self, ClientBody, ClientRequest, ReplyBody, ServerReply};

/// A request finished (answered, or failed at the deadline).
#[derive(Debug)]
pub struct Completion {
    /// The slot it ran in (free again now).
    pub slot: usize,
    /// The answer.
    pub result: Result<Response, ClientError>,
    /// From its submission to its answer.
    pub latency: Duration,
}

/// One outstanding request.
struct InFlight {
    /// The encoded [`Request`] (session, sequence number, command), the same on every attempt.
    command: Vec<u8>,
    /// The request's number: its attempts' ids are `number << 8 | attempt` (so a late reply
    /// to an earlier attempt still answers it).
    number: u64,
    /// Attempts sent (the current one's number, wrapping at 256).
    attempt: u64,
    started: Instant,
    sent_at: Instant,
    /// When the attempt times out (`waiting`), or when the pause ends and it is sent again.
    due: Instant,
    waiting: bool,
    /// Whether any node answered it at all (for the failure at the deadline).
    answered: bool,
    redirects: usize,
    /// The node the current attempt went to.
    node: usize,
    last: String,
}

struct Slot {
    session: u64,
    seq: u64,
    op: Option<InFlight>,
}

/// Up to `depth` requests in flight over one socket (see the module docs).
pub struct Pipeline {
    sock: UdpSocket,
    sealer: Sealer,
    opener: Opener,
    nodes: Vec<Peer>,
    target: usize,
    slots: Vec<Slot>,
    next_req: u64,
    opts: ClientOptions,
    backoff: Backoff,
    buf: Vec<u8>,
    frame: Vec<u8>,
    sealed: Vec<u8>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("depth", &self.slots.len())
            .field("target", &self.nodes[self.target].id)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline of `depth` sessions (at least one) to the cluster `nodes` under `key`.
    pub fn new(
        key: &ClusterKey,
        nodes: Vec<Peer>,
        opts: ClientOptions,
        depth: usize,
    ) -> io::Result<Pipeline> {
        if nodes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no nodes given",
            ));
        }
        let any: SocketAddr = if nodes[0].addr.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = UdpSocket::bind(any)?;
        let tid = CLIENT_ID_MIN | (crate::node::random_u64() as u32 & !CLIENT_ID_MIN);
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let opener = Opener::new(
            key,
            tid,
            nodes.iter().map(|p| (p.id, PeerBinding::Fixed(p.addr))),
            MAX_UDP,
        );
        let slots = (0..depth.max(1))
            .map(|_| Slot {
                session: crate::node::random_u64(),
                seq: 0,
                op: None,
            })
            .collect();
        Ok(Pipeline {
            sock,
            sealer: Sealer::new(key, tid, epoch, MAX_UDP),
            opener,
            target: (crate::node::random_u64() % nodes.len() as u64) as usize,
            nodes,
            slots,
            next_req: 1,
            opts,
            backoff: Backoff::new(opts.attempt_timeout, crate::node::random_u64()),
            buf: vec![0; MAX_UDP],
            frame: Vec::new(),
            sealed: Vec::new(),
        })
    }

    /// Sends the next requests to node `id` first.
    pub fn set_target(&mut self, id: u32) {
        if let Some(k) = self.nodes.iter().position(|p| p.id == id) {
            self.target = k;
        }
    }

    /// The node requests go to (the last known leader).
    pub fn target(&self) -> u32 {
        self.nodes[self.target].id
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.op.is_some()).count()
    }

    /// Starts `command` in a free slot and returns the slot, or gives the command back when
    /// every slot is busy ([`Pipeline::poll`] frees them).
    pub fn submit(&mut self, command: Command) -> Result<usize, Command> {
        let Some(k) = self.slots.iter().position(|s| s.op.is_none()) else {
            return Err(command);
        };
        let slot = &mut self.slots[k];
        // Gets take no session slot (see `Client::execute`).
        let seq = if matches!(command, Command::Get { .. }) {
            0
        } else {
            slot.seq += 1;
            slot.seq
        };
        let req = Request {
            client: slot.session,
            seq,
            command,
        };
        let now = Instant::now();
        self.next_req += 1;
        slot.op = Some(InFlight {
            command: req.encode(),
            number: self.next_req,
            attempt: 0,
            started: now,
            sent_at: now,
            due: now,
            waiting: false,
            answered: false,
            redirects: 0,
            node: self.target,
            last: "not sent yet".into(),
        });
        self.send(k);
        Ok(k)
    }

    /// Waits for answers (at most until the next attempt is due), resends what timed out or
    /// finished its pause, and appends what finished to `done`. Returns at once when nothing
    /// is in flight.
    pub fn poll(&mut self, done: &mut Vec<Completion>) -> Result<(), ClientError> {
        let before = done.len();
        loop {
            let now = Instant::now();
            let mut next_due: Option<Instant> = None;
            for k in 0..self.slots.len() {
                let Some(op) = &mut self.slots[k].op else {
                    continue;
                };
                if op.due > now {
                    next_due = Some(next_due.map_or(op.due, |d| d.min(op.due)));
                    continue;
                }
                if op.waiting {
                    op.last = format!("no reply from {}", self.nodes[op.node].addr);
                    // Requests timing out together count as one silence of their node.
                    if op.node == self.target && self.backoff.on_silence() {
                        self.target = (self.target + 1) % self.nodes.len();
                    }
                }
                let waited = now.duration_since(op.started);
                if waited >= self.opts.deadline {
                    let Some(op) = self.slots[k].op.take() else {
                        continue;
                    };
                    let failure = if op.answered {
                        Failure::OutcomeUnknown
                    } else {
                        Failure::NoReply
                    };
                    done.push(Completion {
                        slot: k,
                        result: Err(ClientError::Failed {
                            failure,
                            waited,
                            last: op.last,
                        }),
                        latency: waited,
                    });
                    continue;
                }
                self.send(k);
                if let Some(op) = &self.slots[k].op {
                    next_due = Some(next_due.map_or(op.due, |d| d.min(op.due)));
                }
            }
            if done.len() > before {
                return Ok(());
            }
            let Some(due) = next_due else {
                return Ok(());
            };
            let wait = due.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                continue;
            }
            self.sock
                .set_read_timeout(Some(wait))
                .map_err(ClientError::Io)?;
            match self.sock.recv_from(&mut self.buf) {
                Ok((n, from)) => self.on_datagram(n, from, done),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                // ECONNREFUSED: a node is down; its attempts time out.
                Err(_) => {}
            }
            if done.len() > before {
                return Ok(());
            }
        }
    }

    /// Sends slot `k`'s request (a new attempt, a new request id) to the target.
    fn send(&mut self, k: usize) {
        let now = Instant::now();
        let timeout = self.backoff.attempt_timeout();
        let addr = self.nodes[self.target].addr;
        let Some(op) = &mut self.slots[k].op else {
            return;
        };
        op.attempt = (op.attempt + 1) & 0xff;
        let id = op.number << 8 | op.attempt;
        let body = ClientBody::Command(op.command.clone());
        wire::encode(
            wire::TAG_CLIENT,
            &ClientRequest { id, body },
            &mut self.frame,
        );
        op.node = self.target;
        op.sent_at = now;
        op.due = now + timeout;
        op.waiting = true;
        if self.sealer.seal(&self.frame, &mut self.sealed).is_err() {
            op.last = "cannot seal the request".into();
            return;
        }
        if let Err(e) = self.sock.send_to(&self.sealed, addr) {
            op.last = format!("cannot send to {addr}: {e}");
        }
    }

    /// A datagram from `from`: the answer to one slot's current attempt, or ignored.
    fn on_datagram(&mut self, n: usize, from: SocketAddr, done: &mut Vec<Completion>) {
        let Ok(opened) = self.opener.open(from, &self.buf[..n]) else {
            return;
        };
        let Some((&wire::TAG_REPLY, body)) = opened.plaintext.split_first() else {
            return;
        };
        let Some(reply) = wire::decode::<ServerReply>(body) else {
            return;
        };
        let Some(k) = self.slots.iter().position(|s| {
            s.op.as_ref()
                .is_some_and(|op| op.waiting && op.number == reply.id >> 8)
        }) else {
            return;
        };
        let now = Instant::now();
        let Some(op) = &mut self.slots[k].op else {
            return;
        };
        if reply.id & 0xff == op.attempt {
            // Only the current attempt's send time times its reply.
            self.backoff.on_reply(now.duration_since(op.sent_at));
        }
        op.answered = true;
        op.waiting = false;
        let node = self.nodes[op.node].id;
        let result = match reply.body {
            ReplyBody::Applied(r) => Response::decode(&r).map_err(|_| ClientError::BadReply),
            ReplyBody::TooLarge => Err(ClientError::TooLarge),
            ReplyBody::NotLeader { leader: Some(l) }
                if l != node && self.nodes.iter().any(|p| p.id == l) =>
            {
                op.last = format!("node {node} redirected to {l}");
                op.redirects += 1;
                let pause = if op.redirects > self.nodes.len() {
                    self.backoff.pause()
                } else {
                    Duration::ZERO
                };
                op.due = now + pause;
                self.set_target(l);
                return;
            }
            ReplyBody::Busy => {
                op.last = format!("node {node} busy");
                op.due = now + self.backoff.pause();
                return;
            }
            other => {
                op.last = format!("node {node}: {other:?}");
                self.target = (self.target + 1) % self.nodes.len();
                op.due = now + self.backoff.pause();
                return;
            }
        };
        self.backoff.on_answer();
        let started = op.started;
        self.slots[k].op = None;
        done.push(Completion {
            slot: k,
            result,
            latency: now.duration_since(started),
        });
    }
}
