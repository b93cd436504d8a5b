//! NATS (core NATS, the client text protocol over TCP) as a stand-in transport, so that
//! `fanout --url nats://HOST:PORT` runs the very same workload, payload and checks against a NATS server.
//!
//! The WAMP messages the `fanout` scenario sends are translated on the way out, and NATS replies are
//! turned into the WAMP messages the scenario waits for:
//!
//! | scenario sends            | on the wire                   | the scenario receives                   |
//! |---------------------------|-------------------------------|-----------------------------------------|
//! | HELLO                     | `CONNECT {..}` + `PING`       | WELCOME, on the PONG                    |
//! | SUBSCRIBE (request r)     | `SUB <topic> <r>` + `PING`    | SUBSCRIBED (subscription r), on the PONG|
//! | n PUBLISH in one write    | n x `PUB <topic> <len>` + `PING` | n x PUBLISHED, on the PONG           |
//! | GOODBYE                   | nothing (the socket is shut)  |                                         |
//! |                           | `MSG <topic> <sid> <len>`     | EVENT (subscription sid)                |
//!
//! The acknowledged window: NATS answers a PING only once it has processed everything sent before it on
//! the connection (so every PUB before it has been routed to the subscribers' connections), which is what
//! WAMP's PUBLISHED confirms. A publisher writes its PUBs in batches of whatever its window of W allows,
//! exactly as it writes PUBLISH messages to a WAMP router, and ends each batch with one PING; the PONG
//! releases the batch. So at most W PUBs are unconfirmed at any time, as at most W PUBLISH are for WAMP,
//! with one PING/PONG per batch (at least one per W messages) instead of one PUBLISHED per message.
//!
//! A message body is the encoded `Arguments` list (`[publisher, seq, sent_ns, padding]` in the run's
//! serializer), byte for byte what a WAMP EVENT carries. Server PINGs are answered; `-ERR` fails the
//! connection. Everything else (calls, registrations) is refused: only `fanout` runs against NATS.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use switchyard::dict;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::{Id, Message, Payload};

use super::{is_timeout, Stream};

const READ_CHUNK: usize = 64 * 1024;
/// The longest protocol line (INFO, MSG header) accepted before the connection counts as broken.
const MAX_LINE: usize = 64 * 1024;
/// NATS's default `max_payload`, assumed when INFO does not say.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// What a PONG answers: the PINGs we send are answered in order, so they queue.
#[derive(Debug)]
enum Pending {
    /// The PING after CONNECT.
    Welcome,
    /// The PING after `SUB <topic> <sid>`.
    Subscribed { request: Id, sid: Id },
    /// The PING after a batch of PUBs, with their WAMP request IDs.
    Published { requests: Vec<Id> },
}

