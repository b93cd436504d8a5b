//! Sans-I/O tests of the routing layer: two `ShardRouter`s wired together by hand, driven with encoded
//! frames; every effect is inspected, no sockets involved.

mod authentication;
mod authorization;
mod cancel;
mod limits;
mod patterns;
mod shared_registrations;

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::config::{Config, SessionLimits};
use crate::dict;
use crate::stats::Counter;
use crate::wamp::codec::{self, Serializer};
use crate::wamp::{uris, Dict, Message, Payload, Value};

/// Two shards and the effects they produced, delivered by hand.
struct Mesh {
    shards: Vec<ShardRouter>,
    /// (shard, conn, message) sent to clients, in order.
    sent: Vec<(usize, ConnId, Message)>,
    closed: Vec<(usize, ConnId)>,
}

impl Mesh {
    fn new(n: usize) -> Mesh {
        Mesh::with_limits(n, SessionLimits::default())
    }

    /// A mesh whose realm `realm1` has these per-session limits.
    fn with_limits(n: usize, limits: SessionLimits) -> Mesh {
        let mut realms = Config::default().realms;
        realms[0].limits = limits;
        let registry = Arc::new(Registry::new(realms).unwrap());
        let shards = (0..n).map(|i| ShardRouter::new(i, n, registry.clone())).collect();
        Mesh { shards, sent: Vec::new(), closed: Vec::new() }
    }

    /// A mesh with these realms (from a TOML `[[realms]]` list).
    fn with_realms(n: usize, realms_toml: &str) -> Mesh {
        let toml = format!("{realms_toml}\n[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\n");
        let config = Config::from_toml_str(&toml).expect("valid test config");
        let registry = Arc::new(Registry::new(config.realms).unwrap());
        let shards = (0..n).map(|i| ShardRouter::new(i, n, registry.clone())).collect();
        Mesh { shards, sent: Vec::new(), closed: Vec::new() }
    }

    /// Sends HELLO for `realm` with `details` (roles added) on a new connection; returns the connection
    /// and what the router answered.
    fn hello(&mut self, shard: usize, realm: &str, mut details: Dict) -> (ConnId, Vec<Message>) {
        let conn = self.shards[shard].open(Serializer::Json, ConnLimits::default(), Default::default());
        let roles = dict! { "caller" => Dict::new(), "callee" => Dict::new(), "publisher" => Dict::new(), "subscriber" => Dict::new() };
        details.insert("roles".into(), Value::Dict(roles));
        self.frame(shard, conn, &Message::Hello { realm: realm.into(), details });
        (conn, self.take(shard, conn))
    }

    /// Runs `f` on shard `shard`, then delivers every effect (peer messages recursively).
    fn run(&mut self, shard: usize, f: impl FnOnce(&mut ShardRouter, &mut Outbox)) {
        let mut out = Outbox::default();
        f(&mut self.shards[shard], &mut out);
        self.apply(shard, out);
    }

    fn apply(&mut self, shard: usize, out: Outbox) {
        for effect in out.effects {
            match effect {
                Effect::Send(conn, frame) | Effect::Event(conn, frame) => {
                    let message = codec::decode(Serializer::Json, frame).expect("router output decodes");
                    self.sent.push((shard, conn, message));
                }
                Effect::Close(conn) => self.closed.push((shard, conn)),
                Effect::Peer(to, message) => self.run(to, |r, out| r.handle_peer(shard, message, out)),
            }
        }
    }

    fn frame(&mut self, shard: usize, conn: ConnId, message: &Message) {
        let bytes = codec::encode_to_bytes(message, Serializer::Json);
        self.run(shard, |r, out| r.handle_frame(conn, bytes, out));
    }

    fn join(&mut self, shard: usize) -> ConnId {
        let roles = dict! { "subscriber" => Dict::new() };
        self.join_with(shard, roles, ConnLimits::default())
    }

