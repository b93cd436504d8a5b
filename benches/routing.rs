//! What routing costs per message, measured on sans-I/O shards (`ShardRouter`), from the encoded frame in to
//! the encoded frames out (`Outbox.effects`), on one thread:
//!
//! - `subscription_match_{exact,prefix,wildcard}`: one PUBLISH (64-byte MessagePack payload) in a realm
//!   holding 10^3 .. 10^6 subscriptions of one match policy (one subscriber session holds them all) on one
//!   shard: to a topic that matches one of them (one EVENT out), to 1 024 topics spread over the table in
//!   turn (colder lookups), and to a topic that matches nothing. Subscription `i` is `com.myapp.topic{i}`
//!   (exact), the prefix `com.myapp.topic{i}.` (published to as `com.myapp.topic{i}.reading`: 7 distinct
//!   prefix lengths at 10^6) or the wildcard `com.myapp..sensor{i}` (published to as
//!   `com.myapp.building7.sensor{i}`).
//! - `registration_lookup`: with 10^3 and 10^5 registrations on one shard, a CALL -> INVOCATION (the
//!   callee's YIELDs are fed outside the timed part, in batches) and the whole CALL -> INVOCATION -> YIELD
//!   -> RESULT round trip.
//! - `mesh_publish`: two shards wired by hand (every `Effect::Peer` handed to the other shard's
//!   `handle_peer`, as the routing tests' `Mesh` does), one MessagePack publisher on shard 0 and
//!   subscribers on both shards: what one publication costs both shards together, cross-shard hop and
//!   EVENT encoding (once per shard and serializer) included.
//!
//! Short by default (1 s warm-up, 3 s measurement per bench; the command line overrides it). Building the
//! 10^6-subscription shard takes a few seconds; it is built only if one of its benches runs (filters
//! apply) and printed on stderr, with the heap bytes each subscription or registration takes (counted by the
//! bench's allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use switchyard::dict;
use switchyard::router::{ConnLimits, Effect, Outbox, Registry, ShardRouter};
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::{Dict, Id, Message, Payload, Value};
use switchyard::Config;

const TOPIC: &str = "com.myapp.sensors.temperature";

/// A 64-byte MessagePack payload: `[<61-character string>]`.
fn payload() -> Payload {
    let payload = Payload::from_values(Serializer::MsgPack, Some(&[Value::from("x".repeat(61))]), None);
    assert_eq!(payload.len(), 64);
    payload
}

fn publish_frame(topic: &str) -> Bytes {
    let publish =
        Message::Publish { request: 7, options: Dict::new(), topic: topic.into(), payload: payload() };
    codec::encode_to_bytes(&publish, Serializer::MsgPack)
}

/// The default realm `realm1` (anonymous, no roles) with room for `subscriptions` (patterns too) and
/// `registrations` per session.
fn registry(subscriptions: usize, registrations: usize) -> Arc<Registry> {
    let mut realms = Config::default().realms;
    realms[0].limits.max_subscriptions = subscriptions.max(realms[0].limits.max_subscriptions);
    realms[0].limits.max_registrations = registrations.max(realms[0].limits.max_registrations);
    realms[0].limits.max_patterns = subscriptions.max(realms[0].limits.max_patterns);
    Arc::new(Registry::new(realms).expect("realms"))
}

fn roles() -> Dict {
    let role = || Value::Dict(Dict::new());
    dict! { "publisher" => role(), "subscriber" => role(), "caller" => role(), "callee" => role() }
}

/// Opens a connection speaking `serializer` on a single shard and joins `realm1`.
fn join(router: &mut ShardRouter, serializer: Serializer) -> u64 {
    let conn = router.open(serializer, ConnLimits::default(), Default::default());
    let hello = Message::Hello { realm: "realm1".into(), details: dict! { "roles" => roles() } };
    let mut out = Outbox::default();
    router.handle_frame(conn, codec::encode_to_bytes(&hello, serializer), &mut out);
    match out.effects.as_slice() {
        [Effect::Send(c, frame)] if *c == conn => {
            let welcome = codec::decode(serializer, frame.clone()).expect("decodes");
            assert!(matches!(welcome, Message::Welcome { .. }), "{welcome:?}");
        }
        other => panic!("no WELCOME: {other:?}"),
    }
    conn
}

