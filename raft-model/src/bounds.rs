//! The bounds of one exploration, and the named bounds the binary checks.

#[allow(unused_imports)] // `Action`: doc links.
use crate::{Action, Step, Value};

/// The bounds of one exploration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Tick actions, over all nodes.
    pub ticks: u8,
    /// A tick action runs a node's clock until it acts (starts an election, sends heartbeats,
    /// steps down) instead of advancing it one tick: the budget then bounds protocol events,
    /// not clock values, and two elections fit in two ticks.
    pub macro_ticks: bool,
    /// The nodes that may tick, as a bit mask (bit `k`: node `k`, printed `n{k+1}`). The
    /// nodes differ only in their ids and timer seeds, so one node's elections stand for
    /// every node's; fewer tickers make a smaller space.
    pub tickers: u8,
    /// Frames lost (besides those sent to a crashed node).
    pub drops: u8,
    /// Frames duplicated.
    pub duplicates: u8,
    /// Crashes (each node may restart any time after).
    pub crashes: u8,
    /// A crash restarts the node at once ([`Action::Reboot`]) instead of leaving it down
    /// until a separate [`Action::Restart`]. Frames sent to a node while it is down are lost,
    /// so a crash with a later restart is a reboot plus drops: with `drops` in the budget the
    /// same histories stay reachable, and without, the checker skips the states where a node
    /// is down (a large part of the space) and keeps the one fault that matters for the
    /// durable state: forgetting everything volatile.
    pub reboot: bool,
    /// Faults of any kind (drops, duplicates, crashes) in one run, at most.
    pub faults: u8,
    /// No node's term may pass this (transitions that would are pruned).
    pub max_term: u64,
    /// No node's log may grow past this index (pruned likewise).
    pub max_log: u64,
    /// Frames in flight at most (pruned likewise).
    pub max_in_flight: usize,
    /// The depth bound (stateright's `target_max_depth`, which counts the initial state as
    /// depth 1). With `Some(d)`, every state reachable in at most `d - 2` actions is
    /// explored and checked against every property, breadth first; the states first reached
    /// in `d - 1` actions are generated and counted in the unique-state count, but neither
    /// checked nor expanded. Searched on one thread, so the count is exact (see the crate
    /// docs). `None`: no depth bound.
    pub max_depth: Option<usize>,
    /// Each client's operations, in order: `Some(v)` writes `v`, `None` reads.
    pub clients: &'static [&'static [Option<Value>]],
    /// PreVote on every node.
    pub pre_vote: bool,
    /// CheckQuorum on every node.
    pub check_quorum: bool,
    /// Membership changes accepted by a leader ([`Action::RemoveMember`],
    /// [`Action::MakeLearner`], [`Action::MakeVoter`]), over all nodes.
    pub changes: u8,
    /// Snapshots a driver captures ([`Action::Snapshot`]), over all nodes.
    pub snapshots: u8,
    /// Leadership transfers an operator asks of a leader ([`Action::Transfer`]).
    pub transfers: u8,
    /// Client reads go through ReadIndex (`Input::Read`, on any live node: a follower asks
    /// the leader) instead of through the log.
    pub read_index: bool,
    /// Lease reads on every node (`Config::lease_reads`; the core ignores it without
    /// CheckQuorum).
    pub lease_reads: bool,
    /// A leader is also asked for changes of two voters at once ([`Action::DemoteTwo`]),
    /// which a correct core refuses (no transition).
    pub wide_changes: bool,
    /// A leader is asked for joint changes that demote two voters at once
    /// ([`Action::JointDemoteTwo`]), which a correct core accepts and carries out through a
    /// joint configuration, instead of the single-member changes (which have bounds of
    /// their own).
    pub joint_changes: bool,
    /// `Config::max_frame_bytes` (and the in-flight byte cap) of every node: 128 holds a
    /// few of the model's entries per AppendEntries; 100 holds one empty entry and not two,
    /// so a new leader's append can carry an older entry without its own empty entry (the
    /// acknowledgement the Figure 8 rule is about).
    pub max_frame_bytes: u32,
    /// `Config::election_ticks` of every node (timeouts drawn from `[e, 2e)` ticks;
    /// heartbeats every tick): 2 everywhere but [`Bounds::LEASE`], where a lease (valid
    /// while a majority answered a round sent less than `e - 2` ticks ago) needs more.
    pub election_ticks: u32,
    /// A scripted start ([`Step`]s, `script.rs`): the search begins where this fixed
    /// schedule ends, with every budget whole; empty for the initial state.
    pub script: &'static [Step],
}

