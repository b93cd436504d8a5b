//! Authentication (section 13): what the transport knows about a peer, and the authentication methods
//! that turn a HELLO into an identity (authid, authrole) or an ABORT. Sans-I/O: the router feeds it
//! HELLO and AUTHENTICATE details and sends what it answers.

pub mod config;
mod constant_time;
mod cryptosign;
mod scram;
mod ticket;
mod timestamp;
mod transport_info;
pub mod uris;
mod wampcra;

pub use config::{
    scram_credentials, try_scram_credentials, wampcra_derive_key, AuthenticatorConfig, CryptosignCredentials, Kdf,
    Principal, ScramCredentials, WampcraCredentials,
};
pub use transport_info::{TlsInfo, TransportInfo};
