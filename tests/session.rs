//! Session lifecycle and bad input over real sockets (sections 4, 2.3.3): HELLO/WELCOME, ABORT, GOODBYE,
//! protocol violations that affect only the offending session.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::{uris, Dict, Message, Value};

#[test]
fn welcome_announces_roles_and_anonymous_identity_on_every_transport() {
    let router = start(2);
    for serializer in Serializer::ALL {
        for mut client in
            [Client::rawsocket(router.addr, serializer), Client::websocket(router.addr, serializer)]
        {
            let details = client.hello("realm1");
            assert!(client.session > 0 && client.session <= 1 << 53);
            let roles = details.get("roles").and_then(Value::as_dict).expect("roles");
            assert!(roles.contains_key("broker") && roles.contains_key("dealer"));
            assert_eq!(details.get("authrole").and_then(Value::as_str), Some("anonymous"));
            assert_eq!(details.get("authmethod").and_then(Value::as_str), Some("anonymous"));
            assert!(details.get("authid").and_then(Value::as_str).is_some());
        }
    }
}

#[test]
fn unknown_realm_is_aborted() {
    let router = start(1);
    let mut client = Client::rawsocket(router.addr, Serializer::Json);
    client.send(&hello_message("no.such.realm"));
    assert_eq!(client.expect_abort(), uris::NO_SUCH_REALM);
    client.expect_closed();
}

#[test]
fn goodbye_is_answered_and_a_new_session_can_follow() {
    let router = start(2);
    let mut client = Client::join(router.addr, Serializer::MsgPack);
    let first = client.session;
    client.send(&Message::Goodbye { details: Dict::new(), reason: uris::CLOSE_REALM.into() });
    match client.recv() {
        Message::Goodbye { reason, .. } => assert_eq!(reason, uris::GOODBYE_AND_OUT),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    client.hello("realm1");
    assert_ne!(client.session, first);
}

#[test]
fn router_shutdown_says_goodbye() {
    let router = start(2);
    let mut client = Client::join_ws(router.addr, Serializer::Json);
    let stopper = std::thread::spawn(move || router.handle.stop());
    match client.recv() {
        Message::Goodbye { reason, .. } => assert_eq!(reason, uris::CLOSE_SYSTEM_SHUTDOWN),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    client.send(&Message::Goodbye { details: Dict::new(), reason: uris::GOODBYE_AND_OUT.into() });
    stopper.join().unwrap();
}

/// Every kind of bad input gets ABORT protocol_violation, and only the offender is affected.
#[test]
fn protocol_violations_abort_only_the_offending_session() {
    let router = start(2);
    let mut bystander = Client::join(router.addr, Serializer::Json);
    bystander.subscribe("com.example.alive");
    let mut publisher = Client::join(router.addr, Serializer::Json);

    let established: &[(&str, &[u8])] = &[
        ("not json", b"this is not json"),
        ("not a list", b"{\"a\": 1}"),
        ("unknown type", b"[999, 1, {}]"),
        ("wrong arity", b"[32, 1]"),
        ("wrong element type", b"[32, \"x\", {}, \"com.example.t\"]"),
        ("second hello", b"[1, \"realm1\", {\"roles\": {\"caller\": {}}}]"),
        ("router-only message", b"[36, 1, 2, {}]"),
        ("truncated", b"[16, 1, {}, \"com.exa"),
        ("bad option type", b"[16, 1, {\"acknowledge\": \"yes\"}, \"com.example.t\"]"),
    ];
    for (what, bytes) in established {
        let mut offender = Client::join(router.addr, Serializer::Json);
        offender.send_frame(bytes);
        assert_eq!(offender.expect_abort(), uris::PROTOCOL_VIOLATION, "{what}");
        offender.expect_closed();
    }
    let mut early = Client::rawsocket(router.addr, Serializer::Json);
    early.send_frame(b"[32, 1, {}, \"com.example.t\"]");
    assert_eq!(early.expect_abort(), uris::PROTOCOL_VIOLATION, "message before HELLO");
    let mut msgpack = Client::join(router.addr, Serializer::MsgPack);
    msgpack.send_frame(&[0xc1, 0x00]);
    assert_eq!(msgpack.expect_abort(), uris::PROTOCOL_VIOLATION, "undecodable msgpack");

    publisher.publish("com.example.alive", &[Value::from("still here")]);
    assert_eq!(bystander.expect_event().1, vec![Value::from("still here")]);
}

/// The WAMP test suite's protocol-violation samples, sent to a live session.
#[test]
fn testsuite_violation_samples_are_aborted() {
    let router = start(2);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/wamp-testsuite/singlemessage");
    let mut checked = 0;
    for dir in ["basic", "advanced"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).expect("test suite present") {
            let path = entry.unwrap().path();
            let vector: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for sample in vector["samples"].as_array().into_iter().flatten() {
                if sample.get("expected_error").is_none() {
                    continue;
                }
                let wmsg = serde_json::to_vec(&sample["wmsg"]).unwrap();
                let mut client = Client::join(router.addr, Serializer::Json);
                client.send_frame(&wmsg);
                let what = format!("{}: {}", path.display(), sample["description"]);
                assert_eq!(client.expect_abort(), uris::PROTOCOL_VIOLATION, "{what}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} violation samples found");
}

#[test]
fn websocket_without_wamp_subprotocol_is_refused() {
    let router = start(1);
    let mut stream = TcpStream::connect(router.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: chat\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("wamp.2.json"), "{answer}");
}

#[test]
fn rawsocket_with_unsupported_serializer_gets_error_reply() {
    let router = start(1);
    let mut stream = TcpStream::connect(router.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(&[0x7F, 0xF7, 0, 0]).unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0x7F, 0x10, 0, 0], "error 1: serializer unsupported");
}

#[test]
fn oversized_messages_fail_the_transport() {
    let router = start_with(&config(1, "", "max_message_size = 1024"));
    let mut ws = Client::join_ws(router.addr, Serializer::Json);
    let big = format!("[16, 1, {{}}, \"t\", [\"{}\"]]", "x".repeat(4096));
    ws.send_frame(big.as_bytes());
    let Wire::Ws(socket) = &mut ws.wire else { unreachable!() };
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1009);
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("expected close 1009, got {e}"),
        }
    }
    let mut raw = Client::join(router.addr, Serializer::Json);
    raw.send_frame(big.as_bytes());
    raw.expect_closed();
}

