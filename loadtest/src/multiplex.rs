//! Many WAMP-over-RawSocket client connections driven by one thread: non-blocking sockets registered with
//! a level-triggered poller (the `polling` crate, epoll on Linux).
//!
//! The blocking clients of `client.rs` spend a thread (stack, scheduling) per connection, which is fine for
//! tens of connections but not for tens of thousands; here a connection costs its socket and two buffers.
//! This module only moves messages: it connects (optionally from a given source address), runs the
//! RawSocket opening handshake, frames with `switchyard::transport::rawsocket`, encodes and decodes with
//! `switchyard::wamp::codec` and answers PINGs. What the messages mean is the scenario's business: every
//! connection is known by a key the scenario chooses, and [`Multiplexer::poll`] hands back [`Notice`]s.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use polling::{Event, Events, PollMode, Poller};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use switchyard::transport::rawsocket::{self, ErrorCode, FrameDecoder, FrameType, MAGIC};
use switchyard::transport::Incoming;
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::Message;

/// The max-length exponent the client announces: `2^(9+15)` = 16 MiB, the most a RawSocket frame can be.
const MAX_LEN_EXPONENT: u8 = 0xF;

/// The largest message accepted from the router (what [`MAX_LEN_EXPONENT`] announces).
const MAX_INBOUND: usize = 1 << 24;

/// How much one read takes at most (into a buffer shared by every connection).
const READ_CHUNK: usize = 64 * 1024;

/// What happened to a connection, in the order it happened.
#[derive(Debug)]
pub enum Notice {
    /// The RawSocket handshake succeeded: the connection may send HELLO.
    Open(usize),
    /// A message from the router.
    Message(usize, Message),
    /// The connection failed and is forgotten (its socket closed); the text says why, starting with the
    /// stage for failures before the connection was open (`connect: ...`, `rawsocket handshake: ...`).
    Failed(usize, String),
}

enum State {
    /// connect(2) is in progress.
    Connecting,
    /// Our handshake is sent (or queued); waiting for the router's 4 octets.
    Handshaking,
    /// Exchanging frames; `max_out` is the largest message the router accepts.
    Open { max_out: usize },
}

struct Conn {
    socket: Socket,
    state: State,
    /// Received bytes not yet decoded.
    inbuf: BytesMut,
    /// Encoded bytes not yet written.
    outbuf: BytesMut,
    decoder: FrameDecoder,
    /// What the poller is asked for: (readable, writable). Readable once connected; writable while
    /// connecting and while `outbuf` holds anything.
    interest: (bool, bool),
}

/// A set of client connections and the poller that drives them; keys are `0..capacity`.
pub struct Multiplexer {
    poller: Poller,
    events: Events,
    /// (key, readable, writable) of the last wait's events.
    ready: Vec<(usize, bool, bool)>,
    conns: Vec<Option<Conn>>,
    serializer: Serializer,
    /// Failures found outside `poll` (by `send`), handed out by the next `poll`.
    pending: Vec<Notice>,
    chunk: Box<[u8]>,
    encoded: BytesMut,
}

