//! Connection-level limits over real sockets: the idle timeout with automatic pings, the router-wide and
//! per-address connection limits, a connection flood, slowloris, oversized frames, and a 20 MiB message.
//! Each test runs its own router and checks what the peers see as well as the router's counters.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use switchyard::stats::Counter;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::Value;
use switchyard::BoundAddr;

/// A config with realm `realm1` and the given `[[endpoints]]` tables, two shards.
fn endpoints_config(endpoints: &str) -> String {
    format!("cores = 2\n[[realms]]\nname = \"realm1\"\n{endpoints}")
}

fn tcp_endpoint(router: &TestRouter, index: usize) -> SocketAddr {
    match &router.handle.endpoints()[index] {
        BoundAddr::Tcp(addr) => *addr,
        other => panic!("expected a TCP endpoint, got {other:?}"),
    }
}

fn count(router: &TestRouter, counter: Counter) -> u64 {
    router.handle.stats().get(counter)
}

/// The frames a router sent on a WebSocket connection (unmasked, short payloads): (opcode, payload).
fn server_frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while wire.len() >= 2 {
        let len = usize::from(wire[1] & 0x7F);
        assert!(len < 126 && wire[1] & 0x80 == 0, "unexpected frame header {:02x?}", &wire[..2]);
        frames.push((wire[0] & 0x0F, wire[2..2 + len].to_vec()));
        wire = &wire[2 + len..];
    }
    assert!(wire.is_empty(), "trailing bytes {wire:?}");
    frames
}

/// Reads RawSocket frames until EOF; returns how many PINGs came (and checks nothing else did).
fn raw_pings_until_eof(stream: &mut TcpStream) -> usize {
    let mut pings = 0;
    loop {
        let mut header = [0u8; 4];
        match stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return pings,
            Err(e) => panic!("reading what the router sent: {e}"),
        }
        let len = (header[1] as usize) << 16 | (header[2] as usize) << 8 | header[3] as usize;
        let mut body = vec![0; len];
        stream.read_exact(&mut body).unwrap();
        assert_eq!(header[0], 1, "only PINGs are sent to a silent session");
        pings += 1;
    }
}

/// Keeps reading a WebSocket client for `duration` without sending anything (tungstenite answers pings
/// as it reads); returns the number of pings. Panics if the router closes the connection or sends a
/// message.
fn read_quietly(client: &mut Client, duration: Duration) -> usize {
    let Wire::Ws(ws) = &mut client.wire else { panic!("a WebSocket client") };
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let deadline = Instant::now() + duration;
    let mut pings = 0;
    while Instant::now() < deadline {
        match ws.read() {
            Ok(tungstenite::Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?} from the router"),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("the reading WebSocket client lost its connection: {e}"),
        }
    }
    ws.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
    pings
}

/// Publishes to `topic` and expects the event at `subscriber`: the router still serves sessions.
fn still_works(publisher: &mut Client, subscriber: &mut Client, topic: &str, n: i64) {
    publisher.publish_acked(topic, &[Value::Int(n)], Default::default());
    assert_eq!(subscriber.expect_event().1, vec![Value::Int(n)]);
}

const IDLE_ENDPOINT: &str = "[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\n\
                             limits = { ping_interval_secs = 1, idle_timeout_secs = 2 }\n";

#[test]
fn a_silent_rawsocket_session_is_closed_while_a_reading_websocket_one_stays() {
    let router = start_with(&endpoints_config(IDLE_ENDPOINT));
    let mut reading = Client::join_ws(router.addr, Serializer::Json);
    let mut silent = Client::join(router.addr, Serializer::Json);
    let started = Instant::now();
    assert_eq!(router.handle.session_count(), 2);
    let reader = std::thread::spawn(move || {
        let pings = read_quietly(&mut reading, Duration::from_secs(6));
        (reading, pings)
    });

    assert!(
        eventually(Duration::from_secs(10), || router.handle.session_count() == 1),
        "silent session closed"
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500), "closed after {elapsed:?}, before the idle timeout");
    assert_eq!(count(&router, Counter::IdleTimeouts), 1);
    let Wire::Raw(stream) = &mut silent.wire else { unreachable!() };
    assert!(raw_pings_until_eof(stream) >= 1, "the router pinged before giving up");

    let (mut reading, pings) = reader.join().unwrap();
    assert!(pings >= 3, "a quiet connection is pinged every interval ({pings} pings in 6 s)");
    reading.subscribe("t.still.here");
    assert_eq!(router.handle.session_count(), 1);
    assert_eq!(count(&router, Counter::IdleTimeouts), 1, "the answering client was never timed out");
}

