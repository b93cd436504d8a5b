//! Calls the router itself makes: to a dynamic authenticator while a session joins (13.5) and to a
//! dynamic authorizer (13.6). They travel like any CALL (the callee's shard sends the INVOCATION and routes
//! the answer back to this shard) with a caller ID no session can have (0), and end in a
//! [`Purpose`]-specific handler instead of a RESULT to a client. Each has a deadline: a silent procedure
//! fails the join or denies the action.

use std::time::{Duration, Instant};

use crate::wamp::codec::Serializer;
use crate::wamp::{uris, Dict, Id, Payload, Value};

use super::cancel::CancelMode;
use super::effects::{ConnId, Outbox};
use super::peer::{CallReply, PeerMessage, RoutedCall};
use super::permissions::Action;
use super::registry::RealmId;
use super::shard_router::ShardRouter;

/// The caller ID of the router's own calls (WAMP IDs start at 1).
pub const ROUTER_CALLER: Id = 0;
/// Stands for "no connection" in the call deadline set (connection IDs start at 1).
pub const ROUTER_CONN: ConnId = 0;
/// How long the router waits for its own calls.
const INTERNAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One of the router's calls, waiting for its answer.
#[derive(Debug)]
pub struct InternalCall {
    purpose: Purpose,
    deadline: Instant,
    callee: Id,
    callee_shard: usize,
}

/// Why the router made a call, and who waits for its answer.
#[derive(Debug)]
pub enum Purpose {
    /// A joining connection waits for the authenticator.
    Authenticate { conn: ConnId },
    /// A session's parked action waits for the authorizer.
    Authorize { conn: ConnId, session: Id, action: Action, uri: String },
}

impl ShardRouter {
    /// Calls `procedure` on `realm` with `args`; its answer (or failure) goes to the purpose's handler.
    pub(super) fn call_internal(
        &mut self,
        realm: RealmId,
        procedure: &str,
        args: Vec<Value>,
        purpose: Purpose,
        out: &mut Outbox,
    ) {
        let Some(entry) = self.realms[realm].dealer.pick_exact(procedure) else {
            let text = format!("no procedure registered under {procedure:?}");
            return self.internal_answered(purpose, Err(uris::NO_SUCH_PROCEDURE.into()), &text, out);
        };
        // Unique router-wide (the shard in the high bits): callees tell the router's calls apart by
        // (caller 0, request) alone, and those of several shards may wait at the same callee.
        let request = ((self.shard as u64) << 48) | self.next_internal_call;
        self.next_internal_call += 1;
        let call = RoutedCall {
            caller: ROUTER_CALLER,
            caller_shard: self.shard,
            request,
            registration: entry.registration,
            callee: entry.callee,
            details: Dict::new(),
            payload: Payload::from_values(Serializer::MsgPack, Some(&args), None),
        };
        let deadline = Instant::now() + INTERNAL_CALL_TIMEOUT;
        self.call_deadlines.insert((deadline, ROUTER_CONN, request));
        let pending = InternalCall { purpose, deadline, callee: entry.callee, callee_shard: entry.shard };
        self.internal_calls.insert(request, pending);
        if entry.shard == self.shard {
            self.invoke(call, out);
        } else {
            out.peer(entry.shard, PeerMessage::Call(Box::new(call)));
        }
    }

    /// The answer to one of the router's own calls.
    pub(super) fn internal_reply(&mut self, reply: CallReply, out: &mut Outbox) {
        let Some(InternalCall { purpose, deadline, .. }) = self.internal_calls.remove(&reply.request) else {
            return; // timed out meanwhile
        };
        self.call_deadlines.remove(&(deadline, ROUTER_CONN, reply.request));
        let answer = match (reply.error, reply.payload.to_values()) {
            (Some(error), _) => Err(error),
            (None, Ok((args, kwargs))) => Ok((args.unwrap_or_default(), kwargs.unwrap_or_default())),
            (None, Err(_)) => Err(uris::INVALID_ARGUMENT.into()),
        };
        self.internal_answered(purpose, answer, "", out);
    }

    /// One of the router's own calls ran past its deadline.
    /// The callee forgets the invocation (and gets INTERRUPT if it understands it), as for a client's call.
    pub(super) fn internal_call_expired(&mut self, request: Id, out: &mut Outbox) {
        let Some(call) = self.internal_calls.remove(&request) else {
            return;
        };
        let (callee, mode, reason) = (call.callee, CancelMode::KillNoWait, uris::TIMEOUT);
        if call.callee_shard == self.shard {
            self.cancel_invocation(callee, ROUTER_CALLER, request, mode, reason, out);
        } else {
            let cancel = PeerMessage::CancelInvocation {
                callee,
                caller: ROUTER_CALLER,
                request,
                mode,
                reason: reason.into(),
            };
            out.peer(call.callee_shard, cancel);
        }
        self.internal_answered(call.purpose, Err(uris::TIMEOUT.into()), "no answer in time", out);
    }

    fn internal_answered(
        &mut self,
        purpose: Purpose,
        answer: Result<(Vec<Value>, Dict), String>,
        why: &str,
        out: &mut Outbox,
    ) {
        if let Err(error) = &answer {
            let purpose_name = match purpose {
                Purpose::Authenticate { .. } => "authenticate",
                Purpose::Authorize { .. } => "authorize",
            };
            tracing::debug!(
                shard = self.shard,
                purpose = purpose_name,
                error,
                why,
                "the router's call failed"
            );
        }
        match purpose {
            Purpose::Authenticate { conn } => self.authenticator_answered(conn, answer, out),
            Purpose::Authorize { conn, session, action, uri } => {
                self.authorizer_answered(conn, session, action, uri, answer, out)
            }
        }
    }
}
