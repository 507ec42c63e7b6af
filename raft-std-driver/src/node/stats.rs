//! The node's counters and their JSON form (`stats.json` and the stats request). The loop
//! counts what it sees of datagrams and requests; the engine's seams count what they did (the
//! WAL its persists, syncs and compactions, the transport its sends, the snapshot files their
//! captures and installs, the applier its entries), and [`Node::counters`] adds them up.

use serde_json::{json, Value};

use super::{sockio, Node};
use crate::machine::StateMachine;
use crate::metrics::Latency;
use crate::transport::{DropCounters, DropReason};
use crate::wire::NodeStatus;

/// What the driver itself counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Authentic datagrams whose raft frame claims another sender than the sealed one.
    pub sender_mismatch: u64,
    /// Authentic datagrams with an unknown tag or an undecodable client request.
    pub bad_payload: u64,
    /// `recv` errors (e.g. ICMP port unreachable from an earlier send).
    pub recv_errors: u64,
    /// Datagrams the kernel dropped because the socket's receive buffer was full (the socket's
    /// `drops` in `/proc/net/udp`, read with the counters; 0 where there is no `/proc`).
    pub rx_buffer_drops: u64,
    /// Client requests answered `Busy` because [`NodeConfig::clients`]x4 requests were
    /// already waiting (backpressure instead of letting the socket overflow).
    ///
    /// [`NodeConfig::clients`]: crate::config::NodeConfig::clients
    pub clients_busy: u64,
    /// Datagrams that could not be sealed or sent.
    pub send_errors: u64,
    /// Messages that could not be encoded from the log (must stay 0).
    pub encode_errors: u64,
    /// `Persist` outputs performed.
    pub persists: u64,
    /// WAL syncs (group commits), wherever they ran.
    pub syncs: u64,
    /// Of those, the ones run on the node's sync thread (batches of more than one entry).
    pub syncs_background: u64,
    /// Proposals stepped (clients and handles): the sum of the five outcomes below.
    pub proposals: u64,
    /// Proposals raft-core accepted into its log.
    pub proposals_accepted: u64,
    /// Proposals refused because this node does not lead (the client was redirected).
    pub proposals_not_leader: u64,
    /// Proposals refused by flow control (log window or uncommitted entries full).
    pub proposals_busy: u64,
    /// Proposals too large for a frame.
    pub proposals_too_large: u64,
    /// Proposals answered `Retry` for another reason.
    pub proposals_retry: u64,
    /// Reads routed through the log (`ReadPolicy::ThroughLog`).
    pub reads_through_log: u64,
    /// Reads served through raft-core's ReadIndex (`ReadPolicy::ReadIndex`).
    pub reads_index: u64,
    /// Reads raft-core failed (not the leader, leadership lost, or no room): the client was
    /// redirected, or told `Busy` (`reads_busy`).
    pub reads_failed: u64,
    /// Reads raft-core had no room for while this node led (its read queue held a batch for
    /// every heartbeat round still unanswered): held and issued again once a batch was
    /// answered.
    pub reads_held: u64,
    /// Of those, the ones still without room after a read timeout: answered `Busy`, so the
    /// client pauses and stays with the leader.
    pub reads_busy: u64,
    /// Reads issued again because no answer came in time (forwarded reads can be lost).
    pub read_timeouts: u64,
    /// Snapshots received from a leader and installed.
    pub snapshots_installed: u64,
    /// Snapshot chunks read from the snapshot file and sent to followers.
    pub snapshot_chunks_sent: u64,
    /// Entries applied.
    pub applied: u64,
    /// Snapshots saved.
    pub snapshots: u64,
    /// WAL compactions.
    pub compactions: u64,
    /// Times this node became leader.
    pub became_leader: u64,
    /// Membership changes raft-core accepted from `raft-client member` requests.
    pub membership_changes: u64,
    /// Applied membership entries whose context carried no addresses this driver reads.
    pub foreign_contexts: u64,
    /// Whether this node was removed from the cluster: the applied configuration no longer
    /// lists it, after it was a member (it then no longer votes or campaigns), or a member
    /// told it so (`quiet`).
    pub removed: bool,
    /// Whether a member told this node it was removed, so it stopped campaigning until a
    /// newer configuration reaches it (see `node/retire.rs`).
    pub quiet: bool,
    /// Removal notices sent to nodes removed from the cluster that still send.
    pub removal_notices_sent: u64,
    /// Removal notices received (believed or not).
    pub removal_notices_received: u64,
    /// How long each WAL sync took (the metrics endpoint's histogram).
    pub fsync: Latency,
}

