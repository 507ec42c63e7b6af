//! The target-independent application logic of the raft-core embassy firmware.
//!
//! Three raft-core nodes run as tasks, each with its own tick timer, and exchange the postcard
//! frames of raft-core's codec (the bytes the UDP driver puts in its datagrams) over bounded
//! `embassy-sync` channels through a link task that drops, duplicates and delays frames from a
//! seed. A client task proposes values, power-cycles the leader (its `State` is rebuilt only
//! from what it persisted to its RAM disk: hard state and log) and checks that every node
//! applied the same sequence and that a new leader took over.
//!
//! Everything here is plain `async` code over `embassy-sync` channels and `embassy-time`
//! timers: no executor, no time driver, no entry point, no exit, no heap. The firmware
//! (`firmware/`, run under QEMU `mps2-an386`) wraps these functions in
//! `#[embassy_executor::task]`s on Cortex-M; the host test (`tests/cluster_host.rs`) wraps the
//! very same functions in tasks on embassy's std executor, so the logic is checked wherever QEMU
//! is missing.
//!
//! | task | body | owns |
//! |---|---|---|
//! | node `k` (three) | [`node::run`] | its [`cluster::NodeEngine`]: `State`, disk, link and state machine |
//! | link | [`link::run`] | its delay line and PRNG |
//! | client | [`scenario::run`] | nothing: it talks through [`cluster::Shared`] |
#![no_std]
#![deny(missing_docs)]

#[macro_use]
mod fmt;

pub mod board;
pub mod board_disk;
pub mod board_node;
pub mod cluster;
pub mod journal;
pub mod kv;
pub mod link;
pub mod node;
pub mod rng;
pub mod scenario;
pub mod seal;
pub mod serial;

/// The seed of the run the firmware and the host test make: it names the link's fault schedule
/// and the nodes' election jitter.
pub const SEED: u64 = 0x5EED_0007;
