//! `codec_json`, `codec_msgpack`, `codec_cbor`: one inbound frame in one serializer.
//!
//! Checked for every input: `decode` and `decode_value` return (no panic, no stack overflow); a lower
//! depth limit (derived from the input) gives the same message or `TooDeep` with that limit, never
//! anything else. For a decoded message: validation returns; encoding it in the same serializer and
//! decoding that gives the same message, which encodes to the same bytes again; its payload parses,
//! transcodes into every serializer and back; the message encodes into the other serializers and what
//! comes out decodes there. For a decoded value: it encodes to bytes that decode to the same value.

use bytes::{Bytes, BytesMut};
use switchyard::wamp::codec::{self, DecodeError, Serializer, MAX_DEPTH};
use switchyard::wamp::{validate, Dict, Message, Value};

use crate::same;

/// A value as it comes back from a trip through JSON: strings starting with U+0000 (which JSON cannot
/// hold as strings, section 15.4) became binary, non-finite floats (which JSON cannot express) null.
fn through_json(value: &Value) -> Value {
    match value {
        Value::Str(s) if s.starts_with('\0') => Value::Bytes(s.as_bytes().to_vec()),
        Value::Float(f) if !f.is_finite() => Value::Null,
        Value::List(list) => Value::List(list.iter().map(through_json).collect()),
        Value::Dict(dict) => Value::Dict(through_json_dict(dict)),
        other => other.clone(),
    }
}

fn through_json_dict(dict: &Dict) -> Dict {
    dict.iter().map(|(k, v)| (k.clone(), through_json(v))).collect()
}

/// Whether a header string (a URI, realm, reason ...) starts with U+0000: MessagePack and CBOR can carry
/// it, JSON cannot (it would be binary, which no header string may be).
fn nul_led_header_string(message: &Message) -> bool {
    let s = match message {
        Message::Hello { realm: s, .. }
        | Message::Abort { reason: s, .. }
        | Message::Goodbye { reason: s, .. }
        | Message::Challenge { authmethod: s, .. }
        | Message::Authenticate { signature: s, .. }
        | Message::Error { error: s, .. }
        | Message::Publish { topic: s, .. }
        | Message::Subscribe { topic: s, .. }
        | Message::Call { procedure: s, .. }
        | Message::Register { procedure: s, .. } => s,
        _ => return false,
    };
    s.starts_with('\0')
}

pub fn run(format: Serializer, data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    let decoded = codec::decode(format, frame.clone());
    check_depth_limit(format, &frame, &decoded);
    if let Ok(value) = codec::decode_value(format, data) {
        let mut out = BytesMut::new();
        codec::encode_value(format, &value, &mut out);
        let again = codec::decode_value(format, &out)
            .unwrap_or_else(|e| panic!("{format:?}: {value:?} re-encoded does not decode: {e}"));
        assert!(same(&again, &value), "{format:?}: {value:?} re-encoded decodes to {again:?}");
        for to in Serializer::ALL {
            out.clear();
            codec::encode_value(to, &value, &mut out);
            let _ = codec::decode_value(to, &out);
        }
    }
    if let Ok(message) = decoded {
        check_message(format, &message);
    }
}

/// A lower depth limit changes nothing but that deeper input fails with `TooDeep`.
fn check_depth_limit(format: Serializer, frame: &Bytes, full: &Result<Message, DecodeError>) {
    let limit = usize::from(frame.last().copied().unwrap_or(0) % 12);
    let limited = codec::decode_with_depth(format, frame.clone(), limit);
    match (full, &limited) {
        (Ok(a), Ok(b)) => assert!(same(a, b), "{format:?}: limit {limit} decodes differently"),
        (Err(e), Ok(_)) => {
            panic!("{format:?}: accepted with depth limit {limit}, refused with {MAX_DEPTH}: {e}")
        }
        (_, Err(DecodeError::TooDeep { limit: reported })) => assert_eq!(*reported, limit),
        (Ok(_), Err(e)) => panic!("{format:?}: refused with depth limit {limit} for another reason: {e}"),
        (Err(_), Err(_)) => {}
    }
}

fn check_message(format: Serializer, message: &Message) {
    let _ = validate::validate(message);
    let _ = message.name();
    let bytes = codec::encode_to_bytes(message, format);
    let again = codec::decode(format, bytes.clone())
        .unwrap_or_else(|e| panic!("{format:?}: {message:?} re-encoded does not decode: {e}"));
    assert!(same(&again, message), "{format:?}: {message:?} re-encoded decodes to {again:?}");
    assert_eq!(codec::encode_to_bytes(&again, format), bytes, "{format:?}: encoding is not stable");

    if let Some(payload) = message.payload() {
        let values = payload.to_values();
        let transparent = payload.transparent();
        for to in Serializer::ALL {
            let Ok(there) = payload.transcode(to) else { continue };
            assert_eq!(there.format, to);
            let _ = there.to_values();
            // Transcoding is lossless between the serializers, bar what JSON cannot hold (checked by
            // transcoding back): binary goes to base64 strings and back.
            if let Ok(back) = there.transcode(format) {
                assert_eq!(back.is_transparent(), payload.is_transparent(), "{format:?} -> {to:?}");
                let json = to == Serializer::Json;
                if let (Ok((args, kwargs)), Ok(b)) = (&values, back.to_values()) {
                    let a = match json {
                        true => (
                            args.as_ref().map(|l| l.iter().map(through_json).collect()),
                            kwargs.as_ref().map(through_json_dict),
                        ),
                        false => (args.clone(), kwargs.clone()),
                    };
                    assert!(same(&a, &b), "{format:?} -> {to:?} -> {format:?}: {a:?} became {b:?}");
                }
                if let (Ok(a), Ok(b)) = (&transparent, back.transparent()) {
                    let a = if json { a.as_ref().map(through_json) } else { a.clone() };
                    assert!(same(&a, &b), "{format:?} -> {to:?} -> {format:?}: {a:?} became {b:?}");
                }
            }
        }
    }

    for to in Serializer::ALL {
        let mut out = BytesMut::new();
        if codec::try_encode(message, to, &mut out).is_ok() {
            match codec::decode(to, out.freeze()) {
                Ok(there) => drop(validate::validate(&there)),
                // Nothing in the codec can give such a header string a JSON form.
                Err(_) if to == Serializer::Json && nul_led_header_string(message) => {}
                Err(e) => panic!("{format:?} -> {to:?}: {message:?} transcoded does not decode: {e}"),
            }
        }
        let _ = codec::encode_to_bytes(message, to);
    }
}
