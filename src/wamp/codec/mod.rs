//! The serializer layer (sections 2.2, 15.1, 15.4): JSON, MessagePack and CBOR, sans-I/O.
//!
//! A router forwards application payloads it never needs to look at (section 3.3), so [`decode`] turns
//! only a message's header elements into values and keeps `Arguments|list` / `ArgumentsKw|dict` as
//! zero-copy spans of the received frame, checked just enough to be known well-formed (a validating
//! structural skip in MessagePack and CBOR; simd-json's validation of the whole frame in JSON).
//! [`encode`] splices such spans back verbatim when the target serializer is the one they arrived in and
//! transcodes them otherwise. Every parser here is bounds-checked and depth-limited: no input can make it
//! panic, overflow the stack, or allocate more than the input's own size justifies.
//!
//! Each format is built on the crate of its field, with this layer's own bounds, depth and UTF-8 checks
//! around it: JSON on simd-json (validation and parsing into a tape, payload spans from its structural
//! indexes, output through its generator's escaping and number formatting), MessagePack on rmp (markers,
//! lengths and scalars read and written by `rmp::decode` / `rmp::encode`), CBOR on ciborium-ll (item heads
//! read and written by its `Decoder` / `Encoder`). See each module for the details.
//!
//! Payload Passthru Mode / end-to-end encryption (section 14.1): besides the draft's `[Payload|binary]`
//! list, autobahn and the WAMP test suite put the opaque payload *in place of* `Arguments|list` as one bare
//! binary (or string) element with no `ArgumentsKw`. Such a "transparent" payload is accepted in the
//! `Arguments` position of the messages that allow passthru (not ABORT); it is kept in [`Payload::args`]
//! and is forwarded, spliced and transcoded like any other span. See [`Payload::transparent`].

mod cbor;
mod json;
mod msgpack;
mod schema;
mod transcode;

use bytes::{Bytes, BytesMut};

use super::message::{Message, Payload};
use super::value::{Dict, Value};

/// How deep lists and dicts may nest at most, whatever limit [`decode_with_depth`] is given: the ceiling that
/// keeps the recursive parsers from exhausting the stack. Deeper input is rejected with
/// [`DecodeError::TooDeep`].
///
/// Depth counts containers from the outside of the whole frame: the message's own list is level 1, a
/// dict or the `Arguments|list` in it level 2, a list inside that level 3, and so on (a scalar adds
/// nothing). In CBOR a tag counts as a level too (it wraps the item after it), except the self-describe
/// tags that may precede the message list. [`decode_value`] and transcoding count from the value itself:
/// a bare list is level 1.
pub const MAX_DEPTH: usize = 128;

/// A WAMP serializer (section 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Serializer {
    #[default]
    Json,
    MsgPack,
    Cbor,
}

impl Serializer {
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// A dense index (0, 1, 2), for per-serializer caches.
    pub fn index(self) -> usize {
        match self {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }

    /// The serializer number in the RawSocket handshake (section 15.1).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.rawsocket_id() == id)
    }

    /// The WebSocket subprotocol name (section 2.3.1).
    pub fn ws_subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    pub fn from_ws_subprotocol(s: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|f| f.ws_subprotocol() == s)
    }

    /// Whether messages travel in binary WebSocket frames (JSON travels in text frames).
    pub fn is_binary(self) -> bool {
        self != Serializer::Json
    }

    /// The configuration name: `"json"`, `"msgpack"` or `"cbor"`.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// The format's proper name, for error messages.
    fn label(self) -> &'static str {
        match self {
            Serializer::Json => "JSON",
            Serializer::MsgPack => "MessagePack",
            Serializer::Cbor => "CBOR",
        }
    }
}

