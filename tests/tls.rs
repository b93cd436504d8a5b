//! TLS endpoints over real sockets: RawSocket and WebSocket over TLS, client certificates (none, optional,
//! required; trusted and untrusted), what a failed TLS handshake does, the TLS configuration, and what a
//! TLS connection tells the session layer ([`switchyard::auth::TlsInfo`]). A CA and every certificate are
//! made at test time (rcgen) in a temporary directory.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use switchyard::config::{ClientCertificate, TlsConfig};
use switchyard::stats::Counter;
use switchyard::transport::tls::{server_config, tls_info};
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::{uris, Dict, Message, Value};
use switchyard::{Config, RouterHandle};

/// A certificate and its key, as rcgen made them.
struct Issued {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issued {
    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

/// A test PKI in a temporary directory: a CA; a server certificate for localhost and 127.0.0.1 signed by
/// it; a client certificate signed by it (CN "alice"); and a self-signed client certificate ("mallory")
/// that the CA did not issue. Files: ca.pem, server.pem, server.key.
struct Pki {
    dir: tempfile::TempDir,
    ca: Issued,
    client: Issued,
    rogue: Issued,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "switchyard test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = Issued { cert: params.self_signed(&ca_key).unwrap(), key: ca_key };

        let issue = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose, by: Option<&Issued>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params.extended_key_usages = vec![usage];
            let cert = match by {
                Some(ca) => params.signed_by(&key, &ca.cert, &ca.key).unwrap(),
                None => params.self_signed(&key).unwrap(),
            };
            Issued { cert, key }
        };
        let server = issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
            Some(&ca),
        );
        let client = issue(vec![], "alice", ExtendedKeyUsagePurpose::ClientAuth, Some(&ca));
        let rogue = issue(vec![], "mallory", ExtendedKeyUsagePurpose::ClientAuth, None);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server.key.serialize_pem()).unwrap();
        Pki { dir, ca, client, rogue }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The inline `tls` table of an endpoint: the server certificate, plus `extra` keys.
    fn tls_table(&self, extra: &str) -> String {
        let path = |name: &str| self.path(name).display().to_string();
        let extra = match extra {
            "" => String::new(),
            extra => format!(", {extra}"),
        };
        format!("{{ certificate = {:?}, key = {:?}{extra} }}", path("server.pem"), path("server.key"))
    }

    /// `client_ca` and `client_certificate = "<policy>"`.
    fn client_auth(&self, policy: &str) -> String {
        format!(
            "client_ca = {:?}, client_certificate = {policy:?}",
            self.path("ca.pem").display().to_string()
        )
    }

    /// A client config trusting the test CA, presenting `cert` if given.
    fn client_config(&self, cert: Option<&Issued>) -> Arc<ClientConfig> {
        self.client_config_with(cert, rustls::DEFAULT_VERSIONS)
    }

    fn client_config_with(
        &self,
        cert: Option<&Issued>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der()).unwrap();
        let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match cert {
            Some(cert) => builder.with_client_auth_cert(vec![cert.der()], cert.key_der()).unwrap(),
            None => builder.with_no_client_auth(),
        })
    }
}

