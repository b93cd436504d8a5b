//! WAMP-over-RawSocket (section 15.1), sans-I/O: the 4-octet opening handshake (request parsing, success
//! and error replies) and the 4-octet length-prefixed framing of messages, pings and pongs.

use bytes::{Buf, BufMut, BytesMut};

use super::{Incoming, TransportError};
use crate::wamp::codec::Serializer;

/// The first octet of a RawSocket handshake: no HTTP request can start with it.
pub const MAGIC: u8 = 0x7F;

/// The smallest max-length a handshake can express: `2^9` bytes (exponent field 0).
pub const MIN_MAX_LEN: usize = 1 << 9;

/// The largest max-length a handshake can express, and the largest frame: `2^24` bytes (exponent field 15).
pub const MAX_MAX_LEN: usize = 1 << 24;

/// Handshake error codes, sent in the upper nibble of an error reply's second octet (code 0 is illegal
/// and never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    SerializerUnsupported = 1,
    MaxLenUnacceptable = 2,
    ReservedBits = 3,
    MaxConnections = 4,
}

impl ErrorCode {
    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::SerializerUnsupported => "serializer unsupported",
            ErrorCode::MaxLenUnacceptable => "maximum message length unacceptable",
            ErrorCode::ReservedBits => "use of reserved bits",
            ErrorCode::MaxConnections => "maximum connection count reached",
        }
    }
}

/// Why a client handshake is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The first octet is not [`MAGIC`]: not a RawSocket client. The connection is failed without a reply.
    NotRawSocket,
    /// Answer with [`error_reply`] of this code, then fail the connection.
    Reply(ErrorCode),
}

/// A valid client handshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello {
    pub serializer: Serializer,
    /// The largest message the client is willing to receive.
    pub max_len: usize,
}

/// Parses the client's 4-octet handshake request.
pub fn parse_client_handshake(req: [u8; 4]) -> Result<ClientHello, Refusal> {
    if req[0] != MAGIC {
        return Err(Refusal::NotRawSocket);
    }
    if req[2] != 0 || req[3] != 0 {
        return Err(Refusal::Reply(ErrorCode::ReservedBits));
    }
    let serializer = Serializer::from_rawsocket_id(req[1] & 0x0F)
        .ok_or(Refusal::Reply(ErrorCode::SerializerUnsupported))?;
    Ok(ClientHello { serializer, max_len: 1 << (9 + (req[1] >> 4)) })
}

/// The max-length exponent field (0..=15) advertising `max_message_size`: rounded down to a power of two
/// and clamped to `2^9..=2^24`.
pub fn max_len_exponent(max_message_size: usize) -> u8 {
    let log2 = max_message_size.checked_ilog2().unwrap_or(0);
    // Clamped to 9..=24, so the subtraction and the narrowing cannot wrap.
    (log2.clamp(9, 24) - 9) as u8
}

/// The inbound limit actually advertised (and enforced) for `max_message_size`.
pub fn advertised_max_len(max_message_size: usize) -> usize {
    1 << (9 + max_len_exponent(max_message_size))
}

/// The router's success reply: echoes the serializer and advertises our max length.
pub fn success_reply(serializer: Serializer, max_message_size: usize) -> [u8; 4] {
    [MAGIC, (max_len_exponent(max_message_size) << 4) | serializer.rawsocket_id(), 0, 0]
}

/// The router's error reply.
pub fn error_reply(code: ErrorCode) -> [u8; 4] {
    [MAGIC, (code as u8) << 4, 0, 0]
}

/// The frame type field (`TTT`) of a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    Message = 0,
    Ping = 1,
    Pong = 2,
}

/// The length-extension bit (`X`): set alone when the payload is exactly `2^24` bytes.
const X_BIT: u8 = 0x08;

/// Appends a frame header. The caller must keep `len` within the peer's advertised limit (section 15.1:
/// the router MUST NOT send more), which is at most [`MAX_MAX_LEN`]; a longer `len` cannot be expressed
/// and would produce a corrupt frame.
pub fn frame_header(ty: FrameType, len: usize, out: &mut BytesMut) {
    let x = if len == MAX_MAX_LEN { X_BIT } else { 0 };
    out.put_u32((u32::from(ty as u8 | x) << 24) | (len as u32 & 0x00FF_FFFF));
}

/// Appends a complete frame.
pub fn encode_frame(ty: FrameType, payload: &[u8], out: &mut BytesMut) {
    out.reserve(4 + payload.len());
    frame_header(ty, payload.len(), out);
    out.extend_from_slice(payload);
}

/// The frame decoder of an established RawSocket connection.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
}

