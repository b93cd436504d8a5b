//! End-to-end tests of authentication, authorization and TLS with a real third-party client,
//! autobahn-python (asyncio), over real sockets; and, in Rust, that captured signatures cannot be
//! replayed in another session.
//!
//! The scenarios live in tests/interop/py_auth.py, one group per test; each test starts its own router
//! from [`CONFIG`] (a plain and a TLS universal endpoint) and runs one python process, which asserts the
//! exact WELCOME (authid, authrole, authmethod, authprovider) or ABORT/ERROR URI of every step and
//! exits non-zero with a FAIL line otherwise. The credentials the config needs that are derived from a
//! secret (hashed tickets, the salted WAMP-CRA key, WAMP-SCRAM keys, public keys, certificate
//! fingerprints), and the test CA with server and client certificates, are made once per test binary
//! by `py_auth.py gen` (python `cryptography`, argon2-cffi, PyNaCl: independent of the router's code).
//! tests/interop/setup.sh installs the pinned libraries (see tests/interop.rs); if setup fails these
//! tests fail, they do not skip.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Client;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::{Dict, Message, Value};
use switchyard::{BoundAddr, Config, RouterHandle};

/// The scripts give up after 40 s on their own; this is the backstop if one does not.
const HARD_LIMIT: Duration = Duration::from_secs(50);

/// The router configuration every python group runs against. `@name@` is replaced by the value `py_auth.py
/// gen` printed for `name`. Principals' secrets are in py_auth.py (the plain tickets and the WAMP-CRA
/// secret are repeated here).
///
/// - realm1: static principals only, no anonymous. Roles: "user" (everything under com.example., caller
///   disclosed), "restricted" (fewer permissions, one rule of each match kind), "trusted" (serves the
///   authorizer), "dynamic" (asks com.example.authorize).
/// - realm2: a dynamic authenticator (registered on realm "authenticator") next to one static principal.
/// - authenticator: anonymous, no roles (everything allowed except what is reserved for the router).
const CONFIG: &str = r#"
cores = 2

[[realms]]
name = "realm1"
anonymous = false

[[realms.roles]]
name = "user"
[[realms.roles.permissions]]
uri = "com.example."
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }
disclose = { caller = true, publisher = false }

[[realms.roles]]
name = "restricted"
[[realms.roles.permissions]]
uri = "com.example.public."
match = "prefix"
allow = { call = true }
disclose = { caller = true }
[[realms.roles.permissions]]
uri = "com.example.quiet"
allow = { call = true }
[[realms.roles.permissions]]
uri = "com.example..news"
match = "wildcard"
allow = { subscribe = true }
[[realms.roles.permissions]]
uri = "com.example.exact"
allow = { publish = true }

[[realms.roles]]
name = "trusted"
[[realms.roles.permissions]]
uri = "com.example."
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }

[[realms.roles]]
name = "dynamic"
authorizer = "com.example.authorize"

[[realms.principals]]
authid = "joe"
role = "user"
ticket = "secret!!!"
authextra = { any = "thing" }

[[realms.principals]]
authid = "hashed-argon"
role = "user"
ticket = "@argon_ticket_phc@"

[[realms.principals]]
authid = "hashed-pbkdf2"
role = "user"
ticket = "@pbkdf2_ticket_phc@"

[[realms.principals]]
authid = "peter"
role = "user"
wampcra = { secret = "peter-secret" }

[[realms.principals]]
authid = "salty"
role = "user"
wampcra = { secret = "@salty_secret@", salt = "salt123", iterations = 1000, keylen = 32 }

[[realms.principals]]
authid = "scram-argon"
role = "user"
scram = { kdf = "argon2id13", iterations = @scram_argon_iterations@, memory = @scram_argon_memory@, salt = "@scram_argon_salt@", stored_key = "@scram_argon_stored_key@", server_key = "@scram_argon_server_key@" }

[[realms.principals]]
authid = "scram-pbkdf2"
role = "user"
scram = { kdf = "pbkdf2", iterations = @scram_pbkdf2_iterations@, salt = "@scram_pbkdf2_salt@", stored_key = "@scram_pbkdf2_stored_key@", server_key = "@scram_pbkdf2_server_key@" }

[[realms.principals]]
authid = "scram-autobahn"
role = "user"
scram = @scram_autobahn@

[[realms.principals]]
authid = "alice"
role = "user"
cryptosign = { authorized_keys = ["@alice_pubkey@"] }

[[realms.principals]]
authid = "certuser"
role = "user"
tls_certificates = ["@certuser_sha256@"]

[[realms.principals]]
authid = "rita"
role = "restricted"
ticket = "rita-ticket"

[[realms.principals]]
authid = "trent"
role = "trusted"
ticket = "trent-ticket"

