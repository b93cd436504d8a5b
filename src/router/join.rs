//! Joining a realm (sections 4.1 and 13): HELLO, then the authentication exchange the realm asks for
//! (CHALLENGE and AUTHENTICATE, possibly a call to a dynamic authenticator), then WELCOME, or ABORT with
//! the spec's URI. The methods themselves live in [`crate::auth`]; this is the router's side of the
//! exchange: it sends what the handshake says, and turns the identity into a session with its role.

use std::time::Instant;

use tracing::debug;

use crate::auth::{Handshake, Identity, Outcome};
use crate::dict;
use crate::stats::Counter;
use crate::wamp::ids::random_id;
use crate::wamp::{uris, Dict, Id, Message, Value};

use super::effects::{ConnId, Outbox};
use super::features::{router_roles, AGENT};
use super::internal_call::Purpose;
use super::registry::{RealmId, SessionInfo};
use super::session::{Phase, Session};
use super::shard_router::ShardRouter;

/// The request ID that marks a connection's join deadline in the shard's deadline set (calls use IDs
/// from 1).
pub const JOIN_TIMER: Id = 0;

/// A join under way: between HELLO and WELCOME or ABORT.
#[derive(Debug)]
pub struct Joining {
    realm: RealmId,
    /// The ID WELCOME will carry (wampcra shows it in its challenge).
    session: Id,
    handshake: Handshake,
    /// HELLO announced `callee.features.call_canceling`.
    accepts_interrupt: bool,
}

impl ShardRouter {
    pub(super) fn on_hello(&mut self, conn: ConnId, realm: String, details: Dict, out: &mut Outbox) {
        if self.stopping {
            return self.abort(conn, uris::CLOSE_SYSTEM_SHUTDOWN, "the router is shutting down", out);
        }
        let Some(realm_id) = self.registry.realm_id(&realm) else {
            let message = format!("no realm named {realm:?} on this router");
            return self.abort(conn, uris::NO_SUCH_REALM, &message, out);
        };
        let announces_a_role = match details.get("roles") {
            Some(Value::Dict(roles)) => {
                ["publisher", "subscriber", "caller", "callee"].iter().any(|r| roles.contains_key(*r))
            }
            _ => false,
        };
        if !announces_a_role {
            return self.protocol_violation(conn, "HELLO.Details.roles must announce at least one role", out);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let session = random_id();
        let auth = self.registry.realm_auth(realm_id);
        let (handshake, outcome) = Handshake::hello(auth, &realm, session, &details, &c.transport);
        let accepts_interrupt = announces_feature(&details, "callee", "call_canceling");
        c.phase = Phase::Authenticating;
        c.joining = Some(Box::new(Joining { realm: realm_id, session, handshake, accepts_interrupt }));
        self.arm_join_deadline(conn);
        self.join_step(conn, outcome, out);
    }

    /// From now, the connection has the endpoint's handshake timeout to establish a session (a join from
    /// HELLO to WELCOME, or a HELLO after GOODBYE).
    pub(super) fn arm_join_deadline(&mut self, conn: ConnId) {
        self.disarm_join_deadline(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            let deadline = Instant::now() + c.limits.join_timeout;
            c.join_deadline = Some(deadline);
            self.call_deadlines.insert((deadline, conn, JOIN_TIMER));
        }
    }

    pub(super) fn disarm_join_deadline(&mut self, conn: ConnId) {
        if let Some(deadline) = self.conns.get_mut(&conn).and_then(|c| c.join_deadline.take()) {
            self.call_deadlines.remove(&(deadline, conn, JOIN_TIMER));
        }
    }

    /// A join deadline passed: a join still under way fails (the AUTHENTICATE, or the authenticator's
    /// answer, did not come in time); a connection still without a session after GOODBYE is aborted.
    pub(super) fn join_expired(&mut self, conn: ConnId, deadline: Instant, out: &mut Outbox) {
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.join_deadline == Some(deadline)) else {
            return;
        };
        c.join_deadline = None;
        match c.phase {
            Phase::Authenticating => {
                let message = "authentication did not complete within the handshake timeout";
                self.refuse_join(conn, uris::AUTHENTICATION_FAILED, message, out)
            }
            Phase::AwaitingHello => {
                self.registry.stats.bump(Counter::HelloTimeouts);
                self.abort(conn, uris::PROTOCOL_VIOLATION, "no HELLO within the handshake timeout", out)
            }
            Phase::Established | Phase::ShuttingDown | Phase::Closed => {}
        }
    }

