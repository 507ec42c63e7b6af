//! Board support for running the raft-core embassy example under QEMU `mps2-an386`: a SysTick
//! time driver for embassy-time, the stack high-water measurement, and for the one-node-per-board
//! image (`src/bin/board.rs`) an interrupt-driven UART driver and semihosting (command line,
//! flash file). The application itself is
//! the target-independent `raft-embedded-example` crate; `src/bin/main.rs` wires the two.
#![no_std]
#![deny(missing_docs)]

pub mod semihost;
pub mod stack;
pub mod time_driver;
pub mod uart;
mod vectors;
