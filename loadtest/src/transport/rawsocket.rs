//! WAMP-over-RawSocket, client side (section 15.1): the 4-octet opening handshake and the 4-octet
//! `[type, 24-bit length]` framing. Incoming PINGs are answered with PONGs carrying the same payload.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::Message;

use super::{is_timeout, Stream};

const MAGIC: u8 = 0x7F;
/// The max-length exponent we announce: `2^(9+15)` = 16 MiB, the largest a frame header can carry.
const MAX_LEN_EXPONENT: u8 = 0xF;
const MAX_FRAME: usize = 1 << 24;
const READ_CHUNK: usize = 64 * 1024;

const FRAME_MESSAGE: u8 = 0;
const FRAME_PING: u8 = 1;
const FRAME_PONG: u8 = 2;

/// Sends our handshake, checks the router's reply and splits the connection.
pub fn handshake(mut stream: Stream, serializer: Serializer) -> Result<(Reader, Arc<Writer>), String> {
    let request = [MAGIC, (MAX_LEN_EXPONENT << 4) | serializer.rawsocket_id(), 0, 0];
    stream.write_all(&request).map_err(|e| format!("cannot send the RawSocket handshake: {e}"))?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "the router closed the connection during the RawSocket handshake".to_owned()
        }
        _ if is_timeout(&e) => "timed out waiting for the RawSocket handshake reply".to_owned(),
        _ => format!("RawSocket handshake failed: {e}"),
    })?;
    if reply[0] != MAGIC {
        return Err(format!("not a RawSocket router: handshake reply starts with {:#04x}", reply[0]));
    }
    if reply[1] & 0x0F == 0 {
        let code = reply[1] >> 4;
        let reason = match code {
            1 => "serializer unsupported",
            2 => "maximum message length unacceptable",
            3 => "use of reserved bits",
            4 => "maximum connection count reached",
            _ => "unknown error code",
        };
        return Err(format!("the router refused the RawSocket handshake: error {code} ({reason})"));
    }
    if reply[1] & 0x0F != serializer.rawsocket_id() || reply[2] != 0 || reply[3] != 0 {
        return Err(format!("invalid RawSocket handshake reply {reply:02x?} to {request:02x?}"));
    }
    let max_len = 1usize << (9 + (reply[1] >> 4));
    let read_half = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
    let closer = stream.try_clone().map_err(|e| format!("cannot clone the socket: {e}"))?;
    let writer = Arc::new(Writer { stream: Mutex::new(stream), closer, max_len });
    let reader = Reader {
        stream: read_half,
        buf: BytesMut::with_capacity(READ_CHUNK),
        chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        writer: writer.clone(),
    };
    Ok((reader, writer))
}

/// The receiving half: buffers what it reads, so a read timeout never loses a partial frame.
pub struct Reader {
    stream: Stream,
    buf: BytesMut,
    chunk: Box<[u8]>,
    /// For PONG replies.
    writer: Arc<Writer>,
}

impl Reader {
    pub(super) fn stream(&self) -> &Stream {
        &self.stream
    }

    pub fn poll(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            while let Some((kind, payload)) = self.take_frame()? {
                match kind {
                    FRAME_MESSAGE => return Ok(Some(payload)),
                    FRAME_PING => self.writer.write_frame(FRAME_PONG, &payload)?,
                    _ => {} // FRAME_PONG: we send no PINGs, so an unsolicited PONG is ignored (15.1).
                }
            }
            match self.stream.read(&mut self.chunk) {
                Ok(0) => return Err("the router closed the connection".to_owned()),
                Ok(n) => self.buf.extend_from_slice(&self.chunk[..n]),
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }

    /// Splits one complete frame off the buffer, if there is one.
    fn take_frame(&mut self) -> Result<Option<(u8, Bytes)>, String> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let kind = self.buf[0];
        let len = usize::from(self.buf[1]) << 16 | usize::from(self.buf[2]) << 8 | usize::from(self.buf[3]);
        if kind > FRAME_PONG {
            return Err(format!("invalid RawSocket frame type {kind}"));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some((kind, self.buf.split_to(len).freeze())))
    }
}

/// The sending half; the mutex keeps frames from different threads whole.
pub struct Writer {
    stream: Mutex<Stream>,
    /// A handle to shut the socket down without waiting for a blocked writer.
    closer: Stream,
    /// The largest frame the router accepts (from its handshake reply).
    max_len: usize,
}

impl Writer {
    /// Sends `messages` as consecutive frames in one write.
    pub fn send(&self, messages: &[Message], serializer: Serializer) -> Result<(), String> {
        let mut out = BytesMut::with_capacity(128 * messages.len());
        for message in messages {
            let start = out.len();
            out.put_u32(0);
            codec::encode(message, serializer, &mut out);
            let len = out.len() - start - 4;
            if len > self.max_len.min(MAX_FRAME - 1) {
                return Err(format!(
                    "{} of {len} bytes exceeds the router's maximum message length {}",
                    message.name(),
                    self.max_len
                ));
            }
            // `len` < 2^24, so the type octet stays 0 (a message frame).
            out[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        }
        self.write_all(&out)
    }

    fn write_frame(&self, kind: u8, payload: &[u8]) -> Result<(), String> {
        let mut out = Vec::with_capacity(4 + payload.len());
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(payload);
        self.write_all(&out)
    }

    fn write_all(&self, frame: &[u8]) -> Result<(), String> {
        let mut stream = self.stream.lock().map_err(|_| "writer lock poisoned".to_owned())?;
        stream.write_all(frame).map_err(|e| format!("write failed: {e}"))
    }

    pub fn shutdown(&self) {
        self.closer.shutdown();
    }

    pub(super) fn closer(&self) -> &Stream {
        &self.closer
    }
}