impl Bounds {
    /// The bound `.ci/run` checks: two clock-running ticks (two elections: competing ones in
    /// one term, or one after another; or an election and a heartbeat round), one crash with
    /// an immediate restart (`reboot`) anywhere, no drops or duplicates, up to 4 frames in
    /// flight (two candidates' requests at once), one writer and one reader, and a depth
    /// bound of 15 (every state within 13 actions checked, the 14-action frontier counted).
    /// 755,993 states in 75 s on one thread (2 shared cores), the same count on every run;
    /// more in `fuzz/README.md`.
    ///
    /// Two elections around a restart are what a forgotten vote needs (a voter grants two
    /// candidates of one term); this bound finds that injected bug in 11 steps.
    pub const SMALL: Bounds = Bounds {
        ticks: 2,
        macro_ticks: true,
        tickers: 0b111,
        drops: 0,
        duplicates: 0,
        crashes: 1,
        reboot: true,
        faults: 1,
        max_term: 2,
        max_log: 3,
        max_in_flight: 4,
        max_depth: Some(15),
        clients: &[&[Some(1)], &[None]],
        pre_vote: false,
        check_quorum: false,
        changes: 0,
        snapshots: 0,
        transfers: 0,
        read_index: false,
        lease_reads: false,
        wide_changes: false,
        joint_changes: false,
        max_frame_bytes: 128,
        election_ticks: 2,
        script: &[],
    };

    /// The opt-in larger bound (`RAFT_MODEL_BOUND=large`): [`Bounds::SMALL`] with one fault
    /// of any kind (a drop, a duplicate, or a reboot) and a depth bound of 16. 4,399,773
    /// states in 567 s on 2 threads (11 GB of memory), measured before depth-bounded searches
    /// ran on one thread (a 2-thread count may vary between runs; `RAFT_MODEL_THREADS=2`
    /// still runs it so); one level deeper is about twice that.
    pub const LARGE: Bounds = Bounds {
        drops: 1,
        duplicates: 1,
        max_depth: Some(16),
        ..Bounds::SMALL
    };

    /// The faults bound (`RAFT_MODEL_BOUND=faults`, also in `.ci/run`): [`Bounds::SMALL`]
    /// (two clock-running ticks, a writer and a reader through the log, 4 frames in flight)
    /// with one frame lost, one frame duplicated and one reboot on offer, any two of them in
    /// one run (`faults: 2`: a loss and a duplicate together, or either with a crash-restart);
    /// two nodes (n1, n2) may time out, so two candidates may compete in one term (the nodes
    /// differ only in ids and seeds: any two stand for every pair), and a depth bound of 13
    /// (every state within 11 actions checked, the 12-action frontier counted). 1,001,125
    /// states (3,019,156 generated) in 56-76 s on one thread (2 shared cores, 4.6 GB peak RSS),
    /// the same count on every run. [`Bounds::FAULTS_LARGE`] admits all three at once.
    ///
    /// It finds the injected "forget the vote on restart" bug in 10 steps (its path drops
    /// one frame), 304,080 states, 19 s.
    pub const FAULTS: Bounds = Bounds {
        tickers: 0b011,
        drops: 1,
        duplicates: 1,
        faults: 2,
        max_depth: Some(13),
        ..Bounds::SMALL
    };

    /// The opt-in larger faults bound (`RAFT_MODEL_BOUND=faults-large`): [`Bounds::FAULTS`]
    /// with all three faults in one run (a loss, a duplicate and a reboot; `faults: 3`).
    /// 1,988,675 states (5,129,584 generated) in 107-124 s on one thread (8.1 GB peak RSS),
    /// the same count on three runs. It finds the injected forgotten vote in 10 steps,
    /// 443,076 states, 27-34 s.
    pub const FAULTS_LARGE: Bounds = Bounds {
        faults: 3,
        ..Bounds::FAULTS
    };

