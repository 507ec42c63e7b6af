//! The node's side of the metrics endpoint: it copies its figures (the same sources as
//! `stats.json`, plus the leader's view of each peer's lag) into a [`MetricsFeed`] every
//! [`PUBLISH_EVERY`], from its own loop, without waiting for a reader.

use std::time::{Duration, Instant};

use raftcore::Role;

use super::Node;
use crate::machine::StateMachine;
use crate::metrics::{Figures, MetricsFeed};

/// How often a node with a feed publishes its figures.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);

impl<M: StateMachine> Node<M> {
    /// Starts publishing this node's figures (now, then every [`PUBLISH_EVERY`] while it
    /// runs) and returns the feed a [`MetricsServer`](crate::metrics::MetricsServer) serves.
    /// Every call returns the same feed.
    pub fn metrics_feed(&mut self) -> MetricsFeed {
        let feed = self
            .metrics
            .get_or_insert_with(MetricsFeed::default)
            .clone();
        feed.publish(self.figures());
        feed
    }

    /// The node's figures now.
    pub fn figures(&self) -> Figures {
        Figures {
            status: self.status(),
            drops: self.opener.counters().clone(),
            core: *self.core().stats(),
            driver: self.counters(),
            lag: self.lag(),
        }
    }

    /// Publishes the figures when they are due (called once a turn).
    pub(super) fn publish_due(&mut self, now: Instant) {
        let Some(feed) = &self.metrics else { return };
        if now >= self.next_metrics && feed.publish(self.figures()) {
            self.next_metrics = now + PUBLISH_EVERY;
        }
    }

    /// On the leader, each other member's `(id, last index − match index)`.
    fn lag(&self) -> Vec<(u32, u64)> {
        let core = self.core();
        if core.role() != Role::Leader {
            return Vec::new();
        }
        let last = core.last_index().0;
        core.membership()
            .members()
            .filter(|m| m.0 != self.cfg.id)
            .filter_map(|m| Some((m.0, last.saturating_sub(core.match_index(m)?.0))))
            .collect()
    }
}