/// Sends `message` from `conn` and returns the one frame the shard answers with.
fn request(router: &mut ShardRouter, conn: u64, message: &Message, out: &mut Outbox) -> Bytes {
    router.handle_frame(conn, codec::encode_to_bytes(message, Serializer::MsgPack), out);
    let frame = match out.effects.as_slice() {
        [Effect::Send(c, frame)] if *c == conn => frame.clone(),
        other => panic!("one answer expected: {other:?}"),
    };
    out.effects.clear();
    frame
}

/// The system allocator, counting the bytes live on the heap: what a table of subscriptions or
/// registrations takes, exactly (the process's RSS would show what the allocator keeps from earlier
/// tables instead).
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only the byte count is added on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn decoded(frame: Bytes) -> Message {
    codec::decode(Serializer::MsgPack, frame).expect("router output decodes")
}

/// Subscription `i` of the subscription benches under `policy`, and a topic that matches it (only it).
fn subscription(policy: &str, i: usize) -> (String, String) {
    match policy {
        "exact" => (format!("com.myapp.topic{i}"), format!("com.myapp.topic{i}")),
        "prefix" => (format!("com.myapp.topic{i}."), format!("com.myapp.topic{i}.reading")),
        "wildcard" => (format!("com.myapp..sensor{i}"), format!("com.myapp.building7.sensor{i}")),
        other => unreachable!("no match policy {other}"),
    }
}

/// One shard, one subscriber session holding `n` subscriptions under one policy, one publisher.
struct SubscriptionShard {
    router: ShardRouter,
    publisher: u64,
    out: Outbox,
}

impl SubscriptionShard {
    fn new(n: usize, policy: &str) -> SubscriptionShard {
        let (started, live) = (Instant::now(), live_bytes());
        let mut router = ShardRouter::new(0, 1, registry(n, 0));
        let subscriber = join(&mut router, Serializer::MsgPack);
        let mut out = Outbox::default();
        for i in 0..n {
            let subscribe = Message::Subscribe {
                request: i as Id + 1,
                options: dict! { "match" => policy },
                topic: subscription(policy, i).0,
            };
            let answer = request(&mut router, subscriber, &subscribe, &mut out);
            if i == 0 || i == n - 1 {
                let answer = decoded(answer);
                assert!(matches!(answer, Message::Subscribed { .. }), "{answer:?}");
            }
        }
        let publisher = join(&mut router, Serializer::MsgPack);
        let per = live_bytes().saturating_sub(live) / n;
        eprintln!(
            "setup: {n} {policy} subscriptions on one shard in {:.2?}, {per} heap bytes each",
            started.elapsed()
        );
        SubscriptionShard { router, publisher, out }
    }

    /// Publishes `frame`; `events`: how many EVENTs must come out.
    fn publish(&mut self, frame: &Bytes, events: usize) {
        self.router.handle_frame(self.publisher, black_box(frame.clone()), &mut self.out);
        assert_eq!(self.out.effects.len(), events);
        self.out.effects.clear();
    }
}

const SUBSCRIPTIONS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Topics published to in turn by `match_one_spread`.
const SPREAD: usize = 1_024;