[[realms.principals]]
authid = "dyna"
role = "dynamic"
ticket = "dyna-ticket"

[[realms]]
name = "realm2"
anonymous = false

[realms.authenticator]
procedure = "com.example.authenticate"
realm = "authenticator"
methods = ["ticket", "wampcra", "wamp-scram", "cryptosign", "tls"]

[[realms.roles]]
name = "user"
[[realms.roles.permissions]]
uri = "com.example."
match = "prefix"
allow = { call = true, register = true, publish = true, subscribe = true }

[[realms.principals]]
authid = "stat"
role = "user"
ticket = "static-ticket"

[[realms]]
name = "authenticator"
anonymous = true

[[endpoints]]
kind = "universal"
listen = "127.0.0.1:0"

[[endpoints]]
kind = "universal"
listen = "127.0.0.1:0"
tls = { certificate = "@cert_dir@/server.pem", key = "@cert_dir@/server.key", client_ca = "@cert_dir@/ca.pem", client_certificate = "optional" }
"#;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop")
}

fn python() -> Command {
    let dir = interop_dir();
    let mut cmd = Command::new(dir.join(".venv").join("bin").join("python"));
    cmd.arg(dir.join("py_auth.py")).current_dir(&dir);
    cmd
}

/// Runs tests/interop/setup.sh, then `py_auth.py gen`, once for all tests in this binary; returns gen's
/// values (panics in every test if either failed).
fn generated() -> &'static HashMap<String, String> {
    static RESULT: OnceLock<Result<HashMap<String, String>, String>> = OnceLock::new();
    let result = RESULT.get_or_init(|| {
        let output = Command::new("bash")
            .arg(interop_dir().join("setup.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run bash tests/interop/setup.sh: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "tests/interop/setup.sh failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let dir = cert_dir();
        let output = python()
            .arg("gen")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run py_auth.py gen: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "py_auth.py gen failed ({}):\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_str(&stdout)
            .map_err(|e| format!("py_auth.py gen printed no JSON object ({e}): {stdout}"))
    });
    match result {
        Ok(values) => values,
        Err(e) => panic!("{e}"),
    }
}

/// A directory of this process's own under target/tmp for the certificates; those of earlier runs (whose
/// process is gone) are removed.
fn cert_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = std::fs::read_dir(tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("auth_interop-") else { continue };
            if Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    tmp.join(format!("auth_interop-{}", std::process::id()))
}

/// The password of the `scram-autobahn` principal (py_auth.py uses the same).
const SCRAM_AUTOBAHN_PASSWORD: &str = "autobahn scram password";

/// [`CONFIG`] with the generated values filled in.
fn config_text() -> String {
    let mut text = CONFIG.to_owned();
    for (name, value) in generated() {
        text = text.replace(&format!("@{name}@"), value);
    }
    // autobahn-python's own SCRAM dialect (AuthScram, authmethod "scram"), with cheap Argon2 parameters;
    // the client pays them.
    let c = switchyard::auth::scram_credentials_for(
        switchyard::auth::ScramDialect::Autobahn,
        SCRAM_AUTOBAHN_PASSWORD,
        switchyard::auth::Kdf::Argon2id13,
        16,
        Some(1024),
        b"autobahn salt 16",
    );
    let line = format!(
        "{{ dialect = \"autobahn\", kdf = \"argon2id13\", iterations = {}, memory = {}, salt = \"{}\", stored_key = \"{}\", server_key = \"{}\" }}",
        c.iterations,
        c.memory.unwrap_or_default(),
        c.salt,
        c.stored_key,
        c.server_key
    );
    text = text.replace("@scram_autobahn@", &line);
    assert!(!text.contains('@'), "a placeholder was not filled in:\n{text}");
    text
}

struct TestRouter {
    _handle: RouterHandle,
    plain: SocketAddr,
    tls: SocketAddr,
}

fn start_router() -> TestRouter {
    let config = Config::from_toml_str(&config_text()).expect("the auth interop config is valid");
    let handle = RouterHandle::start(config).expect("router starts");
    let addrs: Vec<SocketAddr> = handle
        .endpoints()
        .iter()
        .map(|e| match e {
            BoundAddr::Tcp(a) => *a,
            other => panic!("expected TCP endpoints, got {other:?}"),
        })
        .collect();
    assert_eq!(addrs.len(), 2, "two endpoints: plain and TLS");
    TestRouter { plain: addrs[0], tls: addrs[1], _handle: handle }
}

/// A script that is running; its output is collected by two threads.
struct Running {
    label: String,
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

fn spawn(mut cmd: Command) -> Running {
    let label = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let stdout = thread::spawn(move || {
        let mut all = String::new();
        let _ = out.read_to_string(&mut all);
        all
    });
    let err = child.stderr.take().expect("stderr");
    let stderr = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    Running { label, child, stdout, stderr }
}

/// Waits for the script (killing it after HARD_LIMIT); panics with its output unless it exited with 0.
fn finish(mut run: Running) {
    let deadline = Instant::now() + HARD_LIMIT;
    let status: Option<ExitStatus> = loop {
        match run.child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = run.child.kill();
                let _ = run.child.wait();
                break None;
            }
        }
    };
    let stdout = run.stdout.join().unwrap_or_default();
    let stderr = run.stderr.join().unwrap_or_default();
    let status_text = status.map_or_else(|| format!("killed after {HARD_LIMIT:?}"), |s| s.to_string());
    let report =
        format!("=== {} ({status_text})\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}", run.label);
    if !status.is_some_and(|s| s.success()) {
        panic!("auth interop scenario failed:\n{report}");
    }
    eprintln!("{report}");
}

