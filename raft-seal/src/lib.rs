//! The sealed datagram of raft-core's transports, in one `no_std`, no-alloc place: the host's
//! UDP driver (`raft-std-driver`'s `transport`) and the firmware boards
//! (`raft-embedded-example`'s `seal`) both build and check exactly these bytes.
//!
//! ```text
//! [magic/version u8 = 0xA1][sender id u32 LE][counter u64 LE][nonce 24 B][ciphertext][tag 16 B]
//! |<------------------ header (37 B), authenticated as associated data ------------------>|
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`frame`] | the header's layout, reading and writing it |
//! | [`nonce`] | a datagram's nonce: a per-sealer prefix and the counter |
//! | [`key`] | the cluster key file's contents (64 hex digits or 32 raw bytes) |
//! | [`replay`] | the per-sender sliding replay window (RFC 6479 style) |
//! | [`aead`] | sealing and opening a datagram in place, in a caller's buffer |
//!
//! What stays with each side: where the nonce prefix's randomness comes from (the OS on a host,
//! a seeded CSPRNG on a board), where the boot epoch is kept (a file; the board's flash
//! journal), and the peer tables and drop counters.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aead;
pub mod frame;
pub mod key;
pub mod nonce;
pub mod replay;

pub use chacha20poly1305::XChaCha20Poly1305;
