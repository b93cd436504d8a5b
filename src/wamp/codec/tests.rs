//! Message-level tests across all three serializers: round trips of every message type, zero-copy spans,
//! transcoding between each pair, error messages, and robustness against truncated and random input.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::dict;
use crate::wamp::message::{code, MAX_ID};
use crate::wamp::validate;

/// A small deterministic PRNG (xorshift64*), so the randomized tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random value that every format represents exactly (no NaN, no string starting with U+0000).
    fn value(&mut self, depth: usize) -> Value {
        let kinds = if depth >= 4 { 8 } else { 10 };
        match self.below(kinds) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 1),
            2 => Value::Int(self.next() as i64 >> self.below(64)),
            3 => Value::from(self.next() | (1 << 63)),
            4 => {
                let f = f64::from_bits(self.next());
                Value::Float(if f.is_finite() { f } else { 0.25 })
            }
            5 | 6 => {
                let alphabet = ["a", "Z", "é", "\"", "\\", "\n", "\u{1}", "\u{1F600}", " ", "\0", "/"];
                let len = self.below(12);
                let s: String =
                    (0..len).map(|_| alphabet[self.below(alphabet.len() as u64) as usize]).collect();
                Value::Str(if s.starts_with('\0') { format!("x{s}") } else { s })
            }
            7 => Value::Bytes((0..self.below(20)).map(|_| self.next() as u8).collect()),
            8 => Value::List((0..self.below(5)).map(|_| self.value(depth + 1)).collect()),
            _ => Value::Dict(
                (0..self.below(5))
                    .map(|i| (format!("k{i}{}", self.below(3)), self.value(depth + 1)))
                    .collect(),
            ),
        }
    }
}