#[test]
fn a_half_open_websocket_peer_is_found_by_the_idle_timeout() {
    let router = start_with(&endpoints_config(IDLE_ENDPOINT));
    let mut gone = Client::join_ws(router.addr, Serializer::MsgPack);
    let mut other = Client::join_ws(router.addr, Serializer::MsgPack);
    other.subscribe("t.other");
    let other = std::thread::spawn(move || {
        read_quietly(&mut other, Duration::from_secs(4));
        other
    });
    // From now on `gone` neither reads nor writes: to the router it looks like a vanished host.
    assert!(eventually(Duration::from_secs(10), || router.handle.session_count() == 1));
    assert_eq!(count(&router, Counter::IdleTimeouts), 1);
    assert_eq!(router.handle.session_shard(gone.session), None);

    // What reached the dead peer's socket: pings, then a close 1001 ("going away"), then EOF.
    let Wire::Ws(ws) = &mut gone.wire else { unreachable!() };
    let mut wire = Vec::new();
    ws.get_mut().read_to_end(&mut wire).unwrap();
    let frames = server_frames(&wire);
    let (close, pings) = frames.split_last().expect("frames");
    assert!(!pings.is_empty() && pings.iter().all(|(op, _)| *op == 0x9), "{frames:?}");
    assert_eq!(close.0, 0x8, "{frames:?}");
    assert_eq!(u16::from_be_bytes([close.1[0], close.1[1]]), 1001);
    assert_eq!(&close.1[2..], b"idle timeout");

    // The other session, which answered every ping through its reads, is fine.
    let mut other = other.join().unwrap();
    let mut publisher = Client::join(router.addr, Serializer::MsgPack);
    still_works(&mut publisher, &mut other, "t.other", 1);
    assert_eq!(count(&router, Counter::IdleTimeouts), 1);
}

const WS_UPGRADE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n";

/// Expects a RawSocket handshake refused with error 4, then the connection closed.
fn expect_rawsocket_refused(mut stream: TcpStream) {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(rawsocket_request(&mut stream, Serializer::Json), [0x7F, 0x40, 0, 0]);
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("closed after the refusal");
    assert!(rest.is_empty());
}

#[test]
fn max_connections_refuses_the_next_one_and_admits_again_after_a_close() {
    let router = start_with(&config(2, "", "max_connections = 3\nhandshake_timeout_secs = 2"));
    let mut held: Vec<Client> = (0..2).map(|_| Client::join(router.addr, Serializer::Json)).collect();
    held.push(Client::join_ws(router.addr, Serializer::Json));
    assert_eq!(router.handle.connection_count(), 3);

    expect_rawsocket_refused(TcpStream::connect(router.addr).unwrap());
    match Client::websocket_over(TcpStream::connect(router.addr).unwrap(), Serializer::Json, None) {
        Err((status, body)) => {
            assert_eq!(status, 503);
            assert!(body.contains("maximum connection count"), "{body}");
        }
        Ok(_) => panic!("a WebSocket connection past max_connections must get 503"),
    }
    // A refused peer that never sends its handshake is closed at the handshake timeout.
    let mut mute = TcpStream::connect(router.addr).unwrap();
    mute.set_read_timeout(Some(TIMEOUT)).unwrap();
    let started = Instant::now();
    assert_eq!(mute.read(&mut [0u8; 16]).expect("EOF, not a read timeout"), 0);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(count(&router, Counter::ConnectionsRefused), 3);
    assert_eq!(count(&router, Counter::ConnectionsRefusedPerIp), 0);
    assert_eq!(count(&router, Counter::HandshakesFailed), 0, "refusals are not failed handshakes");
    assert_eq!(router.handle.connection_count(), 3, "refused connections hold no place");

    // One of the three leaves: its place is given back.
    drop(held.remove(0));
    assert!(eventually(Duration::from_secs(10), || router.handle.connection_count() == 2));
    let mut subscriber = Client::join(router.addr, Serializer::Json);
    subscriber.subscribe("t.back");
    expect_rawsocket_refused(TcpStream::connect(router.addr).unwrap());
    drop(held.pop());
    assert!(eventually(Duration::from_secs(10), || router.handle.connection_count() == 2));
    let mut publisher = Client::join_ws(router.addr, Serializer::Json);
    still_works(&mut publisher, &mut subscriber, "t.back", 7);
    assert_eq!(count(&router, Counter::ConnectionsRefused), 4);
}

