//! What a schedule is made of ([`Action`]) and the knobs of a simulation ([`SimConfig`]).

use raftcore::{Durability, LogIndex, Term};

/// One thing that happens in a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// One tick on a node.
    Tick(u8),
    /// Deliver the i-th frame in flight (any order: reordering).
    Deliver(u16),
    /// Lose the i-th frame in flight.
    Drop(u16),
    /// Duplicate the i-th frame in flight.
    Duplicate(u16),
    /// A client proposes on a node.
    Propose(u8),
    /// The oldest pending write of a node becomes durable (Deferred durability).
    Fsync(u8),
    /// A node crashes: it keeps only what was durable.
    Crash(u8),
    /// A crashed node restarts from what was durable.
    Restart(u8),
    /// The directed links in the mask (bit `from * 8 + to`) are cut; the others heal.
    Partition(u64),
    /// A node's state machine captures its applied state (a snapshot).
    Capture(u8),
    /// A hostile frame arrives at a node (random bytes, maybe a mangled real frame).
    Garbage(u8, u64),
    /// A client starts a linearizable read on a node.
    Read(u8),
    /// A client asks a node (the leader, if it is one) to hand leadership to another.
    Transfer(u8, u8),
    /// An operator asks the leader (if any, and again after every later action until it is
    /// answered) to change the membership of node `.0`: a non-member is added as a learner;
    /// a learner is promoted (`.1` even) or removed; a voter is demoted (`.1 % 3 == 0`) or
    /// removed.
    Member(u8, u8),
    /// A node's clock runs until it acts: ticks until it sends a frame or changes role or
    /// term (an election timeout, a heartbeat), at most `2 * election_ticks` ticks. Lets a
    /// short schedule hold several elections.
    Elapse(u8),
    /// A node crashes and restarts at once from what was durable.
    Reboot(u8),
}

/// Knobs of a simulation.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    /// Nodes in the cluster (at most 8 and at most `P`).
    pub nodes: usize,
    /// The first this many nodes are the initial voters (0: all); the others start outside
    /// the cluster until a membership change adds them.
    pub initial_voters: usize,
    /// When `Persist` counts as durable.
    pub durability: Durability,
    /// Frame size limit.
    pub max_frame_bytes: u32,
    /// In-flight messages per follower.
    pub max_inflight_msgs: u32,
    /// Uncommitted entries cap.
    pub max_uncommitted: u32,
    /// Entries per Apply.
    pub max_apply: u32,
    /// Log store bytes (budget).
    pub log_bytes: u32,
    /// PreVote on.
    pub pre_vote: bool,
    /// CheckQuorum on.
    pub check_quorum: bool,
    /// Election timeout in ticks.
    pub election_ticks: u32,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Every second proposal carries a payload as large as a frame allows, so an
    /// AppendEntries holding one holds nothing after it: batches split at such entries (a
    /// new leader's first append can then carry an older entry without its own empty entry,
    /// the acknowledgement the Figure 8 commit rule is about).
    pub large_proposals: bool,
    /// Lease reads on every node (`Config::lease_reads`; the core ignores it without
    /// CheckQuorum).
    pub lease_reads: bool,
    /// A membership change that demotes or removes a voter demotes a second voter (not the
    /// leader) in the same change: a correct leader refuses it (`MoreThanOneVoter`), the
    /// bug catalogue's two-voter change accepts it.
    pub wide_changes: bool,
    /// Membership changes also go by joint consensus: a learner replaces a voter, or a voter
    /// is demoted while every learner is promoted, in one joint configuration (left by the
    /// leader by itself or by a later change asking to leave); see `Cluster::change_member`.
    pub joint_changes: bool,
    /// Random schedules cut the links into the current leader (or both links between it and
    /// one other node), run clocks until a node acts (`Action::Elapse`) and read on every node
    /// more often: an old leader cut off from the cluster keeps counting its lease while
    /// another node times out, wins and commits writes (the bug catalogue's lease search). Off,
    /// a seed draws the same schedule as before this knob existed.
    pub leader_cuts: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 3,
            initial_voters: 0,
            durability: Durability::Inline,
            max_frame_bytes: 400,
            max_inflight_msgs: 4,
            max_uncommitted: 16,
            max_apply: 8,
            log_bytes: 64 * 1024,
            pre_vote: true,
            check_quorum: true,
            election_ticks: 10,
            heartbeat_ticks: 3,
            large_proposals: false,
            lease_reads: false,
            wide_changes: false,
            joint_changes: false,
            leader_cuts: false,
        }
    }
}

/// A write a client saw acknowledged: (index, term, payload).
pub type Acked = (LogIndex, Term, Vec<u8>);