impl Multiplexer {
    /// An empty set for keys `0..capacity`, speaking `serializer`.
    pub fn new(capacity: usize, serializer: Serializer) -> io::Result<Multiplexer> {
        Ok(Multiplexer {
            poller: Poller::new()?,
            events: Events::new(),
            ready: Vec::new(),
            conns: (0..capacity).map(|_| None).collect(),
            serializer,
            pending: Vec::new(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            encoded: BytesMut::new(),
        })
    }

    /// Starts connecting `key` to `addr`, from `source` (port chosen at connect time) if given. An error
    /// (`socket: ...`, `bind: ...`, `connect: ...`) means nothing was registered; otherwise the outcome
    /// comes as [`Notice::Open`] or [`Notice::Failed`].
    pub fn connect(&mut self, key: usize, addr: SocketAddr, source: Option<IpAddr>) -> Result<(), String> {
        if self.conns.get(key).is_none_or(Option::is_some) {
            return Err(format!("connect: key {key} is out of range or in use"));
        }
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| format!("socket: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| format!("socket: set O_NONBLOCK: {e}"))?;
        socket.set_nodelay(true).map_err(|e| format!("socket: set TCP_NODELAY: {e}"))?;
        if let Some(ip) = source {
            // Best effort: without it the port is picked at bind time, from one address's ports alone.
            let _ = bind_address_no_port(&socket);
            socket.bind(&SockAddr::from(SocketAddr::new(ip, 0))).map_err(|e| format!("bind: {e}"))?;
        }
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(format!("connect: {e}")),
        }
        // SAFETY: `polling` requires a registered socket to be deleted from the poller before it is closed;
        // every `Conn` leaves `conns` only through `forget`, which deletes it first, and `Drop` forgets all.
        unsafe { self.poller.add_with_mode(&socket, Event::writable(key), PollMode::Level) }
            .map_err(|e| format!("poller: cannot register a socket: {e}"))?;
        self.conns[key] = Some(Conn {
            socket,
            state: State::Connecting,
            inbuf: BytesMut::new(),
            outbuf: BytesMut::new(),
            decoder: FrameDecoder::new(MAX_INBOUND),
            interest: (false, true),
        });
        Ok(())
    }

    /// Encodes `message` and sends it (what the socket does not take now is sent as it becomes writable).
    /// Does nothing for a key with no open connection; a failure comes with the next [`Multiplexer::poll`].
    pub fn send(&mut self, key: usize, message: &Message) {
        let Some(Some(conn)) = self.conns.get_mut(key) else {
            return;
        };
        let State::Open { max_out } = conn.state else {
            self.fail(key, format!("cannot send {} before the RawSocket handshake ended", message.name()));
            return;
        };
        self.encoded.clear();
        codec::encode(message, self.serializer, &mut self.encoded);
        if self.encoded.len() > max_out.min(MAX_INBOUND - 1) {
            let (name, len) = (message.name(), self.encoded.len());
            self.fail(key, format!("{name} of {len} bytes exceeds the router's maximum message length"));
            return;
        }
        rawsocket::encode_frame(FrameType::Message, &self.encoded, &mut conn.outbuf);
        self.flush(key);
    }

    /// Closes `key`'s connection (FIN), dropping whatever was not yet sent; no notice follows.
    pub fn close(&mut self, key: usize) {
        self.forget(key);
    }

    /// Waits at most `timeout` for socket events, handles them and appends what happened to `out`.
    pub fn poll(&mut self, timeout: Duration, out: &mut Vec<Notice>) -> io::Result<()> {
        let timeout = if self.pending.is_empty() { timeout } else { Duration::ZERO };
        self.events.clear();
        match self.poller.wait(&mut self.events, Some(timeout)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|e| (e.key, e.readable, e.writable)));
        for i in 0..self.ready.len() {
            let (key, readable, writable) = self.ready[i];
            if writable {
                self.on_writable(key);
            }
            if readable {
                self.on_readable(key);
            }
        }
        out.append(&mut self.pending);
        Ok(())
    }

    fn on_writable(&mut self, key: usize) {
        let Some(Some(conn)) = self.conns.get_mut(key) else {
            return;
        };
        if let State::Connecting = conn.state {
            self.connected(key);
        } else {
            self.flush(key);
        }
    }