fn to_json(
    status: &NodeStatus,
    drops: &DropCounters,
    core: &raftcore::Stats,
    d: &DriverCounters,
) -> Value {
    let mut transport = serde_json::Map::new();
    transport.insert("accepted".into(), json!(drops.accepted));
    for r in DropReason::ALL {
        transport.insert(r.name().into(), json!(drops.get(r)));
    }
    transport.insert("sender_mismatch".into(), json!(d.sender_mismatch));
    transport.insert("bad_payload".into(), json!(d.bad_payload));
    json!({
        "id": status.id,
        "role": status.role.to_string(),
        "term": status.term,
        "leader": status.leader,
        "commit": status.commit,
        "applied": status.applied,
        "last_index": status.last_index,
        "transport": transport,
        "core": {
            "dropped_malformed": core.dropped_malformed,
            "dropped_wrong_cluster": core.dropped_wrong_cluster,
            "dropped_misaddressed": core.dropped_misaddressed,
            "dropped_unknown_peer": core.dropped_unknown_peer,
            "stale_term": core.stale_term,
            "ignored_in_lease": core.ignored_in_lease,
            "ignored_unexpected": core.ignored_unexpected,
            "appends_rejected": core.appends_rejected,
            "appends_truncated_full": core.appends_truncated_full,
            "elections": core.elections,
            "pre_votes": core.pre_votes,
            "became_leader": core.became_leader,
            "check_quorum_step_downs": core.check_quorum_step_downs,
            "proposals_busy": core.proposals_busy,
            "needs_snapshot": core.needs_snapshot,
            "snapshot_chunks_rejected": core.snapshot_chunks_rejected,
            "ignored_non_voter": core.ignored_non_voter,
            "members_untracked": core.members_untracked,
            "dropped_unsupported": core.dropped_unsupported,
            "output_overflow": core.output_overflow,
        },
        "driver": {
            "recv_errors": d.recv_errors,
            "rx_buffer_drops": d.rx_buffer_drops,
            "clients_busy": d.clients_busy,
            "send_errors": d.send_errors,
            "encode_errors": d.encode_errors,
            "persists": d.persists,
            "syncs": d.syncs,
            "syncs_background": d.syncs_background,
            "proposals": d.proposals,
            "proposals_accepted": d.proposals_accepted,
            "proposals_not_leader": d.proposals_not_leader,
            "proposals_busy": d.proposals_busy,
            "proposals_too_large": d.proposals_too_large,
            "proposals_retry": d.proposals_retry,
            "reads_through_log": d.reads_through_log,
            "reads_index": d.reads_index,
            "reads_failed": d.reads_failed,
            "reads_held": d.reads_held,
            "reads_busy": d.reads_busy,
            "read_timeouts": d.read_timeouts,
            "snapshots_installed": d.snapshots_installed,
            "snapshot_chunks_sent": d.snapshot_chunks_sent,
            "applied": d.applied,
            "snapshots": d.snapshots,
            "compactions": d.compactions,
            "became_leader": d.became_leader,
            "membership_changes": d.membership_changes,
            "foreign_contexts": d.foreign_contexts,
            "removed": d.removed,
            "quiet": d.quiet,
            "removal_notices_sent": d.removal_notices_sent,
            "removal_notices_received": d.removal_notices_received,
            "fsync_count": d.fsync.count,
            "fsync_seconds": d.fsync.sum_seconds(),
        },
    })
}

impl<M: StateMachine> Node<M> {
    /// The node's protocol position.
    pub fn status(&self) -> NodeStatus {
        let core = self.core();
        NodeStatus {
            id: self.cfg.id,
            role: core.role(),
            term: core.term().0,
            leader: core.leader().map(|l| l.0),
            commit: core.commit().0,
            applied: core.applied().0,
            last_index: core.last_index().0,
        }
    }

    /// What the driver counted: the loop's own counters and its seams'.
    pub fn counters(&self) -> DriverCounters {
        let log = self.engine.storage().counters();
        let sent = self.engine.transport().counters;
        let snaps = self.engine.snapshots();
        DriverCounters {
            send_errors: sent.send_errors,
            encode_errors: sent.encode_errors,
            snapshot_chunks_sent: sent.snapshot_chunks_sent,
            persists: log.persists,
            syncs: log.syncs,
            syncs_background: log.syncs_background,
            compactions: log.compactions,
            fsync: log.sync_latency,
            proposals: self.counters.proposals_accepted
                + self.counters.proposals_not_leader
                + self.counters.proposals_busy
                + self.counters.proposals_too_large
                + self.counters.proposals_retry,
            applied: self.engine.machine().applied,
            snapshots: snaps.captured,
            snapshots_installed: snaps.installs,
            became_leader: self.events.became_leader,
            foreign_contexts: self.engine.machine().foreign_contexts,
            rx_buffer_drops: sockio::kernel_drops(
                self.engine.transport().socket(),
                self.sock_inode,
            )
            .unwrap_or(0),
            removed: self.counters.removed || self.retirement.is_quiet(),
            quiet: self.retirement.is_quiet(),
            removal_notices_sent: self.retirement.sent,
            removal_notices_received: self.retirement.received,
            ..self.counters.clone()
        }
    }

    /// The counters: transport drops by reason, raft-core's, the driver's; and the peers:
    /// the allow-list (`allow_list`: the node ids whose datagrams are accepted) and the send
    /// table (`send_to`), both rebuilt from the address book (`addresses`).
    pub fn stats_json(&self) -> Value {
        let mut v = to_json(
            &self.status(),
            self.opener.counters(),
            self.core().stats(),
            &self.counters(),
        );
        let addresses: serde_json::Map<String, Value> = self
            .addresses()
            .into_iter()
            .map(|(id, a)| (id.to_string(), json!(a.to_string())))
            .collect();
        v["peers"] = json!({
            "allow_list": self.opener.peer_ids(),
            "send_to": self.engine.transport().peer_ids(),
            "addresses": addresses,
        });
        v
    }

    pub(super) fn write_stats(&self) {
        let path = self.cfg.data_dir.join("stats.json");
        let tmp = self.cfg.data_dir.join("stats.json.tmp");
        let text = format!("{:#}\n", self.stats_json());
        // Best effort, no fsync: the counters are for operators, not for recovery.
        if std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            tracing::debug!("cannot write stats.json");
        }
    }
}
