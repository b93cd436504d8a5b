//! Tests of [`Handshake`]: every method end to end with right and wrong credentials, unknown authids,
//! method order, channel binding, the dynamic authenticator and misuse.

use super::*;
use crate::auth::config::{AuthenticatorConfig, Kdf, Principal, ScramDialect};
use crate::auth::cryptosign::tests::{client_signature, signing_key, SPEC_VECTORS};
use crate::auth::scram::tests::{
    autobahn_salted_password, AUTOBAHN_CLIENT_NONCE, AUTOBAHN_NONCE, AUTOBAHN_VECTORS, CBIND_DATA,
    CLIENT_NONCE, NONCE, PASSWORD, SALT, VECTORS as SCRAM_VECTORS,
};
use crate::auth::ticket::tests::{ARGON2_PHC, PBKDF2_PHC, TICKET as PHC_TICKET};
use crate::auth::TlsInfo;
use ed25519_dalek::SigningKey;
use sha2::Sha256;

const SESSION: Id = 3_251_278_072_152_162;
const CERT: [u8; 32] = [0xab; 32];
const EXPORTER: [u8; 32] = [7; 32];

fn alice_key() -> SigningKey {
    signing_key(SPEC_VECTORS[0].1)
}

fn bob_key() -> SigningKey {
    signing_key(SPEC_VECTORS[1].1)
}

fn stranger_key() -> SigningKey {
    signing_key(SPEC_VECTORS[2].1)
}

fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

fn static_principals() -> Vec<Principal> {
    let scram_pbkdf2 = crate::auth::scram_credentials(PASSWORD, Kdf::Pbkdf2, 4096, None, &SALT);
    let scram_argon2 = crate::auth::scram_credentials(PASSWORD, Kdf::Argon2id13, 4, Some(512), &SALT);
    let text = format!(
        r#"
        [[principals]]
        authid = "joe"
        role = "user"
        ticket = "secret!!!"

        [[principals]]
        authid = "hashed"
        role = "user"
        ticket = "{ARGON2_PHC}"

        [[principals]]
        authid = "pbk"
        role = "user"
        ticket = "{PBKDF2_PHC}"

        [[principals]]
        authid = "peter"
        role = "user"
        wampcra = {{ secret = "MDS8Yxpu4J/vkHJ8dNEgqECYsI0uRDh2oZ5eN0vYPvo=", salt = "salt123", iterations = 1000, keylen = 32 }}

        [[principals]]
        authid = "paul"
        role = "user"
        wampcra = {{ secret = "EX1Y3Q9BMM2oGLxsGqDgFQ==", salt = "salt456", iterations = 1000, keylen = 32 }}

        [[principals]]
        authid = "user"
        role = "frontend"
        scram = {{ kdf = "pbkdf2", iterations = 4096, salt = "{salt}", stored_key = "{p_stored}", server_key = "{p_server}" }}
        authextra = {{ team = "blue" }}

        [[principals]]
        authid = "argon"
        role = "frontend"
        scram = {{ kdf = "argon2id13", iterations = 4, memory = 512, salt = "{salt}", stored_key = "{a_stored}", server_key = "{a_server}" }}

        [[principals]]
        authid = "us,er=1"
        role = "frontend"
        scram = {{ kdf = "argon2id13", iterations = 4, memory = 512, salt = "{salt}", stored_key = "{a_stored}", server_key = "{a_server}" }}

        [[principals]]
        authid = "alice"
        role = "signer"
        cryptosign = {{ authorized_keys = ["{alice}"] }}

        [[principals]]
        authid = "bob"
        role = "signer"
        cryptosign = {{ authorized_keys = ["{bob}"] }}

        [[principals]]
        authid = "device1"
        role = "device"
        tls_certificates = ["{cert}"]
        "#,
        salt = scram_pbkdf2.salt,
        p_stored = scram_pbkdf2.stored_key,
        p_server = scram_pbkdf2.server_key,
        a_stored = scram_argon2.stored_key,
        a_server = scram_argon2.server_key,
        alice = public_hex(&alice_key()),
        bob = public_hex(&bob_key()),
        cert = hex::encode(CERT),
    );
    #[derive(serde::Deserialize)]
    struct Doc {
        principals: Vec<Principal>,
    }
    toml::from_str::<Doc>(&text).unwrap().principals
}

fn static_realm(anonymous: bool) -> Arc<RealmAuth> {
    Arc::new(RealmAuth::new("realm1", anonymous, &static_principals(), None).unwrap())
}

fn authenticator(methods: &[&str]) -> AuthenticatorConfig {
    AuthenticatorConfig {
        procedure: "com.example.authenticate".into(),
        realm: Some("auth".into()),
        methods: methods.iter().map(|m| m.to_string()).collect(),
    }
}

/// The static principals plus an authenticator for every method.
fn dynamic_realm() -> Arc<RealmAuth> {
    let all = authenticator(&["ticket", "wampcra", "wamp-scram", "cryptosign", "tls"]);
    Arc::new(RealmAuth::new("realm1", false, &static_principals(), Some(&all)).unwrap())
}

fn details(authmethods: &[&str], authid: Option<&str>, authextra: Dict) -> Dict {
    let mut details = crate::dict! {
        "authmethods" => authmethods.iter().map(|m| Value::from(*m)).collect::<Vec<_>>(),
        "authextra" => authextra,
    };
    if let Some(authid) = authid {
        details.insert("authid".into(), Value::from(authid));
    }
    details
}

fn tls_transport(exporter: Option<[u8; 32]>, cert: Option<[u8; 32]>, cn: Option<&str>) -> TransportInfo {
    TransportInfo {
        peer: Some("127.0.0.1:49032".parse().unwrap()),
        tls: Some(Box::new(TlsInfo {
            channel_binding_exporter: exporter,
            client_cert_sha256: cert,
            client_cert_cn: cn.map(str::to_owned),
        })),
    }
}

fn hello(auth: &Arc<RealmAuth>, details: &Dict) -> (Handshake, Outcome) {
    Handshake::hello(auth, "realm1", SESSION, details, &TransportInfo::default())
}

fn hello_over(auth: &Arc<RealmAuth>, details: &Dict, transport: &TransportInfo) -> (Handshake, Outcome) {
    Handshake::hello(auth, "realm1", SESSION, details, transport)
}

#[track_caller]
fn expect_challenge(outcome: &Outcome, method: &str) -> Dict {
    match outcome {
        Outcome::Challenge { authmethod, extra } if *authmethod == method => extra.clone(),
        other => panic!("expected a {method} CHALLENGE, got {other:?}"),
    }
}

#[track_caller]
fn expect_welcome(outcome: Outcome) -> Identity {
    match outcome {
        Outcome::Welcome(identity) => identity,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[track_caller]
fn expect_abort(outcome: &Outcome, expected: &str) {
    match outcome {
        Outcome::Abort { reason, .. } if *reason == expected => {}
        other => panic!("expected ABORT {expected}, got {other:?}"),
    }
}

/// The ABORT every failed authentication ends with.
fn failure() -> Outcome {
    Outcome::Abort { reason: uris::AUTHENTICATION_FAILED, message: FAILED.into() }
}

#[track_caller]
fn expect_ask(outcome: &Outcome) -> Dict {
    match outcome {
        Outcome::AskAuthenticator { realm, procedure, args } => {
            assert_eq!((realm.as_str(), procedure.as_str()), ("auth", "com.example.authenticate"));
            assert_eq!(args.len(), 3);
            assert_eq!(args[0], Value::from("realm1"));
            args[2].as_dict().expect("details").clone()
        }
        other => panic!("expected AskAuthenticator, got {other:?}"),
    }
}

/// The shape of a value: its variant, and for dicts the keys with their shapes.
fn shape(value: &Value) -> String {
    match value {
        Value::Dict(d) => format!(
            "{{{}}}",
            d.iter().map(|(k, v)| format!("{k}:{}", shape(v))).collect::<Vec<_>>().join(",")
        ),
        Value::Null => "null".into(),
        Value::Str(_) => "str".into(),
        Value::Int(_) | Value::UInt(_) => "int".into(),
        other => format!("{other:?}"),
    }
}

fn outcome_shape(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Challenge { authmethod, extra } => {
            format!("challenge {authmethod} {}", shape(&Value::Dict(extra.clone())))
        }
        other => format!("{other:?}"),
    }
}

// ---- client side of each method ----

fn wampcra_signature(extra: &Dict, password_or_secret: &str) -> String {
    let challenge = extra["challenge"].as_str().unwrap();
    let key = match extra.get("salt") {
        Some(salt) => crate::auth::wampcra_derive_key(
            password_or_secret,
            salt.as_str().unwrap(),
            extra["iterations"].as_u64().unwrap() as u32,
            extra["keylen"].as_u64().unwrap() as usize,
        ),
        None => password_or_secret.to_owned(),
    };
    BASE64.encode(wampcra::sign(key.as_bytes(), challenge))
}

fn salted_password(password: &str, extra: &Dict) -> [u8; 32] {
    let salt = BASE64.decode(extra["salt"].as_str().unwrap()).unwrap();
    let iterations = extra["iterations"].as_u64().unwrap() as u32;
    let mut out = [0u8; 32];
    match extra["kdf"].as_str().unwrap() {
        "pbkdf2" => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut out),
        "argon2id13" => {
            let memory = extra["memory"].as_u64().unwrap() as u32;
            let params = argon2::Params::new(memory, iterations, 1, Some(32)).unwrap();
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(password.as_bytes(), &salt, &mut out)
                .unwrap();
        }
        other => panic!("kdf {other}"),
    }
    out
}