#[test]
fn max_connections_per_ip_counts_each_source_address_separately() {
    let router = start_with(&config(2, "", "max_connections_per_ip = 2"));
    let (two, three): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
    let raw_from = |ip| Client::rawsocket_over(connect_from(ip, router.addr), Serializer::MsgPack);
    let ws_from = |ip| Client::websocket_over(connect_from(ip, router.addr), Serializer::MsgPack, None);

    let mut from_two = vec![raw_from(two).unwrap(), raw_from(two).unwrap()];
    assert_eq!(raw_from(two).err(), Some([0x7F, 0x40, 0, 0]), "a third one from 127.0.0.2 is refused");
    let mut from_three = [raw_from(three).unwrap(), ws_from(three).unwrap()];
    match ws_from(three) {
        Err((503, body)) => assert!(body.contains("your address"), "{body}"),
        other => panic!("expected 503, got {:?}", other.err()),
    }
    let local: Vec<Client> = (0..2).map(|_| Client::join(router.addr, Serializer::MsgPack)).collect();
    for c in from_two.iter_mut().chain(from_three.iter_mut()) {
        c.hello("realm1");
    }
    assert_eq!(router.handle.session_count(), 6);
    assert_eq!(count(&router, Counter::ConnectionsRefusedPerIp), 2);
    assert_eq!(count(&router, Counter::ConnectionsRefused), 0);

    drop(from_two.pop());
    assert!(eventually(Duration::from_secs(10), || router.handle.connection_count() == 5));
    let mut again = raw_from(two).expect("a place from 127.0.0.2 is free again");
    again.hello("realm1");
    again.subscribe("t.ip");
    still_works(&mut from_three[1], &mut again, "t.ip", 2);
    drop(local);
}

/// Opens `n` connections as fast as possible, each sending a handshake request (every fourth one a
/// WebSocket upgrade, the others RawSocket) without waiting for the answer.
fn open_flood(addr: SocketAddr, n: usize) -> Vec<(TcpStream, bool)> {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (t..n)
                    .step_by(4)
                    .map(|i| {
                        let mut stream = TcpStream::connect(addr).expect("connect");
                        let websocket = i % 4 == 0;
                        let request: &[u8] = if websocket { WS_UPGRADE } else { &[0x7F, 0xF1, 0, 0] };
                        stream.write_all(request).unwrap();
                        (stream, websocket)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
}

/// The router's answer to a flood connection: `true` when it was admitted, `false` when refused with the
/// right answer (RawSocket error 4, HTTP 503).
fn flood_answer(stream: &mut TcpStream, websocket: bool) -> bool {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    if !websocket {
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).unwrap();
        return match reply {
            [0x7F, 0xF1, 0, 0] => true,
            [0x7F, 0x40, 0, 0] => false,
            other => panic!("unexpected RawSocket reply {other:02x?}"),
        };
    }
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "response head cut short: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    if head.starts_with("HTTP/1.1 101 ") {
        true
    } else {
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{head}");
        assert!(head.contains("Connection: close\r\n"), "{head}");
        false
    }
}

