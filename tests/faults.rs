//! Faults over real sockets: peers that vanish mid-call (RST) or stop answering, calls that time out,
//! per-session limits, payloads nested too deep, and 10 000 crash cycles that must leave nothing behind.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use switchyard::dict;
use switchyard::stats::Counter;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::message::code;
use switchyard::wamp::{uris, Dict, Id, Message, Value};

/// HELLO announcing every role, and call canceling as callee (so the router sends INTERRUPT).
fn hello_cancelable() -> Message {
    let callee = dict! { "features" => dict! { "call_canceling" => true } };
    let roles = dict! { "caller" => Dict::new(), "callee" => callee, "subscriber" => Dict::new() };
    Message::Hello { realm: "realm1".into(), details: dict! { "roles" => roles } }
}

/// A callee that understands INTERRUPT, with `procedure` registered.
fn cancelable_callee(router: &TestRouter, procedure: &str) -> Client {
    let mut callee = Client::rawsocket(router.addr, Serializer::MsgPack);
    callee.send(&hello_cancelable());
    match callee.recv() {
        Message::Welcome { session, .. } => callee.session = session,
        other => panic!("expected WELCOME, got {other:?}"),
    }
    callee.register(procedure);
    callee
}

/// Drops the connection with a TCP RST (SO_LINGER 0): the peer vanishes without a goodbye.
fn reset(client: Client) {
    let stream: &TcpStream = match &client.wire {
        Wire::Raw(s) => s,
        Wire::Ws(ws) => ws.get_ref(),
    };
    socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
}

