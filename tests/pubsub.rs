//! Publish & subscribe over real sockets, across shards and serializers (sections 5 and 7.1).

mod common;

use common::*;
use switchyard::dict;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::message::code;
use switchyard::wamp::{uris, Dict, Message, Value};

#[test]
fn event_reaches_subscribers_on_every_shard_and_every_serializer() {
    let router = start(2);
    let mut publisher = Client::join(router.addr, Serializer::Json);
    let mut subscribers = vec![
        Client::join(router.addr, Serializer::Json),
        Client::join(router.addr, Serializer::MsgPack),
        Client::join_ws(router.addr, Serializer::Cbor),
        Client::join_ws(router.addr, Serializer::Json),
        join_on_other_shard(&router, &publisher, Serializer::MsgPack),
    ];
    let ids: Vec<_> = subscribers.iter_mut().map(|s| s.subscribe("com.example.topic")).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one subscription id for one topic: {ids:?}");

    let args = [Value::from("héllo"), Value::Int(-7), Value::Bytes(vec![0, 1, 2, 255]), Value::Float(1.5)];
    publisher.publish_acked("com.example.topic", &args, Dict::new());
    for s in &mut subscribers {
        let (subscription, got) = s.expect_event();
        assert_eq!(subscription, ids[0]);
        assert_eq!(got, args, "serializer {:?}", s.serializer);
    }
}

#[test]
fn publisher_is_excluded_by_default_and_included_on_request() {
    let router = start(2);
    let mut client = Client::join(router.addr, Serializer::MsgPack);
    client.subscribe("com.example.self");
    client.publish_acked("com.example.self", &[Value::Int(1)], Dict::new());
    assert!(client.try_recv(std::time::Duration::from_millis(200)).is_none(), "no event to the publisher");
    let request = client.next_request();
    let payload = client.payload(&[Value::Int(2)], None);
    let options = dict! { "exclude_me" => false };
    client.send(&Message::Publish { request, options, topic: "com.example.self".into(), payload });
    assert_eq!(client.expect_event().1, vec![Value::Int(2)]);
}

#[test]
fn black_and_white_listing_and_publisher_disclosure() {
    let router = start(2);
    let mut publisher = Client::join(router.addr, Serializer::Json);
    let mut a = Client::join(router.addr, Serializer::Json);
    let mut b = join_on_other_shard(&router, &a, Serializer::Json);
    a.subscribe("t.bw");
    b.subscribe("t.bw");
    let exclude = dict! { "exclude" => Value::List(vec![Value::from(a.session)]), "disclose_me" => true };
    publisher.publish_acked("t.bw", &[Value::Int(1)], exclude);
    match b.recv() {
        Message::Event { details, .. } => {
            assert_eq!(details.get("publisher").and_then(Value::as_u64), Some(publisher.session))
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
    let eligible = dict! { "eligible" => Value::List(vec![Value::from(a.session)]) };
    publisher.publish_acked("t.bw", &[Value::Int(2)], eligible);
    assert_eq!(a.expect_event().1, vec![Value::Int(2)]);
    assert!(b.try_recv(std::time::Duration::from_millis(200)).is_none());
}

#[test]
fn unsubscribe_and_errors() {
    let router = start(2);
    let mut c = Client::join(router.addr, Serializer::Cbor);
    let sub = c.subscribe("com.example.u");
    assert_eq!(c.subscribe("com.example.u"), sub, "subscribing twice returns the same subscription");
    let request = c.next_request();
    c.send(&Message::Unsubscribe { request, subscription: sub });
    assert!(matches!(c.recv(), Message::Unsubscribed { request: r, .. } if r == request));
    let request = c.next_request();
    c.send(&Message::Unsubscribe { request, subscription: sub });
    assert_eq!(c.expect_error(code::UNSUBSCRIBE, request), uris::NO_SUCH_SUBSCRIPTION);

    let request = c.next_request();
    c.send(&Message::Subscribe { request, options: Dict::new(), topic: "bad topic".into() });
    assert_eq!(c.expect_error(code::SUBSCRIBE, request), uris::INVALID_URI);

    let request = c.next_request();
    let options = dict! { "acknowledge" => true };
    c.send(&Message::Publish { request, options, topic: "com..x".into(), payload: Default::default() });
    assert_eq!(c.expect_error(code::PUBLISH, request), uris::INVALID_URI);
}

#[test]
fn strict_uri_realms_reject_loose_uris() {
    let router = start_with(&config(1, "uri_check = \"strict\"", ""));
    let mut c = Client::join(router.addr, Serializer::Json);
    let request = c.next_request();
    c.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.Example.Topic".into() });
    assert_eq!(c.expect_error(code::SUBSCRIBE, request), uris::INVALID_URI);
    c.subscribe("com.example.topic");
}

#[test]
fn events_from_one_publisher_arrive_in_order_across_shards() {
    const N: i64 = 20_000;
    let router = start(2);
    let mut publisher = Client::join(router.addr, Serializer::MsgPack);
    let mut local = Client::join(router.addr, Serializer::MsgPack);
    let mut remote = join_on_other_shard(&router, &publisher, Serializer::Json);
    local.subscribe("t.order");
    remote.subscribe("t.order");
    let reader = |mut c: Client| {
        std::thread::spawn(move || {
            for i in 0..N {
                assert_eq!(c.expect_event().1, vec![Value::Int(i)], "event {i} in order");
            }
        })
    };
    let (a, b) = (reader(local), reader(remote));
    for i in 0..N {
        publisher.publish("t.order", &[Value::Int(i)]);
    }
    publisher.publish_acked("t.order", &[Value::Int(N)], dict! { "eligible" => Value::List(vec![]) });
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn event_after_subscribed_is_delivered_from_any_shard() {
    let router = start(2);
    for _ in 0..20 {
        let mut subscriber = Client::join(router.addr, Serializer::Json);
        let mut publisher = join_on_other_shard(&router, &subscriber, Serializer::Cbor);
        subscriber.subscribe("t.after");
        publisher.publish("t.after", &[Value::from("x")]);
        assert_eq!(subscriber.expect_event().1, vec![Value::from("x")]);
    }
}