#[test]
fn a_connection_flood_is_refused_past_the_limit_while_sessions_keep_working() {
    const FLOOD: usize = 2000;
    const MAX: usize = 500;
    let router = start_with(&config(2, "", &format!("max_connections = {MAX}\nhandshake_timeout_secs = 30")));
    let mut subscriber = Client::join(router.addr, Serializer::MsgPack);
    subscriber.subscribe("t.flood");
    let mut publisher = Client::join(router.addr, Serializer::MsgPack);

    // The established session publishes and receives throughout the flood.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let (mut n, mut slowest) = (0, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) || n < 10 {
                let sent = Instant::now();
                still_works(&mut publisher, &mut subscriber, "t.flood", n);
                slowest = slowest.max(sent.elapsed());
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (n, slowest, publisher, subscriber)
        }
    });

    let mut flood = open_flood(router.addr, FLOOD);
    let admitted = flood.iter_mut().map(|(stream, ws)| flood_answer(stream, *ws)).filter(|a| *a).count();
    assert_eq!(admitted, MAX - 2, "the flood filled exactly the places the two sessions left");
    assert_eq!(count(&router, Counter::ConnectionsRefused), (FLOOD - admitted) as u64);
    assert_eq!(router.handle.connection_count(), MAX);

    stop.store(true, Ordering::Relaxed);
    let (rounds, slowest, mut publisher, mut subscriber) = traffic.join().unwrap();
    assert!(slowest < Duration::from_secs(5), "{rounds} publications; the slowest took {slowest:?}");

    // Everything the flood held is released once it goes away.
    drop(flood);
    assert!(
        eventually(Duration::from_secs(20), || router.handle.connection_count() == 2),
        "{} connections still open",
        router.handle.connection_count()
    );
    assert_eq!(router.handle.session_count(), 2);
    let mut late = Client::join_ws(router.addr, Serializer::MsgPack);
    late.subscribe("t.flood");
    publisher.publish_acked("t.flood", &[Value::Int(-1)], Default::default());
    assert_eq!(subscriber.expect_event().1, vec![Value::Int(-1)]);
    assert_eq!(late.expect_event().1, vec![Value::Int(-1)]);
}

#[test]
fn slowloris_upgrades_are_closed_at_the_handshake_timeout() {
    const ATTACKERS: usize = 200;
    let router = start_with(&endpoints_config(
        "[[endpoints]]\nkind = \"websocket\"\nlisten = \"127.0.0.1:0\"\nlimits = { handshake_timeout_secs = 1 }\n",
    ));
    let request = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow: ";
    let attack = std::thread::spawn({
        let addr = router.addr;
        move || {
            let mut open: Vec<(TcpStream, Instant, usize)> = (0..ATTACKERS)
                .map(|_| {
                    let stream = TcpStream::connect(addr).unwrap();
                    stream.set_nonblocking(true).unwrap();
                    (stream, Instant::now(), 0)
                })
                .collect();
            let mut lifetimes = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(15);
            while !open.is_empty() && Instant::now() < deadline {
                open.retain_mut(|(stream, opened, sent)| {
                    match stream.read(&mut [0u8; 64]) {
                        Ok(0) => {}
                        Ok(n) => panic!("the router answered a slow upgrade with {n} bytes"),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            let byte = request.get(*sent).copied().unwrap_or(b'a');
                            if stream.write(&[byte]).is_ok() {
                                *sent += 1;
                                return true;
                            }
                        }
                        Err(_) => {}
                    }
                    lifetimes.push(opened.elapsed());
                    false
                });
                std::thread::sleep(Duration::from_millis(200));
            }
            assert!(open.is_empty(), "{} slow connections still open after 15 s", open.len());
            lifetimes
        }
    });

    // A normal client connects and works during the attack.
    std::thread::sleep(Duration::from_millis(300));
    let mut subscriber = Client::join_ws(router.addr, Serializer::Json);
    subscriber.subscribe("t.normal");
    let mut publisher = Client::join_ws(router.addr, Serializer::Cbor);
    still_works(&mut publisher, &mut subscriber, "t.normal", 1);

    let lifetimes = attack.join().unwrap();
    assert_eq!(lifetimes.len(), ATTACKERS);
    let shortest = lifetimes.iter().min().unwrap();
    assert!(*shortest >= Duration::from_millis(500), "a slow upgrade was closed after {shortest:?}");
    assert!(
        eventually(Duration::from_secs(5), || count(&router, Counter::HandshakesFailed) == ATTACKERS as u64)
    );
    // The normal sessions answered their pings and sent HELLO in time: still there.
    still_works(&mut publisher, &mut subscriber, "t.normal", 2);
    assert_eq!(router.handle.connection_count(), 2);
}

