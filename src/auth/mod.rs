//! Authentication (section 13): what the transport knows about a peer, and the authentication methods
//! that turn a HELLO into an identity (authid, authrole) or an ABORT. Sans-I/O: the router feeds it
//! HELLO and AUTHENTICATE details and sends what it answers.

mod transport_info;

pub use transport_info::{TlsInfo, TransportInfo};