    /// The PreVote and CheckQuorum bound (`RAFT_MODEL_BOUND=prevote-cq`, also in
    /// `.ci/run`): [`Bounds::SMALL`] (a writer and a reader through the log, one reboot, 4
    /// frames in flight, no drops or duplicates) with PreVote and CheckQuorum on every node,
    /// three clock-running ticks of n1 or n2 (an election, then a second node's timeout that
    /// the others refuse inside the leader's lease, or the leader's own ticks until
    /// CheckQuorum finds no majority and it steps down), and a depth bound of 16 (every
    /// state within 14 actions checked). Election timers stay in a node's identity (the
    /// lease reads them). 149,264 states (362,088 generated) in 11-18 s on one thread (2
    /// shared cores, 0.66 GB peak RSS), the same count on every run; its `sometimes`
    /// properties (a PreVote round won, a CheckQuorum step-down, a vote refused in a lease,
    /// a committed value) are all reached. It does not find the injected forgotten vote
    /// (180,722 states clean): under PreVote both candidates must first win a pre-vote round,
    /// a schedule longer than its depth by our reading (not measured deeper).
    pub const PRE_VOTE_CQ: Bounds = Bounds {
        ticks: 3,
        tickers: 0b011,
        pre_vote: true,
        check_quorum: true,
        max_depth: Some(16),
        ..Bounds::SMALL
    };

    /// The opt-in PreVote and CheckQuorum bound with every fault
    /// (`RAFT_MODEL_BOUND=prevote-cq-faults`): [`Bounds::PRE_VOTE_CQ`] with one frame lost,
    /// one duplicated and one reboot (faults 3), and a depth bound of 15. 1,449,090 states
    /// (3,840,949 generated) in 111-129 s on one thread (5.4 GB peak RSS), the same count on
    /// both runs.
    pub const PRE_VOTE_CQ_FAULTS: Bounds = Bounds {
        drops: 1,
        duplicates: 1,
        faults: 3,
        max_depth: Some(15),
        ..Bounds::PRE_VOTE_CQ
    };

    /// The membership bound (`RAFT_MODEL_BOUND=membership`, also in `.ci/run`):
    /// [`Bounds::SMALL`] (two macro ticks, one reboot, a writer and a reader) with up to two
    /// membership changes asked of a leader (remove a member, demote or add a learner,
    /// promote a learner; only an accepted change is a transition), a log of 4, and a depth
    /// bound of 14 (`max_depth`, one less than SMALL's: every state within 12 actions
    /// checked). 1,429,181 states on one thread, the same on every run (133-205 s, 7 GB
    /// peak RSS). A change commits within it (12 steps); a leader's removal of itself commits
    /// 14 actions in, just past it (the crash-free space with no depth bound,
    /// `RAFT_MODEL_CRASHES=0 RAFT_MODEL_DEPTH=0`, 733,649 states in 73 s, reaches that).
    pub const MEMBERSHIP: Bounds = Bounds {
        changes: 2,
        max_log: 4,
        max_depth: Some(14),
        ..Bounds::SMALL
    };

    /// The features bound (`RAFT_MODEL_BOUND=features`, also in `.ci/run`): snapshots,
    /// ReadIndex reads and leadership transfer on top of one election. Node 1 times out once
    /// (the nodes differ only in ids and seeds: its election stands for any node's), one
    /// client writes 1 and then reads through ReadIndex on any node (a follower asks the
    /// leader), one driver captures a snapshot (compaction; a follower behind it gets it
    /// streamed in chunks), an operator asks the leader for one leadership transfer
    /// (TimeoutNow: the second election), no crash, 4 frames in flight, a log of 3, and a
    /// depth bound of 21: every state within 19 actions checked. Each feature's `sometimes`
    /// property is reached; the space without a depth bound is millions of states (2.2
    /// million at depth 22 when stopped). 807,071 states in 93 s on one thread (2 shared
    /// cores, 3 GB peak RSS), the same count on every run.
    pub const FEATURES: Bounds = Bounds {
        ticks: 1,
        tickers: 0b001,
        crashes: 0,
        clients: &[&[Some(1), None]],
        snapshots: 1,
        transfers: 1,
        read_index: true,
        max_depth: Some(21),
        ..Bounds::SMALL
    };

    /// The opt-in larger features bound (`RAFT_MODEL_BOUND=features-large`):
    /// [`Bounds::FEATURES`] with a reboot anywhere (a snapshot file and a compacted log
    /// restored through `Restored`, a snapshot stream cut by a crash) and a depth bound of
    /// 20. 3,918,186 states in 337 s on 2 shared cores (one thread).
    pub const FEATURES_LARGE: Bounds = Bounds {
        crashes: 1,
        max_depth: Some(20),
        ..Bounds::FEATURES
    };