impl FrameDecoder {
    /// Enforces the limit advertised for `max_message_size` on every frame (pings included).
    pub fn new(max_message_size: usize) -> FrameDecoder {
        FrameDecoder { limit: advertised_max_len(max_message_size) }
    }

    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, TransportError> {
        let Some(&[b0, b1, b2, b3]) = buf.get(..4) else {
            return Ok(None);
        };
        if b0 & 0xF0 != 0 {
            return Err(TransportError::Protocol(format!(
                "reserved bits set in RawSocket frame header (0x{b0:02x})"
            )));
        }
        let low = u32::from_be_bytes([0, b1, b2, b3]) as usize;
        let len = if b0 & X_BIT == 0 {
            low
        } else if low == 0 {
            MAX_MAX_LEN
        } else {
            return Err(TransportError::Protocol("RawSocket frame length exceeds 2^24".into()));
        };
        let ty = b0 & 0x07;
        if ty > FrameType::Pong as u8 {
            return Err(TransportError::Protocol(format!("reserved RawSocket frame type {ty}")));
        }
        if len > self.limit {
            return Err(TransportError::TooBig { size: len, limit: self.limit });
        }
        if buf.len() < 4 + len {
            buf.reserve(4 + len - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        let payload = buf.split_to(len).freeze();
        Ok(Some(match ty {
            0 => Incoming::Message(payload),
            1 => Incoming::Ping(payload),
            _ => Incoming::Pong(payload),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn decode_all(d: &mut FrameDecoder, buf: &mut BytesMut) -> Result<Vec<Incoming>, TransportError> {
        let mut out = Vec::new();
        while let Some(item) = d.decode(buf)? {
            out.push(item);
        }
        Ok(out)
    }

    #[test]
    fn handshake_ok_for_each_serializer_and_length() {
        for ser in Serializer::ALL {
            for exp in 0..16u8 {
                let hello = parse_client_handshake([0x7F, (exp << 4) | ser.rawsocket_id(), 0, 0]).unwrap();
                assert_eq!(hello.serializer, ser);
                assert_eq!(hello.max_len, 1usize << (9 + exp));
            }
        }
    }

    #[test]
    fn handshake_not_rawsocket() {
        assert_eq!(parse_client_handshake(*b"GET "), Err(Refusal::NotRawSocket));
        assert_eq!(parse_client_handshake([0x7E, 0xF1, 0, 0]), Err(Refusal::NotRawSocket));
    }

    #[test]
    fn handshake_serializer_unsupported() {
        for s in [0u8, 4, 5, 6, 15] {
            assert_eq!(
                parse_client_handshake([0x7F, 0xF0 | s, 0, 0]),
                Err(Refusal::Reply(ErrorCode::SerializerUnsupported)),
                "serializer {s}"
            );
        }
    }

    #[test]
    fn handshake_reserved_bits() {
        for req in [[0x7F, 0xF1, 1, 0], [0x7F, 0xF1, 0, 0x80], [0x7F, 0x01, 0xFF, 0xFF]] {
            assert_eq!(parse_client_handshake(req), Err(Refusal::Reply(ErrorCode::ReservedBits)));
        }
    }

    #[test]
    fn replies() {
        assert_eq!(error_reply(ErrorCode::SerializerUnsupported), [0x7F, 0x10, 0, 0]);
        assert_eq!(error_reply(ErrorCode::MaxLenUnacceptable), [0x7F, 0x20, 0, 0]);
        assert_eq!(error_reply(ErrorCode::ReservedBits), [0x7F, 0x30, 0, 0]);
        assert_eq!(error_reply(ErrorCode::MaxConnections), [0x7F, 0x40, 0, 0]);
        assert_eq!(success_reply(Serializer::Json, 16 << 20), [0x7F, 0xF1, 0, 0]);
        assert_eq!(success_reply(Serializer::MsgPack, 1 << 20), [0x7F, 0xB2, 0, 0]);
        assert_eq!(success_reply(Serializer::Cbor, 512), [0x7F, 0x03, 0, 0]);
    }

    #[test]
    fn exponent_rounds_down_and_clamps() {
        assert_eq!(max_len_exponent(0), 0);
        assert_eq!(max_len_exponent(1), 0);
        assert_eq!(max_len_exponent(511), 0);
        assert_eq!(max_len_exponent(512), 0);
        assert_eq!(max_len_exponent(1023), 0);
        assert_eq!(max_len_exponent(1024), 1);
        assert_eq!(max_len_exponent((1 << 20) + 5), 11);
        assert_eq!(max_len_exponent(1 << 24), 15);
        assert_eq!(max_len_exponent(usize::MAX), 15);
        assert_eq!(advertised_max_len(3000), 2048);
        assert_eq!(advertised_max_len(usize::MAX), 1 << 24);
    }

    #[test]
    fn decodes_message_ping_pong() {
        let mut buf = BytesMut::new();
        encode_frame(FrameType::Message, b"[1,\"realm1\",{}]", &mut buf);
        encode_frame(FrameType::Ping, b"abc", &mut buf);
        encode_frame(FrameType::Pong, b"", &mut buf);
        assert_eq!(&buf[..4], &[0, 0, 0, 15]);
        let mut d = FrameDecoder::new(1 << 20);
        let got = decode_all(&mut d, &mut buf).unwrap();
        assert_eq!(
            got,
            vec![
                Incoming::Message(Bytes::from_static(b"[1,\"realm1\",{}]")),
                Incoming::Ping(Bytes::from_static(b"abc")),
                Incoming::Pong(Bytes::new()),
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn decodes_byte_by_byte() {
        let mut wire = BytesMut::new();
        encode_frame(FrameType::Message, &[7u8; 300], &mut wire);
        let mut d = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in wire.iter() {
            buf.put_u8(b);
            if let Some(item) = d.decode(&mut buf).unwrap() {
                got.push(item);
            }
        }
        assert_eq!(got, vec![Incoming::Message(Bytes::from(vec![7u8; 300]))]);
    }

    #[test]
    fn reserves_whole_frame_once_header_is_in() {
        let mut buf = BytesMut::from(&[0u8, 0x01, 0x00, 0x00, 1, 2][..]);
        let mut d = FrameDecoder::new(1 << 20);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() >= 4 + 0x10000);
        assert_eq!(buf.len(), 6);
    }

    #[test]
    fn reserved_bits_and_types_rejected() {
        let mut d = FrameDecoder::new(1 << 20);
        for b0 in [0x10u8, 0x80, 0xF0] {
            let mut buf = BytesMut::from(&[b0, 0, 0, 1, 0][..]);
            assert!(matches!(d.decode(&mut buf), Err(TransportError::Protocol(_))), "b0 {b0:#x}");
        }
        for ty in 3u8..8 {
            let mut buf = BytesMut::from(&[ty, 0, 0, 0][..]);
            assert!(matches!(d.decode(&mut buf), Err(TransportError::Protocol(_))), "type {ty}");
        }
    }

    #[test]
    fn oversize_rejected_on_header() {
        let mut d = FrameDecoder::new(1024);
        // 1025 bytes announced, no body present: rejected without buffering.
        let mut buf = BytesMut::from(&[0u8, 0, 0x04, 0x01][..]);
        match d.decode(&mut buf) {
            Err(TransportError::TooBig { size: 1025, limit: 1024 }) => {}
            other => panic!("{other:?}"),
        }
        // Pings are limited too.
        let mut buf = BytesMut::from(&[1u8, 0xFF, 0xFF, 0xFF][..]);
        assert!(matches!(d.decode(&mut buf), Err(TransportError::TooBig { .. })));
        // Exactly at the limit is fine.
        let mut buf = BytesMut::new();
        encode_frame(FrameType::Message, &[1u8; 1024], &mut buf);
        assert!(matches!(d.decode(&mut buf), Ok(Some(Incoming::Message(m))) if m.len() == 1024));
    }

    #[test]
    fn limit_is_the_advertised_power_of_two() {
        let mut d = FrameDecoder::new(1500);
        let mut buf = BytesMut::from(&[0u8, 0, 0x04, 0x01][..]);
        assert!(matches!(d.decode(&mut buf), Err(TransportError::TooBig { size: 1025, limit: 1024 })));
    }

    #[test]
    fn length_extension_bit() {
        let mut buf = BytesMut::new();
        frame_header(FrameType::Message, MAX_MAX_LEN, &mut buf);
        assert_eq!(&buf[..], &[0x08, 0, 0, 0]);
        buf.clear();
        frame_header(FrameType::Pong, MAX_MAX_LEN - 1, &mut buf);
        assert_eq!(&buf[..], &[0x02, 0xFF, 0xFF, 0xFF]);

        let mut d = FrameDecoder::new(MAX_MAX_LEN);
        let mut buf = BytesMut::new();
        encode_frame(FrameType::Message, &vec![9u8; MAX_MAX_LEN], &mut buf);
        assert!(matches!(d.decode(&mut buf), Ok(Some(Incoming::Message(m))) if m.len() == MAX_MAX_LEN));

        // X set together with other length bits would be more than 2^24.
        let mut buf = BytesMut::from(&[0x08u8, 0, 0, 1][..]);
        assert!(matches!(d.decode(&mut buf), Err(TransportError::Protocol(_))));
        // A 2^24 frame against a smaller limit.
        let mut d = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::from(&[0x08u8, 0, 0, 0][..]);
        assert!(matches!(d.decode(&mut buf), Err(TransportError::TooBig { size: MAX_MAX_LEN, .. })));
    }

    #[test]
    fn split_is_zero_copy() {
        let mut buf = BytesMut::new();
        encode_frame(FrameType::Message, b"hello", &mut buf);
        let body_ptr = buf[4..].as_ptr();
        let mut d = FrameDecoder::new(1 << 20);
        match d.decode(&mut buf).unwrap() {
            Some(Incoming::Message(m)) => assert_eq!(m.as_ptr(), body_ptr),
            other => panic!("{other:?}"),
        }
    }
}
