//! One shard's router: its connections and sessions, the session state machine, and the dispatch of
//! client messages and cross-shard messages to the broker and dealer halves (`broker.rs`, `dealer.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use ahash::AHashMap;
use bytes::Bytes;
use tracing::debug;

use crate::auth::TransportInfo;
use crate::dict;
use crate::stats::Counter;
use crate::wamp::codec::{self, Serializer};
use crate::wamp::message::code;
use crate::wamp::{uris, validate, Dict, Id, Message, Payload, Value};

use super::authorize::{decision_caches, DecisionCache};
use super::broker::Broker;
use super::dealer::Dealer;
use super::effects::{ConnId, Outbox};
use super::internal_call::InternalCall;
use super::peer::PeerMessage;
use super::registry::Registry;
use super::session::{Conn, ConnLimits, Phase, Session};

/// A change that other shards must apply before the client is told it is done.
#[derive(Debug)]
pub(super) struct PendingControl {
    pub remaining: usize,
    pub conn: ConnId,
    pub session: Id,
    /// The acknowledgment to send when every shard applied the change.
    pub reply: Message,
}

/// One realm's shard of the routing state.
#[derive(Debug, Default)]
pub(super) struct RealmShard {
    pub broker: Broker,
    pub dealer: Dealer,
}

/// The routing state and session state machine of one shard (sans-I/O).
#[derive(Debug)]
pub struct ShardRouter {
    pub(super) shard: usize,
    pub(super) shards: usize,
    pub(super) registry: Arc<Registry>,
    pub(super) realms: Vec<RealmShard>,
    pub(super) conns: AHashMap<ConnId, Conn>,
    /// Session ID -> the connection carrying it.
    pub(super) sessions: AHashMap<Id, ConnId>,
    next_conn: ConnId,
    pub(super) controls: AHashMap<u64, PendingControl>,
    next_control: u64,
    /// Calls with a timeout that callers on this shard wait for: (deadline, caller's connection, request).
    pub(super) call_deadlines: BTreeSet<(Instant, ConnId, Id)>,
    /// The router is shutting down: no new sessions.
    pub(super) stopping: bool,
    /// Per realm and role with permission rules: this shard's decisions per URI.
    pub(super) decision_caches: Vec<Vec<DecisionCache>>,
    /// The router's own calls (authenticator, authorizer) waiting for an answer, with their deadline.
    pub(super) internal_calls: AHashMap<Id, InternalCall>,
    pub(super) next_internal_call: Id,
}

impl ShardRouter {
    pub fn new(shard: usize, shards: usize, registry: Arc<Registry>) -> ShardRouter {
        let realms = (0..registry.realm_count()).map(|_| RealmShard::default()).collect();
        let decision_caches = decision_caches(registry.authorizations());
        ShardRouter {
            shard,
            shards,
            registry,
            realms,
            conns: AHashMap::new(),
            sessions: AHashMap::new(),
            next_conn: 1,
            controls: AHashMap::new(),
            next_control: 1,
            call_deadlines: BTreeSet::new(),
            stopping: false,
            decision_caches,
            internal_calls: AHashMap::new(),
            next_internal_call: 1,
        }
    }

