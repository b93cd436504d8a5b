//! Limits over real sockets: slow consumers (bounded outbound queues and their policy) and the HELLO
//! timeout. Only the offending connection is affected.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::{uris, Value};

const EVENTS: usize = 40_000;

fn flood_config(policy: &str) -> String {
    config(2, "", &format!("max_outbound_bytes = 4194304\nslow_consumer = \"{policy}\""))
}

/// Publishes `EVENTS` events of 1 KiB, waiting for an acknowledgment every 100, while `reader` reads them.
fn flood(router: &TestRouter) -> std::thread::JoinHandle<usize> {
    let mut fast = Client::join(router.addr, Serializer::MsgPack);
    fast.subscribe("t.flood");
    let reader = std::thread::spawn(move || {
        let mut n = 0;
        while n < EVENTS {
            fast.expect_event();
            n += 1;
        }
        n
    });
    let mut publisher = Client::join(router.addr, Serializer::MsgPack);
    let blob = Value::Bytes(vec![7; 1024]);
    for i in 0..EVENTS {
        if i % 100 == 99 {
            publisher.publish_acked("t.flood", std::slice::from_ref(&blob), Default::default());
        } else {
            publisher.publish("t.flood", std::slice::from_ref(&blob));
        }
    }
    reader
}

/// Reads what the router still sends until it closes the transport; returns the number of messages.
fn drain(client: &mut Client, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    let mut n = 0;
    while Instant::now() < deadline {
        match client.try_recv(Duration::from_millis(500)) {
            Some(_) => n += 1,
            None if client.recv_frame().is_none() => return Some(n),
            None => {}
        }
    }
    None
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_and_others_get_everything() {
    let router = start_with(&flood_config("disconnect"));
    let mut slow = Client::join(router.addr, Serializer::MsgPack);
    slow.subscribe("t.flood");
    let reader = flood(&router);
    assert_eq!(reader.join().unwrap(), EVENTS, "the reading subscriber got every event");
    let received = drain(&mut slow, Duration::from_secs(20)).expect("the slow subscriber was disconnected");
    assert!(received < EVENTS, "the slow subscriber got {received} of {EVENTS} events before it was cut off");
}

#[test]
fn drop_events_policy_keeps_the_slow_subscriber_connected() {
    let router = start_with(&flood_config("drop_events"));
    let mut slow = Client::join(router.addr, Serializer::MsgPack);
    slow.subscribe("t.flood");
    let reader = flood(&router);
    assert_eq!(reader.join().unwrap(), EVENTS);
    let mut received = 0;
    while slow.try_recv(Duration::from_millis(500)).is_some() {
        received += 1;
    }
    assert!(received < EVENTS, "some events were dropped ({received} of {EVENTS} arrived)");
    slow.subscribe("t.still.here");
}

#[test]
fn a_connection_that_never_says_hello_is_aborted() {
    let router = start_with(&config(1, "", "handshake_timeout_secs = 1"));
    let mut idle = Client::rawsocket(router.addr, Serializer::Json);
    let started = Instant::now();
    assert_eq!(idle.expect_abort(), uris::PROTOCOL_VIOLATION);
    idle.expect_closed();
    assert!(started.elapsed() < Duration::from_secs(5));
    Client::join(router.addr, Serializer::Json);
}
