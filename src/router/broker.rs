//! The broker half of a shard (section 5): this shard's subscriptions (exact and pattern-based, 12.5) and
//! the EVENT fan-out. A publication is matched against the local table on every shard; each shard encodes
//! one EVENT per matching subscription and serializer and queues the same bytes to every receiving
//! subscriber.

use std::sync::Arc;

use tracing::warn;

use crate::dict;
use crate::stats::Counter;
use crate::wamp::codec::{self, Serializer};
use crate::wamp::ids::random_id;
use crate::wamp::message::code;
use crate::wamp::{uri, uris, Dict, Id, Message, Payload, Value};

use super::effects::{ConnId, Outbox};
use super::peer::{PeerMessage, Publication};
use super::session::{HeldSubscription, Session};
use super::shard_router::ShardRouter;
use super::uri_index::{MatchPolicy, UriIndex};

/// A session subscribed on this shard.
#[derive(Debug, Clone, Copy)]
struct Subscriber {
    conn: ConnId,
    session: Id,
    serializer: Serializer,
    /// The largest message the subscriber accepts.
    max_outbound: usize,
}

/// This shard's share of one subscription: its router-wide ID and the local subscribers.
#[derive(Debug)]
struct LocalSubscription {
    id: Id,
    subscribers: Vec<Subscriber>,
}

/// One realm's subscriptions on this shard, by topic and match policy.
#[derive(Debug, Default)]
pub struct Broker {
    subscriptions: UriIndex<LocalSubscription>,
}

impl ShardRouter {
    pub(super) fn on_subscribe(
        &mut self,
        conn: ConnId,
        request: Id,
        options: Dict,
        topic: String,
        out: &mut Outbox,
    ) {
        let Some(session) = self.session_of(conn) else {
            return;
        };
        let (session_id, realm) = (session.id, session.realm);
        let policy = MatchPolicy::of(&options);
        if let Err(text) = policy.check(&topic, self.registry.realm(realm).uri_check) {
            return self.error(conn, code::SUBSCRIBE, request, uris::INVALID_URI, &text, out);
        }
        let held = HeldSubscription { policy, topic };
        // Subscribing again to what the session holds takes no new place (looked up only at a limit).
        let new = || !session.subscriptions.values().any(|h| *h == held);
        let max = self.registry.realm(realm).limits.max_subscriptions;
        if session.subscriptions.len() >= max && new() {
            self.registry.stats.bump(Counter::SubscriptionLimit);
            let text = format!("this session already holds {max} subscriptions, the most this realm allows");
            return self.error(conn, code::SUBSCRIBE, request, uris::LIMIT_EXCEEDED, &text, out);
        }
        let max = self.registry.realm(realm).limits.max_patterns;
        if policy != MatchPolicy::Exact && session.patterns >= max && new() {
            self.registry.stats.bump(Counter::SubscriptionLimit);
            let text = format!("this session already holds {max} patterns, the most this realm allows");
            return self.error(conn, code::SUBSCRIBE, request, uris::LIMIT_EXCEEDED, &text, out);
        }
        let (serializer, max_outbound) =
            (self.conns[&conn].serializer, self.conns[&conn].limits.max_outbound);
        let registry = &self.registry;
        let local = self.realms[realm].broker.subscriptions.get_or_insert_with(policy, &held.topic, || {
            LocalSubscription {
                id: registry.acquire_subscription(realm, policy, &held.topic),
                subscribers: Vec::new(),
            }
        });
        let subscription = local.id;
        if !local.subscribers.iter().any(|s| s.conn == conn) {
            local.subscribers.push(Subscriber { conn, session: session_id, serializer, max_outbound });
        }
        if let Some(session) = self.session_mut(conn) {
            if session.subscriptions.insert(subscription, held).is_none() && policy != MatchPolicy::Exact {
                session.patterns += 1;
            }
        }
        self.send(conn, &Message::Subscribed { request, subscription }, out);
    }

