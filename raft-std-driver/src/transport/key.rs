//! The pre-shared cluster key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 32-byte XChaCha20-Poly1305 key shared by every member of the cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; 32]);

/// Why a key file could not be used.
#[derive(Debug)]
pub enum KeyError {
    /// The file could not be read.
    Read {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The contents are neither 32 raw bytes nor 64 hex digits.
    Format {
        /// The key file.
        path: PathBuf,
        /// Length of the contents, whitespace trimmed.
        len: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Read { path, source } => {
                write!(f, "cannot read key file {}: {source}", path.display())
            }
            KeyError::Format { path, len } => write!(
                f,
                "key file {} must hold 64 hex digits or 32 raw bytes (found {len} bytes)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Read { source, .. } => Some(source),
            KeyError::Format { .. } => None,
        }
    }
}

impl ClusterKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> ClusterKey {
        ClusterKey(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads a key file: 64 hex digits (surrounding whitespace allowed, e.g. the output of
    /// `openssl rand -hex 32`) or exactly 32 raw bytes.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ClusterKey, KeyError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ClusterKey::parse(&bytes).ok_or_else(|| KeyError::Format {
            path: path.to_path_buf(),
            len: bytes.trim_ascii().len(),
        })
    }

    /// Parses key file contents (see [`ClusterKey::from_file`]; the format is
    /// `raft_seal::key::parse`'s, shared with the firmware boards).
    pub fn parse(contents: &[u8]) -> Option<ClusterKey> {
        raft_seal::key::parse(contents).map(ClusterKey)
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("ClusterKey(..)")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hex_with_newline_and_raw_bytes_are_keys() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n";
        let k = ClusterKey::parse(hex.as_bytes()).unwrap();
        assert_eq!(k.as_bytes()[..4], [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(k.as_bytes()[31], 0xff);
        let raw = [b' '; 32];
        assert_eq!(ClusterKey::parse(&raw), Some(ClusterKey::from_bytes(raw)));
    }

    #[test]
    fn wrong_length_or_bad_hex_is_refused() {
        assert_eq!(ClusterKey::parse(b"abcd"), None);
        assert_eq!(ClusterKey::parse(&[b'g'; 64]), None);
        assert_eq!(ClusterKey::parse(&[0u8; 33]), None);
    }

    #[test]
    fn key_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ClusterKey::from_file(dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read key file"));
        let path = dir.path().join("short.key");
        std::fs::write(&path, "abcd\n").unwrap();
        let err = ClusterKey::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("64 hex digits") && err.contains("found 4 bytes"),
            "{err}"
        );
        std::fs::write(&path, [7u8; 32]).unwrap();
        assert_eq!(
            ClusterKey::from_file(&path).unwrap(),
            ClusterKey::from_bytes([7; 32])
        );
        assert_eq!(
            format!("{:?}", ClusterKey::from_bytes([7; 32])),
            "ClusterKey(..)"
        );
    }
}