    /// Connect(2) has finished, one way or the other: check how, then send our handshake.
    fn connected(&mut self, key: usize) {
        let Some(Some(conn)) = self.conns.get_mut(key) else {
            return;
        };
        match conn.socket.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return self.fail(key, format!("connect: {e}")),
        }
        let request = [MAGIC, (MAX_LEN_EXPONENT << 4) | self.serializer.rawsocket_id(), 0, 0];
        conn.outbuf.extend_from_slice(&request);
        conn.state = State::Handshaking;
        self.flush(key);
    }

    fn on_readable(&mut self, key: usize) {
        let Some(Some(conn)) = self.conns.get_mut(key) else {
            return;
        };
        if let State::Connecting = conn.state {
            // An error (refused, reset) can be reported as readable before it is as writable.
            return self.connected(key);
        }
        let stage = match conn.state {
            State::Open { .. } => "",
            _ => "rawsocket handshake: ",
        };
        match (&conn.socket).read(&mut self.chunk) {
            Ok(0) => return self.fail(key, format!("{stage}closed by the router")),
            Ok(n) => conn.inbuf.extend_from_slice(&self.chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => return,
            Err(e) => return self.fail(key, format!("{stage}read: {e}")),
        }
        if let State::Handshaking = conn.state {
            let Some(&[b0, b1, b2, b3]) = conn.inbuf.get(..4) else {
                return;
            };
            conn.inbuf.advance(4);
            match handshake_reply(self.serializer, [b0, b1, b2, b3]) {
                Ok(max_out) => conn.state = State::Open { max_out },
                Err(e) => return self.fail(key, format!("rawsocket handshake: {e}")),
            }
            self.pending.push(Notice::Open(key));
        }
        self.decode(key);
    }

    /// Takes every whole frame out of `key`'s input: messages become notices, PINGs are answered.
    fn decode(&mut self, key: usize) {
        let Some(Some(conn)) = self.conns.get_mut(key) else {
            return;
        };
        let mut answered = false;
        loop {
            match conn.decoder.decode(&mut conn.inbuf) {
                Ok(None) => break,
                Ok(Some(Incoming::Message(frame))) => match codec::decode(self.serializer, frame) {
                    Ok(message) => self.pending.push(Notice::Message(key, message)),
                    Err(e) => return self.fail(key, format!("cannot decode a message: {e}")),
                },
                Ok(Some(Incoming::Ping(payload))) => {
                    rawsocket::encode_frame(FrameType::Pong, &payload, &mut conn.outbuf);
                    answered = true;
                }
                // We send no PINGs, so a PONG is unsolicited (ignored, 15.1); RawSocket has no Close.
                Ok(Some(Incoming::Pong(_) | Incoming::Close { .. })) => {}
                Err(e) => return self.fail(key, format!("invalid frame: {e}")),
            }
        }
        if answered {
            self.flush(key);
        }
    }

    /// Writes what `key` has queued until the socket would block, and updates what the poller watches
    /// for: writability while anything is left.
    fn flush(&mut self, key: usize) {
        let Some(Some(conn)) = self.conns.get_mut(key) else {
            return;
        };
        while !conn.outbuf.is_empty() {
            match (&conn.socket).write(&conn.outbuf) {
                Ok(0) => return self.fail(key, "write: the socket takes no more".to_owned()),
                Ok(n) => conn.outbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(key, format!("write: {e}")),
            }
        }
        let connecting = matches!(conn.state, State::Connecting);
        let interest = (!connecting, connecting || !conn.outbuf.is_empty());
        if interest != conn.interest {
            conn.interest = interest;
            let event = Event::new(key, interest.0, interest.1);
            if let Err(e) = self.poller.modify_with_mode(&conn.socket, event, PollMode::Level) {
                self.fail(key, format!("poller: {e}"));
            }
        }
    }

    /// Forgets `key`'s connection and reports why.
    fn fail(&mut self, key: usize, why: String) {
        if self.forget(key) {
            self.pending.push(Notice::Failed(key, why));
        }
    }

    /// Deletes `key`'s socket from the poller and closes it; whether there was one.
    fn forget(&mut self, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key).and_then(Option::take) else {
            return false;
        };
        // Deleting fails only for a socket that is not registered; it is closed right after either way.
        let _ = self.poller.delete(&conn.socket);
        true
    }
}

impl Drop for Multiplexer {
    fn drop(&mut self) {
        for key in 0..self.conns.len() {
            self.forget(key);
        }
    }
}

/// The largest message the router accepts, from its handshake reply; or why the reply is a refusal.
fn handshake_reply(serializer: Serializer, reply: [u8; 4]) -> Result<usize, String> {
    if reply[0] != MAGIC {
        return Err(format!("not a RawSocket router: the reply starts with {:#04x}", reply[0]));
    }
    if reply[1] & 0x0F == 0 {
        let code = reply[1] >> 4;
        let reason = match code {
            1 => ErrorCode::SerializerUnsupported.describe(),
            2 => ErrorCode::MaxLenUnacceptable.describe(),
            3 => ErrorCode::ReservedBits.describe(),
            4 => ErrorCode::MaxConnections.describe(),
            _ => "unknown error code",
        };
        return Err(format!("refused with error {code} ({reason})"));
    }
    if reply[1] & 0x0F != serializer.rawsocket_id() || reply[2] != 0 || reply[3] != 0 {
        return Err(format!("invalid reply {reply:02x?}"));
    }
    Ok(1 << (9 + (reply[1] >> 4)))
}

/// Sets IP_BIND_ADDRESS_NO_PORT: a bind(2) to a source address then leaves the port to connect(2), which
/// may reuse a port towards different destinations, instead of taking one of the address's ports for good.
fn bind_address_no_port(socket: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to a live c_int with its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
