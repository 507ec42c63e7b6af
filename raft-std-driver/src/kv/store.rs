//! The key-value store with client sessions.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::command::{Command, KvError, Request, Response};
use super::image::{Bytes, Data, KvImage, Sessions};

/// Default bound on client sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// Bytes a key-value pair adds to a snapshot besides its key and value (two varint lengths,
/// counted as the common two bytes each; an estimate, for sizing the snapshot interval).
const PAIR_OVERHEAD: u64 = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Session {
    /// Last sequence number applied.
    seq: u64,
    /// Log index it was applied at (the session's age, for eviction).
    index: u64,
    /// Its response, returned again to a retry.
    response: Response,
}

/// The replicated key-value state machine. See the [module docs](super) for sessions.
///
/// Its maps are persistent ([`KvStore::image`] freezes them in O(1) for a snapshot written on
/// another thread; see [`KvImage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvStore {
    data: Data,
    sessions: Sessions,
    /// `(session index, client)`, oldest first: the eviction order.
    by_age: BTreeSet<(u64, u64)>,
    applied: u64,
    max_sessions: usize,
    /// The keys' and values' bytes plus [`PAIR_OVERHEAD`] per key.
    data_bytes: u64,
}

impl Default for KvStore {
    fn default() -> Self {
        KvStore::with_max_sessions(DEFAULT_MAX_SESSIONS)
    }
}

impl KvStore {
    /// An empty store keeping at most `max_sessions` client sessions (at least 1). Every replica
    /// must use the same bound, or they would evict differently.
    pub fn with_max_sessions(max_sessions: usize) -> KvStore {
        KvStore {
            data: Data::new(),
            sessions: Sessions::new(),
            by_age: BTreeSet::new(),
            applied: 0,
            max_sessions: max_sessions.max(1),
            data_bytes: 0,
        }
    }

    /// The last log index applied (or skipped with [`KvStore::advance`]).
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// The value of `key` now (for a linearizable read once the read index is applied).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.data.get(key).map(|v| &v[..])
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// About how many bytes a snapshot of the data takes (keys, values, lengths; sessions
    /// not counted): what the node sizes its snapshot interval by.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// True if no key is set.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Marks `index` applied without a command (the leader's empty entry, configuration
    /// entries), so [`KvStore::applied_index`] stays exact.
    pub fn advance(&mut self, index: u64) {
        self.applied = self.applied.max(index);
    }

    /// Applies the committed entry at `index` holding `bytes` (an encoded [`Request`]). Never
    /// panics: undecodable bytes give `Response::Error(KvError::BadCommand)` and change nothing
    /// but the applied index.
    pub fn apply(&mut self, index: u64, bytes: &[u8]) -> Response {
        if index <= self.applied {
            return Response::Error(KvError::IndexNotIncreasing {
                applied: self.applied,
            });
        }
        self.applied = index;
        let Ok(req) = Request::decode(bytes) else {
            return Response::Error(KvError::BadCommand);
        };
        if req.seq == 0 {
            // Sessionless: only reads, which are idempotent.
            return match req.command {
                Command::Get { key } => Response::Value(self.value(&key)),
                _ => Response::Error(KvError::BadCommand),
            };
        }
        match self.sessions.get(&req.client) {
            Some(s) if req.seq == s.seq => return s.response.clone(),
            Some(s) if req.seq < s.seq => {
                return Response::Error(KvError::StaleSequence { last: s.seq })
            }
            None if req.seq != 1 => return Response::Error(KvError::SessionExpired),
            _ => {}
        }
        let response = self.execute(req.command);
        self.remember(req.client, req.seq, index, response.clone());
        response
    }

    fn execute(&mut self, command: Command) -> Response {
        match command {
            Command::Put { key, value } => {
                self.insert(key, value);
                Response::Written
            }
            Command::Get { key } => Response::Value(self.value(&key)),
            Command::Delete { key } => Response::Deleted {
                existed: self.remove(&key),
            },
            Command::Cas { key, expected, new } => {
                let previous = self.value(&key);
                let swapped = previous == expected;
                if swapped {
                    match new {
                        Some(v) => self.insert(key, v),
                        None => {
                            self.remove(&key);
                        }
                    }
                }
                Response::Cas { swapped, previous }
            }
        }
    }

    fn value(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.data.get(key).map(|v| v.to_vec())
    }

    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let added = pair_bytes(&key, &value);
        let key: Bytes = Arc::from(key);
        if let Some(old) = self.data.insert(key.clone(), Arc::from(value)) {
            self.data_bytes -= pair_bytes(&key, &old);
        }
        self.data_bytes += added;
    }

    /// Removes `key`; true if it had a value.
    fn remove(&mut self, key: &[u8]) -> bool {
        match self.data.remove(key) {
            Some(old) => {
                self.data_bytes -= pair_bytes(key, &old);
                true
            }
            None => false,
        }
    }

    fn remember(&mut self, client: u64, seq: u64, index: u64, response: Response) {
        let session = Session {
            seq,
            index,
            response,
        };
        if let Some(old) = self.sessions.insert(client, session) {
            self.by_age.remove(&(old.index, client));
        }
        self.by_age.insert((index, client));
        while self.sessions.len() > self.max_sessions {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.sessions.remove(&oldest);
        }
    }

    /// The store's whole state (data, sessions, applied index) frozen as it is now, in O(1):
    /// the maps are shared with the store, which copies what it changes afterwards. Encode it
    /// on any thread ([`KvImage::write_to`]); its bytes are [`KvStore::snapshot`]'s.
    pub fn image(&self) -> KvImage {
        KvImage::new(self.applied, self.data.clone(), self.sessions.clone())
    }

    /// The store's whole state (data, sessions, applied index) as bytes. Equal stores give
    /// equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.image().to_bytes()
    }

    /// Replaces the state with a snapshot's. On error the store is unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), KvError> {
        let (applied, data, sessions) = KvImage::decode(bytes)?.into_parts();
        self.by_age = sessions
            .iter()
            .map(|(&client, s)| (s.index, client))
            .collect();
        self.data_bytes = data.iter().map(|(k, v)| pair_bytes(k, v)).sum();
        self.data = data;
        self.sessions = sessions;
        self.applied = applied;
        while self.sessions.len() > self.max_sessions {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.sessions.remove(&oldest);
        }
        Ok(())
    }
}

/// What a key-value pair adds to [`KvStore::data_bytes`].
fn pair_bytes(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + PAIR_OVERHEAD
}
