//! Messages between shards. Payloads travel as the `Bytes` spans they arrived in (no copy, no re-parse);
//! a publication is shared by all receiving shards behind one `Arc`.

use std::sync::Arc;

use crate::wamp::{Dict, Id, Payload};

use super::cancel::CancelMode;
use super::dealer::InvokePolicy;
use super::registry::RealmId;
use super::uri_index::MatchPolicy;

#[derive(Debug)]
pub enum PeerMessage {
    /// Deliver a publication to this shard's subscribers.
    Publish(Arc<Publication>),
    /// A callee joined a registration (new, or shared): add it to this shard's replica of the registration
    /// table, then `Ack`.
    RegistrationAdded {
        realm: RealmId,
        procedure: Arc<str>,
        matching: MatchPolicy,
        policy: InvokePolicy,
        entry: RegistrationEntry,
        ack: Option<u64>,
    },
    /// A callee left a registration: drop it from this shard's replica, then `Ack` if asked.
    RegistrationRemoved {
        realm: RealmId,
        procedure: Arc<str>,
        matching: MatchPolicy,
        registration: Id,
        callee: Id,
        ack: Option<u64>,
    },
    /// A shard applied a control change (`ack` names it).
    Ack { control: u64 },
    /// Invoke a callee living on this shard.
    Call(Box<RoutedCall>),
    /// The outcome of a call, for a caller living on this shard.
    Reply(Box<CallReply>),
    /// A caller left: forget the invocations it has pending with this callee.
    CallerGone { callee: Id, caller: Id },
    /// A call is being canceled (CANCEL or timeout): forget or interrupt its invocation, as `mode` says.
    CancelInvocation { callee: Id, caller: Id, request: Id, mode: CancelMode, reason: String },
}

/// One publication, as every shard needs it to build its EVENTs.
#[derive(Debug)]
pub struct Publication {
    pub realm: RealmId,
    pub topic: String,
    pub publication: Id,
    pub publisher: Id,
    /// Skip the publisher itself (publisher exclusion, on by default).
    pub exclude_me: bool,
    /// Session IDs that must not receive it (subscriber black-listing).
    pub exclude: Vec<Id>,
    /// When present, only these session IDs may receive it (subscriber white-listing).
    pub eligible: Option<Vec<Id>>,
    /// EVENT.Details shared by every receiver (e.g. the disclosed publisher).
    pub details: Dict,
    pub payload: Payload,
}

/// One callee of a registration, as replicated to every shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationEntry {
    pub registration: Id,
    pub callee: Id,
    pub shard: usize,
    /// Its place in the order of registration (shared registrations pick callees by it).
    pub order: u64,
}

/// A CALL on its way to the callee's shard.
#[derive(Debug)]
pub struct RoutedCall {
    pub caller: Id,
    pub caller_shard: usize,
    pub request: Id,
    pub registration: Id,
    pub callee: Id,
    /// INVOCATION.Details (e.g. the disclosed caller).
    pub details: Dict,
    pub payload: Payload,
}

/// A RESULT or ERROR on its way back to the caller's shard.
#[derive(Debug)]
pub struct CallReply {
    pub caller: Id,
    pub request: Id,
    pub details: Dict,
    /// `None` for a RESULT, the error URI for an ERROR.
    pub error: Option<String>,
    pub payload: Payload,
}