fn subscriptions(c: &mut Criterion) {
    for policy in ["exact", "prefix", "wildcard"] {
        let mut group = c.benchmark_group(format!("subscription_match_{policy}"));
        for n in SUBSCRIPTIONS {
            let mut shard: Option<SubscriptionShard> = None;
            let hit = publish_frame(&subscription(policy, n / 2).1);
            group.bench_function(BenchmarkId::new("match_one", n), |b| {
                let shard = shard.get_or_insert_with(|| SubscriptionShard::new(n, policy));
                b.iter(|| shard.publish(&hit, 1))
            });
            let spread: Vec<Bytes> =
                (0..SPREAD).map(|k| publish_frame(&subscription(policy, k * n / SPREAD).1)).collect();
            group.bench_function(BenchmarkId::new("match_one_spread", n), |b| {
                let shard = shard.get_or_insert_with(|| SubscriptionShard::new(n, policy));
                let mut next = 0;
                b.iter(|| {
                    shard.publish(&spread[next], 1);
                    next = (next + 1) % SPREAD;
                })
            });
            let miss = publish_frame("com.myapp.nobody.listens");
            group.bench_function(BenchmarkId::new("match_none", n), |b| {
                let shard = shard.get_or_insert_with(|| SubscriptionShard::new(n, policy));
                b.iter(|| shard.publish(&miss, 0))
            });
        }
        group.finish();
    }
}

fn procedure(i: usize) -> String {
    format!("com.myapp.proc{i}")
}

/// Calls outstanding at once in `call_to_invocation` (below the realm's `max_pending_calls`, 4 096), and
/// the number of distinct procedures called in turn.
const BATCH: usize = 1_000;

/// One shard, a callee holding `n` registrations and a caller; CALLs go to `BATCH` procedures spread over
/// the table.
struct DealerShard {
    router: ShardRouter,
    caller: u64,
    callee: u64,
    /// CALL frames, request IDs 1..=BATCH (each answered before it is sent again).
    calls: Vec<Bytes>,
    /// The last INVOCATION request ID the callee was sent (the router numbers them 1, 2, ...).
    invocations: Id,
    out: Outbox,
}

impl DealerShard {
    fn new(n: usize) -> DealerShard {
        let (started, live) = (Instant::now(), live_bytes());
        let mut router = ShardRouter::new(0, 1, registry(0, n));
        let callee = join(&mut router, Serializer::MsgPack);
        let mut out = Outbox::default();
        for i in 0..n {
            let register =
                Message::Register { request: i as Id + 1, options: Dict::new(), procedure: procedure(i) };
            let answer = request(&mut router, callee, &register, &mut out);
            if i == 0 || i == n - 1 {
                let answer = decoded(answer);
                assert!(matches!(answer, Message::Registered { .. }), "{answer:?}");
            }
        }
        let caller = join(&mut router, Serializer::MsgPack);
        let calls = (0..BATCH)
            .map(|k| {
                let call = Message::Call {
                    request: k as Id + 1,
                    options: Dict::new(),
                    procedure: procedure(k * n / BATCH),
                    payload: payload(),
                };
                codec::encode_to_bytes(&call, Serializer::MsgPack)
            })
            .collect();
        let per = live_bytes().saturating_sub(live) / n;
        eprintln!(
            "setup: {n} registrations on one shard in {:.2?}, {per} heap bytes each",
            started.elapsed()
        );
        let mut shard = DealerShard { router, caller, callee, calls, invocations: 0, out };
        // The first INVOCATION is numbered 1, as `yields` assumes.
        shard.router.handle_frame(shard.caller, shard.calls[0].clone(), &mut shard.out);
        match shard.out.effects.as_slice() {
            [Effect::Send(c, frame)] if *c == callee => {
                let invocation = decoded(frame.clone());
                assert!(matches!(invocation, Message::Invocation { request: 1, .. }), "{invocation:?}");
            }
            other => panic!("no INVOCATION: {other:?}"),
        }
        shard.out.effects.clear();
        shard.answer(1);
        shard
    }

    /// YIELD frames for the next `count` invocations.
    fn yields(&self, count: usize) -> Vec<Bytes> {
        (1..=count as Id)
            .map(|k| {
                let yield_ = Message::Yield {
                    request: self.invocations + k,
                    options: Dict::new(),
                    payload: payload(),
                };
                codec::encode_to_bytes(&yield_, Serializer::MsgPack)
            })
            .collect()
    }

