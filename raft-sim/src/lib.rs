//! raft-sim: a deterministic cluster simulator, invariant checker and fuzz harness for
//! raft-core, built on raft-core's public API only (`publish = false`; no product crate
//! depends on it).
//!
//! N real [`State`](raftcore::State)s, each driven by raft-core's
//! [`Engine`](raftcore::Engine) over the simulator's seams (see [`SimNode`]), exchange frames
//! through the real codec over a network that drops, duplicates, reorders and partitions
//! (asymmetrically too); nodes crash and restart from what was durable only; under
//! `Durability::Deferred` writes become durable late relative to the sends. Everything comes
//! from one seed or from a list of [`Action`]s (a fuzzer's bytes), and the [`Checker`]
//! verifies Raft's safety properties after every step through the public read-only view of
//! each `State`, from the seams and the engine's `Events` hook.
//!
//! - [`Cluster`]: the simulated cluster and its schedule of actions;
//! - [`fuzz`]: the cargo-fuzz targets' logic (`fuzz/` holds one-line binaries over it);
//! - `tests/`: raft-core's scenario tests (named after the paper's rules), the property
//!   tests over random schedules, the seeded regressions and the fuzz corpus replay.
//!
//! ```text
//! cargo run --release -p raft-sim --example cluster [seed]
//! ```

mod check;
mod cluster;
pub mod fuzz;
mod network;
mod node;
mod rng;
mod store;

pub use check::{Checker, NodeView, Violation};
pub use cluster::{Acked, Action, Cluster, SimConfig};
pub use network::{Network, Packet, MAX_IN_FLIGHT};
pub use node::{
    checksum, snapshot_meta, Disk, Machine, PendingWrite, SimEngine, SimError, SimMachine, SimNode,
    SimSnapshots, SimSource, SimStorage, SimTransport,
};
pub use rng::SimRng;
pub use store::{chain_of, mix, MemStore, OwnedEntry};