/// Why bytes could not be decoded into a message or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not well-formed in the serializer's format.
    #[error("invalid {} at byte {offset}: {reason}", .format.label())]
    Syntax { format: Serializer, offset: usize, reason: &'static str },
    /// Lists and dicts nest deeper than `limit` levels (see [`MAX_DEPTH`] for how levels are counted):
    /// the limit given to [`decode_with_depth`], or [`MAX_DEPTH`].
    #[error("nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// Well-formed, but the value has no [`Value`] equivalent (e.g. a MessagePack extension type).
    #[error("unsupported {} value at byte {offset}: {reason}", .format.label())]
    Unsupported { format: Serializer, offset: usize, reason: &'static str },
    #[error("message is not a list")]
    NotAList,
    #[error("message is an empty list")]
    EmptyMessage,
    #[error("message type must be a non-negative integer")]
    MessageType,
    #[error("unknown message type {0}")]
    UnknownType(u64),
    #[error("{message}: wrong number of elements ({count})")]
    Arity { message: &'static str, count: usize },
    #[error("{message}: element {index} ({name}) must be {expected}")]
    Element { message: &'static str, index: usize, name: &'static str, expected: &'static str },
    /// A payload span does not hold what its position requires (only for hand-built [`Payload`]s).
    #[error("payload {name} is not {expected}")]
    PayloadShape { name: &'static str, expected: &'static str },
    /// [`Payload::to_values`] on a transparent (passthru) payload, which has no arguments to parse.
    #[error("payload is transparent (Payload Passthru Mode), not Arguments|list / ArgumentsKw|dict")]
    TransparentPayload,
}

/// Decodes one whole WAMP message (one transport frame), nested at most [`MAX_DEPTH`] levels deep.
///
/// Header elements are parsed; `Arguments|list` and `ArgumentsKw|dict` become zero-copy slices of `frame`
/// in the returned message's [`Payload`], after a validating skip. Trailing bytes after the message's list
/// are an error.
pub fn decode(format: Serializer, frame: Bytes) -> Result<Message, DecodeError> {
    decode_with_depth(format, frame, MAX_DEPTH)
}

/// [`decode`] with a nesting limit of `max_depth` levels (clamped to [`MAX_DEPTH`]), counted over the
/// whole frame with the message's own list as level 1 (see [`MAX_DEPTH`]); so the payload's contents
/// may nest `max_depth - 2` levels deep, and a limit of 0 rejects every message. Deeper input fails
/// with [`DecodeError::TooDeep`]. The limit is checked by the parsers as they descend, at no extra
/// cost.
pub fn decode_with_depth(format: Serializer, frame: Bytes, max_depth: usize) -> Result<Message, DecodeError> {
    let limit = max_depth.min(MAX_DEPTH);
    match format {
        Serializer::Json => json::decode(&frame, limit),
        Serializer::MsgPack => {
            let mut walker = msgpack::Walker::open(&frame, limit)?;
            schema::decode_message(&mut walker, &frame, format)
        }
        Serializer::Cbor => {
            let mut walker = cbor::Walker::open(&frame, limit)?;
            schema::decode_message(&mut walker, &frame, format)
        }
    }
}

/// Encodes a message, appending it to `out`.
///
/// Payload spans already in `format` are spliced verbatim; others are transcoded. A payload that cannot be
/// represented in `format` (see [`Payload::transcode`]: e.g. a MessagePack extension type bound for JSON) is
/// left out — the message goes without `Arguments`/`ArgumentsKw`. Use [`try_encode`] or transcode first
/// to detect that case.
pub fn encode(message: &Message, format: Serializer, out: &mut BytesMut) {
    let payload = message.payload().and_then(|p| p.transcode(format).ok());
    schema::encode_message(message, payload.as_ref(), format, out);
}

/// Like [`encode`], but fails instead of leaving out a payload that cannot be transcoded.
pub fn try_encode(message: &Message, format: Serializer, out: &mut BytesMut) -> Result<(), DecodeError> {
    let payload = message.payload().map(|p| p.transcode(format)).transpose()?;
    schema::encode_message(message, payload.as_ref(), format, out);
    Ok(())
}

/// [`encode`] into a fresh buffer.
pub fn encode_to_bytes(message: &Message, format: Serializer) -> Bytes {
    let hint = message.payload().map_or(0, Payload::len);
    let mut out = BytesMut::with_capacity(96 + hint + hint / 3);
    encode(message, format, &mut out);
    out.freeze()
}

/// Decodes one complete value (surrounding JSON whitespace is allowed, anything else after it is not).
pub fn decode_value(format: Serializer, bytes: &[u8]) -> Result<Value, DecodeError> {
    match format {
        Serializer::Json => json::decode_value(bytes),
        Serializer::MsgPack => msgpack::decode_value(bytes),
        Serializer::Cbor => cbor::decode_value(bytes),
    }
}

/// Encodes one value, appending it to `out`. Binary becomes `"\u0000" + base64` in JSON (section 15.4);
/// what JSON cannot express becomes the nearest thing it can: non-finite floats `null`, and a string that
/// starts with U+0000 (in JSON the mark of binary data) the binary value of its UTF-8 bytes.
pub fn encode_value(format: Serializer, value: &Value, out: &mut BytesMut) {
    match format {
        Serializer::Json => json::write_value(out, value),
        Serializer::MsgPack => msgpack::write_value(out, value),
        Serializer::Cbor => cbor::write_value(out, value),
    }
}

/// Whether an encoded payload element is a transparent payload (a string or binary) rather than a list.
fn is_transparent_element(format: Serializer, element: &[u8]) -> bool {
    let Some(&first) = element.first() else {
        return false;
    };
    match format {
        Serializer::Json => first == b'"',
        Serializer::MsgPack => msgpack::is_str_or_bin_marker(first),
        Serializer::Cbor => cbor::is_string(element),
    }
}

impl Payload {
    /// The same payload encoded in `target`: a cheap clone of the spans when it already is, a transcoding
    /// otherwise (binary values become `"\u0000" + base64` strings in JSON and back).
    pub fn transcode(&self, target: Serializer) -> Result<Payload, DecodeError> {
        if self.format == target || self.is_empty() {
            return Ok(Payload { format: target, args: self.args.clone(), kwargs: self.kwargs.clone() });
        }
        let mut out = BytesMut::with_capacity(self.len() + self.len() / 3 + 8);
        if let Some(args) = &self.args {
            transcode::transcode(self.format, args, target, &mut out)?;
        }
        let args = self.args.as_ref().map(|_| out.split().freeze());
        if let Some(kwargs) = &self.kwargs {
            transcode::transcode(self.format, kwargs, target, &mut out)?;
        }
        let kwargs = self.kwargs.as_ref().map(|_| out.split().freeze());
        Ok(Payload { format: target, args, kwargs })
    }

    /// Builds a payload from values (router-generated errors and results).
    pub fn from_values(format: Serializer, args: Option<&[Value]>, kwargs: Option<&Dict>) -> Payload {
        let mut out = BytesMut::new();
        let args = args.map(|list| {
            match format {
                Serializer::Json => json::write_list(&mut out, list),
                Serializer::MsgPack => msgpack::write_list(&mut out, list),
                Serializer::Cbor => cbor::write_list(&mut out, list),
            }
            out.split().freeze()
        });
        let kwargs = kwargs.map(|dict| {
            match format {
                Serializer::Json => json::write_dict(&mut out, dict),
                Serializer::MsgPack => msgpack::write_dict(&mut out, dict),
                Serializer::Cbor => cbor::write_dict(&mut out, dict),
            }
            out.split().freeze()
        });
        Payload { format, args, kwargs }
    }

    /// Builds a transparent payload (Payload Passthru Mode): `data` as one binary element in place of
    /// `Arguments|list`.
    pub fn from_transparent(format: Serializer, data: &[u8]) -> Payload {
        let mut out = BytesMut::new();
        encode_value(format, &Value::Bytes(data.to_vec()), &mut out);
        Payload { format, args: Some(out.freeze()), kwargs: None }
    }

    /// Whether this is a transparent payload: one string or binary element in place of `Arguments|list`.
    pub fn is_transparent(&self) -> bool {
        self.args.as_ref().is_some_and(|a| is_transparent_element(self.format, a))
    }

    /// The value of a transparent payload ([`Value::Bytes`], or [`Value::Str`] when a peer sent text),
    /// `None` for an ordinary payload.
    pub fn transparent(&self) -> Result<Option<Value>, DecodeError> {
        match &self.args {
            Some(args) if is_transparent_element(self.format, args) => {
                decode_value(self.format, args).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Parses the payload into values (tests, meta API). Fails for a transparent payload.
    pub fn to_values(&self) -> Result<(Option<Vec<Value>>, Option<Dict>), DecodeError> {
        if self.is_transparent() {
            return Err(DecodeError::TransparentPayload);
        }
        let args = match &self.args {
            None => None,
            Some(bytes) => match decode_value(self.format, bytes)? {
                Value::List(list) => Some(list),
                _ => return Err(DecodeError::PayloadShape { name: "Arguments", expected: "a list" }),
            },
        };
        let kwargs = match &self.kwargs {
            None => None,
            Some(bytes) => match decode_value(self.format, bytes)? {
                Value::Dict(dict) => Some(dict),
                _ => return Err(DecodeError::PayloadShape { name: "ArgumentsKw", expected: "a dict" }),
            },
        };
        Ok((args, kwargs))
    }
}

#[cfg(test)]
mod tests;