/// A router with realm `realm1` and one TLS endpoint of `kind`; `tls` is the endpoint's `tls` table.
fn start_tls(kind: &str, tls: &str, limits: &str) -> TestRouter {
    start_with(&format!(
        "cores = 2\n[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"{kind}\"\nlisten = \"127.0.0.1:0\"\n\
         tls = {tls}\n[limits]\n{limits}\n"
    ))
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes the client's side of the TLS handshake. With TLS 1.3 the client is done before
/// the server has checked its certificate: a refusal shows on the first read.
fn connect_tls(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<Tls> {
    tls_over(TcpStream::connect(addr)?, config)
}

fn tls_over(socket: TcpStream, config: Arc<ClientConfig>) -> std::io::Result<Tls> {
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").unwrap();
    let connection = ClientConnection::new(config, name).unwrap();
    let mut tls = StreamOwned::new(connection, socket);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

fn tls_handshakes_failed(router: &TestRouter) -> u64 {
    router.handle.stats().get(Counter::TlsHandshakesFailed)
}

/// A blocking RawSocket WAMP client (JSON) over any byte stream.
struct RawClient<S> {
    stream: S,
    session: u64,
    next_request: u64,
}

impl<S: Read + Write> RawClient<S> {
    /// The RawSocket handshake; `Err` when the stream fails or closes first (a refused TLS handshake).
    fn handshake(mut stream: S) -> std::io::Result<RawClient<S>> {
        stream.write_all(&[0x7F, 0xF0 | Serializer::Json.rawsocket_id(), 0, 0])?;
        stream.flush()?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply)?;
        assert_eq!(reply, [0x7F, 0xF0 | Serializer::Json.rawsocket_id(), 0, 0]);
        Ok(RawClient { stream, session: 0, next_request: 1 })
    }

    fn join(stream: S) -> std::io::Result<RawClient<S>> {
        let mut client = RawClient::handshake(stream)?;
        client.send(&hello_message("realm1"));
        match client.recv() {
            Message::Welcome { session, .. } => client.session = session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
        Ok(client)
    }

    fn send(&mut self, message: &Message) {
        let bytes = codec::encode_to_bytes(message, Serializer::Json);
        let len = bytes.len() as u32;
        self.stream.write_all(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8]).unwrap();
        self.stream.write_all(&bytes).unwrap();
        self.stream.flush().unwrap();
    }

    /// The next message; `None` once the router closed the stream.
    fn try_recv(&mut self) -> Option<Message> {
        loop {
            let mut header = [0u8; 4];
            self.stream.read_exact(&mut header).ok()?;
            let len = (header[1] as usize) << 16 | (header[2] as usize) << 8 | header[3] as usize;
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body).ok()?;
            if header[0] & 0x07 == 0 {
                return Some(codec::decode(Serializer::Json, Bytes::from(body)).expect("decodable"));
            }
        }
    }

    fn recv(&mut self) -> Message {
        self.try_recv().expect("a message from the router")
    }

    fn request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request - 1
    }
}