    /// The terms bound (`RAFT_MODEL_BOUND=terms`): four elections, for the bugs that need
    /// more than two terms (the Figure 8 commit, an AppendEntries without its prev check, a
    /// follower committing past what it matched). n1 and n2 time out, twice each (two
    /// clock-running ticks each: any order of four elections and heartbeat rounds), terms up
    /// to 4, no clients (the leaders' empty entries are the log: a broken log shows as State
    /// Machine Safety, which compares the entries applied at each index, terms included), no
    /// faults, 4 frames in flight, frames of 100 bytes (one empty entry per AppendEntries:
    /// batches split, see [`Bounds::max_frame_bytes`]).
    pub const TERMS: Bounds = Bounds {
        ticks: 4,
        tickers: 0b011,
        crashes: 0,
        faults: 0,
        max_term: 4,
        clients: &[],
        max_frame_bytes: 100,
        max_depth: Some(22),
        ..Bounds::SMALL
    };

    /// The reads bound (`RAFT_MODEL_BOUND=lease`): ReadIndex reads across a change of
    /// leader, with lease reads asked for without CheckQuorum (the core then ignores them:
    /// every read goes through a ReadIndex round). n1 and n2 time out once each (two
    /// elections: the second leader is elected while the first still leads), one client
    /// writes and one reads through `Input::Read` on any node, no faults, 4 frames in
    /// flight, an election timeout of 5 ticks (a lease lasts 3), timers kept in every
    /// node's identity (`abstract_timers` is off with lease reads), and a depth bound of 17.
    pub const LEASE: Bounds = Bounds {
        tickers: 0b011,
        crashes: 0,
        faults: 0,
        read_index: true,
        lease_reads: true,
        election_ticks: 5,
        max_depth: Some(17),
        ..Bounds::SMALL
    };

    /// The wide membership bound (`RAFT_MODEL_BOUND=membership-wide`), for the membership
    /// bugs whose counterexamples pass [`Bounds::MEMBERSHIP`]'s depth: up to two changes,
    /// changes of two voters at once also asked of the leader ([`Action::DemoteTwo`]; a
    /// correct leader refuses them: no transition), n1 and n2 time out once each (two
    /// elections), no clients (the leaders' empty entries and the changes are the log;
    /// State Machine Safety compares what is applied at each index), no faults, 4 frames in
    /// flight, a log of 4, and a depth bound of 18.
    pub const MEMBERSHIP_WIDE: Bounds = Bounds {
        wide_changes: true,
        tickers: 0b011,
        crashes: 0,
        faults: 0,
        clients: &[],
        max_depth: Some(18),
        ..Bounds::MEMBERSHIP
    };

    /// The joint consensus bound (`RAFT_MODEL_BOUND=joint`, also in `.ci/run`): one
    /// membership change, a joint one that demotes two voters at once
    /// ([`Action::JointDemoteTwo`]: C_old = all three voters, C_new = the leader alone, left
    /// automatically once committed) instead of the single-member changes, n1 and n2 time out
    /// once each (two elections: the second may come from a voter that never heard of the
    /// joint configuration and still decides by C_old), no clients (the leaders' empty
    /// entries, the joint entry and the leave entry are the log), no faults, 9 frames in
    /// flight (the first leader's probes to a follower pile up while the second election
    /// runs; with 7 the new-only-majority bug's 13-step counterexample is pruned), a log of
    /// 4, and a depth bound of 15 (every state within 13 actions checked). 1,091,820 states on one thread (84 s of CPU; 371 s wall on 2 cores
    /// at load 7). With `RAFT_INJECT=joint-new-only` (a joint configuration's decisions count
    /// the incoming majority only) it breaks State Machine Safety in 13 steps: the leader
    /// commits the joint entry on its own (C_new is itself), the two others, still under
    /// C_old, elect one of them and commit a different entry at the same index.
    pub const JOINT: Bounds = Bounds {
        joint_changes: true,
        changes: 1,
        tickers: 0b011,
        crashes: 0,
        faults: 0,
        clients: &[],
        max_in_flight: 9,
        max_depth: Some(15),
        ..Bounds::MEMBERSHIP
    };

