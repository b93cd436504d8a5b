//! The sans-I/O routing layer. A [`ShardRouter`] holds one shard's sessions and its shard of the routing
//! state; it consumes decoded input (frames from its sessions, messages from other shards) and produces
//! [`Effect`]s (bytes for a session, a message for another shard, a transport to close). It never touches
//! a socket, so every routing rule is testable with plain byte vectors.

mod authorize;
mod broker;
mod cancel;
mod dealer;
mod effects;
mod features;
mod internal_call;
mod join;
mod peer;
mod permissions;
mod registry;
mod session;
mod shard_router;
mod uri_index;

pub use effects::{ConnId, Effect, Outbox};
pub use peer::PeerMessage;
pub use permissions::{Action, AllowConfig, DiscloseConfig, PermissionConfig, RoleConfig};
pub use registry::{RealmId, Registry, SessionInfo};
pub use session::ConnLimits;
pub use shard_router::ShardRouter;
pub use uri_index::MatchPolicy;

#[cfg(test)]
mod tests;
