//! The async side of the opening handshakes: reads from a freshly accepted stream until the sans-I/O
//! parsers ([`super::rawsocket`], [`super::websocket::handshake`]) decide, writes their reply, and reports
//! what was established. Kept thin so all protocol rules stay unit-testable without sockets.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{ready, Poll};

use bytes::{Buf, BytesMut};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::rawsocket::{self, Refusal};
use super::websocket::handshake::{self as ws, Rejection};
use super::{Accepted, Framing, TransportError, TransportLimits};

/// How many bytes one read during a handshake may take in at most.
const READ_CHUNK: usize = 4096;

/// Runs the server side of a handshake on a freshly accepted stream.
///
/// `buf` is the connection's read buffer; on return it holds any bytes read past the handshake (they
/// belong to the first frames). With `universal`, the first octet decides: 0x7F is RawSocket (section
/// 15.1), anything else an HTTP/WebSocket upgrade; otherwise `only` says which is expected.
///
/// A refused handshake is answered (RawSocket error reply, or an HTTP error response with a plain-text
/// explanation), the write side is shut down, and `Err(Handshake)` is returned. EOF before the first byte
/// is `Err(Closed)`. The caller bounds the time a handshake may take.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    universal: bool,
    only: Framing,
    limits: &TransportLimits,
) -> Result<Accepted, TransportError> {
    let framing = if universal {
        fill(stream, buf, 1).await?;
        if buf[0] == rawsocket::MAGIC {
            Framing::RawSocket
        } else {
            Framing::WebSocket
        }
    } else {
        only
    };
    match framing {
        Framing::RawSocket => rawsocket_handshake(stream, buf, limits).await,
        Framing::WebSocket => websocket_handshake(stream, buf, limits).await,
    }
}

/// Reads once, at most `max` bytes (at most [`READ_CHUNK`]), appending to `buf`. EOF is `Closed` on an empty
/// buffer and a handshake error otherwise.
///
/// The bytes are read into a stack array that lives for one poll only, then copied: a connection waiting
/// for its peer's first bytes holds no read buffer (zero-filled, hence resident) of its own.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<(), TransportError> {
    let n = poll_fn(|cx| {
        let mut chunk = [0; READ_CHUNK];
        let n = ready!(Pin::new(&mut *stream).poll_read(cx, &mut chunk[..max.min(READ_CHUNK)]))?;
        buf.extend_from_slice(&chunk[..n]);
        Poll::Ready(Ok::<_, std::io::Error>(n))
    })
    .await?;
    match n {
        0 if buf.is_empty() => Err(TransportError::Closed),
        0 => Err(TransportError::Handshake("peer closed the connection during the handshake".into())),
        _ => Ok(()),
    }
}

/// Reads until `buf` holds at least `len` bytes. Bytes read past them stay in `buf` for whoever comes next
/// (the WebSocket request parser, or the frame decoder after a RawSocket handshake).
async fn fill<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    len: usize,
) -> Result<(), TransportError> {
    while buf.len() < len {
        read_some(stream, buf, READ_CHUNK).await?;
    }
    Ok(())
}

/// Sends a refusal and shuts down our side, so the peer reads it before the connection goes away.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, reply: &[u8]) -> Result<(), TransportError> {
    stream.write_all(reply).await?;
    stream.flush().await?;
    stream.close().await?;
    Ok(())
}

async fn rawsocket_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    limits: &TransportLimits,
) -> Result<Accepted, TransportError> {
    fill(stream, buf, 4).await?;
    let request = [buf[0], buf[1], buf[2], buf[3]];
    match rawsocket::parse_client_handshake(request) {
        Ok(hello) => {
            stream.write_all(&rawsocket::success_reply(hello.serializer, limits.max_message_size)).await?;
            stream.flush().await?;
            buf.advance(4);
            Ok(Accepted {
                framing: Framing::RawSocket,
                serializer: hello.serializer,
                max_outbound: hello.max_len,
                ws_path: None,
            })
        }
        Err(Refusal::NotRawSocket) => Err(TransportError::Handshake(format!(
            "not a RawSocket handshake (first octet 0x{:02x})",
            request[0]
        ))),
        Err(Refusal::Reply(code)) => {
            let why = code.describe();
            tracing::debug!(?request, "refusing RawSocket handshake: {why}");
            refuse(stream, &rawsocket::error_reply(code)).await?;
            Err(TransportError::Handshake(format!("RawSocket handshake refused: {why}")))
        }
    }
}

