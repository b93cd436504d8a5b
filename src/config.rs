//! The router's configuration: a TOML file (`--config FILE`) or the embedded default (realm `realm1`,
//! anonymous, one universal endpoint on 127.0.0.1:8080).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{AuthenticatorConfig, Principal};
use crate::router::RoleConfig;
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
    /// How long an idle shard busy-polls before it parks, in microseconds (0: parks at once). Spinning
    /// spares the wake-up (an eventfd write and glommio's membarrier) when work comes back quickly, at
    /// the price of that CPU time; see tuning.md.
    #[serde(default)]
    pub spin_before_park_us: u64,
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
    /// Per-session limits in this realm.
    #[serde(default)]
    pub limits: SessionLimits,
    /// Roles and their permissions (authorization). No roles: every session may do everything.
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    /// Static principals: who may authenticate, with which credentials, under which role.
    #[serde(default)]
    pub principals: Vec<Principal>,
    /// A procedure that authenticates sessions dynamically.
    #[serde(default)]
    pub authenticator: Option<AuthenticatorConfig>,
}

/// What one session may hold at a time, per realm. A request past a limit gets ERROR
/// `switchyard.error.limit_exceeded` (the spec defines no URI for it) and is counted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionLimits {
    /// Subscriptions one session may hold.
    pub max_subscriptions: usize,
    /// Registrations one session may hold (each is replicated to every shard).
    pub max_registrations: usize,
    /// Prefix and wildcard subscriptions and registrations one session may hold, together (within the two
    /// limits above): every publication or call is matched against all of them.
    pub max_patterns: usize,
    /// Calls one session may have waiting for an answer.
    pub max_pending_calls: usize,
    /// Dealer-side timeout of every call that sets no `CALL.Options.timeout`, in milliseconds; 0 = none.
    /// Off by default: a procedure may legitimately run for hours, and what a silent callee costs is already
    /// bounded by `max_pending_calls` and released when either session leaves.
    pub default_call_timeout_ms: u64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_subscriptions: 10_000,
            max_registrations: 1_000,
            max_patterns: 100,
            max_pending_calls: 4_096,
            default_call_timeout_ms: 0,
        }
    }
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
    /// Overrides of the global per-connection limits for this endpoint.
    #[serde(default)]
    pub limits: EndpointLimits,
    /// TLS for a TCP endpoint (`wss`, RawSocket over TLS); not allowed on a `unix` endpoint.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl EndpointConfig {
    /// Makes the endpoint's relative file paths (TLS certificate, key, client CA) relative to `dir` (the
    /// config file's directory). The Unix socket path is left as written.
    pub fn resolve_paths(&mut self, dir: &Path) {
        if let Some(tls) = &mut self.tls {
            for path in [&mut tls.certificate, &mut tls.key].into_iter().chain(tls.client_ca.as_mut()) {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        match (&self.listen, &self.unix) {
            (Some(_), None) => {}
            (None, Some(_)) if self.tls.is_some() => {
                return Err(ConfigError::Invalid("TLS is not supported on a unix endpoint".into()))
            }
            (None, Some(_)) if self.kind == EndpointKind::RawSocket => {}
            (None, Some(_)) => {
                return Err(ConfigError::Invalid("a unix endpoint must be of kind \"rawsocket\"".into()))
            }
            _ => {
                return Err(ConfigError::Invalid(
                    "each endpoint needs exactly one of `listen` (TCP address) or `unix` (path)".into(),
                ))
            }
        }
        if let Some(tls) = &self.tls {
            let invalid = |text: &str| Err(ConfigError::Invalid(format!("endpoints.tls: {text}")));
            match (tls.client_auth(), &tls.client_ca) {
                (ClientCertificate::None, Some(_)) => {
                    return invalid("`client_ca` is set but `client_certificate` is \"none\"")
                }
                (ClientCertificate::Optional | ClientCertificate::Required, None) => {
                    return invalid("`client_certificate` \"optional\" or \"required\" needs `client_ca`")
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// TLS on an endpoint: the server's certificate chain and private key (PEM files), and optionally a CA
/// that client certificates are verified against. Relative paths are relative to the config file's
/// directory (`--config FILE`), or to the working directory for a config that is not read from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate, then any intermediate certificates.
    pub certificate: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
    /// PEM file with the CA certificate(s) that client certificates must chain to.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Whether clients present a certificate; default "required" with `client_ca`, else "none".
    #[serde(default)]
    pub client_certificate: Option<ClientCertificate>,
}

impl TlsConfig {
    /// Whether client certificates are asked for, with the default applied.
    pub fn client_auth(&self) -> ClientCertificate {
        match (self.client_certificate, &self.client_ca) {
            (Some(policy), _) => policy,
            (None, Some(_)) => ClientCertificate::Required,
            (None, None) => ClientCertificate::None,
        }
    }
}

/// Whether a TLS endpoint asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertificate {
    /// Not asked for.
    None,
    /// Asked for; a client without one is accepted, one with a certificate that does not verify is not.
    Optional,
    /// A client without a certificate that verifies against `client_ca` fails the TLS handshake.
    Required,
}

/// The per-connection limits an endpoint may set differently from the global `[limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointLimits {
    pub max_message_size: Option<usize>,
    pub max_handshake_size: Option<usize>,
    pub handshake_timeout_secs: Option<u64>,
    pub ping_interval_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_outbound_bytes: Option<usize>,
    pub slow_consumer: Option<SlowConsumerPolicy>,
    pub max_nesting_depth: Option<usize>,
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
    /// Seconds without inbound traffic after which the router pings the peer (WebSocket ping, RawSocket
    /// PING); 0 = never.
    pub ping_interval_secs: u64,
    /// Seconds without any inbound traffic (a pong counts) after which the connection is closed; 0 = never.
    /// This is what finds half-open connections.
    pub idle_timeout_secs: u64,
    /// Concurrent connections, router-wide; past it a RawSocket handshake gets error 4 ("maximum connection
    /// count reached") and a WebSocket upgrade HTTP 503.
    pub max_connections: usize,
    /// Concurrent connections from one source IP address; 0 = no limit (the default, because a router behind
    /// a proxy or load balancer sees every client under one address).
    pub max_connections_per_ip: usize,
    /// Deepest nesting of lists and dicts accepted in an inbound message (payload included); at most
    /// [`crate::wamp::codec::MAX_DEPTH`].
    pub max_nesting_depth: usize,
    /// Seconds a stopping router waits for sessions to answer GOODBYE and for queues to drain.
    pub shutdown_grace_secs: u64,
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
            ping_interval_secs: 30,
            idle_timeout_secs: 90,
            max_connections: 65_536,
            max_connections_per_ip: 0,
            max_nesting_depth: 64,
            shutdown_grace_secs: 5,
        }
    }
}

impl Limits {
    /// The limits that apply to connections of `endpoint`: these, with the endpoint's overrides.
    pub fn for_endpoint(&self, endpoint: &EndpointConfig) -> Limits {
        let o = &endpoint.limits;
        Limits {
            max_message_size: o.max_message_size.unwrap_or(self.max_message_size),
            max_handshake_size: o.max_handshake_size.unwrap_or(self.max_handshake_size),
            handshake_timeout_secs: o.handshake_timeout_secs.unwrap_or(self.handshake_timeout_secs),
            ping_interval_secs: o.ping_interval_secs.unwrap_or(self.ping_interval_secs),
            idle_timeout_secs: o.idle_timeout_secs.unwrap_or(self.idle_timeout_secs),
            max_outbound_bytes: o.max_outbound_bytes.unwrap_or(self.max_outbound_bytes),
            slow_consumer: o.slow_consumer.unwrap_or(self.slow_consumer),
            max_nesting_depth: o.max_nesting_depth.unwrap_or(self.max_nesting_depth),
            ..self.clone()
        }
    }

    fn check(&self, context: &str) -> Result<(), ConfigError> {
        let invalid = |text: &str| Err(ConfigError::Invalid(format!("{context}{text}")));
        if self.max_message_size < 512 {
            return invalid("max_message_size must be at least 512");
        }
        if !(1..=crate::wamp::codec::MAX_DEPTH).contains(&self.max_nesting_depth) {
            return invalid(&format!("max_nesting_depth must be 1..={}", crate::wamp::codec::MAX_DEPTH));
        }
        if self.handshake_timeout_secs == 0 {
            return invalid("handshake_timeout_secs must be at least 1");
        }
        if self.idle_timeout_secs != 0 && self.ping_interval_secs >= self.idle_timeout_secs {
            return invalid("ping_interval_secs must be shorter than idle_timeout_secs");
        }
        Ok(())
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

impl RealmConfig {
    /// Checks the realm's roles, principals and authenticator against each other and `realms`.
    fn check_auth(&self, realms: &[RealmConfig]) -> Result<(), ConfigError> {
        let invalid = |what: String| Err(ConfigError::Invalid(format!("realm {:?}: {what}", self.name)));
        for (i, role) in self.roles.iter().enumerate() {
            if self.roles[..i].iter().any(|r| r.name == role.name) {
                return invalid(format!("role {:?} is defined twice", role.name));
            }
            if role.authorizer.is_some() && !role.permissions.is_empty() {
                return invalid(format!("role {:?} has both an authorizer and permissions", role.name));
            }
        }
        let auth = crate::auth::RealmAuth::new(
            &self.name,
            self.anonymous,
            &self.principals,
            self.authenticator.as_ref(),
        )
        .map_err(|e| ConfigError::Invalid(format!("realm {:?}: {e}", self.name)))?;
        if !self.roles.is_empty() {
            let mut used: Vec<&str> = auth.roles().collect();
            if self.anonymous {
                used.push("anonymous");
            }
            if let Some(missing) = used.iter().find(|r| !self.roles.iter().any(|role| role.name == **r)) {
                return invalid(format!("role {missing:?} is used but not defined under [[realms.roles]]"));
            }
        }
        if let Some(authenticator) = &self.authenticator {
            let on = authenticator.realm.as_deref().unwrap_or(&self.name);
            if !realms.iter().any(|r| r.name == on) {
                return invalid(format!("the authenticator's realm {on:?} does not exist"));
            }
        }
        Ok(())
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
        let mut config = Config::from_toml_str(&text)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        config.endpoints.iter_mut().for_each(|e| e.resolve_paths(dir));
        Ok(config)
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
            realm.check_auth(&self.realms)?;
        }
        if self.endpoints.is_empty() {
            return Err(ConfigError::Invalid("at least one endpoint is required".into()));
        }
        for endpoint in &self.endpoints {
            endpoint.check()?;
        }
        if self.cores == Some(0) {
            return Err(ConfigError::Invalid("cores must be at least 1".into()));
        }
        self.limits.check("limits.")?;
        for endpoint in &self.endpoints {
            self.limits.for_endpoint(endpoint).check("endpoints.limits.")?;
        }
        if self.limits.max_connections == 0 {
            return Err(ConfigError::Invalid("limits.max_connections must be at least 1".into()));
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
    fn endpoint_limits_override_the_global_ones() {
        let text = r#"
            [limits]
            max_message_size = 100000
            idle_timeout_secs = 50
            [[realms]]
            name = "r"
            limits = { max_pending_calls = 3 }
            [[endpoints]]
            kind = "rawsocket"
            listen = "127.0.0.1:0"
            limits = { max_message_size = 2048, ping_interval_secs = 5 }
            [[endpoints]]
            kind = "websocket"
            listen = "127.0.0.1:0"
        "#;
        let c = Config::from_toml_str(text).unwrap();
        let first = c.limits.for_endpoint(&c.endpoints[0]);
        assert_eq!(
            (first.max_message_size, first.ping_interval_secs, first.idle_timeout_secs),
            (2048, 5, 50)
        );
        let second = c.limits.for_endpoint(&c.endpoints[1]);
        assert_eq!((second.max_message_size, second.ping_interval_secs), (100000, 30));
        assert_eq!(c.realms[0].limits.max_pending_calls, 3);
        assert_eq!(c.realms[0].limits.max_subscriptions, SessionLimits::default().max_subscriptions);
        let bad = text.replace("ping_interval_secs = 5", "ping_interval_secs = 60");
        assert!(Config::from_toml_str(&bad).is_err(), "a ping interval past the idle timeout is refused");
        let deep = text.replace("idle_timeout_secs = 50", "max_nesting_depth = 1000");
        assert!(Config::from_toml_str(&deep).is_err());
    }

    #[test]
    fn the_readme_example_is_a_valid_config() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("README has a TOML example") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("closed code block");
        let c = Config::from_toml_str(&readme[start..end]).expect("README example parses");
        assert_eq!(c.limits.max_connections, Limits::default().max_connections);
        assert_eq!(c.limits.for_endpoint(&c.endpoints[1]).max_message_size, 65536);
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
