//! WAMP-over-WebSocket, client side, via tungstenite: the HTTP upgrade offering the serializer's
//! subprotocol (section 2.3.1), then one message per WebSocket message (text for JSON, binary otherwise).
//!
//! The socket is driven by two tungstenite instances: the reader (the handshake's, so no bytes read past
//! the upgrade response are lost) and the writer. Both write through [`SharedStream`], whose every
//! `write` call is a whole `write_all` under one mutex, so the reader's automatic PONG and close replies
//! never interleave with the writer's frames.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use switchyard::wamp::codec::{encode_to_bytes, Serializer};
use switchyard::wamp::Message;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::{Role, WebSocket};

use super::{is_timeout, Stream};

/// One handle on the socket: reads from its own clone, writes whole buffers through the shared mutex.
pub struct SharedStream {
    read: Stream,
    write: Arc<Mutex<Stream>>,
}

impl Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.read(buf)
    }
}

impl Write for SharedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.write.lock().map_err(|_| io::Error::other("writer lock poisoned"))?;
        stream.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut stream = self.write.lock().map_err(|_| io::Error::other("writer lock poisoned"))?;
        stream.flush()
    }
}

/// Runs the upgrade for `ws://authority/path` offering `serializer`'s subprotocol and splits the socket.
pub fn handshake(
    stream: Stream,
    authority: &str,
    path: &str,
    serializer: Serializer,
) -> Result<(Reader, Arc<Writer>), String> {
    let clone = || stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"));
    let write = Arc::new(Mutex::new(clone()?));
    let closer = clone()?;
    let writer_half = SharedStream { read: clone()?, write: write.clone() };
    let url = format!("ws://{authority}{path}");
    let mut request =
        url.as_str().into_client_request().map_err(|e| format!("invalid WebSocket URL {url}: {e}"))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(serializer.ws_subprotocol()));
    let shared = SharedStream { read: stream, write };
    let (socket, response) = match tungstenite::client::client_with_config(request, shared, None) {
        Ok(done) => done,
        Err(HandshakeError::Interrupted(_)) => {
            return Err("timed out waiting for the WebSocket upgrade".to_owned())
        }
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            return Err(format!(
                "the router refused the WebSocket upgrade: HTTP {}: {}",
                response.status(),
                body.trim()
            ));
        }
        Err(HandshakeError::Failure(e)) => return Err(format!("WebSocket upgrade failed: {e}")),
    };
    let chosen = response.headers().get("Sec-WebSocket-Protocol");
    if chosen.and_then(|v| v.to_str().ok()) != Some(serializer.ws_subprotocol()) {
        return Err(format!(
            "the router did not accept subprotocol {} (answered {chosen:?})",
            serializer.ws_subprotocol()
        ));
    }
    let writer =
        Writer { socket: Mutex::new(WebSocket::from_raw_socket(writer_half, Role::Client, None)), closer };
    Ok((Reader { socket }, Arc::new(writer)))
}

/// The receiving half (tungstenite answers pings and close frames itself).
pub struct Reader {
    socket: WebSocket<SharedStream>,
}

impl Reader {
    pub(super) fn stream(&self) -> &Stream {
        &self.socket.get_ref().read
    }

    pub fn poll(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            return match self.socket.read() {
                Ok(tungstenite::Message::Binary(data)) => Ok(Some(Bytes::from(data))),
                Ok(tungstenite::Message::Text(text)) => Ok(Some(Bytes::from(text.into_bytes()))),
                Ok(tungstenite::Message::Close(frame)) => Err(match frame {
                    Some(f) => format!("the router closed the WebSocket: {} {}", u16::from(f.code), f.reason),
                    None => "the router closed the WebSocket".to_owned(),
                }),
                Ok(_) => continue, // ping, pong, raw frame
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => Ok(None),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    Err("the router closed the connection".to_owned())
                }
                Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => Err("the router closed the connection without a WebSocket close".to_owned()),
                Err(e) => Err(format!("WebSocket read failed: {e}")),
            };
        }
    }
}

/// The sending half.
pub struct Writer {
    socket: Mutex<WebSocket<SharedStream>>,
    /// A handle to shut the socket down without waiting for a blocked writer.
    closer: Stream,
}

impl Writer {
    /// Sends `messages`, one WebSocket message each, flushing once at the end.
    pub fn send(&self, messages: &[Message], serializer: Serializer) -> Result<(), String> {
        let mut socket = self.socket.lock().map_err(|_| "writer lock poisoned".to_owned())?;
        for message in messages {
            let bytes = encode_to_bytes(message, serializer);
            let frame = if serializer.is_binary() {
                tungstenite::Message::Binary(bytes.to_vec())
            } else {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| format!("{} encoded to invalid UTF-8 JSON", message.name()))?;
                tungstenite::Message::Text(text)
            };
            socket.write(frame).map_err(|e| format!("WebSocket write failed: {e}"))?;
        }
        socket.flush().map_err(|e| format!("WebSocket write failed: {e}"))
    }

    pub fn shutdown(&self) {
        self.closer.shutdown();
    }

    pub(super) fn closer(&self) -> &Stream {
        &self.closer
    }
}