#[test]
fn rawsocket_over_tls_joins_and_routes_events() {
    let pki = Pki::new();
    let router = start_tls("universal", &pki.tls_table(""), "");
    let connect = || connect_tls(router.addr, pki.client_config(None)).unwrap();
    let mut subscriber = RawClient::join(connect()).unwrap();
    let mut publisher = RawClient::join(connect()).unwrap();
    assert_ne!(subscriber.session, publisher.session);

    let request = subscriber.request();
    subscriber.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.example.tls".into() });
    let subscription = match subscriber.recv() {
        Message::Subscribed { request: r, subscription } if r == request => subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    };
    // Large enough to take several TLS records and more than one socket write.
    let big = "x".repeat(300_000);
    for text in ["hello over TLS", big.as_str()] {
        let request = publisher.request();
        let mut options = Dict::new();
        options.insert("acknowledge".into(), Value::Bool(true));
        let args = [Value::Str(text.into())];
        let payload = switchyard::wamp::Payload::from_values(Serializer::Json, Some(&args), None);
        publisher.send(&Message::Publish { request, options, topic: "com.example.tls".into(), payload });
        assert!(matches!(publisher.recv(), Message::Published { request: r, .. } if r == request));
        match subscriber.recv() {
            Message::Event { subscription: s, payload, .. } => {
                assert_eq!(s, subscription);
                assert_eq!(args_of(&payload), vec![Value::Str(text.into())]);
            }
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
    assert_eq!(tls_handshakes_failed(&router), 0);
}

/// A subscriber that does not read for a while: the router's socket fills up and rustls holds records the
/// socket did not take (the writer flushes them after each batch); once it reads, every EVENT arrives whole.
#[test]
fn a_slow_tls_reader_gets_every_event() {
    let pki = Pki::new();
    let router = start_tls("rawsocket", &pki.tls_table(""), "idle_timeout_secs = 0");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&router.addr.into()).unwrap();
    let mut subscriber = RawClient::join(tls_over(socket.into(), pki.client_config(None)).unwrap()).unwrap();
    let request = subscriber.request();
    subscriber.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.example.slow".into() });
    assert!(matches!(subscriber.recv(), Message::Subscribed { .. }));

    let mut publisher = RawClient::join(connect_tls(router.addr, pki.client_config(None)).unwrap()).unwrap();
    const EVENTS: usize = 100;
    let text = "y".repeat(100_000);
    for _ in 0..EVENTS {
        let request = publisher.request();
        let mut options = Dict::new();
        options.insert("acknowledge".into(), Value::Bool(true));
        let args = [Value::Str(text.clone())];
        let payload = switchyard::wamp::Payload::from_values(Serializer::Json, Some(&args), None);
        publisher.send(&Message::Publish { request, options, topic: "com.example.slow".into(), payload });
        assert!(matches!(publisher.recv(), Message::Published { .. }));
    }
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..EVENTS {
        match subscriber.recv() {
            Message::Event { payload, .. } => assert_eq!(args_of(&payload), vec![Value::Str(text.clone())]),
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
}

#[test]
fn websocket_over_tls_joins() {
    use tungstenite::client::IntoClientRequest;
    let pki = Pki::new();
    for kind in ["websocket", "universal"] {
        let router = start_tls(kind, &pki.tls_table(""), "");
        let tls = connect_tls(router.addr, pki.client_config(None)).unwrap();
        let mut request = format!("wss://localhost:{}/ws", router.addr.port()).into_client_request().unwrap();
        let protocol = Serializer::Json.ws_subprotocol();
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (mut ws, response) = tungstenite::client(request, tls).expect("websocket handshake over TLS");
        assert_eq!(response.headers().get("Sec-WebSocket-Protocol").unwrap(), protocol);
        let hello = codec::encode_to_bytes(&hello_message("realm1"), Serializer::Json);
        ws.send(tungstenite::Message::text(String::from_utf8(hello.to_vec()).unwrap())).unwrap();
        let welcome = loop {
            match ws.read().unwrap() {
                tungstenite::Message::Text(text) => {
                    break codec::decode(Serializer::Json, Bytes::from(text.as_bytes().to_vec())).unwrap()
                }
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        };
        assert!(matches!(welcome, Message::Welcome { .. }), "{kind}: got {welcome:?}");
    }
}

/// The router's own close (ABORT for an unknown realm) ends the TLS stream with close_notify: the client
/// sees a clean end of stream, not a truncation.
#[test]
fn router_close_sends_close_notify() {
    let pki = Pki::new();
    let router = start_tls("rawsocket", &pki.tls_table(""), "");
    let mut client =
        RawClient::handshake(connect_tls(router.addr, pki.client_config(None)).unwrap()).unwrap();
    client.send(&hello_message("no.such.realm"));
    assert!(matches!(client.recv(), Message::Abort { ref reason, .. } if reason == uris::NO_SUCH_REALM));
    let mut rest = Vec::new();
    let end = client.stream.read_to_end(&mut rest);
    assert!(matches!(end, Ok(0)), "expected a clean close_notify, got {end:?}");
}

#[test]
fn required_client_certificate() {
    let pki = Pki::new();
    let router = start_tls("universal", &pki.tls_table(&pki.client_auth("required")), "");
    let attempt = |cert: Option<&Issued>| {
        connect_tls(router.addr, pki.client_config(cert)).and_then(RawClient::join).map(|c| c.session)
    };
    assert!(attempt(Some(&pki.client)).is_ok(), "a certificate the CA issued is accepted");
    assert!(attempt(None).is_err(), "no certificate: refused");
    assert!(attempt(Some(&pki.rogue)).is_err(), "a certificate the CA did not issue: refused");
    assert!(eventually(Duration::from_secs(5), || tls_handshakes_failed(&router) == 2));
    assert!(attempt(Some(&pki.client)).is_ok(), "the failures affected nobody else");
}

#[test]
fn optional_client_certificate() {
    let pki = Pki::new();
    let router = start_tls("rawsocket", &pki.tls_table(&pki.client_auth("optional")), "");
    let attempt = |cert: Option<&Issued>| {
        connect_tls(router.addr, pki.client_config(cert)).and_then(RawClient::join).map(|c| c.session)
    };
    assert!(attempt(None).is_ok(), "no certificate: accepted");
    assert!(attempt(Some(&pki.client)).is_ok(), "a certificate the CA issued: accepted");
    assert!(attempt(Some(&pki.rogue)).is_err(), "a certificate that does not verify: refused");
    assert!(eventually(Duration::from_secs(5), || tls_handshakes_failed(&router) == 1));
}

/// Reads until the router closes the connection; panics if it stays open past the test timeout.
fn expect_eof(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {} // a TLS alert
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("expected the router to close the connection: {e}"),
        }
    }
}

#[test]
fn plain_bytes_on_a_tls_port_are_refused_and_counted() {
    let pki = Pki::new();
    let router = start_tls("universal", &pki.tls_table(""), "");
    let mut bystander = RawClient::join(connect_tls(router.addr, pki.client_config(None)).unwrap()).unwrap();
    let plain: [&[u8]; 3] = [
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n",
        &[0x7F, 0xF1, 0, 0],                            // a plain RawSocket handshake
        &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5], // a TLS record header with garbage in it
    ];
    for bytes in plain {
        let mut stream = TcpStream::connect(router.addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(bytes).unwrap();
        expect_eof(&mut stream);
    }
    assert!(eventually(Duration::from_secs(5), || tls_handshakes_failed(&router) == 3));
    assert_eq!(router.handle.stats().get(Counter::HandshakesFailed), 0, "WAMP handshakes never started");

    // A connection that closes without sending a byte (a port probe) is not a failed handshake.
    drop(TcpStream::connect(router.addr).unwrap());
    let request = bystander.request();
    bystander.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.example.alive".into() });
    assert!(matches!(bystander.recv(), Message::Subscribed { .. }), "other sessions are unaffected");
    assert!(RawClient::join(connect_tls(router.addr, pki.client_config(None)).unwrap()).is_ok());
    assert_eq!(tls_handshakes_failed(&router), 3);
}

#[test]
fn a_silent_tls_client_times_out() {
    let pki = Pki::new();
    let router =
        start_tls("universal", &pki.tls_table(""), "handshake_timeout_secs = 1\nidle_timeout_secs = 0");
    let mut stream = TcpStream::connect(router.addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let started = Instant::now();
    expect_eof(&mut stream);
    assert!(started.elapsed() >= Duration::from_millis(900), "closed after {:?}", started.elapsed());
    assert!(eventually(Duration::from_secs(5), || tls_handshakes_failed(&router) == 1));
}

/// A connection refused at the connection gate is closed without a TLS handshake.
#[test]
fn refused_tls_connection_is_closed() {
    let pki = Pki::new();
    let router = start_tls("universal", &pki.tls_table(""), "max_connections = 1");
    let _first = RawClient::join(connect_tls(router.addr, pki.client_config(None)).unwrap()).unwrap();
    let refused = connect_tls(router.addr, pki.client_config(None)).and_then(RawClient::join);
    assert!(refused.is_err(), "the second connection is past max_connections");
    assert!(
        eventually(Duration::from_secs(5), || router.handle.stats().get(Counter::ConnectionsRefused) == 1)
    );
    assert_eq!(tls_handshakes_failed(&router), 0);
}

#[test]
fn tls_on_a_unix_endpoint_is_a_config_error() {
    let text = "[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"rawsocket\"\nunix = \"/tmp/x.sock\"\n\
                tls = { certificate = \"server.pem\", key = \"server.key\" }\n";
    let error = Config::from_toml_str(text).unwrap_err().to_string();
    assert!(error.contains("unix"), "{error}");
}

#[test]
fn client_certificate_policy_and_client_ca_go_together() {
    let endpoint = |tls: &str| {
        format!("[[realms]]\nname = \"r\"\n[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\ntls = {tls}\n")
    };
    let with = |extra: &str| endpoint(&format!("{{ certificate = \"c.pem\", key = \"k.pem\"{extra} }}"));
    let tls_of = |text: &str| Config::from_toml_str(text).unwrap().endpoints[0].tls.clone().unwrap();
    assert_eq!(tls_of(&with("")).client_auth(), ClientCertificate::None);
    assert_eq!(tls_of(&with(", client_ca = \"ca.pem\"")).client_auth(), ClientCertificate::Required);
    assert_eq!(
        tls_of(&with(", client_ca = \"ca.pem\", client_certificate = \"optional\"")).client_auth(),
        ClientCertificate::Optional
    );
    for bad in [
        ", client_certificate = \"required\"",
        ", client_certificate = \"optional\"",
        ", client_ca = \"ca.pem\", client_certificate = \"none\"",
        ", client_certificate = \"sometimes\"",
        ", password = \"x\"",
    ] {
        assert!(Config::from_toml_str(&with(bad)).is_err(), "accepted {bad}");
    }
}

#[test]
fn unreadable_or_invalid_tls_files_fail_start_naming_the_file() {
    let pki = Pki::new();
    std::fs::write(pki.path("garbage.pem"), "not a certificate\n").unwrap();
    std::fs::write(pki.path("other.key"), KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let config = |certificate: &str, key: &str| {
        let text = format!(
            "[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\n\
             tls = {{ certificate = {:?}, key = {:?} }}\n",
            pki.path(certificate).display().to_string(),
            pki.path(key).display().to_string(),
        );
        Config::from_toml_str(&text).unwrap()
    };
    let start_error = |certificate: &str, key: &str| match RouterHandle::start(config(certificate, key)) {
        Ok(_) => panic!("started with certificate {certificate} and key {key}"),
        Err(e) => e.to_string(),
    };
    let missing = start_error("missing.pem", "server.key");
    assert!(missing.contains(&pki.path("missing.pem").display().to_string()), "{missing}");
    assert!(missing.contains("No such file"), "{missing}");
    let garbage = start_error("garbage.pem", "server.key");
    assert!(garbage.contains("garbage.pem") && garbage.contains("no CERTIFICATE"), "{garbage}");
    let no_key = start_error("server.pem", "server.pem");
    assert!(no_key.contains("no PRIVATE KEY"), "{no_key}");
    let mismatch = start_error("server.pem", "other.key");
    assert!(mismatch.contains("server.pem") && mismatch.contains("other.key"), "{mismatch}");
}

/// A config file's relative TLS paths are relative to the file's directory, not the working directory.
#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let pki = Pki::new();
    let file = pki.path("router.toml");
    std::fs::write(
        &file,
        "cores = 1\n[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"rawsocket\"\nlisten = \"127.0.0.1:0\"\n\
         tls = { certificate = \"server.pem\", key = \"server.key\", client_ca = \"ca.pem\" }\n",
    )
    .unwrap();
    let config = Config::from_file(&file).unwrap();
    let tls = config.endpoints[0].tls.as_ref().unwrap();
    assert_eq!(tls.certificate, pki.path("server.pem"));
    assert_eq!(tls.client_ca.as_deref(), Some(pki.path("ca.pem").as_path()));
    let handle = RouterHandle::start(config).expect("starts with the files beside the config");
    let addr = match handle.endpoints()[0] {
        switchyard::BoundAddr::Tcp(addr) => addr,
        ref other => panic!("{other:?}"),
    };
    assert!(RawClient::join(connect_tls(addr, pki.client_config(Some(&pki.client))).unwrap()).is_ok());
}

/// Runs a client and a server connection against each other in memory until both finished the handshake.
fn handshake_in_memory(client: &mut ClientConnection, server: &mut rustls::ServerConnection) {
    for _ in 0..10 {
        let mut flight = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut flight).unwrap();
        }
        let mut input = flight.as_slice();
        while !input.is_empty() {
            server.read_tls(&mut input).unwrap();
            server.process_new_packets().unwrap();
        }
        let mut flight = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut flight).unwrap();
        }
        let mut input = flight.as_slice();
        while !input.is_empty() {
            client.read_tls(&mut input).unwrap();
            client.process_new_packets().unwrap();
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return;
        }
    }
    panic!("the in-memory handshake did not finish");
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().try_into().unwrap()
}

