//! Board support for running the raft-core embassy example under QEMU `mps2-an386`: a SysTick
//! time driver for embassy-time and the stack high-water measurement. The application itself is
//! the target-independent `raft-embedded-example` crate; `src/bin/main.rs` wires the two.
#![no_std]
#![deny(missing_docs)]

pub mod stack;
pub mod time_driver;
