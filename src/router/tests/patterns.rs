//! Pattern-based subscriptions (12.5) and registrations (11.8): prefix and wildcard matching across
//! shards, EVENT.Details.topic and INVOCATION.Details.procedure, one EVENT per matching subscription but
//! one best-matching registration per call, IDs per (URI, match), and the refusals (an unknown `match` is
//! a protocol violation, caught when the message is decoded: src/wamp/validate.rs).

use super::*;
use crate::router::uri_index::{MAX_PATTERN_BYTES, MAX_WILDCARD_COMPONENTS};
use crate::wamp::Id;

fn subscribe(mesh: &mut Mesh, shard: usize, conn: ConnId, policy: &str, topic: &str) -> Result<Id, String> {
    let options = dict! { "match" => policy };
    mesh.frame(shard, conn, &Message::Subscribe { request: 1, options, topic: topic.into() });
    match mesh.take(shard, conn).as_slice() {
        [Message::Subscribed { subscription, .. }] => Ok(*subscription),
        [Message::Error { error, .. }] => Err(error.clone()),
        other => panic!("{other:?}"),
    }
}

fn publish(mesh: &mut Mesh, shard: usize, conn: ConnId, topic: &str) {
    let publish =
        Message::Publish { request: 2, options: Dict::new(), topic: topic.into(), payload: args(topic) };
    mesh.frame(shard, conn, &publish);
}

/// (subscription, Details.topic) of every EVENT `conn` got since the last call.
fn events(mesh: &mut Mesh, shard: usize, conn: ConnId) -> Vec<(Id, Option<String>)> {
    mesh.take(shard, conn)
        .into_iter()
        .map(|m| match m {
            Message::Event { subscription, details, .. } => {
                (subscription, details.get("topic").and_then(Value::as_str).map(str::to_owned))
            }
            other => panic!("not an EVENT: {other:?}"),
        })
        .collect()
}

#[test]
fn prefix_and_wildcard_subscribers_on_both_shards_get_the_concrete_topic() {
    let mut mesh = Mesh::new(2);
    let (a, b, publisher) = (mesh.join(0), mesh.join(1), mesh.join(0));
    let prefix_a = subscribe(&mut mesh, 0, a, "prefix", "com.myapp.topic.emergency").unwrap();
    let prefix_b = subscribe(&mut mesh, 1, b, "prefix", "com.myapp.topic.emergency").unwrap();
    assert_eq!(prefix_a, prefix_b, "one subscription ID router-wide per (topic, match)");
    let wildcard_b = subscribe(&mut mesh, 1, b, "wildcard", "com.myapp..userevent").unwrap();

    let publisher_shard = 0;
    publish(&mut mesh, publisher_shard, publisher, "com.myapp.topic.emergency-low");
    let topic = Some("com.myapp.topic.emergency-low".to_owned());
    assert_eq!(events(&mut mesh, 0, a), [(prefix_a, topic.clone())]);
    assert_eq!(events(&mut mesh, 1, b), [(prefix_a, topic)]);

    publish(&mut mesh, publisher_shard, publisher, "com.myapp.a12.userevent");
    assert!(events(&mut mesh, 0, a).is_empty());
    assert_eq!(events(&mut mesh, 1, b), [(wildcard_b, Some("com.myapp.a12.userevent".to_owned()))]);

    for unmatched in ["com.myapp.topic.emerge", "com.myapp.foo.userevent.bar", "com.myapp2.foo.userevent"] {
        publish(&mut mesh, publisher_shard, publisher, unmatched);
        assert!(events(&mut mesh, 0, a).is_empty() && events(&mut mesh, 1, b).is_empty(), "{unmatched}");
    }
}

#[test]
fn an_event_goes_out_once_per_matching_subscription() {
    let mut mesh = Mesh::new(2);
    let (subscriber, publisher) = (mesh.join(1), mesh.join(0));
    let exact = subscribe(&mut mesh, 1, subscriber, "exact", "a.b.c").unwrap();
    let prefix = subscribe(&mut mesh, 1, subscriber, "prefix", "a.b").unwrap();
    let wildcard = subscribe(&mut mesh, 1, subscriber, "wildcard", "a..c").unwrap();
    let same_uri_as_prefix = subscribe(&mut mesh, 1, subscriber, "wildcard", "a.b").unwrap();
    assert_ne!(prefix, same_uri_as_prefix, "the same URI under another policy is another subscription");
    publish(&mut mesh, 0, publisher, "a.b.c");
    let mut got = events(&mut mesh, 1, subscriber);
    got.sort();
    let topic = Some("a.b.c".to_owned());
    let mut expected = vec![(exact, None), (prefix, topic.clone()), (wildcard, topic)];
    expected.sort();
    assert_eq!(got, expected, "the exact subscription's EVENT carries no topic; the patterns' do");
}

