//! Client transports: parse the router URL, open a blocking TCP or Unix stream, run the RawSocket or
//! WebSocket opening handshake, and split the connection into a [`FrameReader`] (owned by one reader
//! thread, polled with a short read timeout) and a cloneable [`FrameWriter`] whose sends are whole frames,
//! so that a sender thread and the reader thread (PONGs, YIELDs) may both write.

mod nats;
mod rawsocket;
mod websocket;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard::wamp::codec::{decode, Serializer};
use switchyard::wamp::Message;

/// How long connecting, the transport handshake and every setup reply (WELCOME, SUBSCRIBED, ...) may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The read timeout while running: how often a blocked reader wakes up to check whether it should stop.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long one frame write may block (a router that stops reading fails the run instead of hanging it).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the router, parsed from `--url`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given.
    pub url: String,
    pub protocol: Protocol,
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    RawSocket,
    /// WebSocket, with the HTTP request path.
    WebSocket {
        path: String,
    },
    /// A NATS server (core NATS, text protocol; `fanout` only): see [`nats`].
    Nats,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `host:port`.
    Tcp(String),
    Unix(PathBuf),
}

impl Target {
    /// Parses `rs://HOST:PORT`, `rs+unix:///PATH`, `ws://HOST:PORT[/PATH]` or `nats://HOST:PORT`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("`{url}` is not a URL: use rs://HOST:PORT, rs+unix:///PATH or ws://HOST:PORT/PATH")
        })?;
        let (protocol, address) = match scheme {
            "rs" | "tcp" => {
                let authority = rest.trim_end_matches('/');
                check_authority(url, authority)?;
                (Protocol::RawSocket, Address::Tcp(authority.to_owned()))
            }
            "rs+unix" | "unix" => {
                if !rest.starts_with('/') {
                    return Err(format!(
                        "`{url}`: a Unix socket URL needs an absolute path, e.g. rs+unix:///tmp/wamp.sock"
                    ));
                }
                (Protocol::RawSocket, Address::Unix(PathBuf::from(rest)))
            }
            "ws" => {
                let (authority, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                check_authority(url, authority)?;
                (Protocol::WebSocket { path: path.to_owned() }, Address::Tcp(authority.to_owned()))
            }
            "nats" => {
                let authority = rest.trim_end_matches('/');
                check_authority(url, authority)?;
                (Protocol::Nats, Address::Tcp(authority.to_owned()))
            }
            "wss" | "rss" | "tls" => return Err(format!("`{url}`: TLS is not supported")),
            _ => return Err(format!("`{url}`: unknown scheme `{scheme}`: use rs, rs+unix, ws or nats")),
        };
        Ok(Target { url: url.to_owned(), protocol, address })
    }

    /// A short transport name for reports: `rawsocket-tcp`, `rawsocket-unix`, `websocket` or `nats`.
    pub fn transport_name(&self) -> &'static str {
        match (&self.protocol, &self.address) {
            (Protocol::RawSocket, Address::Tcp(_)) => "rawsocket-tcp",
            (Protocol::RawSocket, Address::Unix(_)) => "rawsocket-unix",
            (Protocol::WebSocket { .. }, _) => "websocket",
            (Protocol::Nats, _) => "nats",
        }
    }
}

fn check_authority(url: &str, authority: &str) -> Result<(), String> {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("`{url}`: expected HOST:PORT after the scheme")),
    }
}

