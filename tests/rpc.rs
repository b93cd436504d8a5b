//! Remote procedure calls over real sockets, across shards and serializers (section 6, 7.1).

mod common;

use std::time::Duration;

use common::*;
use switchyard::dict;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::message::code;
use switchyard::wamp::{uris, Dict, Message, Payload, Value};

/// Answers one INVOCATION with a YIELD that echoes its arguments.
fn echo_once(callee: &mut Client) {
    match callee.recv() {
        Message::Invocation { request, payload, .. } => {
            let payload = payload.transcode(callee.serializer).unwrap();
            callee.send(&Message::Yield { request, options: Dict::new(), payload });
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

#[test]
fn call_reaches_callee_on_other_shard_and_result_comes_back() {
    let router = start(2);
    for (callee_ser, caller_ser) in [
        (Serializer::Json, Serializer::MsgPack),
        (Serializer::Cbor, Serializer::Json),
        (Serializer::MsgPack, Serializer::MsgPack),
    ] {
        let mut callee = Client::join(router.addr, callee_ser);
        let mut caller = join_on_other_shard(&router, &callee, caller_ser);
        let procedure = format!("com.example.echo.{}", callee_ser.name());
        callee.register(&procedure);
        let kwargs = dict! { "k" => "v", "n" => 3u64 };
        let args = [Value::from("a"), Value::Bytes(vec![9, 8, 7])];
        let request = caller.call(&procedure, &args, Some(&kwargs));
        echo_once(&mut callee);
        match caller.recv() {
            Message::Result { request: r, payload, .. } => {
                assert_eq!(r, request);
                let (got_args, got_kwargs) = payload.to_values().unwrap();
                assert_eq!(got_args.unwrap(), args);
                assert_eq!(got_kwargs.unwrap(), kwargs);
            }
            other => panic!("expected RESULT, got {other:?}"),
        }
    }
}

#[test]
fn callee_error_reaches_caller_with_uri_and_payload() {
    let router = start(2);
    let mut callee = Client::join_ws(router.addr, Serializer::MsgPack);
    let mut caller = join_on_other_shard(&router, &callee, Serializer::Json);
    callee.register("com.example.fails");
    let request = caller.call("com.example.fails", &[], None);
    let Message::Invocation { request: inv, .. } = callee.recv() else { panic!("expected INVOCATION") };
    let payload =
        Payload::from_values(Serializer::MsgPack, Some(&[Value::Int(1)]), Some(&dict! { "why" => "x" }));
    callee.send(&Message::Error {
        request_type: INVOCATION,
        request: inv,
        details: Dict::new(),
        error: "com.example.error.custom".into(),
        payload,
    });
    match caller.recv() {
        Message::Error { request_type: code::CALL, request: r, error, payload, .. } => {
            assert_eq!(r, request);
            assert_eq!(error, "com.example.error.custom");
            let (args, kwargs) = payload.to_values().unwrap();
            assert_eq!(args.unwrap(), vec![Value::Int(1)]);
            assert_eq!(kwargs.unwrap(), dict! { "why" => "x" });
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[test]
fn registration_errors() {
    let router = start(2);
    let mut a = Client::join(router.addr, Serializer::Json);
    let mut b = join_on_other_shard(&router, &a, Serializer::Json);
    let registration = a.register("com.example.once");

    let request = b.next_request();
    b.send(&Message::Register { request, options: Dict::new(), procedure: "com.example.once".into() });
    assert_eq!(b.expect_error(code::REGISTER, request), uris::PROCEDURE_ALREADY_EXISTS);

    let request = b.call("com.example.nothing", &[], None);
    assert_eq!(b.expect_error(code::CALL, request), uris::NO_SUCH_PROCEDURE);

    let request = b.call("not a uri", &[], None);
    assert_eq!(b.expect_error(code::CALL, request), uris::INVALID_URI);

    let request = b.next_request();
    b.send(&Message::Unregister { request, registration });
    assert_eq!(b.expect_error(code::UNREGISTER, request), uris::NO_SUCH_REGISTRATION);

    let request = a.next_request();
    a.send(&Message::Unregister { request, registration });
    assert!(matches!(a.recv(), Message::Unregistered { request: r, .. } if r == request));
    let request = b.call("com.example.once", &[], None);
    assert_eq!(b.expect_error(code::CALL, request), uris::NO_SUCH_PROCEDURE, "gone on every shard");
    b.register("com.example.once");
}

#[test]
fn callee_leaving_during_invocation_cancels_the_call() {
    let router = start(2);
    let mut callee = Client::join(router.addr, Serializer::Json);
    let mut caller = join_on_other_shard(&router, &callee, Serializer::Cbor);
    callee.register("com.example.slow");
    let request = caller.call("com.example.slow", &[], None);
    assert!(matches!(callee.recv(), Message::Invocation { .. }));
    drop(callee);
    assert_eq!(caller.expect_error(code::CALL, request), uris::CANCELED);
    let request = caller.call("com.example.slow", &[], None);
    assert_eq!(caller.expect_error(code::CALL, request), uris::NO_SUCH_PROCEDURE);
}

#[test]
fn caller_leaving_during_invocation_leaves_callee_working() {
    let router = start(2);
    let mut callee = Client::join(router.addr, Serializer::Json);
    let mut caller = join_on_other_shard(&router, &callee, Serializer::Json);
    callee.register("com.example.work");
    caller.call("com.example.work", &[], None);
    let Message::Invocation { request: inv, .. } = callee.recv() else { panic!("expected INVOCATION") };
    drop(caller);
    std::thread::sleep(Duration::from_millis(100));
    callee.send(&Message::Yield { request: inv, options: Dict::new(), payload: Payload::empty() });
    let mut other = Client::join(router.addr, Serializer::MsgPack);
    let request = other.call("com.example.work", &[Value::Int(5)], None);
    echo_once(&mut callee);
    assert!(matches!(other.recv(), Message::Result { request: r, .. } if r == request));
}

#[test]
fn calls_and_results_keep_their_order() {
    // All pipelined at once: stay below the realm's max_pending_calls (4 096), which a slow callee would
    // otherwise trip (ERROR limit_exceeded) depending on timing.
    const N: i64 = 4_000;
    let router = start(2);
    let mut callee = Client::join(router.addr, Serializer::MsgPack);
    let mut caller = join_on_other_shard(&router, &callee, Serializer::MsgPack);
    callee.register("com.example.seq");
    let server = std::thread::spawn(move || {
        for i in 0..N {
            match callee.recv() {
                Message::Invocation { request, payload, .. } => {
                    assert_eq!(args_of(&payload), vec![Value::Int(i)], "invocation {i} in order");
                    callee.send(&Message::Yield { request, options: Dict::new(), payload });
                }
                other => panic!("expected INVOCATION, got {other:?}"),
            }
        }
    });
    let mut requests = Vec::new();
    for i in 0..N {
        requests.push(caller.call("com.example.seq", &[Value::Int(i)], None));
    }
    for (i, request) in requests.into_iter().enumerate() {
        match caller.recv() {
            Message::Result { request: r, payload, .. } => {
                assert_eq!(r, request);
                assert_eq!(args_of(&payload), vec![Value::Int(i as i64)]);
            }
            other => panic!("expected RESULT, got {other:?}"),
        }
    }
    server.join().unwrap();
}

#[test]
fn caller_disclosure_reaches_the_callee() {
    let router = start(1);
    let mut callee = Client::join(router.addr, Serializer::Json);
    let mut caller = Client::join(router.addr, Serializer::Json);
    callee.register("com.example.who");
    let request = caller.next_request();
    caller.send(&Message::Call {
        request,
        options: dict! { "disclose_me" => true },
        procedure: "com.example.who".into(),
        payload: Payload::empty(),
    });
    match callee.recv() {
        Message::Invocation { details, .. } => {
            assert_eq!(details.get("caller").and_then(Value::as_u64), Some(caller.session))
        }
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}
