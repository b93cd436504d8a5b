//! WAMP-over-WebSocket (section 2.3.1, RFC 6455), sans-I/O: the HTTP opening handshake with WAMP
//! subprotocol negotiation ([`handshake`]) and the frame codec ([`frame`]).

pub mod frame;
pub mod handshake;
