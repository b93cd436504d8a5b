//! `websocket_frames` and `rawsocket`: the inbound byte stream of an established connection, and the
//! RawSocket opening handshake.
//!
//! Input layout (so that seeds are plain wire bytes after a short prefix): byte 0 picks the message size
//! limit, byte 1 seeds where the stream is split into reads, the rest is the stream (for `rawsocket`, a
//! 4-byte client handshake comes first). Checked: decoding the stream in one piece and in fuzz-chosen
//! pieces gives the same items, the same first error and the same bytes left over; no message exceeds
//! the limit, no WebSocket control payload exceeds 125 bytes; every item re-encodes without panicking
//! (RawSocket: to the very frame it came from).

use bytes::BytesMut;
use switchyard::transport::rawsocket::{self, FrameType};
use switchyard::transport::websocket::frame as ws;
use switchyard::transport::{self, Decoder, Framing, Incoming};
use switchyard::wamp::codec::Serializer;

use crate::Rng;

/// The limits byte 0 chooses from: tiny, small, the RawSocket minimum, medium, the default, and none (a
/// configuration may set any `max_message_size`).
const LIMITS: [usize; 6] = [0, 125, 512, 70_000, 16 << 20, usize::MAX];

/// What decoding a stream gave: the items, the first error (as text) if any, and the bytes left over.
#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Incoming>,
    error: Option<String>,
    left: Vec<u8>,
}

/// Decodes `stream` read in pieces of the given sizes (the last piece takes the rest).
fn decode_in_pieces(framing: Framing, limit: usize, stream: &[u8], pieces: &[usize]) -> Outcome {
    let mut decoder = Decoder::new(framing, limit);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut rest = stream;
    let mut sizes = pieces.iter().copied();
    loop {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (piece, after) = rest.split_at(n);
        buf.extend_from_slice(piece);
        rest = after;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                // After an error the connection is failed: what is left over does not matter.
                Err(e) => return Outcome { items, error: Some(e.to_string()), left: Vec::new() },
            }
        }
        if rest.is_empty() {
            return Outcome { items, error: None, left: buf.to_vec() };
        }
    }
}

/// Read sizes drawn from `seed`: mostly small (byte-by-byte when the seed says so), sometimes large.
fn pieces(seed: u8, len: usize) -> Vec<usize> {
    let mut rng = Rng::new(u64::from(seed));
    let max = match seed % 4 {
        0 => 1,
        1 => 7,
        2 => 64,
        _ => 4096,
    };
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < len {
        let n = 1 + rng.below(max) as usize;
        sizes.push(n);
        total += n;
    }
    sizes
}

fn check_stream(framing: Framing, limit: usize, seed: u8, stream: &[u8]) -> Outcome {
    let whole = decode_in_pieces(framing, limit, stream, &[stream.len()]);
    let split = decode_in_pieces(framing, limit, stream, &pieces(seed, stream.len()));
    assert_eq!(whole, split, "{framing:?}: splitting the stream changes what is decoded");
    let max_message = match framing {
        Framing::RawSocket => rawsocket::advertised_max_len(limit),
        Framing::WebSocket => limit,
    };
    for item in &whole.items {
        match item {
            Incoming::Message(m) => {
                assert!(m.len() <= max_message, "{framing:?}: {} > {max_message}", m.len())
            }
            Incoming::Ping(p) | Incoming::Pong(p) if framing == Framing::WebSocket => {
                assert!(p.len() <= ws::MAX_CONTROL_PAYLOAD)
            }
            _ => {}
        }
        let mut out = BytesMut::new();
        match item {
            Incoming::Message(m) => {
                for serializer in Serializer::ALL {
                    transport::encode_message(framing, serializer, m, &mut out);
                }
            }
            Incoming::Ping(p) => {
                transport::encode_pong(framing, p, &mut out);
                transport::encode_ping(framing, p, &mut out);
            }
            Incoming::Pong(_) => {}
            Incoming::Close { code, reason } => {
                transport::encode_close(framing, code.unwrap_or(1000), reason, &mut out);
            }
        }
    }
    whole
}

/// `websocket_frames`: client frames of an established WebSocket connection.
pub fn websocket(data: &[u8]) {
    let [limit, seed, stream @ ..] = data else { return };
    let limit = LIMITS[usize::from(*limit) % LIMITS.len()];
    let outcome = check_stream(Framing::WebSocket, limit, *seed, stream);
    // Server-side encoders, with what the stream brought: a close reason is cut at a character boundary.
    let mut out = BytesMut::new();
    for item in &outcome.items {
        if let Incoming::Close { code, reason } = item {
            let long = reason.repeat(3);
            ws::encode_close(code.unwrap_or(1000), &long, &mut out);
            assert!(out.len() <= 2 + 125, "close frame too long");
            out.clear();
        }
    }
    // Unmasking agrees with a byte-by-byte XOR.
    if let [k0, k1, k2, k3, body @ ..] = stream {
        let key = [*k0, *k1, *k2, *k3];
        let mut fast = body.to_vec();
        ws::apply_mask(&mut fast, key);
        assert!(fast.iter().zip(body).enumerate().all(|(i, (f, b))| *f == b ^ key[i % 4]));
    }
}

/// `rawsocket`: the client's 4-octet handshake, then its frames.
pub fn rawsocket(data: &[u8]) {
    let [h0, h1, h2, h3, limit, seed, stream @ ..] = data else {
        if let Some(&[h0, h1, h2, h3]) = data.get(..4) {
            let _ = rawsocket::parse_client_handshake([h0, h1, h2, h3]);
        }
        return;
    };
    let request = [*h0, *h1, *h2, *h3];
    let limit = LIMITS[usize::from(*limit) % LIMITS.len()];
    match rawsocket::parse_client_handshake(request) {
        Ok(hello) => {
            assert_eq!(request[0], rawsocket::MAGIC);
            assert!((rawsocket::MIN_MAX_LEN..=rawsocket::MAX_MAX_LEN).contains(&hello.max_len));
            let reply = rawsocket::success_reply(hello.serializer, limit);
            assert_eq!(reply[0], rawsocket::MAGIC);
            assert_eq!(Serializer::from_rawsocket_id(reply[1] & 0x0F), Some(hello.serializer));
            assert_eq!(1usize << (9 + (reply[1] >> 4)), rawsocket::advertised_max_len(limit));
        }
        Err(rawsocket::Refusal::Reply(code)) => {
            let reply = rawsocket::error_reply(code);
            assert_eq!((reply[0], reply[1] & 0x0F, reply[1] >> 4), (rawsocket::MAGIC, 0, code as u8));
            let _ = code.describe();
        }
        Err(rawsocket::Refusal::NotRawSocket) => assert_ne!(request[0], rawsocket::MAGIC),
    }
    let outcome = check_stream(Framing::RawSocket, limit, *seed, stream);
    // Every item re-encodes to the frame it came from.
    let mut wire = BytesMut::new();
    for item in &outcome.items {
        match item {
            Incoming::Message(m) => rawsocket::encode_frame(FrameType::Message, m, &mut wire),
            Incoming::Ping(p) => rawsocket::encode_frame(FrameType::Ping, p, &mut wire),
            Incoming::Pong(p) => rawsocket::encode_frame(FrameType::Pong, p, &mut wire),
            Incoming::Close { .. } => panic!("RawSocket has no close frame"),
        }
    }
    assert!(stream.starts_with(&wire), "RawSocket frames do not re-encode to themselves");
    if outcome.error.is_none() {
        assert_eq!(
            wire.len() + outcome.left.len(),
            stream.len(),
            "RawSocket frames do not re-encode to themselves"
        );
    }
}
