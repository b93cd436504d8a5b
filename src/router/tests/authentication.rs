//! The router's side of authentication (13): CHALLENGE/AUTHENTICATE through the shard, WELCOME details,
//! ABORTs, the dynamic authenticator and authorizer reached with the router's own calls across shards,
//! and the handshake timeout covering a join that waits.

use super::*;

/// Realm `realm1` (static ticket principal joe, an authenticator on realm `auth` for other ticket
/// logins) and realm `auth` (anonymous, where the authenticator registers).
const REALMS: &str = r#"
[[realms]]
name = "realm1"
anonymous = false
[[realms.principals]]
authid = "joe"
role = "user"
ticket = "secret!!!"
authextra = { team = "blue" }
[realms.authenticator]
procedure = "com.example.authenticate"
realm = "auth"
methods = ["ticket"]

[[realms]]
name = "auth"
"#;

fn ticket_hello(authid: &str) -> Dict {
    dict! { "authmethods" => vec![Value::from("ticket")], "authid" => authid }
}

fn authenticate(mesh: &mut Mesh, shard: usize, conn: ConnId, ticket: &str) -> Vec<Message> {
    mesh.frame(shard, conn, &Message::Authenticate { signature: ticket.into(), extra: Dict::new() });
    mesh.take(shard, conn)
}

#[test]
fn a_static_ticket_principal_joins_with_its_role_and_authextra() {
    let mut mesh = Mesh::with_realms(1, REALMS);
    let (conn, answer) = mesh.hello(0, "realm1", ticket_hello("joe"));
    match answer.as_slice() {
        [Message::Challenge { authmethod, .. }] => assert_eq!(authmethod, "ticket"),
        other => panic!("{other:?}"),
    }
    match authenticate(&mut mesh, 0, conn, "secret!!!").as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authid"), Some(&Value::from("joe")));
            assert_eq!(details.get("authrole"), Some(&Value::from("user")));
            assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
            assert_eq!(details.get("authprovider"), Some(&Value::from("static")));
            let extra = details.get("authextra").and_then(Value::as_dict).expect("authextra");
            assert_eq!(extra.get("team"), Some(&Value::from("blue")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mesh.shards[0].session_count(), 1);
}

#[test]
fn wrong_credentials_and_missing_methods_abort_with_the_spec_uris() {
    let mut mesh = Mesh::with_realms(1, REALMS);
    let (conn, _) = mesh.hello(0, "realm1", ticket_hello("joe"));
    match authenticate(&mut mesh, 0, conn, "guess").as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::AUTHENTICATION_FAILED),
        other => panic!("{other:?}"),
    }
    assert!(mesh.closed.contains(&(0, conn)));
    // Anonymous is not allowed on realm1, and nothing else was offered.
    let (_, answer) = mesh.hello(0, "realm1", Dict::new());
    match answer.as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::NO_AUTH_METHOD),
        other => panic!("{other:?}"),
    }
    // AUTHENTICATE without a CHALLENGE.
    let (conn, _) = mesh.hello(0, "auth", Dict::new());
    mesh.frame(0, conn, &Message::Authenticate { signature: "x".into(), extra: Dict::new() });
    match mesh.take(0, conn).as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::PROTOCOL_VIOLATION),
        other => panic!("{other:?}"),
    }
    assert_eq!(mesh.shards[0].registry.stats.get(Counter::AuthenticationFailures), 2);
    assert_eq!(mesh.shards[0].session_count(), 0);
}

/// Registers the authenticator on shard `shard` (realm `auth`); returns its connection.
fn authenticator(mesh: &mut Mesh, shard: usize) -> ConnId {
    let (conn, answer) = mesh.hello(shard, "auth", Dict::new());
    assert!(matches!(answer.as_slice(), [Message::Welcome { .. }]));
    let register =
        Message::Register { request: 1, options: Dict::new(), procedure: "com.example.authenticate".into() };
    mesh.frame(shard, conn, &register);
    assert!(matches!(mesh.take(shard, conn).as_slice(), [Message::Registered { .. }]));
    conn
}

