//! The thread-safe handle to a running [`Node`]: what raftos users had
//! (`get_leader`, `wait_until_leader`, `on_leader` / `on_follower`, `execute_command`), and
//! the node's loop on a thread of its own ([`Node::spawn`]).

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use raftcore::{NodeId, Role, Term};

use super::{Node, NodeError};
use crate::admin::{MemberChange, MemberRefusal, MembershipView};
use crate::config::NodeConfig;
use crate::kv::KvStore;
use crate::machine::StateMachine;
use crate::wire::ReplyBody;

/// A role change, as raft-core reported it (the engine's `Events::role_changed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleEvent {
    /// The new role.
    pub role: Role,
    /// The term.
    pub term: Term,
    /// The known leader, if any.
    pub leader: Option<NodeId>,
}

impl RoleEvent {
    /// raftos' `on_leader`: this node became the leader.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// raftos' `on_follower`: this node follows (a leader, or nobody yet).
    pub fn is_follower(&self) -> bool {
        self.role == Role::Follower
    }
}

/// Why a proposal did not resolve with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposeError {
    /// This node is not the leader; `leader` is the one it knows of.
    NotLeader(Option<NodeId>),
    /// The leader is at a capacity limit; retry later.
    Busy,
    /// The command cannot fit in one frame.
    TooLarge,
    /// The entry was overwritten by a new leader: not committed. Retry.
    Retry,
    /// No answer within the timeout (outcome unknown: retry with the same client sequence
    /// number, the key-value sessions make that safe).
    Timeout,
    /// A membership change or leadership transfer breaks a rule.
    Refused(MemberRefusal),
    /// The node stopped.
    Stopped,
}

impl fmt::Display for ProposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposeError::NotLeader(Some(l)) => write!(f, "not the leader (leader is {l})"),
            ProposeError::NotLeader(None) => f.write_str("not the leader (no leader known)"),
            ProposeError::Busy => f.write_str("the leader is busy"),
            ProposeError::TooLarge => f.write_str("command too large"),
            ProposeError::Retry => f.write_str("not committed (leadership changed); retry"),
            ProposeError::Timeout => f.write_str("timed out"),
            ProposeError::Refused(why) => write!(f, "refused: {why}"),
            ProposeError::Stopped => f.write_str("the node stopped"),
        }
    }
}

impl std::error::Error for ProposeError {}

/// Where the answer to a handle's request goes: called once, on the node's thread (or on the
/// caller's if the node has stopped), with the reply or `Err(Stopped)`.
pub(crate) type Done = Box<dyn FnOnce(Result<ReplyBody, ProposeError>) + Send>;

/// A request from a handle to the node loop.
pub(crate) enum Cmd {
    /// A command (a read-only one is served by the read policy).
    Submit { data: Vec<u8>, done: Done },
    /// A membership change, answered once applied.
    Member { change: MemberChange, done: Done },
    /// A leadership transfer, answered once the leader has started it.
    Transfer { to: NodeId, done: Done },
}

impl Cmd {
    pub(crate) fn done(self) -> Done {
        match self {
            Cmd::Submit { done, .. } | Cmd::Member { done, .. } | Cmd::Transfer { done, .. } => {
                done
            }
        }
    }
}

/// A reply to a command as the command's result: its state machine response, or why not.
fn command_result(r: Result<ReplyBody, ProposeError>) -> Result<Vec<u8>, ProposeError> {
    match r? {
        ReplyBody::Applied(bytes) => Ok(bytes),
        other => Err(reply_error(other)),
    }
}

/// A reply that is not the expected success, as an error.
fn reply_error(body: ReplyBody) -> ProposeError {
    match body {
        ReplyBody::NotLeader { leader } => ProposeError::NotLeader(leader.map(NodeId)),
        ReplyBody::Busy => ProposeError::Busy,
        ReplyBody::TooLarge => ProposeError::TooLarge,
        ReplyBody::Refused(why) => ProposeError::Refused(why),
        _ => ProposeError::Retry,
    }
}

