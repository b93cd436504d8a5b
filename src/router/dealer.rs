//! The dealer half of a shard (section 6). Registrations are replicated to every shard (they change rarely,
//! calls are hot), so the caller's shard finds the callee without asking anyone; the callee's shard holds
//! the pending invocation and routes the YIELD or ERROR straight back to the caller's shard. A shared
//! registration (11.9) is replicated with all its callees in the order they registered, and each shard
//! picks a callee by the invocation policy on its own (a `roundrobin` cursor per shard: no lock or shared
//! counter on the call path).

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::dict;
use crate::stats::Counter;
use crate::wamp::message::code;
use crate::wamp::{uri, uris, Dict, Id, Message, Payload, Value};

use super::effects::{ConnId, Outbox};
use super::internal_call::ROUTER_CALLER;
use super::peer::{CallReply, PeerMessage, RegistrationEntry, RoutedCall};
use super::registry::ClaimRefused;
use super::session::{HeldRegistration, PendingCall, PendingInvocation, Session};
use super::shard_router::ShardRouter;
use super::uri_index::{MatchPolicy, UriIndex};

/// REGISTER.Options.invoke (11.9): which callee of a registration gets a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InvokePolicy {
    /// One callee only; another REGISTER for the procedure fails.
    #[default]
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl InvokePolicy {
    /// The policy an `invoke` option names; `None` for an unknown one.
    fn parse(name: &str) -> Option<InvokePolicy> {
        match name {
            "single" => Some(InvokePolicy::Single),
            "roundrobin" => Some(InvokePolicy::RoundRobin),
            "random" => Some(InvokePolicy::Random),
            "first" => Some(InvokePolicy::First),
            "last" => Some(InvokePolicy::Last),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

/// Calls waiting at a callee for its REGISTERED, at most; later ones fail (`no_such_procedure`).
const MAX_WAITING_CALLS: usize = 1024;

/// This shard's replica of one procedure's registration.
#[derive(Debug)]
struct Procedure {
    registration: Id,
    policy: InvokePolicy,
    /// By order of registration; never empty.
    callees: Vec<RegistrationEntry>,
    /// The next `roundrobin` pick.
    next: Cell<usize>,
}

impl Procedure {
    /// The callee the next call goes to, by the invocation policy.
    fn choose(&self) -> Option<RegistrationEntry> {
        let last = self.callees.len().checked_sub(1)?;
        let index = match self.policy {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => last,
            InvokePolicy::Random => rand::thread_rng().gen_range(0..=last),
            InvokePolicy::RoundRobin => {
                let index = self.next.get().min(last);
                self.next.set(if index == last { 0 } else { index + 1 });
                index
            }
        };
        self.callees.get(index).copied()
    }
}

/// This shard's replica of one realm's registrations, exact and pattern-based (11.8).
#[derive(Debug, Default)]
pub struct Dealer {
    procedures: UriIndex<Procedure>,
}

impl Dealer {
    /// Adds a callee. A different registration of the procedure in the replica is stale (its removal is
    /// still on its way from another shard): the registry gave the procedure to `entry`'s.
    pub(super) fn add(
        &mut self,
        matching: MatchPolicy,
        procedure: &str,
        policy: InvokePolicy,
        entry: RegistrationEntry,
    ) {
        let fresh = || Procedure {
            registration: entry.registration,
            policy,
            callees: Vec::new(),
            next: Cell::new(0),
        };
        let replica = self.procedures.get_or_insert_with(matching, procedure, fresh);
        if replica.registration != entry.registration {
            *replica = fresh();
        }
        if !replica.callees.iter().any(|e| e.callee == entry.callee) {
            let at = replica.callees.partition_point(|e| e.order < entry.order);
            replica.callees.insert(at, entry);
        }
    }

    /// The registration a call to `procedure` goes to (11.8.3), how it matched, and the callee that gets
    /// the call (11.9).
    pub(super) fn pick(&self, procedure: &str) -> Option<(MatchPolicy, RegistrationEntry)> {
        let (matching, replica) = self.procedures.best_match(procedure)?;
        Some((matching, replica.choose()?))
    }

    /// Like [`Dealer::pick`], but only an exact registration will do: the router's own calls (to an
    /// authenticator or authorizer) must not reach whoever registered a pattern over the procedure.
    pub(super) fn pick_exact(&self, procedure: &str) -> Option<RegistrationEntry> {
        self.procedures.get(MatchPolicy::Exact, procedure)?.choose()
    }

    pub(super) fn remove(&mut self, matching: MatchPolicy, procedure: &str, registration: Id, callee: Id) {
        let Some(replica) = self.procedures.get_mut(matching, procedure) else {
            return;
        };
        if replica.registration == registration {
            replica.callees.retain(|e| e.callee != callee);
            if replica.callees.is_empty() {
                self.procedures.remove(matching, procedure);
            }
        }
    }
}

impl ShardRouter {
    pub(super) fn on_register(
        &mut self,
        conn: ConnId,
        request: Id,
        options: Dict,
        procedure: String,
        out: &mut Outbox,
    ) {
        let Some(session) = self.session_of(conn) else {
            return;
        };
        let (session_id, realm) = (session.id, session.realm);
        // `invoke` names a known policy: the message was validated when it was decoded.
        let policy =
            options.get("invoke").and_then(Value::as_str).and_then(InvokePolicy::parse).unwrap_or_default();
        let matching = MatchPolicy::of(&options);
        if let Err(text) = matching.check(&procedure, self.registry.realm(realm).uri_check) {
            return self.error(conn, code::REGISTER, request, uris::INVALID_URI, &text, out);
        }
        let max = self.registry.realm(realm).limits.max_registrations;
        if session.registrations.len() >= max {
            self.registry.stats.bump(Counter::RegistrationLimit);
            let text = format!("this session already holds {max} registrations, the most this realm allows");
            return self.error(conn, code::REGISTER, request, uris::LIMIT_EXCEEDED, &text, out);
        }
        let max = self.registry.realm(realm).limits.max_patterns;
        if matching != MatchPolicy::Exact && session.patterns >= max {
            self.registry.stats.bump(Counter::RegistrationLimit);
            let text = format!("this session already holds {max} patterns, the most this realm allows");
            return self.error(conn, code::REGISTER, request, uris::LIMIT_EXCEEDED, &text, out);
        }
        let procedure: Arc<str> = Arc::from(procedure);
        let (registration, order) = match self.registry.claim_procedure(realm, matching, &procedure, policy) {
            Ok((registration, _)) if session.registrations.contains_key(&registration) => {
                // The session is a callee of this shared registration already: one place each.
                self.registry.release_procedure(realm, matching, &procedure, registration);
                let text = format!("this session already holds a registration of {procedure:?}");
                return self.error(conn, code::REGISTER, request, uris::PROCEDURE_ALREADY_EXISTS, &text, out);
            }
            Ok(claimed) => claimed,
            Err(ClaimRefused::AlreadyExists) => {
                let text = format!("{procedure:?} is already registered");
                return self.error(conn, code::REGISTER, request, uris::PROCEDURE_ALREADY_EXISTS, &text, out);
            }
            Err(ClaimRefused::OtherPolicy(held)) => {
                let text = format!("{procedure:?} is registered with invocation policy {:?}", held.as_str());
                return self.error(conn, code::REGISTER, request, uris::OTHER_INVOCATION_POLICY, &text, out);
            }
        };
        let entry = RegistrationEntry { registration, callee: session_id, shard: self.shard, order };
        self.realms[realm].dealer.add(matching, &procedure, policy, entry);
        let confirmed = self.shards == 1;
        if let Some(session) = self.session_mut(conn) {
            let held =
                HeldRegistration { procedure: procedure.clone(), matching, confirmed, waiting: Vec::new() };
            session.registrations.insert(registration, held);
            session.patterns += usize::from(matching != MatchPolicy::Exact);
        }
        let reply = Message::Registered { request, registration };
        let make = |control| PeerMessage::RegistrationAdded {
            realm,
            procedure: procedure.clone(),
            matching,
            policy,
            entry,
            ack: Some(control),
        };
        self.broadcast_control(conn, session_id, reply, make, out);
    }

    pub(super) fn on_unregister(&mut self, conn: ConnId, request: Id, registration: Id, out: &mut Outbox) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let (session_id, realm) = (session.id, session.realm);
        let Some(HeldRegistration { procedure, matching, waiting, .. }) =
            session.registrations.remove(&registration)
        else {
            let text = format!("this session holds no registration {registration}");
            return self.error(conn, code::UNREGISTER, request, uris::NO_SUCH_REGISTRATION, &text, out);
        };
        session.patterns -= usize::from(matching != MatchPolicy::Exact);
        self.registry.release_procedure(realm, matching, &procedure, registration);
        self.realms[realm].dealer.remove(matching, &procedure, registration, session_id);
        for call in waiting {
            self.fail_call(&call, uris::NO_SUCH_PROCEDURE, "the registration is gone", out);
        }
        let reply = Message::Unregistered { request, details: None };
        let make = |control| PeerMessage::RegistrationRemoved {
            realm,
            procedure: procedure.clone(),
            matching,
            registration,
            callee: session_id,
            ack: Some(control),
        };
        self.broadcast_control(conn, session_id, reply, make, out);
    }

    pub(super) fn on_call(
        &mut self,
        conn: ConnId,
        request: Id,
        options: Dict,
        procedure: String,
        payload: Payload,
        out: &mut Outbox,
    ) {
        let Some(session) = self.session_of(conn) else {
            return;
        };
        let limits = &self.registry.realm(session.realm).limits;
        if !uri::is_valid(&procedure, self.registry.realm(session.realm).uri_check) {
            let text = format!("{procedure:?} is not a valid procedure URI");
            return self.error(conn, code::CALL, request, uris::INVALID_URI, &text, out);
        }
        if session.calls.contains_key(&request) {
            // Request IDs are sequential in the session scope (2.1.2): a reused one is a violation, and
            // would otherwise let a caller slip past `max_pending_calls`.
            let text = format!("CALL request {request} is already pending");
            return self.protocol_violation(conn, &text, out);
        }
        if session.calls.len() >= limits.max_pending_calls {
            self.registry.stats.bump(Counter::PendingCallLimit);
            let max = limits.max_pending_calls;
            let text = format!("this session already waits for {max} calls, the most this realm allows");
            return self.error(conn, code::CALL, request, uris::LIMIT_EXCEEDED, &text, out);
        }
        // Call timeout (11.3): the caller's `timeout` option (0 = none), else the realm's default.
        let timeout_ms =
            options.get("timeout").and_then(Value::as_u64).unwrap_or(limits.default_call_timeout_ms);
        let Some((matching, entry)) = self.realms[session.realm].dealer.pick(&procedure) else {
            let text = format!("no procedure registered under {procedure:?}");
            return self.error(conn, code::CALL, request, uris::NO_SUCH_PROCEDURE, &text, out);
        };
        let mut details = if options.get("disclose_me").and_then(Value::as_bool) == Some(true) {
            dict! {
                "caller" => session.id,
                "caller_authid" => &*session.authid,
                "caller_authrole" => &*session.authrole,
            }
        } else {
            Dict::new()
        };
        if matching != MatchPolicy::Exact {
            // A pattern registration's callee learns the concrete procedure (11.8.3).
            details.insert("procedure".into(), Value::from(procedure.as_str()));
        }
        let caller = session.id;
        let call = RoutedCall {
            caller,
            caller_shard: self.shard,
            request,
            registration: entry.registration,
            callee: entry.callee,
            details,
            payload,
        };
        let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
        if let Some(deadline) = deadline {
            self.call_deadlines.insert((deadline, conn, request));
        }
        if let Some(session) = self.session_mut(conn) {
            let pending = PendingCall { callee: entry.callee, callee_shard: entry.shard, deadline };
            session.calls.insert(request, pending);
        }
        if entry.shard == self.shard {
            self.invoke(call, out);
        } else {
            out.peer(entry.shard, PeerMessage::Call(Box::new(call)));
        }
    }

    /// Sends INVOCATION to a callee on this shard, or fails the call if the callee is gone.
    pub(super) fn invoke(&mut self, call: RoutedCall, out: &mut Outbox) {
        let callee_conn = self.sessions.get(&call.callee).copied();
        let serializer = callee_conn.and_then(|c| self.conns.get(&c)).map(|c| c.serializer);
        let session = callee_conn.and_then(|c| self.session_mut(c));
        let (Some(conn), Some(serializer), Some(session)) = (callee_conn, serializer, session) else {
            return self.fail_call(&call, uris::NO_SUCH_PROCEDURE, "the callee is gone", out);
        };
        let Some(held) = session.registrations.get_mut(&call.registration) else {
            return self.fail_call(&call, uris::NO_SUCH_PROCEDURE, "the registration is gone", out);
        };
        if !held.confirmed {
            if held.waiting.len() >= MAX_WAITING_CALLS {
                let text = "the registration is not confirmed yet";
                return self.fail_call(&call, uris::NO_SUCH_PROCEDURE, text, out);
            }
            return held.waiting.push(call);
        }
        let payload = match call.payload.transcode(serializer) {
            Ok(payload) => payload,
            Err(e) => return self.fail_call(&call, uris::INVALID_ARGUMENT, &e.to_string(), out),
        };
        let request = session.request_ids.next_id();
        let pending = PendingInvocation {
            caller: call.caller,
            caller_shard: call.caller_shard,
            caller_request: call.request,
        };
        session.invocations.insert(request, pending);
        let invocation =
            Message::Invocation { request, registration: call.registration, details: call.details, payload };
        if self.send_within_limit(conn, &invocation, out).is_err() {
            if let Some(session) = self.session_mut(conn) {
                session.invocations.remove(&request);
            }
            let text = "the call is larger than the callee accepts";
            let caller = RoutedCall { details: Dict::new(), payload: Payload::empty(), ..call };
            self.fail_call(&caller, uris::PAYLOAD_SIZE_EXCEEDED, text, out);
        }
    }

    fn fail_call(&mut self, call: &RoutedCall, uri: &str, text: &str, out: &mut Outbox) {
        // `payload` is cleared by callers that fail a call because of it; only its format is used here.
        let reply = CallReply {
            caller: call.caller,
            request: call.request,
            details: Dict::new(),
            error: Some(uri.into()),
            payload: Payload::from_values(call.payload.format, Some(&[Value::from(text)]), None),
        };
        self.route_reply(call.caller_shard, reply, out);
    }

    pub(super) fn on_yield(&mut self, conn: ConnId, request: Id, payload: Payload, out: &mut Outbox) {
        self.answer_invocation(conn, request, Dict::new(), None, payload, out);
    }

    pub(super) fn on_invocation_error(
        &mut self,
        conn: ConnId,
        request: Id,
        details: Dict,
        error: String,
        payload: Payload,
        out: &mut Outbox,
    ) {
        self.answer_invocation(conn, request, details, Some(error), payload, out);
    }

    fn answer_invocation(
        &mut self,
        conn: ConnId,
        request: Id,
        details: Dict,
        error: Option<String>,
        payload: Payload,
        out: &mut Outbox,
    ) {
        // An answer for an unknown invocation belongs to a call whose caller left (6.3): discard it.
        let Some(pending) = self.session_mut(conn).and_then(|s| s.invocations.remove(&request)) else {
            return;
        };
        let reply =
            CallReply { caller: pending.caller, request: pending.caller_request, details, error, payload };
        self.route_reply(pending.caller_shard, reply, out);
    }

    pub(super) fn route_reply(&mut self, caller_shard: usize, reply: CallReply, out: &mut Outbox) {
        if caller_shard == self.shard {
            self.deliver_reply(reply, out);
        } else {
            out.peer(caller_shard, PeerMessage::Reply(Box::new(reply)));
        }
    }

    /// Sends RESULT or ERROR to a caller on this shard, if it still waits for it.
    pub(super) fn deliver_reply(&mut self, reply: CallReply, out: &mut Outbox) {
        if reply.caller == ROUTER_CALLER {
            return self.internal_reply(reply, out);
        }
        let Some(conn) = self.sessions.get(&reply.caller).copied() else {
            return;
        };
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let Some(pending) = session.calls.remove(&reply.request) else {
            return;
        };
        if let Some(deadline) = pending.deadline {
            self.call_deadlines.remove(&(deadline, conn, reply.request));
        }
        let serializer = self.conns[&conn].serializer;
        let payload = match reply.payload.transcode(serializer) {
            Ok(payload) => payload,
            Err(e) => {
                let text = format!("the callee's answer cannot be transcoded: {e}");
                return self.error(conn, code::CALL, reply.request, uris::INVALID_ARGUMENT, &text, out);
            }
        };
        let message = match reply.error {
            None => Message::Result { request: reply.request, details: reply.details, payload },
            Some(error) => Message::Error {
                request_type: code::CALL,
                request: reply.request,
                details: reply.details,
                error,
                payload,
            },
        };
        if let Err(len) = self.send_within_limit(conn, &message, out) {
            let text = format!("the answer ({len} bytes) is larger than this session accepts");
            self.error(conn, code::CALL, reply.request, uris::PAYLOAD_SIZE_EXCEEDED, &text, out);
        }
    }

    /// A caller left: forget its pending invocations with `callee` (answers would be discarded anyway), and
    /// interrupt them if the callee understands INTERRUPT (section 6.3).
    pub(super) fn caller_gone(&mut self, callee: Id, caller: Id, out: &mut Outbox) {
        let Some(conn) = self.sessions.get(&callee).copied() else {
            return;
        };
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        for held in session.registrations.values_mut() {
            held.waiting.retain(|call| call.caller != caller);
        }
        let mut interrupted = Vec::new();
        let accepts_interrupt = session.accepts_interrupt;
        session.invocations.retain(|&id, pending| {
            let keep = pending.caller != caller;
            if !keep && accepts_interrupt {
                interrupted.push(id);
            }
            keep
        });
        for request in interrupted {
            let options = dict! { "mode" => "killnowait", "reason" => uris::CANCELED };
            self.send(conn, &Message::Interrupt { request, options }, out);
        }
    }

    /// A callee left: its registrations go away everywhere, and its pending callers get `wamp.error.canceled` (6.4).
    pub(super) fn drop_registrations(&mut self, session: &Session, out: &mut Outbox) {
        let realm = session.realm;
        for (&registration, HeldRegistration { procedure, matching, waiting, .. }) in &session.registrations {
            let matching = *matching;
            self.registry.release_procedure(realm, matching, procedure, registration);
            self.realms[realm].dealer.remove(matching, procedure, registration, session.id);
            let make = || PeerMessage::RegistrationRemoved {
                realm,
                procedure: procedure.clone(),
                matching,
                registration,
                callee: session.id,
                ack: None,
            };
            self.broadcast(make, out);
            for call in waiting {
                self.fail_call(call, uris::NO_SUCH_PROCEDURE, "the callee left", out);
            }
        }
        for pending in session.invocations.values() {
            let reply = CallReply {
                caller: pending.caller,
                request: pending.caller_request,
                details: Dict::new(),
                error: Some(uris::CANCELED.into()),
                payload: Payload::from_values(
                    crate::wamp::codec::Serializer::Json,
                    Some(&[Value::from("the callee left before answering")]),
                    None,
                ),
            };
            self.route_reply(pending.caller_shard, reply, out);
        }
    }

    /// A caller left: tell each callee's shard to forget the invocations it has pending for it.
    pub(super) fn drop_calls(&mut self, conn: ConnId, session: &Session, out: &mut Outbox) {
        let mut notified: Vec<(usize, Id)> = Vec::new();
        for (&request, pending) in &session.calls {
            if let Some(deadline) = pending.deadline {
                self.call_deadlines.remove(&(deadline, conn, request));
            }
            let key = (pending.callee_shard, pending.callee);
            if notified.contains(&key) {
                continue;
            }
            notified.push(key);
            if pending.callee_shard == self.shard {
                self.caller_gone(pending.callee, session.id, out);
            } else {
                out.peer(
                    pending.callee_shard,
                    PeerMessage::CallerGone { callee: pending.callee, caller: session.id },
                );
            }
        }
    }
}
