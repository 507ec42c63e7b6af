//! The thread-safe handle to a running [`Node`]: what raftos users had
//! (`get_leader`, `wait_until_leader`, `on_leader` / `on_follower`, `execute_command`), and
//! the node's loop on a thread of its own ([`Node::spawn`]).

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use raft_core::{NodeId, Role, Term};

use super::{Node, NodeError};
use crate::config::NodeConfig;
use crate::kv::KvStore;
use crate::machine::StateMachine;

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
            ProposeError::Stopped => f.write_str("the node stopped"),
        }
    }
}

impl std::error::Error for ProposeError {}

/// A request from a handle to the node loop.
pub(crate) enum Cmd {
    Propose {
        data: Vec<u8>,
        reply: mpsc::Sender<Result<Vec<u8>, ProposeError>>,
    },
}

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
    pub(crate) subscribers: Mutex<Vec<mpsc::Sender<RoleEvent>>>,
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
        lock(&self.subscribers).retain(|tx| tx.send(ev).is_ok());
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
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Proposes `command` and waits until it is applied (its state-machine response) or fails.
    /// Only the leader accepts proposals.
    pub fn propose(&self, command: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, ProposeError> {
        let (tx, rx) = mpsc::channel();
        let cmd = Cmd::Propose {
            data: command,
            reply: tx,
        };
        self.cmds.send(cmd).map_err(|_| ProposeError::Stopped)?;
        self.waker.wake();
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(ProposeError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ProposeError::Stopped),
        }
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
