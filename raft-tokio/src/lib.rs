//! An async API for services on tokio, over raft-std-driver's [`Node`].
//!
//! An [`AsyncNode`] is a cloneable handle whose methods are futures: [`propose`], a
//! linearizable [`read`], [`change_membership`] and [`transfer_leader`], a
//! [`watch`](AsyncNode::watch) of role and leader, and a graceful [`shutdown`].
//!
//! # How it works
//!
//! The node keeps its own thread ([`AsyncNode::start`] opens the node there too, so opening
//! the WAL does not block the runtime): the UDP loop, the WAL writes and their fsyncs all run
//! on it, never on the runtime's threads. Each future hands its request to the node through
//! the handle's non-blocking completion path ([`NodeHandle::propose_then`] and its siblings:
//! a channel send and a wake-up datagram), and awaits a [`tokio::sync::oneshot`] the node
//! thread completes once the answer is known (for a write: once it is applied). Role changes
//! reach a [`tokio::sync::watch`] from the same thread. No method blocks, and none uses
//! `spawn_blocking`.
//!
//! # Cancel safety
//!
//! Every future may be dropped at any point. A request is handed to the node on the future's
//! first poll; dropping it before then sends nothing. Dropping it after does not withdraw the
//! request: a proposal may still be committed and applied, once, and its answer is discarded.
//! So a dropped (or failed) proposal's outcome is unknown, exactly as after a timeout: retry
//! it with the same client session and sequence number (the key-value store's
//! [`Request`](raft_std_driver::kv::Request)), and the store applies it at most once and
//! answers the retry with the first outcome. A dropped read or transfer has no effect beyond
//! what it started; a dropped membership change may still take effect (retrying it is
//! answered with the configuration once it holds).
//!
//! [`propose`]: AsyncNode::propose
//! [`read`]: AsyncNode::read
//! [`change_membership`]: AsyncNode::change_membership
//! [`transfer_leader`]: AsyncNode::transfer_leader
//! [`shutdown`]: AsyncNode::shutdown
#![deny(missing_docs)]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use raft_std_driver::admin::{MemberChange, MembershipView};
use raft_std_driver::config::NodeConfig;
use raft_std_driver::kv::KvStore;
use raft_std_driver::machine::StateMachine;
use raft_std_driver::node::{Node, NodeError, NodeHandle, ProposeError};
use raftcore::{NodeId, Role, Term};
use tokio::sync::{oneshot, watch};

/// What the role watch shows: the node's latest role, term and known leader, and whether its
/// loop has stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The node's role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// The leader it knows of (itself when it leads).
    pub leader: Option<NodeId>,
    /// `Some` once the loop stopped and the node closed its files and socket: `Ok` after
    /// [`AsyncNode::shutdown`], the error's message after a failure (fail-stop).
    pub stopped: Option<Result<(), String>>,
}

impl Status {
    /// Whether this node leads and still runs.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader && self.stopped.is_none()
    }
}

/// A cloneable async handle to a node running on a thread of its own. See the crate docs.
#[derive(Debug, Clone)]
pub struct AsyncNode {
    id: NodeId,
    handle: NodeHandle,
    status: watch::Receiver<Status>,
}

impl AsyncNode {
    /// Starts the key-value node of `cfg`.
    pub async fn start_kv(cfg: NodeConfig) -> Result<AsyncNode, NodeError> {
        AsyncNode::start(cfg, KvStore::default()).await
    }