    /// AUTHENTICATE from a connection that was sent a CHALLENGE.
    pub(super) fn on_authenticate(&mut self, conn: ConnId, signature: &str, extra: &Dict, out: &mut Outbox) {
        let Some(joining) = self.conns.get_mut(&conn).and_then(|c| c.joining.as_mut()) else {
            return self.protocol_violation(conn, "AUTHENTICATE without a CHALLENGE", out);
        };
        let outcome = joining.handshake.authenticate(signature, extra);
        self.join_step(conn, outcome, out);
    }

    /// The dynamic authenticator answered for the join on `conn` (if it is still under way).
    pub(super) fn authenticator_answered(
        &mut self,
        conn: ConnId,
        answer: Result<(Vec<Value>, Dict), String>,
        out: &mut Outbox,
    ) {
        let Some(joining) = self.conns.get_mut(&conn).and_then(|c| c.joining.as_mut()) else {
            return;
        };
        let outcome = joining.handshake.authenticator_answered(answer);
        self.join_step(conn, outcome, out);
    }

    fn join_step(&mut self, conn: ConnId, outcome: Outcome, out: &mut Outbox) {
        match outcome {
            Outcome::Welcome(identity) => self.welcome(conn, identity, out),
            Outcome::Challenge { authmethod, extra } => {
                self.send(conn, &Message::Challenge { authmethod: authmethod.into(), extra }, out)
            }
            Outcome::AskAuthenticator { realm, procedure, args } => match self.registry.realm_id(&realm) {
                Some(realm) => {
                    self.call_internal(realm, &procedure, args, Purpose::Authenticate { conn }, out)
                }
                None => self.refuse_join(conn, uris::AUTHENTICATION_FAILED, "authentication failed", out),
            },
            Outcome::Abort { reason, message } => self.refuse_join(conn, reason, &message, out),
        }
    }

    fn refuse_join(&mut self, conn: ConnId, reason: &str, message: &str, out: &mut Outbox) {
        if reason != uris::PROTOCOL_VIOLATION {
            self.registry.stats.bump(Counter::AuthenticationFailures);
        }
        debug!(shard = self.shard, conn, reason, message, "join refused");
        self.abort(conn, reason, message, out);
    }

    /// Authentication succeeded: the session is established under the identity's role, if the realm
    /// knows that role.
    fn welcome(&mut self, conn: ConnId, identity: Identity, out: &mut Outbox) {
        let Some(joining) = self.conns.get_mut(&conn).and_then(|c| c.joining.take()) else {
            return;
        };
        let Joining { realm, session: id, accepts_interrupt, .. } = *joining;
        self.disarm_join_deadline(conn);
        let Some(authorization) = self.registry.authorization(realm).for_role(&identity.authrole) else {
            let message = format!("no role {:?} on this realm", identity.authrole);
            return self.refuse_join(conn, uris::NO_SUCH_ROLE, &message, out);
        };
        let mut session = Session::new(id, realm, &identity, authorization);
        session.accepts_interrupt = accepts_interrupt;
        let info = SessionInfo {
            shard: self.shard,
            realm,
            authid: session.authid.clone(),
            authrole: session.authrole.clone(),
        };
        if !self.registry.add_session_with_id(id, info) {
            return self.refuse_join(conn, uris::AUTHENTICATION_FAILED, "session ID clash; join again", out);
        }
        let mut details = dict! {
            "realm" => self.registry.realm(realm).name.as_str(),
            "roles" => router_roles(),
            "authid" => identity.authid.as_str(),
            "authrole" => identity.authrole.as_str(),
            "authmethod" => identity.authmethod,
            "authprovider" => identity.authprovider,
            "agent" => super::features::AGENT,
        };
        if !identity.authextra.is_empty() {
            details.insert("authextra".into(), Value::Dict(identity.authextra));
        }
        self.send(conn, &Message::Welcome { session: id, details }, out);
        self.sessions.insert(id, conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.phase = Phase::Established;
            c.session = Some(session);
        }
        debug!(shard = self.shard, session = id, realm, agent = AGENT, "session joined");
    }
}

/// Whether HELLO.Details announces `roles.<role>.features.<feature> = true`.
fn announces_feature(details: &Dict, role: &str, feature: &str) -> bool {
    let get = |value: Option<&Value>, key: &str| match value {
        Some(Value::Dict(d)) => d.get(key).cloned(),
        _ => None,
    };
    let features = get(get(details.get("roles"), role).as_ref(), "features");
    get(features.as_ref(), feature).and_then(|v| v.as_bool()) == Some(true)
}