/// A connected byte stream: TCP or Unix.
#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn connect(address: &Address) -> Result<Stream, String> {
        match address {
            Address::Tcp(authority) => {
                let addrs =
                    authority.to_socket_addrs().map_err(|e| format!("cannot resolve {authority}: {e}"))?;
                let mut last = format!("{authority} resolves to no address");
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, SETUP_TIMEOUT) {
                        Ok(stream) => {
                            stream.set_nodelay(true).map_err(|e| format!("{addr}: set TCP_NODELAY: {e}"))?;
                            return Ok(Stream::Tcp(stream));
                        }
                        Err(e) => last = format!("cannot connect to {addr}: {e}"),
                    }
                }
                Err(last)
            }
            Address::Unix(path) => UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(|e| format!("cannot connect to {}: {e}", path.display())),
        }
    }

    fn try_clone(&self) -> io::Result<Stream> {
        match self {
            Stream::Tcp(s) => s.try_clone().map(Stream::Tcp),
            Stream::Unix(s) => s.try_clone().map(Stream::Unix),
        }
    }

    /// Sets the read timeout of the socket (shared by every clone of it).
    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(timeout)),
            Stream::Unix(s) => s.set_read_timeout(Some(timeout)),
        }
    }

    /// Switches the socket (every clone of it: O_NONBLOCK belongs to the open file) to non-blocking
    /// reads and writes, or back.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
            Stream::Unix(s) => s.set_nonblocking(nonblocking),
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }

    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(timeout)),
            Stream::Unix(s) => s.set_write_timeout(Some(timeout)),
        }
    }

    /// Makes the socket's eventual close send a TCP RST instead of a FIN (SO_LINGER with a zero timeout).
    /// A Unix socket has no such thing and is left as it is.
    fn set_linger_zero(&self) -> io::Result<()> {
        let Stream::Tcp(s) = self else {
            return Ok(());
        };
        socket2::SockRef::from(s).set_linger(Some(Duration::ZERO))
    }

    fn shutdown(&self) {
        // The peer may already be gone; there is nothing more to do about that.
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    /// Writes as a blocking socket would even while the socket is non-blocking (a pool-read connection):
    /// a full send buffer waits up to [`WRITE_TIMEOUT`] for room instead of failing with `WouldBlock`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let written = match self {
                Stream::Tcp(s) => s.write(buf),
                Stream::Unix(s) => s.write(buf),
            };
            match written {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(self.fd())?,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// Waits until `fd` has room to write, at most [`WRITE_TIMEOUT`].
fn wait_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let timeout_ms = libc::c_int::try_from(WRITE_TIMEOUT.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, and its count.
    match unsafe { libc::poll(&mut poll, 1, timeout_ms) } {
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "the socket stayed full")),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// Whether a read error is the read timeout expiring rather than a failure.
fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// The receiving half of a connection: yields whole WAMP message frames (NATS: translated messages).
pub enum FrameReader {
    Raw(rawsocket::Reader),
    Ws(Box<websocket::Reader>),
    Nats(Box<nats::Reader>),
}

impl FrameReader {
    /// The socket, for a poller to watch.
    pub fn fd(&self) -> BorrowedFd<'_> {
        reader_stream(self).fd()
    }

    /// Makes [`FrameReader::poll_message`] return `None` at once when no whole message is buffered or
    /// readable, instead of waiting up to [`POLL_INTERVAL`] (for a poller-driven reader). The connection's
    /// writes become non-blocking too, so switch back before writing more than a few bytes.
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<(), String> {
        reader_stream(self).set_nonblocking(nonblocking).map_err(|e| format!("cannot set O_NONBLOCK: {e}"))
    }

    /// The next message, decoded with `serializer`, or `None` when the read timeout ([`POLL_INTERVAL`])
    /// expired first. Transport-level pings are answered here. An error means the connection is unusable.
    pub fn poll_message(&mut self, serializer: Serializer) -> Result<Option<Message>, String> {
        let frame: Option<Bytes> = match self {
            FrameReader::Raw(r) => r.poll()?,
            FrameReader::Ws(r) => r.poll()?,
            FrameReader::Nats(r) => return r.poll(),
        };
        let Some(frame) = frame else {
            return Ok(None);
        };
        decode(serializer, frame)
            .map(Some)
            .map_err(|e| format!("cannot decode a message from the router: {e}"))
    }
}

/// The sending half of a connection; clones share it, and every send is one whole frame.
#[derive(Clone)]
pub enum FrameWriter {
    Raw(Arc<rawsocket::Writer>),
    Ws(Arc<websocket::Writer>),
    Nats(Arc<nats::Writer>),
}

impl FrameWriter {
    /// Encodes `messages` in `serializer` and sends them, one frame each, in as few writes as possible.
    pub fn send(&self, messages: &[Message], serializer: Serializer) -> Result<(), String> {
        match self {
            FrameWriter::Raw(w) => w.send(messages, serializer),
            FrameWriter::Ws(w) => w.send(messages, serializer),
            FrameWriter::Nats(w) => w.send(messages),
        }
    }

