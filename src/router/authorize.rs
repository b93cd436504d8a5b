//! Authorization of every action a session takes (section 13.6). Each session carries what its role
//! allows, resolved when it joined, so no message looks a role up by name or takes a lock:
//! - a realm without roles, or a role whose rules allow everything, costs one branch per message;
//! - a role with rules is answered by this shard's cache of that role's decisions per URI (a URI is
//!   matched against the rules once per shard, then it is one hash lookup);
//! - a role with a dynamic authorizer asks that procedure once per session, action and URI: the action
//!   (and every later message of the session, to keep their order) waits for the answer, which the
//!   session then caches.
//!
//! Whatever the rules say, clients can neither register nor publish in the reserved `wamp.` namespace.

use std::collections::VecDeque;
use std::sync::Arc;

use ahash::AHashMap;

use crate::config::RealmConfig;
use crate::dict;
use crate::stats::Counter;
use crate::wamp::message::code;
use crate::wamp::{uris, Dict, Id, Message, Value};

use super::effects::{ConnId, Outbox};
use super::internal_call::Purpose;
use super::permissions::{Action, Decision, Grants, RoleRules};
use super::registry::Registry;
use super::session::Phase;
use super::shard_router::ShardRouter;
use super::uri_index::MatchPolicy;

/// How many messages of one session, and how many bytes of them, may wait for a dynamic authorizer's
/// answer; past either the session is aborted.
const MAX_PARKED: usize = 1024;
const MAX_PARKED_BYTES: usize = 4 << 20;
/// URIs longer than this are decided without being cached (a cache entry must stay small).
const MAX_CACHED_URI: usize = 256;
/// How many URIs a role's decision cache (per shard) or a session's authorizer cache holds before it
/// starts over.
const MAX_CACHED: usize = 4096;

/// A realm's roles, compiled at start.
#[derive(Debug, Default)]
pub struct RealmAuthorization {
    /// No roles are configured: every session may do everything (outside `wamp.`).
    open: bool,
    roles: AHashMap<String, (usize, Arc<RoleKind>)>,
    /// How many roles the configuration lists (the indexes above are positions in that list).
    configured: usize,
}

/// What a role is.
#[derive(Debug)]
pub enum RoleKind {
    AllowAll,
    Rules(RoleRules),
    /// A procedure on the realm decides.
    Dynamic {
        procedure: Arc<str>,
    },
}

impl RealmAuthorization {
    pub fn new(realm: &RealmConfig) -> RealmAuthorization {
        let roles = realm.roles.iter().enumerate().map(|(index, role)| {
            let kind = match &role.authorizer {
                Some(procedure) => RoleKind::Dynamic { procedure: Arc::from(procedure.as_str()) },
                None => {
                    let rules = RoleRules::compile(&role.permissions);
                    if rules.grants_everything() {
                        RoleKind::AllowAll
                    } else {
                        RoleKind::Rules(rules)
                    }
                }
            };
            (role.name.clone(), (index, Arc::new(kind)))
        });
        RealmAuthorization {
            open: realm.roles.is_empty(),
            roles: roles.collect(),
            configured: realm.roles.len(),
        }
    }

    /// What a session of `role` is subject to; `None` if the realm has roles and this is not one of them.
    pub fn for_role(&self, role: &str) -> Option<SessionAuthorization> {
        if self.open {
            return Some(SessionAuthorization::Open);
        }
        let (index, kind) = self.roles.get(role)?;
        Some(match &**kind {
            RoleKind::AllowAll => SessionAuthorization::Open,
            RoleKind::Rules(_) => SessionAuthorization::Rules { role: *index, kind: kind.clone() },
            RoleKind::Dynamic { procedure } => SessionAuthorization::Dynamic {
                procedure: procedure.clone(),
                cache: AHashMap::new(),
                parked: None,
            },
        })
    }

    pub fn role_count(&self) -> usize {
        self.configured
    }
}

/// What one session's actions are subject to.
#[derive(Debug)]
pub enum SessionAuthorization {
    Open,
    Rules {
        role: usize,
        kind: Arc<RoleKind>,
    },
    Dynamic {
        procedure: Arc<str>,
        /// Decisions per URI, one slot per action ([`Action::index`]).
        cache: AHashMap<Box<str>, [Option<Decision>; 4]>,
        /// While the authorizer is asked, the session's messages wait here, in order.
        parked: Option<Parked>,
    },
}

impl SessionAuthorization {
    pub fn is_open(&self) -> bool {
        matches!(self, SessionAuthorization::Open)
    }
}

