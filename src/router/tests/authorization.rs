//! Authorization (13.6): static role rules, the reserved `wamp.` namespace, disclosure, and roles that
//! the realm does not know.

use super::*;

/// A realm whose anonymous role may call and subscribe under `com.example.`, publish to
/// `com.example.news` only (disclosed), and nothing else.
const RESTRICTED: &str = r#"
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
[[realms.roles.permissions]]
uri = "com.example."
match = "prefix"
allow = { call = true, subscribe = true, register = true }
disclose = { caller = true }
[[realms.roles.permissions]]
uri = "com.example.news"
allow = { publish = true, subscribe = true }
disclose = { publisher = true }
[[realms.roles.permissions]]
uri = "wamp."
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }
"#;

fn established(mesh: &mut Mesh, shard: usize) -> ConnId {
    let (conn, answer) = mesh.hello(shard, "realm1", Dict::new());
    assert!(matches!(answer.as_slice(), [Message::Welcome { .. }]), "{answer:?}");
    conn
}

fn error_uri(messages: &[Message]) -> Option<&str> {
    match messages {
        [Message::Error { error, .. }] => Some(error),
        _ => None,
    }
}

#[test]
fn rules_allow_and_deny_exactly() {
    let mut mesh = Mesh::with_realms(2, RESTRICTED);
    let (a, b) = (established(&mut mesh, 0), established(&mut mesh, 1));
    let subscribe =
        |topic: &str| Message::Subscribe { request: 1, options: Dict::new(), topic: topic.into() };
    mesh.frame(1, b, &subscribe("com.example.news"));
    assert!(matches!(mesh.take(1, b).as_slice(), [Message::Subscribed { .. }]));
    mesh.frame(1, b, &subscribe("org.other"));
    assert_eq!(error_uri(&mesh.take(1, b)), Some(uris::NOT_AUTHORIZED));

    // Publishing: allowed (and disclosed) on the exact rule, denied under the prefix rule.
    let publish = |topic: &str| Message::Publish {
        request: 2,
        options: dict! { "acknowledge" => true },
        topic: topic.into(),
        payload: args("x"),
    };
    mesh.frame(0, a, &publish("com.example.news"));
    assert!(matches!(mesh.take(0, a).as_slice(), [Message::Published { .. }]));
    match mesh.take(1, b).as_slice() {
        [Message::Event { details, .. }] => assert!(details.contains_key("publisher"), "{details:?}"),
        other => panic!("{other:?}"),
    }
    mesh.frame(0, a, &publish("com.example.other"));
    assert_eq!(error_uri(&mesh.take(0, a)), Some(uris::NOT_AUTHORIZED));
    // Unacknowledged and denied: no answer, and nothing delivered.
    let silent =
        Message::Publish { request: 3, options: Dict::new(), topic: "org.x".into(), payload: args("") };
    mesh.frame(0, a, &silent);
    assert!(mesh.take(0, a).is_empty());
    assert!(mesh.take(1, b).is_empty());
    assert_eq!(mesh.shards[0].registry.stats.get(Counter::NotAuthorized), 3);
}

#[test]
fn calls_are_authorized_and_the_callers_identity_disclosed() {
    let mut mesh = Mesh::with_realms(2, RESTRICTED);
    let (callee, caller) = (established(&mut mesh, 0), established(&mut mesh, 1));
    let register =
        Message::Register { request: 1, options: Dict::new(), procedure: "com.example.add".into() };
    mesh.frame(0, callee, &register);
    assert!(matches!(mesh.take(0, callee).as_slice(), [Message::Registered { .. }]));
    let call = |procedure: &str| Message::Call {
        request: 5,
        options: Dict::new(),
        procedure: procedure.into(),
        payload: args("1"),
    };
    mesh.frame(1, caller, &call("com.example.add"));
    match mesh.take(0, callee).as_slice() {
        [Message::Invocation { details, .. }] => {
            assert!(details.contains_key("caller"), "the rule discloses the caller: {details:?}")
        }
        other => panic!("{other:?}"),
    }
    mesh.frame(1, caller, &call("org.add"));
    assert_eq!(error_uri(&mesh.take(1, caller)), Some(uris::NOT_AUTHORIZED));
    assert!(mesh.take(0, callee).is_empty(), "a denied call reaches no callee");
}

#[test]
fn the_wamp_namespace_cannot_be_registered_or_published_to() {
    // Even with a rule that allows everything under `wamp.`, and in a realm without roles.
    for realms in [RESTRICTED, "[[realms]]\nname = \"realm1\""] {
        let mut mesh = Mesh::with_realms(1, realms);
        let conn = established(&mut mesh, 0);
        let register =
            Message::Register { request: 1, options: Dict::new(), procedure: "wamp.session.count".into() };
        mesh.frame(0, conn, &register);
        assert_eq!(error_uri(&mesh.take(0, conn)), Some(uris::NOT_AUTHORIZED));
        let publish = Message::Publish {
            request: 2,
            options: dict! { "acknowledge" => true },
            topic: "wamp.session.on_join".into(),
            payload: Payload::empty(),
        };
        mesh.frame(0, conn, &publish);
        assert_eq!(error_uri(&mesh.take(0, conn)), Some(uris::NOT_AUTHORIZED));
    }
}

#[test]
fn a_role_the_realm_does_not_define_cannot_join() {
    let realms = "[[realms]]\nname = \"realm1\"\nanonymous = false\n[[realms.roles]]\nname = \"user\"\n";
    let mut mesh = Mesh::with_realms(1, realms);
    let (_, answer) = mesh.hello(0, "realm1", Dict::new());
    assert!(matches!(answer.as_slice(), [Message::Abort { .. }]), "{answer:?}");
    // A config that lets anonymous sessions in under an undefined role is refused at start.
    let toml = "[[realms]]\nname = \"r\"\n[[realms.roles]]\nname = \"user\"\n[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"";
    let err = Config::from_toml_str(toml).unwrap_err().to_string();
    assert!(err.contains("\"anonymous\" is used but not defined"), "{err}");
}
