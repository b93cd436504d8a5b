//! Sans-I/O tests of the per-session limits, call timeouts and payload size limits.

use std::time::{Duration, Instant};

use super::*;
use crate::wamp::Id;

fn callee_roles(cancels: bool) -> Dict {
    dict! { "callee" => dict! { "features" => dict! { "call_canceling" => cancels } } }
}

fn caller_roles() -> Dict {
    dict! { "caller" => Dict::new() }
}

fn register(mesh: &mut Mesh, shard: usize, callee: ConnId, procedure: &str) {
    let register = Message::Register { request: 1, options: Dict::new(), procedure: procedure.into() };
    mesh.frame(shard, callee, &register);
    assert!(matches!(mesh.take(shard, callee).as_slice(), [Message::Registered { .. }]));
}

fn call(mesh: &mut Mesh, shard: usize, caller: ConnId, request: Id, options: Dict, payload: Payload) {
    let call = Message::Call { request, options, procedure: "p".into(), payload };
    mesh.frame(shard, caller, &call);
}

fn error_uri(messages: &[Message]) -> Vec<(Id, String)> {
    messages
        .iter()
        .map(|m| match m {
            Message::Error { request, error, .. } => (*request, error.clone()),
            other => panic!("expected ERROR, got {other:?}"),
        })
        .collect()
}

fn expire(mesh: &mut Mesh, shard: usize, after: Duration) {
    let now = Instant::now() + after;
    mesh.run(shard, |r, out| r.expire_calls(now, out));
}

#[test]
fn a_call_timeout_errors_the_caller_and_interrupts_the_callee() {
    let mut mesh = Mesh::new(2);
    let callee = mesh.join_with(0, callee_roles(true), ConnLimits::default());
    let caller = mesh.join_with(1, caller_roles(), ConnLimits::default());
    register(&mut mesh, 0, callee, "p");
    call(&mut mesh, 1, caller, 5, dict! { "timeout" => 200u64 }, args("slow"));
    let Some(Message::Invocation { request: invocation, .. }) = mesh.take(0, callee).pop() else {
        panic!("no INVOCATION")
    };
    expire(&mut mesh, 1, Duration::from_millis(10));
    assert!(mesh.take(1, caller).is_empty(), "not yet due");
    expire(&mut mesh, 1, Duration::from_secs(1));
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(5, uris::TIMEOUT.to_string())]);
    match mesh.take(0, callee).as_slice() {
        [Message::Interrupt { request, options }] => {
            assert_eq!(*request, invocation);
            assert_eq!(options.get("mode").and_then(Value::as_str), Some("killnowait"));
        }
        other => panic!("{other:?}"),
    }
    let late = Message::Yield { request: invocation, options: Dict::new(), payload: args("late") };
    mesh.frame(0, callee, &late);
    assert!(mesh.take(1, caller).is_empty(), "a late answer is discarded");
    assert_eq!(mesh.shards[1].next_call_deadline(), None);
    assert_eq!(mesh.shards[0].registry.stats.get(Counter::CallTimeouts), 1);
}

#[test]
fn a_callee_without_call_canceling_is_not_interrupted() {
    let mut mesh = Mesh::new(1);
    let callee = mesh.join_with(0, callee_roles(false), ConnLimits::default());
    let caller = mesh.join_with(0, caller_roles(), ConnLimits::default());
    register(&mut mesh, 0, callee, "p");
    call(&mut mesh, 0, caller, 5, dict! { "timeout" => 50u64 }, args(""));
    assert!(matches!(mesh.take(0, callee).as_slice(), [Message::Invocation { .. }]));
    expire(&mut mesh, 0, Duration::from_secs(1));
    assert_eq!(error_uri(&mesh.take(0, caller)), vec![(5, uris::TIMEOUT.to_string())]);
    assert!(mesh.take(0, callee).is_empty());
    assert!(mesh.shards[0].session_of(callee).unwrap().invocations.is_empty(), "the invocation is forgotten");
}

#[test]
fn an_answered_call_leaves_no_deadline_and_zero_means_no_timeout() {
    let limits = SessionLimits { default_call_timeout_ms: 100, ..SessionLimits::default() };
    let mut mesh = Mesh::with_limits(1, limits);
    let callee = mesh.join_with(0, callee_roles(true), ConnLimits::default());
    let caller = mesh.join_with(0, caller_roles(), ConnLimits::default());
    register(&mut mesh, 0, callee, "p");
    call(&mut mesh, 0, caller, 1, Dict::new(), args(""));
    assert!(mesh.shards[0].next_call_deadline().is_some(), "the realm's default timeout applies");
    let Some(Message::Invocation { request, .. }) = mesh.take(0, callee).pop() else { panic!() };
    mesh.frame(0, callee, &Message::Yield { request, options: Dict::new(), payload: args("ok") });
    assert!(matches!(mesh.take(0, caller).as_slice(), [Message::Result { request: 1, .. }]));
    assert_eq!(mesh.shards[0].next_call_deadline(), None);
    call(&mut mesh, 0, caller, 2, dict! { "timeout" => 0u64 }, args(""));
    assert_eq!(mesh.shards[0].next_call_deadline(), None, "timeout 0 turns the default off");
    call(&mut mesh, 0, caller, 3, Dict::new(), args(""));
    mesh.run(0, |r, out| r.closed(caller, out));
    assert_eq!(mesh.shards[0].next_call_deadline(), None, "a leaving caller's deadlines go with it");
}

