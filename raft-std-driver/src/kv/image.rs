//! A snapshot image of the store: a frozen version of its maps, taken in O(1) and shared with
//! the live store copy-on-write, and its encoding, streamed to any writer.
//!
//! The maps are persistent B-trees ([`imbl::OrdMap`]): cloning one shares every node, and the
//! live store copies only the nodes on the path of a key it changes afterwards. An image taken
//! at index `i` therefore stays the state at `i` while the node loop keeps applying, and a
//! worker thread can encode it without stopping the loop. Keys and values are `Arc<[u8]>`, so
//! copying a node to change it clones reference counts, not bytes.
//!
//! # Format (version 1)
//!
//! Postcard of `(version: u8, applied: u64, data: map<bytes, bytes>, sessions: map<u64,
//! Session>)`, maps in key order, so equal stores give identical bytes. A byte string is its
//! varint length and its bytes: the same bytes postcard gives a `Vec<u8>`, so the format is
//! the one the store wrote when it kept `BTreeMap<Vec<u8>, Vec<u8>>` (tested).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use imbl::OrdMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use super::command::KvError;
use super::store::Session;

/// Version byte of the snapshot format.
pub(super) const SNAPSHOT_VERSION: u8 = 1;

/// A key or a value: shared, so copying a map node clones a reference count.
pub(super) type Bytes = Arc<[u8]>;
/// The keys and their values.
pub(super) type Data = OrdMap<Bytes, Bytes>;
/// The client sessions by client id.
pub(super) type Sessions = OrdMap<u64, Session>;

/// The store's state frozen at one applied index ([`KvStore::image`](super::KvStore::image)):
/// cheap to take, `Send`, and encoded on any thread with [`KvImage::write_to`].
#[derive(Clone)]
pub struct KvImage {
    applied: u64,
    data: Data,
    sessions: Sessions,
}

impl fmt::Debug for KvImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvImage")
            .field("applied", &self.applied)
            .field("keys", &self.data.len())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl KvImage {
    pub(super) fn new(applied: u64, data: Data, sessions: Sessions) -> KvImage {
        KvImage {
            applied,
            data,
            sessions,
        }
    }

    /// The applied index the image was taken at.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// The number of keys in the image.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the image holds no key.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Streams the snapshot bytes to `out` (buffer it: postcard writes a few bytes at a time).
    /// The first error `out` returns is returned.
    pub fn write_to<W: Write>(&self, out: W) -> io::Result<()> {
        let mut out = KeepError { out, error: None };
        match postcard::to_io(&Encode(self), &mut out) {
            Ok(_) => Ok(()),
            Err(e) => Err(out
                .error
                .take()
                .unwrap_or_else(|| io::Error::other(format!("encoding the snapshot: {e}")))),
        }
    }

    /// The snapshot bytes, in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Postcard encodes maps and byte strings of known length into a growing Vec without
        // error.
        postcard::to_stdvec(&Encode(self)).expect("postcard encodes the snapshot image infallibly")
    }

    /// Decodes snapshot bytes; anything but one whole version-1 image is refused.
    pub(super) fn decode(bytes: &[u8]) -> Result<KvImage, KvError> {
        let decoded: Decoded = super::command::decode_exact(bytes)?;
        if decoded.version != SNAPSHOT_VERSION {
            return Err(KvError::BadCommand);
        }
        let sessions: Sessions = decoded.sessions.into_iter().collect();
        Ok(KvImage::new(decoded.applied, decoded.data.0, sessions))
    }

    pub(super) fn into_parts(self) -> (u64, Data, Sessions) {
        (self.applied, self.data, self.sessions)
    }
}

/// A writer that keeps the I/O error postcard's writer flavor would replace by its own.
struct KeepError<W> {
    out: W,
    error: Option<io::Error>,
}

impl<W: Write> Write for KeepError<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf).inspect_err(|e| {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.out.write_all(buf) {
            Ok(()) => Ok(()),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.flush() {
            Ok(()) => Ok(()),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }
}

/// The image as postcard encodes it (a tuple: postcard writes a struct's fields the same way).
struct Encode<'a>(&'a KvImage);

impl Serialize for Encode<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(&SNAPSHOT_VERSION)?;
        t.serialize_element(&self.0.applied)?;
        t.serialize_element(&DataOut(&self.0.data))?;
        t.serialize_element(&SessionsOut(&self.0.sessions))?;
        t.end()
    }
}

struct DataOut<'a>(&'a Data);

impl Serialize for DataOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(&BytesOut(k), &BytesOut(v))?;
        }
        m.end()
    }
}

struct SessionsOut<'a>(&'a Sessions);

impl Serialize for SessionsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A byte string, written in one piece (postcard: varint length, then the bytes).
struct BytesOut<'a>(&'a [u8]);

impl Serialize for BytesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The image as decoded.
#[derive(Deserialize)]
struct Decoded {
    version: u8,
    applied: u64,
    data: DataIn,
    sessions: BTreeMap<u64, Session>,
}

struct DataIn(Data);

impl<'de> Deserialize<'de> for DataIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of byte strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataIn, A::Error> {
                let mut data = Data::new();
                while let Some((k, v)) = map.next_entry::<BytesIn, BytesIn>()? {
                    data.insert(k.0, v.0);
                }
                Ok(DataIn(data))
            }
        }
        d.deserialize_map(V)
    }
}

struct BytesIn(Bytes);

impl<'de> Deserialize<'de> for BytesIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BytesIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<BytesIn, E> {
                Ok(BytesIn(Arc::from(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BytesIn, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(BytesIn(Arc::from(v)))
            }
        }
        d.deserialize_bytes(V)
    }
}
