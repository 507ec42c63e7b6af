//! [`Figures`] in the Prometheus text format, through prometheus-client's encoder: a collector
//! that writes one published copy, so every family of a scrape comes from the same instant.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use raftcore::Role;

use super::Figures;
use crate::transport::DropReason;

/// Every role, each a series of the `role` family.
const ROLES: [Role; 4] = [
    Role::Follower,
    Role::PreCandidate,
    Role::Candidate,
    Role::Leader,
];

/// The exposition of `figures` (families named `raft_...`, see the [module docs](super)).
pub fn render(figures: &Arc<Figures>) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix("raft");
    registry.register_collector(Box::new(Published(figures.clone())));
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// The content type of [`render`]'s text.
pub(super) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[derive(Debug)]
struct Published(Arc<Figures>);

impl Collector for Published {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let f = &*self.0;
        let s = &f.status;
        let mut roles =
            e.encode_descriptor("role", "1 for the node's role", None, MetricType::Gauge)?;
        for r in ROLES {
            let role = r.to_string();
            roles
                .encode_family(&[("role", role.as_str())])?
                .encode_gauge(&u32::from(s.role == r))?;
        }
        gauge(&mut e, "term", "The current term", s.term)?;
        let leader = u64::from(s.leader.unwrap_or(0));
        gauge(
            &mut e,
            "leader_id",
            "The leader this node knows of (0: none)",
            leader,
        )?;
        gauge(&mut e, "commit_index", "The commit index", s.commit)?;
        gauge(&mut e, "applied_index", "The last entry applied", s.applied)?;
        gauge(&mut e, "last_index", "The last log index", s.last_index)?;
        let help = "On the leader: its last index minus the peer's match index";
        let mut lag =
            e.encode_descriptor("replication_lag_entries", help, None, MetricType::Gauge)?;
        for &(peer, entries) in &f.lag {
            lag.encode_family(&[("peer", peer)])?
                .encode_gauge(&entries)?;
        }
        let l = &f.driver.fsync;
        let help = "One WAL sync: the fdatasync (on the sync thread), or the buffered write, fsync and hard-state mark (on the loop thread)";
        e.encode_descriptor(
            "fsync_duration",
            help,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(l.sum_seconds(), l.count, &l.buckets(), None)?;
        let d = &f.driver;
        let outcomes = [
            ("accepted", d.proposals_accepted),
            ("not_leader", d.proposals_not_leader),
            ("busy", d.proposals_busy),
            ("clients_busy", d.clients_busy),
            ("too_large", d.proposals_too_large),
            ("retry", d.proposals_retry),
        ];
        let help = "Client proposals by raft-core's answer";
        let mut p = e.encode_descriptor("proposals", help, None, MetricType::Counter)?;
        for (outcome, n) in outcomes {
            p.encode_family(&[("outcome", outcome)])?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        let help = "Datagrams that authenticated and were fresh";
        counter(&mut e, "datagrams_accepted", help, f.drops.accepted)?;
        let transport = DropReason::ALL.map(|r| ("transport", r.name(), f.drops.get(r)));
        let c = &f.core;
        let others = [
            ("driver", "sender_mismatch", d.sender_mismatch),
            ("driver", "bad_payload", d.bad_payload),
            ("kernel", "receive_buffer_full", d.rx_buffer_drops),
            ("core", "malformed", c.dropped_malformed),
            ("core", "wrong_cluster", c.dropped_wrong_cluster),
            ("core", "misaddressed", c.dropped_misaddressed),
            ("core", "unknown_peer", c.dropped_unknown_peer),
            ("core", "unsupported", c.dropped_unsupported),
        ];
        let help = "Datagrams dropped: by the kernel (receive buffer full), the transport \
                    (authentication, replay, allow-list), the driver (payload) or raft-core \
                    (frame)";
        let mut drops =
            e.encode_descriptor("datagrams_dropped", help, None, MetricType::Counter)?;
        for (layer, reason, n) in transport.into_iter().chain(others) {
            drops
                .encode_family(&[("layer", layer), ("reason", reason)])?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}
