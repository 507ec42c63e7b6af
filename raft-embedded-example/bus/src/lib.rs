//! The host side of the one-node-per-board firmware: the "bus" that joins the boards' serial
//! lines, and the three-board run.
//!
//! Each board (`raft-board`, one QEMU `mps2-an386` process) connects its UART0 to the bus over
//! a QEMU character device (`-serial tcp:127.0.0.1:PORT`, loopback only). The bus reads
//! COBS-framed messages ([`raft_embedded_example::serial`]), routes each sealed raft-core
//! datagram (sealed as the host's UDP driver seals them, under the same key file) to the board
//! it is addressed to, unchanged, and applies a seeded fault schedule ([`faults`]) on the way, like a
//! radio: drops, duplicates, delays (which reorder) and partitions.
//!
//! It lives in its own host crate beside the example, rather than in `raft-std-driver`,
//! because it shares the serial wire definition with the firmware's logic crate and is only
//! useful with those boards; `raft-std-driver` stays the UDP service.
//!
//! | module | what |
//! |---|---|
//! | [`bus`] | the router: listeners, per-board deframers and queues, the delay line |
//! | [`faults`] | the seeded fault schedule |
//! | [`boards`] | starting and SIGKILLing the QEMU processes |
//! | [`scenario`] | the three-board run and its checks |
//! | [`udp`] | the UDP side of a mixed cluster: one loopback address per board |
//! | [`mixed`] | the mixed run (two boards and a `raft-node`) and its checks |
#![deny(missing_docs)]

pub mod boards;
pub mod bus;
pub mod faults;
pub mod mixed;
pub mod scenario;
pub mod udp;