/// A session's messages waiting for its authorizer's answer.
#[derive(Debug, Default)]
pub struct Parked {
    messages: VecDeque<Message>,
    /// Roughly what they occupy.
    bytes: usize,
}

impl Parked {
    fn push(&mut self, message: Message) {
        self.bytes += approximate_size(&message);
        self.messages.push_back(message);
    }
}

/// Roughly how many bytes a decoded message holds: its payload, URIs and option values.
fn approximate_size(message: &Message) -> usize {
    fn value_size(value: &Value) -> usize {
        match value {
            Value::Str(s) => s.len() + 8,
            Value::Bytes(b) => b.len() + 8,
            Value::List(l) => l.iter().map(value_size).sum::<usize>() + 8,
            Value::Dict(d) => d.iter().map(|(k, v)| k.len() + value_size(v)).sum::<usize>() + 8,
            _ => 8,
        }
    }
    let (uri, options) = match message {
        Message::Publish { topic: u, options: o, .. }
        | Message::Subscribe { topic: u, options: o, .. }
        | Message::Call { procedure: u, options: o, .. }
        | Message::Register { procedure: u, options: o, .. } => {
            (u.len(), o.iter().map(|(k, v)| k.len() + value_size(v)).sum())
        }
        _ => (0, 0),
    };
    64 + uri + options + message.payload().map_or(0, |p| p.len())
}

/// A role's decisions per URI on one shard.
pub type DecisionCache = AHashMap<Box<str>, Grants>;

/// The action a client message asks for, on which URI, and how that URI matches (SUBSCRIBE and REGISTER
/// may name a pattern).
fn action_of(message: &Message) -> Option<(Action, &str, MatchPolicy)> {
    match message {
        Message::Publish { topic, .. } => Some((Action::Publish, topic, MatchPolicy::Exact)),
        Message::Subscribe { topic, options, .. } => {
            Some((Action::Subscribe, topic, MatchPolicy::of(options)))
        }
        Message::Call { procedure, .. } => Some((Action::Call, procedure, MatchPolicy::Exact)),
        Message::Register { procedure, options, .. } => {
            Some((Action::Register, procedure, MatchPolicy::of(options)))
        }
        _ => None,
    }
}

/// Clients can neither register nor publish in the router's own `wamp.` namespace, not even through a
/// pattern that could match a URI in it.
fn reserved(action: Action, uri: &str, policy: MatchPolicy) -> bool {
    if !matches!(action, Action::Register | Action::Publish) {
        return false;
    }
    match policy {
        MatchPolicy::Exact => uri.starts_with("wamp."),
        MatchPolicy::Prefix => uri.starts_with("wamp.") || "wamp.".starts_with(uri),
        MatchPolicy::Wildcard => matches!(uri.split('.').next(), Some("" | "wamp")),
    }
}

/// What [`ShardRouter::authorize`] found.
enum Verdict {
    Decided(Decision),
    /// Ask the dynamic authorizer.
    Ask(Arc<str>),
}

impl ShardRouter {
    /// Runs `message` if the session may; answers `wamp.error.not_authorized` if not; parks it while a
    /// dynamic authorizer is asked. Messages that are no action (YIELD, UNSUBSCRIBE...) pass, but wait
    /// behind parked ones.
    pub(super) fn authorize_and_dispatch(&mut self, conn: ConnId, message: Message, out: &mut Outbox) {
        // Answers to the session's invocations, and ABORT, never wait: they are no actions, and a session
        // that serves procedures (maybe the authorizer itself) must not stall its callers meanwhile.
        if matches!(message, Message::Yield { .. } | Message::Abort { .. })
            || matches!(message, Message::Error { request_type: code::INVOCATION, .. })
        {
            return self.dispatch(conn, message, false, out);
        }
        if let Some(parked) = self.parked_mut(conn) {
            if parked.messages.len() >= MAX_PARKED
                || parked.bytes + approximate_size(&message) > MAX_PARKED_BYTES
            {
                let reason = "too many messages waiting for authorization";
                return self.abort(conn, uris::LIMIT_EXCEEDED, reason, out);
            }
            parked.push(message);
            return;
        }
        let Some((action, uri, policy)) = action_of(&message) else {
            return self.dispatch(conn, message, false, out);
        };
        match self.authorize(conn, action, uri, policy) {
            Verdict::Decided(Decision::Allow { disclose }) => self.dispatch(conn, message, disclose, out),
            Verdict::Decided(Decision::Deny) => self.deny(conn, &message, out),
            Verdict::Ask(procedure) => self.ask_authorizer(conn, procedure, action, message, out),
        }
    }

