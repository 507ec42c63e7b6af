//! The client's common settings (`raft-client`'s `--peer`, `--key-file`, `--timeout-ms`),
//! which may also come from `RAFT_*` environment variables or a TOML file (`--config`):
//!
//! ```toml
//! peers = ["1=127.0.0.1:7001", "2=127.0.0.1:7002", "3=127.0.0.1:7003"]
//! key_file = "/etc/raft/cluster.key"   # a relative path is taken from the working directory
//! timeout_ms = 10000                   # optional
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How long a request is retried by default, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The client's common settings as given, each possibly missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The cluster's nodes, `ID=HOST:PORT` each.
    #[serde(default)]
    pub peers: Vec<String>,
    /// The cluster key file.
    pub key_file: Option<PathBuf>,
    /// The deadline of a request, in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl ClientSettings {
    /// Reads a TOML file of these settings.
    pub fn from_file(path: &Path) -> Result<ClientSettings, String> {
        crate::config::read_toml(path)
    }

    /// `self`'s settings, falling back to `base` for each one not given.
    pub fn or(self, base: ClientSettings) -> ClientSettings {
        ClientSettings {
            peers: crate::config::or_list(self.peers, base.peers),
            key_file: self.key_file.or(base.key_file),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn flags_override_the_file_one_setting_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.toml");
        std::fs::write(&path, "peers = [\"1=127.0.0.1:7001\"]\nkey_file = \"k\"\n").unwrap();
        let file = ClientSettings::from_file(&path).unwrap();
        let flags = ClientSettings {
            timeout_ms: Some(5),
            ..ClientSettings::default()
        };
        let s = flags.or(file);
        assert_eq!(s.peers, ["1=127.0.0.1:7001"]);
        assert_eq!(s.key_file, Some(PathBuf::from("k")));
        assert_eq!(s.timeout_ms, Some(5));
        std::fs::write(&path, "peer = []\n").unwrap();
        let err = ClientSettings::from_file(&path).unwrap_err();
        assert!(err.contains("client.toml") && err.contains("peer"), "{err}");
    }
}