    /// Answers the next `count` invocations; each must produce a RESULT for the caller.
    fn answer(&mut self, count: usize) {
        for frame in self.yields(count) {
            self.router.handle_frame(self.callee, frame, &mut self.out);
            assert!(matches!(self.out.effects.as_slice(), [Effect::Send(c, _)] if *c == self.caller));
            self.out.effects.clear();
        }
        self.invocations += count as Id;
    }

    /// Sends CALL `k` of the batch; one INVOCATION must go to the callee.
    fn call(&mut self, k: usize) {
        self.router.handle_frame(self.caller, black_box(self.calls[k].clone()), &mut self.out);
        assert!(matches!(self.out.effects.as_slice(), [Effect::Send(c, _)] if *c == self.callee));
        self.out.effects.clear();
    }
}

fn registrations(c: &mut Criterion) {
    let mut group = c.benchmark_group("registration_lookup");
    for n in [1_000, 100_000] {
        let mut shard: Option<DealerShard> = None;
        // CALLs timed in batches of up to BATCH; the callee answers each batch outside the timed part.
        group.bench_function(BenchmarkId::new("call_to_invocation", n), |b| {
            let shard = shard.get_or_insert_with(|| DealerShard::new(n));
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let count = left.min(BATCH as u64) as usize;
                    let started = Instant::now();
                    for k in 0..count {
                        shard.call(k);
                    }
                    timed += started.elapsed();
                    shard.answer(count);
                    left -= count as u64;
                }
                timed
            })
        });
        // CALL, then the callee's YIELD (encoded beforehand, outside the timed part): INVOCATION and RESULT.
        group.bench_function(BenchmarkId::new("call_round_trip", n), |b| {
            let shard = shard.get_or_insert_with(|| DealerShard::new(n));
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let count = left.min(BATCH as u64) as usize;
                    let yields = shard.yields(count);
                    let started = Instant::now();
                    for (k, frame) in yields.into_iter().enumerate() {
                        shard.call(k);
                        shard.router.handle_frame(shard.callee, black_box(frame), &mut shard.out);
                        assert!(
                            matches!(shard.out.effects.as_slice(), [Effect::Send(c, _)] if *c == shard.caller)
                        );
                        shard.out.effects.clear();
                    }
                    timed += started.elapsed();
                    shard.invocations += count as Id;
                    left -= count as u64;
                }
                timed
            })
        });
    }
    group.finish();
}

/// Two shards of one router, wired by hand.
struct Mesh {
    shards: [ShardRouter; 2],
    publisher: u64,
    outs: [Outbox; 2],
    /// EVENTs one publication must produce.
    events: usize,
}

impl Mesh {
    /// Subscribers to `TOPIC` speaking `subscribers[s]` on shard `s`; a MessagePack publisher on shard 0.
    fn new(subscribers: [&[Serializer]; 2]) -> Mesh {
        let registry = registry(0, 0);
        let mut mesh = Mesh {
            shards: [ShardRouter::new(0, 2, registry.clone()), ShardRouter::new(1, 2, registry)],
            publisher: 0,
            outs: Default::default(),
            events: subscribers.iter().map(|s| s.len()).sum(),
        };
        for (shard, serializers) in subscribers.iter().enumerate() {
            for &serializer in *serializers {
                let conn = mesh.join(shard, serializer);
                let subscribe = Message::Subscribe { request: 1, options: Dict::new(), topic: TOPIC.into() };
                let answers = mesh.frame(shard, conn, codec::encode_to_bytes(&subscribe, serializer));
                match answers.as_slice() {
                    [(s, Effect::Send(c, frame))] if (*s, *c) == (shard, conn) => {
                        let answer = codec::decode(serializer, frame.clone()).expect("decodes");
                        assert!(matches!(answer, Message::Subscribed { .. }), "{answer:?}");
                    }
                    other => panic!("no SUBSCRIBED: {other:?}"),
                }
            }
        }
        mesh.publisher = mesh.join(0, Serializer::MsgPack);
        mesh
    }

