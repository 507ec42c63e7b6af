//! The key-value store with client sessions.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::command::{decode_exact, Command, KvError, Request, Response};

/// Default bound on client sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// Version byte of the snapshot format.
const SNAPSHOT_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    /// Last sequence number applied.
    seq: u64,
    /// Log index it was applied at (the session's age, for eviction).
    index: u64,
    /// Its response, returned again to a retry.
    response: Response,
}

/// What a snapshot holds; maps are ordered, so equal stores give identical bytes.
#[derive(Serialize, Deserialize)]
struct Image {
    version: u8,
    applied: u64,
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    sessions: BTreeMap<u64, Session>,
}

/// The replicated key-value state machine. See the [module docs](super) for sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvStore {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    sessions: BTreeMap<u64, Session>,
    /// `(session index, client)`, oldest first: the eviction order.
    by_age: BTreeSet<(u64, u64)>,
    applied: u64,
    max_sessions: usize,
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
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            by_age: BTreeSet::new(),
            applied: 0,
            max_sessions: max_sessions.max(1),
        }
    }

    /// The last log index applied (or skipped with [`KvStore::advance`]).
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// The value of `key` now (for a linearizable read once the read index is applied).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.data.get(key).map(Vec::as_slice)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
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
                Command::Get { key } => Response::Value(self.data.get(&key).cloned()),
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
                self.data.insert(key, value);
                Response::Written
            }
            Command::Get { key } => Response::Value(self.data.get(&key).cloned()),
            Command::Delete { key } => Response::Deleted {
                existed: self.data.remove(&key).is_some(),
            },
            Command::Cas { key, expected, new } => {
                let previous = self.data.get(&key).cloned();
                let swapped = previous == expected;
                if swapped {
                    match new {
                        Some(v) => self.data.insert(key, v),
                        None => self.data.remove(&key),
                    };
                }
                Response::Cas { swapped, previous }
            }
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

    /// The store's whole state (data, sessions, applied index) as bytes. Equal stores give
    /// equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        let image = Image {
            version: SNAPSHOT_VERSION,
            applied: self.applied,
            data: self.data.clone(),
            sessions: self.sessions.clone(),
        };
        // Postcard encodes maps and vectors of known length into a growing Vec without error.
        postcard::to_stdvec(&image).expect("postcard encodes the snapshot image infallibly")
    }

    /// Replaces the state with a snapshot's. On error the store is unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), KvError> {
        let image: Image = decode_exact(bytes)?;
        if image.version != SNAPSHOT_VERSION {
            return Err(KvError::BadCommand);
        }
        self.by_age = image
            .sessions
            .iter()
            .map(|(&client, s)| (s.index, client))
            .collect();
        self.data = image.data;
        self.sessions = image.sessions;
        self.applied = image.applied;
        while self.sessions.len() > self.max_sessions {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.sessions.remove(&oldest);
        }
        Ok(())
    }
}
