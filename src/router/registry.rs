//! Router-wide facts that every shard must agree on: realms, session IDs, the subscription ID of a
//! (realm, topic, match), and which session holds a procedure. They change on join/leave, subscribe and
//! register, never per event or call, so sharded maps (`dashmap`) serve them; the publish and call paths
//! read only shard-local tables.

use std::sync::Arc;

use ahash::AHashMap;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::auth::RealmAuth;
use crate::config::RealmConfig;
use crate::stats::Stats;
use crate::wamp::ids::random_id;
use crate::wamp::Id;

use super::authorize::RealmAuthorization;
use super::dealer::InvokePolicy;
use super::uri_index::MatchPolicy;

/// Index of a realm in the configuration.
pub type RealmId = usize;

/// What the router knows of a live session, router-wide (for uniqueness and the meta API).
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub shard: usize,
    pub realm: RealmId,
    pub authid: Arc<str>,
    pub authrole: Arc<str>,
}

/// The registration of one procedure: its ID and invocation policy, shared by all its callees.
#[derive(Debug)]
struct ProcedureRecord {
    registration: Id,
    policy: InvokePolicy,
    callees: u32,
    /// The order the next callee joins in (11.9: "ordered by the order of registration").
    next_order: u64,
}

/// Why a REGISTER cannot take a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefused {
    /// Held by a `single` registration, or a `single` REGISTER for a shared one.
    AlreadyExists,
    /// Shared under another invocation policy.
    OtherPolicy(InvokePolicy),
}

#[derive(Debug)]
struct SubscriptionRecord {
    id: Id,
    /// How many shards hold a local subscription under this ID.
    shards: u32,
}

/// The router-wide registry, shared by all shards.
#[derive(Debug)]
pub struct Registry {
    realms: Vec<RealmConfig>,
    realm_ids: AHashMap<String, RealmId>,
    /// Each realm's authentication methods and principals, compiled.
    auth: Vec<Arc<RealmAuth>>,
    /// Each realm's roles, compiled.
    authorization: Vec<RealmAuthorization>,
    sessions: DashMap<Id, SessionInfo>,
    subscriptions: DashMap<(RealmId, MatchPolicy, String), SubscriptionRecord>,
    registrations: DashMap<(RealmId, MatchPolicy, Arc<str>), ProcedureRecord>,
    /// Counters of tripped limits, bumped by every shard.
    pub stats: Stats,
}

impl Registry {
    /// Compiles the realms' authentication and authorization; fails on what `Config` checks would refuse.
    pub fn new(realms: Vec<RealmConfig>) -> Result<Registry, String> {
        let realm_ids = realms.iter().enumerate().map(|(i, r)| (r.name.clone(), i)).collect();
        let auth = realms
            .iter()
            .map(|r| {
                RealmAuth::new(&r.name, r.anonymous, &r.principals, r.authenticator.as_ref()).map(Arc::new)
            })
            .collect::<Result<_, _>>()?;
        let authorization = realms.iter().map(RealmAuthorization::new).collect();
        Ok(Registry {
            realms,
            realm_ids,
            auth,
            authorization,
            sessions: DashMap::new(),
            subscriptions: DashMap::new(),
            registrations: DashMap::new(),
            stats: Stats::default(),
        })
    }

    pub fn realm_id(&self, name: &str) -> Option<RealmId> {
        self.realm_ids.get(name).copied()
    }

    pub fn realm(&self, id: RealmId) -> &RealmConfig {
        &self.realms[id]
    }

    pub fn realm_count(&self) -> usize {
        self.realms.len()
    }

    pub fn realm_auth(&self, id: RealmId) -> &Arc<RealmAuth> {
        &self.auth[id]
    }

    pub fn authorization(&self, id: RealmId) -> &RealmAuthorization {
        &self.authorization[id]
    }

    pub fn authorizations(&self) -> &[RealmAuthorization] {
        &self.authorization
    }

    /// Records a session under an ID drawn earlier (authentication shows it before WELCOME); `false` if
    /// the ID is taken (a 1 in 2^53 chance per live session).
    pub fn add_session_with_id(&self, id: Id, info: SessionInfo) -> bool {
        match self.sessions.entry(id) {
            Entry::Vacant(slot) => {
                slot.insert(info);
                true
            }
            Entry::Occupied(_) => false,
        }
    }

    /// Draws a fresh session ID and records the session under it.
    pub fn add_session(&self, info: SessionInfo) -> Id {
        loop {
            let id = random_id();
            if let Entry::Vacant(slot) = self.sessions.entry(id) {
                slot.insert(info);
                return id;
            }
        }
    }

    pub fn remove_session(&self, id: Id) {
        self.sessions.remove(&id);
    }

