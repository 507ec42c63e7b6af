//! The two systems behind one interface: a [`Session`] is one closed-loop client (one request
//! in flight), a [`Cluster`] is the three server processes the sessions talk to.

use std::fmt;

/// Why one operation failed, as the worker counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The service said it is overloaded (etcd's "too many requests"); the worker backs off.
    Busy(String),
    /// Anything else: a deadline, a transport error, an error response.
    Other(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Busy(m) => write!(f, "busy: {m}"),
            OpError::Other(m) => f.write_str(m),
        }
    }
}

/// One client session: a blocking put and a linearizable get.
pub trait Session: Send {
    /// Sets `key` to `value`; returns once the write is acknowledged (committed).
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), OpError>;
    /// `key`'s value, read linearizably.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, OpError>;
}

/// What a cluster's counters said at one moment (cumulative since the servers started).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerCounters {
    /// fsyncs of the write-ahead log on the leader.
    pub leader_fsyncs: f64,
    /// fsyncs of the write-ahead log summed over the three members.
    pub all_fsyncs: f64,
    /// `Busy` answers the servers gave (our nodes count them; etcd has no such counter: NaN).
    pub busy: f64,
}

/// The three server processes of one system.
pub trait Cluster: Sync {
    /// The system's short name in the tables.
    fn name(&self) -> &'static str;
    /// The current leader, as an index into [`Cluster::pids`] (waits a little for one).
    fn leader(&self) -> Result<usize, String>;
    /// The members' process ids, in member order.
    fn pids(&self) -> &[u32];
    /// A new session whose requests go to member `leader` first.
    fn session(&self, leader: usize) -> Result<Box<dyn Session>, String>;
    /// The counters now; `leader` is an index into [`Cluster::pids`].
    fn counters(&self, leader: usize) -> Result<ServerCounters, String>;
    /// The UDP ports (on 127.0.0.1) the members receive on, for the kernel's drop counts;
    /// empty for a system that does not use UDP.
    fn udp_ports(&self) -> Vec<u16> {
        Vec::new()
    }
}