#[test]
fn a_dynamic_authenticator_on_another_realm_and_shard_decides() {
    let mut mesh = Mesh::with_realms(2, REALMS);
    let auth = authenticator(&mut mesh, 1);
    let (conn, answer) = mesh.hello(0, "realm1", ticket_hello("alice"));
    assert!(matches!(answer.as_slice(), [Message::Challenge { .. }]), "{answer:?}");
    assert!(authenticate(&mut mesh, 0, conn, "alice's ticket").is_empty(), "waits for the authenticator");
    let Some(Message::Invocation { request, payload, .. }) = mesh.take(1, auth).pop() else {
        panic!("the authenticator was not invoked")
    };
    let (args, _) = payload.to_values().unwrap();
    let args = args.unwrap();
    assert_eq!(args[0], Value::from("realm1"));
    assert_eq!(args[1], Value::from("alice"));
    let details = args[2].as_dict().unwrap();
    assert_eq!(details.get("ticket"), Some(&Value::from("alice's ticket")));
    let answer = dict! { "role" => "user", "extra" => dict! { "level" => 3u64 } };
    let payload = Payload::from_values(Serializer::Json, Some(&[Value::from(answer)]), None);
    mesh.frame(1, auth, &Message::Yield { request, options: Dict::new(), payload });
    match mesh.take(0, conn).as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authid"), Some(&Value::from("alice")));
            assert_eq!(details.get("authrole"), Some(&Value::from("user")));
            assert_eq!(details.get("authprovider"), Some(&Value::from("dynamic")));
        }
        other => panic!("{other:?}"),
    }

    // An ERROR from the authenticator refuses the join.
    let (conn, _) = mesh.hello(0, "realm1", ticket_hello("mallory"));
    authenticate(&mut mesh, 0, conn, "nope");
    let Some(Message::Invocation { request, .. }) = mesh.take(1, auth).pop() else { panic!() };
    let error = Message::Error {
        request_type: 68,
        request,
        details: Dict::new(),
        error: uris::NOT_AUTHORIZED.into(),
        payload: Payload::empty(),
    };
    mesh.frame(1, auth, &error);
    assert!(matches!(mesh.take(0, conn).as_slice(), [Message::Abort { .. }]));
}

#[test]
fn without_a_registered_authenticator_the_join_fails() {
    let mut mesh = Mesh::with_realms(2, REALMS);
    let (conn, _) = mesh.hello(0, "realm1", ticket_hello("alice"));
    match authenticate(&mut mesh, 0, conn, "t").as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::AUTHENTICATION_FAILED),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_handshake_timeout_covers_a_join_waiting_for_its_authenticator() {
    let mut mesh = Mesh::with_realms(2, REALMS);
    let _auth = authenticator(&mut mesh, 1);
    let (conn, _) = mesh.hello(0, "realm1", ticket_hello("alice"));
    authenticate(&mut mesh, 0, conn, "t");
    let later = std::time::Instant::now() + std::time::Duration::from_secs(11);
    mesh.run(0, |r, out| r.expire_calls(later, out));
    match mesh.take(0, conn).as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::AUTHENTICATION_FAILED),
        other => panic!("{other:?}"),
    }
    assert_eq!(mesh.shards[0].session_count(), 0);
    assert_eq!(mesh.shards[0].registry.stats.get(Counter::AuthenticationFailures), 1);
    assert!(mesh.shards[0].call_deadlines.is_empty(), "nothing left behind");
}

/// Realm with a trusted role (static rules) that serves the authorizer and a procedure, and a role
/// whose actions a dynamic authorizer decides.
const AUTHORIZED: &str = r#"
[[realms]]
name = "realm1"
anonymous = false
[[realms.roles]]
name = "trusted"
[[realms.roles.permissions]]
uri = "com.example."
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }
[[realms.roles]]
name = "partner"
authorizer = "com.example.authorize"
[[realms.principals]]
authid = "backend"
role = "trusted"
ticket = "b"
[[realms.principals]]
authid = "partner"
role = "partner"
ticket = "p"
"#;

fn join(mesh: &mut Mesh, shard: usize, authid: &str, ticket: &str) -> ConnId {
    let (conn, _) = mesh.hello(shard, "realm1", ticket_hello(authid));
    assert!(matches!(authenticate(mesh, shard, conn, ticket).as_slice(), [Message::Welcome { .. }]));
    conn
}

