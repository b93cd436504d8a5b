//! What authorization costs on the publish hot path: one PUBLISH (64-byte MessagePack payload, one local
//! subscriber) handled by a sans-I/O shard, from frame in to EVENT bytes out, in a realm
//! - without roles (every session may do everything),
//! - whose role has permission rules: 30 prefix rules, 20 wildcard rules and 50 exact rules, the topic
//!   matched by a prefix rule (the shard's decision cache answers after the first publish),
//! - the same rules, with the decision cache defeated by publishing to 10 000 distinct topics in turn
//!   (more than the cache holds), so every publish walks the rules.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::dict;
use switchyard::router::{ConnLimits, Outbox, Registry, ShardRouter};
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::{Dict, Message, Payload, Value};
use switchyard::Config;

const ENDPOINT: &str = "[[endpoints]]\nkind = \"universal\"\nlisten = \"127.0.0.1:0\"\n";

fn realm_with_rules() -> String {
    let mut toml = String::from("[[realms]]\nname = \"realm1\"\n[[realms.roles]]\nname = \"anonymous\"\n");
    let rule = |uri: &str, policy: &str| {
        format!(
            "[[realms.roles.permissions]]\nuri = \"{uri}\"\nmatch = \"{policy}\"\nallow = {{ publish = true, subscribe = true }}\n"
        )
    };
    for i in 0..30 {
        toml += &rule(&format!("org.prefix{i}."), "prefix");
    }
    for i in 0..20 {
        toml += &rule(&format!("org..w{i}"), "wildcard");
    }
    for i in 0..50 {
        toml += &rule(&format!("org.exact{i}"), "exact");
    }
    toml += &rule("com.myapp.", "prefix");
    toml
}

/// A shard with one subscriber to `topics` and one publisher; returns the publisher's connection.
fn shard(realm_toml: &str, topics: &[String]) -> (ShardRouter, u64) {
    let config = Config::from_toml_str(&format!("{realm_toml}{ENDPOINT}")).expect("config");
    let registry = Arc::new(Registry::new(config.realms).expect("realms"));
    let mut router = ShardRouter::new(0, 1, registry);
    let join = |router: &mut ShardRouter, out: &mut Outbox| {
        let conn = router.open(Serializer::MsgPack, ConnLimits::default(), Default::default());
        let roles = dict! { "publisher" => Dict::new(), "subscriber" => Dict::new() };
        let hello = Message::Hello { realm: "realm1".into(), details: dict! { "roles" => roles } };
        router.handle_frame(conn, codec::encode_to_bytes(&hello, Serializer::MsgPack), out);
        conn
    };
    let mut out = Outbox::default();
    let subscriber = join(&mut router, &mut out);
    for (i, topic) in topics.iter().enumerate() {
        let subscribe =
            Message::Subscribe { request: i as u64 + 1, options: Dict::new(), topic: topic.clone() };
        router.handle_frame(subscriber, codec::encode_to_bytes(&subscribe, Serializer::MsgPack), &mut out);
    }
    let publisher = join(&mut router, &mut out);
    (router, publisher)
}

fn publish_frame(topic: &str) -> Bytes {
    let payload = Payload::from_values(Serializer::MsgPack, Some(&[Value::from("x".repeat(60))]), None);
    let publish = Message::Publish { request: 7, options: Dict::new(), topic: topic.into(), payload };
    codec::encode_to_bytes(&publish, Serializer::MsgPack)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("authorize_publish");
    let topic = "com.myapp.sensors.temperature".to_string();
    let cases =
        [("no_roles", "[[realms]]\nname = \"realm1\"\n".to_string()), ("rules_cached", realm_with_rules())];
    for (name, realm) in &cases {
        let (mut router, publisher) = shard(realm, std::slice::from_ref(&topic));
        let frame = publish_frame(&topic);
        let mut out = Outbox::default();
        group.bench_function(*name, |b| {
            b.iter(|| {
                router.handle_frame(publisher, black_box(frame.clone()), &mut out);
                assert_eq!(out.effects.len(), 1, "one EVENT per publish");
                out.effects.clear();
            })
        });
    }
    // Every publish misses the cache: 10 000 topics, published to in turn.
    let topics: Vec<String> = (0..10_000).map(|i| format!("com.myapp.t{i}")).collect();
    let frames: Vec<Bytes> = topics.iter().map(|t| publish_frame(t)).collect();
    for (name, realm) in [("no_roles_10k_topics", &cases[0].1), ("rules_uncached_10k_topics", &cases[1].1)] {
        let (mut router, publisher) = shard(realm, &topics);
        let mut out = Outbox::default();
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                router.handle_frame(publisher, black_box(frames[next].clone()), &mut out);
                next = (next + 1) % frames.len();
                assert_eq!(out.effects.len(), 1, "one EVENT per publish");
                out.effects.clear();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