#[test]
fn unsubscribing_and_leaving_remove_pattern_subscriptions_everywhere() {
    let mut mesh = Mesh::new(2);
    let (a, b, publisher) = (mesh.join(0), mesh.join(1), mesh.join(0));
    let wildcard = subscribe(&mut mesh, 0, a, "wildcard", "x..z").unwrap();
    assert_eq!(subscribe(&mut mesh, 1, b, "wildcard", "x..z"), Ok(wildcard));
    mesh.frame(0, a, &Message::Unsubscribe { request: 3, subscription: wildcard });
    assert!(matches!(mesh.take(0, a).as_slice(), [Message::Unsubscribed { .. }]));
    publish(&mut mesh, 0, publisher, "x.y.z");
    assert!(events(&mut mesh, 0, a).is_empty());
    assert_eq!(events(&mut mesh, 1, b).len(), 1, "b still holds it");

    mesh.frame(1, b, &Message::Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() });
    mesh.take(1, b);
    publish(&mut mesh, 0, publisher, "x.y.z");
    assert!(mesh.sent.is_empty(), "no subscriber left: {:?}", mesh.sent);
    let again = subscribe(&mut mesh, 0, a, "wildcard", "x..z").unwrap();
    assert_ne!(again, wildcard, "the retired ID is not reused for a new subscription");
}

#[test]
fn bad_policies_and_patterns_are_refused() {
    let mut mesh = Mesh::new(1);
    let conn = mesh.join(0);
    assert_eq!(subscribe(&mut mesh, 0, conn, "exact", "a..b"), Err(uris::INVALID_URI.to_owned()));
    assert_eq!(subscribe(&mut mesh, 0, conn, "wildcard", "a.#.b"), Err(uris::INVALID_URI.to_owned()));
    assert_eq!(subscribe(&mut mesh, 0, conn, "prefix", "a b"), Err(uris::INVALID_URI.to_owned()));
    assert!(subscribe(&mut mesh, 0, conn, "prefix", "com.myapp.").is_ok(), "a prefix may end in a dot");
    // Patterns are bounded (what they cost every publish grows with their length and depth).
    let deepest = ".".repeat(MAX_WILDCARD_COMPONENTS - 1);
    assert!(subscribe(&mut mesh, 0, conn, "wildcard", &deepest).is_ok());
    let deeper = ".".repeat(MAX_WILDCARD_COMPONENTS);
    assert_eq!(subscribe(&mut mesh, 0, conn, "wildcard", &deeper), Err(uris::INVALID_URI.to_owned()));
    let longest = "a".repeat(MAX_PATTERN_BYTES);
    assert!(subscribe(&mut mesh, 0, conn, "prefix", &longest).is_ok());
    assert_eq!(subscribe(&mut mesh, 0, conn, "prefix", &"a".repeat(300)), Err(uris::INVALID_URI.to_owned()));
    assert!(subscribe(&mut mesh, 0, conn, "exact", &"a".repeat(300)).is_ok(), "exact URIs are not patterns");
}

#[test]
fn a_pattern_subscription_is_authorized_as_the_pattern_it_names() {
    const REALM: &str = r#"
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = "com.example."
match = "prefix"
allow = { subscribe = true, publish = true }
"#;
    let mut mesh = Mesh::with_realms(2, REALM);
    let (a, answer) = mesh.hello(0, "realm1", Dict::new());
    assert!(matches!(answer.as_slice(), [Message::Welcome { .. }]));
    let (publisher, _) = mesh.hello(1, "realm1", Dict::new());
    assert!(subscribe(&mut mesh, 0, a, "wildcard", "com.example..news").is_ok());
    assert_eq!(subscribe(&mut mesh, 0, a, "wildcard", "com..news"), Err(uris::NOT_AUTHORIZED.to_owned()));
    assert_eq!(subscribe(&mut mesh, 0, a, "prefix", "com."), Err(uris::NOT_AUTHORIZED.to_owned()));
    publish(&mut mesh, 1, publisher, "com.example.sport.news");
    assert_eq!(events(&mut mesh, 0, a).len(), 1);
}