    fn join(&mut self, shard: usize, serializer: Serializer) -> u64 {
        let conn = self.shards[shard].open(serializer, ConnLimits::default(), Default::default());
        let hello = Message::Hello { realm: "realm1".into(), details: dict! { "roles" => roles() } };
        let answers = self.frame(shard, conn, codec::encode_to_bytes(&hello, serializer));
        assert!(matches!(answers.as_slice(), [(s, Effect::Send(c, _))] if (*s, *c) == (shard, conn)));
        conn
    }

    /// Feeds a frame to a shard and delivers peer messages until none is left; returns what the shards
    /// sent to clients, with the shard that sent it.
    fn frame(&mut self, shard: usize, conn: u64, frame: Bytes) -> Vec<(usize, Effect)> {
        let mut out = Outbox::default();
        self.shards[shard].handle_frame(conn, frame, &mut out);
        let mut queue: VecDeque<(usize, Effect)> = out.effects.into_iter().map(|e| (shard, e)).collect();
        let mut sent = Vec::new();
        while let Some((from, effect)) = queue.pop_front() {
            match effect {
                Effect::Peer(to, message) => {
                    let mut out = Outbox::default();
                    self.shards[to].handle_peer(from, message, &mut out);
                    queue.extend(out.effects.into_iter().map(|e| (to, e)));
                }
                other => sent.push((from, other)),
            }
        }
        sent
    }

    /// The timed path: PUBLISH on shard 0, its peer message handled by shard 1, EVENTs counted.
    fn publish(&mut self, frame: &Bytes) {
        let [first, second] = &mut self.shards;
        let [out0, out1] = &mut self.outs;
        first.handle_frame(self.publisher, black_box(frame.clone()), out0);
        let mut events = 0;
        for effect in out0.effects.drain(..) {
            match effect {
                Effect::Event(..) => events += 1,
                Effect::Peer(1, message) => second.handle_peer(0, message, out1),
                other => panic!("unexpected {other:?}"),
            }
        }
        for effect in out1.effects.drain(..) {
            match effect {
                Effect::Event(..) => events += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(events, self.events);
    }
}

fn mesh(c: &mut Criterion) {
    use Serializer::{Cbor, Json, MsgPack};
    let mut group = c.benchmark_group("mesh_publish");
    let msgpack_50 = [MsgPack; 50];
    let mixed_50: Vec<Serializer> = (0..50).map(|i| [Json, Cbor][i % 2]).collect();
    let all_50: Vec<Serializer> = (0..50).map(|i| [MsgPack, Json, Cbor][i % 3]).collect();
    let cases: [(&str, [&[Serializer]; 2]); 6] = [
        // Shard 1 has no subscriber, yet receives the publication (every publication goes to every shard).
        ("1+0_msgpack", [&[MsgPack], &[]]),
        ("1+1_msgpack", [&[MsgPack], &[MsgPack]]),
        ("50+50_msgpack", [&msgpack_50, &msgpack_50]),
        // Transcoded from MessagePack once per shard and target serializer, not once per subscriber.
        ("2+2_json+cbor", [&[Json, Cbor], &[Json, Cbor]]),
        ("50+50_json+cbor", [&mixed_50, &mixed_50]),
        ("50+50_msgpack+json+cbor", [&all_50, &all_50]),
    ];
    let frame = publish_frame(TOPIC);
    for (name, subscribers) in cases {
        let mut mesh = Mesh::new(subscribers);
        group.bench_function(name, |b| b.iter(|| mesh.publish(&frame)));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = subscriptions, registrations, mesh
}
criterion_main!(benches);