    pub fn session(&self, id: Id) -> Option<SessionInfo> {
        self.sessions.get(&id).map(|s| s.clone())
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The subscription ID of `topic` under `policy` in `realm`, taken by one more shard.
    pub fn acquire_subscription(&self, realm: RealmId, policy: MatchPolicy, topic: &str) -> Id {
        let mut record = self
            .subscriptions
            .entry((realm, policy, topic.to_owned()))
            .or_insert_with(|| SubscriptionRecord { id: random_id(), shards: 0 });
        record.shards += 1;
        record.id
    }

    /// One shard no longer holds the subscription; the ID is retired when no shard does.
    pub fn release_subscription(&self, realm: RealmId, policy: MatchPolicy, topic: &str) {
        let key = (realm, policy, topic.to_owned());
        if let Entry::Occupied(mut record) = self.subscriptions.entry(key) {
            record.get_mut().shards -= 1;
            if record.get().shards == 0 {
                record.remove();
            }
        }
    }

    /// Claims `procedure` (under `matching`) in `realm` for one more callee under `policy`: a new registration, or a place in
    /// the shared one (11.9). Returns the registration ID and the callee's order in it.
    pub fn claim_procedure(
        &self,
        realm: RealmId,
        matching: MatchPolicy,
        procedure: &Arc<str>,
        policy: InvokePolicy,
    ) -> Result<(Id, u64), ClaimRefused> {
        match self.registrations.entry((realm, matching, procedure.clone())) {
            Entry::Vacant(slot) => {
                let registration = random_id();
                slot.insert(ProcedureRecord { registration, policy, callees: 1, next_order: 1 });
                Ok((registration, 0))
            }
            Entry::Occupied(mut slot) => {
                let record = slot.get_mut();
                if record.policy == InvokePolicy::Single || policy == InvokePolicy::Single {
                    return Err(ClaimRefused::AlreadyExists);
                }
                if record.policy != policy {
                    return Err(ClaimRefused::OtherPolicy(record.policy));
                }
                record.callees += 1;
                record.next_order += 1;
                Ok((record.registration, record.next_order - 1))
            }
        }
    }

    /// The registration that holds `procedure` now, if any.
    pub fn procedure_holder(
        &self,
        realm: RealmId,
        matching: MatchPolicy,
        procedure: &Arc<str>,
    ) -> Option<Id> {
        self.registrations.get(&(realm, matching, procedure.clone())).map(|record| record.registration)
    }

    /// One callee gives `procedure` up, if `registration` still holds it; the registration ends with its
    /// last callee.
    pub fn release_procedure(
        &self,
        realm: RealmId,
        matching: MatchPolicy,
        procedure: &Arc<str>,
        registration: Id,
    ) {
        if let Entry::Occupied(mut slot) = self.registrations.entry((realm, matching, procedure.clone())) {
            let record = slot.get_mut();
            if record.registration == registration {
                record.callees -= 1;
                if record.callees == 0 {
                    slot.remove();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn subscription_ids_are_shared_and_retired() {
        let reg = Registry::new(Config::default().realms).unwrap();
        let exact = MatchPolicy::Exact;
        let a = reg.acquire_subscription(0, exact, "t");
        let b = reg.acquire_subscription(0, exact, "t");
        assert_eq!(a, b);
        let prefix = reg.acquire_subscription(0, MatchPolicy::Prefix, "t");
        assert_ne!(prefix, a, "each (topic, match) is its own subscription");
        reg.release_subscription(0, MatchPolicy::Prefix, "t");
        reg.release_subscription(0, exact, "t");
        assert_eq!(reg.acquire_subscription(0, exact, "t"), a);
        reg.release_subscription(0, exact, "t");
        reg.release_subscription(0, exact, "t");
        assert_eq!(reg.subscriptions.len(), 0);
    }

    #[test]
    fn procedures_are_claimed_once() {
        let reg = Registry::new(Config::default().realms).unwrap();
        let p: Arc<str> = Arc::from("p");
        let (id, _) = reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Single).unwrap();
        assert_eq!(
            reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Single),
            Err(ClaimRefused::AlreadyExists)
        );
        assert_eq!(
            reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::RoundRobin),
            Err(ClaimRefused::AlreadyExists)
        );
        reg.release_procedure(0, MatchPolicy::Exact, &p, id + 1);
        assert!(reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Single).is_err());
        reg.release_procedure(0, MatchPolicy::Exact, &p, id);
        assert!(reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Single).is_ok());
    }

    #[test]
    fn shared_registrations_keep_their_policy_and_last_until_their_last_callee() {
        let reg = Registry::new(Config::default().realms).unwrap();
        let p: Arc<str> = Arc::from("p");
        let (id, first) = reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Last).unwrap();
        let (again, second) = reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Last).unwrap();
        assert_eq!((again, first, second), (id, 0, 1));
        let refused = Err(ClaimRefused::OtherPolicy(InvokePolicy::Last));
        assert_eq!(reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Random), refused);
        assert_eq!(
            reg.claim_procedure(0, MatchPolicy::Exact, &p, InvokePolicy::Single),
            Err(ClaimRefused::AlreadyExists)
        );
        reg.release_procedure(0, MatchPolicy::Exact, &p, id);
        assert_eq!(reg.procedure_holder(0, MatchPolicy::Exact, &p), Some(id), "one callee left");
        reg.release_procedure(0, MatchPolicy::Exact, &p, id);
        assert_eq!(reg.procedure_holder(0, MatchPolicy::Exact, &p), None);
    }
}