    /// Opens the node of `cfg` over `sm` and runs it, both on a new thread, until
    /// [`shutdown`](AsyncNode::shutdown) or a fatal error.
    pub async fn start<M: StateMachine + Send + 'static>(
        cfg: NodeConfig,
        sm: M,
    ) -> Result<AsyncNode, NodeError> {
        let id = NodeId(cfg.id);
        let (ready, opened) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("raft-node-{id}"))
            .spawn(move || run(cfg, sm, ready))
            .map_err(|e| NodeError::Io("spawn", e))?;
        let (handle, status) = opened
            .await
            .map_err(|_| NodeError::Io("node thread", io::Error::other("panicked")))??;
        Ok(AsyncNode { id, handle, status })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The underlying handle (its blocking methods must not be called on the runtime).
    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// A watch of this node's role, term and leader (see [`Status`]).
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The latest [`Status`].
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Waits until a leader is known (`Some`) or the node stopped (`None`).
    pub async fn wait_for_leader(&self) -> Option<NodeId> {
        let mut rx = self.status.clone();
        let s = rx
            .wait_for(|s| s.leader.is_some() || s.stopped.is_some())
            .await;
        s.ok()
            .and_then(|s| s.leader.filter(|_| s.stopped.is_none()))
    }

    /// Proposes `command` (leaders only) and resolves to its state-machine response once it
    /// is applied, or why not. Cancel-safe in the sense of the crate docs.
    pub async fn propose(&self, command: Vec<u8>) -> Result<Vec<u8>, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.handle.propose_then(command, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or(Err(ProposeError::Stopped))
    }

    /// A linearizable read: `query` must be a command the state machine calls read-only
    /// ([`StateMachine::is_read`]), answered under the node's
    /// [`ReadPolicy`](raft_std_driver::node::ReadPolicy) (ReadIndex by default: the leader
    /// confirms its leadership with a heartbeat round, no log entry). Any other command would
    /// be proposed as a write.
    pub async fn read(&self, query: Vec<u8>) -> Result<Vec<u8>, ProposeError> {
        self.propose(query).await
    }

    /// Asks the leader for a membership change; resolves to the configuration once the change
    /// is applied, or why not.
    pub async fn change_membership(
        &self,
        change: MemberChange,
    ) -> Result<MembershipView, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.handle.change_membership_then(change, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or(Err(ProposeError::Stopped))
    }

    /// Asks this node, the leader, to hand leadership to the voter `to`, and waits until this
    /// node's watch shows `to` leading, at most `timeout` (then `Timeout`: raft-core gives up
    /// a transfer after an election timeout). Needs a runtime with the time driver.
    pub async fn transfer_leader(&self, to: NodeId, timeout: Duration) -> Result<(), ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.handle.transfer_leader_then(to, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or(Err(ProposeError::Stopped))?;
        let mut status = self.status.clone();
        let done = async {
            let s = status.wait_for(|s| s.leader == Some(to) || s.stopped.is_some());
            s.await.map(|s| s.stopped.is_none()).unwrap_or(false)
        };
        match tokio::time::timeout(timeout, done).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProposeError::Stopped),
            Err(_) => Err(ProposeError::Timeout),
        }
    }

    /// Graceful shutdown: the loop syncs what it wrote, fails its waiting requests with
    /// `Stopped`, closes its files and socket, and this resolves once it has (with the
    /// failure's message if the node had stopped on an error).
    pub async fn shutdown(&self) -> Result<(), String> {
        self.handle.shutdown();
        let mut rx = self.status.clone();
        let stopped = rx.wait_for(|s| s.stopped.is_some()).await;
        match stopped {
            Ok(s) => s.stopped.clone().unwrap_or(Ok(())),
            Err(_) => Err("the node thread ended without reporting".into()),
        }
    }
}

/// What the node thread reports once the node is open.
type Opened = Result<(NodeHandle, watch::Receiver<Status>), NodeError>;

/// The node thread: opens the node, publishes role changes to the watch, runs the loop, and
/// reports the stop once the node is closed.
fn run<M: StateMachine>(cfg: NodeConfig, sm: M, ready: oneshot::Sender<Opened>) {
    let mut node = match Node::open(cfg, sm) {
        Ok(node) => node,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let handle = node.handle();
    let (role, term) = handle.role();
    let first = Status {
        role,
        term,
        leader: handle.leader(),
        stopped: None,
    };
    let tx = Arc::new(watch::Sender::new(first));
    let publish = tx.clone();
    handle.subscribe_with(move |ev| {
        publish.send_modify(|s| {
            s.role = ev.role;
            s.term = ev.term;
            s.leader = ev.leader;
        });
        true
    });
    if ready.send(Ok((handle, tx.subscribe()))).is_err() {
        return; // The caller gave up on `start`: the node closes.
    }
    let guard = Stopping(tx);
    let r = node.run();
    drop(node);
    guard
        .0
        .send_modify(|s| s.stopped = Some(r.map_err(|e| e.to_string())));
}

/// Reports a stop even if the node thread panics, so no [`AsyncNode::shutdown`] waits forever.
struct Stopping(Arc<watch::Sender<Status>>);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.send_if_modified(|s| {
            let unset = s.stopped.is_none();
            if unset {
                s.stopped = Some(Err("the node thread panicked".into()));
            }
            unset
        });
    }
}