    /// Runs `message` for a session that may do everything outside `wamp.`.
    pub(super) fn dispatch_open(&mut self, conn: ConnId, message: Message, out: &mut Outbox) {
        match action_of(&message) {
            Some((action, uri, policy)) if reserved(action, uri, policy) => self.deny(conn, &message, out),
            _ => self.dispatch(conn, message, false, out),
        }
    }

    fn authorize(&mut self, conn: ConnId, action: Action, uri: &str, policy: MatchPolicy) -> Verdict {
        if reserved(action, uri, policy) {
            return Verdict::Decided(Decision::Deny);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Verdict::Decided(Decision::Deny);
        };
        let Some(session) = c.session.as_mut() else {
            return Verdict::Decided(Decision::Deny);
        };
        // Only valid URIs are cached or asked about (checked on a cache miss: what is cached was valid);
        // an invalid one goes on to the action's handler, which answers wamp.error.invalid_uri.
        let valid = |registry: &Registry| policy.check(uri, registry.realm(session.realm).uri_check).is_ok();
        let invalid = Verdict::Decided(Decision::Allow { disclose: false });
        match &session.authorization {
            SessionAuthorization::Open => Verdict::Decided(Decision::Allow { disclose: false }),
            // A pattern (12.5, 11.8) reaches every URI it matches: decided over that whole range, and not
            // cached (the caches are per URI; pattern requests are rare).
            SessionAuthorization::Rules { kind, .. } if policy != MatchPolicy::Exact => {
                let RoleKind::Rules(rules) = &**kind else {
                    return Verdict::Decided(Decision::Deny);
                };
                if !valid(&self.registry) {
                    return invalid;
                }
                Verdict::Decided(rules.lookup_pattern(policy, uri).decide(action))
            }
            SessionAuthorization::Dynamic { procedure, .. } if policy != MatchPolicy::Exact => {
                if !valid(&self.registry) {
                    return invalid;
                }
                Verdict::Ask(procedure.clone())
            }
            SessionAuthorization::Rules { role, kind } => {
                let cache = &mut self.decision_caches[session.realm][*role];
                let grants = match cache.get(uri) {
                    Some(grants) => *grants,
                    None => {
                        let RoleKind::Rules(rules) = &**kind else {
                            return Verdict::Decided(Decision::Deny);
                        };
                        if !valid(&self.registry) {
                            return invalid;
                        }
                        let grants = rules.lookup(uri);
                        if uri.len() <= MAX_CACHED_URI {
                            if cache.len() >= MAX_CACHED {
                                cache.clear();
                            }
                            cache.insert(uri.into(), grants);
                        }
                        grants
                    }
                };
                Verdict::Decided(grants.decide(action))
            }
            SessionAuthorization::Dynamic { procedure, cache, .. } => {
                match cache.get(uri).and_then(|slots| slots[action.index()]) {
                    Some(decision) => Verdict::Decided(decision),
                    None if !valid(&self.registry) => invalid,
                    None => Verdict::Ask(procedure.clone()),
                }
            }
        }
    }

    fn parked_mut(&mut self, conn: ConnId) -> Option<&mut Parked> {
        match &mut self.session_mut(conn)?.authorization {
            SessionAuthorization::Dynamic { parked, .. } => parked.as_mut(),
            _ => None,
        }
    }

    /// Answers a denied action: ERROR `wamp.error.not_authorized` (for PUBLISH only when acknowledged).
    fn deny(&mut self, conn: ConnId, message: &Message, out: &mut Outbox) {
        self.registry.stats.bump(Counter::NotAuthorized);
        let (request_type, request, uri) = match message {
            Message::Publish { request, options, topic, .. } => {
                if options.get("acknowledge").and_then(Value::as_bool) != Some(true) {
                    return;
                }
                (code::PUBLISH, *request, topic)
            }
            Message::Subscribe { request, topic, .. } => (code::SUBSCRIBE, *request, topic),
            Message::Call { request, procedure, .. } => (code::CALL, *request, procedure),
            Message::Register { request, procedure, .. } => (code::REGISTER, *request, procedure),
            _ => return,
        };
        let text = format!(
            "this session is not authorized to {} {uri:?}",
            action_of(message).map_or("", |(a, _, _)| a.name())
        );
        self.error(conn, request_type, request, uris::NOT_AUTHORIZED, &text, out);
    }

