//! Sans-I/O tests of ending calls early: CANCEL in each mode (11.4) and dealer-side call timeouts (11.3).

use std::time::Duration;

use super::limits::{call, callee_roles, caller_roles, error_uri, expire, register};
use super::*;
use crate::wamp::Id;

/// A callee on shard 0 (understanding INTERRUPT or not), a caller on shard 1 with call 5 at the callee.
fn pending_call(cancels: bool) -> (Mesh, ConnId, ConnId, Id) {
    let mut mesh = Mesh::new(2);
    let callee = mesh.join_with(0, callee_roles(cancels), ConnLimits::default());
    let caller = mesh.join_with(1, caller_roles(), ConnLimits::default());
    register(&mut mesh, 0, callee, "p");
    call(&mut mesh, 1, caller, 5, Dict::new(), args("x"));
    let Some(Message::Invocation { request, .. }) = mesh.take(0, callee).pop() else {
        panic!("no INVOCATION")
    };
    (mesh, callee, caller, request)
}

fn cancel(mesh: &mut Mesh, caller: ConnId, mode: Option<&str>) {
    let options = mode.map_or_else(Dict::new, |m| dict! { "mode" => m });
    mesh.frame(1, caller, &Message::Cancel { request: 5, options });
}

fn interrupt_mode(messages: &[Message], invocation: Id) -> Option<String> {
    match messages {
        [] => None,
        [Message::Interrupt { request, options }] if *request == invocation => {
            options.get("mode").and_then(Value::as_str).map(String::from)
        }
        other => panic!("expected at most one INTERRUPT, got {other:?}"),
    }
}

fn answer(mesh: &mut Mesh, callee: ConnId, invocation: Id) {
    mesh.frame(
        0,
        callee,
        &Message::Yield { request: invocation, options: Dict::new(), payload: args("late") },
    );
}

#[test]
fn skip_answers_the_caller_and_leaves_the_callee_alone() {
    let (mut mesh, callee, caller, invocation) = pending_call(true);
    cancel(&mut mesh, caller, Some("skip"));
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(5, uris::CANCELED.to_string())]);
    assert_eq!(interrupt_mode(&mesh.take(0, callee), invocation), None);
    answer(&mut mesh, callee, invocation);
    assert!(mesh.take(1, caller).is_empty(), "the answer is discarded");
}

#[test]
fn killnowait_is_the_default_and_interrupts_the_callee() {
    let (mut mesh, callee, caller, invocation) = pending_call(true);
    cancel(&mut mesh, caller, None);
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(5, uris::CANCELED.to_string())]);
    assert_eq!(interrupt_mode(&mesh.take(0, callee), invocation).as_deref(), Some("killnowait"));
    answer(&mut mesh, callee, invocation);
    assert!(mesh.take(1, caller).is_empty(), "the answer is discarded");
}

#[test]
fn kill_waits_for_the_callee_to_answer() {
    let (mut mesh, callee, caller, invocation) = pending_call(true);
    cancel(&mut mesh, caller, Some("kill"));
    assert!(mesh.take(1, caller).is_empty(), "no ERROR before the callee answered");
    assert_eq!(interrupt_mode(&mesh.take(0, callee), invocation).as_deref(), Some("kill"));
    let error = Message::Error {
        request_type: crate::wamp::message::code::INVOCATION,
        request: invocation,
        details: Dict::new(),
        error: uris::CANCELED.into(),
        payload: Payload::empty(),
    };
    mesh.frame(0, callee, &error);
    assert_eq!(error_uri(&mesh.take(1, caller)), vec![(5, uris::CANCELED.to_string())]);
}

#[test]
fn a_callee_without_call_canceling_gets_skip_whatever_the_mode() {
    for mode in ["kill", "killnowait"] {
        let (mut mesh, callee, caller, invocation) = pending_call(false);
        cancel(&mut mesh, caller, Some(mode));
        assert_eq!(error_uri(&mesh.take(1, caller)), vec![(5, uris::CANCELED.to_string())], "{mode}");
        assert_eq!(interrupt_mode(&mesh.take(0, callee), invocation), None, "{mode}");
        assert!(mesh.shards[0].session_of(callee).unwrap().invocations.is_empty());
    }
}

#[test]
fn canceling_a_call_that_is_no_longer_pending_is_ignored() {
    let (mut mesh, callee, caller, invocation) = pending_call(true);
    answer(&mut mesh, callee, invocation);
    assert!(matches!(mesh.take(1, caller).as_slice(), [Message::Result { request: 5, .. }]));
    cancel(&mut mesh, caller, Some("kill"));
    assert!(mesh.take(1, caller).is_empty());
    assert!(mesh.take(0, callee).is_empty());
    assert!(mesh.closed.is_empty(), "not a protocol violation");
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
fn a_reused_pending_call_request_id_is_a_protocol_violation() {
    let (mut mesh, callee, caller, _) = pending_call(true);
    call(&mut mesh, 1, caller, 5, Dict::new(), args("again"));
    match mesh.take(1, caller).as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(mesh.closed, vec![(1, caller)]);
    assert!(
        mesh.shards[0].session_of(callee).unwrap().invocations.is_empty(),
        "the caller's call is gone too"
    );
}