/// Runs `py_auth.py <group>` against a fresh router; `transport` (ws, rs, wss, rss) and `serializer` are
/// what the group's main clients use.
fn run_group(group: &str, transport: &str, serializer: &str) {
    let values = generated();
    let router = start_router();
    let (plain, tls) = (router.plain.to_string(), router.tls.to_string());
    let mut cmd = python();
    cmd.args([group, "--plain", &plain, "--tls", &tls, "--certs", &values["cert_dir"]]);
    cmd.args(["--transport", transport, "--serializer", serializer]);
    finish(spawn(cmd));
}

// ---------------------------------------------------------------- autobahn-python

#[test]
fn ticket_websocket_json() {
    run_group("ticket", "ws", "json");
}

#[test]
fn wampcra_rawsocket_msgpack() {
    run_group("wampcra", "rs", "msgpack");
}

#[test]
fn scram_rawsocket_json() {
    run_group("scram", "rs", "json");
}

#[test]
fn cryptosign_websocket_msgpack() {
    run_group("cryptosign", "ws", "msgpack");
}

#[test]
fn tls_websocket_json() {
    run_group("tls", "wss", "json");
}

#[test]
fn tls_rawsocket_msgpack() {
    run_group("tls", "rss", "msgpack");
}

/// The authenticator session uses RawSocket/CBOR, the joining clients WebSocket/JSON.
#[test]
fn dynamic_authenticator_websocket_json() {
    run_group("authenticator", "ws", "json");
}

#[test]
fn dynamic_authorizer_rawsocket_msgpack() {
    run_group("authorizer", "rs", "msgpack");
}

/// The restricted session uses WebSocket/JSON, the "user" session RawSocket/MessagePack.
#[test]
fn roles_websocket_json() {
    run_group("roles", "ws", "json");
}

/// The contract: ABORT `wamp.error.no_auth_method` when no offered method is usable, so a client offering
/// several methods is challenged with one its principal has. The router instead challenges the first
/// offered method the realm supports, with a decoy for a principal that lacks it (so that unknown and
/// known authids look alike), and the join fails: joe (ticket only) offering [wampcra] gets a wampcra
/// CHALLENGE, then ABORT wamp.error.authentication_failed "authentication failed"; offering [cryptosign,
/// ticket] gets a cryptosign CHALLENGE and the same ABORT (autobahn's Component sends its authenticators'
/// methods in the order they are configured).
#[test]
fn method_choice_websocket_json() {
    run_group("method_choice", "ws", "json");
}

// ---------------------------------------------------------------- replay (Rust client)

const CRYPTOSIGN_SEED: [u8; 32] = [0x5a; 32];
const WAMPCRA_SECRET: &str = "replay-secret";

/// A router with one cryptosign and one wampcra principal, and its plain endpoint. Needs no python.
fn replay_router() -> common::TestRouter {
    let public = ed25519_dalek::SigningKey::from_bytes(&CRYPTOSIGN_SEED).verifying_key();
    common::start_with(&format!(
        r#"
cores = 2
[[realms]]
name = "realm1"
[[realms.principals]]
authid = "alice"
role = "user"
cryptosign = {{ authorized_keys = ["{}"] }}
[[realms.principals]]
authid = "peter"
role = "user"
wampcra = {{ secret = "{WAMPCRA_SECRET}" }}
[[endpoints]]
kind = "universal"
listen = "127.0.0.1:0"
"#,
        hex::encode(public.to_bytes())
    ))
}