    /// Joins a session announcing `roles`, over a transport with `limits`.
    fn join_with(&mut self, shard: usize, roles: Dict, limits: ConnLimits) -> ConnId {
        let conn = self.shards[shard].open(Serializer::Json, limits, Default::default());
        let details = dict! { "roles" => roles };
        self.frame(shard, conn, &Message::Hello { realm: "realm1".into(), details });
        assert!(matches!(self.take(shard, conn).as_slice(), [Message::Welcome { .. }]));
        conn
    }

    /// Messages sent to (shard, conn) since the last call.
    fn take(&mut self, shard: usize, conn: ConnId) -> Vec<Message> {
        let (mine, rest) = self.sent.drain(..).partition(|(s, c, _)| *s == shard && *c == conn);
        self.sent = rest;
        mine.into_iter().map(|(_, _, m)| m).collect()
    }
}

fn args(text: &str) -> Payload {
    Payload::from_values(Serializer::Json, Some(&[Value::from(text)]), None)
}

#[test]
fn publication_crosses_shards_and_shares_the_subscription_id() {
    let mut mesh = Mesh::new(2);
    let (a, b, publisher) = (mesh.join(0), mesh.join(1), mesh.join(0));
    for (shard, conn) in [(0, a), (1, b)] {
        mesh.frame(shard, conn, &Message::Subscribe { request: 1, options: Dict::new(), topic: "t".into() });
    }
    let ids: Vec<_> = [(0, a), (1, b)]
        .iter()
        .map(|&(s, c)| match mesh.take(s, c).as_slice() {
            [Message::Subscribed { subscription, .. }] => *subscription,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    let publish =
        Message::Publish { request: 2, options: Dict::new(), topic: "t".into(), payload: args("x") };
    mesh.frame(0, publisher, &publish);
    for (shard, conn) in [(0, a), (1, b)] {
        match mesh.take(shard, conn).as_slice() {
            [Message::Event { subscription, payload, .. }] => {
                assert_eq!(*subscription, ids[0]);
                assert_eq!(payload.to_values().unwrap().0, Some(vec![Value::from("x")]));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(mesh.take(0, publisher).is_empty(), "publisher excluded, no acknowledgment asked");
}

#[test]
fn registered_is_sent_after_every_shard_applied_it() {
    let mut mesh = Mesh::new(2);
    let callee = mesh.join(0);
    let caller = mesh.join(1);
    let mut out = Outbox::default();
    let register = Message::Register { request: 1, options: Dict::new(), procedure: "p".into() };
    let bytes = codec::encode_to_bytes(&register, Serializer::Json);
    mesh.shards[0].handle_frame(callee, bytes, &mut out);
    assert!(
        out.effects.iter().all(|e| !matches!(e, Effect::Send(..))),
        "no REGISTERED before the other shard acknowledged"
    );
    mesh.apply(0, out);
    assert!(matches!(mesh.take(0, callee).as_slice(), [Message::Registered { request: 1, .. }]));
    let call = Message::Call { request: 7, options: Dict::new(), procedure: "p".into(), payload: args("y") };
    mesh.frame(1, caller, &call);
    let Some(Message::Invocation { request, .. }) = mesh.take(0, callee).pop() else {
        panic!("no INVOCATION")
    };
    let yield_ = Message::Yield { request, options: Dict::new(), payload: args("z") };
    mesh.frame(0, callee, &yield_);
    assert!(matches!(mesh.take(1, caller).as_slice(), [Message::Result { request: 7, .. }]));
}

#[test]
fn callee_leaving_cancels_pending_calls_on_other_shards() {
    let mut mesh = Mesh::new(2);
    let callee = mesh.join(0);
    let caller = mesh.join(1);
    mesh.frame(0, callee, &Message::Register { request: 1, options: Dict::new(), procedure: "p".into() });
    mesh.take(0, callee);
    mesh.frame(
        1,
        caller,
        &Message::Call { request: 3, options: Dict::new(), procedure: "p".into(), payload: args("") },
    );
    mesh.run(0, |r, out| r.closed(callee, out));
    match mesh.take(1, caller).as_slice() {
        [Message::Error { request: 3, error, .. }] => assert_eq!(error, uris::CANCELED),
        other => panic!("{other:?}"),
    }
    mesh.frame(
        1,
        caller,
        &Message::Call { request: 4, options: Dict::new(), procedure: "p".into(), payload: args("") },
    );
    match mesh.take(1, caller).as_slice() {
        [Message::Error { request: 4, error, .. }] => assert_eq!(error, uris::NO_SUCH_PROCEDURE),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_frames_abort_and_close() {
    let mut mesh = Mesh::new(1);
    let conn = mesh.join(0);
    mesh.run(0, |r, out| r.handle_frame(conn, Bytes::from_static(b"[1, 2"), out));
    match mesh.take(0, conn).as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::PROTOCOL_VIOLATION),
        other => panic!("{other:?}"),
    }
    assert_eq!(mesh.closed, vec![(0, conn)]);
    assert_eq!(mesh.shards[0].session_count(), 0);
}

#[test]
fn no_invocation_reaches_a_callee_before_its_registered() {
    let mut mesh = Mesh::new(2);
    let callee = mesh.join(0);
    let caller = mesh.join(0);
    let register = Message::Register { request: 1, options: Dict::new(), procedure: "p".into() };
    let mut held = Outbox::default();
    let bytes = codec::encode_to_bytes(&register, Serializer::Json);
    mesh.shards[0].handle_frame(callee, bytes, &mut held);
    let call = Message::Call { request: 2, options: Dict::new(), procedure: "p".into(), payload: args("") };
    mesh.frame(0, caller, &call);
    assert!(mesh.take(0, callee).is_empty(), "no INVOCATION before REGISTERED");
    assert!(mesh.take(0, caller).is_empty(), "the call waits for the registration");
    mesh.apply(0, held);
    match mesh.take(0, callee).as_slice() {
        [Message::Registered { .. }, Message::Invocation { .. }] => {}
        other => panic!("REGISTERED, then the waiting call: {other:?}"),
    }
}

#[test]
fn a_late_registration_broadcast_does_not_hide_the_new_holder() {
    let mut mesh = Mesh::new(2);
    let first = mesh.join(0);
    let second = mesh.join(1);
    let caller = mesh.join(1);
    // `first` registers and leaves while its broadcasts to shard 1 are still in flight.
    let register = |request| Message::Register { request, options: Dict::new(), procedure: "p".into() };
    let mut in_flight = Outbox::default();
    let bytes = codec::encode_to_bytes(&register(1), Serializer::Json);
    mesh.shards[0].handle_frame(first, bytes, &mut in_flight);
    mesh.shards[0].closed(first, &mut in_flight);
    // `second` claims the procedure meanwhile, and then the stale broadcasts arrive.
    mesh.frame(1, second, &register(1));
    assert!(matches!(mesh.take(1, second).as_slice(), [Message::Registered { .. }]));
    mesh.apply(0, in_flight);
    mesh.frame(
        1,
        caller,
        &Message::Call { request: 5, options: Dict::new(), procedure: "p".into(), payload: args("") },
    );
    assert!(
        matches!(mesh.take(1, second).as_slice(), [Message::Invocation { .. }]),
        "the call reaches the new holder"
    );
}

mod properties {
    //! Random interleavings of client frames (well-formed or not) from several sessions on two shards:
    //! the router never panics, and once every connection is gone nothing is left behind.

    use proptest::prelude::*;

    use super::*;

    const TOPICS: [&str; 3] = ["a", "b", "c.d"];

    /// One step: which connection acts, and what it sends.
    #[derive(Debug, Clone)]
    enum Step {
        Frame(usize, Message),
        Garbage(usize, Vec<u8>),
        Close(usize),
        /// Every call timeout on this shard runs out.
        Expire(usize),
    }

    fn message() -> impl Strategy<Value = Message> {
        let topic = prop::sample::select(&TOPICS[..]).prop_map(String::from);
        let id = 1u64..6;
        prop_oneof![
            (id.clone(), topic.clone()).prop_map(|(request, topic)| Message::Subscribe {
                request,
                options: Dict::new(),
                topic
            }),
            (id.clone(), id.clone())
                .prop_map(|(request, subscription)| Message::Unsubscribe { request, subscription }),
            (id.clone(), topic.clone(), any::<bool>()).prop_map(|(request, topic, ack)| Message::Publish {
                request,
                options: crate::dict! { "acknowledge" => ack, "exclude_me" => false },
                topic,
                payload: args("x"),
            }),
            (id.clone(), topic.clone()).prop_map(|(request, procedure)| Message::Register {
                request,
                options: Dict::new(),
                procedure
            }),
            (id.clone(), id.clone())
                .prop_map(|(request, registration)| Message::Unregister { request, registration }),
            (id.clone(), topic, 0u64..3).prop_map(|(request, procedure, timeout)| Message::Call {
                request,
                options: crate::dict! { "timeout" => timeout },
                procedure,
                payload: args("y"),
            }),
            (id.clone(), prop::sample::select(&["skip", "kill", "killnowait"][..])).prop_map(
                |(request, mode)| { Message::Cancel { request, options: crate::dict! { "mode" => mode } } }
            ),
            id.clone().prop_map(|request| Message::Yield {
                request,
                options: Dict::new(),
                payload: args("z")
            }),
            id.clone().prop_map(|request| Message::Error {
                request_type: crate::wamp::message::code::INVOCATION,
                request,
                details: Dict::new(),
                error: "com.example.error".into(),
                payload: Payload::empty(),
            }),
            Just(Message::Goodbye { details: Dict::new(), reason: uris::CLOSE_REALM.into() }),
            Just(Message::Hello { realm: "realm1".into(), details: Dict::new() }),
        ]
    }

    fn step(conns: usize) -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (0..conns, message()).prop_map(|(c, m)| Step::Frame(c, m)),
            1 => (0..conns, prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(c, b)| Step::Garbage(c, b)),
            1 => (0..conns).prop_map(Step::Close),
            1 => (0..2usize).prop_map(Step::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn random_traffic_never_panics_and_leaves_nothing_behind(steps in prop::collection::vec(step(6), 1..80)) {
            let mut mesh = Mesh::new(2);
            let mut conns: Vec<(usize, ConnId, bool)> = (0..6).map(|i| (i % 2, mesh.join(i % 2), true)).collect();
            for step in steps {
                match step {
                    Step::Frame(i, message) if conns[i].2 => mesh.frame(conns[i].0, conns[i].1, &message),
                    Step::Garbage(i, bytes) if conns[i].2 => {
                        let (shard, conn, _) = conns[i];
                        mesh.run(shard, |r, out| r.handle_frame(conn, Bytes::from(bytes), out));
                    }
                    Step::Close(i) if conns[i].2 => {
                        let (shard, conn, _) = conns[i];
                        mesh.run(shard, |r, out| r.closed(conn, out));
                        conns[i].2 = false;
                    }
                    Step::Expire(shard) => {
                        let later = std::time::Instant::now() + std::time::Duration::from_secs(1);
                        mesh.run(shard, |r, out| r.expire_calls(later, out));
                    }
                    _ => {}
                }
                mesh.sent.clear();
            }
            for (shard, conn, open) in conns {
                if open {
                    mesh.run(shard, |r, out| r.closed(conn, out));
                }
            }
            for shard in &mesh.shards {
                prop_assert_eq!(shard.session_count(), 0);
                prop_assert!(shard.controls.is_empty(), "no pending control change");
                prop_assert_eq!(shard.next_call_deadline(), None, "no call deadline left");
            }
            prop_assert_eq!(mesh.shards[0].registry.session_count(), 0);
            // Every procedure was released everywhere: a new session can register each of them.
            let conn = mesh.join(1);
            for (request, procedure) in TOPICS.iter().enumerate() {
                let register = Message::Register { request: request as u64 + 1, options: Dict::new(), procedure: (*procedure).into() };
                mesh.frame(1, conn, &register);
                prop_assert!(matches!(mesh.take(1, conn).as_slice(), [Message::Registered { .. }]), "{procedure} is free");
            }
        }
    }
}