/// Reads the server's INFO line and splits the connection.
pub fn handshake(mut stream: Stream, serializer: Serializer) -> Result<(Reader, Arc<Writer>), String> {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut chunk = vec![0; READ_CHUNK].into_boxed_slice();
    let line = loop {
        if let Some(line) = take_line(&mut buf)? {
            break line;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err("the NATS server closed the connection before INFO".to_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => return Err("timed out waiting for the NATS server's INFO".to_owned()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    };
    let (op, rest) = split_op(&line);
    if !op.eq_ignore_ascii_case("INFO") {
        return Err(format!("not a NATS server: it opened with `{}`", printable(&line)));
    }
    let info: serde_json::Value =
        serde_json::from_str(rest).map_err(|e| format!("the NATS server's INFO is not JSON: {e}"))?;
    if info.get("auth_required").and_then(serde_json::Value::as_bool) == Some(true) {
        return Err(
            "the NATS server requires authentication, which the load generator does not do".to_owned()
        );
    }
    if info.get("tls_required").and_then(serde_json::Value::as_bool) == Some(true) {
        return Err("the NATS server requires TLS, which the load generator does not do".to_owned());
    }
    let max_payload = info
        .get("max_payload")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_PAYLOAD);
    let client_id = info.get("client_id").and_then(serde_json::Value::as_u64).unwrap_or(0);

    let read_half = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
    let closer = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
    let writer = Arc::new(Writer {
        state: Mutex::new(WriterState { stream, pending: VecDeque::new() }),
        pending_for_reader: Mutex::new(VecDeque::new()),
        closer,
        max_payload,
    });
    let reader = Reader {
        stream: read_half,
        buf,
        chunk,
        writer: writer.clone(),
        serializer,
        client_id,
        publication: 0,
        out: VecDeque::new(),
    };
    Ok((reader, writer))
}

/// The receiving half: parses the server's protocol lines and hands out WAMP messages.
pub struct Reader {
    stream: Stream,
    buf: BytesMut,
    chunk: Box<[u8]>,
    /// For PONG replies and the queue of PINGs awaiting their PONG.
    writer: Arc<Writer>,
    serializer: Serializer,
    client_id: u64,
    /// Counts delivered messages, for the EVENTs' publication IDs.
    publication: Id,
    /// Messages made from one protocol line (a PONG may stand for several PUBLISHED).
    out: VecDeque<Message>,
}

impl Reader {
    pub(super) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The next message, or `None` when the read timeout expired first.
    pub fn poll(&mut self) -> Result<Option<Message>, String> {
        loop {
            if let Some(message) = self.out.pop_front() {
                return Ok(Some(message));
            }
            if self.take_operation()? {
                continue;
            }
            match self.stream.read(&mut self.chunk) {
                Ok(0) => return Err("the NATS server closed the connection".to_owned()),
                Ok(n) => self.buf.extend_from_slice(&self.chunk[..n]),
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }

    /// Handles one complete protocol operation from the buffer, if there is one (false: read more).
    fn take_operation(&mut self) -> Result<bool, String> {
        let Some(end) = line_end(&self.buf)? else {
            return Ok(false);
        };
        let (op, rest) = split_op(&self.buf[..end]);
        if op.eq_ignore_ascii_case("MSG") {
            let (sid, len) = parse_msg_header(rest)?;
            let total = end + 2 + len + 2;
            if self.buf.len() < total {
                return Ok(false);
            }
            if &self.buf[total - 2..total] != b"\r\n" {
                return Err(format!("a MSG of {len} bytes is not followed by CRLF"));
            }
            self.buf.advance(end + 2);
            let body = self.buf.split_to(len).freeze();
            self.buf.advance(2);
            self.publication += 1;
            let payload = Payload { format: self.serializer, args: Some(body), kwargs: None };
            self.out.push_back(Message::Event {
                subscription: sid,
                publication: self.publication,
                details: dict!(),
                payload,
            });
            return Ok(true);
        }
        let line = self.buf.split_to(end);
        self.buf.advance(2);
        let (op, rest) = split_op(&line);
        match op.to_ascii_uppercase().as_str() {
            "PING" => self.writer.write_raw(b"PONG\r\n")?,
            "PONG" => {
                let pending = self.writer.answered()?;
                self.on_pong(pending);
            }
            "+OK" | "INFO" => {}
            "-ERR" => return Err(format!("the NATS server sent -ERR {}", rest.trim())),
            "HMSG" => return Err("the NATS server sent HMSG, though headers were not enabled".to_owned()),
            _ => return Err(format!("unknown NATS operation `{}`", printable(&line))),
        }
        Ok(true)
    }

    fn on_pong(&mut self, pending: Pending) {
        match pending {
            Pending::Welcome => {
                self.out.push_back(Message::Welcome { session: self.client_id, details: dict!() })
            }
            Pending::Subscribed { request, sid } => {
                self.out.push_back(Message::Subscribed { request, subscription: sid })
            }
            Pending::Published { requests } => {
                for request in requests {
                    self.publication += 1;
                    self.out.push_back(Message::Published { request, publication: self.publication });
                }
            }
        }
    }
}

/// The sending half.
pub struct Writer {
    /// The socket and the PINGs written on it not yet handed to the reader; one lock, so that PINGs queue
    /// in the order they are written.
    state: Mutex<WriterState>,
    /// PINGs whose PONG the reader awaits (moved from `state` in bulk, so the reader rarely takes the
    /// socket's lock).
    pending_for_reader: Mutex<VecDeque<Pending>>,
    /// A handle to shut the socket down without waiting for a blocked writer.
    closer: Stream,
    /// The largest message body the server accepts (from INFO).
    max_payload: usize,
}

struct WriterState {
    stream: Stream,
    pending: VecDeque<Pending>,
}

impl Writer {
    /// Translates `messages` (see the module documentation) and writes them in one write.
    pub fn send(&self, messages: &[Message]) -> Result<(), String> {
        let mut out = BytesMut::with_capacity(128 * messages.len() + 16);
        let mut pending = Vec::new();
        let mut published = Vec::new();
        for message in messages {
            match message {
                Message::Hello { .. } => {
                    let connect = serde_json::json!({
                        "verbose": false,
                        "pedantic": false,
                        "tls_required": false,
                        "name": "switchyard-loadtest",
                        "lang": "rust",
                        "version": env!("CARGO_PKG_VERSION"),
                        "protocol": 1,
                        "echo": true,
                        "headers": false,
                    });
                    out.put_slice(format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
                    pending.push(Pending::Welcome);
                }
                Message::Subscribe { request, topic, .. } => {
                    check_subject(topic, false)?;
                    out.put_slice(format!("SUB {topic} {request}\r\nPING\r\n").as_bytes());
                    pending.push(Pending::Subscribed { request: *request, sid: *request });
                }
                Message::Publish { request, topic, payload, .. } => {
                    check_subject(topic, true)?;
                    if payload.kwargs.is_some() {
                        return Err("a NATS message carries Arguments only, not ArgumentsKw".to_owned());
                    }
                    let body = payload.args.as_deref().unwrap_or_default();
                    if body.len() > self.max_payload {
                        return Err(format!(
                            "a body of {} bytes exceeds the NATS server's max_payload {}",
                            body.len(),
                            self.max_payload
                        ));
                    }
                    out.put_slice(format!("PUB {topic} {}\r\n", body.len()).as_bytes());
                    out.put_slice(body);
                    out.put_slice(b"\r\n");
                    published.push(*request);
                }
                Message::Goodbye { .. } => {}
                other => {
                    return Err(format!(
                        "{} cannot be sent to NATS: only the fanout scenario runs against a NATS server",
                        other.name()
                    ))
                }
            }
        }
        if !published.is_empty() {
            out.put_slice(b"PING\r\n");
            pending.push(Pending::Published { requests: published });
        }
        let mut state = self.state.lock().map_err(|_| "writer lock poisoned".to_owned())?;
        state.pending.extend(pending);
        state.stream.write_all(&out).map_err(|e| format!("write failed: {e}"))
    }

    fn write_raw(&self, bytes: &[u8]) -> Result<(), String> {
        let mut state = self.state.lock().map_err(|_| "writer lock poisoned".to_owned())?;
        state.stream.write_all(bytes).map_err(|e| format!("write failed: {e}"))
    }

    /// What the PONG just received answers: the oldest PING written.
    fn answered(&self) -> Result<Pending, String> {
        let mut ours = self.pending_for_reader.lock().map_err(|_| "reader lock poisoned".to_owned())?;
        if ours.is_empty() {
            let mut state = self.state.lock().map_err(|_| "writer lock poisoned".to_owned())?;
            ours.extend(state.pending.drain(..));
        }
        ours.pop_front().ok_or_else(|| "a PONG from the NATS server for a PING we did not send".to_owned())
    }

    pub fn shutdown(&self) {
        self.closer.shutdown();
    }

    pub(super) fn closer(&self) -> &Stream {
        &self.closer
    }
}

/// The index of the CR of the first complete line in `buf`, if there is one.
fn line_end(buf: &[u8]) -> Result<Option<usize>, String> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(0) => Err("a NATS protocol line without CR".to_owned()),
        Some(i) if buf[i - 1] == b'\r' => Ok(Some(i - 1)),
        Some(_) => Err("a NATS protocol line without CR".to_owned()),
        None if buf.len() > MAX_LINE => Err(format!("a NATS protocol line longer than {MAX_LINE} bytes")),
        None => Ok(None),
    }
}

/// Splits the first complete line (without its CRLF) off `buf`.
fn take_line(buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    let Some(end) = line_end(buf)? else {
        return Ok(None);
    };
    let line = buf.split_to(end).freeze();
    buf.advance(2);
    Ok(Some(line))
}

/// The operation name and the rest of a protocol line (as text; invalid UTF-8 makes both empty-ish).
fn split_op(line: &[u8]) -> (&str, &str) {
    let text = std::str::from_utf8(line).unwrap_or("");
    let text = text.trim_start();
    match text.find([' ', '\t']) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

/// `<subject> <sid> [reply-to] <#bytes>` -> (sid, #bytes).
fn parse_msg_header(rest: &str) -> Result<(Id, usize), String> {
    let malformed = || format!("a malformed MSG line `MSG {}`", rest.trim());
    let mut fields = rest.split_ascii_whitespace();
    let (subject, sid, third, fourth) = (fields.next(), fields.next(), fields.next(), fields.next());
    let (Some(_), Some(sid), Some(third), None) = (subject, sid, third, fields.next()) else {
        return Err(malformed());
    };
    // With four fields the third is the reply subject and the fourth the length.
    let len = fourth.unwrap_or(third);
    let sid = sid.parse::<Id>().map_err(|_| malformed())?;
    let len = len.parse::<usize>().map_err(|_| malformed())?;
    if len > 64 * 1024 * 1024 {
        return Err(malformed());
    }
    Ok((sid, len))
}

/// A subject we may SUB to or PUB on: non-empty dot-separated tokens without whitespace (and, to publish,
/// without wildcards).
fn check_subject(subject: &str, publish: bool) -> Result<(), String> {
    let bad_char = |c: char| c.is_whitespace() || (publish && (c == '*' || c == '>'));
    if subject.is_empty() || subject.split('.').any(str::is_empty) || subject.contains(bad_char) {
        return Err(format!("`{subject}` is not a valid NATS subject"));
    }
    Ok(())
}

fn printable(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned()
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;
    use crate::transport::{connect, FrameReader, FrameWriter, Target};

    #[test]
    fn parses_msg_headers_and_subjects() {
        assert_eq!(parse_msg_header("a.b 7 12"), Ok((7, 12)));
        assert_eq!(parse_msg_header("a.b 7 _INBOX.x 0"), Ok((7, 0)));
        assert!(parse_msg_header("a.b x 12").is_err());
        assert!(parse_msg_header("a.b 7").is_err());
        assert!(parse_msg_header("a.b 7 r 1 2").is_err());
        assert!(parse_msg_header("a.b 7 -1").is_err());
        assert!(check_subject("loadtest.1.topic.0", true).is_ok());
        assert!(check_subject("a.*", false).is_ok());
        for bad in ["", "a..b", ".a", "a b", "a.*"] {
            assert!(check_subject(bad, true).is_err(), "{bad}");
        }
        assert_eq!(split_op(b"MSG a 1 2"), ("MSG", "a 1 2"));
        assert_eq!(split_op(b"PONG"), ("PONG", ""));
    }

    /// A scripted NATS server on loopback: INFO, then answers what the client must send.
    #[test]
    fn speaks_the_protocol_to_a_scripted_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let mut out = socket.try_clone().unwrap();
            let mut lines = BufReader::new(socket);
            let mut line = String::new();
            let mut next = |line: &mut String| {
                line.clear();
                lines.read_line(line).unwrap();
                line.trim_end().to_owned()
            };
            out.write_all(b"INFO {\"server_id\":\"x\",\"max_payload\":1048576,\"client_id\":9}\r\n").unwrap();
            assert!(next(&mut line).starts_with("CONNECT {"));
            assert_eq!(next(&mut line), "PING");
            out.write_all(b"+OK\r\nPONG\r\n").unwrap();
            assert_eq!(next(&mut line), "SUB t.0 1");
            assert_eq!(next(&mut line), "PING");
            out.write_all(b"PONG\r\n").unwrap();
            assert_eq!(next(&mut line), "PUB t.0 3");
            assert_eq!(next(&mut line), "abc");
            assert_eq!(next(&mut line), "PUB t.0 2");
            assert_eq!(next(&mut line), "de");
            assert_eq!(next(&mut line), "PING");
            // A MSG split across writes, a server PING, then the PONG for the batch.
            out.write_all(b"MSG t.0 1 3\r\nab").unwrap();
            out.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            out.write_all(b"c\r\nPING\r\nPONG\r\n").unwrap();
            assert_eq!(next(&mut line), "PONG");
            out.write_all(b"-ERR 'Slow Consumer'\r\n").unwrap();
        });

        let target = Target::parse(&format!("nats://127.0.0.1:{port}")).unwrap();
        let (mut reader, writer) = connect(&target, Serializer::MsgPack).unwrap();
        let (FrameReader::Nats(reader), FrameWriter::Nats(writer)) = (&mut reader, &writer) else {
            panic!("not a NATS connection");
        };
        fn expect(reader: &mut Reader) -> Message {
            loop {
                if let Some(message) = reader.poll().unwrap() {
                    return message;
                }
            }
        }
        writer.send(&[Message::Hello { realm: "realm1".into(), details: dict!() }]).unwrap();
        assert!(matches!(expect(reader), Message::Welcome { session: 9, .. }));
        let subscribe = Message::Subscribe { request: 1, options: dict!(), topic: "t.0".into() };
        writer.send(&[subscribe]).unwrap();
        assert_eq!(expect(reader), Message::Subscribed { request: 1, subscription: 1 });
        let publish = |request, body: &'static [u8]| Message::Publish {
            request,
            options: dict!(),
            topic: "t.0".into(),
            payload: Payload {
                format: Serializer::MsgPack,
                args: Some(Bytes::from_static(body)),
                kwargs: None,
            },
        };
        writer.send(&[publish(5, b"abc"), publish(6, b"de")]).unwrap();
        match expect(reader) {
            Message::Event { subscription: 1, payload, .. } => {
                assert_eq!(payload.args.as_deref(), Some(&b"abc"[..]))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(expect(reader), Message::Published { request: 5, .. }));
        assert!(matches!(expect(reader), Message::Published { request: 6, .. }));
        let error = loop {
            match reader.poll() {
                Ok(None) => continue,
                Ok(Some(other)) => panic!("{other:?}"),
                Err(e) => break e,
            }
        };
        assert!(error.contains("Slow Consumer"), "{error}");
        let call =
            Message::Call { request: 1, options: dict!(), procedure: "p".into(), payload: Payload::empty() };
        assert!(writer.send(&[call]).is_err());
        server.join().unwrap();
    }
}