#[test]
fn a_dynamic_authorizer_decides_once_per_uri_and_keeps_message_order() {
    let mut mesh = Mesh::with_realms(2, AUTHORIZED);
    let backend = join(&mut mesh, 1, "backend", "b");
    for (request, procedure) in [(1, "com.example.authorize"), (2, "com.example.add")] {
        let register = Message::Register { request, options: Dict::new(), procedure: procedure.into() };
        mesh.frame(1, backend, &register);
    }
    let registered = mesh.take(1, backend);
    assert_eq!(registered.len(), 2, "{registered:?}");
    let authorize_id = match &registered[0] {
        Message::Registered { registration, .. } => *registration,
        other => panic!("{other:?}"),
    };
    let partner = join(&mut mesh, 0, "partner", "p");
    let call = |request| Message::Call {
        request,
        options: Dict::new(),
        procedure: "com.example.add".into(),
        payload: args("1"),
    };
    // Two calls: the first asks the authorizer, the second waits behind it.
    mesh.frame(0, partner, &call(10));
    mesh.frame(0, partner, &call(11));
    let invocations = mesh.take(1, backend);
    let [Message::Invocation { request, registration, payload, .. }] = invocations.as_slice() else {
        panic!("one authorizer invocation: {invocations:?}")
    };
    assert_eq!(*registration, authorize_id);
    let (a, _) = payload.to_values().unwrap();
    let a = a.unwrap();
    assert_eq!(a[1], Value::from("com.example.add"));
    assert_eq!(a[2], Value::from("call"));
    assert_eq!(a[0].as_dict().and_then(|d| d.get("authid")), Some(&Value::from("partner")));
    let allow = dict! { "allow" => true, "cache" => true };
    let allow = Payload::from_values(Serializer::Json, Some(&[Value::from(allow)]), None);
    mesh.frame(1, backend, &Message::Yield { request: *request, options: Dict::new(), payload: allow });
    // Both calls now reach the procedure, in order, without asking again (cached).
    let invocations = mesh.take(1, backend);
    assert_eq!(invocations.len(), 2, "{invocations:?}");
    assert!(invocations
        .iter()
        .all(|m| matches!(m, Message::Invocation { registration, .. } if *registration != authorize_id)));

    // A denial: ERROR not_authorized, nothing invoked.
    let publish = Message::Publish {
        request: 12,
        options: dict! { "acknowledge" => true },
        topic: "com.example.news".into(),
        payload: args("x"),
    };
    mesh.frame(0, partner, &publish);
    let Some(Message::Invocation { request, .. }) = mesh.take(1, backend).pop() else { panic!() };
    let deny = Payload::from_values(Serializer::Json, Some(&[Value::Dict(dict! { "allow" => false })]), None);
    mesh.frame(1, backend, &Message::Yield { request, options: Dict::new(), payload: deny });
    match mesh.take(0, partner).as_slice() {
        [.., Message::Error { request: 12, error, .. }] => assert_eq!(error, uris::NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_authorizer_that_is_not_there_denies() {
    let mut mesh = Mesh::with_realms(1, AUTHORIZED);
    let partner = join(&mut mesh, 0, "partner", "p");
    let subscribe = Message::Subscribe { request: 3, options: Dict::new(), topic: "com.example.t".into() };
    mesh.frame(0, partner, &subscribe);
    match mesh.take(0, partner).as_slice() {
        [Message::Error { error, .. }] => assert_eq!(error, uris::NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
}

/// The README's authentication example: its principal joins with the password it documents.
#[test]
fn the_readme_example_authenticates_joe() {
    use base64::Engine;
    use hmac::Mac;
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Authentication").expect("README has the section")..];
    let start = section.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").expect("closed")];
    let mut mesh = Mesh::with_realms(1, example);

    let (conn, _) = mesh.hello(0, "realm1", ticket_hello("joe"));
    assert!(matches!(authenticate(&mut mesh, 0, conn, "secret!!!").as_slice(), [Message::Welcome { .. }]));

    let hello = dict! { "authmethods" => vec![Value::from("wampcra")], "authid" => "joe" };
    let (conn, answer) = mesh.hello(0, "realm1", hello);
    let [Message::Challenge { extra, .. }] = answer.as_slice() else { panic!("{answer:?}") };
    let text = |k: &str| extra.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let number = |k: &str| extra.get(k).and_then(Value::as_u64).unwrap_or_default();
    // The client side, as autobahn does it: derive the key from the password, sign the challenge.
    let key = crate::auth::wampcra_derive_key(
        "secret!!!",
        &text("salt"),
        number("iterations") as u32,
        number("keylen") as usize,
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(text("challenge").as_bytes());
    let signature = base64::prelude::BASE64_STANDARD.encode(mac.finalize().into_bytes());
    match authenticate(&mut mesh, 0, conn, &signature).as_slice() {
        [Message::Welcome { details, .. }] => {
            assert_eq!(details.get("authmethod"), Some(&Value::from("wampcra")));
            assert_eq!(details.get("authrole"), Some(&Value::from("user")));
        }
        other => panic!("{other:?}"),
    }
}

/// What the authorizer of [`AUTHORIZED`] is asked next, answered with `answer`; returns its request.
fn answer_authorizer(mesh: &mut Mesh, backend: ConnId, answer: Value) {
    let invocations = mesh.take(1, backend);
    let [Message::Invocation { request, .. }] = invocations.as_slice() else {
        panic!("one authorizer invocation: {invocations:?}")
    };
    let payload = Payload::from_values(Serializer::Json, Some(&[answer]), None);
    mesh.frame(1, backend, &Message::Yield { request: *request, options: Dict::new(), payload });
}

fn serve_authorizer(mesh: &mut Mesh) -> ConnId {
    let backend = join(mesh, 1, "backend", "b");
    let register =
        Message::Register { request: 1, options: Dict::new(), procedure: "com.example.authorize".into() };
    mesh.frame(1, backend, &register);
    assert!(matches!(mesh.take(1, backend).as_slice(), [Message::Registered { .. }]));
    backend
}

#[test]
fn a_bare_authorizer_answer_is_not_cached() {
    let mut mesh = Mesh::with_realms(2, AUTHORIZED);
    let backend = serve_authorizer(&mut mesh);
    let partner = join(&mut mesh, 0, "partner", "p");
    for request in [5, 6] {
        let subscribe = Message::Subscribe { request, options: Dict::new(), topic: "com.example.t".into() };
        mesh.frame(0, partner, &subscribe);
        answer_authorizer(&mut mesh, backend, Value::from(true));
        assert!(matches!(mesh.take(0, partner).as_slice(), [Message::Subscribed { .. }]));
    }
}

#[test]
fn messages_parked_behind_an_authorization_follow_the_session_state() {
    let mut mesh = Mesh::with_realms(2, AUTHORIZED);
    let backend = serve_authorizer(&mut mesh);
    let partner = join(&mut mesh, 0, "partner", "p");
    // SUBSCRIBE (asks the authorizer), GOODBYE, HELLO: all wait. After the answer: SUBSCRIBED, the session
    // ends (GOODBYE), and the HELLO starts a new join on the same connection.
    let subscribe = Message::Subscribe { request: 5, options: Dict::new(), topic: "com.example.t".into() };
    mesh.frame(0, partner, &subscribe);
    let goodbye = Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
    mesh.frame(0, partner, &goodbye);
    let mut details = ticket_hello("partner");
    let roles = dict! { "subscriber" => Dict::new() };
    details.insert("roles".into(), Value::Dict(roles));
    mesh.frame(0, partner, &Message::Hello { realm: "realm1".into(), details });
    assert!(mesh.take(0, partner).is_empty(), "all wait for the authorizer");
    answer_authorizer(&mut mesh, backend, Value::from(true));
    match mesh.take(0, partner).as_slice() {
        [Message::Subscribed { .. }, Message::Goodbye { .. }, Message::Challenge { .. }] => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(authenticate(&mut mesh, 0, partner, "p").as_slice(), [Message::Welcome { .. }]));
}

#[test]
fn an_authorizer_that_does_not_answer_denies_and_its_invocation_is_forgotten() {
    let mut mesh = Mesh::with_realms(2, AUTHORIZED);
    let backend = serve_authorizer(&mut mesh);
    let partner = join(&mut mesh, 0, "partner", "p");
    let call = Message::Call {
        request: 9,
        options: Dict::new(),
        procedure: "com.example.x".into(),
        payload: args(""),
    };
    mesh.frame(0, partner, &call);
    let Some(Message::Invocation { request, .. }) = mesh.take(1, backend).pop() else { panic!() };
    let later = std::time::Instant::now() + std::time::Duration::from_secs(11);
    mesh.run(0, |r, out| r.expire_calls(later, out));
    match mesh.take(0, partner).as_slice() {
        [Message::Error { request: 9, error, .. }] => assert_eq!(error, uris::NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
    let backend_session = mesh.shards[1].session_of(backend).expect("backend session");
    assert!(backend_session.invocations.is_empty(), "the callee forgot the timed-out invocation");
    // Its late answer goes nowhere.
    let payload = Payload::from_values(Serializer::Json, Some(&[Value::from(true)]), None);
    mesh.frame(1, backend, &Message::Yield { request, options: Dict::new(), payload });
    assert!(mesh.take(0, partner).is_empty());
}

#[test]
fn a_connection_left_without_a_session_after_goodbye_times_out() {
    let mut mesh = Mesh::with_realms(1, REALMS);
    let (conn, answer) = mesh.hello(0, "auth", Dict::new());
    assert!(matches!(answer.as_slice(), [Message::Welcome { .. }]));
    let goodbye = Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
    mesh.frame(0, conn, &goodbye);
    assert!(matches!(mesh.take(0, conn).as_slice(), [Message::Goodbye { .. }]));
    let later = std::time::Instant::now() + std::time::Duration::from_secs(11);
    mesh.run(0, |r, out| r.expire_calls(later, out));
    match mesh.take(0, conn).as_slice() {
        [Message::Abort { reason, .. }] => assert_eq!(reason, uris::PROTOCOL_VIOLATION),
        other => panic!("{other:?}"),
    }
    assert!(mesh.closed.contains(&(0, conn)));
}