#[test]
fn oversized_frames_are_refused_on_their_header() {
    let router = start_with(&endpoints_config(
        "[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\n\
         [[endpoints]]\nkind = \"rawsocket\"\nlisten = \"127.0.0.1:0\"\nlimits = { max_message_size = 65536 }\n",
    ));
    let (universal, raw_only) = (tcp_endpoint(&router, 0), tcp_endpoint(&router, 1));
    let mut subscriber = Client::join(raw_only, Serializer::Json);
    subscriber.subscribe("t.ok");
    let mut publisher = Client::join_ws(universal, Serializer::Json);

    // WebSocket: a masked binary frame header announcing 20 MiB (the limit is 16 MiB), and no body.
    let mut big_ws = Client::join_ws(universal, Serializer::Json);
    let Wire::Ws(ws) = &mut big_ws.wire else { unreachable!() };
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(20u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let started = Instant::now();
    ws.get_mut().write_all(&header).unwrap();
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }

    // RawSocket: a frame header announcing 128 KiB on an endpoint that advertised 64 KiB, and no body.
    let mut big_raw = Client::join(raw_only, Serializer::Json);
    let Wire::Raw(stream) = &mut big_raw.wire else { unreachable!() };
    stream.write_all(&[0, 0x02, 0, 0]).unwrap();
    big_raw.expect_closed();
    assert!(started.elapsed() < Duration::from_secs(5), "refused without waiting for a body");

    assert!(eventually(Duration::from_secs(5), || router.handle.session_count() == 2));
    assert_eq!(count(&router, Counter::MessagesTooBig), 2);
    still_works(&mut publisher, &mut subscriber, "t.ok", 3);
}

#[test]
fn a_20_mib_message_reaches_a_websocket_subscriber_intact() {
    let router = start_with(&endpoints_config(
        "[[endpoints]]\nkind = \"websocket\"\nlisten = \"127.0.0.1:0\"\n\
         limits = { max_message_size = 33554432, max_outbound_bytes = 67108864 }\n",
    ));
    let client_config = tungstenite::protocol::WebSocketConfig {
        max_message_size: Some(64 << 20),
        max_frame_size: Some(64 << 20),
        ..Default::default()
    };
    let connect = || TcpStream::connect(router.addr).unwrap();
    let mut subscriber = Client::websocket_over(connect(), Serializer::MsgPack, Some(client_config)).unwrap();
    subscriber.hello("realm1");
    subscriber.subscribe("t.big");
    let mut publisher = Client::join_ws(router.addr, Serializer::MsgPack);

    let blob: Vec<u8> = (0..20u32 << 20).map(|i| (i ^ (i >> 11)) as u8).collect();
    publisher.publish_acked("t.big", &[Value::Bytes(blob.clone())], Default::default());
    let (_, args) = subscriber.expect_event();
    assert!(matches!(&args[..], [Value::Bytes(got)] if *got == blob), "the 20 MiB payload arrived intact");
    assert_eq!(count(&router, Counter::MessagesTooBig), 0);
    assert_eq!(count(&router, Counter::SlowConsumersDisconnected), 0);
}
