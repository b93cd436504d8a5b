//! Test support: start a router in-process on loopback, and a small blocking WAMP client speaking
//! RawSocket (raw TCP) or WebSocket (tungstenite) with any of the three serializers.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::message::code;
use switchyard::wamp::{Dict, Id, Message, Payload, Value};
use switchyard::{BoundAddr, Config, RouterHandle};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A router running in this process.
pub struct TestRouter {
    pub handle: RouterHandle,
    pub addr: SocketAddr,
}

/// Starts a router with realm `realm1` and one universal endpoint on a free loopback port.
pub fn start(cores: usize) -> TestRouter {
    start_with(&config(cores, "", ""))
}

/// A config with realm `realm1` (plus `realm_keys`), one universal endpoint on a free loopback port, and
/// `limits` (TOML lines of the `[limits]` table).
pub fn config(cores: usize, realm_keys: &str, limits: &str) -> String {
    format!(
        "cores = {cores}\n[[realms]]\nname = \"realm1\"\n{realm_keys}\n[[endpoints]]\nkind = \"universal\"\n\
         listen = \"127.0.0.1:0\"\n[limits]\n{limits}\n"
    )
}

pub fn start_with(toml: &str) -> TestRouter {
    let config = Config::from_toml_str(toml).expect("valid test config");
    let handle = RouterHandle::start(config).expect("router starts");
    let addr = match &handle.endpoints()[0] {
        BoundAddr::Tcp(addr) => *addr,
        other => panic!("expected a TCP endpoint first, got {other:?}"),
    };
    TestRouter { handle, addr }
}

/// How a test client reaches the router.
pub enum Wire {
    Raw(TcpStream),
    Ws(Box<tungstenite::WebSocket<TcpStream>>),
}

/// A blocking WAMP client for tests.
pub struct Client {
    pub wire: Wire,
    pub serializer: Serializer,
    pub session: Id,
    next_request: Id,
}

