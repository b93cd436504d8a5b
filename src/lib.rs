//! switchyard: a thread-per-core, sharded WAMP v2 router.
//!
//! Layout: [`wamp`] is the sans-I/O protocol (messages, codecs), [`router`] the sans-I/O routing logic
//! (sessions, broker, dealer), [`transport`] the WebSocket and RawSocket framing, [`shard`] the glommio
//! executors that own listeners, sessions and their shard of the routing state.

pub mod auth;
pub mod config;
pub mod router;
pub mod shard;
pub mod stats;
pub mod transport;
pub mod wamp;

pub use config::Config;
pub use shard::{BoundAddr, RouterHandle};
