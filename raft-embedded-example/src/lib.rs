//! The target-independent application logic of the raft-core embassy firmware.
//!
//! Everything here is plain `async` code over `embassy-sync` channels and `embassy-time` timers:
//! no executor, no time driver, no entry point, no exit. The firmware (`firmware/`, run under
//! QEMU `mps2-an386`) wraps these functions in `#[embassy_executor::task]`s on Cortex-M; the host
//! test (`tests/`) wraps the very same functions in tasks on embassy's std executor. So the logic
//! is checked wherever QEMU is missing.
//!
//! Phase 1 of issue 7: a two-task ping-pong that proves the skeleton (tasks, channels, timers,
//! exit status, logs). The three raft-core nodes replace it once raft-core's step API lands.
#![no_std]
#![deny(missing_docs)]

#[macro_use]
mod fmt;

pub mod link;
pub mod pingpong;
pub mod rng;