#[test]
fn binary_runs_with_a_config_file_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("switchyard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("rs.sock");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"rawsocket\"\nunix = \"{}\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--config", config.to_str().unwrap(), "--cores", "2"])
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("switchyard starts");
    let mut stream = None;
    for _ in 0..100 {
        if let Ok(s) = std::os::unix::net::UnixStream::connect(&socket) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stream = stream.expect("router listens on the unix socket");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(&[0x7F, 0xF1, 0, 0]).unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 0x7F);
    let hello = b"[1,\"realm1\",{\"roles\":{\"subscriber\":{}}}]";
    let mut frame = vec![0, 0, 0, hello.len() as u8];
    frame.extend_from_slice(hello);
    stream.write_all(&frame).unwrap();
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    let mut body = vec![0u8; header[3] as usize | (header[2] as usize) << 8];
    stream.read_exact(&mut body).unwrap();
    assert!(body.starts_with(b"[2,"), "WELCOME: {}", String::from_utf8_lossy(&body));

    unsafe_free_kill(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends SIGTERM through the `kill` command (no unsafe in tests).
fn unsafe_free_kill(pid: u32) {
    let ok = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn rawsocket_ping_gets_pong_with_the_same_payload() {
    let router = start(2);
    let mut client = Client::join(router.addr, Serializer::MsgPack);
    let Wire::Raw(stream) = &mut client.wire else { unreachable!() };
    stream.write_all(&[1, 0, 0, 5]).unwrap();
    stream.write_all(b"hello").unwrap();
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header, [2, 0, 0, 5], "PONG frame header");
    let mut body = [0u8; 5];
    stream.read_exact(&mut body).unwrap();
    assert_eq!(&body, b"hello");
    client.subscribe("com.example.after_ping");
}

#[test]
fn websocket_ping_gets_pong_and_close_is_answered() {
    let router = start(2);
    let mut client = Client::join_ws(router.addr, Serializer::Json);
    let Wire::Ws(socket) = &mut client.wire else { unreachable!() };
    socket.send(tungstenite::Message::Ping(b"abc".to_vec())).unwrap();
    match socket.read().unwrap() {
        tungstenite::Message::Pong(payload) => assert_eq!(&payload[..], b"abc"),
        other => panic!("expected PONG, got {other:?}"),
    }
    socket.close(None).unwrap();
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Close(_)) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake failed: {e}"),
        }
    }
}
