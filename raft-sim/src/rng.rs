//! The simulator's PRNG is raft-core's own SplitMix64 ([`raftcore::Rng`]): the same sequence
//! for a seed as the core's election jitter, so schedules drawn from a seed are what they
//! were when the simulator lived inside raft-core and the seeded regressions still replay.

/// The generator schedules are drawn from.
pub use raftcore::Rng as SimRng;