/// What the session layer gets: the RFC 9266 tls-exporter value both sides compute, the SHA-256 of the
/// client certificate's DER, and its subject CN; on TLS 1.3 and on TLS 1.2 (with extended master secret).
#[test]
fn tls_info_carries_channel_binding_and_client_certificate() {
    let pki = Pki::new();
    let tls = |client_ca: Option<PathBuf>, policy| TlsConfig {
        certificate: pki.path("server.pem"),
        key: pki.path("server.key"),
        client_ca,
        client_certificate: policy,
    };
    let optional = server_config(&tls(Some(pki.path("ca.pem")), Some(ClientCertificate::Optional))).unwrap();
    let none = server_config(&tls(None, None)).unwrap();
    let exporter = |client: &ClientConnection| {
        client.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None).unwrap()
    };
    for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
        let connect = |server_config: &Arc<rustls::ServerConfig>, cert: Option<&Issued>| {
            let mut client = ClientConnection::new(
                pki.client_config_with(cert, versions),
                ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let mut server = rustls::ServerConnection::new(server_config.clone()).unwrap();
            handshake_in_memory(&mut client, &mut server);
            (client, server)
        };

        let (client, server) = connect(&optional, Some(&pki.client));
        let info = tls_info(&server);
        assert_eq!(info.channel_binding_exporter, Some(exporter(&client)), "{versions:?}");
        assert_eq!(info.client_cert_sha256, Some(sha256(pki.client.cert.der())));
        assert_eq!(info.client_cert_cn.as_deref(), Some("alice"));

        let (client, server) = connect(&optional, None);
        let info = tls_info(&server);
        assert_eq!(info.channel_binding_exporter, Some(exporter(&client)));
        assert_eq!((info.client_cert_sha256, info.client_cert_cn), (None, None));

        let (client, server) = connect(&none, None);
        assert_eq!(tls_info(&server).channel_binding_exporter, Some(exporter(&client)));
    }
}

#[test]
fn tls_config_example_in_readme_is_valid() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("## TLS").expect("README has a TLS section")..];
    let start = section.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let end = start + section[start..].find("```").expect("closed code block");
    let text = format!("[[realms]]\nname = \"realm1\"\n{}", &section[start..end]);
    let config = Config::from_toml_str(&text).expect("the README's TLS example parses");
    let tls = config.endpoints[0].tls.as_ref().expect("the example has a tls table");
    assert_eq!(tls.client_auth(), ClientCertificate::Optional);
}