    /// The overwrite bound (`RAFT_MODEL_BOUND=overwrite`), for the bugs of an old term's
    /// entry: the Figure 8 commit (section 5.4.2) and an append without its prev check. A
    /// scripted start ([`Bounds::script`]) plays the opening of Figure 8 on three nodes:
    /// n1 leads term 1 with n2's vote and writes its empty entry 1:t1, which no one
    /// receives; n2 leads term 2 with n3's vote (n1 refuses it, its log is longer) and
    /// writes 1:t2, which no one receives either; n1 leads term 3 with n3's vote, its log
    /// now [1:t1 2:t3], its appends to n2 and n3 in flight, and its vote request to n2 too.
    /// From there every interleaving: n2 may tick twice (it steps down on n1's term and
    /// campaigns for term 4 with its 1:t2, newer than n1's 1:t1), frames of 100 bytes (one
    /// empty entry per AppendEntries, so an append can carry 1:t1 alone), no faults,
    /// terms up to 4, logs up to 3, 4 frames in flight, and a depth bound of 20 (every state
    /// within 18 actions of the start checked).
    pub const OVERWRITE: Bounds = Bounds {
        ticks: 2,
        tickers: 0b010,
        crashes: 0,
        faults: 0,
        max_term: 4,
        clients: &[],
        max_frame_bytes: 100,
        max_depth: Some(20),
        script: &[
            // n1 leads term 1; its entry 1:t1 reaches no one, n3 never hears of term 1.
            Step::Tick(0),
            Step::Deliver(0, 1),
            Step::Lose(0, 2),
            Step::Deliver(1, 0),
            Step::LoseAllTo(1),
            Step::LoseAllTo(2),
            // n2 leads term 2 with n3's vote (n1 refuses); its 1:t2 reaches no one.
            Step::Tick(1),
            Step::Deliver(1, 2),
            Step::Deliver(1, 0),
            Step::Deliver(2, 1),
            Step::LoseAllTo(0),
            Step::LoseAllTo(1),
            Step::LoseAllTo(2),
            // n1 leads term 3 with n3's vote.
            Step::Tick(0),
            Step::Deliver(0, 2),
            Step::Deliver(2, 0),
        ],
        ..Bounds::SMALL
    };

    /// The read-after-change bound (`RAFT_MODEL_BOUND=read-after-change`), for a stale
    /// ReadIndex read after a change of leader. A scripted start: n1 leads term 1 and
    /// commits its empty entry on n2 and n3; client 0 writes 1 on n1, which n1 commits with
    /// n2 alone and applies (the write is acknowledged; n3 never receives it, n2's commit
    /// index is still 1); n2 leads term 2 with n3's vote, its empty entry 3:t2 not yet
    /// replicated, n1 not yet told. From there every interleaving, with client 1's read
    /// through ReadIndex (`Input::Read`) on any node, n2 ticking once, no faults, 4 frames
    /// in flight, and a depth bound of 14.
    pub const READ_AFTER_CHANGE: Bounds = Bounds {
        ticks: 1,
        tickers: 0b010,
        crashes: 0,
        faults: 0,
        read_index: true,
        max_depth: Some(14),
        script: &[
            // n1 leads term 1 and commits its empty entry everywhere.
            Step::Tick(0),
            Step::Settle,
            // Client 0 writes 1: committed with n2 and applied by n1 (acknowledged).
            Step::Invoke(0, 0),
            Step::Deliver(0, 1),
            Step::Deliver(1, 0),
            Step::LoseAllTo(2),
            // n2 leads term 2 with n3's vote.
            Step::Tick(1),
            Step::Deliver(1, 2),
            Step::Deliver(2, 1),
        ],
        ..Bounds::SMALL
    };

    /// The lease-after-change bound (`RAFT_MODEL_BOUND=lease-after-change`), for a lease
    /// read without CheckQuorum: lease reads asked for on every node, CheckQuorum off (the
    /// core then serves no read from a lease). A scripted start: n1 leads term 1, commits
    /// its empty entry on n2 and n3 (a round a majority answered: a lease, if leases were
    /// honoured); n2 times out and leads term 2 with n3's vote (without CheckQuorum n3 does
    /// not honour n1's lease), n1 not yet told. From there every interleaving, with client
    /// 0's write (on the leader) and client 1's read through `Input::Read` on any node, no
    /// ticks, no faults, an election timeout of 5 ticks (a lease lasts 3), 6 frames in
    /// flight, and a depth bound of 12. Six frames, not four: the new leader's frames to
    /// the old one (its vote request, its append, each commit it announces) stay in flight
    /// while the old leader serves its read, and with four the write's commit was past the
    /// network bound (why [`Bounds::LEASE`] never found the bug).
    pub const LEASE_AFTER_CHANGE: Bounds = Bounds {
        ticks: 0,
        tickers: 0,
        crashes: 0,
        faults: 0,
        read_index: true,
        lease_reads: true,
        election_ticks: 5,
        max_in_flight: 6,
        max_depth: Some(12),
        script: &[
            // n1 leads term 1 and commits its empty entry everywhere; a heartbeat round
            // that every node answers.
            Step::Tick(0),
            Step::Settle,
            Step::Tick(0),
            Step::Settle,
            // n2 leads term 2 with n3's vote.
            Step::Tick(1),
            Step::Deliver(1, 2),
            Step::Deliver(2, 1),
        ],
        ..Bounds::SMALL
    };