fn expect_invocation(callee: &mut Client) -> Id {
    match callee.recv() {
        Message::Invocation { request, .. } => request,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn expect_interrupt(callee: &mut Client, invocation: Id) {
    match callee.recv() {
        Message::Interrupt { request, .. } => assert_eq!(request, invocation),
        other => panic!("expected INTERRUPT for {invocation}, got {other:?}"),
    }
}

fn call_with(client: &mut Client, procedure: &str, options: Dict) -> Id {
    let request = client.next_request();
    let payload = client.payload(&[Value::from("x")], None);
    client.send(&Message::Call { request, options, procedure: procedure.into(), payload });
    request
}

#[test]
fn a_caller_reset_mid_call_interrupts_the_callee_and_the_late_answer_goes_nowhere() {
    let router = start(2);
    let mut callee = cancelable_callee(&router, "com.example.slow");
    let mut caller = join_on_other_shard(&router, &callee, Serializer::Json);
    caller.call("com.example.slow", &[], None);
    let invocation = expect_invocation(&mut callee);
    reset(caller);
    expect_interrupt(&mut callee, invocation);
    let payload = callee.payload(&[Value::from("late")], None);
    callee.send(&Message::Yield { request: invocation, options: Dict::new(), payload });

    let mut next = Client::join(router.addr, Serializer::Cbor);
    let request = next.call("com.example.slow", &[], None);
    let invocation = expect_invocation(&mut callee);
    callee.send(&Message::Yield {
        request: invocation,
        options: Dict::new(),
        payload: callee.payload(&[], None),
    });
    assert!(matches!(next.recv(), Message::Result { request: r, .. } if r == request));
}

#[test]
fn a_callee_reset_mid_call_errors_its_callers_and_frees_the_procedure() {
    let router = start(2);
    let mut callee = cancelable_callee(&router, "com.example.crash");
    let mut caller = join_on_other_shard(&router, &callee, Serializer::Json);
    let request = caller.call("com.example.crash", &[], None);
    expect_invocation(&mut callee);
    reset(callee);
    assert_eq!(caller.expect_error(code::CALL, request), uris::CANCELED);
    let mut again = cancelable_callee(&router, "com.example.crash");
    let request = caller.call("com.example.crash", &[], None);
    let invocation = expect_invocation(&mut again);
    again.send(&Message::Yield {
        request: invocation,
        options: Dict::new(),
        payload: again.payload(&[], None),
    });
    assert!(matches!(caller.recv(), Message::Result { request: r, .. } if r == request));
}

#[test]
fn a_callee_that_stops_answering_is_bounded_by_the_call_timeout() {
    let router = start_with(&config(2, "limits = { default_call_timeout_ms = 300 }", ""));
    let mut callee = cancelable_callee(&router, "com.example.silent");
    let mut caller = join_on_other_shard(&router, &callee, Serializer::Json);
    let started = Instant::now();
    let request = caller.call("com.example.silent", &[], None);
    let invocation = expect_invocation(&mut callee);
    assert_eq!(caller.expect_error(code::CALL, request), uris::TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the timeout");
    expect_interrupt(&mut callee, invocation);
    // The caller's own option wins over the realm's default; 0 turns it off.
    let request = call_with(&mut caller, "com.example.silent", dict! { "timeout" => 0u64 });
    let invocation = expect_invocation(&mut callee);
    assert!(caller.try_recv(Duration::from_millis(700)).is_none(), "no timeout with timeout = 0");
    callee.send(&Message::Yield {
        request: invocation,
        options: Dict::new(),
        payload: callee.payload(&[], None),
    });
    assert!(matches!(caller.recv(), Message::Result { request: r, .. } if r == request));
    assert_eq!(router.handle.stats().get(Counter::CallTimeouts), 1);
}

#[test]
fn a_session_past_its_limits_gets_errors_and_keeps_working() {
    let limits = "limits = { max_pending_calls = 2, max_subscriptions = 1, max_registrations = 1 }";
    let router = start_with(&config(2, limits, ""));
    let mut callee = cancelable_callee(&router, "com.example.p");
    let mut caller = Client::join(router.addr, Serializer::Json);
    let first = caller.call("com.example.p", &[], None);
    caller.call("com.example.p", &[], None);
    let third = caller.call("com.example.p", &[], None);
    assert_eq!(caller.expect_error(code::CALL, third), "switchyard.error.limit_exceeded");
    let invocation = expect_invocation(&mut callee);
    callee.send(&Message::Yield {
        request: invocation,
        options: Dict::new(),
        payload: callee.payload(&[], None),
    });
    assert!(matches!(caller.recv(), Message::Result { request, .. } if request == first));
    expect_invocation(&mut callee); // the second call, still within the limit

    caller.subscribe("com.example.a");
    let request = caller.next_request();
    caller.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.example.b".into() });
    assert_eq!(caller.expect_error(code::SUBSCRIBE, request), "switchyard.error.limit_exceeded");
    let request = callee.next_request();
    callee.send(&Message::Register { request, options: Dict::new(), procedure: "com.example.q".into() });
    assert_eq!(callee.expect_error(code::REGISTER, request), "switchyard.error.limit_exceeded");
    let stats = router.handle.stats();
    let counted = [Counter::PendingCallLimit, Counter::SubscriptionLimit, Counter::RegistrationLimit];
    assert_eq!(counted.map(|c| stats.get(c)), [1, 1, 1]);
}

/// `[[[...]]]` nested `depth` deep, as the only argument.
fn nested(depth: usize) -> Value {
    (0..depth).fold(Value::List(Vec::new()), |inner, _| Value::List(vec![inner]))
}

#[test]
fn a_payload_nested_past_the_limit_is_refused_and_only_its_session_ends() {
    let router = start_with(&config(2, "", "max_nesting_depth = 16"));
    let mut subscriber = Client::join(router.addr, Serializer::Json);
    subscriber.subscribe("com.example.deep");
    for serializer in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
        let mut publisher = Client::join(router.addr, serializer);
        publisher.publish("com.example.deep", &[nested(10)]);
        assert_eq!(subscriber.expect_event().1, vec![nested(10)]);
        publisher.publish("com.example.deep", &[nested(40)]);
        match publisher.recv() {
            Message::Abort { reason, details, .. } => {
                assert_eq!(reason, uris::PROTOCOL_VIOLATION);
                let message = details.get("message").and_then(Value::as_str).unwrap_or_default();
                assert!(message.contains("deeper than 16"), "{message}");
            }
            other => panic!("expected ABORT, got {other:?}"),
        }
        publisher.expect_closed();
    }
    let mut publisher = Client::join(router.addr, Serializer::MsgPack);
    publisher.publish("com.example.deep", &[Value::from("still here")]);
    assert_eq!(subscriber.expect_event().1, vec![Value::from("still here")]);
}

/// 10 000 cycles of a peer vanishing mid-call: even cycles a caller resets while its call is at the
/// callee, odd cycles a callee resets while a call waits for it. Every cycle must end with the survivor
/// told (INTERRUPT or `wamp.error.canceled`), and memory must not grow with the cycles.
#[test]
fn ten_thousand_resets_mid_call_leave_nothing_behind() {
    // FAULT_CYCLES=50000 runs a longer measurement.
    let cycles: usize = std::env::var("FAULT_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let router = start(2);
    let mut callee = cancelable_callee(&router, "com.example.stay");
    let mut caller = Client::join(router.addr, Serializer::MsgPack);
    let mut rss_after_warmup = 0;
    for cycle in 0..cycles {
        if cycle == 1_000 {
            rss_after_warmup = rss_kib();
        }
        if cycle % 2 == 0 {
            let mut doomed = Client::join(router.addr, Serializer::MsgPack);
            doomed.call("com.example.stay", &[Value::from(cycle as u64)], None);
            let invocation = expect_invocation(&mut callee);
            reset(doomed);
            expect_interrupt(&mut callee, invocation);
        } else {
            let procedure = format!("com.example.gone.{}", cycle % 7);
            let mut doomed = cancelable_callee(&router, &procedure);
            let request = caller.call(&procedure, &[], None);
            expect_invocation(&mut doomed);
            reset(doomed);
            assert_eq!(caller.expect_error(code::CALL, request), uris::CANCELED);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.handle.session_count() > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(router.handle.session_count(), 2, "only the two survivors are left");
    let rss_end = rss_kib();
    eprintln!("RSS after 1 000 cycles: {rss_after_warmup} KiB; after {cycles}: {rss_end} KiB");
    assert!(
        rss_end < rss_after_warmup + 4 * 1024,
        "RSS grew from {rss_after_warmup} KiB to {rss_end} KiB over {} cycles",
        cycles - 1_000
    );
}