    /// Parks `message` and asks the session's authorizer about it.
    fn ask_authorizer(
        &mut self,
        conn: ConnId,
        procedure: Arc<str>,
        action: Action,
        message: Message,
        out: &mut Outbox,
    ) {
        let registry = self.registry.clone();
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let uri = action_of(&message).map_or(String::new(), |(_, uri, _)| uri.to_owned());
        let options = match &message {
            Message::Publish { options, .. }
            | Message::Subscribe { options, .. }
            | Message::Call { options, .. }
            | Message::Register { options, .. } => options.clone(),
            _ => Dict::new(),
        };
        let details = dict! {
            "session" => session.id,
            "authid" => &*session.authid,
            "authrole" => &*session.authrole,
            "authmethod" => session.authmethod,
            "authprovider" => session.authprovider,
            "realm" => registry.realm(session.realm).name.as_str(),
        };
        let (realm, session_id) = (session.realm, session.id);
        if let SessionAuthorization::Dynamic { parked, .. } = &mut session.authorization {
            parked.get_or_insert_with(Parked::default).push(message);
        }
        let args = vec![
            Value::from(details),
            Value::from(uri.as_str()),
            Value::from(action.name()),
            Value::from(options),
        ];
        let purpose = Purpose::Authorize { conn, session: session_id, action, uri };
        self.call_internal(realm, &procedure, args, purpose, out);
    }

    /// The authorizer answered (or failed: then the action is denied). Caches the answer unless told not
    /// to, and runs the parked messages until one has to wait again.
    pub(super) fn authorizer_answered(
        &mut self,
        conn: ConnId,
        session: Id,
        action: Action,
        uri: String,
        answer: Result<(Vec<Value>, Dict), String>,
        out: &mut Outbox,
    ) {
        let (decision, cache_it) = match &answer {
            Ok((args, kwargs)) => interpret_authorizer_answer(args, kwargs),
            Err(_) => (Decision::Deny, false),
        };
        let Some(s) = self.session_mut(conn).filter(|s| s.id == session) else {
            return;
        };
        let SessionAuthorization::Dynamic { cache, parked, .. } = &mut s.authorization else {
            return;
        };
        // The answer on a pattern is not the answer on the URI it is spelled as: only the latter is cached.
        let asked_a_pattern = parked
            .as_ref()
            .and_then(|p| p.messages.front())
            .and_then(action_of)
            .is_some_and(|(_, _, policy)| policy != MatchPolicy::Exact);
        if cache_it && !asked_a_pattern && uri.len() <= MAX_CACHED_URI {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.entry(uri.into_boxed_str()).or_default()[action.index()] = Some(decision);
        }
        let Some(mut waiting) = parked.take() else {
            return;
        };
        // The first parked message is the one asked about; decide it with this answer even if not cached
        // (unless the router is shutting down: then the session may only say GOODBYE).
        let established = self.conns.get(&conn).is_some_and(|c| c.phase == Phase::Established);
        if let Some(first) = waiting.messages.pop_front().filter(|_| established) {
            match decision {
                Decision::Allow { disclose } => self.dispatch(conn, first, disclose, out),
                Decision::Deny => self.deny(conn, &first, out),
            }
        }
        // The rest goes through the session state machine again: one of them may end the session (a
        // GOODBYE, a violation), and what follows it is then handled as the connection's phase says.
        while let Some(next) = waiting.messages.pop_front() {
            self.handle_message(conn, next, out);
            if let Some(parked) = self.parked_mut(conn) {
                // It waits again: the rest waits behind it, in order.
                for message in waiting.messages.drain(..) {
                    parked.push(message);
                }
                break;
            }
        }
    }
}

/// An authorizer answers `true`/`false`, or a dict `{allow, disclose, cache}`. As in Crossbar.io, only an
/// answer with `cache: true` is kept for the rest of the session.
fn interpret_authorizer_answer(args: &[Value], kwargs: &Dict) -> (Decision, bool) {
    let decision =
        |allow: bool, disclose: bool| if allow { Decision::Allow { disclose } } else { Decision::Deny };
    match args.first() {
        Some(Value::Bool(allow)) => (decision(*allow, false), false),
        Some(Value::Dict(d)) => {
            let flag = |k: &str| d.get(k).and_then(Value::as_bool);
            (
                decision(flag("allow") == Some(true), flag("disclose") == Some(true)),
                flag("cache") == Some(true),
            )
        }
        None if !kwargs.is_empty() => {
            interpret_authorizer_answer(&[Value::Dict(kwargs.clone())], &Dict::new())
        }
        _ => (Decision::Deny, false),
    }
}

/// One shard's decision caches: `[realm][role]`.
pub fn decision_caches(realms: &[RealmAuthorization]) -> Vec<Vec<DecisionCache>> {
    // Indexed by the role's position in the configuration.
    realms.iter().map(|r| (0..r.role_count().max(1)).map(|_| DecisionCache::default()).collect()).collect()
}
