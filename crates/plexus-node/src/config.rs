//! A node's configuration: `node.toml` in its home directory.
//!
//! ```toml
//! genesis = "genesis.toml"          # relative to the home
//! key = "node-key.json"             # encrypted keyfile of the consensus key
//! data = "data"                     # consensus journals and block archive
//! p2p = "127.0.0.1:30301"
//! rpc = "127.0.0.1:9944"
//! metrics = "127.0.0.1:9615"
//! explorer = "127.0.0.1:8081"      # optional: the web explorer over this node's RPC
//!
//! [[peers]]
//! key = "plx1…"                     # a validator's consensus key
//! address = "127.0.0.1:30302"
//! ```

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use plexus_primitives::AccountId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The file name of a node's configuration in its home.
pub const CONFIG_FILE: &str = "node.toml";

/// A peer to dial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its consensus key.
    pub key: AccountId,
    /// Where it listens for peers.
    pub address: SocketAddr,
}

/// What `node.toml` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The genesis file.
    pub genesis: PathBuf,
    /// The encrypted consensus keyfile.
    pub key: PathBuf,
    /// Where consensus journals and the block archive live.
    #[serde(default = "default_data")]
    pub data: PathBuf,
    /// Peer-to-peer listen address.
    pub p2p: SocketAddr,
    /// JSON-RPC listen address (HTTP and WebSocket).
    pub rpc: SocketAddr,
    /// Prometheus metrics listen address, if any.
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
    /// Where to serve the web explorer over this node's RPC, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explorer: Option<SocketAddr>,
    /// Peers to connect to.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Whether a reverse proxy on this machine fronts the RPC, so that calls from loopback
    /// carrying `X-Forwarded-For` are limited as the address the proxy appended (see
    /// [`crate::rpc::RpcConfig::behind_proxy`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rpc_behind_proxy: bool,
    /// Heights of finalized blocks, with their receipts, kept on disk for
    /// readers (default [`crate::journal::DEFAULT_JOURNAL_KEEP`]; 0 keeps none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_blocks: Option<u64>,
}

fn default_data() -> PathBuf {
    PathBuf::from("data")
}

/// Why a configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error("{path} is not a valid node configuration: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl NodeConfig {
    /// What the node's journal keeps, or `None` for no journal.
    pub fn journal(&self) -> Option<crate::journal::JournalPolicy> {
        match self.journal_blocks {
            None => Some(crate::journal::JournalPolicy::default()),
            Some(keep) => NonZeroU64::new(keep).map(|keep| crate::journal::JournalPolicy { keep }),
        }
    }

    /// Reads `HOME/node.toml`; relative paths in it are resolved against HOME.
    pub fn load(home: &Path) -> Result<Self, ConfigError> {
        let path = home.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        for p in [&mut config.genesis, &mut config.key, &mut config.data] {
            if p.is_relative() {
                *p = home.join(&*p);
            }
        }
        Ok(config)
    }

    /// Renders the configuration as TOML.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid {
            path: PathBuf::from(CONFIG_FILE),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_home() {
        let dir = std::env::temp_dir().join(format!("plexus-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = NodeConfig {
            genesis: "genesis.toml".into(),
            key: "/abs/key.json".into(),
            data: "data".into(),
            p2p: "127.0.0.1:30301".parse().unwrap(),
            rpc: "127.0.0.1:9944".parse().unwrap(),
            metrics: None,
            explorer: Some("127.0.0.1:8081".parse().unwrap()),
            peers: vec![Peer {
                key: AccountId([7; 32]),
                address: "127.0.0.1:30302".parse().unwrap(),
            }],
            rpc_behind_proxy: true,
            journal_blocks: Some(0),
        };
        std::fs::write(dir.join(CONFIG_FILE), config.to_toml().unwrap()).unwrap();
        let loaded = NodeConfig::load(&dir).unwrap();
        assert_eq!(loaded.genesis, dir.join("genesis.toml"));
        assert_eq!(loaded.key, PathBuf::from("/abs/key.json"));
        assert_eq!(loaded.peers, config.peers);
        assert_eq!(loaded.explorer, config.explorer);
        assert!(loaded.rpc_behind_proxy);
        assert_eq!(loaded.journal(), None, "0 keeps no journal");
        std::fs::write(dir.join(CONFIG_FILE), "p2p = 5").unwrap();
        assert!(matches!(
            NodeConfig::load(&dir),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