    /// A transport finished its handshake: a new connection, waiting for HELLO.
    pub fn open(&mut self, serializer: Serializer, limits: ConnLimits, transport: TransportInfo) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        let c = Conn {
            serializer,
            transport,
            limits,
            phase: Phase::AwaitingHello,
            joining: None,
            join_deadline: None,
            session: None,
        };
        self.conns.insert(conn, c);
        conn
    }

    /// The transport of `conn` is gone (closed, failed or closed by us): clean up after its session.
    pub fn closed(&mut self, conn: ConnId, out: &mut Outbox) {
        self.disarm_join_deadline(conn);
        self.end_session(conn, out);
        self.conns.remove(&conn);
    }

    /// Number of established sessions on this shard.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// One inbound WAMP message, as framed by the transport.
    pub fn handle_frame(&mut self, conn: ConnId, frame: Bytes, out: &mut Outbox) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.phase == Phase::Closed {
            return;
        }
        match codec::decode_with_depth(c.serializer, frame, c.limits.max_nesting_depth) {
            Ok(message) => match validate::validate(&message) {
                Ok(()) => self.handle_message(conn, message, out),
                Err(reason) => self.protocol_violation(conn, &reason, out),
            },
            Err(e) => self.protocol_violation(conn, &e.to_string(), out),
        }
    }

    /// One decoded, validated inbound message.
    pub fn handle_message(&mut self, conn: ConnId, message: Message, out: &mut Outbox) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        match c.phase {
            Phase::Closed => {}
            Phase::AwaitingHello => match message {
                Message::Hello { realm, details } => self.on_hello(conn, realm, details, out),
                Message::Abort { .. } => self.close_now(conn, out),
                other => {
                    let reason = format!("expected HELLO, received {}", other.name());
                    self.protocol_violation(conn, &reason, out)
                }
            },
            Phase::Authenticating => match message {
                Message::Authenticate { signature, extra } => {
                    self.on_authenticate(conn, &signature, &extra, out)
                }
                Message::Abort { .. } => self.close_now(conn, out),
                other => {
                    let reason = format!("expected AUTHENTICATE, received {}", other.name());
                    self.protocol_violation(conn, &reason, out)
                }
            },
            Phase::ShuttingDown => match message {
                Message::Goodbye { .. } | Message::Abort { .. } => self.close_now(conn, out),
                _ => {} // section 4.2: after sending GOODBYE, ignore everything but the reply
            },
            Phase::Established => {
                // Sessions whose role may do everything skip the authorization lookup.
                let open = c.session.as_ref().is_some_and(|s| s.authorization.is_open());
                if open {
                    self.dispatch_open(conn, message, out)
                } else {
                    self.authorize_and_dispatch(conn, message, out)
                }
            }
        }
    }

    /// Runs an authorized message. `disclose`: its role's rule discloses the caller or publisher, which
    /// then acts as if the session had asked for it (`disclose_me`).
    pub(super) fn dispatch(&mut self, conn: ConnId, mut message: Message, disclose: bool, out: &mut Outbox) {
        if let (true, Message::Publish { options, .. } | Message::Call { options, .. }) =
            (disclose, &mut message)
        {
            options.insert("disclose_me".into(), Value::Bool(true));
        }
        match message {
            Message::Publish { request, options, topic, payload } => {
                self.on_publish(conn, request, options, topic, payload, out)
            }
            Message::Subscribe { request, options, topic } => {
                self.on_subscribe(conn, request, options, topic, out)
            }
            Message::Unsubscribe { request, subscription } => {
                self.on_unsubscribe(conn, request, subscription, out)
            }
            Message::Call { request, options, procedure, payload } => {
                self.on_call(conn, request, options, procedure, payload, out)
            }
            Message::Register { request, options, procedure } => {
                self.on_register(conn, request, options, procedure, out)
            }
            Message::Unregister { request, registration } => {
                self.on_unregister(conn, request, registration, out)
            }
            Message::Cancel { request, options } => self.on_cancel(conn, request, options, out),
            Message::Yield { request, payload, .. } => self.on_yield(conn, request, payload, out),
            Message::Error { request_type: code::INVOCATION, request, details, error, payload } => {
                self.on_invocation_error(conn, request, details, error, payload, out)
            }
            Message::Goodbye { .. } => {
                let reply = Message::Goodbye { details: Dict::new(), reason: uris::GOODBYE_AND_OUT.into() };
                self.send(conn, &reply, out);
                self.end_session(conn, out);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.phase = Phase::AwaitingHello;
                }
                self.arm_join_deadline(conn);
            }
            Message::Abort { .. } => self.close_now(conn, out),
            Message::Hello { .. } => {
                self.protocol_violation(conn, "HELLO received on an established session", out)
            }
            Message::Error { request_type, .. } => {
                let reason = format!("ERROR for request type {request_type} cannot be sent to a router");
                self.protocol_violation(conn, &reason, out)
            }
            other => {
                let reason = format!("{} is not a message a client may send to this router", other.name());
                self.protocol_violation(conn, &reason, out)
            }
        }
    }

    /// The handshake timeout ran out: a connection that still has not sent HELLO is aborted.
    pub fn hello_timeout(&mut self, conn: ConnId, out: &mut Outbox) {
        if self.conns.get(&conn).is_some_and(|c| c.phase == Phase::AwaitingHello) {
            self.registry.stats.bump(Counter::HelloTimeouts);
            self.abort(conn, uris::PROTOCOL_VIOLATION, "no HELLO within the handshake timeout", out);
        }
    }

    /// Asks every established session to leave (router shutdown): GOODBYE `wamp.close.system_shutdown`.
    pub fn shutdown(&mut self, out: &mut Outbox) {
        self.stopping = true;
        let waiting: Vec<ConnId> =
            self.conns.iter().filter(|(_, c)| c.session.is_none()).map(|(id, _)| *id).collect();
        for conn in waiting {
            self.close_now(conn, out);
        }
        let established: Vec<ConnId> =
            self.conns.iter().filter(|(_, c)| c.phase == Phase::Established).map(|(id, _)| *id).collect();
        let goodbye = Message::Goodbye { details: Dict::new(), reason: uris::CLOSE_SYSTEM_SHUTDOWN.into() };
        for conn in established {
            self.send(conn, &goodbye, out);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.phase = Phase::ShuttingDown;
            }
        }
    }

    /// The peer broke the protocol: ABORT `wamp.error.protocol_violation` and close its transport.
    pub fn protocol_violation(&mut self, conn: ConnId, reason: &str, out: &mut Outbox) {
        debug!(shard = self.shard, conn, reason, "protocol violation");
        self.registry.stats.bump(Counter::ProtocolViolations);
        self.abort(conn, uris::PROTOCOL_VIOLATION, reason, out);
    }

    pub(super) fn abort(&mut self, conn: ConnId, uri: &str, message: &str, out: &mut Outbox) {
        let abort = Message::Abort {
            details: dict! { "message" => message },
            reason: uri.into(),
            payload: Payload::empty(),
        };
        self.send(conn, &abort, out);
        self.close_now(conn, out);
    }

    /// Ends the session (if any) and closes the transport once what is queued has been written.
    pub(super) fn close_now(&mut self, conn: ConnId, out: &mut Outbox) {
        self.end_session(conn, out);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Closed;
            c.joining = None;
        }
        self.disarm_join_deadline(conn);
        out.close(conn);
    }

    /// The session on `conn` (if any) is over: release everything it held, on every shard.
    fn end_session(&mut self, conn: ConnId, out: &mut Outbox) {
        let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.take()) else {
            return;
        };
        self.sessions.remove(&session.id);
        self.registry.remove_session(session.id);
        self.drop_subscriptions(conn, &session);
        self.drop_registrations(&session, out);
        self.drop_calls(conn, &session, out);
        debug!(shard = self.shard, session = session.id, "session left");
    }

    /// A message from another shard.
    pub fn handle_peer(&mut self, from: usize, message: PeerMessage, out: &mut Outbox) {
        match message {
            PeerMessage::Publish(publication) => self.deliver(&publication, out),
            PeerMessage::RegistrationAdded { realm, procedure, matching, policy, entry, ack } => {
                // The registration may have been released (and the procedure claimed anew) meanwhile.
                if self.registry.procedure_holder(realm, matching, &procedure) == Some(entry.registration) {
                    self.realms[realm].dealer.add(matching, &procedure, policy, entry);
                }
                if let Some(control) = ack {
                    out.peer(from, PeerMessage::Ack { control });
                }
            }
            PeerMessage::RegistrationRemoved { realm, procedure, matching, registration, callee, ack } => {
                self.realms[realm].dealer.remove(matching, &procedure, registration, callee);
                if let Some(control) = ack {
                    out.peer(from, PeerMessage::Ack { control });
                }
            }
            PeerMessage::Ack { control } => self.acknowledged(control, out),
            PeerMessage::Call(call) => self.invoke(*call, out),
            PeerMessage::Reply(reply) => self.deliver_reply(*reply, out),
            PeerMessage::CallerGone { callee, caller } => self.caller_gone(callee, caller, out),
            PeerMessage::CancelInvocation { callee, caller, request, mode, reason } => {
                self.cancel_invocation(callee, caller, request, mode, &reason, out)
            }
        }
    }

    /// Sends `make(control)` to every other shard and replies `reply` to the session once all applied it.
    pub(super) fn broadcast_control(
        &mut self,
        conn: ConnId,
        session: Id,
        reply: Message,
        make: impl Fn(u64) -> PeerMessage,
        out: &mut Outbox,
    ) {
        if self.shards == 1 {
            return self.send(conn, &reply, out);
        }
        let control = self.next_control;
        self.next_control += 1;
        for shard in (0..self.shards).filter(|s| *s != self.shard) {
            out.peer(shard, make(control));
        }
        self.controls.insert(control, PendingControl { remaining: self.shards - 1, conn, session, reply });
    }

    /// Sends `make()` to every other shard, without waiting for anything.
    pub(super) fn broadcast(&self, make: impl Fn() -> PeerMessage, out: &mut Outbox) {
        for shard in (0..self.shards).filter(|s| *s != self.shard) {
            out.peer(shard, make());
        }
    }

    fn acknowledged(&mut self, control: u64, out: &mut Outbox) {
        let Some(pending) = self.controls.get_mut(&control) else {
            return;
        };
        pending.remaining -= 1;
        if pending.remaining > 0 {
            return;
        }
        let Some(done) = self.controls.remove(&control) else {
            return;
        };
        let Some(session) = self.session_mut(done.conn).filter(|s| s.id == done.session) else {
            return;
        };
        let mut waiting = Vec::new();
        if let Message::Registered { registration, .. } = done.reply {
            if let Some(held) = session.registrations.get_mut(&registration) {
                held.confirmed = true;
                waiting = std::mem::take(&mut held.waiting);
            }
        }
        self.send(done.conn, &done.reply, out);
        for call in waiting {
            self.invoke(call, out);
        }
    }

    /// Encodes `message` in the connection's serializer and queues it.
    pub(super) fn send(&self, conn: ConnId, message: &Message, out: &mut Outbox) {
        if let Some(c) = self.conns.get(&conn) {
            out.send(conn, codec::encode_to_bytes(message, c.serializer));
        }
    }

    /// Like [`ShardRouter::send`], for a message whose size the peer controls: one larger than the
    /// connection accepts is not queued (counted; `Err` carries its length), so the caller can answer
    /// `wamp.error.payload_size_exceeded` instead.
    pub(super) fn send_within_limit(
        &self,
        conn: ConnId,
        message: &Message,
        out: &mut Outbox,
    ) -> Result<(), usize> {
        let Some(c) = self.conns.get(&conn) else {
            return Ok(());
        };
        let frame = codec::encode_to_bytes(message, c.serializer);
        if frame.len() > c.limits.max_outbound {
            self.registry.stats.bump(Counter::PayloadSizeExceeded);
            return Err(frame.len());
        }
        out.send(conn, frame);
        Ok(())
    }

    /// Replies ERROR to a request, with a human-readable message as the single argument.
    pub(super) fn error(
        &self,
        conn: ConnId,
        request_type: u64,
        request: Id,
        uri: &str,
        text: &str,
        out: &mut Outbox,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let payload = Payload::from_values(c.serializer, Some(&[Value::from(text)]), None);
        let error =
            Message::Error { request_type, request, details: Dict::new(), error: uri.into(), payload };
        self.send(conn, &error, out);
    }

    pub(super) fn session_of(&self, conn: ConnId) -> Option<&Session> {
        self.conns.get(&conn).and_then(|c| c.session.as_ref())
    }

    pub(super) fn session_mut(&mut self, conn: ConnId) -> Option<&mut Session> {
        self.conns.get_mut(&conn).and_then(|c| c.session.as_mut())
    }
}
