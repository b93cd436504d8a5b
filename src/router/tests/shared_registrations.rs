//! Shared registrations (11.9): callees on both shards under each invocation policy, policy conflicts, and
//! callees joining and leaving a registration that keeps serving.

use super::*;
use crate::wamp::Id;

fn register(mesh: &mut Mesh, shard: usize, conn: ConnId, invoke: &str) -> Result<Id, String> {
    let options = dict! { "invoke" => invoke };
    mesh.frame(shard, conn, &Message::Register { request: 1, options, procedure: "p".into() });
    match mesh.take(shard, conn).as_slice() {
        [Message::Registered { registration, .. }] => Ok(*registration),
        [Message::Error { error, .. }] => Err(error.clone()),
        other => panic!("{other:?}"),
    }
}

/// Calls `p` from `caller` on `shard` and answers the INVOCATION; returns the index (in `callees`) of
/// the callee that got it.
fn call(mesh: &mut Mesh, shard: usize, caller: ConnId, callees: &[(usize, ConnId)], request: Id) -> usize {
    let call = Message::Call { request, options: Dict::new(), procedure: "p".into(), payload: args("x") };
    mesh.frame(shard, caller, &call);
    let mut invoked = None;
    for (index, &(callee_shard, callee)) in callees.iter().enumerate() {
        match mesh.take(callee_shard, callee).as_slice() {
            [] => {}
            [Message::Invocation { request: invocation, .. }] => {
                assert!(invoked.is_none(), "one callee per call");
                invoked = Some(index);
                let answer =
                    Message::Yield { request: *invocation, options: Dict::new(), payload: args("y") };
                mesh.frame(callee_shard, callee, &answer);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        matches!(mesh.take(shard, caller).as_slice(), [Message::Result { .. }]),
        "call {request} answered"
    );
    invoked.expect("some callee was invoked")
}

fn callees(mesh: &mut Mesh, invoke: &str) -> Vec<(usize, ConnId)> {
    let callees: Vec<_> = [0, 1, 0].into_iter().map(|shard| (shard, mesh.join(shard))).collect();
    let ids: Vec<_> =
        callees.iter().map(|&(shard, conn)| register(mesh, shard, conn, invoke).unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one registration ID for every callee: {ids:?}");
    callees
}

#[test]
fn roundrobin_takes_the_callees_in_registration_order_on_every_shard() {
    let mut mesh = Mesh::new(2);
    let callees = callees(&mut mesh, "roundrobin");
    for caller_shard in [0, 1] {
        let caller = mesh.join(caller_shard);
        let picked: Vec<_> = (1..=6).map(|r| call(&mut mesh, caller_shard, caller, &callees, r)).collect();
        // Each shard keeps its own cursor: shard 1's starts at the first callee too.
        let expected = [0, 1, 2, 0, 1, 2];
        assert_eq!(picked, expected, "caller on shard {caller_shard}");
    }
}

#[test]
fn first_and_last_pick_by_registration_order_and_fail_over_when_it_leaves() {
    for (invoke, chosen, next) in [("first", 0, 1), ("last", 2, 1)] {
        let mut mesh = Mesh::new(2);
        let callees = callees(&mut mesh, invoke);
        let caller = mesh.join(1);
        assert_eq!(call(&mut mesh, 1, caller, &callees, 1), chosen, "{invoke}");
        assert_eq!(call(&mut mesh, 1, caller, &callees, 2), chosen, "{invoke}");
        let (shard, conn) = callees[chosen];
        mesh.frame(
            shard,
            conn,
            &Message::Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() },
        );
        mesh.take(shard, conn);
        assert_eq!(call(&mut mesh, 1, caller, &callees, 3), next, "{invoke} after the chosen callee left");
    }
}

#[test]
fn random_reaches_every_callee() {
    let mut mesh = Mesh::new(2);
    let callees = callees(&mut mesh, "random");
    let caller = mesh.join(0);
    let mut seen = [0; 3];
    for request in 1..=60 {
        seen[call(&mut mesh, 0, caller, &callees, request)] += 1;
    }
    assert!(seen.iter().all(|n| *n > 0), "every callee got calls: {seen:?}");
}

#[test]
fn conflicting_registrations_are_refused() {
    let mut mesh = Mesh::new(2);
    let (a, b, c) = (mesh.join(0), mesh.join(1), mesh.join(1));
    register(&mut mesh, 0, a, "roundrobin").unwrap();
    assert_eq!(register(&mut mesh, 1, b, "random"), Err(uris::OTHER_INVOCATION_POLICY.to_owned()));
    assert_eq!(register(&mut mesh, 1, b, "single"), Err(uris::PROCEDURE_ALREADY_EXISTS.to_owned()));
    assert_eq!(
        register(&mut mesh, 0, a, "roundrobin"),
        Err(uris::PROCEDURE_ALREADY_EXISTS.to_owned()),
        "twice"
    );
    let registration = register(&mut mesh, 1, b, "roundrobin").unwrap();
    // The refused double REGISTER took no place: after a and b unregister, the registration is gone.
    for (shard, conn) in [(0, a), (1, b)] {
        mesh.frame(shard, conn, &Message::Unregister { request: 9, registration });
        assert!(matches!(mesh.take(shard, conn).as_slice(), [Message::Unregistered { .. }]));
    }
    assert!(register(&mut mesh, 1, c, "single").is_ok());
}

#[test]
fn a_callee_joining_a_busy_registration_gets_calls_only_after_its_registered() {
    let mut mesh = Mesh::new(2);
    let (first, newcomer, caller) = (mesh.join(0), mesh.join(1), mesh.join(1));
    register(&mut mesh, 0, first, "last").unwrap();
    // The newcomer's REGISTER is applied on its shard, its broadcast to shard 0 still in flight.
    let options = dict! { "invoke" => "last" };
    let bytes = codec::encode_to_bytes(
        &Message::Register { request: 1, options, procedure: "p".into() },
        Serializer::Json,
    );
    let mut in_flight = Outbox::default();
    mesh.shards[1].handle_frame(newcomer, bytes, &mut in_flight);
    let call = Message::Call { request: 7, options: Dict::new(), procedure: "p".into(), payload: args("x") };
    mesh.frame(1, caller, &call);
    assert!(mesh.take(1, newcomer).is_empty(), "no INVOCATION before REGISTERED");
    mesh.apply(1, in_flight);
    match mesh.take(1, newcomer).as_slice() {
        [Message::Registered { .. }, Message::Invocation { .. }] => {}
        other => panic!("REGISTERED, then the waiting call: {other:?}"),
    }
    assert!(mesh.take(0, first).is_empty());
}

#[test]
fn a_call_waiting_for_registered_can_be_canceled_and_leaves_with_its_caller() {
    let mut mesh = Mesh::new(2);
    let (callee, caller) = (mesh.join(1), mesh.join(1));
    let caller_roles = dict! { "caller" => dict! { "features" => dict! { "call_canceling" => true } } };
    let canceler = mesh.join_with(1, caller_roles, ConnLimits::default());
    let options = dict! { "invoke" => "roundrobin" };
    let bytes = codec::encode_to_bytes(
        &Message::Register { request: 1, options, procedure: "p".into() },
        Serializer::Json,
    );
    let mut in_flight = Outbox::default();
    mesh.shards[1].handle_frame(callee, bytes, &mut in_flight);
    let call =
        |request| Message::Call { request, options: Dict::new(), procedure: "p".into(), payload: args("x") };
    mesh.frame(1, caller, &call(1));
    mesh.frame(1, canceler, &call(2));
    // The canceler cancels with `kill` (it waits for the callee's answer, which cannot come): it gets its ERROR.
    mesh.frame(1, canceler, &Message::Cancel { request: 2, options: dict! { "mode" => "kill" } });
    assert!(matches!(mesh.take(1, canceler).as_slice(), [Message::Error { request: 2, .. }]));
    // The other caller leaves.
    mesh.frame(1, caller, &Message::Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() });
    mesh.take(1, caller);
    mesh.apply(1, in_flight);
    assert!(
        matches!(mesh.take(1, callee).as_slice(), [Message::Registered { .. }]),
        "no INVOCATION for calls that were canceled or whose caller left"
    );
}