    /// The change-split bound (`RAFT_MODEL_BOUND=change-split`), for the membership
    /// changes whose old and new majorities need not overlap: one accepted while an earlier
    /// one is uncommitted (the "settled" rule dropped), or one of two voters in one step. A
    /// scripted start: n1 leads term 1 and commits its empty entry on n2 and n3. From there
    /// every interleaving, with up to two changes asked of the leader (any single-member
    /// change, and two voters made learners at once, [`Action::DemoteTwo`], which a correct
    /// leader refuses), n2 ticking twice (it may campaign with n3), no clients (the empty
    /// entries and the changes are the log; State Machine Safety compares what is applied
    /// at each index), no faults, a log of 4, 4 frames in flight, and a depth bound of 14.
    pub const CHANGE_SPLIT: Bounds = Bounds {
        ticks: 2,
        tickers: 0b010,
        crashes: 0,
        faults: 0,
        clients: &[],
        changes: 2,
        wide_changes: true,
        max_log: 4,
        max_depth: Some(14),
        script: &[
            // n1 leads term 1 and commits its empty entry everywhere.
            Step::Tick(0),
            Step::Settle,
        ],
        ..Bounds::SMALL
    };

    /// The former CI bound: two single ticks (one election, of the node whose timeout is 2
    /// ticks), one fault of any kind, a crashed node down until it restarts, no depth bound.
    /// 3,280,645 states; it cannot hold a second election. Kept for the replay tests.
    pub const ONE_ELECTION: Bounds = Bounds {
        ticks: 2,
        macro_ticks: false,
        tickers: 0b111,
        drops: 1,
        duplicates: 1,
        crashes: 1,
        reboot: false,
        faults: 1,
        max_term: 2,
        max_log: 3,
        max_in_flight: 3,
        max_depth: None,
        clients: &[&[Some(1)], &[None]],
        pre_vote: false,
        check_quorum: false,
        changes: 0,
        snapshots: 0,
        transfers: 0,
        read_index: false,
        lease_reads: false,
        wide_changes: false,
        joint_changes: false,
        max_frame_bytes: 128,
        election_ticks: 2,
        script: &[],
    };
}

impl Bounds {
    /// The bounds as a Rust expression.
    pub fn as_rust(&self) -> String {
        let clients: Vec<String> = self
            .clients
            .iter()
            .map(|ops| {
                let ops: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
                format!("&[{}]", ops.join(", "))
            })
            .collect();
        let script: Vec<String> = self
            .script
            .iter()
            .map(|s| format!("raft_model::Step::{s:?}"))
            .collect();
        format!(
            "raft_model::Bounds {{ ticks: {}, macro_ticks: {}, tickers: {:#05b}, drops: {}, duplicates: {}, \
             crashes: {}, reboot: {}, faults: {}, max_term: {}, max_log: {}, \
             max_in_flight: {}, max_depth: {:?}, clients: &[{}], pre_vote: {}, \
             check_quorum: {}, changes: {}, snapshots: {}, transfers: {}, read_index: {}, \
             lease_reads: {}, wide_changes: {}, joint_changes: {}, max_frame_bytes: {}, \
             election_ticks: {}, script: &[{}] }}",
            self.ticks,
            self.macro_ticks,
            self.tickers,
            self.drops,
            self.duplicates,
            self.crashes,
            self.reboot,
            self.faults,
            self.max_term,
            self.max_log,
            self.max_in_flight,
            self.max_depth,
            clients.join(", "),
            self.pre_vote,
            self.check_quorum,
            self.changes,
            self.snapshots,
            self.transfers,
            self.read_index,
            self.lease_reads,
            self.wide_changes,
            self.joint_changes,
            self.max_frame_bytes,
            self.election_ticks,
            script.join(", ")
        )
    }
}