fn register(
    mesh: &mut Mesh,
    shard: usize,
    conn: ConnId,
    policy: &str,
    procedure: &str,
) -> Result<Id, String> {
    let options = dict! { "match" => policy };
    mesh.frame(shard, conn, &Message::Register { request: 1, options, procedure: procedure.into() });
    match mesh.take(shard, conn).as_slice() {
        [Message::Registered { registration, .. }] => Ok(*registration),
        [Message::Error { error, .. }] => Err(error.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_call_goes_to_the_best_matching_registration_with_the_concrete_procedure() {
    let mut mesh = Mesh::new(2);
    let (exact, prefix, wildcard, caller) = (mesh.join(0), mesh.join(1), mesh.join(0), mesh.join(1));
    let callees = [(0, exact), (1, prefix), (0, wildcard)];
    let exact_id = register(&mut mesh, 0, exact, "exact", "com.myapp.myobject1.get").unwrap();
    let prefix_id = register(&mut mesh, 1, prefix, "prefix", "com.myapp.myobject1").unwrap();
    let wildcard_id = register(&mut mesh, 0, wildcard, "wildcard", "com.myapp..get").unwrap();
    let cases = [
        ("com.myapp.myobject1.get", 0, exact_id, false),
        ("com.myapp.myobject1-sub", 1, prefix_id, true),
        ("com.myapp.myobject1.set", 1, prefix_id, true),
        ("com.myapp.myobject2.get", 2, wildcard_id, true),
    ];
    for (n, (procedure, callee, registration_id, concrete)) in cases.into_iter().enumerate() {
        let request = n as Id + 1;
        let call =
            Message::Call { request, options: Dict::new(), procedure: procedure.into(), payload: args("x") };
        mesh.frame(1, caller, &call);
        for (index, &(shard, conn)) in callees.iter().enumerate() {
            let got = mesh.take(shard, conn);
            if index != callee {
                assert!(got.is_empty(), "{procedure}: callee {index} got {got:?}");
                continue;
            }
            let [Message::Invocation { request: invocation, registration, details, .. }] = got.as_slice()
            else {
                panic!("{procedure}: {got:?}");
            };
            assert_eq!(*registration, registration_id, "{procedure}");
            let told = details.get("procedure").and_then(Value::as_str);
            assert_eq!(told, concrete.then_some(procedure), "{procedure}: INVOCATION.Details.procedure");
            let answer = Message::Yield { request: *invocation, options: Dict::new(), payload: args("y") };
            mesh.frame(shard, conn, &answer);
        }
        assert!(matches!(mesh.take(1, caller).as_slice(), [Message::Result { .. }]), "{procedure}");
    }
    let call =
        Message::Call { request: 9, options: Dict::new(), procedure: "com.other".into(), payload: args("x") };
    mesh.frame(1, caller, &call);
    assert!(
        matches!(mesh.take(1, caller).as_slice(), [Message::Error { error, .. }] if error == uris::NO_SUCH_PROCEDURE)
    );
}

#[test]
fn pattern_registrations_are_their_own_procedures_and_go_away_with_their_callee() {
    let mut mesh = Mesh::new(2);
    let (a, b, caller) = (mesh.join(0), mesh.join(1), mesh.join(0));
    let prefix = register(&mut mesh, 0, a, "prefix", "x.y").unwrap();
    let wildcard = register(&mut mesh, 1, b, "wildcard", "x.y").unwrap();
    assert_ne!(prefix, wildcard, "the same URI under another policy is another registration");
    assert_eq!(register(&mut mesh, 1, b, "prefix", "x.y"), Err(uris::PROCEDURE_ALREADY_EXISTS.to_owned()));
    assert_eq!(register(&mut mesh, 1, b, "wildcard", "x..#"), Err(uris::INVALID_URI.to_owned()));
    mesh.frame(0, a, &Message::Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() });
    mesh.take(0, a);
    // Only the wildcard registration is left; "x.y" matches it (same component count).
    let call =
        Message::Call { request: 1, options: Dict::new(), procedure: "x.y".into(), payload: args("x") };
    mesh.frame(0, caller, &call);
    assert!(
        matches!(mesh.take(1, b).as_slice(), [Message::Invocation { registration, .. }] if *registration == wildcard)
    );
    let call =
        Message::Call { request: 2, options: Dict::new(), procedure: "x.y.z".into(), payload: args("x") };
    mesh.frame(0, caller, &call);
    assert!(
        matches!(mesh.take(0, caller).as_slice(), [Message::Error { error, .. }] if error == uris::NO_SUCH_PROCEDURE)
    );
}

#[test]
fn patterns_per_session_are_limited() {
    let limits = crate::config::SessionLimits { max_patterns: 2, ..Default::default() };
    let mut mesh = Mesh::with_limits(1, limits);
    let conn = mesh.join(0);
    let first = subscribe(&mut mesh, 0, conn, "prefix", "a.").unwrap();
    register(&mut mesh, 0, conn, "wildcard", "b..c").unwrap();
    assert_eq!(subscribe(&mut mesh, 0, conn, "wildcard", "x..y"), Err(uris::LIMIT_EXCEEDED.to_owned()));
    assert_eq!(register(&mut mesh, 0, conn, "prefix", "d."), Err(uris::LIMIT_EXCEEDED.to_owned()));
    assert_eq!(subscribe(&mut mesh, 0, conn, "prefix", "a."), Ok(first), "one it holds is no new pattern");
    assert!(subscribe(&mut mesh, 0, conn, "exact", "x.y").is_ok(), "exact URIs are not patterns");
    mesh.frame(0, conn, &Message::Unsubscribe { request: 5, subscription: first });
    mesh.take(0, conn);
    assert!(subscribe(&mut mesh, 0, conn, "wildcard", "x..y").is_ok(), "room again");
}

#[test]
fn a_pattern_is_authorized_over_everything_it_can_match() {
    const REALM: &str = r#"
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = "com.a"
allow = { subscribe = true, register = true }
[[realms.roles.permissions]]
uri = "com.app."
match = "prefix"
allow = { subscribe = true, register = true }
[[realms.roles.permissions]]
uri = "com.app.admin."
match = "prefix"
allow = { call = true }
"#;
    let mut mesh = Mesh::with_realms(1, REALM);
    let (conn, answer) = mesh.hello(0, "realm1", Dict::new());
    assert!(matches!(answer.as_slice(), [Message::Welcome { .. }]));
    let denied = Err(uris::NOT_AUTHORIZED.to_owned());
    assert!(subscribe(&mut mesh, 0, conn, "exact", "com.a").is_ok());
    assert_eq!(subscribe(&mut mesh, 0, conn, "prefix", "com.a"), denied, "an exact rule allows no pattern");
    assert!(subscribe(&mut mesh, 0, conn, "prefix", "com.app.news.").is_ok());
    assert_eq!(subscribe(&mut mesh, 0, conn, "prefix", "com.app."), denied, "it reaches com.app.admin.");
    assert_eq!(subscribe(&mut mesh, 0, conn, "wildcard", "com.app..x"), denied, "it reaches com.app.admin.x");
    assert!(register(&mut mesh, 0, conn, "wildcard", "com.app.news..get").is_ok());
}

#[test]
fn no_pattern_registration_reaches_into_wamp() {
    let mut mesh = Mesh::new(1);
    let conn = mesh.join(0);
    let denied = Err(uris::NOT_AUTHORIZED.to_owned());
    assert_eq!(register(&mut mesh, 0, conn, "prefix", "wamp.session."), denied);
    assert_eq!(register(&mut mesh, 0, conn, "prefix", "wa"), denied);
    assert_eq!(register(&mut mesh, 0, conn, "wildcard", ".session.count"), denied);
    assert_eq!(register(&mut mesh, 0, conn, "wildcard", "wamp..count"), denied);
    assert!(register(&mut mesh, 0, conn, "prefix", "wampx").is_ok());
    assert!(
        subscribe(&mut mesh, 0, conn, "prefix", "wamp.").is_ok(),
        "subscribing to meta events is allowed"
    );
}