async fn websocket_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    limits: &TransportLimits,
) -> Result<Accepted, TransportError> {
    loop {
        match ws::parse_request(buf, limits.max_handshake_size) {
            Ok(Some(req)) => {
                stream.write_all(&ws::accept_response(&req)).await?;
                stream.flush().await?;
                buf.advance(req.head_len);
                return Ok(Accepted {
                    framing: Framing::WebSocket,
                    serializer: req.serializer,
                    max_outbound: usize::MAX,
                    ws_path: Some(req.path),
                });
            }
            Ok(None) => {
                // parse_request refuses once max_handshake_size bytes are in, so this is bounded.
                let room = limits.max_handshake_size.saturating_sub(buf.len()).clamp(1, READ_CHUNK);
                read_some(stream, buf, room).await?;
            }
            Err(rejection) => return Err(reject(stream, rejection).await),
        }
    }
}

async fn reject<S: AsyncWrite + Unpin>(stream: &mut S, rejection: Rejection) -> TransportError {
    tracing::debug!(status = rejection.status(), "refusing WebSocket upgrade: {rejection}");
    match refuse(stream, &rejection.response()).await {
        Ok(()) => TransportError::Handshake(format!(
            "WebSocket upgrade refused ({}): {rejection}",
            rejection.status()
        )),
        Err(e) => e,
    }
}

/// The only buffer a connection refused at a connection limit gets: what it sends is read through it and
/// dropped.
const REFUSAL_CHUNK: usize = 512;

