//! Counters a driver can export: drops by reason and protocol events.

/// Event and drop counters of one node. They only ever increase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Frames that did not decode (`Input::Frame`).
    pub dropped_malformed: u64,
    /// Frames of another cluster.
    pub dropped_wrong_cluster: u64,
    /// Frames addressed to another node.
    pub dropped_misaddressed: u64,
    /// Messages of a part of the protocol this build left out (a Cargo feature of raft-core
    /// that is off: reads, transfer, snapshots), dropped as if lost.
    pub dropped_unsupported: u64,
    /// Messages from a node that is not a member.
    pub dropped_unknown_peer: u64,
    /// Messages of an older term, answered or ignored.
    pub stale_term: u64,
    /// Vote requests ignored because a leader was heard within the election timeout.
    pub ignored_in_lease: u64,
    /// Vote requests from nodes that are not voters in this node's configuration (ignored).
    pub ignored_non_voter: u64,
    /// Messages that make no sense in the current role and term (ignored).
    pub ignored_unexpected: u64,
    /// AppendEntries this node rejected (log mismatch).
    pub appends_rejected: u64,
    /// Entries of an AppendEntries not accepted because the window or store was full.
    pub appends_truncated_full: u64,
    /// Elections (real, not PreVote) this node started.
    pub elections: u64,
    /// PreVote rounds this node started.
    pub pre_votes: u64,
    /// Times this node became leader.
    pub became_leader: u64,
    /// Times a leader stepped down because CheckQuorum found no majority.
    pub check_quorum_step_downs: u64,
    /// Proposals answered `Busy`.
    pub proposals_busy: u64,
    /// Followers needing entries already compacted (they wait for snapshots).
    pub needs_snapshot: u64,
    /// Snapshot chunks refused (stale, duplicate, out of order, or of an unknown stream).
    pub snapshot_chunks_rejected: u64,
    /// Reads failed because too many read batches were pending.
    pub reads_failed_busy: u64,
    /// Members of a configuration this node could not track (only a node outside the
    /// configuration, whose own position stays, can run out of positions).
    pub members_untracked: u64,
    /// Times a leader left a committed joint configuration by itself (auto-leave).
    pub joint_auto_leaves: u64,
    /// Outputs that did not fit (must stay 0: the output bound is proven).
    pub output_overflow: u64,
}