impl Client {
    /// RawSocket transport handshake (no HELLO yet).
    pub fn rawsocket(addr: SocketAddr, serializer: Serializer) -> Client {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(&[0x7F, 0xF0 | serializer.rawsocket_id(), 0, 0]).unwrap();
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).expect("rawsocket handshake reply");
        assert_eq!(reply[0], 0x7F);
        assert_eq!(reply[1] & 0x0F, serializer.rawsocket_id(), "router accepted our serializer");
        Client { wire: Wire::Raw(stream), serializer, session: 0, next_request: 1 }
    }

    /// WebSocket transport handshake on path `/ws` (no HELLO yet).
    pub fn websocket(addr: SocketAddr, serializer: Serializer) -> Client {
        use tungstenite::client::IntoClientRequest;
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", serializer.ws_subprotocol().parse().unwrap());
        let (ws, response) = tungstenite::client(request, stream).expect("websocket handshake");
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()),
            Some(serializer.ws_subprotocol())
        );
        Client { wire: Wire::Ws(Box::new(ws)), serializer, session: 0, next_request: 1 }
    }

    /// Connects over RawSocket and joins `realm1`.
    pub fn join(addr: SocketAddr, serializer: Serializer) -> Client {
        let mut c = Client::rawsocket(addr, serializer);
        c.hello("realm1");
        c
    }

    /// Connects over WebSocket and joins `realm1`.
    pub fn join_ws(addr: SocketAddr, serializer: Serializer) -> Client {
        let mut c = Client::websocket(addr, serializer);
        c.hello("realm1");
        c
    }

    /// Sends HELLO and expects WELCOME.
    pub fn hello(&mut self, realm: &str) -> Dict {
        self.send(&hello_message(realm));
        match self.recv() {
            Message::Welcome { session, details } => {
                self.session = session;
                details
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub fn next_request(&mut self) -> Id {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    pub fn send(&mut self, message: &Message) {
        let bytes = codec::encode_to_bytes(message, self.serializer);
        self.send_frame(&bytes);
    }

    /// Sends one transport frame holding `bytes` as they are.
    pub fn send_frame(&mut self, bytes: &[u8]) {
        match &mut self.wire {
            Wire::Raw(stream) => {
                let len = bytes.len() as u32;
                let header = [0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
                stream.write_all(&header).unwrap();
                stream.write_all(bytes).unwrap();
            }
            Wire::Ws(ws) => {
                let msg = if self.serializer.is_binary() {
                    tungstenite::Message::binary(bytes.to_vec())
                } else {
                    tungstenite::Message::text(String::from_utf8_lossy(bytes).into_owned())
                };
                ws.send(msg).unwrap();
            }
        }
    }

    /// The next raw WAMP message bytes, or `None` when the router closed the transport.
    pub fn recv_frame(&mut self) -> Option<Bytes> {
        match &mut self.wire {
            Wire::Raw(stream) => loop {
                let mut header = [0u8; 4];
                stream.read_exact(&mut header).ok()?;
                let len = (header[1] as usize) << 16 | (header[2] as usize) << 8 | header[3] as usize;
                let mut body = vec![0u8; len];
                stream.read_exact(&mut body).ok()?;
                match header[0] & 0x07 {
                    0 => return Some(Bytes::from(body)),
                    1 => {
                        let pong = [2, header[1], header[2], header[3]];
                        stream.write_all(&pong).ok()?;
                        stream.write_all(&body).ok()?;
                    }
                    _ => {}
                }
            },
            Wire::Ws(ws) => loop {
                match ws.read().ok()? {
                    tungstenite::Message::Text(t) => return Some(Bytes::from(t.as_bytes().to_vec())),
                    tungstenite::Message::Binary(b) => return Some(Bytes::from(b.to_vec())),
                    tungstenite::Message::Close(_) => return None,
                    _ => {}
                }
            },
        }
    }

    /// The next WAMP message; panics if the transport closed or nothing came within the timeout.
    pub fn recv(&mut self) -> Message {
        let frame = self.recv_frame().expect("a message from the router");
        codec::decode(self.serializer, frame).expect("router sent a decodable message")
    }

    /// Waits up to `wait` for a message; `None` on timeout or close.
    pub fn try_recv(&mut self, wait: Duration) -> Option<Message> {
        self.set_timeout(wait);
        let got = self.recv_frame().map(|f| codec::decode(self.serializer, f).expect("decodable"));
        self.set_timeout(TIMEOUT);
        got
    }

    fn set_timeout(&mut self, wait: Duration) {
        let stream = match &mut self.wire {
            Wire::Raw(s) => s,
            Wire::Ws(ws) => ws.get_mut(),
        };
        stream.set_read_timeout(Some(wait)).unwrap();
    }

    /// Expects the router to close the transport (EOF), possibly after more messages.
    pub fn expect_closed(&mut self) {
        for _ in 0..100 {
            if self.recv_frame().is_none() {
                return;
            }
        }
        panic!("router did not close the transport");
    }

    pub fn payload(&self, args: &[Value], kwargs: Option<&Dict>) -> Payload {
        Payload::from_values(
            self.serializer,
            if args.is_empty() && kwargs.is_none() { None } else { Some(args) },
            kwargs,
        )
    }

    pub fn subscribe(&mut self, topic: &str) -> Id {
        let request = self.next_request();
        self.send(&Message::Subscribe { request, options: Dict::new(), topic: topic.into() });
        match self.recv() {
            Message::Subscribed { request: r, subscription } if r == request => subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub fn register(&mut self, procedure: &str) -> Id {
        let request = self.next_request();
        self.send(&Message::Register { request, options: Dict::new(), procedure: procedure.into() });
        match self.recv() {
            Message::Registered { request: r, registration } if r == request => registration,
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    /// Publishes with `acknowledge: true` and waits for PUBLISHED.
    pub fn publish_acked(&mut self, topic: &str, args: &[Value], mut options: Dict) -> Id {
        let request = self.next_request();
        options.insert("acknowledge".into(), Value::Bool(true));
        let payload = self.payload(args, None);
        self.send(&Message::Publish { request, options, topic: topic.into(), payload });
        match self.recv() {
            Message::Published { request: r, publication } if r == request => publication,
            other => panic!("expected PUBLISHED, got {other:?}"),
        }
    }

    /// Publishes without acknowledgment.
    pub fn publish(&mut self, topic: &str, args: &[Value]) {
        let request = self.next_request();
        let payload = self.payload(args, None);
        self.send(&Message::Publish { request, options: Dict::new(), topic: topic.into(), payload });
    }

    /// Sends CALL; returns its request id.
    pub fn call(&mut self, procedure: &str, args: &[Value], kwargs: Option<&Dict>) -> Id {
        let request = self.next_request();
        let payload = self.payload(args, kwargs);
        self.send(&Message::Call { request, options: Dict::new(), procedure: procedure.into(), payload });
        request
    }

    /// Expects EVENT; returns (subscription, args).
    pub fn expect_event(&mut self) -> (Id, Vec<Value>) {
        match self.recv() {
            Message::Event { subscription, payload, .. } => (subscription, args_of(&payload)),
            other => panic!("expected EVENT, got {other:?}"),
        }
    }

    /// Expects ABORT; returns its reason.
    pub fn expect_abort(&mut self) -> String {
        match self.recv() {
            Message::Abort { reason, .. } => reason,
            other => panic!("expected ABORT, got {other:?}"),
        }
    }

    /// Expects ERROR for `request_type`/`request`; returns its URI.
    pub fn expect_error(&mut self, request_type: u64, request: Id) -> String {
        match self.recv() {
            Message::Error { request_type: t, request: r, error, .. }
                if t == request_type && r == request =>
            {
                error
            }
            other => panic!("expected ERROR for {request_type}/{request}, got {other:?}"),
        }
    }
}

pub fn hello_message(realm: &str) -> Message {
    let mut roles = Dict::new();
    for role in ["publisher", "subscriber", "caller", "callee"] {
        roles.insert(role.into(), Value::Dict(Dict::new()));
    }
    let mut details = Dict::new();
    details.insert("roles".into(), Value::Dict(roles));
    Message::Hello { realm: realm.into(), details }
}

pub fn args_of(payload: &Payload) -> Vec<Value> {
    payload.to_values().expect("decodable payload").0.unwrap_or_default()
}

/// Connects clients until one lands on a different shard than `other` (SO_REUSEPORT spreads them).
pub fn join_on_other_shard(router: &TestRouter, other: &Client, serializer: Serializer) -> Client {
    let shard_of = |c: &Client| router.handle.session_shard(c.session).expect("session is known");
    let target = shard_of(other);
    for _ in 0..64 {
        let c = Client::join(router.addr, serializer);
        if shard_of(&c) != target {
            return c;
        }
    }
    panic!("64 connections all landed on shard {target}");
}

pub const INVOCATION: u64 = code::INVOCATION;

/// Polls `condition` every 20 ms until it holds (`true`) or `within` passed (`false`).
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP connection to `addr` from the local address `local` (bound before connecting): on loopback,
/// 127.0.0.2 and 127.0.0.3 look like two more client machines.
pub fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.bind(&SocketAddr::new(local, 0).into()).expect("bind the local address");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// Sends a RawSocket handshake request (`serializer`, max length 2^24) and returns the router's reply.
pub fn rawsocket_request(stream: &mut TcpStream, serializer: Serializer) -> [u8; 4] {
    stream.write_all(&[0x7F, 0xF0 | serializer.rawsocket_id(), 0, 0]).unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).expect("rawsocket handshake reply");
    reply
}

impl Client {
    /// RawSocket transport handshake over a connected stream; `Err(reply)` when the router refused it (an
    /// error reply: second octet `EEEE 0000`).
    pub fn rawsocket_over(mut stream: TcpStream, serializer: Serializer) -> Result<Client, [u8; 4]> {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let reply = rawsocket_request(&mut stream, serializer);
        if reply[1] & 0x0F == 0 {
            return Err(reply);
        }
        assert_eq!(reply[0], 0x7F);
        assert_eq!(reply[1] & 0x0F, serializer.rawsocket_id(), "router accepted our serializer");
        Ok(Client { wire: Wire::Raw(stream), serializer, session: 0, next_request: 1 })
    }

    /// WebSocket transport handshake on `/ws` over a connected stream, with `config` for the client side
    /// (`None`: tungstenite's defaults); `Err((status, body))` when the router answered with an HTTP error.
    pub fn websocket_over(
        stream: TcpStream,
        serializer: Serializer,
        config: Option<tungstenite::protocol::WebSocketConfig>,
    ) -> Result<Client, (u16, String)> {
        use tungstenite::client::IntoClientRequest;
        use tungstenite::handshake::HandshakeError;
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let addr = stream.peer_addr().unwrap();
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", serializer.ws_subprotocol().parse().unwrap());
        match tungstenite::client::client_with_config(request, stream, config) {
            Ok((ws, _)) => {
                Ok(Client { wire: Wire::Ws(Box::new(ws)), serializer, session: 0, next_request: 1 })
            }
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response.body().clone().unwrap_or_default();
                Err((response.status().as_u16(), String::from_utf8_lossy(&body).into_owned()))
            }
            Err(e) => panic!("websocket handshake: {e}"),
        }
    }
}

/// Resident set size of this process (the in-process router and the test clients), in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB")
}
