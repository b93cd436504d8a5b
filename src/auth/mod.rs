//! Authentication (section 13): what the transport knows about a peer, and the authentication methods
//! that turn a HELLO into an identity (authid, authrole) or an ABORT. Sans-I/O: the router feeds it
//! HELLO and AUTHENTICATE details (and the dynamic authenticator's answer) and sends what it answers.
//!
//! Methods: anonymous, ticket (13.1), wampcra (13.2), wamp-scram (13.3), cryptosign (13.4, client
//! authentication with tls-exporter channel binding), and tls (the client certificate the transport
//! verified). Static principals come from the realm's configuration; a dynamic authenticator (a WAMP
//! procedure) can serve any method but anonymous.

pub mod config;
mod constant_time;
mod cryptosign;
mod decoy;
mod dynamic;
pub mod handshake;
pub mod methods;
mod realm_auth;
mod scram;
mod ticket;
mod timestamp;
mod transport_info;
pub mod uris;
mod wampcra;

pub use config::{
    scram_credentials, try_scram_credentials, wampcra_derive_key, AuthenticatorConfig, CryptosignCredentials,
    Kdf, Principal, ScramCredentials, WampcraCredentials,
};
pub use handshake::{Handshake, Identity, Outcome, RealmAuth};
pub use transport_info::{TlsInfo, TransportInfo};
