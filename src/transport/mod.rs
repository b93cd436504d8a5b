//! The transport layer: how WAMP messages travel over a byte stream (section 2.3.1 WebSocket, section 15.1
//! RawSocket). The framing and the handshakes are sans-I/O (bytes in, frames or response bytes out) so every
//! rule is unit-testable with byte vectors; [`accept`] is the thin async layer that drives a handshake on a
//! real stream. After the handshake, the connection task reads into a `BytesMut` and feeds it to a
//! [`Decoder`], and writes frames built by the `encode_*` functions.

pub mod accept;
pub mod rawsocket;
pub mod tls;
pub mod websocket;

use bytes::{Bytes, BytesMut};

use crate::wamp::codec::Serializer;

pub use accept::handshake;

/// Size limits a listener enforces on its connections.
#[derive(Debug, Clone)]
pub struct TransportLimits {
    /// The largest inbound message, in bytes. RawSocket advertises it as the handshake's max-length
    /// exponent, rounded down to a power of two and clamped to `2^9..=2^24` (see
    /// [`rawsocket::advertised_max_len`]), and enforces that advertised value.
    pub max_message_size: usize,
    /// The largest HTTP upgrade request accepted in a WebSocket opening handshake.
    pub max_handshake_size: usize,
}

impl Default for TransportLimits {
    fn default() -> TransportLimits {
        TransportLimits { max_message_size: 16 << 20, max_handshake_size: 16 << 10 }
    }
}

/// The message framing of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6455 WebSocket (section 2.3.1).
    WebSocket,
    /// WAMP-over-RawSocket (section 15.1).
    RawSocket,
}

/// What a finished handshake established.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub framing: Framing,
    pub serializer: Serializer,
    /// The largest message the peer accepts: the RawSocket client's max-length exponent, `usize::MAX`
    /// for WebSocket (which has no such negotiation).
    pub max_outbound: usize,
    /// The request path of a WebSocket upgrade (`/` or `/ws`, query string removed); `None` for RawSocket.
    pub ws_path: Option<String>,
}

/// Why a connection's transport failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The opening handshake was refused (the refusal has already been sent to the peer where the
    /// protocol has one) or was malformed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The peer violated the framing rules; the connection must be failed.
    #[error("transport protocol violation: {0}")]
    Protocol(String),
    /// An inbound message (announced by its length header) exceeds the limit. WebSocket: answer with
    /// close code 1009; RawSocket: fail the connection.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooBig { size: usize, limit: usize },
    /// The peer closed the connection cleanly (EOF).
    #[error("connection closed")]
    Closed,
}

/// What the decoder produced from the inbound byte stream.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// One complete WAMP message (a reassembled WebSocket message or a RawSocket type-0 frame).
    Message(Bytes),
    /// A ping: answer with a pong echoing the payload ([`encode_pong`]).
    Ping(Bytes),
    Pong(Bytes),
    /// A WebSocket Close frame (RawSocket has none). `code` is `None` for an empty close body.
    Close {
        code: Option<u16>,
        reason: String,
    },
}

/// Frame decoder for an established connection (sans-I/O).
///
/// The caller reads socket bytes into a `BytesMut` and calls [`Decoder::decode`] until it returns
/// `Ok(None)` (more bytes needed). Complete messages are split off the buffer without copying (only
/// fragmented WebSocket messages are reassembled by copying). Lengths are checked against the limit as
/// soon as the frame header is in, before the body is buffered; when more bytes are needed for a frame
/// whose header is in, the buffer's capacity is reserved for the whole frame so that the next read can
/// take it in at once.
#[derive(Debug)]
pub struct Decoder {
    inner: DecoderKind,
}

#[derive(Debug)]
enum DecoderKind {
    Raw(rawsocket::FrameDecoder),
    Ws(websocket::frame::FrameDecoder),
}

impl Decoder {
    /// A decoder enforcing `max_message_size` on inbound messages. For RawSocket the enforced limit is the
    /// one the handshake advertised for the same `max_message_size` ([`rawsocket::advertised_max_len`]).
    pub fn new(framing: Framing, max_message_size: usize) -> Decoder {
        let inner = match framing {
            Framing::RawSocket => DecoderKind::Raw(rawsocket::FrameDecoder::new(max_message_size)),
            Framing::WebSocket => DecoderKind::Ws(websocket::frame::FrameDecoder::new(max_message_size)),
        };
        Decoder { inner }
    }

    /// Decodes the next complete item at the front of `buf`, consuming its bytes; `Ok(None)` when `buf`
    /// holds no complete item yet. After an error the connection must be failed: the decoder's state is
    /// unspecified.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, TransportError> {
        match &mut self.inner {
            DecoderKind::Raw(d) => d.decode(buf),
            DecoderKind::Ws(d) => d.decode(buf),
        }
    }
}

/// Appends one complete WAMP message frame: WebSocket: an unmasked text frame for JSON, binary for the
/// binary serializers; RawSocket: a type-0 frame. For RawSocket the caller must keep `msg` within the
/// peer's limit ([`Accepted::max_outbound`], at most `2^24` bytes).
pub fn encode_message(framing: Framing, serializer: Serializer, msg: &[u8], out: &mut BytesMut) {
    out.reserve(websocket::frame::MAX_HEADER_LEN + msg.len());
    message_header(framing, serializer, msg.len(), out);
    out.extend_from_slice(msg);
}

/// Appends only the header of a WAMP message frame of `len` payload bytes, for vectored writes of header
/// and body. Same rules as [`encode_message`].
pub fn message_header(framing: Framing, serializer: Serializer, len: usize, out: &mut BytesMut) {
    match framing {
        Framing::RawSocket => rawsocket::frame_header(rawsocket::FrameType::Message, len, out),
        Framing::WebSocket => {
            let opcode = if serializer.is_binary() {
                websocket::frame::OpCode::Binary
            } else {
                websocket::frame::OpCode::Text
            };
            websocket::frame::frame_header(opcode, len, out);
        }
    }
}

/// Appends a pong echoing `payload`. WebSocket control frames carry at most 125 bytes: a longer payload is
/// truncated (the WebSocket decoder never yields a longer ping).
pub fn encode_pong(framing: Framing, payload: &[u8], out: &mut BytesMut) {
    match framing {
        Framing::RawSocket => rawsocket::encode_frame(rawsocket::FrameType::Pong, payload, out),
        Framing::WebSocket => websocket::frame::encode_control(websocket::frame::OpCode::Pong, payload, out),
    }
}

/// Appends a ping carrying `payload` (truncated to 125 bytes for WebSocket).
pub fn encode_ping(framing: Framing, payload: &[u8], out: &mut BytesMut) {
    match framing {
        Framing::RawSocket => rawsocket::encode_frame(rawsocket::FrameType::Ping, payload, out),
        Framing::WebSocket => websocket::frame::encode_control(websocket::frame::OpCode::Ping, payload, out),
    }
}

/// Appends a WebSocket Close frame with `code` and `reason` (the reason is cut at a character boundary to
/// fit the 125-byte control frame limit). RawSocket has no close frame: nothing is appended.
pub fn encode_close(framing: Framing, code: u16, reason: &str, out: &mut BytesMut) {
    if framing == Framing::WebSocket {
        websocket::frame::encode_close(code, reason, out);
    }
}
