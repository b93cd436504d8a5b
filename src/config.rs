//! The router's configuration: a TOML file (`--config FILE`) or the embedded default (realm `realm1`,
//! anonymous, one universal endpoint on 127.0.0.1:8080).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::wamp::uri::UriCheck;

/// The default configuration: what `switchyard` runs with no arguments.
pub const DEFAULT_TOML: &str = r#"
[[realms]]
name = "realm1"
anonymous = true

[[endpoints]]
kind = "universal"
listen = "127.0.0.1:8080"
"#;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of shards (pinned executors). Default: every CPU the process may run on.
    #[serde(default)]
    pub cores: Option<usize>,
    pub realms: Vec<RealmConfig>,
    pub endpoints: Vec<EndpointConfig>,
    #[serde(default)]
    pub limits: Limits,
}

/// One realm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    pub name: String,
    /// URI checking for topics and procedures (section 2.1.1): "loose" (default) or "strict".
    #[serde(default)]
    pub uri_check: UriCheck,
    /// Whether anonymous sessions may join (authrole "anonymous").
    #[serde(default = "yes")]
    pub anonymous: bool,
}

/// What an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// WebSocket and RawSocket on one port, told apart by the first octet (section 15.1).
    Universal,
    WebSocket,
    RawSocket,
}

/// One listening endpoint: a TCP address (`listen`) or a Unix socket path (`unix`), not both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub kind: EndpointKind,
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub unix: Option<PathBuf>,
}

/// Limits, enforced before memory is spent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest inbound WAMP message, in bytes (WebSocket close 1009 / RawSocket failure past it).
    pub max_message_size: usize,
    /// Largest HTTP upgrade request, in bytes.
    pub max_handshake_size: usize,
    /// Seconds a new connection has to finish its transport handshake (WebSocket upgrade, RawSocket).
    pub handshake_timeout_secs: u64,
    /// Capacity (in batches) of each cross-shard channel.
    pub mesh_channel_capacity: usize,
    /// Listen backlog of every TCP endpoint.
    pub listen_backlog: i32,
    /// Bytes that may wait in one connection's outbound queue; past it the `slow_consumer` policy applies,
    /// and the connection's own reads pause once half of it is queued.
    pub max_outbound_bytes: usize,
    /// What happens to a connection whose outbound queue is full.
    pub slow_consumer: SlowConsumerPolicy,
}

/// What to do with a connection that does not read fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlowConsumerPolicy {
    /// Close the connection (its session ends; its callers get errors as for any leaving session).
    Disconnect,
    /// Drop EVENTs for it (and count them); other messages still close it when the queue is full.
    DropEvents,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 * 1024 * 1024,
            max_handshake_size: 16 * 1024,
            handshake_timeout_secs: 10,
            mesh_channel_capacity: 1024,
            listen_backlog: 4096,
            max_outbound_bytes: 16 * 1024 * 1024,
            slow_consumer: SlowConsumerPolicy::Disconnect,
        }
    }
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Config::from_toml_str(DEFAULT_TOML).expect("the embedded default config is valid")
    }
}

impl Config {
    /// Parses and checks a TOML configuration.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Reads, parses and checks a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_toml_str(&text)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.realms.is_empty() {
            return Err(ConfigError::Invalid("at least one realm is required".into()));
        }
        for (i, realm) in self.realms.iter().enumerate() {
            if !crate::wamp::uri::is_valid(&realm.name, UriCheck::Loose) {
                return Err(ConfigError::Invalid(format!("realm name {:?} is not a valid URI", realm.name)));
            }
            if self.realms[..i].iter().any(|r| r.name == realm.name) {
                return Err(ConfigError::Invalid(format!("realm {:?} is defined twice", realm.name)));
            }
        }
        if self.endpoints.is_empty() {
            return Err(ConfigError::Invalid("at least one endpoint is required".into()));
        }
        for endpoint in &self.endpoints {
            match (&endpoint.listen, &endpoint.unix) {
                (Some(_), None) => {}
                (None, Some(_)) if endpoint.kind == EndpointKind::RawSocket => {}
                (None, Some(_)) => {
                    return Err(ConfigError::Invalid("a unix endpoint must be of kind \"rawsocket\"".into()))
                }
                _ => {
                    return Err(ConfigError::Invalid(
                        "each endpoint needs exactly one of `listen` (TCP address) or `unix` (path)".into(),
                    ))
                }
            }
        }
        if self.cores == Some(0) {
            return Err(ConfigError::Invalid("cores must be at least 1".into()));
        }
        if self.limits.max_message_size < 512 {
            return Err(ConfigError::Invalid("limits.max_message_size must be at least 512".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config() {
        let c = Config::default();
        assert_eq!(c.realms[0].name, "realm1");
        assert!(c.realms[0].anonymous);
        assert_eq!(c.endpoints[0].kind, EndpointKind::Universal);
        assert_eq!(c.endpoints[0].listen, Some("127.0.0.1:8080".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(Config::from_toml_str("realms = []\nendpoints = []").is_err());
        let both = r#"
            [[realms]]
            name = "r"
            [[endpoints]]
            kind = "universal"
            listen = "127.0.0.1:0"
            unix = "/tmp/x"
        "#;
        assert!(Config::from_toml_str(both).is_err());
        let unknown = "bogus = 1\n[[realms]]\nname = \"r\"\n[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"";
        assert!(Config::from_toml_str(unknown).is_err());
    }
}
