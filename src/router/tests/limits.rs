//! Sans-I/O tests of the per-session limits and payload size limits.

use std::time::{Duration, Instant};

use super::*;
use crate::wamp::Id;

pub(super) fn callee_roles(cancels: bool) -> Dict {
    dict! { "callee" => dict! { "features" => dict! { "call_canceling" => cancels } } }
}

pub(super) fn caller_roles() -> Dict {
    dict! { "caller" => Dict::new() }
}

pub(super) fn register(mesh: &mut Mesh, shard: usize, callee: ConnId, procedure: &str) {
    let register = Message::Register { request: 1, options: Dict::new(), procedure: procedure.into() };
    mesh.frame(shard, callee, &register);
    assert!(matches!(mesh.take(shard, callee).as_slice(), [Message::Registered { .. }]));
}

pub(super) fn call(
    mesh: &mut Mesh,
    shard: usize,
    caller: ConnId,
    request: Id,
    options: Dict,
    payload: Payload,
) {
    let call = Message::Call { request, options, procedure: "p".into(), payload };
    mesh.frame(shard, caller, &call);
}

pub(super) fn error_uri(messages: &[Message]) -> Vec<(Id, String)> {
    messages
        .iter()
        .map(|m| match m {
            Message::Error { request, error, .. } => (*request, error.clone()),
            other => panic!("expected ERROR, got {other:?}"),
        })
        .collect()
}

pub(super) fn expire(mesh: &mut Mesh, shard: usize, after: Duration) {
    let now = Instant::now() + after;
    mesh.run(shard, |r, out| r.expire_calls(now, out));
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
