//! A blocking client of the key-value service: finds the leader by itself, retries a request
//! with the same session sequence number until it is answered (so it applies exactly once),
//! and gives up with [`ClientError::Failed`] after a deadline, saying which of the
//! [`Failure`]s it met (not sent, no reply, no authenticated reply, outcome unknown).
//! It waits adaptively ([`backoff`]): attempt timeouts from the round trips it measured, a
//! second attempt at the same node before the next, growing jittered pauses after `Busy`.
//! Membership admin requests are in [`member`]; many requests in flight at once (each in its
//! own session) in [`pipeline`].

pub mod backoff;
pub mod member;
pub mod outcome;
pub mod pipeline;
pub mod settings;

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::admin::MemberRefusal;
use crate::config::Peer;
use crate::kv::{Command, Request, Response};
use crate::transport::{read_notice, ClusterKey, Opener, PeerBinding, Sealer, CLIENT_ID_MIN};
use crate::wire::{self, ClientBody, ClientRequest, NodeStatus, ReplyBody, ServerReply};
use backoff::Backoff;
use outcome::Attempts;
pub use outcome::Failure;

const MAX_UDP: usize = 65_507;

/// Timeouts of a [`Client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// The longest one attempt waits for a reply (the first attempts, before any round trip
    /// was measured, and after repeated silence); see [`backoff`].
    pub attempt_timeout: Duration,
    /// How long a request is retried before it fails ([`ClientError::Failed`]).
    pub deadline: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            attempt_timeout: Duration::from_millis(500),
            deadline: Duration::from_secs(10),
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// No final answer came before the deadline; `failure` says what the attempts met.
    Failed {
        /// Not sent, no reply, no authenticated reply or outcome unknown.
        failure: Failure,
        /// How long the client tried.
        waited: Duration,
        /// The last thing that went wrong.
        last: String,
    },
    /// The command can never fit in one frame.
    TooLarge,
    /// A node answered with bytes that are not a response.
    BadReply,
    /// The leader refused a membership change.
    Refused(MemberRefusal),
    /// The client's socket failed.
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Failed {
                failure,
                waited,
                last,
            } => outcome::describe(f, failure, *waited, last),
            ClientError::TooLarge => f.write_str("command too large for one frame"),
            ClientError::BadReply => f.write_str("malformed reply from a node"),
            ClientError::Refused(r) => write!(f, "{r}"),
            ClientError::Io(e) => write!(f, "socket: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A client session (one at a time: requests are numbered 1, 2, 3, ...).
pub struct Client {
    sock: UdpSocket,
    sealer: Sealer,
    opener: Opener,
    nodes: Vec<Peer>,
    target: usize,
    client_id: u64,
    seq: u64,
    next_req: u64,
    /// The first request id of the current leader request: a late reply to any of its
    /// attempts answers it (so a retry sent just before the first reply arrived costs nothing
    /// more).
    op_first: u64,
    opts: ClientOptions,
    attempts: Attempts,
    backoff: Backoff,
    /// Redirects followed for the current request.
    redirects: usize,
    /// The receive timeout the socket has now ([`Client::wait_at_most`]).
    read_timeout: Option<Duration>,
    buf: Vec<u8>,
    frame: Vec<u8>,
    sealed: Vec<u8>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the cluster `nodes` (every node's id and address) under `key`.
    pub fn new(key: &ClusterKey, nodes: Vec<Peer>, opts: ClientOptions) -> io::Result<Client> {
        if nodes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no nodes given",
            ));
        }
        let any: SocketAddr = if nodes[0].addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal address")
        } else {
            "[::]:0".parse().expect("literal address")
        };
        let sock = UdpSocket::bind(any)?;
        let tid = CLIENT_ID_MIN | (crate::node::random_u64() as u32 & !CLIENT_ID_MIN);
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as u32);
        let sealer = Sealer::new(key, tid, epoch, MAX_UDP);
        let opener = Opener::new(
            key,
            tid,
            nodes.iter().map(|p| (p.id, PeerBinding::Fixed(p.addr))),
            MAX_UDP,
        );
        Ok(Client {
            sock,
            sealer,
            opener,
            target: (crate::node::random_u64() % nodes.len() as u64) as usize,
            nodes,
            client_id: crate::node::random_u64(),
            seq: 0,
            next_req: 1,
            op_first: 1,
            opts,
            attempts: Attempts::default(),
            backoff: Backoff::new(opts.attempt_timeout, crate::node::random_u64()),
            redirects: 0,
            read_timeout: None,
            buf: vec![0; MAX_UDP],
            frame: Vec::new(),
            sealed: Vec::new(),
        })
    }

    /// The session's client id.
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// The node the next request goes to first (the last known leader).
    pub fn target(&self) -> u32 {
        self.nodes[self.target].id
    }

    /// Sends the next request to `id` first.
    pub fn set_target(&mut self, id: u32) {
        if let Some(k) = self.nodes.iter().position(|p| p.id == id) {
            self.target = k;
        }
    }

    /// Runs `command` in the next session slot: sends it to the leader (found by following
    /// `NotLeader` hints and trying the nodes in turn) and retries it with the same sequence
    /// number until it is answered or the deadline passes. A `Get` is sent sessionless
    /// (sequence number 0) and is linearizable under either read policy.
    pub fn execute(&mut self, command: Command) -> Result<Response, ClientError> {
        // A get takes no session slot (seq 0): reads are idempotent, and under ReadIndex
        // they never reach the log, so a slot would leave a gap the session rules refuse.
        let seq = if matches!(command, Command::Get { .. }) {
            0
        } else {
            self.seq += 1;
            self.seq
        };
        let req = Request {
            client: self.client_id,
            seq,
            command,
        };
        self.via_leader(ClientBody::Command(req.encode()), |reply| match reply {
            ReplyBody::Applied(r) => Some(Response::decode(r).map_err(|_| ClientError::BadReply)),
            ReplyBody::TooLarge => Some(Err(ClientError::TooLarge)),
            _ => None,
        })
    }

    /// Runs `request` as it is (its own client id and sequence number, not this session's):
    /// for proposers that share their commands' sessions with other nodes' proposers, as the
    /// firmware boards of a mixed cluster do. Sent and retried like [`Client::execute`].
    pub fn execute_request(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.via_leader(ClientBody::Command(request.encode()), |reply| match reply {
            ReplyBody::Applied(r) => Some(Response::decode(r).map_err(|_| ClientError::BadReply)),
            ReplyBody::TooLarge => Some(Err(ClientError::TooLarge)),
            _ => None,
        })
    }

    /// The error for requests that got no final answer after `waited`, from what the
    /// attempts met since the last leader request began (or since the client was made): how
    /// [`Client::execute`] fails at its deadline, and how a caller of [`Client::status`]
    /// can report that no node answered.
    pub fn failed(&self, waited: Duration) -> ClientError {
        ClientError::Failed {
            failure: self.attempts.failure(),
            waited,
            last: self.attempts.last.clone(),
        }
    }

    /// Sends `body` to the leader (following `NotLeader` hints, trying the nodes in turn,
    /// backing off on `Busy` and silence) until `answer` takes a reply, or the deadline passes.
    fn via_leader<T>(
        &mut self,
        body: ClientBody,
        mut answer: impl FnMut(&ReplyBody) -> Option<Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let start = Instant::now();
        self.attempts.reset();
        self.redirects = 0;
        self.op_first = self.next_req;
        loop {
            let waited = start.elapsed();
            if waited >= self.opts.deadline {
                return Err(self.failed(waited));
            }
            let node = self.nodes[self.target];
            let left = self.opts.deadline - waited;
            let timeout = self.backoff.attempt_timeout().min(left);
            let reply = self.roundtrip(node.addr, body.clone(), timeout)?;
            if let Some(done) = reply.as_ref().and_then(&mut answer) {
                self.backoff.on_answer();
                return done;
            }
            let pause = match reply {
                Some(ReplyBody::NotLeader { leader: Some(l) })
                    if l != node.id && self.nodes.iter().any(|p| p.id == l) =>
                {
                    // Straight to the leader named; a redirect loop (a leader changing)
                    // backs off like `Busy`.
                    self.attempts.last = format!("node {} redirected to {l}", node.id);
                    self.set_target(l);
                    self.redirects += 1;
                    (self.redirects > self.nodes.len()).then(|| self.backoff.pause())
                }
                Some(ReplyBody::Busy) => {
                    self.attempts.last = format!("node {} busy", node.id);
                    Some(self.backoff.pause())
                }
                // Silence: the same node once more, then the next (`roundtrip` said why).
                None => {
                    if self.backoff.on_silence() {
                        self.target = (self.target + 1) % self.nodes.len();
                    }
                    None
                }
                Some(other) => {
                    match other {
                        ReplyBody::NotLeader { .. } => {
                            self.attempts.last = format!("node {} knows no leader", node.id);
                        }
                        // E.g. `Retry`: the request may have been proposed.
                        b => {
                            self.attempts.open += 1;
                            self.attempts.last = format!("node {}: {b:?}", node.id);
                        }
                    }
                    self.target = (self.target + 1) % self.nodes.len();
                    Some(self.backoff.pause())
                }
            };
            if let Some(p) = pause {
                std::thread::sleep(p.min(self.opts.deadline.saturating_sub(start.elapsed())));
            }
        }
    }

    /// `id`'s status, one attempt.
    pub fn status(&mut self, id: u32) -> Result<Option<NodeStatus>, ClientError> {
        match self.ask(id, ClientBody::Status)? {
            Some(ReplyBody::Status(s)) => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// `id`'s counters (the `stats.json` document), one attempt.
    pub fn stats(&mut self, id: u32) -> Result<Option<serde_json::Value>, ClientError> {
        match self.ask(id, ClientBody::Stats)? {
            Some(ReplyBody::Stats(s)) => Ok(serde_json::from_str(&s).ok()),
            _ => Ok(None),
        }
    }

    /// `key` as node `id` has it applied now (not linearizable: a diagnostic read).
    pub fn local_get(&mut self, id: u32, key: &[u8]) -> Result<Option<Response>, ClientError> {
        let req = Request {
            client: self.client_id,
            seq: 0,
            command: Command::Get { key: key.to_vec() },
        };
        match self.ask(id, ClientBody::LocalQuery(req.encode()))? {
            Some(ReplyBody::Applied(r)) => Ok(Response::decode(&r).ok()),
            _ => Ok(None),
        }
    }

    fn ask(&mut self, id: u32, body: ClientBody) -> Result<Option<ReplyBody>, ClientError> {
        let Some(node) = self.nodes.iter().find(|p| p.id == id).copied() else {
            return Ok(None);
        };
        // A single attempt, its own request.
        self.op_first = self.next_req;
        self.roundtrip(node.addr, body, self.opts.attempt_timeout)
    }

    /// Lets the next receive wait at most `left`. The socket's timeout is set in whole
    /// milliseconds (the rest is waited by the next receive) and only when the one it has
    /// does not fit (longer than `left`, or under half of it): attempts with the same timeout,
    /// the usual case, then cost no `setsockopt` each.
    fn wait_at_most(&mut self, left: Duration) -> io::Result<()> {
        if self
            .read_timeout
            .is_some_and(|t| t <= left && t.saturating_mul(2) >= left)
        {
            return Ok(());
        }
        let whole = Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        let t = if whole.is_zero() { left } else { whole };
        self.sock.set_read_timeout(Some(t))?;
        self.read_timeout = Some(t);
        Ok(())
    }

    /// One attempt and its reply (replies to earlier requests are skipped; a reply to an
    /// earlier attempt of the same request is taken); what it met is added to the request's
    /// [`Attempts`].
    fn roundtrip(
        &mut self,
        addr: SocketAddr,
        body: ClientBody,
        timeout: Duration,
    ) -> Result<Option<ReplyBody>, ClientError> {
        let id = self.next_req;
        self.next_req += 1;
        wire::encode(
            wire::TAG_CLIENT,
            &ClientRequest { id, body },
            &mut self.frame,
        );
        self.sealer
            .seal(&self.frame, &mut self.sealed)
            .map_err(|_| ClientError::TooLarge)?;
        if let Err(e) = self.sock.send_to(&self.sealed, addr) {
            self.attempts.last = format!("cannot send to {addr}: {e}");
            return Ok(None);
        }
        self.attempts.sent += 1;
        let sent_at = Instant::now();
        let deadline = sent_at + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.attempts.open += 1;
                self.attempts.last = format!("no reply from {addr}");
                return Ok(None);
            }
            self.wait_at_most(left).map_err(ClientError::Io)?;
            let (n, from) = match self.sock.recv_from(&mut self.buf) {
                Ok(r) => r,
                // The socket's timeout may end before the attempt's: the loop's check above
                // says whether the attempt is over.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                // ECONNREFUSED: the node is down (ICMP port unreachable).
                Err(e) => {
                    self.attempts.open += 1;
                    self.attempts.last = format!("{addr}: {e}");
                    return Ok(None);
                }
            };
            let Ok(opened) = self.opener.open(from, &self.buf[..n]) else {
                self.attempts.unauthenticated += 1;
                if let Some(reason) = read_notice(&self.buf[..n]) {
                    self.attempts.refused_by = Some((from, reason));
                }
                self.attempts.last = format!("a datagram from {from} did not authenticate");
                continue;
            };
            self.attempts.authenticated += 1;
            let Some((&wire::TAG_REPLY, body)) = opened.plaintext.split_first() else {
                continue;
            };
            if let Some(reply) = wire::decode::<ServerReply>(body) {
                if reply.id == id {
                    self.backoff.on_reply(sent_at.elapsed());
                    return Ok(Some(reply.body));
                }
                // An earlier attempt of the same request (no round-trip sample: its send
                // time is not this attempt's).
                if (self.op_first..id).contains(&reply.id) {
                    return Ok(Some(reply.body));
                }
            }
        }
    }
}
