//! The optional Prometheus endpoint (`raft-node --metrics-addr`): a node publishes its figures
//! ([`Figures`]: the same counters `stats.json` shows, the leader's replication lag per peer
//! and the WAL sync latency) into a [`MetricsFeed`] a few times a second; a [`MetricsServer`]
//! on its own thread answers `GET /metrics` from the latest copy in the Prometheus text
//! format. The node never waits for the endpoint: publishing is skipped when a scrape holds
//! the feed at that instant, and a scrape only takes a reference to the latest copy.
//!
//! The exposition (names after the `raft_` prefix):
//!
//! | family | type | labels | what |
//! |---|---|---|---|
//! | `role` | gauge | `role` | 1 for the node's role, 0 for the others |
//! | `term`, `leader_id` | gauge | | the current term; the leader known (0: none) |
//! | `commit_index`, `applied_index`, `last_index` | gauge | | the log positions |
//! | `replication_lag_entries` | gauge | `peer` | on the leader: last index − the peer's match index |
//! | `fsync_duration_seconds` | histogram | | one WAL sync (write, fsync, hard-state mark) |
//! | `proposals_total` | counter | `outcome` | client proposals by raft-core's answer |
//! | `datagrams_accepted_total` | counter | | authentic, fresh datagrams |
//! | `datagrams_dropped_total` | counter | `layer`, `reason` | every drop counter of the transport, the driver and raft-core |

mod encode;
mod http;
mod latency;

use std::sync::{Arc, Mutex, TryLockError};

pub use encode::render;
pub use http::{scrape, MetricsServer};
pub use latency::{Latency, BOUNDS_US};

use crate::node::DriverCounters;
use crate::transport::DropCounters;
use crate::wire::NodeStatus;

/// One copy of a node's figures, as the node published it.
#[derive(Debug, Clone)]
pub struct Figures {
    /// The protocol position: role, term, leader, commit, applied and last index.
    pub status: NodeStatus,
    /// The transport's accepted datagrams and drops by reason.
    pub drops: DropCounters,
    /// raft-core's counters.
    pub core: raftcore::Stats,
    /// The driver's counters (proposals by outcome, the WAL sync latency, ...).
    pub driver: DriverCounters,
    /// On the leader, each other member's lag `(peer id, last index − match index)`; empty
    /// elsewhere.
    pub lag: Vec<(u32, u64)>,
}

/// Where a node publishes its [`Figures`] and the endpoint reads them. Clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct MetricsFeed {
    latest: Arc<Mutex<Option<Arc<Figures>>>>,
}

impl MetricsFeed {
    /// Replaces the published figures, unless a reader holds the slot at this instant (then
    /// nothing happens and the caller publishes again later): the node loop never waits here.
    /// Returns whether they were published.
    pub fn publish(&self, figures: Figures) -> bool {
        let mut slot = match self.latest.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        *slot = Some(Arc::new(figures));
        true
    }

    /// The figures last published, if any.
    pub fn latest(&self) -> Option<Arc<Figures>> {
        let slot = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        slot.clone()
    }
}