    pub(super) fn on_unsubscribe(&mut self, conn: ConnId, request: Id, subscription: Id, out: &mut Outbox) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let realm = session.realm;
        let Some(held) = session.subscriptions.remove(&subscription) else {
            let text = format!("this session holds no subscription {subscription}");
            return self.error(conn, code::UNSUBSCRIBE, request, uris::NO_SUCH_SUBSCRIPTION, &text, out);
        };
        if held.policy != MatchPolicy::Exact {
            session.patterns -= 1;
        }
        self.remove_subscriber(realm, &held, conn);
        self.send(conn, &Message::Unsubscribed { request, details: None }, out);
    }

    pub(super) fn on_publish(
        &mut self,
        conn: ConnId,
        request: Id,
        options: Dict,
        topic: String,
        payload: Payload,
        out: &mut Outbox,
    ) {
        let Some(session) = self.session_of(conn) else {
            return;
        };
        let acknowledge = options.get("acknowledge").and_then(Value::as_bool).unwrap_or(false);
        if !uri::is_valid(&topic, self.registry.realm(session.realm).uri_check) {
            if acknowledge {
                let text = format!("{topic:?} is not a valid topic URI");
                self.error(conn, code::PUBLISH, request, uris::INVALID_URI, &text, out);
            }
            return;
        }
        let ids = |key: &str| -> Option<Vec<Id>> {
            options.get(key).and_then(Value::as_list).map(|l| l.iter().filter_map(Value::as_u64).collect())
        };
        let details = if options.get("disclose_me").and_then(Value::as_bool) == Some(true) {
            dict! {
                "publisher" => session.id,
                "publisher_authid" => &*session.authid,
                "publisher_authrole" => &*session.authrole,
            }
        } else {
            Dict::new()
        };
        let publication = Arc::new(Publication {
            realm: session.realm,
            topic,
            publication: random_id(),
            publisher: session.id,
            exclude_me: options.get("exclude_me").and_then(Value::as_bool).unwrap_or(true),
            exclude: ids("exclude").unwrap_or_default(),
            eligible: ids("eligible"),
            details,
            payload,
        });
        self.broadcast(|| PeerMessage::Publish(publication.clone()), out);
        self.deliver(&publication, out);
        if acknowledge {
            let published = Message::Published { request, publication: publication.publication };
            self.send(conn, &published, out);
        }
    }

    /// Queues the EVENTs for every subscriber on this shard that may receive `publication`: one per
    /// matching subscription.
    pub(super) fn deliver(&self, publication: &Publication, out: &mut Outbox) {
        let subscriptions = &self.realms[publication.realm].broker.subscriptions;
        subscriptions.for_each_match(&publication.topic, |policy, local| {
            self.deliver_to(publication, policy, local, out);
        });
    }

    fn deliver_to(
        &self,
        publication: &Publication,
        policy: MatchPolicy,
        local: &LocalSubscription,
        out: &mut Outbox,
    ) {
        let mut encoded: [Option<bytes::Bytes>; 3] = Default::default();
        for subscriber in &local.subscribers {
            if publication.exclude_me && subscriber.session == publication.publisher
                || publication.exclude.contains(&subscriber.session)
                || publication.eligible.as_ref().is_some_and(|e| !e.contains(&subscriber.session))
            {
                continue;
            }
            let slot = &mut encoded[subscriber.serializer.index()];
            if slot.is_none() {
                let payload = match publication.payload.transcode(subscriber.serializer) {
                    Ok(payload) => payload,
                    Err(e) => {
                        warn!(topic = %publication.topic, error = %e, "cannot transcode event payload; not delivered");
                        continue;
                    }
                };
                let mut details = publication.details.clone();
                if policy != MatchPolicy::Exact {
                    // A pattern subscriber learns the concrete topic (12.5.3).
                    details.insert("topic".into(), Value::from(publication.topic.as_str()));
                }
                let event = Message::Event {
                    subscription: local.id,
                    publication: publication.publication,
                    details,
                    payload,
                };
                *slot = Some(codec::encode_to_bytes(&event, subscriber.serializer));
            }
            if let Some(frame) = slot {
                if frame.len() > subscriber.max_outbound {
                    // Larger than the subscriber accepts: dropped for it and counted (15.2.2).
                    self.registry.stats.bump(Counter::PayloadSizeExceeded);
                    continue;
                }
                out.event(subscriber.conn, frame.clone());
            }
        }
    }

    /// Removes every subscription of a leaving session.
    pub(super) fn drop_subscriptions(&mut self, conn: ConnId, session: &Session) {
        for held in session.subscriptions.values() {
            self.remove_subscriber(session.realm, held, conn);
        }
    }

    fn remove_subscriber(&mut self, realm: usize, held: &HeldSubscription, conn: ConnId) {
        let subscriptions = &mut self.realms[realm].broker.subscriptions;
        let Some(local) = subscriptions.get_mut(held.policy, &held.topic) else {
            return;
        };
        local.subscribers.retain(|s| s.conn != conn);
        if local.subscribers.is_empty() {
            subscriptions.remove(held.policy, &held.topic);
            self.registry.release_subscription(realm, held.policy, &held.topic);
        }
    }
}
