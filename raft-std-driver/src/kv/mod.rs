//! The replicated key-value state machine.
//!
//! Clients send [`Request`]s (postcard-encoded) that Raft commits; every replica applies the
//! committed entries in order with [`KvStore::apply`] and gets the same [`Response`].
//!
//! # Client sessions (exactly-once writes)
//!
//! Each client picks a random 64-bit id and numbers its requests 1, 2, 3, ... with at most one
//! outstanding at a time, retrying it with the *same* number until it gets an answer (Raft
//! thesis §6.3). The store keeps, per client, the last sequence number applied and its
//! response: a retry of that number returns the cached response without applying again; an
//! older number is refused (`StaleSequence`).
//!
//! Sessions are bounded ([`KvStore::with_max_sessions`]); past the bound the session idle the
//! longest (by log index, so every replica evicts the same one) is dropped. A request from a
//! client with no session must carry sequence number 1; anything else is answered
//! `SessionExpired` and not applied, so an evicted client learns that its outcome is unknown
//! instead of having a retry applied twice. (The one case left: an evicted client retrying its
//! very first request; eviction needs `max_sessions` busier clients to have come in between.)

mod command;
mod image;
mod store;

#[cfg(test)]
mod tests;

pub use command::{Command, KvError, Request, Response};
pub use image::KvImage;
pub use store::KvStore;