/// The HTTP response refusing a WebSocket upgrade at a connection limit: 503 with a plain-text `why`.
pub fn busy_response(why: &str) -> Vec<u8> {
    let body = format!("{why}\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a connection that a connection limit refused, before any handshake state is allocated: what
/// the peer sends goes through one small fixed buffer and is dropped. A RawSocket client gets the
/// handshake error reply 4 ("maximum connection count reached", section 15.1) once its 4-octet request is
/// in; a WebSocket client gets `503 Service Unavailable` with `why` as the body once its request head is
/// in (or once `max_handshake_size` bytes came without its end). With `universal`, the first octet
/// decides, as in [`handshake`]. Then our side is shut down and whatever the peer still sends is read and
/// dropped until it closes, so that the reply is not lost to a reset. Returns what the peer spoke.
///
/// The caller bounds the time this may take (the handshake timeout).
pub async fn refuse_busy<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    universal: bool,
    only: Framing,
    why: &str,
    max_handshake_size: usize,
) -> Result<Framing, TransportError> {
    let mut chunk = [0u8; REFUSAL_CHUNK];
    let mut n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(TransportError::Closed);
    }
    let framing = match (universal, chunk[0] == rawsocket::MAGIC) {
        (true, true) => Framing::RawSocket,
        (true, false) => Framing::WebSocket,
        (false, _) => only,
    };
    let closed = || TransportError::Handshake("peer closed the connection during the handshake".into());
    match framing {
        Framing::RawSocket if chunk[0] != rawsocket::MAGIC => {
            return Err(TransportError::Handshake(format!(
                "not a RawSocket handshake (first octet 0x{:02x})",
                chunk[0]
            )));
        }
        Framing::RawSocket => {
            let mut seen = n;
            while seen < 4 {
                n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(closed());
                }
                seen += n;
            }
            stream.write_all(&rawsocket::error_reply(rawsocket::ErrorCode::MaxConnections)).await?;
        }
        Framing::WebSocket => {
            // Find the end of the request head ("\r\n\r\n") across reads, keeping nothing.
            const END: &[u8; 4] = b"\r\n\r\n";
            let (mut matched, mut seen) = (0, 0);
            loop {
                for &b in &chunk[..n] {
                    matched = if b == END[matched] { matched + 1 } else { usize::from(b == b'\r') };
                    if matched == END.len() {
                        break;
                    }
                }
                seen += n;
                if matched == END.len() || seen >= max_handshake_size {
                    break;
                }
                n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(closed());
                }
            }
            stream.write_all(&busy_response(why)).await?;
        }
    }
    stream.flush().await?;
    stream.close().await?;
    while let Ok(1..) = stream.read(&mut chunk).await {}
    Ok(framing)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::SocketAddr;

    use glommio::net::{TcpListener, TcpStream};
    use glommio::LocalExecutorBuilder;
    use tungstenite::client::IntoClientRequest;
    use tungstenite::handshake::HandshakeError;
    use tungstenite::http::HeaderValue;

    use super::*;
    use crate::transport::{encode_close, encode_message, encode_pong, message_header, Decoder, Incoming};
    use crate::wamp::codec::Serializer;

    /// Runs `server` on the first connection accepted by a glommio executor while `client` runs on a std
    /// thread against the listener's address. Panics in either fail the test.
    fn run<S, F>(server: S, client: impl FnOnce(SocketAddr) + Send + 'static)
    where
        S: FnOnce(TcpStream) -> F + Send + 'static,
        F: std::future::Future<Output = ()> + 'static,
    {
        LocalExecutorBuilder::default()
            .spawn(move || async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let client = std::thread::spawn(move || client(addr));
                let stream = listener.accept().await.unwrap();
                server(stream).await;
                client.join().unwrap();
            })
            .unwrap()
            .join()
            .unwrap();
    }

    async fn next_incoming(stream: &mut TcpStream, buf: &mut BytesMut, decoder: &mut Decoder) -> Incoming {
        loop {
            if let Some(item) = decoder.decode(buf).unwrap() {
                return item;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "unexpected EOF");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads an HTTP response to EOF.
    fn read_response(addr: SocketAddr, request: &[u8]) -> String {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(request).unwrap();
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).unwrap();
        resp
    }

    fn ws_client(
        addr: SocketAddr,
        path: &str,
        protocols: Option<&'static str>,
    ) -> tungstenite::handshake::client::Request {
        let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
        if let Some(p) = protocols {
            req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
        }
        req
    }

    #[test]
    fn websocket_upgrade_and_message_exchange() {
        run(
            |mut stream| async move {
                let limits = TransportLimits::default();
                let mut buf = BytesMut::new();
                let acc = handshake(&mut stream, &mut buf, true, Framing::RawSocket, &limits).await.unwrap();
                assert_eq!(acc.framing, Framing::WebSocket);
                assert_eq!(acc.serializer, Serializer::MsgPack);
                assert_eq!(acc.max_outbound, usize::MAX);
                assert_eq!(acc.ws_path.as_deref(), Some("/ws"));
                let mut decoder = Decoder::new(acc.framing, limits.max_message_size);
                let mut out = BytesMut::new();
                loop {
                    out.clear();
                    match next_incoming(&mut stream, &mut buf, &mut decoder).await {
                        Incoming::Message(m) if m.len() > 1000 => {
                            // Header and body written separately, as a vectored writer would.
                            message_header(acc.framing, acc.serializer, m.len(), &mut out);
                            stream.write_all(&out).await.unwrap();
                            stream.write_all(&m).await.unwrap();
                            continue;
                        }
                        Incoming::Message(m) => encode_message(acc.framing, acc.serializer, &m, &mut out),
                        Incoming::Ping(p) => encode_pong(acc.framing, &p, &mut out),
                        Incoming::Pong(_) => continue,
                        Incoming::Close { code, .. } => {
                            assert_eq!(code, Some(1000));
                            encode_close(acc.framing, 1000, "bye", &mut out);
                            stream.write_all(&out).await.unwrap();
                            break;
                        }
                    }
                    stream.write_all(&out).await.unwrap();
                }
            },
            |addr| {
                use tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
                use tungstenite::Message;
                // tungstenite splits the offer on ',' without trimming, so no spaces here.
                let req = ws_client(addr, "/ws", Some("mqtt,wamp.2.msgpack,wamp.2.json"));
                let tcp = std::net::TcpStream::connect(addr).unwrap();
                let (mut ws, resp) = tungstenite::client(req, tcp).unwrap();
                assert_eq!(resp.headers()["sec-websocket-protocol"], "wamp.2.msgpack");

                ws.send(Message::Binary(vec![0x93, 0x01, 0xa1, 0x61])).unwrap();
                assert_eq!(ws.read().unwrap(), Message::Binary(vec![0x93, 0x01, 0xa1, 0x61]));
                let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
                ws.send(Message::Binary(big.clone())).unwrap();
                assert_eq!(ws.read().unwrap(), Message::Binary(big));
                ws.send(Message::Ping(b"are you there".to_vec())).unwrap();
                assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec()));

                ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "done".into() })).unwrap();
                loop {
                    match ws.read() {
                        Ok(Message::Close(Some(frame))) => assert_eq!(frame.reason, "bye"),
                        Ok(other) => panic!("unexpected {other:?}"),
                        Err(tungstenite::Error::ConnectionClosed) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            },
        );
    }

    #[test]
    fn websocket_json_uses_text_frames() {
        run(
            |mut stream| async move {
                let limits = TransportLimits::default();
                let mut buf = BytesMut::new();
                let acc = handshake(&mut stream, &mut buf, false, Framing::WebSocket, &limits).await.unwrap();
                assert_eq!(acc.serializer, Serializer::Json);
                assert_eq!(acc.ws_path.as_deref(), Some("/"));
                let mut decoder = Decoder::new(acc.framing, limits.max_message_size);
                let Incoming::Message(m) = next_incoming(&mut stream, &mut buf, &mut decoder).await else {
                    panic!("expected a message");
                };
                let mut out = BytesMut::new();
                encode_message(acc.framing, acc.serializer, &m, &mut out);
                stream.write_all(&out).await.unwrap();
            },
            |addr| {
                let req = ws_client(addr, "/", Some("wamp.2.json"));
                let tcp = std::net::TcpStream::connect(addr).unwrap();
                let (mut ws, resp) = tungstenite::client(req, tcp).unwrap();
                assert_eq!(resp.headers()["sec-websocket-protocol"], "wamp.2.json");
                let hello = r#"[1,"realm1",{"roles":{"caller":{}}}]"#;
                ws.send(tungstenite::Message::Text(hello.into())).unwrap();
                assert_eq!(ws.read().unwrap(), tungstenite::Message::Text(hello.into()));
            },
        );
    }

    #[test]
    fn websocket_without_subprotocol_gets_400() {
        run(
            |mut stream| async move {
                let mut buf = BytesMut::new();
                let r =
                    handshake(&mut stream, &mut buf, true, Framing::WebSocket, &TransportLimits::default())
                        .await;
                assert!(matches!(r, Err(TransportError::Handshake(_))), "{r:?}");
            },
            |addr| {
                let tcp = std::net::TcpStream::connect(addr).unwrap();
                match tungstenite::client(ws_client(addr, "/ws", None), tcp) {
                    Err(HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                        assert_eq!(resp.status(), 400);
                        let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
                        assert!(body.contains("wamp.2.json, wamp.2.msgpack, wamp.2.cbor"), "{body}");
                    }
                    Err(e) => panic!("{e:?}"),
                    Ok(_) => panic!("upgrade without a subprotocol must be refused"),
                }
            },
        );
    }

    #[test]
    fn plain_http_get_gets_426() {
        run(
            |mut stream| async move {
                let mut buf = BytesMut::new();
                let r =
                    handshake(&mut stream, &mut buf, true, Framing::WebSocket, &TransportLimits::default())
                        .await;
                assert!(matches!(r, Err(TransportError::Handshake(_))), "{r:?}");
            },
            |addr| {
                let resp = read_response(addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
                assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{resp}");
                assert!(resp.contains("WebSocket client"), "{resp}");
            },
        );
    }

    #[test]
    fn wrong_path_gets_404() {
        run(
            |mut stream| async move {
                let mut buf = BytesMut::new();
                let r =
                    handshake(&mut stream, &mut buf, false, Framing::WebSocket, &TransportLimits::default())
                        .await;
                assert!(matches!(r, Err(TransportError::Handshake(_))), "{r:?}");
            },
            |addr| {
                let tcp = std::net::TcpStream::connect(addr).unwrap();
                match tungstenite::client(ws_client(addr, "/other", Some("wamp.2.json")), tcp) {
                    Err(HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                        assert_eq!(resp.status(), 404)
                    }
                    other => panic!("{:?}", other.err()),
                }
            },
        );
    }

    #[test]
    fn oversized_upgrade_request_gets_431() {
        run(
            |mut stream| async move {
                let limits = TransportLimits { max_handshake_size: 1024, ..TransportLimits::default() };
                let mut buf = BytesMut::new();
                let r = handshake(&mut stream, &mut buf, true, Framing::WebSocket, &limits).await;
                assert!(matches!(r, Err(TransportError::Handshake(_))), "{r:?}");
                assert!(buf.len() <= 1024 + READ_CHUNK);
            },
            |addr| {
                let request = format!("GET / HTTP/1.1\r\nX-Padding: {}\r\n\r\n", "a".repeat(1500));
                let resp = read_response(addr, request.as_bytes());
                assert!(resp.starts_with("HTTP/1.1 431 "), "{resp}");
            },
        );
    }

    #[test]
    fn rawsocket_handshake_and_frames() {
        run(
            |mut stream| async move {
                let limits = TransportLimits { max_message_size: 1 << 20, ..TransportLimits::default() };
                let mut buf = BytesMut::new();
                let acc = handshake(&mut stream, &mut buf, true, Framing::WebSocket, &limits).await.unwrap();
                assert_eq!(acc.framing, Framing::RawSocket);
                assert_eq!(acc.serializer, Serializer::Cbor);
                assert_eq!(acc.max_outbound, 1 << 16);
                assert_eq!(acc.ws_path, None);
                let mut decoder = Decoder::new(acc.framing, limits.max_message_size);
                let mut out = BytesMut::new();
                for _ in 0..2 {
                    match next_incoming(&mut stream, &mut buf, &mut decoder).await {
                        Incoming::Message(m) => encode_message(acc.framing, acc.serializer, &m, &mut out),
                        Incoming::Ping(p) => encode_pong(acc.framing, &p, &mut out),
                        other => panic!("{other:?}"),
                    }
                }
                stream.write_all(&out).await.unwrap();
            },
            |addr| {
                let mut tcp = std::net::TcpStream::connect(addr).unwrap();
                // Handshake (CBOR, 2^16 bytes max) with a message and a ping pipelined behind it.
                let mut wire = vec![0x7F, 0x73, 0, 0];
                wire.extend_from_slice(&[0, 0, 0, 3, 0x81, 0x01, 0x02]);
                wire.extend_from_slice(&[1, 0, 0, 2, b'h', b'i']);
                tcp.write_all(&wire).unwrap();
                let mut reply = [0u8; 4];
                tcp.read_exact(&mut reply).unwrap();
                assert_eq!(reply, [0x7F, 0xB3, 0, 0]);
                let mut frames = [0u8; 13];
                tcp.read_exact(&mut frames).unwrap();
                assert_eq!(frames, [0, 0, 0, 3, 0x81, 0x01, 0x02, 2, 0, 0, 2, b'h', b'i']);
            },
        );
    }

    #[test]
    fn rawsocket_refusals() {
        for (request, reply) in
            [([0x7F, 0xF5, 0, 0], [0x7F, 0x10, 0, 0]), ([0x7F, 0xF1, 0, 1], [0x7F, 0x30, 0, 0])]
        {
            run(
                |mut stream| async move {
                    let mut buf = BytesMut::new();
                    let r = handshake(
                        &mut stream,
                        &mut buf,
                        false,
                        Framing::RawSocket,
                        &TransportLimits::default(),
                    )
                    .await;
                    assert!(matches!(r, Err(TransportError::Handshake(_))), "{r:?}");
                },
                move |addr| {
                    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
                    tcp.write_all(&request).unwrap();
                    let mut got = Vec::new();
                    tcp.read_to_end(&mut got).unwrap();
                    assert_eq!(got, reply);
                },
            );
        }
    }

    #[test]
    fn rawsocket_only_endpoint_fails_http_without_reply() {
        run(
            |mut stream| async move {
                let mut buf = BytesMut::new();
                let r =
                    handshake(&mut stream, &mut buf, false, Framing::RawSocket, &TransportLimits::default())
                        .await;
                assert!(matches!(r, Err(TransportError::Handshake(_))), "{r:?}");
            },
            |addr| {
                let mut tcp = std::net::TcpStream::connect(addr).unwrap();
                tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                let mut got = Vec::new();
                // The server drops the connection; unread request bytes may turn the FIN into a reset.
                let _ = tcp.read_to_end(&mut got);
                assert!(got.is_empty());
            },
        );
    }

    #[test]
    fn busy_rawsocket_gets_error_4() {
        for universal in [true, false] {
            run(
                move |mut stream| async move {
                    let r = refuse_busy(&mut stream, universal, Framing::RawSocket, "busy", 1024).await;
                    assert!(matches!(r, Ok(Framing::RawSocket)), "{r:?}");
                },
                |addr| {
                    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
                    // The request arrives in two pieces, with a pipelined frame behind it.
                    tcp.write_all(&[0x7F, 0xF1]).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    tcp.write_all(&[0, 0, 0, 0, 0, 2, b'[', b']']).unwrap();
                    let mut reply = [0u8; 4];
                    tcp.read_exact(&mut reply).unwrap();
                    assert_eq!(reply, [0x7F, 0x40, 0, 0]);
                    let mut rest = Vec::new();
                    tcp.read_to_end(&mut rest).unwrap();
                    assert!(rest.is_empty());
                },
            );
        }
    }

    #[test]
    fn busy_websocket_gets_503() {
        run(
            |mut stream| async move {
                let r = refuse_busy(&mut stream, true, Framing::RawSocket, "come back later", 16384).await;
                assert!(matches!(r, Ok(Framing::WebSocket)), "{r:?}");
            },
            |addr| {
                let tcp = std::net::TcpStream::connect(addr).unwrap();
                match tungstenite::client(ws_client(addr, "/ws", Some("wamp.2.json")), tcp) {
                    Err(HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                        assert_eq!(resp.status(), 503);
                        assert_eq!(resp.headers()["connection"], "close");
                        let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
                        assert_eq!(body, "come back later\n");
                    }
                    other => panic!("{:?}", other.err()),
                }
            },
        );
    }

    #[test]
    fn busy_websocket_request_head_split_across_reads() {
        run(
            |mut stream| async move {
                let r = refuse_busy(&mut stream, false, Framing::WebSocket, "busy", 16384).await;
                assert!(matches!(r, Ok(Framing::WebSocket)), "{r:?}");
            },
            |addr| {
                let mut tcp = std::net::TcpStream::connect(addr).unwrap();
                let head = format!("GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "p".repeat(2000));
                let (a, b) = head.as_bytes().split_at(head.len() - 3); // split inside the final CRLFCRLF
                tcp.write_all(a).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
                tcp.write_all(b).unwrap();
                let mut resp = String::new();
                tcp.read_to_string(&mut resp).unwrap();
                assert!(resp.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{resp}");
                assert!(resp.ends_with("\r\n\r\nbusy\n"), "{resp}");
            },
        );
    }

    #[test]
    fn eof_before_any_byte_is_closed() {
        run(
            |mut stream| async move {
                let mut buf = BytesMut::new();
                let r =
                    handshake(&mut stream, &mut buf, true, Framing::WebSocket, &TransportLimits::default())
                        .await;
                assert!(matches!(r, Err(TransportError::Closed)), "{r:?}");
            },
            |addr| drop(std::net::TcpStream::connect(addr).unwrap()),
        );
    }
}