/// The AUTHENTICATE a SCRAM client sends (signature, extra) and the ServerSignature it expects.
fn scram_authenticate(
    authid: &str,
    password: &str,
    extra: &Dict,
    binding: Option<&[u8; 32]>,
) -> (String, Dict, String) {
    let nonce = extra["nonce"].as_str().unwrap();
    assert!(nonce.starts_with(CLIENT_NONCE), "the server nonce extends the client's");
    let message = scram::auth_message(&scram::Exchange {
        authid,
        client_nonce: CLIENT_NONCE,
        nonce,
        salt: extra["salt"].as_str().unwrap(),
        iterations: extra["iterations"].as_u64().unwrap() as u32,
        channel_binding: binding.map(|b| (TLS_EXPORTER, &b[..])),
    });
    let salted = salted_password(password, extra);
    let proof = scram::client_proof(&salted, &message);
    let server_key = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&salted).unwrap();
        mac.update(b"Server Key");
        mac.finalize().into_bytes()
    };
    let server_signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&server_key).unwrap();
        mac.update(message.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    };
    let extra = match binding {
        None => {
            crate::dict! { "nonce" => nonce, "channel_binding" => Value::Null, "cbind_data" => Value::Null }
        }
        Some(data) => {
            crate::dict! { "nonce" => nonce, "channel_binding" => TLS_EXPORTER, "cbind_data" => BASE64.encode(data) }
        }
    };
    (proof, extra, server_signature)
}

fn scram_extra(channel_binding: Option<&str>) -> Dict {
    let mut extra = crate::dict! { "nonce" => CLIENT_NONCE };
    if let Some(binding) = channel_binding {
        extra.insert("channel_binding".into(), Value::from(binding));
    }
    extra
}

fn cryptosign_extra(key: &SigningKey, channel_binding: Option<&str>) -> Dict {
    let mut extra = crate::dict! { "pubkey" => public_hex(key) };
    if let Some(binding) = channel_binding {
        extra.insert("channel_binding".into(), Value::from(binding));
    }
    extra
}

fn sign_challenge(key: &SigningKey, extra: &Dict, binding: Option<&[u8; 32]>) -> String {
    let mut challenge = [0u8; 32];
    hex::decode_to_slice(extra["challenge"].as_str().unwrap(), &mut challenge).unwrap();
    client_signature(key, &challenge, binding)
}

// ---- anonymous and method selection ----

#[test]
fn no_authmethods_means_anonymous() {
    let (_, outcome) = hello(&static_realm(true), &Dict::new());
    let identity = expect_welcome(outcome);
    assert_eq!(
        (identity.authrole.as_str(), identity.authmethod, identity.authprovider),
        ("anonymous", "anonymous", "static")
    );
    assert!(identity.authid.starts_with("anonymous-"));
    assert!(identity.authextra.is_empty());
    let (_, other) = hello(&static_realm(true), &details(&[], None, Dict::new()));
    assert_ne!(expect_welcome(other).authid, identity.authid, "generated authids differ");
}

