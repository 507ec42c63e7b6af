//! A deterministic cluster simulator and invariant checker (feature `sim`, uses std).
//!
//! N real [`State`](crate::State)s exchange frames through the real codec over a network
//! that drops, duplicates, reorders and partitions (asymmetrically too); nodes crash and
//! restart from what was durable only; under `Durability::Deferred` writes become durable
//! late relative to the sends. Everything comes from one seed or from a list of
//! [`Action`]s (a fuzzer's bytes), and the [`Checker`] verifies Raft's safety properties
//! after every step through the public read-only view of each `State`.

mod check;
mod cluster;
pub mod fuzz;
mod network;
mod node;
mod store;

pub use check::{Checker, NodeView, Violation};
pub use cluster::{Acked, Action, Cluster, SimConfig};
pub use network::{Network, Packet, MAX_IN_FLIGHT};
pub use node::{checksum, Machine, PendingWrite, SimNode, SimSource};
pub use store::{chain_of, mix, MemStore, OwnedEntry};

/// The simulator's PRNG (SplitMix64), public so schedules can be generated from a seed.
#[derive(Clone, Debug)]
pub struct SimRng(crate::rng::Rng);

impl SimRng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(crate::rng::Rng::new(seed))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// A number in `[lo, lo + span)`.
    pub fn in_range(&mut self, lo: u32, span: u32) -> u32 {
        self.0.in_range(lo, span)
    }
}
