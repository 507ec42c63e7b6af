//! Requests and responses, as they travel in log entries and replies.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An operation on the store. Keys and values are arbitrary bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Reads `key` (through the log; linearizable reads can also use [`KvStore::get`]
    /// after a ReadIndex round).
    ///
    /// [`KvStore::get`]: super::KvStore::get
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Compare-and-swap: if the current value equals `expected` (`None`: the key is absent),
    /// set it to `new` (`None`: delete it).
    Cas {
        /// The key.
        key: Vec<u8>,
        /// The value the key must have for the swap to happen.
        expected: Option<Vec<u8>>,
        /// The value to store; `None` deletes the key.
        new: Option<Vec<u8>>,
    },
}

/// A command from a client session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The client's id (random, chosen by the client).
    pub client: u64,
    /// The request's number in the client's session: 1, 2, ...; a retry reuses it. 0 marks
    /// a sessionless `Get` (reads are idempotent and need no slot: under ReadIndex they never
    /// reach the log); any other command with 0 is refused.
    pub seq: u64,
    /// What to do.
    pub command: Command,
}

/// Why a request was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvError {
    /// The entry's bytes are not a `Request` (or a snapshot's bytes are not a snapshot).
    BadCommand,
    /// The client already moved past this sequence number.
    StaleSequence {
        /// The last sequence number applied for the client.
        last: u64,
    },
    /// The client has no session (never had one, or it was evicted) and `seq` is not 1.
    SessionExpired,
    /// `apply` was called with an index at or below one already applied (a driver bug).
    IndexNotIncreasing {
        /// The last index applied.
        applied: u64,
    },
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::BadCommand => f.write_str("malformed command"),
            KvError::StaleSequence { last } => {
                write!(f, "stale sequence number (last applied is {last})")
            }
            KvError::SessionExpired => f.write_str("client session expired or unknown"),
            KvError::IndexNotIncreasing { applied } => {
                write!(f, "entry index not above the applied index {applied}")
            }
        }
    }
}

impl std::error::Error for KvError {}

/// The result of applying a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A `Put` was applied.
    Written,
    /// A `Get`'s value.
    Value(Option<Vec<u8>>),
    /// A `Delete` was applied; whether the key existed.
    Deleted {
        /// True if the key had a value.
        existed: bool,
    },
    /// A `Cas` was applied.
    Cas {
        /// True if the expected value matched and the new one is stored.
        swapped: bool,
        /// The value before the operation.
        previous: Option<Vec<u8>>,
    },
    /// The request was not applied.
    Error(KvError),
}

/// Postcard encodes these plain types without error: it fails only for sequences of unknown
/// length or for a writer that runs out of room, and `to_stdvec` grows a `Vec`.
const ENCODE_INFALLIBLE: &str = "postcard encodes plain serde types into a Vec infallibly";

impl Request {
    /// The bytes a log entry carries.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect(ENCODE_INFALLIBLE)
    }

    /// Decodes an entry's bytes; trailing bytes are refused.
    pub fn decode(bytes: &[u8]) -> Result<Request, KvError> {
        decode_exact(bytes)
    }
}

impl Response {
    /// The bytes of a reply to the client.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect(ENCODE_INFALLIBLE)
    }

    /// Decodes a reply; trailing bytes are refused.
    pub fn decode(bytes: &[u8]) -> Result<Response, KvError> {
        decode_exact(bytes)
    }
}

pub(crate) fn decode_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, KvError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(KvError::BadCommand),
    }
}