/// Connects (RawSocket, JSON), sends HELLO for `authid` with one authmethod, and returns the client and
/// the CHALLENGE's extra.
fn challenged(addr: SocketAddr, authid: &str, authmethod: &str, authextra: Dict) -> (Client, Dict) {
    let mut client = Client::rawsocket(addr, Serializer::Json);
    let Message::Hello { realm, mut details } = common::hello_message("realm1") else { unreachable!() };
    details.insert("authmethods".into(), Value::List(vec![authmethod.into()]));
    details.insert("authid".into(), authid.into());
    details.insert("authextra".into(), Value::Dict(authextra));
    client.send(&Message::Hello { realm, details });
    match client.recv() {
        Message::Challenge { authmethod: m, extra } if m == authmethod => (client, extra),
        other => panic!("expected CHALLENGE {authmethod}, got {other:?}"),
    }
}

fn authenticate(client: &mut Client, signature: &str) -> Message {
    client.send(&Message::Authenticate { signature: signature.to_owned(), extra: Dict::new() });
    client.recv()
}

fn expect_welcome(message: Message, authid: &str, authmethod: &str) {
    match message {
        Message::Welcome { details, .. } => {
            let field = |k: &str| details.get(k).and_then(Value::as_str).map(str::to_owned);
            assert_eq!(
                (field("authid"), field("authrole"), field("authmethod"), field("authprovider")),
                (Some(authid.into()), Some("user".into()), Some(authmethod.into()), Some("static".into()))
            );
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// Expects ABORT wamp.error.authentication_failed, then the router closing the connection.
fn expect_auth_failed(mut client: Client, message: Message) {
    match message {
        Message::Abort { reason, .. } => assert_eq!(reason, "wamp.error.authentication_failed"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    client.expect_closed();
}

fn extra_str(extra: &Dict, key: &str) -> String {
    extra
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("CHALLENGE without {key}: {extra:?}"))
        .to_owned()
}

/// A cryptosign AUTHENTICATE captured from one session (where it succeeds) is refused in another: each
/// CHALLENGE is fresh, and the signed message is checked against it.
#[test]
fn replayed_cryptosign_signature_fails_in_a_new_session() {
    use ed25519_dalek::Signer;
    let router = replay_router();
    let key = ed25519_dalek::SigningKey::from_bytes(&CRYPTOSIGN_SEED);
    let authextra = || switchyard::dict! { "pubkey" => hex::encode(key.verifying_key().to_bytes()) };

    let (mut first, extra) = challenged(router.addr, "alice", "cryptosign", authextra());
    let challenge = hex::decode(extra_str(&extra, "challenge")).expect("hex challenge");
    assert_eq!(challenge.len(), 32);
    let captured = format!("{}{}", hex::encode(key.sign(&challenge).to_bytes()), hex::encode(&challenge));
    let welcome = authenticate(&mut first, &captured);
    expect_welcome(welcome, "alice", "cryptosign");

    let (mut second, extra) = challenged(router.addr, "alice", "cryptosign", authextra());
    assert_ne!(hex::decode(extra_str(&extra, "challenge")).unwrap(), challenge, "the challenge is fresh");
    let answer = authenticate(&mut second, &captured);
    expect_auth_failed(second, answer);

    // The key still works when it signs the new challenge: the refusal was the replay, not the key.
    let (mut third, extra) = challenged(router.addr, "alice", "cryptosign", authextra());
    let challenge = hex::decode(extra_str(&extra, "challenge")).unwrap();
    let fresh = format!("{}{}", hex::encode(key.sign(&challenge).to_bytes()), hex::encode(&challenge));
    let welcome = authenticate(&mut third, &fresh);
    expect_welcome(welcome, "alice", "cryptosign");
}

/// WAMP-CRA signature: base64(HMAC-SHA256(secret, challenge)).
fn wampcra_sign(secret: &str, challenge: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(challenge.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A WAMP-CRA AUTHENTICATE captured from one session is refused in another (the challenge names the
/// session and carries a fresh nonce).
#[test]
fn replayed_wampcra_signature_fails_in_a_new_session() {
    let router = replay_router();
    let (mut first, extra) = challenged(router.addr, "peter", "wampcra", Dict::new());
    let challenge = extra_str(&extra, "challenge");
    let captured = wampcra_sign(WAMPCRA_SECRET, &challenge);
    let welcome = authenticate(&mut first, &captured);
    expect_welcome(welcome, "peter", "wampcra");

    let (mut second, extra) = challenged(router.addr, "peter", "wampcra", Dict::new());
    assert_ne!(extra_str(&extra, "challenge"), challenge, "the challenge is fresh");
    let answer = authenticate(&mut second, &captured);
    expect_auth_failed(second, answer);

    let (mut third, extra) = challenged(router.addr, "peter", "wampcra", Dict::new());
    let signature = wampcra_sign(WAMPCRA_SECRET, &extra_str(&extra, "challenge"));
    let welcome = authenticate(&mut third, &signature);
    expect_welcome(welcome, "peter", "wampcra");
}
