//! RFC 6455 framing (section 5) for the server side, sans-I/O: decoding masked client frames (with
//! reassembly of fragmented messages and the protocol checks a server must make) and encoding unmasked
//! server frames. No extension is ever negotiated, so the RSV bits must be zero.
//!
//! Text frames are not checked for UTF-8 here: a text frame carries a `wamp.2.json` message, and the JSON
//! codec validates the bytes as it parses them.

use bytes::{Buf, BufMut, BytesMut};

use crate::transport::{Incoming, TransportError};

/// The longest header of a server (unmasked) frame: 2 bytes plus a 64-bit extended length.
pub const MAX_HEADER_LEN: usize = 10;

/// The largest payload of a control frame (close, ping, pong).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The most buffer capacity reserved ahead for a frame whose header is in (the default message size
/// limit). A larger frame (under a larger `max_message_size`) grows the buffer as its bytes arrive: a
/// header alone must not make the router reserve, or abort failing to reserve, what its length claims.
const MAX_RESERVE: usize = 16 << 20;

/// Frame opcodes (RFC 6455 section 5.2). Other values are reserved and fail the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// XORs `data` with the 4-byte masking `key` (RFC 6455 section 5.3), eight bytes at a time; the mask
/// starts at `data[0]`. Masking and unmasking are the same operation.
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let key8 = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ key8).to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, hence of 4: the key phase is its index.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends the header of a final, unmasked frame with a payload of `len` bytes.
pub fn frame_header(opcode: OpCode, len: usize, out: &mut BytesMut) {
    out.put_u8(0x80 | opcode as u8);
    if len < 126 {
        out.put_u8(len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.put_u8(126);
        out.put_u16(len16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
}

/// Appends a ping or pong frame; a payload longer than 125 bytes is truncated.
pub fn encode_control(opcode: OpCode, payload: &[u8], out: &mut BytesMut) {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    frame_header(opcode, payload.len(), out);
    out.extend_from_slice(payload);
}

/// Appends a Close frame; `reason` is cut at a character boundary so the payload fits 125 bytes.
pub fn encode_close(code: u16, reason: &str, out: &mut BytesMut) {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    frame_header(OpCode::Close, 2 + end, out);
    out.put_u16(code);
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

/// Close codes a peer may send (RFC 6455 section 7.4 and the IANA registry): 1004, 1005, 1006 and 1015
/// are reserved for local use, below 1000 and 1016..=2999 are unassigned or reserved.
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn parse_close(payload: &[u8]) -> Result<Incoming, TransportError> {
    match payload {
        [] => Ok(Incoming::Close { code: None, reason: String::new() }),
        [_] => Err(TransportError::Protocol("close frame with a 1-byte body".into())),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(TransportError::Protocol(format!("invalid close code {code}")));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| TransportError::Protocol("close reason is not valid UTF-8".into()))?;
            Ok(Incoming::Close { code: Some(code), reason: reason.to_owned() })
        }
    }
}

/// A parsed frame header.
struct Header {
    fin: bool,
    opcode: OpCode,
    /// Header length including the masking key.
    header_len: usize,
    payload_len: usize,
    mask: [u8; 4],
}

/// The frame decoder of an established WebSocket connection (client-to-server direction).
#[derive(Debug)]
pub struct FrameDecoder {
    limit: usize,
    /// The payload so far of a fragmented data message in progress.
    partial: Option<BytesMut>,
}

impl FrameDecoder {
    pub fn new(max_message_size: usize) -> FrameDecoder {
        FrameDecoder { limit: max_message_size, partial: None }
    }

    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, TransportError> {
        loop {
            let Some(h) = self.parse_header(buf)? else {
                return Ok(None);
            };
            let frame_len = h.header_len.saturating_add(h.payload_len);
            if buf.len() < frame_len {
                buf.reserve((frame_len - buf.len()).min(MAX_RESERVE));
                return Ok(None);
            }
            buf.advance(h.header_len);
            let mut payload = buf.split_to(h.payload_len);
            apply_mask(&mut payload, h.mask);
            match h.opcode {
                OpCode::Text | OpCode::Binary if h.fin => {
                    return Ok(Some(Incoming::Message(payload.freeze())))
                }
                OpCode::Text | OpCode::Binary => self.partial = Some(payload),
                OpCode::Continuation => {
                    // parse_header has checked that a fragmented message is in progress.
                    let mut partial = self.partial.take().unwrap_or_default();
                    partial.extend_from_slice(&payload);
                    if h.fin {
                        return Ok(Some(Incoming::Message(partial.freeze())));
                    }
                    self.partial = Some(partial);
                }
                OpCode::Close => return parse_close(&payload).map(Some),
                OpCode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
                OpCode::Pong => return Ok(Some(Incoming::Pong(payload.freeze()))),
            }
        }
    }

    /// Parses and checks the header at the front of `buf` without consuming it. Every check that the
    /// bytes present allow is made as early as possible, the size limit included (before the body).
    fn parse_header(&self, buf: &[u8]) -> Result<Option<Header>, TransportError> {
        let Some(&[b0, b1]) = buf.get(..2) else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(TransportError::Protocol("RSV bits set but no extension was negotiated".into()));
        }
        let fin = b0 & 0x80 != 0;
        let opcode = OpCode::from_bits(b0 & 0x0F)
            .ok_or_else(|| TransportError::Protocol(format!("reserved opcode 0x{:x}", b0 & 0x0F)))?;
        if b1 & 0x80 == 0 {
            return Err(TransportError::Protocol("client frame is not masked".into()));
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(TransportError::Protocol("fragmented control frame".into()));
            }
            if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                return Err(TransportError::Protocol("control frame payload over 125 bytes".into()));
            }
        } else {
            match (opcode, self.partial.is_some()) {
                (OpCode::Continuation, false) => {
                    return Err(TransportError::Protocol(
                        "continuation frame without a message to continue".into(),
                    ))
                }
                (OpCode::Text | OpCode::Binary, true) => {
                    return Err(TransportError::Protocol("new message inside a fragmented message".into()))
                }
                _ => {}
            }
        }
        let (len, len_end) = match len7 {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(bytes) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(bytes);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(TransportError::Protocol(
                            "64-bit frame length with the high bit set".into(),
                        ));
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        // Data frames count against the limit together with the fragments already received.
        let so_far = self.partial.as_ref().map_or(0, |p| p.len() as u64);
        let total = so_far.saturating_add(len);
        if !opcode.is_control() && total > self.limit as u64 {
            let size = usize::try_from(total).unwrap_or(usize::MAX);
            return Err(TransportError::TooBig { size, limit: self.limit });
        }
        let Some(&[k0, k1, k2, k3]) = buf.get(len_end..len_end + 4) else {
            return Ok(None);
        };
        // len <= limit (data) or <= 125 (control), so it fits a usize.
        let payload_len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(Some(Header { fin, opcode, header_len: len_end + 4, payload_len, mask: [k0, k1, k2, k3] }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client frame as a real client would send it: masked, with the shortest length encoding.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&KEY);
        let start = out.len();
        out.extend_from_slice(payload);
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= KEY[i % 4];
        }
        out
    }

    fn decode_all(d: &mut FrameDecoder, bytes: &[u8]) -> Result<Vec<Incoming>, TransportError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(item) = d.decode(&mut buf)? {
            out.push(item);
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        Ok(out)
    }

    fn decoder() -> FrameDecoder {
        FrameDecoder::new(1 << 20)
    }

    fn msg(bytes: &[u8]) -> Incoming {
        Incoming::Message(Bytes::copy_from_slice(bytes))
    }

    fn assert_protocol(bytes: &[u8]) {
        let mut d = decoder();
        let mut buf = BytesMut::from(bytes);
        let r = d.decode(&mut buf);
        assert!(matches!(r, Err(TransportError::Protocol(_))), "{bytes:02x?}: {r:?}");
    }

    #[test]
    fn mask_matches_bytewise_xor_at_any_length_and_alignment() {
        let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(31)).collect();
        for offset in 0..8 {
            for len in 0..(data.len() - offset) {
                let mut fast = data[offset..offset + len].to_vec();
                apply_mask(&mut fast, KEY);
                let slow: Vec<u8> =
                    data[offset..offset + len].iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]).collect();
                assert_eq!(fast, slow, "offset {offset} len {len}");
            }
        }
    }

    #[test]
    fn text_and_binary_messages() {
        let mut wire = client_frame(true, 1, b"[1,\"realm1\",{}]");
        wire.extend(client_frame(true, 2, &[0x93, 0x01, 0xa1, 0x61]));
        wire.extend(client_frame(true, 2, b""));
        let got = decode_all(&mut decoder(), &wire).unwrap();
        assert_eq!(got, vec![msg(b"[1,\"realm1\",{}]"), msg(&[0x93, 0x01, 0xa1, 0x61]), msg(b"")]);
    }

    #[test]
    fn lengths_7_16_and_64_bit() {
        for len in [0usize, 1, 125, 126, 127, 300, 0xFFFF, 0x10000, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let got = decode_all(&mut decoder(), &client_frame(true, 2, &payload)).unwrap();
            assert_eq!(got, vec![msg(&payload)], "len {len}");
        }
    }

    #[test]
    fn non_minimal_length_encoding_is_accepted() {
        let mut wire = vec![0x82, 0x80 | 126, 0, 3];
        wire.extend_from_slice(&KEY);
        wire.extend([1 ^ KEY[0], 2 ^ KEY[1], 3 ^ KEY[2]]);
        assert_eq!(decode_all(&mut decoder(), &wire).unwrap(), vec![msg(&[1, 2, 3])]);
    }

    #[test]
    fn byte_by_byte_feeding() {
        let payload = vec![0x5a; 200];
        let mut wire = client_frame(false, 1, &payload[..50]);
        wire.extend(client_frame(true, 9, b"hi"));
        wire.extend(client_frame(true, 0, &payload[50..]));
        let mut d = decoder();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in &wire {
            buf.put_u8(b);
            while let Some(item) = d.decode(&mut buf).unwrap() {
                got.push(item);
            }
        }
        assert_eq!(got, vec![Incoming::Ping(Bytes::from_static(b"hi")), msg(&payload)]);
        assert!(buf.is_empty());
    }

    #[test]
    fn unfragmented_message_is_zero_copy() {
        let mut buf = BytesMut::from(&client_frame(true, 1, b"[6,{},\"bye\"]")[..]);
        let body_ptr = buf[6..].as_ptr();
        match decoder().decode(&mut buf).unwrap() {
            Some(Incoming::Message(m)) => {
                assert_eq!(&m[..], b"[6,{},\"bye\"]");
                assert_eq!(m.as_ptr(), body_ptr);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fragmented_message_with_interleaved_control_frames() {
        let mut wire = client_frame(false, 1, b"[1,");
        wire.extend(client_frame(true, 9, b"ping-1"));
        wire.extend(client_frame(false, 0, b"\"realm1\""));
        wire.extend(client_frame(true, 10, b"pong-1"));
        wire.extend(client_frame(false, 0, b""));
        wire.extend(client_frame(true, 0, b",{}]"));
        wire.extend(client_frame(true, 1, b"[6,{},\"x\"]"));
        let got = decode_all(&mut decoder(), &wire).unwrap();
        assert_eq!(
            got,
            vec![
                Incoming::Ping(Bytes::from_static(b"ping-1")),
                Incoming::Pong(Bytes::from_static(b"pong-1")),
                msg(b"[1,\"realm1\",{}]"),
                msg(b"[6,{},\"x\"]"),
            ]
        );
    }

    #[test]
    fn unmasked_frame_rejected() {
        assert_protocol(&[0x81, 0x02, b'h', b'i']);
    }

    #[test]
    fn rsv_bits_rejected() {
        for rsv in [0x40u8, 0x20, 0x10] {
            let mut wire = client_frame(true, 1, b"x");
            wire[0] |= rsv;
            assert_protocol(&wire);
        }
    }

    #[test]
    fn reserved_opcodes_rejected() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_protocol(&client_frame(true, op, b""));
        }
    }

    #[test]
    fn control_frame_rules() {
        // Over 125 bytes.
        assert_protocol(&client_frame(true, 9, &[0u8; 126]));
        assert_protocol(&client_frame(true, 8, &[0x03, 0xe8].repeat(63)));
        // Fragmented.
        assert_protocol(&client_frame(false, 9, b"x"));
        assert_protocol(&client_frame(false, 10, b""));
        assert_protocol(&client_frame(false, 8, &[0x03, 0xe8]));
        // 125 bytes is fine.
        let got = decode_all(&mut decoder(), &client_frame(true, 9, &[7u8; 125])).unwrap();
        assert_eq!(got, vec![Incoming::Ping(Bytes::from(vec![7u8; 125]))]);
    }

    #[test]
    fn continuation_without_start_rejected() {
        assert_protocol(&client_frame(true, 0, b"x"));
        assert_protocol(&client_frame(false, 0, b"x"));
        // After a completed message, too.
        let mut d = decoder();
        let mut wire = client_frame(true, 1, b"a");
        wire.extend(client_frame(true, 0, b"b"));
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(d.decode(&mut buf).unwrap(), Some(msg(b"a")));
        assert!(matches!(d.decode(&mut buf), Err(TransportError::Protocol(_))));
    }

    #[test]
    fn new_message_during_fragmentation_rejected() {
        let mut d = decoder();
        let mut wire = client_frame(false, 1, b"a");
        wire.extend(client_frame(true, 2, b"b"));
        let mut buf = BytesMut::from(&wire[..]);
        assert!(matches!(d.decode(&mut buf), Err(TransportError::Protocol(_))));
    }

    #[test]
    fn text_and_binary_both_accepted_in_fragments() {
        let mut wire = client_frame(false, 2, b"ab");
        wire.extend(client_frame(true, 0, b"cd"));
        assert_eq!(decode_all(&mut decoder(), &wire).unwrap(), vec![msg(b"abcd")]);
    }

    #[test]
    fn oversize_rejected_on_header_before_body() {
        let mut d = FrameDecoder::new(1000);
        // 16-bit length header only: 1001 announced.
        let mut buf = BytesMut::from(&[0x82u8, 0x80 | 126, 0x03, 0xE9][..]);
        match d.decode(&mut buf) {
            Err(TransportError::TooBig { size: 1001, limit: 1000 }) => {}
            other => panic!("{other:?}"),
        }
        // 64-bit length, no mask key or body yet.
        let mut buf = BytesMut::from(&[0x81u8, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0][..]);
        match d.decode(&mut buf) {
            Err(TransportError::TooBig { size, limit: 1000 }) => assert_eq!(size, 1 << 32),
            other => panic!("{other:?}"),
        }
        assert!(buf.capacity() < 1 << 20, "nothing was allocated for the announced body");
        // The high bit of a 64-bit length must be clear.
        assert_protocol(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        // Exactly at the limit is fine.
        let got = decode_all(&mut d, &client_frame(true, 2, &[1u8; 1000])).unwrap();
        assert_eq!(got, vec![msg(&[1u8; 1000])]);
    }

    #[test]
    fn oversize_across_fragments() {
        let mut d = FrameDecoder::new(10);
        let mut wire = client_frame(false, 1, b"123456");
        wire.extend(client_frame(true, 9, b"control frames do not count"));
        wire.extend(&client_frame(false, 0, b"12345")[..2]);
        let mut buf = BytesMut::from(&wire[..]);
        assert!(matches!(d.decode(&mut buf), Ok(Some(Incoming::Ping(_)))));
        match d.decode(&mut buf) {
            Err(TransportError::TooBig { size: 11, limit: 10 }) => {}
            other => panic!("{other:?}"),
        }
        // Up to the limit in total is fine.
        let mut d = FrameDecoder::new(10);
        let mut wire = client_frame(false, 1, b"123456");
        wire.extend(client_frame(true, 0, b"7890"));
        assert_eq!(decode_all(&mut d, &wire).unwrap(), vec![msg(b"1234567890")]);
    }

    #[test]
    fn reserves_capacity_for_the_whole_frame() {
        let wire = client_frame(true, 2, &[0u8; 5000]);
        let mut buf = BytesMut::from(&wire[..100]);
        assert_eq!(decoder().decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() >= wire.len());
        assert_eq!(buf.len(), 100);
    }

    #[test]
    fn reservation_is_bounded_whatever_the_length_claims() {
        // With no practical limit configured, a header claiming 2^62 bytes used to make the decoder
        // reserve them: the allocation failed and the process aborted.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        header.extend_from_slice(&KEY);
        let mut buf = BytesMut::from(&header[..]);
        assert_eq!(FrameDecoder::new(usize::MAX).decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() <= header.len() + MAX_RESERVE);
    }

    #[test]
    fn close_frames() {
        let got = decode_all(&mut decoder(), &client_frame(true, 8, b"")).unwrap();
        assert_eq!(got, vec![Incoming::Close { code: None, reason: String::new() }]);
        let got = decode_all(&mut decoder(), &client_frame(true, 8, b"\x03\xe8goodbye")).unwrap();
        assert_eq!(got, vec![Incoming::Close { code: Some(1000), reason: "goodbye".into() }]);
        let got = decode_all(&mut decoder(), &client_frame(true, 8, b"\x0f\xa0")).unwrap();
        assert_eq!(got, vec![Incoming::Close { code: Some(4000), reason: String::new() }]);
        // One-byte body, reserved codes, invalid UTF-8.
        assert_protocol(&client_frame(true, 8, b"\x03"));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_protocol(&client_frame(true, 8, &code.to_be_bytes()));
        }
        assert_protocol(&client_frame(true, 8, b"\x03\xe8\xff\xfe"));
    }

    #[test]
    fn encodes_server_frame_headers() {
        let cases: [(usize, &[u8]); 5] = [
            (0, &[0x82, 0]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (0xFFFF, &[0x82, 126, 0xFF, 0xFF]),
            (0x10000, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ];
        for (len, expected) in cases {
            let mut out = BytesMut::new();
            frame_header(OpCode::Binary, len, &mut out);
            assert_eq!(&out[..], expected, "len {len}");
        }
        let mut out = BytesMut::new();
        frame_header(OpCode::Text, 3, &mut out);
        assert_eq!(&out[..], &[0x81, 3]);
    }

    #[test]
    fn encodes_control_frames() {
        let mut out = BytesMut::new();
        encode_control(OpCode::Pong, b"abc", &mut out);
        assert_eq!(&out[..], b"\x8a\x03abc");
        out.clear();
        encode_control(OpCode::Ping, &[1u8; 200], &mut out);
        assert_eq!(out.len(), 2 + 125);
        assert_eq!(&out[..2], &[0x89, 125]);
        out.clear();
        encode_close(1000, "bye", &mut out);
        assert_eq!(&out[..], b"\x88\x05\x03\xe8bye");
        out.clear();
        // 62 two-byte characters = 124 bytes: cut to 61 characters (122 bytes), a whole character.
        let reason = "é".repeat(62);
        encode_close(1009, &reason, &mut out);
        assert_eq!(out[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
