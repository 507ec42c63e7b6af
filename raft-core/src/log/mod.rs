//! The log: metadata in the core, payload bytes in a store beside it.
//!
//! [`window::Window`] is the core's bounded view of the log: for each entry its term, kind and
//! payload length, 16 bytes an entry. [`store::RingStore`] is the shipped no_std payload store
//! over a caller-provided byte array; the std driver uses its write-ahead log instead.

pub mod store;
pub mod window;
