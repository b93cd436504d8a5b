//! What the transport under a session knows about its peer: the address, and for TLS the channel binding
//! data and the client certificate. Authentication methods use it (cryptosign channel binding, the `tls`
//! method), and the dynamic authenticator receives it.

use std::net::SocketAddr;

/// What a connection's transport tells the session layer about the peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportInfo {
    /// The peer's address; `None` for a Unix socket (and in sans-I/O tests).
    pub peer: Option<SocketAddr>,
    /// Set when the connection runs over TLS.
    pub tls: Option<Box<TlsInfo>>,
}

/// What a TLS connection established.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `tls-exporter` channel binding data (RFC 9266): 32 bytes exported with the label
    /// "EXPORTER-Channel-Binding" and no context.
    pub channel_binding_exporter: Option<[u8; 32]>,
    /// SHA-256 of the DER certificate the client presented, when it presented one that verified against
    /// the endpoint's client CA.
    pub client_cert_sha256: Option<[u8; 32]>,
    /// The Common Name of that certificate's subject, if it has one.
    pub client_cert_cn: Option<String>,
}

impl TransportInfo {
    /// How the peer is described to a dynamic authenticator: "tcp4:127.0.0.1:5000", "tcp6:[::1]:5000" or
    /// "unix".
    pub fn peer_string(&self) -> String {
        match self.peer {
            Some(SocketAddr::V4(a)) => format!("tcp4:{a}"),
            Some(SocketAddr::V6(a)) => format!("tcp6:{a}"),
            None => "unix".into(),
        }
    }
}