    /// Shuts the connection down in both directions (the reader sees it closed).
    pub fn shutdown(&self) {
        match self {
            FrameWriter::Raw(w) => w.shutdown(),
            FrameWriter::Ws(w) => w.shutdown(),
            FrameWriter::Nats(w) => w.shutdown(),
        }
    }

    /// Makes the connection end with a TCP RST, rather than a FIN, once its last handle (reader, writer and
    /// every clone of the writer) is dropped. No effect on a Unix socket.
    pub fn reset_on_close(&self) -> Result<(), String> {
        let stream = match self {
            FrameWriter::Raw(w) => w.closer(),
            FrameWriter::Ws(w) => w.closer(),
            FrameWriter::Nats(w) => w.closer(),
        };
        stream.set_linger_zero().map_err(|e| format!("cannot set SO_LINGER: {e}"))
    }
}

/// Connects to `target` and completes the transport handshake for `serializer` (within [`SETUP_TIMEOUT`]);
/// the returned reader then polls with [`POLL_INTERVAL`].
pub fn connect(target: &Target, serializer: Serializer) -> Result<(FrameReader, FrameWriter), String> {
    let stream = Stream::connect(&target.address)?;
    let setup = stream.set_read_timeout(SETUP_TIMEOUT).and_then(|()| stream.set_write_timeout(WRITE_TIMEOUT));
    setup.map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    let (reader, writer) = match &target.protocol {
        Protocol::RawSocket => {
            let (reader, writer) = rawsocket::handshake(stream, serializer)?;
            (FrameReader::Raw(reader), FrameWriter::Raw(writer))
        }
        Protocol::WebSocket { path } => {
            let Address::Tcp(authority) = &target.address else {
                return Err("WebSocket over a Unix socket is not supported".to_owned());
            };
            let (reader, writer) = websocket::handshake(stream, authority, path, serializer)?;
            (FrameReader::Ws(Box::new(reader)), FrameWriter::Ws(writer))
        }
        Protocol::Nats => {
            let (reader, writer) = nats::handshake(stream, serializer)?;
            (FrameReader::Nats(Box::new(reader)), FrameWriter::Nats(writer))
        }
    };
    reader_stream(&reader)
        .set_read_timeout(POLL_INTERVAL)
        .map_err(|e| format!("cannot set the read timeout: {e}"))?;
    Ok((reader, writer))
}

fn reader_stream(reader: &FrameReader) -> &Stream {
    match reader {
        FrameReader::Raw(r) => r.stream(),
        FrameReader::Ws(r) => r.stream(),
        FrameReader::Nats(r) => r.stream(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_supported_urls() {
        let rs = Target::parse("rs://127.0.0.1:8080").unwrap();
        assert_eq!(rs.protocol, Protocol::RawSocket);
        assert_eq!(rs.address, Address::Tcp("127.0.0.1:8080".to_owned()));
        let unix = Target::parse("rs+unix:///tmp/wamp.sock").unwrap();
        assert_eq!(unix.address, Address::Unix(PathBuf::from("/tmp/wamp.sock")));
        let ws = Target::parse("ws://localhost:8080/ws").unwrap();
        assert_eq!(ws.protocol, Protocol::WebSocket { path: "/ws".to_owned() });
        assert_eq!(ws.address, Address::Tcp("localhost:8080".to_owned()));
        let nats = Target::parse("nats://127.0.0.1:4222").unwrap();
        assert_eq!(nats.transport_name(), "nats");
        assert_eq!(nats.protocol, Protocol::Nats);
        let bare = Target::parse("ws://localhost:8080").unwrap();
        assert_eq!(bare.protocol, Protocol::WebSocket { path: "/".to_owned() });
    }

    #[test]
    fn rejects_what_it_cannot_reach() {
        for url in
            ["127.0.0.1:8080", "http://x:1", "wss://x:1/ws", "rs://nohost", "rs://:8080", "rs+unix://rel"]
        {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }
}
