//! A connection's session state on its shard: the session lifecycle of section 4 (HELLO, WELCOME, ABORT,
//! GOODBYE) and what a session holds (subscriptions, registrations, pending calls and invocations) so
//! that leaving cleans everything up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use crate::auth::{Identity, TransportInfo};
use crate::wamp::codec::Serializer;
use crate::wamp::ids::SessionScopeIds;
use crate::wamp::Id;

use super::authorize::SessionAuthorization;
use super::join::Joining;
use super::peer::RoutedCall;
use super::registry::RealmId;
use super::uri_index::MatchPolicy;

/// Where a connection is in the session lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Transport is up, waiting for HELLO.
    AwaitingHello,
    /// WELCOME sent; the session routes.
    Established,
    /// HELLO received; authentication (CHALLENGE/AUTHENTICATE, a dynamic authenticator) is under way.
    Authenticating,
    /// The router sent GOODBYE and waits for the reply.
    ShuttingDown,
    /// ABORT sent or transport gone: ignore everything.
    Closed,
}

/// What a connection's transport allows, as the router must respect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// The largest message the peer accepts (RawSocket announces it; WebSocket has no limit).
    pub max_outbound: usize,
    /// The deepest nesting accepted in an inbound message.
    pub max_nesting_depth: usize,
    /// How long a join may take from HELLO to WELCOME (and a connection may stay without a session after
    /// GOODBYE): the endpoint's handshake timeout.
    pub join_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_outbound: usize::MAX,
            max_nesting_depth: crate::wamp::codec::MAX_DEPTH,
            join_timeout: Duration::from_secs(10),
        }
    }
}

/// One connection on this shard.
#[derive(Debug)]
pub struct Conn {
    pub serializer: Serializer,
    /// What the transport knows about the peer (address, TLS), for authentication.
    pub transport: TransportInfo,
    pub limits: ConnLimits,
    pub phase: Phase,
    /// While `Authenticating`: the join under way.
    pub joining: Option<Box<Joining>>,
    /// When the join under way (or the wait for HELLO after GOODBYE) times out, if one is armed.
    pub join_deadline: Option<Instant>,
    pub session: Option<Session>,
}

/// An invocation sent to a callee on this shard, waiting for its YIELD or ERROR.
#[derive(Debug, Clone, Copy)]
pub struct PendingInvocation {
    pub caller: Id,
    pub caller_shard: usize,
    pub caller_request: Id,
}

/// A call made by a caller on this shard, waiting for its RESULT or ERROR.
#[derive(Debug, Clone, Copy)]
pub struct PendingCall {
    pub callee: Id,
    pub callee_shard: usize,
    /// When the dealer gives up on it (call timeout), if ever.
    pub deadline: Option<Instant>,
}

/// A subscription held by a session: what it subscribed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSubscription {
    pub policy: MatchPolicy,
    pub topic: String,
}

/// A registration held by a session.
#[derive(Debug)]
pub struct HeldRegistration {
    pub procedure: Arc<str>,
    pub matching: MatchPolicy,
    /// REGISTERED was sent: only then may INVOCATIONs for it reach the callee (7.1).
    pub confirmed: bool,
    /// Calls routed to it before REGISTERED was sent (other shards route to it as soon as they know it),
    /// invoked right after REGISTERED.
    pub waiting: Vec<RoutedCall>,
}

/// An established session.
#[derive(Debug)]
pub struct Session {
    pub id: Id,
    pub realm: RealmId,
    pub authid: Arc<str>,
    pub authrole: Arc<str>,
    pub authmethod: &'static str,
    pub authprovider: &'static str,
    /// What its role allows, resolved at join.
    pub authorization: SessionAuthorization,
    /// Request IDs the router issues to this session (INVOCATION).
    pub request_ids: SessionScopeIds,
    /// Subscription IDs held, with their topics.
    pub subscriptions: AHashMap<Id, HeldSubscription>,
    /// Registration IDs held.
    pub registrations: AHashMap<Id, HeldRegistration>,
    /// How many of the subscriptions and registrations are prefix or wildcard patterns.
    pub patterns: usize,
    /// As callee: invocation request ID -> who waits for the answer.
    pub invocations: AHashMap<Id, PendingInvocation>,
    /// As caller: CALL request ID -> where the call went.
    pub calls: AHashMap<Id, PendingCall>,
    /// As callee, it announced call canceling: it understands INTERRUPT.
    pub accepts_interrupt: bool,
}

impl Session {
    pub fn new(id: Id, realm: RealmId, identity: &Identity, authorization: SessionAuthorization) -> Session {
        Session {
            id,
            realm,
            authid: Arc::from(identity.authid.as_str()),
            authrole: Arc::from(identity.authrole.as_str()),
            authmethod: identity.authmethod,
            authprovider: identity.authprovider,
            authorization,
            request_ids: SessionScopeIds::default(),
            subscriptions: AHashMap::new(),
            registrations: AHashMap::new(),
            patterns: 0,
            invocations: AHashMap::new(),
            calls: AHashMap::new(),
            accepts_interrupt: false,
        }
    }
}