/// A role subscriber: called on the node's thread with each role change; `false` unsubscribes.
type Subscriber = Box<dyn FnMut(RoleEvent) -> bool + Send>;

/// What the node loop publishes to handles.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) role: Role,
    pub(crate) term: Term,
    pub(crate) leader: Option<NodeId>,
    /// Set once the loop stopped; the error if it failed.
    pub(crate) stopped: Option<Option<String>>,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<Published>,
    pub(crate) changed: Condvar,
    pub(crate) subscribers: Mutex<Vec<Subscriber>>,
    pub(crate) stop: AtomicBool,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            state: Mutex::new(Published {
                role: Role::Follower,
                term: Term(0),
                leader: None,
                stopped: None,
            }),
            changed: Condvar::new(),
            subscribers: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        }
    }

    pub(crate) fn publish(&self, ev: RoleEvent) {
        {
            let mut s = lock(&self.state);
            s.role = ev.role;
            s.term = ev.term;
            s.leader = ev.leader;
        }
        self.changed.notify_all();
        lock(&self.subscribers).retain_mut(|f| f(ev));
    }

    pub(crate) fn stopped(&self, error: Option<String>) {
        lock(&self.state).stopped = Some(error);
        self.changed.notify_all();
    }
}

/// Locks, ignoring poisoning: the data behind these locks stays consistent under any panic
/// (plain fields overwritten whole).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wakes the node loop out of its socket wait by sending it an empty datagram from a socket
/// the node knows and ignores.
#[derive(Debug)]
pub(crate) struct Waker {
    sock: UdpSocket,
    target: SocketAddr,
}

impl Waker {
    pub(crate) fn new(node_addr: SocketAddr) -> std::io::Result<Waker> {
        let ip = if node_addr.ip().is_unspecified() {
            match node_addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            }
        } else {
            node_addr.ip()
        };
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        Ok(Waker {
            sock,
            target: SocketAddr::new(ip, node_addr.port()),
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    pub(crate) fn wake(&self) {
        // Best effort: the loop wakes at the next tick anyway.
        let _ = self.sock.send_to(&[], self.target);
    }
}

/// A cloneable, thread-safe handle to a node running its loop (on a thread of its own, or in
/// the application's loop).
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) cmds: mpsc::Sender<Cmd>,
    pub(crate) waker: Arc<Waker>,
}