#[test]
fn anonymous_when_not_allowed_is_no_auth_method() {
    let (_, outcome) = hello(&static_realm(false), &Dict::new());
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    let (_, outcome) = hello(&static_realm(false), &details(&["anonymous"], None, Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
}

#[test]
fn authmethods_order_is_honoured() {
    let auth = static_realm(true);
    // An unknown authid: the first method the realm offers, in the client's order.
    let (_, outcome) = hello(&auth, &details(&["ticket", "wampcra"], Some("nobody"), Dict::new()));
    expect_challenge(&outcome, "ticket");
    let (_, outcome) = hello(&auth, &details(&["wampcra", "ticket"], Some("nobody"), Dict::new()));
    expect_challenge(&outcome, "wampcra");
    let (_, outcome) = hello(&auth, &details(&["bogus", "anonymous", "ticket"], Some("joe"), Dict::new()));
    assert_eq!(expect_welcome(outcome).authmethod, "anonymous");
    let (_, outcome) = hello(&auth, &details(&["ticket", "anonymous"], Some("joe"), Dict::new()));
    expect_challenge(&outcome, "ticket");
}

#[test]
fn methods_the_realm_or_the_hello_cannot_do_are_skipped() {
    let only_tickets = Arc::new(RealmAuth::new("realm1", false, &static_principals()[..1], None).unwrap());
    let (_, outcome) = hello(
        &only_tickets,
        &details(&["wamp-scram", "cryptosign", "tls", "ticket"], Some("joe"), scram_extra(None)),
    );
    expect_challenge(&outcome, "ticket");
    let auth = static_realm(false);
    // wamp-scram without a nonce, cryptosign without a pubkey, tls without a certificate: skipped.
    let (_, outcome) =
        hello(&auth, &details(&["wamp-scram", "cryptosign", "tls", "wampcra"], Some("peter"), Dict::new()));
    expect_challenge(&outcome, "wampcra");
    // ticket and wampcra need an authid.
    let (_, outcome) = hello(&auth, &details(&["ticket", "wampcra"], None, Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    let (_, outcome) = hello(
        &only_tickets,
        &details(&["wampcra", "cryptosign"], Some("peter"), cryptosign_extra(&alice_key(), None)),
    );
    match outcome {
        Outcome::Abort { reason, message } => {
            assert_eq!(reason, uris::NO_AUTH_METHOD);
            assert!(!message.contains("peter"), "generic message: {message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_known_principal_skips_methods_it_has_no_credential_for() {
    // joe has a ticket only: offering wampcra first (as a client configured for both does) gets ticket.
    let auth = static_realm(false);
    let (mut handshake, outcome) = hello(&auth, &details(&["wampcra", "ticket"], Some("joe"), Dict::new()));
    expect_challenge(&outcome, "ticket");
    assert_eq!(expect_welcome(handshake.authenticate("secret!!!", &Dict::new())).authid, "joe");
    // Nothing joe can do: no_auth_method.
    let (_, outcome) = hello(&auth, &details(&["wampcra"], Some("joe"), Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    // An unknown authid gets the first method the realm offers, as a decoy, and fails there.
    let (mut handshake, outcome) =
        hello(&auth, &details(&["wampcra", "ticket"], Some("nobody"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(handshake.authenticate(&wampcra_signature(&extra, "secret!!!"), &Dict::new()), failure());
}

// ---- ticket ----

#[test]
fn ticket_right_and_wrong() {
    let auth = static_realm(false);
    for (authid, ticket) in [("joe", "secret!!!"), ("hashed", PHC_TICKET), ("pbk", PHC_TICKET)] {
        let (mut handshake, outcome) = hello(&auth, &details(&["ticket"], Some(authid), Dict::new()));
        assert_eq!(expect_challenge(&outcome, "ticket"), Dict::new());
        let identity = expect_welcome(handshake.authenticate(ticket, &Dict::new()));
        assert_eq!(
            identity,
            Identity {
                authid: authid.into(),
                authrole: "user".into(),
                authmethod: "ticket",
                authprovider: "static",
                authextra: Dict::new()
            }
        );
        let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some(authid), Dict::new()));
        assert_eq!(handshake.authenticate(&format!("{ticket}x"), &Dict::new()), failure(), "{authid}");
    }
    let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    assert_eq!(handshake.authenticate(PHC_TICKET, &Dict::new()), failure(), "another principal's ticket");
}

#[test]
fn ticket_unknown_authid_is_indistinguishable() {
    let auth = static_realm(false);
    let (mut known, known_challenge) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    let (mut unknown, unknown_challenge) = hello(&auth, &details(&["ticket"], Some("nobody"), Dict::new()));
    assert_eq!(known_challenge, unknown_challenge);
    assert_eq!(known.authenticate("wrong", &Dict::new()), unknown.authenticate("secret!!!", &Dict::new()));
    // A principal without a ticket cannot use the method.
    let (_, outcome) = hello(&auth, &details(&["ticket"], Some("peter"), Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
}

// ---- wampcra ----

#[test]
fn wampcra_salted_right_and_wrong() {
    let auth = static_realm(false);
    let (mut handshake, outcome) = hello(&auth, &details(&["wampcra"], Some("peter"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(extra["salt"], Value::from("salt123"));
    assert_eq!((extra["iterations"].as_u64(), extra["keylen"].as_u64()), (Some(1000), Some(32)));
    // The client knows the password; the router only the derived key.
    let identity = expect_welcome(handshake.authenticate(&wampcra_signature(&extra, "secret"), &Dict::new()));
    assert_eq!(
        (identity.authid.as_str(), identity.authrole.as_str(), identity.authmethod),
        ("peter", "user", "wampcra")
    );

    let (mut handshake, outcome) = hello(&auth, &details(&["wampcra"], Some("peter"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(handshake.authenticate(&wampcra_signature(&extra, "Secret"), &Dict::new()), failure());
}

#[test]
fn wampcra_unsalted_right_and_wrong() {
    let principal = Principal {
        authid: "plain".into(),
        role: "user".into(),
        ticket: None,
        wampcra: Some(crate::auth::WampcraCredentials {
            secret: "secret123".into(),
            salt: None,
            iterations: None,
            keylen: None,
        }),
        scram: None,
        cryptosign: None,
        tls_certificates: Vec::new(),
        authextra: None,
    };
    let auth = Arc::new(RealmAuth::new("realm1", false, &[principal], None).unwrap());
    let (mut handshake, outcome) = hello(&auth, &details(&["wampcra"], Some("plain"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(extra.keys().collect::<Vec<_>>(), ["challenge"]);
    assert!(matches!(
        handshake.authenticate(&wampcra_signature(&extra, "secret123"), &Dict::new()),
        Outcome::Welcome(_)
    ));
    let (mut handshake, outcome) = hello(&auth, &details(&["wampcra"], Some("plain"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(handshake.authenticate(&wampcra_signature(&extra, "secret124"), &Dict::new()), failure());
    let (mut handshake, _) = hello(&auth, &details(&["wampcra"], Some("plain"), Dict::new()));
    assert_eq!(handshake.authenticate("garbage", &Dict::new()), failure());
    // Unknown authids get an unsalted mock challenge too, as the realm's principals are unsalted.
    let (mut unknown, outcome) = hello(&auth, &details(&["wampcra"], Some("nobody"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(extra.keys().collect::<Vec<_>>(), ["challenge"]);
    assert_eq!(unknown.authenticate(&wampcra_signature(&extra, "secret123"), &Dict::new()), failure());
}

#[test]
fn wampcra_challenge_content() {
    let auth = static_realm(false);
    let (_, outcome) = hello(&auth, &details(&["wampcra"], Some("peter"), Dict::new()));
    let extra = expect_challenge(&outcome, "wampcra");
    let text = extra["challenge"].as_str().unwrap();
    let challenge =
        crate::wamp::codec::decode_value(crate::wamp::codec::Serializer::Json, text.as_bytes()).unwrap();
    let challenge = challenge.as_dict().unwrap();
    assert_eq!(challenge["authid"], Value::from("peter"));
    assert_eq!(challenge["authrole"], Value::from("user"));
    assert_eq!(challenge["authmethod"], Value::from("wampcra"));
    assert_eq!(challenge["authprovider"], Value::from("static"));
    assert_eq!(challenge["session"].as_u64(), Some(SESSION));
    let timestamp = challenge["timestamp"].as_str().unwrap();
    assert_eq!(timestamp.len(), "2014-06-22T16:36:25.448Z".len());
    assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T' && timestamp.as_bytes()[19] == b'.');
    assert!(challenge["nonce"].as_str().is_some_and(|n| n.len() >= 16));
}

#[test]
fn wampcra_unknown_authid_is_indistinguishable() {
    let auth = static_realm(false);
    let (mut known, known_challenge) = hello(&auth, &details(&["wampcra"], Some("peter"), Dict::new()));
    let (mut unknown, unknown_challenge) = hello(&auth, &details(&["wampcra"], Some("nobody"), Dict::new()));
    assert_eq!(outcome_shape(&known_challenge), outcome_shape(&unknown_challenge));
    let (known_extra, unknown_extra) =
        (expect_challenge(&known_challenge, "wampcra"), expect_challenge(&unknown_challenge, "wampcra"));
    assert_eq!(known_extra["iterations"], unknown_extra["iterations"]);
    assert_eq!(known_extra["keylen"], unknown_extra["keylen"]);
    assert_eq!(unknown_extra["salt"].as_str().unwrap().len(), "salt123".len());
    let text = unknown_extra["challenge"].as_str().unwrap();
    assert!(
        text.contains("\"authid\":\"nobody\"")
            && text.contains("\"authrole\":\"user\"")
            && text.contains("\"authprovider\":\"static\"")
    );
    // The mock salt is the same for the same authid, and differs between authids.
    let (_, again) = hello(&auth, &details(&["wampcra"], Some("nobody"), Dict::new()));
    assert_eq!(expect_challenge(&again, "wampcra")["salt"], unknown_extra["salt"]);
    let (_, other) = hello(&auth, &details(&["wampcra"], Some("somebody"), Dict::new()));
    assert_ne!(expect_challenge(&other, "wampcra")["salt"], unknown_extra["salt"]);
    assert_eq!(
        known.authenticate("AAAA", &Dict::new()),
        unknown.authenticate(&wampcra_signature(&unknown_extra, "secret"), &Dict::new())
    );
}

// ---- wamp-scram ----

#[test]
fn scram_both_kdfs_right_and_wrong() {
    let auth = static_realm(false);
    for (authid, kdf, memory) in [
        ("user", "pbkdf2", Value::Null),
        ("argon", "argon2id13", Value::from(512u64)),
        ("us,er=1", "argon2id13", Value::from(512u64)),
    ] {
        let (mut handshake, outcome) =
            hello(&auth, &details(&["wamp-scram"], Some(authid), scram_extra(None)));
        let extra = expect_challenge(&outcome, "wamp-scram");
        assert_eq!(extra["kdf"], Value::from(kdf));
        assert_eq!(extra["memory"], memory);
        assert_eq!(extra["salt"], Value::from("AAECAwQFBgcICQoLDA0ODw=="));
        let nonce = extra["nonce"].as_str().unwrap();
        assert_eq!(
            BASE64.decode(&nonce[CLIENT_NONCE.len()..]).unwrap().len(),
            16,
            "16 random bytes of server nonce"
        );
        let (proof, auth_extra, server_signature) = scram_authenticate(authid, PASSWORD, &extra, None);
        let identity = expect_welcome(handshake.authenticate(&proof, &auth_extra));
        assert_eq!(
            (identity.authid.as_str(), identity.authrole.as_str(), identity.authmethod),
            (authid, "frontend", "wamp-scram")
        );
        assert_eq!(identity.authextra["verifier"], Value::from(server_signature.as_str()));
        if authid == "user" {
            assert_eq!(
                identity.authextra["team"],
                Value::from("blue"),
                "the principal's authextra is merged"
            );
        }

        let (mut handshake, outcome) =
            hello(&auth, &details(&["wamp-scram"], Some(authid), scram_extra(None)));
        let extra = expect_challenge(&outcome, "wamp-scram");
        let (proof, auth_extra, _) = scram_authenticate(authid, "pencil2", &extra, None);
        assert_eq!(handshake.authenticate(&proof, &auth_extra), failure(), "{authid}");
    }
}

#[test]
fn scram_python_vectors_through_the_handshake() {
    // The server nonce is random; pin it to the vectors' nonce to replay their exchange exactly.
    for vector in &SCRAM_VECTORS {
        let principal = Principal {
            authid: vector.authid.into(),
            role: "frontend".into(),
            ticket: None,
            wampcra: None,
            scram: Some(crate::auth::ScramCredentials {
                dialect: crate::auth::ScramDialect::Spec,
                kdf: vector.kdf,
                iterations: vector.iterations,
                memory: vector.memory,
                salt: BASE64.encode(SALT),
                stored_key: vector.stored_key.into(),
                server_key: vector.server_key.into(),
            }),
            cryptosign: None,
            tls_certificates: Vec::new(),
            authextra: None,
        };
        let auth = Arc::new(RealmAuth::new("realm1", false, &[principal], None).unwrap());
        let transport = tls_transport(Some(CBIND_DATA), None, None);
        let binding = vector.channel_binding.map(|_| TLS_EXPORTER);
        let (mut handshake, outcome) = hello_over(
            &auth,
            &details(&["wamp-scram"], Some(vector.authid), scram_extra(binding)),
            &transport,
        );
        expect_challenge(&outcome, "wamp-scram");
        match &mut handshake.state {
            State::AwaitScram { nonce, .. } => *nonce = NONCE.to_owned(),
            other => panic!("{other:?}"),
        }
        let extra = match vector.channel_binding {
            None => crate::dict! { "nonce" => NONCE },
            Some(data) => {
                crate::dict! { "nonce" => NONCE, "channel_binding" => TLS_EXPORTER, "cbind_data" => BASE64.encode(data) }
            }
        };
        let identity = expect_welcome(handshake.authenticate(vector.proof, &extra));
        assert_eq!(identity.authid, vector.authid);
        assert_eq!(identity.authextra["verifier"], Value::from(vector.server_signature));
    }
}

#[test]
fn scram_checks_nonce_and_binding_in_authenticate() {
    let auth = static_realm(false);
    let start = || {
        let (handshake, outcome) = hello(&auth, &details(&["wamp-scram"], Some("user"), scram_extra(None)));
        let extra = expect_challenge(&outcome, "wamp-scram");
        let (proof, auth_extra, _) = scram_authenticate("user", PASSWORD, &extra, None);
        (handshake, proof, auth_extra)
    };
    let (mut handshake, proof, mut extra) = start();
    extra.insert("nonce".into(), Value::from(format!("{CLIENT_NONCE}AAAAAAAAAAAAAAAAAAAAAA==")));
    assert_eq!(handshake.authenticate(&proof, &extra), failure(), "another nonce");
    let (mut handshake, proof, mut extra) = start();
    extra.insert("channel_binding".into(), Value::from(TLS_EXPORTER));
    assert_eq!(handshake.authenticate(&proof, &extra), failure(), "binding not requested in HELLO");
    let (mut handshake, _, extra) = start();
    assert_eq!(handshake.authenticate("not base64", &extra), failure());
}

#[test]
fn scram_channel_binding() {
    let auth = static_realm(false);
    let transport = tls_transport(Some(EXPORTER), None, None);
    let hello_bound = || {
        let (handshake, outcome) = hello_over(
            &auth,
            &details(&["wamp-scram"], Some("user"), scram_extra(Some(TLS_EXPORTER))),
            &transport,
        );
        (handshake, expect_challenge(&outcome, "wamp-scram"))
    };
    let (mut handshake, extra) = hello_bound();
    let (proof, auth_extra, signature) = scram_authenticate("user", PASSWORD, &extra, Some(&EXPORTER));
    assert_eq!(
        expect_welcome(handshake.authenticate(&proof, &auth_extra)).authextra["verifier"],
        Value::from(signature.as_str())
    );

    let (mut handshake, extra) = hello_bound();
    let (proof, mut auth_extra, _) = scram_authenticate("user", PASSWORD, &extra, Some(&EXPORTER));
    auth_extra.insert("cbind_data".into(), Value::from(BASE64.encode([8u8; 32])));
    assert_eq!(handshake.authenticate(&proof, &auth_extra), failure(), "other channel data");

    let (mut handshake, extra) = hello_bound();
    let (proof, auth_extra, _) = scram_authenticate("user", PASSWORD, &extra, None);
    assert_eq!(handshake.authenticate(&proof, &auth_extra), failure(), "the client did not bind");

    let (mut handshake, extra) = hello_bound();
    let (proof, mut auth_extra, _) = scram_authenticate("user", PASSWORD, &extra, Some(&EXPORTER));
    auth_extra.remove("cbind_data");
    assert_eq!(handshake.authenticate(&proof, &auth_extra), failure(), "no cbind_data");

    // Unsupported or unavailable bindings are refused at HELLO.
    let (_, outcome) = hello(&auth, &details(&["wamp-scram"], Some("user"), scram_extra(Some(TLS_EXPORTER))));
    expect_abort(&outcome, uris::AUTHENTICATION_FAILED);
    let (_, outcome) = hello_over(
        &auth,
        &details(&["wamp-scram"], Some("user"), scram_extra(Some("tls-unique"))),
        &transport,
    );
    expect_abort(&outcome, uris::AUTHENTICATION_FAILED);
    let (_, outcome) =
        hello(&auth, &details(&["wamp-scram"], Some("user"), crate::dict! { "nonce" => "a,b" }));
    expect_abort(&outcome, uris::AUTHENTICATION_FAILED);
}

#[test]
fn scram_unknown_authid_is_indistinguishable() {
    let auth = static_realm(false);
    let (mut known, known_challenge) =
        hello(&auth, &details(&["wamp-scram"], Some("argon"), scram_extra(None)));
    let (mut unknown, unknown_challenge) =
        hello(&auth, &details(&["wamp-scram"], Some("nobody"), scram_extra(None)));
    assert_eq!(outcome_shape(&known_challenge), outcome_shape(&unknown_challenge));
    let (known_extra, unknown_extra) = (
        expect_challenge(&known_challenge, "wamp-scram"),
        expect_challenge(&unknown_challenge, "wamp-scram"),
    );
    for field in ["kdf", "iterations", "memory"] {
        assert_eq!(known_extra[field], unknown_extra[field], "{field} imitates the realm's principals");
    }
    let salt = unknown_extra["salt"].as_str().unwrap();
    assert_eq!(BASE64.decode(salt).unwrap().len(), SALT.len());
    let (_, again) = hello(&auth, &details(&["wamp-scram"], Some("nobody"), scram_extra(None)));
    assert_eq!(
        expect_challenge(&again, "wamp-scram")["salt"],
        Value::from(salt),
        "same salt for the same authid"
    );
    let (_, other) = hello(&auth, &details(&["wamp-scram"], Some("nobody2"), scram_extra(None)));
    assert_ne!(expect_challenge(&other, "wamp-scram")["salt"], Value::from(salt));
    // The same realm built again (a restart) gives the same mock salt.
    let (_, restarted) =
        hello(&static_realm(false), &details(&["wamp-scram"], Some("nobody"), scram_extra(None)));
    assert_eq!(expect_challenge(&restarted, "wamp-scram")["salt"], Value::from(salt));

    let (proof, extra, _) = scram_authenticate("argon", "wrong", &known_extra, None);
    let known_failure = known.authenticate(&proof, &extra);
    let (proof, extra, _) = scram_authenticate("nobody", PASSWORD, &unknown_extra, None);
    assert_eq!(unknown.authenticate(&proof, &extra), known_failure);
    assert_eq!(known_failure, failure());
}

// ---- scram: autobahn-python's / Crossbar's dialect ----

/// The static principals plus autobahn-dialect ones: "ab" (t=4, m=512) and "ab2" (its twin).
fn autobahn_principals() -> Vec<Principal> {
    let credentials = crate::auth::scram_credentials_for(
        ScramDialect::Autobahn,
        PASSWORD,
        Kdf::Argon2id13,
        4,
        Some(512),
        &SALT,
    );
    let text = format!(
        r#"
        [[principals]]
        authid = "ab"
        role = "frontend"
        scram = {{ dialect = "autobahn", kdf = "argon2id-13", iterations = 4, memory = 512, salt = "{salt}", stored_key = "{stored}", server_key = "{server}" }}
        authextra = {{ team = "red" }}

        [[principals]]
        authid = "ab2"
        role = "frontend"
        scram = {{ dialect = "autobahn", kdf = "argon2id13", iterations = 4, memory = 512, salt = "{salt}", stored_key = "{stored}", server_key = "{server}" }}
        "#,
        salt = credentials.salt,
        stored = credentials.stored_key,
        server = credentials.server_key,
    );
    #[derive(serde::Deserialize)]
    struct Doc {
        principals: Vec<Principal>,
    }
    let mut principals = static_principals();
    principals.extend(toml::from_str::<Doc>(&text).unwrap().principals);
    principals
}

fn autobahn_realm() -> Arc<RealmAuth> {
    Arc::new(RealmAuth::new("realm1", false, &autobahn_principals(), None).unwrap())
}

/// HELLO.Details.authextra as autobahn's `AuthScram` sends it.
fn autobahn_extra() -> Dict {
    crate::dict! { "nonce" => AUTOBAHN_CLIENT_NONCE }
}

/// What autobahn's `AuthScram.on_challenge` does with a CHALLENGE (written out here on its own, after
/// autobahn's code): checks the keys, computes the AuthMessage and the ClientProof. Returns the
/// signature of AUTHENTICATE and the ServerSignature its `on_welcome` expects.
fn autobahn_authenticate(authid: &str, password: &str, extra: &Dict) -> (String, String) {
    for key in extra.keys() {
        assert!(
            ["nonce", "kdf", "salt", "iterations", "memory", "channel_binding"].contains(&key.as_str()),
            "autobahn refuses a CHALLENGE with {key:?}"
        );
    }
    assert_eq!(extra["kdf"], Value::from("argon2id-13"));
    let nonce = extra["nonce"].as_str().unwrap();
    let salt = extra["salt"].as_str().unwrap();
    let iterations = extra["iterations"].as_u64().unwrap() as u32;
    let memory = extra["memory"].as_u64().unwrap() as u32;
    let channel_binding = extra.get("channel_binding").map(|v| v.as_str().unwrap()).unwrap_or("");
    let message = format!(
        "n={},r={AUTOBAHN_CLIENT_NONCE},r={nonce},s={salt},i={iterations},c={channel_binding},r={nonce}",
        stringprep::saslprep(authid).unwrap()
    );
    let salted = autobahn_salted_password(password, &BASE64.decode(salt).unwrap(), iterations, memory);
    let proof = scram::client_proof(&salted, &message);
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&salted).unwrap();
    mac.update(b"Server Key");
    let server_key = mac.finalize().into_bytes();
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&server_key).unwrap();
    mac.update(message.as_bytes());
    (proof, BASE64.encode(mac.finalize().into_bytes()))
}

#[test]
fn autobahn_scram_right_and_wrong() {
    let auth = autobahn_realm();
    for authid in ["ab", "ab2"] {
        let (mut handshake, outcome) = hello(&auth, &details(&["scram"], Some(authid), autobahn_extra()));
        let extra = expect_challenge(&outcome, "scram");
        assert_eq!(extra.len(), 5, "nonce, salt, kdf, iterations, memory: {extra:?}");
        assert_eq!((extra["iterations"].as_u64(), extra["memory"].as_u64()), (Some(4), Some(512)));
        assert_eq!(extra["salt"], Value::from("AAECAwQFBgcICQoLDA0ODw=="));
        let nonce = extra["nonce"].as_str().unwrap();
        assert!(nonce.starts_with(AUTOBAHN_CLIENT_NONCE));
        assert_eq!(BASE64.decode(&nonce[AUTOBAHN_CLIENT_NONCE.len()..]).unwrap().len(), 16);
        let (proof, server_signature) = autobahn_authenticate(authid, PASSWORD, &extra);
        // autobahn's AUTHENTICATE has an empty extra.
        let identity = expect_welcome(handshake.authenticate(&proof, &Dict::new()));
        assert_eq!(
            (
                identity.authid.as_str(),
                identity.authrole.as_str(),
                identity.authmethod,
                identity.authprovider
            ),
            (authid, "frontend", "scram", "static")
        );
        assert_eq!(identity.authextra["scram_server_signature"], Value::from(server_signature.as_str()));
        assert!(!identity.authextra.contains_key("verifier"));
        if authid == "ab" {
            assert_eq!(identity.authextra["team"], Value::from("red"), "the principal's authextra is merged");
        }

        let (mut handshake, outcome) = hello(&auth, &details(&["scram"], Some(authid), autobahn_extra()));
        let (proof, _) = autobahn_authenticate(authid, "pencil2", &expect_challenge(&outcome, "scram"));
        assert_eq!(handshake.authenticate(&proof, &Dict::new()), failure(), "wrong password");

        let (mut handshake, _) = hello(&auth, &details(&["scram"], Some(authid), autobahn_extra()));
        assert_eq!(handshake.authenticate("not base64!", &Dict::new()), failure());
    }
}

#[test]
fn autobahn_python_vectors_through_the_handshake() {
    for vector in &AUTOBAHN_VECTORS {
        let principal = Principal {
            authid: vector.authid.into(),
            role: "frontend".into(),
            ticket: None,
            wampcra: None,
            scram: Some(crate::auth::ScramCredentials {
                dialect: ScramDialect::Autobahn,
                kdf: Kdf::Argon2id13,
                iterations: vector.iterations,
                memory: Some(vector.memory),
                salt: BASE64.encode(SALT),
                stored_key: vector.stored_key.into(),
                server_key: vector.server_key.into(),
            }),
            cryptosign: None,
            tls_certificates: Vec::new(),
            authextra: None,
        };
        let auth = Arc::new(RealmAuth::new("realm1", false, &[principal], None).unwrap());
        let (mut handshake, outcome) =
            hello(&auth, &details(&["scram"], Some(vector.authid), autobahn_extra()));
        let extra = expect_challenge(&outcome, "scram");
        assert_eq!(
            (extra["kdf"].as_str(), extra["iterations"].as_u64(), extra["memory"].as_u64()),
            (Some("argon2id-13"), Some(u64::from(vector.iterations)), Some(u64::from(vector.memory)))
        );
        // Pin the server nonce to the one autobahn was given.
        match &mut handshake.state {
            State::AwaitScram { nonce, .. } => *nonce = AUTOBAHN_NONCE.to_owned(),
            other => panic!("{other:?}"),
        }
        let identity = expect_welcome(handshake.authenticate(vector.proof, &Dict::new()));
        assert_eq!((identity.authid.as_str(), identity.authmethod), (vector.authid, "scram"));
        assert_eq!(identity.authextra["scram_server_signature"], Value::from(vector.server_signature));
    }
}

#[test]
fn the_dialects_do_not_mix() {
    let auth = autobahn_realm();
    // A spec principal cannot use "scram", an autobahn principal cannot use "wamp-scram".
    let (_, outcome) = hello(&auth, &details(&["scram"], Some("argon"), autobahn_extra()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    let (_, outcome) = hello(&auth, &details(&["wamp-scram"], Some("ab"), scram_extra(None)));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    // An unknown authid gets a mock CHALLENGE in the dialect asked for, shaped like the realm's principals.
    let (mut handshake, outcome) = hello(&auth, &details(&["wamp-scram"], Some("nobody"), scram_extra(None)));
    let extra = expect_challenge(&outcome, "wamp-scram");
    assert_eq!(extra["kdf"], Value::from("argon2id13"), "the shape of most spec principals");
    assert_eq!(extra.len(), 5, "a spec CHALLENGE: {extra:?}");
    let (proof, auth_extra, _) = scram_authenticate("nobody", PASSWORD, &extra, None);
    assert_eq!(handshake.authenticate(&proof, &auth_extra), failure());
    // A realm without autobahn principals does not offer "scram" at all.
    let (_, outcome) = hello(&static_realm(false), &details(&["scram"], Some("argon"), autobahn_extra()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    // The spec principal still authenticates under "wamp-scram".
    let (mut handshake, outcome) = hello(&auth, &details(&["wamp-scram"], Some("argon"), scram_extra(None)));
    let extra = expect_challenge(&outcome, "wamp-scram");
    let (proof, auth_extra, _) = scram_authenticate("argon", PASSWORD, &extra, None);
    assert!(matches!(handshake.authenticate(&proof, &auth_extra), Outcome::Welcome(_)), "spec still works");
}

#[test]
fn both_scram_names_follow_the_authmethods_order() {
    let auth = autobahn_realm();
    let mut both = autobahn_extra();
    both.insert("nonce".into(), Value::from(CLIENT_NONCE));
    let (_, outcome) = hello(&auth, &details(&["scram", "wamp-scram"], Some("ab"), both.clone()));
    expect_challenge(&outcome, "scram");
    let (_, outcome) = hello(&auth, &details(&["wamp-scram", "scram"], Some("nobody"), both.clone()));
    expect_challenge(&outcome, "wamp-scram");
    // ab is an autobahn-dialect principal: "wamp-scram" is skipped for it.
    let (_, outcome) = hello(&auth, &details(&["wamp-scram", "scram"], Some("ab"), both.clone()));
    expect_challenge(&outcome, "scram");
    let (_, outcome) = hello(&auth, &details(&["ticket", "scram"], Some("nobody"), both.clone()));
    expect_challenge(&outcome, "ticket");
    let (_, outcome) = hello(&auth, &details(&["ticket", "scram"], Some("ab"), both.clone()));
    expect_challenge(&outcome, "scram");
    // Realm without the dialect: "scram" is skipped.
    let (_, outcome) = hello(&static_realm(false), &details(&["scram", "wamp-scram"], Some("user"), both));
    expect_challenge(&outcome, "wamp-scram");
    // Without a nonce, "scram" is skipped too.
    let (_, outcome) = hello(&auth, &details(&["scram", "ticket"], Some("joe"), Dict::new()));
    expect_challenge(&outcome, "ticket");
    let (_, outcome) = hello(&auth, &details(&["scram"], Some("ab"), crate::dict! { "nonce" => "a,b" }));
    expect_abort(&outcome, uris::AUTHENTICATION_FAILED);
}

#[test]
fn autobahn_scram_ignores_channel_binding_requests() {
    // autobahn merges the authextra of all a client's authenticators: a cryptosign one may add
    // channel_binding, which autobahn's SCRAM does not use ("c=" stays empty).
    let auth = autobahn_realm();
    let mut extra = autobahn_extra();
    extra.insert("channel_binding".into(), Value::from("tls-unique"));
    let (mut handshake, outcome) = hello(&auth, &details(&["scram"], Some("ab"), extra));
    let challenge = expect_challenge(&outcome, "scram");
    assert!(!challenge.contains_key("channel_binding"));
    let (proof, _) = autobahn_authenticate("ab", PASSWORD, &challenge);
    assert!(matches!(handshake.authenticate(&proof, &Dict::new()), Outcome::Welcome(_)));
}

#[test]
fn autobahn_scram_unknown_authid_is_indistinguishable() {
    let auth = autobahn_realm();
    let (mut known, known_challenge) = hello(&auth, &details(&["scram"], Some("ab"), autobahn_extra()));
    let (mut unknown, unknown_challenge) =
        hello(&auth, &details(&["scram"], Some("nobody"), autobahn_extra()));
    assert_eq!(outcome_shape(&known_challenge), outcome_shape(&unknown_challenge));
    let (known_extra, unknown_extra) =
        (expect_challenge(&known_challenge, "scram"), expect_challenge(&unknown_challenge, "scram"));
    for field in ["kdf", "iterations", "memory"] {
        assert_eq!(known_extra[field], unknown_extra[field], "{field} imitates the autobahn principals");
    }
    let salt = unknown_extra["salt"].as_str().unwrap();
    assert_eq!(BASE64.decode(salt).unwrap().len(), SALT.len());
    let (_, again) = hello(&autobahn_realm(), &details(&["scram"], Some("nobody"), autobahn_extra()));
    assert_eq!(expect_challenge(&again, "scram")["salt"], Value::from(salt), "stable per authid");
    let (_, spec) = hello(&auth, &details(&["wamp-scram"], Some("nobody"), scram_extra(None)));
    assert_ne!(expect_challenge(&spec, "wamp-scram")["salt"], Value::from(salt), "another salt per dialect");

    let (proof, _) = autobahn_authenticate("ab", "wrong", &known_extra);
    let known_failure = known.authenticate(&proof, &Dict::new());
    let (proof, _) = autobahn_authenticate("nobody", PASSWORD, &unknown_extra);
    assert_eq!(unknown.authenticate(&proof, &Dict::new()), known_failure);
    assert_eq!(known_failure, failure());
}

#[test]
fn autobahn_principals_with_pbkdf2_are_refused() {
    let mut principals = autobahn_principals();
    let scram = principals.last_mut().unwrap().scram.as_mut().unwrap();
    *scram = crate::auth::scram_credentials(PASSWORD, Kdf::Pbkdf2, 4096, None, &SALT);
    scram.dialect = ScramDialect::Autobahn;
    let error = RealmAuth::new("realm1", false, &principals, None).unwrap_err();
    assert!(error.contains("ab2") && error.contains("argon2id13"), "{error}");
}

// ---- cryptosign ----

#[test]
fn cryptosign_right_and_wrong() {
    let auth = static_realm(false);
    for authid in [Some("alice"), None] {
        let (mut handshake, outcome) =
            hello(&auth, &details(&["cryptosign"], authid, cryptosign_extra(&alice_key(), None)));
        let extra = expect_challenge(&outcome, "cryptosign");
        assert_eq!(extra["channel_binding"], Value::Null);
        assert_eq!(extra["challenge"].as_str().unwrap().len(), 64);
        let identity =
            expect_welcome(handshake.authenticate(&sign_challenge(&alice_key(), &extra, None), &Dict::new()));
        assert_eq!(
            (identity.authid.as_str(), identity.authrole.as_str(), identity.authmethod),
            ("alice", "signer", "cryptosign")
        );

        let (mut handshake, outcome) =
            hello(&auth, &details(&["cryptosign"], authid, cryptosign_extra(&alice_key(), None)));
        let extra = expect_challenge(&outcome, "cryptosign");
        assert_eq!(
            handshake.authenticate(&sign_challenge(&bob_key(), &extra, None), &Dict::new()),
            failure(),
            "another private key"
        );
    }
    // bob's key is registered, but not for alice: challenged like anybody, then refused.
    let (mut handshake, outcome) =
        hello(&auth, &details(&["cryptosign"], Some("alice"), cryptosign_extra(&bob_key(), None)));
    let extra = expect_challenge(&outcome, "cryptosign");
    assert_eq!(handshake.authenticate(&sign_challenge(&bob_key(), &extra, None), &Dict::new()), failure());
    // Malformed or missing public keys.
    let (_, outcome) = hello(&auth, &details(&["cryptosign"], None, crate::dict! { "pubkey" => "abcd" }));
    expect_abort(&outcome, uris::AUTHENTICATION_FAILED);
    let (_, outcome) = hello(&auth, &details(&["cryptosign"], None, Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
}

#[test]
fn cryptosign_unknown_key_is_indistinguishable() {
    let auth = static_realm(false);
    let (mut known, known_challenge) =
        hello(&auth, &details(&["cryptosign"], None, cryptosign_extra(&alice_key(), None)));
    let (mut unknown, unknown_challenge) =
        hello(&auth, &details(&["cryptosign"], None, cryptosign_extra(&stranger_key(), None)));
    let (mut unknown_authid, unknown_authid_challenge) =
        hello(&auth, &details(&["cryptosign"], Some("nobody"), cryptosign_extra(&stranger_key(), None)));
    assert_eq!(outcome_shape(&known_challenge), outcome_shape(&unknown_challenge));
    assert_eq!(outcome_shape(&known_challenge), outcome_shape(&unknown_authid_challenge));
    let stranger_signature =
        |outcome: &Outcome| sign_challenge(&stranger_key(), &expect_challenge(outcome, "cryptosign"), None);
    assert_eq!(known.authenticate(&stranger_signature(&known_challenge), &Dict::new()), failure());
    assert_eq!(unknown.authenticate(&stranger_signature(&unknown_challenge), &Dict::new()), failure());
    assert_eq!(
        unknown_authid.authenticate(&stranger_signature(&unknown_authid_challenge), &Dict::new()),
        failure()
    );
}

#[test]
fn cryptosign_tls_exporter_binding() {
    let auth = static_realm(false);
    let transport = tls_transport(Some(EXPORTER), None, None);
    let bound_hello = || {
        let (handshake, outcome) = hello_over(
            &auth,
            &details(&["cryptosign"], None, cryptosign_extra(&alice_key(), Some(TLS_EXPORTER))),
            &transport,
        );
        let extra = expect_challenge(&outcome, "cryptosign");
        assert_eq!(extra["channel_binding"], Value::from(TLS_EXPORTER));
        (handshake, extra)
    };
    let (mut handshake, extra) = bound_hello();
    assert!(matches!(
        handshake.authenticate(&sign_challenge(&alice_key(), &extra, Some(&EXPORTER)), &Dict::new()),
        Outcome::Welcome(_)
    ));
    let (mut handshake, extra) = bound_hello();
    assert_eq!(
        handshake.authenticate(&sign_challenge(&alice_key(), &extra, None), &Dict::new()),
        failure(),
        "unbound signature"
    );
    let (mut handshake, extra) = bound_hello();
    assert_eq!(
        handshake.authenticate(&sign_challenge(&alice_key(), &extra, Some(&[8; 32])), &Dict::new()),
        failure(),
        "other channel"
    );
}

#[test]
fn cryptosign_unavailable_binding_goes_on_unbound() {
    let auth = static_realm(false);
    let tls = tls_transport(Some(EXPORTER), None, None);
    let no_exporter = tls_transport(None, None, None);
    for (binding, transport) in
        [("tls-unique", &tls), (TLS_EXPORTER, &TransportInfo::default()), (TLS_EXPORTER, &no_exporter)]
    {
        let (mut handshake, outcome) = hello_over(
            &auth,
            &details(&["cryptosign"], None, cryptosign_extra(&alice_key(), Some(binding))),
            transport,
        );
        let extra = expect_challenge(&outcome, "cryptosign");
        assert_eq!(extra["channel_binding"], Value::Null, "{binding}");
        assert!(matches!(
            handshake.authenticate(&sign_challenge(&alice_key(), &extra, None), &Dict::new()),
            Outcome::Welcome(_)
        ));
    }
}

#[test]
fn cryptosign_spec_vectors_through_the_handshake() {
    for (channel_id, private, challenge, signature) in SPEC_VECTORS {
        let key = signing_key(private);
        let principal = Principal {
            authid: "client01@example.com".into(),
            role: "user".into(),
            ticket: None,
            wampcra: None,
            scram: None,
            cryptosign: Some(crate::auth::CryptosignCredentials { authorized_keys: vec![public_hex(&key)] }),
            tls_certificates: Vec::new(),
            authextra: None,
        };
        let auth = Arc::new(RealmAuth::new("realm1", false, &[principal], None).unwrap());
        let mut channel = [0u8; 32];
        let (transport, binding) = match channel_id {
            Some(id) => {
                hex::decode_to_slice(id, &mut channel).unwrap();
                (tls_transport(Some(channel), None, None), Some(TLS_EXPORTER))
            }
            None => (TransportInfo::default(), None),
        };
        let (mut handshake, outcome) =
            hello_over(&auth, &details(&["cryptosign"], None, cryptosign_extra(&key, binding)), &transport);
        expect_challenge(&outcome, "cryptosign");
        match &mut handshake.state {
            State::AwaitCryptosign { challenge: pending, .. } => {
                hex::decode_to_slice(challenge, pending).unwrap()
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            expect_welcome(handshake.authenticate(signature, &Dict::new())).authid,
            "client01@example.com"
        );
    }
}

#[test]
fn cryptosign_replayed_signature_fails() {
    let auth = static_realm(false);
    let (mut first, outcome) =
        hello(&auth, &details(&["cryptosign"], None, cryptosign_extra(&alice_key(), None)));
    let signature = sign_challenge(&alice_key(), &expect_challenge(&outcome, "cryptosign"), None);
    assert!(matches!(first.authenticate(&signature, &Dict::new()), Outcome::Welcome(_)));
    let (mut second, outcome) = Handshake::hello(
        &auth,
        "realm1",
        SESSION + 1,
        &details(&["cryptosign"], None, cryptosign_extra(&alice_key(), None)),
        &TransportInfo::default(),
    );
    expect_challenge(&outcome, "cryptosign");
    assert_eq!(second.authenticate(&signature, &Dict::new()), failure());
}

// ---- tls ----

#[test]
fn tls_certificate_match_and_mismatch() {
    let auth = static_realm(false);
    let with_cert = tls_transport(None, Some(CERT), Some("device1.example.com"));
    let (_, outcome) = hello_over(&auth, &details(&["tls"], None, Dict::new()), &with_cert);
    assert_eq!(
        expect_welcome(outcome),
        Identity {
            authid: "device1".into(),
            authrole: "device".into(),
            authmethod: "tls",
            authprovider: "static",
            authextra: Dict::new()
        }
    );
    let (_, outcome) = hello_over(&auth, &details(&["tls"], Some("device1"), Dict::new()), &with_cert);
    assert!(matches!(outcome, Outcome::Welcome(_)));
    let (_, outcome) = hello_over(&auth, &details(&["tls"], Some("joe"), Dict::new()), &with_cert);
    assert_eq!(outcome, failure(), "the certificate is not joe's");
    let other_cert = tls_transport(None, Some([0xcd; 32]), None);
    let (_, outcome) = hello_over(&auth, &details(&["tls"], None, Dict::new()), &other_cert);
    assert_eq!(outcome, failure());
    let (_, outcome) = hello(&auth, &details(&["tls"], None, Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    let (_, outcome) = hello_over(
        &auth,
        &details(&["tls", "ticket"], Some("joe"), Dict::new()),
        &tls_transport(Some(EXPORTER), None, None),
    );
    expect_challenge(&outcome, "ticket");
}

// ---- dynamic authenticator ----

#[test]
fn dynamic_ticket_asks_after_authenticate() {
    let auth = dynamic_realm();
    let (mut handshake, outcome) =
        hello(&auth, &details(&["ticket"], Some("dyn"), crate::dict! { "x" => 1u64 }));
    assert_eq!(expect_challenge(&outcome, "ticket"), Dict::new());
    let asked = handshake.authenticate("tkt", &Dict::new());
    let request = expect_ask(&asked);
    assert_eq!(
        request,
        crate::dict! {
            "authmethod" => "ticket",
            "authid" => "dyn",
            "authextra" => crate::dict! { "x" => 1u64 },
            "session" => SESSION,
            "ticket" => "tkt",
            "transport" => crate::dict! { "peer" => "unix", "channel_binding" => Value::Null },
        }
    );
    match &asked {
        Outcome::AskAuthenticator { args, .. } => assert_eq!(args[1], Value::from("dyn")),
        _ => unreachable!(),
    }
    let identity =
        expect_welcome(handshake.authenticator_answered(Ok((vec![Value::from("user")], Dict::new()))));
    assert_eq!(
        identity,
        Identity {
            authid: "dyn".into(),
            authrole: "user".into(),
            authmethod: "ticket",
            authprovider: "dynamic",
            authextra: Dict::new()
        }
    );
}

#[test]
fn dynamic_errors_and_wrong_shapes_abort() {
    let auth = dynamic_realm();
    let ask = || {
        let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some("dyn"), Dict::new()));
        expect_ask(&handshake.authenticate("tkt", &Dict::new()));
        handshake
    };
    type Answer = Result<(Vec<Value>, Dict), String>;
    let cases: [(Answer, &str); 7] = [
        (Err("wamp.error.not_authorized".into()), uris::NOT_AUTHORIZED),
        (Err("wamp.error.no_such_role".into()), uris::NO_SUCH_ROLE),
        (Err("wamp.error.authentication_failed".into()), uris::AUTHENTICATION_FAILED),
        (Err("wamp.error.no_such_procedure".into()), uris::AUTHENTICATION_FAILED),
        (Err("wamp.error.canceled".into()), uris::AUTHENTICATION_FAILED),
        (Ok((vec![Value::Int(3)], Dict::new())), uris::AUTHENTICATION_FAILED),
        (Ok((vec![Value::Dict(crate::dict! { "authid" => "x" })], Dict::new())), uris::AUTHENTICATION_FAILED),
    ];
    for (answer, reason) in cases {
        let outcome = ask().authenticator_answered(answer.clone());
        assert_eq!(outcome, Outcome::Abort { reason, message: FAILED.into() }, "{answer:?}");
    }
}

#[test]
fn dynamic_answer_overrides_authid_and_sets_authextra() {
    let auth = dynamic_realm();
    let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some("dyn"), Dict::new()));
    expect_ask(&handshake.authenticate("tkt", &Dict::new()));
    let answer =
        crate::dict! { "role" => "admin", "authid" => "dyn-7", "extra" => crate::dict! { "tier" => "gold" } };
    let identity =
        expect_welcome(handshake.authenticator_answered(Ok((vec![Value::Dict(answer)], Dict::new()))));
    assert_eq!((identity.authid.as_str(), identity.authrole.as_str()), ("dyn-7", "admin"));
    assert_eq!(identity.authextra, crate::dict! { "tier" => "gold" });
}

#[test]
fn static_principals_take_precedence_over_the_authenticator() {
    let auth = dynamic_realm();
    let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    assert_eq!(expect_welcome(handshake.authenticate("secret!!!", &Dict::new())).authprovider, "static");
    let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    assert_eq!(
        handshake.authenticate("wrong", &Dict::new()),
        failure(),
        "not passed on to the authenticator"
    );
    // peter has no ticket: the authenticator decides.
    let (mut handshake, _) = hello(&auth, &details(&["ticket"], Some("peter"), Dict::new()));
    expect_ask(&handshake.authenticate("tkt", &Dict::new()));
}

#[test]
fn dynamic_wampcra() {
    let auth = dynamic_realm();
    let (mut handshake, outcome) = hello(&auth, &details(&["wampcra"], Some("dyn"), Dict::new()));
    let request = expect_ask(&outcome);
    assert_eq!(request["authmethod"], Value::from("wampcra"));
    assert!(!request.contains_key("ticket"));
    let answer = crate::dict! { "role" => "user", "secret" => "s3", "extra" => crate::dict! { "a" => 1u64 } };
    let outcome = handshake.authenticator_answered(Ok((vec![Value::Dict(answer.clone())], Dict::new())));
    let extra = expect_challenge(&outcome, "wampcra");
    assert!(extra["challenge"].as_str().unwrap().contains("\"authprovider\":\"dynamic\""));
    assert!(!extra.contains_key("salt"));
    let identity = expect_welcome(handshake.authenticate(&wampcra_signature(&extra, "s3"), &Dict::new()));
    assert_eq!((identity.authprovider, identity.authmethod), ("dynamic", "wampcra"));
    assert_eq!(identity.authextra, crate::dict! { "a" => 1u64 });

    let (mut handshake, _) = hello(&auth, &details(&["wampcra"], Some("dyn"), Dict::new()));
    let outcome = handshake.authenticator_answered(Ok((vec![Value::Dict(answer)], Dict::new())));
    let extra = expect_challenge(&outcome, "wampcra");
    assert_eq!(handshake.authenticate(&wampcra_signature(&extra, "s4"), &Dict::new()), failure());

    let salted = crate::dict! {
        "role" => "user", "secret" => crate::auth::wampcra_derive_key("pw", "NaCl", 10, 16), "salt" => "NaCl", "iterations" => 10u64, "keylen" => 16u64,
    };
    let (mut handshake, _) = hello(&auth, &details(&["wampcra"], Some("dyn"), Dict::new()));
    let extra = expect_challenge(
        &handshake.authenticator_answered(Ok((vec![Value::Dict(salted)], Dict::new()))),
        "wampcra",
    );
    assert_eq!(extra["salt"], Value::from("NaCl"));
    assert!(matches!(
        handshake.authenticate(&wampcra_signature(&extra, "pw"), &Dict::new()),
        Outcome::Welcome(_)
    ));

    let (mut handshake, _) = hello(&auth, &details(&["wampcra"], Some("dyn"), Dict::new()));
    let no_secret = crate::dict! { "role" => "user" };
    assert_eq!(handshake.authenticator_answered(Ok((vec![Value::Dict(no_secret)], Dict::new()))), failure());
    let (mut handshake, _) = hello(&auth, &details(&["wampcra"], Some("dyn"), Dict::new()));
    assert_eq!(
        handshake.authenticator_answered(Ok((vec![Value::from("user")], Dict::new()))),
        failure(),
        "a bare role has no secret"
    );
}

#[test]
fn dynamic_scram() {
    let auth = dynamic_realm();
    let credentials =
        crate::auth::scram_credentials(PASSWORD, Kdf::Argon2id13, 4, Some(512), b"dynamic salt");
    let answer = crate::dict! {
        "role" => "frontend", "kdf" => "argon2id13", "iterations" => 4u64, "memory" => 512u64,
        "salt" => credentials.salt.as_str(), "stored_key" => credentials.stored_key.as_str(), "server_key" => credentials.server_key.as_str(),
    };
    let (mut handshake, outcome) = hello(&auth, &details(&["wamp-scram"], Some("dyn"), scram_extra(None)));
    assert_eq!(expect_ask(&outcome)["authmethod"], Value::from("wamp-scram"));
    let outcome = handshake.authenticator_answered(Ok((vec![Value::Dict(answer.clone())], Dict::new())));
    let extra = expect_challenge(&outcome, "wamp-scram");
    assert_eq!(extra["salt"], Value::from(credentials.salt.as_str()));
    let (proof, auth_extra, server_signature) = scram_authenticate("dyn", PASSWORD, &extra, None);
    let identity = expect_welcome(handshake.authenticate(&proof, &auth_extra));
    assert_eq!((identity.authprovider, identity.authrole.as_str()), ("dynamic", "frontend"));
    assert_eq!(identity.authextra["verifier"], Value::from(server_signature.as_str()));

    let (mut handshake, _) = hello(&auth, &details(&["wamp-scram"], Some("dyn"), scram_extra(None)));
    let extra = expect_challenge(
        &handshake.authenticator_answered(Ok((vec![Value::Dict(answer.clone())], Dict::new()))),
        "wamp-scram",
    );
    let (proof, auth_extra, _) = scram_authenticate("dyn", "wrong", &extra, None);
    assert_eq!(handshake.authenticate(&proof, &auth_extra), failure());

    let mut broken = answer;
    broken.remove("server_key");
    let (mut handshake, _) = hello(&auth, &details(&["wamp-scram"], Some("dyn"), scram_extra(None)));
    assert_eq!(handshake.authenticator_answered(Ok((vec![Value::Dict(broken)], Dict::new()))), failure());
}

#[test]
fn dynamic_autobahn_scram() {
    let all = authenticator(&["wamp-scram", "scram"]);
    let auth = Arc::new(RealmAuth::new("realm1", false, &static_principals(), Some(&all)).unwrap());
    let credentials = crate::auth::scram_credentials_for(
        ScramDialect::Autobahn,
        PASSWORD,
        Kdf::Argon2id13,
        4,
        Some(512),
        b"dynamic salt",
    );
    let answer = crate::dict! {
        "role" => "frontend", "kdf" => "argon2id-13", "iterations" => 4u64, "memory" => 512u64,
        "salt" => credentials.salt.as_str(), "stored_key" => credentials.stored_key.as_str(), "server_key" => credentials.server_key.as_str(),
    };
    let (mut handshake, outcome) = hello(&auth, &details(&["scram"], Some("dyn"), autobahn_extra()));
    assert_eq!(expect_ask(&outcome)["authmethod"], Value::from("scram"));
    let outcome = handshake.authenticator_answered(Ok((vec![Value::Dict(answer.clone())], Dict::new())));
    let extra = expect_challenge(&outcome, "scram");
    assert_eq!(extra["salt"], Value::from(credentials.salt.as_str()));
    let (proof, server_signature) = autobahn_authenticate("dyn", PASSWORD, &extra);
    let identity = expect_welcome(handshake.authenticate(&proof, &Dict::new()));
    assert_eq!((identity.authprovider, identity.authmethod), ("dynamic", "scram"));
    assert_eq!(identity.authextra["scram_server_signature"], Value::from(server_signature.as_str()));

    let (mut handshake, _) = hello(&auth, &details(&["scram"], Some("dyn"), autobahn_extra()));
    let extra = expect_challenge(
        &handshake.authenticator_answered(Ok((vec![Value::Dict(answer.clone())], Dict::new()))),
        "scram",
    );
    let (proof, _) = autobahn_authenticate("dyn", "wrong", &extra);
    assert_eq!(handshake.authenticate(&proof, &Dict::new()), failure());

    let mut pbkdf2 = answer;
    pbkdf2.insert("kdf".into(), Value::from("pbkdf2"));
    pbkdf2.remove("memory");
    let (mut handshake, _) = hello(&auth, &details(&["scram"], Some("dyn"), autobahn_extra()));
    assert_eq!(handshake.authenticator_answered(Ok((vec![Value::Dict(pbkdf2)], Dict::new()))), failure());
}

#[test]
fn dynamic_cryptosign() {
    let auth = dynamic_realm();
    let key = stranger_key();
    let transport = tls_transport(Some(EXPORTER), None, None);
    let (mut handshake, outcome) = hello_over(
        &auth,
        &details(&["cryptosign"], None, cryptosign_extra(&key, Some(TLS_EXPORTER))),
        &transport,
    );
    let request = expect_ask(&outcome);
    assert_eq!(request["authextra"].as_dict().unwrap()["pubkey"], Value::from(public_hex(&key)));
    assert_eq!(request["transport"].as_dict().unwrap()["channel_binding"], Value::from(TLS_EXPORTER));
    let answer = crate::dict! { "role" => "signer", "pubkey" => public_hex(&key) };
    let extra = expect_challenge(
        &handshake.authenticator_answered(Ok((vec![Value::Dict(answer)], Dict::new()))),
        "cryptosign",
    );
    assert_eq!(extra["channel_binding"], Value::from(TLS_EXPORTER));
    let identity =
        expect_welcome(handshake.authenticate(&sign_challenge(&key, &extra, Some(&EXPORTER)), &Dict::new()));
    assert_eq!(
        (identity.authid, identity.authprovider),
        (public_hex(&key), "dynamic"),
        "authid defaults to the public key"
    );

    let (mut handshake, _) =
        hello(&auth, &details(&["cryptosign"], Some("dyn"), cryptosign_extra(&key, None)));
    let extra = expect_challenge(
        &handshake.authenticator_answered(Ok((vec![Value::from("signer")], Dict::new()))),
        "cryptosign",
    );
    assert_eq!(
        handshake.authenticate(&sign_challenge(&alice_key(), &extra, None), &Dict::new()),
        failure(),
        "not the announced key"
    );

    let (mut handshake, _) =
        hello(&auth, &details(&["cryptosign"], Some("dyn"), cryptosign_extra(&key, None)));
    let extra = expect_challenge(
        &handshake.authenticator_answered(Ok((vec![Value::from("signer")], Dict::new()))),
        "cryptosign",
    );
    assert_eq!(
        expect_welcome(handshake.authenticate(&sign_challenge(&key, &extra, None), &Dict::new())).authid,
        "dyn"
    );

    let (mut handshake, _) = hello(&auth, &details(&["cryptosign"], None, cryptosign_extra(&key, None)));
    let other_key = crate::dict! { "role" => "signer", "pubkey" => public_hex(&alice_key()) };
    assert_eq!(handshake.authenticator_answered(Ok((vec![Value::Dict(other_key)], Dict::new()))), failure());
}

#[test]
fn dynamic_tls() {
    let auth = dynamic_realm();
    let transport = tls_transport(None, Some([0xcd; 32]), Some("sensor-9"));
    let (mut handshake, outcome) = hello_over(&auth, &details(&["tls"], None, Dict::new()), &transport);
    let request = expect_ask(&outcome);
    assert_eq!(request["transport"].as_dict().unwrap()["client_cert_sha256"], Value::from("cd".repeat(32)));
    assert_eq!(request["transport"].as_dict().unwrap()["client_cert_cn"], Value::from("sensor-9"));
    assert_eq!(request["transport"].as_dict().unwrap()["peer"], Value::from("tcp4:127.0.0.1:49032"));
    let identity =
        expect_welcome(handshake.authenticator_answered(Ok((vec![Value::from("device")], Dict::new()))));
    assert_eq!(
        (identity.authid.as_str(), identity.authmethod, identity.authprovider),
        ("sensor-9", "tls", "dynamic")
    );
    // A known certificate stays static.
    let (_, outcome) =
        hello_over(&auth, &details(&["tls"], None, Dict::new()), &tls_transport(None, Some(CERT), None));
    assert_eq!(expect_welcome(outcome).authprovider, "static");
}

// ---- misuse ----

#[test]
fn authenticate_in_the_wrong_state_is_a_protocol_violation() {
    let auth = dynamic_realm();
    let (mut welcomed, _) = hello(&auth, &details(&["tls"], None, Dict::new()));
    expect_abort(&welcomed.authenticate("x", &Dict::new()), uris::PROTOCOL_VIOLATION);

    let (mut twice, _) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    assert!(matches!(twice.authenticate("secret!!!", &Dict::new()), Outcome::Welcome(_)));
    expect_abort(&twice.authenticate("secret!!!", &Dict::new()), uris::PROTOCOL_VIOLATION);

    let (mut waiting, outcome) = hello(&auth, &details(&["wampcra"], Some("dyn"), Dict::new()));
    expect_ask(&outcome);
    expect_abort(&waiting.authenticate("x", &Dict::new()), uris::PROTOCOL_VIOLATION);

    let (mut unasked, _) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    expect_abort(
        &unasked.authenticator_answered(Ok((vec![Value::from("user")], Dict::new()))),
        uris::PROTOCOL_VIOLATION,
    );
    assert!(
        matches!(unasked.authenticate("secret!!!", &Dict::new()), Outcome::Welcome(_)),
        "the pending CHALLENGE survives"
    );

    let (mut aborted, outcome) = hello(&static_realm(false), &details(&["nothing"], None, Dict::new()));
    expect_abort(&outcome, uris::NO_AUTH_METHOD);
    expect_abort(&aborted.authenticate("x", &Dict::new()), uris::PROTOCOL_VIOLATION);
}

#[test]
fn failures_say_nothing_specific() {
    let auth = static_realm(false);
    let mut failures = Vec::new();
    let (mut h, _) = hello(&auth, &details(&["ticket"], Some("joe"), Dict::new()));
    failures.push(h.authenticate("x", &Dict::new()));
    let (mut h, _) = hello(&auth, &details(&["wampcra"], Some("peter"), Dict::new()));
    failures.push(h.authenticate("x", &Dict::new()));
    let (mut h, _) = hello(&auth, &details(&["wamp-scram"], Some("user"), scram_extra(None)));
    failures.push(h.authenticate("x", &Dict::new()));
    let (mut h, _) = hello(&auth, &details(&["cryptosign"], None, cryptosign_extra(&alice_key(), None)));
    failures.push(h.authenticate("x", &Dict::new()));
    assert!(failures.iter().all(|f| *f == failure()), "{failures:?}");
}
