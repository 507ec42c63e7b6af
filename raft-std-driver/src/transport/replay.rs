//! The per-sender sliding anti-replay window (RFC 6479 style): the shared definition in
//! `raft-seal`, which the firmware boards use too (with a smaller ring). A node keeps the
//! default 32-block window per sender.

pub use raft_seal::replay::{ReplayWindow, Stale, WINDOW};
