//! Side-by-side benchmark harness: raft-core against tikv/raft-rs.
//!
//! The workloads are specified in the project's shared `BENCH.md`; this crate follows it to the
//! letter. One module per library under test ([`raftrs`]: raft-rs with `batch_append` off and
//! on; [`raftcore`]: frames and in-process) implements the same [`Subject`] trait, and the
//! `bench` binary runs all of them in one process and prints one table with ratios (see
//! [`report`]).
//!
//! Shapes shared by both libraries:
//! - 3 voters (ids 1, 2, 3), one process, one thread, one FIFO network queue;
//! - `drive()`: rounds until a round does nothing; a round handles each node's pending outputs
//!   for nodes 1, 2, 3 in order, then delivers every queued message in FIFO order;
//! - election not timed (node 1 campaigns), no ticks during throughput runs;
//! - 16-byte payloads: a little-endian u64 sequence number and 8 zero bytes.

pub mod counting;
pub mod election;
pub mod raftcore;
pub mod raftrs;
pub mod report;

use std::time::Duration;

/// Voter ids of the 3-node cluster.
pub const VOTERS: [u64; 3] = [1, 2, 3];

/// Payload size of every proposal (BENCH.md).
pub const PAYLOAD_LEN: usize = 16;

/// The 16-byte payload of proposal number `seq`.
#[inline(always)]
pub fn payload(seq: u64) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p
}

/// The three micro benchmarks of BENCH.md, workload 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Micro {
    /// A heartbeat from the leader stepped into node 2, outputs handled, response dropped.
    FollowerHeartbeat,
    /// One tick on the leader, nothing comes due.
    LeaderTick,
    /// A successful, already-acknowledged append response from node 2 stepped into the leader.
    LeaderAppendResponse,
}

impl Micro {
    /// All cases, in table order.
    pub const ALL: [Micro; 3] = [
        Micro::FollowerHeartbeat,
        Micro::LeaderTick,
        Micro::LeaderAppendResponse,
    ];

    /// Operations per timed run, from BENCH.md.
    pub fn full_ops(self) -> u64 {
        match self {
            Micro::FollowerHeartbeat => 200_000,
            Micro::LeaderTick => 2_000_000,
            Micro::LeaderAppendResponse => 1_000_000,
        }
    }

    /// Short name used on the command line (`--callgrind CASE`).
    pub fn key(self) -> &'static str {
        match self {
            Micro::FollowerHeartbeat => "follower-heartbeat",
            Micro::LeaderTick => "leader-tick",
            Micro::LeaderAppendResponse => "leader-append-response",
        }
    }

    /// Parses [`Micro::key`].
    pub fn from_key(s: &str) -> Option<Micro> {
        Micro::ALL.into_iter().find(|m| m.key() == s)
    }

    /// Human label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Micro::FollowerHeartbeat => "follower heartbeat",
            Micro::LeaderTick => "leader tick",
            Micro::LeaderAppendResponse => "leader append response",
        }
    }
}

/// One throughput run (workload 1) on a fresh cluster.
#[derive(Clone, Copy, Debug)]
pub struct ThroughputRun {
    /// Wall-clock time of the timed phase (first proposal to the end of the last drive()).
    pub elapsed: Duration,
    /// Allocator activity during the timed phase, the harness's own allocations included.
    pub allocs: counting::Counts,
    /// Heap bytes held by the three nodes (library state plus their in-memory stores) at the end
    /// of the run, network queue excluded; divide by 3 for per node.
    pub resident_bytes: i64,
    /// Leader ticks needed after the timer stopped (untimed) until every node had applied
    /// every entry; 0 when drive() alone got there, as BENCH.md expects.
    pub settle_ticks: u64,
}

/// One micro benchmark measurement (workload 3).
#[derive(Clone, Copy, Debug)]
pub struct MicroRun {
    /// Wall-clock time of each of the timed runs, in nanoseconds per operation.
    pub ns_per_op: f64,
    /// Allocations per operation over all timed runs.
    pub allocs_per_op: f64,
}

/// A library under test. Each method builds its own fresh cluster.
pub trait Subject {
    /// Column name.
    const NAME: &'static str;

    /// Workload 1 (and 2: the allocator counts are read around the same timed phase): fresh
    /// cluster, untimed election, then `total` proposals in batches of `batch`, each batch
    /// followed by drive(). Panics unless all three nodes applied all `total` entries.
    fn throughput(batch: usize, total: u64) -> ThroughputRun;

    /// Workload 3: sets up the micro cluster, runs one warm-up of `ops` operations and then
    /// `runs` timed runs of `ops` operations; returns the median.
    fn micro(case: Micro, ops: u64, runs: usize) -> MicroRun;

    /// Sets up the micro cluster and runs the `#[inline(never)]` loop function of `case` once
    /// with `ops` operations (for callgrind, whose collection is toggled on that function).
    fn micro_once(case: Micro, ops: u64);

    /// Symbol fragment of the loop function of `case`, for `--toggle-collect='*NAME*'`.
    fn loop_symbol(case: Micro) -> &'static str;
}

/// Median of a non-empty slice (sorts it).
pub fn median(v: &mut [f64]) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
