//! The authentication method names of HELLO.Details.authmethods and WELCOME.Details.authmethod.

pub const ANONYMOUS: &str = "anonymous";
pub const TICKET: &str = "ticket";
pub const WAMPCRA: &str = "wampcra";
pub const SCRAM: &str = "wamp-scram";
pub const CRYPTOSIGN: &str = "cryptosign";
/// TLS client certificate authentication: the transport already verified the certificate.
pub const TLS: &str = "tls";

/// The methods a dynamic authenticator may serve.
pub const DYNAMIC: [&str; 5] = [TICKET, WAMPCRA, SCRAM, CRYPTOSIGN, TLS];

/// WELCOME.Details.authprovider of a principal from the configuration.
pub const PROVIDER_STATIC: &str = "static";
/// WELCOME.Details.authprovider of a principal the dynamic authenticator admitted.
pub const PROVIDER_DYNAMIC: &str = "dynamic";