impl fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeHandle").finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// The leader this node knows of (itself when it leads).
    pub fn leader(&self) -> Option<NodeId> {
        lock(&self.shared.state).leader
    }

    /// This node's role and term.
    pub fn role(&self) -> (Role, Term) {
        let s = lock(&self.shared.state);
        (s.role, s.term)
    }

    /// Waits until a leader is known, at most `timeout`. `None` on timeout or if the node
    /// stopped.
    pub fn wait_until_leader(&self, timeout: Duration) -> Option<NodeId> {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.shared.state);
        loop {
            if s.leader.is_some() || s.stopped.is_some() {
                return s.leader;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            s = self
                .shared
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Every later role change, in order (raftos' `on_leader` / `on_follower` callbacks:
    /// see [`RoleEvent::is_leader`]). Drop the receiver to unsubscribe.
    pub fn subscribe(&self) -> mpsc::Receiver<RoleEvent> {
        let (tx, rx) = mpsc::channel();
        self.subscribe_with(move |ev| tx.send(ev).is_ok());
        rx
    }

    /// Calls `f` with every later role change, in order, on the node's thread; `f` returns
    /// `false` to unsubscribe. `f` must not block (it runs inside the node's loop).
    pub fn subscribe_with(&self, f: impl FnMut(RoleEvent) -> bool + Send + 'static) {
        lock(&self.shared.subscribers).push(Box::new(f));
    }

    /// Proposes `command` and waits until it is applied (its state-machine response) or fails.
    /// Only the leader accepts proposals.
    pub fn propose(&self, command: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, ProposeError> {
        let (tx, rx) = mpsc::channel();
        self.propose_then(command, move |r| {
            let _ = tx.send(r);
        });
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(ProposeError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ProposeError::Stopped),
        }
    }

    /// Proposes `command` without waiting: `done` is called once with what
    /// [`propose`](NodeHandle::propose) would return (never `Timeout`), on the node's thread,
    /// so it must not block. A read-only command is served by the node's
    /// [`ReadPolicy`](super::ReadPolicy) (linearizable either way). The command is handed to
    /// the node at once: the caller dropping its interest later does not withdraw it.
    pub fn propose_then(
        &self,
        command: Vec<u8>,
        done: impl FnOnce(Result<Vec<u8>, ProposeError>) + Send + 'static,
    ) {
        let done: Done = Box::new(move |r| done(command_result(r)));
        self.send(Cmd::Submit {
            data: command,
            done,
        });
    }

    /// Asks the leader for a membership change without waiting: `done` gets the configuration
    /// once the change is applied (at once if it already holds), or why not. Non-blocking, like
    /// [`propose_then`](NodeHandle::propose_then).
    pub fn change_membership_then(
        &self,
        change: MemberChange,
        done: impl FnOnce(Result<MembershipView, ProposeError>) + Send + 'static,
    ) {
        let done: Done = Box::new(move |r| {
            done(r.and_then(|body| match body {
                ReplyBody::Membership(view) => Ok(view),
                other => Err(reply_error(other)),
            }))
        });
        self.send(Cmd::Member { change, done });
    }

    /// Asks the leader to hand leadership to the voter `to` without waiting: `done` gets `Ok`
    /// once the leader has started the transfer (or `to` leads already); watch the role
    /// changes to see it complete. raft-core gives up after an election timeout.
    pub fn transfer_leader_then(
        &self,
        to: NodeId,
        done: impl FnOnce(Result<(), ProposeError>) + Send + 'static,
    ) {
        let done: Done = Box::new(move |r| {
            done(r.and_then(|body| match body {
                ReplyBody::Applied(_) => Ok(()),
                other => Err(reply_error(other)),
            }))
        });
        self.send(Cmd::Transfer { to, done });
    }

    /// Hands `cmd` to the loop and wakes it; answers `Stopped` itself if the loop is gone.
    fn send(&self, cmd: Cmd) {
        if let Err(mpsc::SendError(cmd)) = self.cmds.send(cmd) {
            (cmd.done())(Err(ProposeError::Stopped));
            return;
        }
        self.waker.wake();
    }

    /// Asks the loop to stop (it syncs what it wrote and returns from `run`).
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Whether the loop has stopped; `Some(Some(msg))` if it failed.
    pub fn stopped(&self) -> Option<Option<String>> {
        lock(&self.shared.state).stopped.clone()
    }
}

impl Node<KvStore> {
    /// Starts the key-value node of `cfg` on a thread of its own.
    pub fn spawn_kv(
        cfg: NodeConfig,
    ) -> Result<(NodeHandle, std::thread::JoinHandle<Result<(), NodeError>>), NodeError> {
        Node::open(cfg, KvStore::default())?.spawn()
    }
}

impl<M: StateMachine> Node<M> {
    /// A handle for other threads.
    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            shared: self.shared.clone(),
            cmds: self.cmd_tx.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Runs the loop on a new thread until [`NodeHandle::shutdown`] or a fatal error.
    pub fn spawn(
        mut self,
    ) -> Result<(NodeHandle, std::thread::JoinHandle<Result<(), NodeError>>), NodeError> {
        let handle = self.handle();
        let t = std::thread::Builder::new()
            .name(format!("raft-node-{}", self.cfg.id))
            .spawn(move || self.run())
            .map_err(|e| NodeError::Io("spawn", e))?;
        Ok((handle, t))
    }
}
