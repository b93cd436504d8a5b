//! Limits over real sockets: slow consumers (bounded outbound queues and their policy) and the HELLO
//! timeout. Only the offending connection is affected.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use switchyard::stats::Counter;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::{uris, Value};

const EVENTS: usize = 40_000;

fn flood_config(policy: &str) -> String {
    config(2, "", &format!("max_outbound_bytes = 4194304\nslow_consumer = \"{policy}\""))
}

/// How far the publisher may run ahead of the reading subscriber: well within the 4 MiB outbound bound, so
/// only a subscriber that stops reading can hit it, however fast the router and the test threads run
/// relative to each other.
const AHEAD: usize = 1_000;

/// Publishes `EVENTS` events of 1 KiB, waiting for an acknowledgment every 100 and for `reader` to be
/// within [`AHEAD`] events, while `reader` reads them.
fn flood(router: &TestRouter) -> std::thread::JoinHandle<usize> {
    let mut fast = Client::join(router.addr, Serializer::MsgPack);
    fast.subscribe("t.flood");
    let read = Arc::new(AtomicUsize::new(0));
    let reader = std::thread::spawn({
        let read = read.clone();
        move || {
            let mut n = 0;
            while n < EVENTS {
                fast.expect_event();
                n += 1;
                read.store(n, Ordering::Relaxed);
            }
            n
        }
    });
    let mut publisher = Client::join(router.addr, Serializer::MsgPack);
    let blob = Value::Bytes(vec![7; 1024]);
    for i in 0..EVENTS {
        if i % 100 == 99 {
            publisher.publish_acked("t.flood", std::slice::from_ref(&blob), Default::default());
            let deadline = Instant::now() + TIMEOUT;
            while read.load(Ordering::Relaxed) + AHEAD < i
                && !reader.is_finished()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
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
    assert_eq!(router.handle.stats().get(Counter::SlowConsumersDisconnected), 1);
}

/// Three subscribers stop reading while 40 MiB of events are published: each costs the router at most its
/// 4 MiB outbound bound, so the process grows by far less than what was published.
#[test]
fn drop_events_policy_keeps_slow_subscribers_connected_within_the_memory_bound() {
    const SLOW: u64 = 3;
    let router = start_with(&flood_config("drop_events"));
    let mut slow: Vec<Client> = (0..SLOW).map(|_| Client::join(router.addr, Serializer::MsgPack)).collect();
    for client in &mut slow {
        client.subscribe("t.flood");
    }
    let before = rss_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (peak.clone(), sampling.clone());
        move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    let reader = flood(&router);
    assert_eq!(reader.join().unwrap(), EVENTS);
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let grown = peak.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(before);
    let published = (EVENTS as u64) * 1024 / 1024;
    eprintln!("published {published} KiB; RSS grew by at most {grown} KiB");
    assert!(
        grown < SLOW * 4 * 1024 + 16 * 1024,
        "RSS grew by {grown} KiB; the bound is {SLOW} x 4 MiB of queues plus slack"
    );
    for client in &mut slow {
        let mut received = 0;
        while client.try_recv(Duration::from_millis(500)).is_some() {
            received += 1;
        }
        assert!(received < EVENTS, "some events were dropped ({received} of {EVENTS} arrived)");
        client.subscribe("t.still.here");
    }
    assert!(router.handle.stats().get(Counter::EventsDropped) > 0, "dropped events are counted");
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