/// A frame built from raw elements (to embed hand-made payloads).
fn frame_of(format: Serializer, elems: &[schema::Elem<'_>]) -> Bytes {
    let mut frame = BytesMut::new();
    match format {
        Serializer::Json => json::write_message(&mut frame, elems),
        Serializer::MsgPack => msgpack::write_message(&mut frame, elems),
        Serializer::Cbor => cbor::write_message(&mut frame, elems),
    }
    frame.freeze()
}

fn sample_args() -> Vec<Value> {
    vec![
        Value::from("Hello, wörld! \u{1F600} \"quoted\" \\ \n\t\u{7}"),
        Value::Int(-42),
        Value::UInt(u64::MAX),
        Value::Int(1 << 53),
        Value::Float(std::f64::consts::PI),
        Value::Float(-1.5e-300),
        Value::Bytes(vec![0, 1, 2, 254, 255]),
        Value::Null,
        Value::Bool(true),
        Value::List(vec![Value::List(vec![]), Value::Dict(dict! {})]),
    ]
}

fn sample_kwargs() -> Dict {
    dict! {
        "color" => "orange",
        "nested" => dict! { "bin" => Value::Bytes(b"\x00binary\xff".to_vec()), "n" => Value::Int(-7) },
        "ünïcode" => vec![Value::from("ß"), Value::Float(0.5)],
    }
}

/// One message of every type, with payloads in `format`.
fn all_messages(format: Serializer) -> Vec<Message> {
    let both = Payload::from_values(format, Some(&sample_args()), Some(&sample_kwargs()));
    let args_only = Payload::from_values(format, Some(&[Value::from("x")]), None);
    // Decoding sets the format even of an empty payload.
    let empty = Payload { format, args: None, kwargs: None };
    let opts = dict! { "acknowledge" => true, "exclude" => vec![Value::Int(1), Value::Int(2)], "x_custom" => Value::Float(2.5) };
    vec![
        Message::Hello {
            realm: "realm1".into(),
            details: dict! { "roles" => dict! { "caller" => dict!{} } },
        },
        Message::Welcome { session: MAX_ID, details: dict! { "authid" => "ä" } },
        Message::Abort {
            details: dict! {},
            reason: "wamp.error.no_such_realm".into(),
            payload: args_only.clone(),
        },
        Message::Challenge { authmethod: "wampcra".into(), extra: dict! { "challenge" => "{\"x\":1}" } },
        Message::Authenticate { signature: "sig==".into(), extra: dict! {} },
        Message::Goodbye { details: dict! { "message" => "bye" }, reason: "wamp.close.normal".into() },
        Message::Error {
            request_type: code::CALL,
            request: 7,
            details: dict! {},
            error: "com.app.error".into(),
            payload: both.clone(),
        },
        Message::Publish {
            request: 1,
            options: opts.clone(),
            topic: "com.topic".into(),
            payload: both.clone(),
        },
        Message::Publish { request: 0, options: dict! {}, topic: "".into(), payload: empty.clone() },
        Message::Published { request: 1, publication: 5512315355 },
        Message::Subscribe { request: 2, options: dict! { "match" => "prefix" }, topic: "com".into() },
        Message::Subscribed { request: 2, subscription: 3 },
        Message::Unsubscribe { request: 4, subscription: 3 },
        Message::Unsubscribed { request: 4, details: None },
        Message::Unsubscribed {
            request: 0,
            details: Some(dict! { "subscription" => 3u64, "reason" => "wamp.x" }),
        },
        Message::Event {
            subscription: 3,
            publication: 9,
            details: dict! { "publisher" => 5u64 },
            payload: both.clone(),
        },
        Message::Event { subscription: 3, publication: 9, details: dict! {}, payload: empty.clone() },
        Message::Call {
            request: 5,
            options: dict! { "timeout" => 1000u64 },
            procedure: "com.proc".into(),
            payload: args_only.clone(),
        },
        Message::Cancel { request: 5, options: dict! { "mode" => "kill" } },
        Message::Result { request: 5, details: dict! { "progress" => true }, payload: both.clone() },
        Message::Register { request: 6, options: dict! {}, procedure: "com.proc".into() },
        Message::Registered { request: 6, registration: 77 },
        Message::Unregister { request: 8, registration: 77 },
        Message::Unregistered { request: 8, details: None },
        Message::Unregistered { request: 0, details: Some(dict! { "registration" => 77u64 }) },
        Message::Invocation { request: 9, registration: 77, details: dict! {}, payload: both.clone() },
        Message::Interrupt { request: 9, options: dict! {} },
        Message::Yield {
            request: 9,
            options: dict! {},
            payload: Payload::from_values(format, None, Some(&sample_kwargs())),
        },
        Message::Yield { request: 9, options: dict! {}, payload: empty },
        Message::Publish {
            request: 10,
            options: dict! { "enc_algo" => "cryptobox" },
            topic: "com.e2e".into(),
            payload: Payload::from_transparent(format, b"\x83\xa5opaque"),
        },
    ]
}

/// A payload as (arguments, keyword arguments, transparent value).
type ParsedPayload = (Option<Vec<Value>>, Option<Dict>, Option<Value>);

/// The message with its payload parsed, for comparisons across formats.
fn normalized(message: &Message) -> (Message, Option<ParsedPayload>) {
    let mut m = message.clone();
    let payload = message.payload().map(|p| {
        let transparent = p.transparent().unwrap();
        let (args, kwargs) = if transparent.is_some() { (None, None) } else { p.to_values().unwrap() };
        // Absent args before kwargs are encoded as `[]`.
        let args = if args.is_none() && kwargs.is_some() { Some(vec![]) } else { args };
        (args, kwargs, transparent)
    });
    if let Some(p) = payload_mut(&mut m) {
        *p = Payload::empty();
    }
    (m, payload)
}

fn payload_mut(message: &mut Message) -> Option<&mut Payload> {
    match message {
        Message::Abort { payload, .. }
        | Message::Error { payload, .. }
        | Message::Publish { payload, .. }
        | Message::Event { payload, .. }
        | Message::Call { payload, .. }
        | Message::Result { payload, .. }
        | Message::Invocation { payload, .. }
        | Message::Yield { payload, .. } => Some(payload),
        _ => None,
    }
}

#[test]
fn serializer_names_and_ids() {
    for (i, s) in Serializer::ALL.into_iter().enumerate() {
        assert_eq!(s.index(), i);
        assert_eq!(Serializer::from_rawsocket_id(s.rawsocket_id()), Some(s));
        assert_eq!(Serializer::from_ws_subprotocol(s.ws_subprotocol()), Some(s));
        let parsed: Serializer = serde_json::from_str(&format!("\"{}\"", s.name())).unwrap();
        assert_eq!(parsed, s);
    }
    assert_eq!(Serializer::Json.rawsocket_id(), 1);
    assert_eq!(Serializer::Cbor.rawsocket_id(), 3);
    assert_eq!(Serializer::from_rawsocket_id(0), None);
    assert_eq!(Serializer::from_ws_subprotocol("wamp.2.ubjson"), None);
    assert_eq!(Serializer::MsgPack.ws_subprotocol(), "wamp.2.msgpack");
    assert!(!Serializer::Json.is_binary() && Serializer::Cbor.is_binary() && Serializer::MsgPack.is_binary());
    assert_eq!(Serializer::default(), Serializer::Json);
}

#[test]
fn every_message_round_trips_in_every_format() {
    for format in Serializer::ALL {
        for message in all_messages(format) {
            let bytes = encode_to_bytes(&message, format);
            let decoded =
                decode(format, bytes.clone()).unwrap_or_else(|e| panic!("{format:?} {message:?}: {e}"));
            if matches!(message.payload(), Some(p) if p.args.is_none() && p.kwargs.is_some()) {
                assert_eq!(normalized(&decoded), normalized(&message));
            } else {
                assert_eq!(decoded, message, "{format:?}");
            }
            // Encoding the decoded message reproduces the frame byte for byte.
            assert_eq!(encode_to_bytes(&decoded, format), bytes);
        }
    }
}

#[test]
fn messages_transcode_between_every_pair() {
    for from in Serializer::ALL {
        for to in Serializer::ALL {
            for message in all_messages(from) {
                let mut out = BytesMut::new();
                try_encode(&message, to, &mut out).unwrap();
                let decoded = decode(to, out.freeze()).unwrap();
                assert_eq!(normalized(&decoded), normalized(&message), "{from:?} -> {to:?}");
            }
        }
    }
}

#[test]
fn known_encodings() {
    let publish = Message::Publish {
        request: 239714735,
        options: dict! {},
        topic: "com.myapp.mytopic1".into(),
        payload: Payload::from_values(Serializer::Json, Some(&[Value::from("Hello, world!")]), None),
    };
    assert_eq!(
        encode_to_bytes(&publish, Serializer::Json),
        Bytes::from_static(br#"[16,239714735,{},"com.myapp.mytopic1",["Hello, world!"]]"#)
    );
    assert_eq!(
        hex::encode(encode_to_bytes(&publish, Serializer::MsgPack)),
        "9510ce0e49c1af80b2636f6d2e6d796170702e6d79746f7069633191ad48656c6c6f2c20776f726c6421"
    );
    assert_eq!(
        hex::encode(encode_to_bytes(&publish, Serializer::Cbor)),
        "85101a0e49c1afa072636f6d2e6d796170702e6d79746f70696331816d48656c6c6f2c20776f726c6421"
    );
    // Keyword arguments without arguments: an empty list stands in.
    let kw_only = Message::Yield {
        request: 1,
        options: dict! {},
        payload: Payload::from_values(Serializer::Json, None, Some(&dict! { "a" => 1u64 })),
    };
    assert_eq!(encode_to_bytes(&kw_only, Serializer::Json), Bytes::from_static(br#"[70,1,{},[],{"a":1}]"#));
    assert_eq!(hex::encode(encode_to_bytes(&kw_only, Serializer::MsgPack)), "954601809081a16101");
    assert_eq!(hex::encode(encode_to_bytes(&kw_only, Serializer::Cbor)), "85184601a080a1616101");
}

#[test]
fn payload_spans_are_zero_copy() {
    let frames: [(Serializer, &[u8]); 3] = [
        (Serializer::Json, br#" [ 36 , 1 , 2 , {} , [ 1 , "a" ] , { "k" : [ ] } ] "#),
        (Serializer::MsgPack, &hex::decode("96240102809201a16181a16b90").unwrap()),
        // An indefinite-length message list, with an indefinite-length (string-keyed) kwargs map.
        (Serializer::Cbor, &hex::decode("9f18240102a082016161bf616b80ffff").unwrap()),
    ];
    let frames = frames.map(|(f, b)| (f, Bytes::copy_from_slice(b)));
    for (format, frame) in frames {
        let Message::Event { payload, .. } =
            decode(format, frame.clone()).unwrap_or_else(|e| panic!("{format:?}: {e}"))
        else {
            panic!("not an EVENT")
        };
        let range = frame.as_ptr_range();
        for span in [payload.args.as_ref().unwrap(), payload.kwargs.as_ref().unwrap()] {
            assert!(range.contains(&span.as_ptr()), "{format:?}: span was copied");
        }
        let (args, kwargs) = payload.to_values().unwrap();
        assert_eq!(args.unwrap(), vec![Value::Int(1), Value::from("a")], "{format:?}");
        assert_eq!(kwargs.unwrap(), dict! { "k" => Vec::<Value>::new() });
        assert_eq!(payload.format, format);
    }
    let Message::Event { payload, .. } =
        decode(Serializer::Json, Bytes::from_static(br#"[36,1,2,{},[1,"a"],{"k":[]}]"#)).unwrap()
    else {
        panic!()
    };
    assert_eq!(&payload.args.unwrap()[..], br#"[1,"a"]"#);
    assert_eq!(&payload.kwargs.unwrap()[..], br#"{"k":[]}"#);
}

#[test]
fn payload_transcoding_preserves_values() {
    let mut rng = Rng(0x5eed);
    let mut cases = vec![
        (Some(sample_args()), Some(sample_kwargs())),
        (Some(vec![]), None),
        (None, Some(dict! {})),
        (None, None),
        (Some(vec![Value::Bytes(vec![]), Value::from(""), Value::Float(0.0), Value::Int(i64::MIN)]), None),
    ];
    for _ in 0..200 {
        let args = (0..rng.below(4)).map(|_| rng.value(0)).collect::<Vec<_>>();
        let kwargs = (0..rng.below(4)).map(|i| (format!("key{i}"), rng.value(0))).collect::<Dict>();
        cases.push((Some(args), Some(kwargs)));
    }
    for (args, kwargs) in cases {
        for from in Serializer::ALL {
            let payload = Payload::from_values(from, args.as_deref(), kwargs.as_ref());
            assert_eq!(payload.to_values().unwrap(), (args.clone(), kwargs.clone()));
            for to in Serializer::ALL {
                let there = payload.transcode(to).unwrap();
                assert_eq!(there.format, to);
                assert_eq!(there.to_values().unwrap(), (args.clone(), kwargs.clone()), "{from:?} -> {to:?}");
                // And back, to the same bytes.
                assert_eq!(there.transcode(from).unwrap(), payload);
            }
        }
    }
}

#[test]
fn same_format_transcode_shares_the_bytes() {
    let payload = Payload::from_values(Serializer::Cbor, Some(&sample_args()), Some(&sample_kwargs()));
    let same = payload.transcode(Serializer::Cbor).unwrap();
    assert_eq!(same.args.as_ref().unwrap().as_ptr(), payload.args.as_ref().unwrap().as_ptr());
    assert_eq!(same.kwargs.as_ref().unwrap().as_ptr(), payload.kwargs.as_ref().unwrap().as_ptr());
    assert_eq!(Payload::empty().transcode(Serializer::MsgPack).unwrap().format, Serializer::MsgPack);
}

#[test]
fn binary_becomes_base64_strings_in_json() {
    let payload = Payload::from_values(
        Serializer::MsgPack,
        Some(&[Value::Bytes(hex::decode("10e3ff9053075c526f5fc06d4fe37cdb").unwrap())]),
        None,
    );
    let json = payload.transcode(Serializer::Json).unwrap();
    assert_eq!(&json.args.unwrap()[..], br#"["\u0000EOP/kFMHXFJvX8BtT+N82w=="]"#);
    let cbor = Payload {
        format: Serializer::Json,
        args: Some(Bytes::from_static(br#"["\u0000AAEC"]"#)),
        kwargs: None,
    }
    .transcode(Serializer::Cbor)
    .unwrap();
    assert_eq!(hex::encode(cbor.args.unwrap()), "8143000102");
}

#[test]
fn transparent_payloads() {
    let data = b"\x82\xa5color\xa6orange";
    for format in Serializer::ALL {
        let payload = Payload::from_transparent(format, data);
        assert!(payload.is_transparent());
        assert_eq!(payload.transparent().unwrap(), Some(Value::Bytes(data.to_vec())));
        assert_eq!(payload.to_values(), Err(DecodeError::TransparentPayload));
        for to in Serializer::ALL {
            assert_eq!(
                payload.transcode(to).unwrap().transparent().unwrap(),
                Some(Value::Bytes(data.to_vec()))
            );
        }
    }
    // A text payload (as some peers send) is transparent too; a list is not.
    let text =
        decode(Serializer::Json, Bytes::from_static(br#"[16,1,{"enc_algo":"cryptobox"},"t","a1666e"]"#))
            .unwrap();
    let Message::Publish { payload, .. } = text else { panic!() };
    assert_eq!(payload.transparent().unwrap(), Some(Value::from("a1666e")));
    assert!(!Payload::from_values(Serializer::Json, Some(&[]), None).is_transparent());
    assert!(!Payload::empty().is_transparent());
    // It must stand alone, and ABORT cannot carry one.
    let err = decode(Serializer::Json, Bytes::from_static(br#"[16,1,{},"t","a1",{}]"#)).unwrap_err();
    assert_eq!(err.to_string(), "PUBLISH: element 4 (Arguments) must be a list");
    let err = decode(Serializer::Json, Bytes::from_static(br#"[3,{},"wamp.x","a1"]"#)).unwrap_err();
    assert_eq!(err.to_string(), "ABORT: element 3 (Arguments) must be a list");
}

#[test]
fn error_messages() {
    let cases: &[(&[u8], &str)] = &[
        (br#"{"a":1}"#, "message is not a list"),
        (b"", "message is not a list"),
        (b"[]", "message is an empty list"),
        (br#"["x"]"#, "message type must be a non-negative integer"),
        (b"[99, 1]", "unknown message type 99"),
        (b"[337, 5512315355]", "unknown message type 337"),
        (br#"[16, 1, {}, 42]"#, "PUBLISH: element 3 (Topic) must be a string"),
        (br#"[16, 1, {}, "\u0000AAAA"]"#, "PUBLISH: element 3 (Topic) must be a string"),
        (br#"[48, 1]"#, "CALL: wrong number of elements (2)"),
        (br#"[48, 1, {}, "p", [], {}, 5, 6]"#, "CALL: wrong number of elements (8)"),
        (br#"[32, 1, {}, "t", []]"#, "SUBSCRIBE: wrong number of elements (5)"),
        (br#"[16, -1, {}, "t"]"#, "PUBLISH: element 1 (Request) must be an ID (an integer in [0, 2^53])"),
        (
            br#"[16, 9007199254740993, {}, "t"]"#,
            "PUBLISH: element 1 (Request) must be an ID (an integer in [0, 2^53])",
        ),
        (br#"[16, 1.0, {}, "t"]"#, "PUBLISH: element 1 (Request) must be an ID (an integer in [0, 2^53])"),
        (br#"[16, 1, [], "t"]"#, "PUBLISH: element 2 (Options) must be a dict"),
        (br#"[16, 1, {}, "t", {}]"#, "PUBLISH: element 4 (Arguments) must be a list"),
        (br#"[16, 1, {}, "t", [], []]"#, "PUBLISH: element 5 (ArgumentsKw) must be a dict with string keys"),
        (br#"[8, "x", 1, {}, "e"]"#, "ERROR: element 1 (REQUEST.Type) must be a non-negative integer"),
        (br#"[16, 1, {}, "t"] x"#, "invalid JSON at byte 17: trailing data after the message"),
        (br#"[16, 1, {}, "t""#, "invalid JSON at byte 15: unexpected end of input"),
        (br#"[16, 1, {"a" 1}, "t"]"#, "invalid JSON at byte 13: expected ':'"),
        (b"[16, 1, {}, \"t\xff\"]", "invalid JSON at byte 14: invalid UTF-8"),
    ];
    for (frame, expected) in cases {
        let err = decode(Serializer::Json, Bytes::copy_from_slice(frame)).unwrap_err();
        assert_eq!(err.to_string(), *expected, "{}", String::from_utf8_lossy(frame));
    }
    let err =
        decode(Serializer::MsgPack, Bytes::from_static(&[0x95, 0x10, 0x01, 0x80, 0xa1, b't', 0x91, 0xc1]))
            .unwrap_err();
    assert_eq!(err.to_string(), "invalid MessagePack at byte 7: reserved marker 0xc1");
    let err = decode(Serializer::Cbor, Bytes::from_static(&[0x82, 0x10, 0x01])).unwrap_err();
    assert_eq!(err.to_string(), "PUBLISH: wrong number of elements (2)");
    let err = decode_value(Serializer::MsgPack, &[0xd4, 0x01, 0x00]).unwrap_err();
    assert_eq!(err.to_string(), "unsupported MessagePack value at byte 0: extension type");
    // Extension types are fine inside a payload that is only forwarded.
    let with_ext = [&[0x95, 0x10, 0x01, 0x80, 0xa1, b't', 0x91][..], &[0xd4, 0x01, 0x00]].concat();
    let message = decode(Serializer::MsgPack, Bytes::from(with_ext.clone())).unwrap();
    assert_eq!(encode_to_bytes(&message, Serializer::MsgPack), with_ext);
    let mut out = BytesMut::new();
    assert!(try_encode(&message, Serializer::Json, &mut out).is_err());
    // `encode` leaves out what it cannot transcode.
    assert_eq!(encode_to_bytes(&message, Serializer::Json), Bytes::from_static(br#"[16,1,{},"t"]"#));
}

#[test]
fn ids_at_the_limits() {
    let ok = decode(Serializer::Json, Bytes::from_static(b"[17, 0, 9007199254740992]")).unwrap();
    assert_eq!(ok, Message::Published { request: 0, publication: MAX_ID });
    assert!(decode(
        Serializer::MsgPack,
        Bytes::from(hex::decode("9311cf0020000000000001 00".replace(' ', "")).unwrap())
    )
    .is_err());
    assert!(decode(Serializer::MsgPack, Bytes::from(hex::decode("9311ff00").unwrap())).is_err());
    assert!(decode(Serializer::Cbor, Bytes::from(hex::decode("83112000").unwrap())).is_err());
    assert!(decode(Serializer::Cbor, Bytes::from(hex::decode("8311001b0020000000000000").unwrap())).is_ok());
}

#[test]
fn deep_nesting_is_rejected() {
    for format in Serializer::ALL {
        for depth in [MAX_DEPTH - 3, MAX_DEPTH - 2, 10_000] {
            let mut nested = Value::List(vec![]);
            for _ in 0..depth.min(MAX_DEPTH + 5) {
                nested = Value::List(vec![nested]);
            }
            let mut payload = BytesMut::new();
            encode_value(format, &Value::List(vec![nested]), &mut payload);
            let empty = Dict::new();
            let elems = [
                schema::Elem::UInt(code::EVENT),
                schema::Elem::UInt(1),
                schema::Elem::UInt(2),
                schema::Elem::Dict(&empty),
                schema::Elem::Raw(&payload),
            ];
            let result = decode(format, frame_of(format, &elems));
            // The message list, the args list and the wrapper add three levels to `depth + 1` lists.
            if depth + 3 <= MAX_DEPTH {
                assert!(result.is_ok(), "{format:?} {depth}");
            } else {
                assert!(result.is_err(), "{format:?} {depth}");
            }
        }
        // Hostile inputs: a million open brackets, never closed.
        let hostile = match format {
            Serializer::Json => [&b"[36,1,2,{},"[..], &vec![b'['; 1 << 20]].concat(),
            Serializer::MsgPack => [&[0x95u8, 0x24, 1, 2, 0x80][..], &vec![0x91; 1 << 20]].concat(),
            Serializer::Cbor => [&[0x85u8, 0x18, 0x24, 1, 2, 0xa0][..], &vec![0x9f; 1 << 20]].concat(),
        };
        assert!(decode(format, Bytes::from(hostile)).is_err());
    }
}

#[test]
fn truncated_input_never_panics() {
    for format in Serializer::ALL {
        for message in all_messages(format) {
            let frame = encode_to_bytes(&message, format);
            for cut in 0..frame.len() {
                let result = decode(format, frame.slice(..cut));
                assert!(result.is_err(), "{format:?} accepted a {cut}-byte prefix of {message:?}");
            }
        }
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut corpus: Vec<(Serializer, Bytes)> = Vec::new();
    for format in Serializer::ALL {
        for message in all_messages(format) {
            corpus.push((format, encode_to_bytes(&message, format)));
        }
    }
    let mut accepted = 0;
    for round in 0..60_000 {
        let (format, frame) = if round % 3 == 0 {
            let format = Serializer::ALL[rng.below(3) as usize];
            let len = rng.below(64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Start like a message often enough to get past the first checks.
            if let Some(first) = bytes.first_mut() {
                *first = [b'[', 0x94, 0x84][format.index()];
            }
            (format, Bytes::from(bytes))
        } else {
            let (format, frame) = &corpus[rng.below(corpus.len() as u64) as usize];
            let mut bytes = frame.to_vec();
            for _ in 0..=rng.below(4) {
                let i = rng.below(bytes.len() as u64) as usize;
                match rng.below(3) {
                    0 => bytes[i] ^= 1 << rng.below(8),
                    1 => bytes[i] = rng.next() as u8,
                    _ => {
                        bytes.remove(i);
                        if bytes.is_empty() {
                            bytes.push(0);
                        }
                    }
                }
            }
            (*format, Bytes::from(bytes))
        };
        if let Ok(message) = decode(format, frame.clone()) {
            accepted += 1;
            let _ = validate::validate(&message);
            for to in Serializer::ALL {
                let out = encode_to_bytes(&message, to);
                if let Some(payload) = message.payload() {
                    if to == format {
                        // Whatever was accepted encodes to something that decodes again.
                        decode(to, out).unwrap_or_else(|e| panic!("{format:?} {frame:?}: {e}"));
                    }
                    let _ = payload.to_values();
                }
            }
        }
        let _ = decode_value(format, &frame);
    }
    assert!(accepted > 1000, "the mutations should leave many messages valid ({accepted})");
}

#[test]
fn skip_agrees_with_parse() {
    // Whatever the value parser accepts as an argument list, the skipper accepts too, and the other way
    // round except for values that have no `Value` (unsupported) — checked on mutated payloads.
    let mut rng = Rng(77);
    for _ in 0..20_000 {
        let format = Serializer::ALL[rng.below(3) as usize];
        let list = Value::List((0..rng.below(4)).map(|_| rng.value(0)).collect());
        let mut bytes = BytesMut::new();
        encode_value(format, &list, &mut bytes);
        let mut bytes = bytes.to_vec();
        if !bytes.is_empty() {
            let i = rng.below(bytes.len() as u64) as usize;
            bytes[i] = rng.next() as u8;
        }
        let parsed = decode_value(format, &bytes);
        let empty = Dict::new();
        let elems = [
            schema::Elem::UInt(code::RESULT),
            schema::Elem::UInt(1),
            schema::Elem::Dict(&empty),
            schema::Elem::Raw(&bytes),
        ];
        let skipped = decode(format, frame_of(format, &elems));
        match (&parsed, &skipped) {
            (Ok(Value::List(_)), Ok(_)) | (Err(_), Err(_)) => {}
            (Ok(Value::List(_)), Err(e)) => {
                panic!("{format:?}: parse ok, skip failed: {e} on {}", hex::encode(&bytes))
            }
            (Err(DecodeError::Unsupported { .. }), Ok(_)) => {}
            (Err(e), Ok(_)) => panic!("{format:?}: skip ok, parse failed: {e} on {}", hex::encode(&bytes)),
            // Transparent strings and non-lists in the Arguments position.
            (Ok(_), _) => {}
        }
    }
}

/// The Value-based transcoding the streaming transcoder must agree with.
fn transcode_via_value(from: Serializer, element: &[u8], to: Serializer) -> Result<Vec<u8>, DecodeError> {
    let value = decode_value(from, element)?;
    let mut out = BytesMut::new();
    encode_value(to, &value, &mut out);
    Ok(out.to_vec())
}

fn transcode_streaming(from: Serializer, element: &[u8], to: Serializer) -> Result<Vec<u8>, DecodeError> {
    let mut out = BytesMut::new();
    transcode::transcode(from, element, to, &mut out)?;
    Ok(out.to_vec())
}

#[test]
fn streaming_transcoding_matches_the_value_path() {
    let mut rng = Rng(0xfeed);
    for round in 0..30_000 {
        let from = Serializer::ALL[rng.below(3) as usize];
        let to = Serializer::ALL[rng.below(3) as usize];
        let mut element = BytesMut::new();
        encode_value(from, &rng.value(0), &mut element);
        let mut element = element.to_vec();
        if round % 2 == 1 && !element.is_empty() {
            let i = rng.below(element.len() as u64) as usize;
            element[i] = rng.next() as u8;
        }
        let streamed = transcode_streaming(from, &element, to);
        let via_value = transcode_via_value(from, &element, to);
        match (&streamed, &via_value) {
            // Unmutated values have sorted, unique keys: the bytes agree too.
            (Ok(a), Ok(b)) if round % 2 == 0 => {
                assert_eq!(a, b, "{from:?} -> {to:?} {}", hex::encode(&element))
            }
            (Ok(a), Ok(b)) => assert_eq!(decode_value(to, a), decode_value(to, b)),
            (Err(a), Err(b)) => assert_eq!(a, b, "{from:?} -> {to:?} {}", hex::encode(&element)),
            _ => panic!("{from:?} -> {to:?} {}: {streamed:?} vs {via_value:?}", hex::encode(&element)),
        }
    }
}

#[test]
fn streaming_transcoding_patches_unknown_lengths() {
    for n in [0usize, 15, 16, 255, 256, 65535, 65536] {
        let list = Value::List((0..n).map(|i| Value::Int(i as i64)).collect());
        let dict = Value::Dict((0..n.min(300)).map(|i| (format!("k{i}"), Value::List(vec![]))).collect());
        for value in [list, dict] {
            let mut json = BytesMut::new();
            encode_value(Serializer::Json, &Value::List(vec![value.clone(), Value::Null]), &mut json);
            for to in [Serializer::MsgPack, Serializer::Cbor] {
                let streamed = transcode_streaming(Serializer::Json, &json, to).unwrap();
                assert_eq!(streamed, transcode_via_value(Serializer::Json, &json, to).unwrap(), "{n} {to:?}");
            }
        }
        // JSON's lengths are known (from simd-json's tape); indefinite-length CBOR's are not until its end,
        // so the target's header is a placeholder, patched (and shrunk) at every header size.
        let mut indefinite = vec![0x9f];
        for i in 0..n {
            let mut item = BytesMut::new();
            encode_value(Serializer::Cbor, &Value::Int(i as i64), &mut item);
            indefinite.extend_from_slice(&item);
        }
        indefinite.push(0xff);
        let streamed = transcode_streaming(Serializer::Cbor, &indefinite, Serializer::MsgPack).unwrap();
        assert_eq!(
            streamed,
            transcode_via_value(Serializer::Cbor, &indefinite, Serializer::MsgPack).unwrap(),
            "{n}"
        );
    }
    // Indefinite-length CBOR (RFC 8949 examples) into MessagePack.
    let indefinite = hex::decode("9f018202039f0405ffff").unwrap();
    assert_eq!(
        hex::encode(transcode_streaming(Serializer::Cbor, &indefinite, Serializer::MsgPack).unwrap()),
        "9301920203920405"
    );
    let map = hex::decode("bf61610161629f0203ffff").unwrap();
    assert_eq!(
        transcode_streaming(Serializer::Cbor, &map, Serializer::Json).unwrap(),
        br#"{"a":1,"b":[2,3]}"#
    );
    // Dict entries keep their order; binary becomes base64 and back.
    let json = br#"{"z":1,"a":"\u0000AAEC","m":[true,null,-1.5]}"#;
    let msgpack = transcode_streaming(Serializer::Json, json, Serializer::MsgPack).unwrap();
    assert_eq!(hex::encode(&msgpack), "83a17a01a161c403000102a16d93c3c0cbbff8000000000000");
    assert_eq!(transcode_streaming(Serializer::MsgPack, &msgpack, Serializer::Json).unwrap(), json);
}

/// `levels` lists nested in each other (`levels` >= 1): `[[...[]...]]`.
fn nested_lists(levels: usize) -> Value {
    let mut value = Value::List(vec![]);
    for _ in 1..levels {
        value = Value::List(vec![value]);
    }
    value
}

/// `levels` dicts nested in each other (`levels` >= 1): `{"k":{"k":...{}...}}`.
fn nested_dicts(levels: usize) -> Dict {
    let mut dict = Dict::new();
    for _ in 1..levels {
        dict = dict! { "k" => dict };
    }
    dict
}

/// The ways a frame can reach a nesting depth of `depth` (>= 2) levels, the message list counting as the
/// first: through the arguments (skipped), the keyword arguments (skipped, string keys checked), a
/// header dict (parsed into values), and in CBOR through tags (which count as levels).
fn frames_of_depth(format: Serializer, depth: usize) -> Vec<(&'static str, Bytes)> {
    let empty = Dict::new();
    let raw = |value: &Value| {
        let mut out = BytesMut::new();
        encode_value(format, value, &mut out);
        out
    };
    // The list of arguments is level 2: it holds `depth - 2` more levels.
    let args = raw(&nested_lists(depth - 1));
    let kwargs = raw(&Value::Dict(nested_dicts(depth - 1)));
    let details = nested_dicts(depth - 1);
    let event = |details: &Dict, args: &[u8], kwargs: Option<&[u8]>| {
        let mut elems = vec![
            schema::Elem::UInt(code::EVENT),
            schema::Elem::UInt(1),
            schema::Elem::UInt(2),
            schema::Elem::Dict(details),
            schema::Elem::Raw(args),
        ];
        elems.extend(kwargs.map(schema::Elem::Raw));
        frame_of(format, &elems)
    };
    let mut frames = vec![
        ("args", event(&empty, &args, None)),
        ("kwargs", event(&empty, &raw(&Value::List(vec![])), Some(&kwargs))),
        ("details", event(&details, &raw(&Value::List(vec![])), None)),
    ];
    if format == Serializer::Cbor && depth >= 4 {
        // A tag (0xc1, tag 1) around the innermost list is a level of its own.
        let inner = raw(&nested_lists(depth - 2));
        let tagged = [&inner[..inner.len() - 1], &[0xc1, 0x80][..]].concat();
        frames.push(("tag", event(&empty, &tagged, None)));
    }
    frames
}

#[test]
fn depth_limit_is_exact_for_every_serializer() {
    for format in Serializer::ALL {
        for limit in [2, 3, 4, 7, 16, 64, MAX_DEPTH - 1, MAX_DEPTH] {
            for (path, frame) in frames_of_depth(format, limit) {
                decode_with_depth(format, frame, limit)
                    .unwrap_or_else(|e| panic!("{format:?} {path}: depth {limit} within {limit}: {e}"));
            }
            for (path, frame) in frames_of_depth(format, limit + 1) {
                assert_eq!(
                    decode_with_depth(format, frame, limit),
                    Err(DecodeError::TooDeep { limit }),
                    "{format:?} {path}: depth {} over {limit}",
                    limit + 1
                );
            }
        }
    }
}

#[test]
fn depth_limit_is_clamped_and_counts_the_message_list() {
    for format in Serializer::ALL {
        // Above MAX_DEPTH the limit is MAX_DEPTH.
        for (path, frame) in frames_of_depth(format, MAX_DEPTH + 1) {
            for limit in [MAX_DEPTH + 1, 1000, usize::MAX] {
                assert_eq!(
                    decode_with_depth(format, frame.clone(), limit),
                    Err(DecodeError::TooDeep { limit: MAX_DEPTH }),
                    "{format:?} {path} {limit}"
                );
            }
            assert_eq!(decode(format, frame), Err(DecodeError::TooDeep { limit: MAX_DEPTH }));
        }
        for (path, frame) in frames_of_depth(format, MAX_DEPTH) {
            let result = decode_with_depth(format, frame.clone(), usize::MAX);
            assert!(result.is_ok(), "{format:?} {path}: {result:?}");
            assert!(decode(format, frame).is_ok());
        }
        // A message without containers but its own list is one level deep.
        let published = encode_to_bytes(&Message::Published { request: 1, publication: 2 }, format);
        assert!(decode_with_depth(format, published.clone(), 1).is_ok());
        assert_eq!(decode_with_depth(format, published, 0), Err(DecodeError::TooDeep { limit: 0 }));
        let (_, event) = frames_of_depth(format, 2).swap_remove(0);
        assert_eq!(decode_with_depth(format, event, 1), Err(DecodeError::TooDeep { limit: 1 }));
    }
    assert_eq!(DecodeError::TooDeep { limit: 64 }.to_string(), "nests deeper than 64 levels");
}

#[test]
fn depth_limits_can_alternate() {
    // JSON keeps simd-json buffers per limit: alternating limits (more of them than are kept) must each
    // be enforced.
    let deep = frames_of_depth(Serializer::Json, 10).swap_remove(0).1;
    for round in 0..3 {
        for limit in [9, 10, 11, 12, 13, 9, 64] {
            let result = decode_with_depth(Serializer::Json, deep.clone(), limit);
            if limit >= 10 {
                assert!(result.is_ok(), "round {round} limit {limit}");
            } else {
                assert_eq!(result, Err(DecodeError::TooDeep { limit }), "round {round}");
            }
        }
    }
}

#[test]
fn values_and_transcoding_are_bounded_by_max_depth() {
    for format in Serializer::ALL {
        let mut ok = BytesMut::new();
        encode_value(format, &nested_lists(MAX_DEPTH), &mut ok);
        assert!(decode_value(format, &ok).is_ok());
        let mut deep = BytesMut::new();
        encode_value(format, &nested_lists(MAX_DEPTH + 1), &mut deep);
        assert_eq!(decode_value(format, &deep), Err(DecodeError::TooDeep { limit: MAX_DEPTH }));
        for to in Serializer::ALL {
            let mut out = BytesMut::new();
            assert!(transcode::transcode(format, &ok, to, &mut out).is_ok());
            assert_eq!(
                transcode::transcode(format, &deep, to, &mut out),
                Err(DecodeError::TooDeep { limit: MAX_DEPTH })
            );
        }
    }
}

mod properties {
    //! Property tests over arbitrary value trees: every serializer round-trips them, transcoding keeps
    //! them, and the depth limit holds exactly.

    use proptest::prelude::*;

    use super::*;

    /// A value that every serializer represents exactly: finite floats (JSON has no others), no string
    /// starting with U+0000 (in JSON that marks a binary string, section 15.4), unsigned integers only
    /// above `i64::MAX` (below, every decoder gives `Int`).
    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
            prop_oneof![Just(0.0f64), Just(-0.0), Just(1.5), Just(f64::MAX), Just(f64::MIN_POSITIVE)]
                .prop_map(Value::Float),
            any::<String>().prop_filter("not binary in JSON", |s| !s.starts_with('\0')).prop_map(Value::Str),
            "[a-z\"\\\\/\n\t\u{1}\u{7f}é\u{1F600}]{0,12}".prop_map(Value::Str),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        tree(scalar())
    }

    fn tree(leaf: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                prop::collection::btree_map(any::<String>(), inner, 0..6).prop_map(Value::Dict),
            ]
        })
    }

    /// Any value MessagePack and CBOR hold, JSON's exceptions included: strings starting with U+0000,
    /// non-finite floats.
    fn any_value() -> impl Strategy<Value = Value> {
        let non_finite = prop::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
        let leaf = prop_oneof![
            4 => scalar(),
            1 => any::<String>().prop_map(|s| Value::Str(format!("\0{s}"))),
            1 => non_finite.prop_map(Value::Float),
        ];
        tree(leaf)
    }

    /// A value as a JSON peer receives it: strings starting with U+0000 become binary, non-finite floats
    /// null.
    fn through_json(value: &Value) -> Value {
        match value {
            Value::Str(s) if s.starts_with('\0') => Value::Bytes(s.as_bytes().to_vec()),
            Value::Float(f) if !f.is_finite() => Value::Null,
            Value::List(list) => Value::List(list.iter().map(through_json).collect()),
            Value::Dict(dict) => {
                Value::Dict(dict.iter().map(|(k, v)| (k.clone(), through_json(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// Equality with NaN equal to itself (through `Debug`, which tells every float apart).
    fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    /// How many levels of lists and dicts a value has (a scalar none).
    fn depth(value: &Value) -> usize {
        match value {
            Value::List(list) => 1 + list.iter().map(depth).max().unwrap_or(0),
            Value::Dict(dict) => 1 + dict.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn encoded(format: Serializer, value: &Value) -> BytesMut {
        let mut out = BytesMut::new();
        encode_value(format, value, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn values_round_trip_in_every_serializer(value in value()) {
            for format in Serializer::ALL {
                let bytes = encoded(format, &value);
                prop_assert_eq!(decode_value(format, &bytes), Ok(value.clone()), "{:?}", format);
                // Encoding is deterministic: the decoded value encodes to the same bytes.
                prop_assert_eq!(encoded(format, &value), bytes);
            }
        }

        #[test]
        fn non_finite_floats_round_trip_in_binary_serializers(
            f in prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN)],
        ) {
            for format in [Serializer::MsgPack, Serializer::Cbor] {
                match decode_value(format, &encoded(format, &Value::Float(f))) {
                    Ok(Value::Float(g)) => prop_assert!(g == f || (f.is_nan() && g.is_nan())),
                    other => prop_assert!(false, "{:?}: {:?}", format, other),
                }
            }
            // JSON cannot express them: null.
            let json = encoded(Serializer::Json, &Value::Float(f));
            prop_assert_eq!(decode_value(Serializer::Json, &json), Ok(Value::Null));
        }

        #[test]
        fn payloads_transcode_json_msgpack_cbor_json(
            args in prop::option::of(prop::collection::vec(value(), 0..5)),
            kwargs in prop::option::of(prop::collection::btree_map(any::<String>(), value(), 0..5)),
        ) {
            let json = Payload::from_values(Serializer::Json, args.as_deref(), kwargs.as_ref());
            let msgpack = json.transcode(Serializer::MsgPack).unwrap();
            let cbor = msgpack.transcode(Serializer::Cbor).unwrap();
            let back = cbor.transcode(Serializer::Json).unwrap();
            for payload in [&json, &msgpack, &cbor, &back] {
                let values = payload.to_values().unwrap();
                prop_assert_eq!(values, (args.clone(), kwargs.clone()), "{:?}", payload.format);
            }
            // Binary values went to native byte strings and back to the same base64 strings.
            prop_assert_eq!(back, json);
        }

        #[test]
        fn transcoded_messages_decode_to_the_same_values(
            value in value(),
            from in 0..3usize,
            to in 0..3usize,
        ) {
            let (from, to) = (Serializer::ALL[from], Serializer::ALL[to]);
            let kwargs = dict! { "v" => value.clone() };
            let payload = Payload::from_values(from, Some(std::slice::from_ref(&value)), Some(&kwargs));
            let details = kwargs.clone();
            let message = Message::Event { subscription: 1, publication: 2, details, payload };
            let mut out = BytesMut::new();
            try_encode(&message, to, &mut out).unwrap();
            let Ok(Message::Event { payload, details, .. }) = decode(to, out.freeze()) else {
                return Err(TestCaseError::fail("the transcoded EVENT does not decode"));
            };
            prop_assert_eq!(details, kwargs.clone());
            prop_assert_eq!(payload.to_values().unwrap(), (Some(vec![value]), Some(kwargs)));
        }

        #[test]
        fn what_json_cannot_hold_still_decodes_there(value in any_value(), from in 1..3usize) {
            // Strings starting with U+0000 and non-finite floats, from MessagePack or CBOR: the JSON that
            // comes out decodes, to binary and null.
            let from = Serializer::ALL[from];
            let kwargs = dict! { "\0v" => value.clone() };
            let payload = Payload::from_values(from, Some(std::slice::from_ref(&value)), Some(&kwargs));
            let message = Message::Event { subscription: 1, publication: 2, details: kwargs, payload };
            let frame = encode_to_bytes(&message, Serializer::Json);
            let Ok(Message::Event { payload, details, .. }) = decode(Serializer::Json, frame) else {
                return Err(TestCaseError::fail("the EVENT does not decode in JSON"));
            };
            let expected = through_json(&value);
            prop_assert!(same(&details, &dict! { "\0v" => expected.clone() }), "details {:?}", details);
            let values = payload.to_values().unwrap();
            let want = (Some(vec![expected.clone()]), Some(dict! { "\0v" => expected }));
            prop_assert!(same(&values, &want), "payload {:?}", values);
        }

        #[test]
        fn depth_limit_holds_for_arbitrary_values(value in value(), limit in 0..10usize) {
            // In an EVENT the value sits in the arguments list (level 2), so the frame is 2 + its depth deep.
            let frame_depth = 2 + depth(&value);
            for format in Serializer::ALL {
                let args = encoded(format, &Value::List(vec![value.clone()]));
                let empty = Dict::new();
                let frame = frame_of(format, &[
                    schema::Elem::UInt(code::EVENT),
                    schema::Elem::UInt(1),
                    schema::Elem::UInt(2),
                    schema::Elem::Dict(&empty),
                    schema::Elem::Raw(&args),
                ]);
                let result = decode_with_depth(format, frame, limit);
                if frame_depth <= limit {
                    prop_assert!(result.is_ok(), "{:?}: {:?}", format, result);
                } else {
                    prop_assert_eq!(result, Err(DecodeError::TooDeep { limit }), "{:?}", format);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            limit in 0..200usize,
        ) {
            for format in Serializer::ALL {
                if let Ok(message) = decode_with_depth(format, Bytes::from(bytes.clone()), limit) {
                    for to in Serializer::ALL {
                        let _ = encode_to_bytes(&message, to);
                    }
                }
                let _ = decode_value(format, &bytes);
            }
        }
    }
}

#[test]
fn strings_starting_with_nul_become_binary_in_json() {
    // MessagePack and CBOR can carry a string that starts with U+0000; in JSON that marks binary data, so
    // it goes as the binary value of its bytes (it used to go as a string, which JSON peers then read as
    // binary with invalid base64: the whole EVENT failed to decode). Dict keys stay strings.
    let text = Value::from("\0ab");
    let kwargs = dict! { "\0key" => text.clone() };
    for from in [Serializer::MsgPack, Serializer::Cbor] {
        let payload = Payload::from_values(from, Some(std::slice::from_ref(&text)), Some(&kwargs));
        let json = payload.transcode(Serializer::Json).unwrap();
        assert_eq!(&json.args.as_ref().unwrap()[..], br#"["\u0000AGFi"]"#);
        let binary = Value::Bytes(b"\0ab".to_vec());
        assert_eq!(
            json.to_values().unwrap(),
            (Some(vec![binary.clone()]), Some(dict! { "\0key" => binary }))
        );
        let event = Message::Event { subscription: 1, publication: 2, details: kwargs.clone(), payload };
        let frame = encode_to_bytes(&event, Serializer::Json);
        let Message::Event { details, .. } = decode(Serializer::Json, frame).unwrap() else { panic!() };
        assert_eq!(details, dict! { "\0key" => Value::Bytes(b"\0ab".to_vec()) });
    }
    let mut out = BytesMut::new();
    encode_value(Serializer::Json, &text, &mut out);
    assert_eq!(decode_value(Serializer::Json, &out), Ok(Value::Bytes(b"\0ab".to_vec())));
    // Dict keys in JSON are strings whatever they start with, in payloads too; values are binary.
    let frame = Bytes::from_static(br#"[36,1,2,{},[],{"\u0000not base64!":"\u0000AAE="}]"#);
    let Message::Event { payload, .. } = decode(Serializer::Json, frame).unwrap() else { panic!() };
    assert_eq!(payload.to_values().unwrap().1, Some(dict! { "\0not base64!" => Value::Bytes(vec![0, 1]) }));
    let frame = Bytes::from_static(br#"[36,1,2,{},[],{"k":"\u0000not base64!"}]"#);
    assert!(decode(Serializer::Json, frame).is_err());
    // A U+0000 elsewhere is an ordinary character.
    out.clear();
    encode_value(Serializer::Json, &Value::from("a\0"), &mut out);
    assert_eq!(&out[..], br#""a\u0000""#);
}