#[test]
fn a_leaving_caller_interrupts_callees_that_understand_it() {
    let mut mesh = Mesh::new(2);
    let callee = mesh.join_with(0, callee_roles(true), ConnLimits::default());
    let caller = mesh.join_with(1, caller_roles(), ConnLimits::default());
    register(&mut mesh, 0, callee, "p");
    call(&mut mesh, 1, caller, 9, Dict::new(), args(""));
    let Some(Message::Invocation { request, .. }) = mesh.take(0, callee).pop() else { panic!() };
    mesh.run(1, |r, out| r.closed(caller, out));
    match mesh.take(0, callee).as_slice() {
        [Message::Interrupt { request: interrupted, options }] => {
            assert_eq!(*interrupted, request);
            assert_eq!(options.get("reason").and_then(Value::as_str), Some(uris::CANCELED));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pending_calls_subscriptions_and_registrations_are_limited_per_session() {
    let limits = SessionLimits {
        max_pending_calls: 2,
        max_subscriptions: 2,
        max_registrations: 1,
        ..SessionLimits::default()
    };
    let mut mesh = Mesh::with_limits(2, limits);
    let callee = mesh.join_with(0, callee_roles(false), ConnLimits::default());
    let caller = mesh.join_with(1, caller_roles(), ConnLimits::default());
    register(&mut mesh, 0, callee, "p");
    let second = Message::Register { request: 2, options: Dict::new(), procedure: "q".into() };
    mesh.frame(0, callee, &second);
    assert_eq!(error_uri(&mesh.take(0, callee)), vec![(2, uris::LIMIT_EXCEEDED.to_string())]);

    for request in 1..=3 {
        call(&mut mesh, 1, caller, request, Dict::new(), args(""));
    }
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(3, uris::LIMIT_EXCEEDED.to_string())]);
    let invocations = mesh.take(0, callee);
    let Some(Message::Invocation { request, .. }) = invocations.first() else { panic!() };
    mesh.frame(0, callee, &Message::Yield { request: *request, options: Dict::new(), payload: args("") });
    assert!(matches!(mesh.take(1, caller).as_slice(), [Message::Result { request: 1, .. }]));
    call(&mut mesh, 1, caller, 4, Dict::new(), args(""));
    assert!(mesh.take(1, caller).is_empty(), "an answered call frees its slot");

    let subscriber = mesh.join(1);
    for (request, topic) in [(1, "a"), (2, "b"), (3, "a"), (4, "c")] {
        mesh.frame(1, subscriber, &Message::Subscribe { request, options: Dict::new(), topic: topic.into() });
    }
    let replies = mesh.take(1, subscriber);
    assert!(matches!(
        replies[..3],
        [Message::Subscribed { .. }, Message::Subscribed { .. }, Message::Subscribed { .. }]
    ));
    assert_eq!(error_uri(&replies[3..]), vec![(4, uris::LIMIT_EXCEEDED.to_string())]);
    let stats = &mesh.shards[0].registry.stats;
    let counted = [Counter::PendingCallLimit, Counter::SubscriptionLimit, Counter::RegistrationLimit];
    assert_eq!(counted.map(|c| stats.get(c)), [1, 1, 1]);
}

#[test]
fn messages_larger_than_the_peer_accepts_are_refused_with_payload_size_exceeded() {
    let small = ConnLimits { max_outbound: 200, ..ConnLimits::default() };
    let big = Payload::from_values(Serializer::Json, Some(&[Value::from("x".repeat(500))]), None);
    let mut mesh = Mesh::new(2);
    let callee = mesh.join_with(0, callee_roles(false), small);
    let caller = mesh.join_with(1, caller_roles(), small);
    register(&mut mesh, 0, callee, "p");

    call(&mut mesh, 1, caller, 1, Dict::new(), big.clone());
    assert!(mesh.take(0, callee).is_empty(), "the INVOCATION would not fit the callee");
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(1, uris::PAYLOAD_SIZE_EXCEEDED.to_string())]);
    assert!(mesh.shards[0].session_of(callee).unwrap().invocations.is_empty());

    call(&mut mesh, 1, caller, 2, Dict::new(), args("small"));
    let Some(Message::Invocation { request, .. }) = mesh.take(0, callee).pop() else { panic!() };
    mesh.frame(0, callee, &Message::Yield { request, options: Dict::new(), payload: big.clone() });
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(2, uris::PAYLOAD_SIZE_EXCEEDED.to_string())]);
    assert!(mesh.shards[1].session_of(caller).unwrap().calls.is_empty());

    let subscriber = mesh.join_with(1, dict! { "subscriber" => Dict::new() }, small);
    let publisher = mesh.join(0);
    mesh.frame(1, subscriber, &Message::Subscribe { request: 1, options: Dict::new(), topic: "t".into() });
    mesh.take(1, subscriber);
    for payload in [big, args("fits")] {
        mesh.frame(
            0,
            publisher,
            &Message::Publish { request: 2, options: Dict::new(), topic: "t".into(), payload },
        );
    }
    match mesh.take(1, subscriber).as_slice() {
        [Message::Event { payload, .. }] => {
            assert_eq!(payload.to_values().unwrap().0, Some(vec![Value::from("fits")]))
        }
        other => panic!("only the event that fits arrives: {other:?}"),
    }
    assert_eq!(mesh.shards[0].registry.stats.get(Counter::PayloadSizeExceeded), 3);
}
