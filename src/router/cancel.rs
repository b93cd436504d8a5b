//! Ending calls before their callee answers: call canceling by the caller (CANCEL, section 11.4) and
//! dealer-side call timeouts (11.3). The caller's shard decides what the caller gets; the callee's shard
//! forgets the invocation and sends INTERRUPT when the callee announced call canceling.

use std::time::Instant;

use crate::dict;
use crate::stats::Counter;
use crate::wamp::message::code;
use crate::wamp::{uris, Dict, Id, Message, Payload, Value};

use super::effects::{ConnId, Outbox};
use super::internal_call::ROUTER_CONN;
use super::join::JOIN_TIMER;
use super::peer::{CallReply, PeerMessage};
use super::shard_router::ShardRouter;

/// How a call is canceled (CANCEL.Options.mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// The caller gets ERROR now; the callee is not told and its answer is discarded.
    Skip,
    /// The callee gets INTERRUPT; the caller gets whatever the callee answers.
    Kill,
    /// The caller gets ERROR now and the callee INTERRUPT; its answer is discarded.
    KillNoWait,
}

impl CancelMode {
    fn name(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

impl ShardRouter {
    /// CANCEL from a caller on this shard. A call that is no longer pending (answered meanwhile) is ignored.
    pub(super) fn on_cancel(&mut self, conn: ConnId, request: Id, options: Dict, out: &mut Outbox) {
        let mode = match options.get("mode").and_then(Value::as_str) {
            Some("skip") => CancelMode::Skip,
            Some("kill") => CancelMode::Kill,
            _ => CancelMode::KillNoWait,
        };
        self.end_call(conn, request, mode, uris::CANCELED, "the call was canceled", out);
    }

    /// Ends every call whose deadline is past `now`: the caller gets `wamp.error.timeout` (11.3), the
    /// callee's shard forgets the invocation and interrupts the callee if it understands INTERRUPT.
    pub fn expire_calls(&mut self, now: Instant, out: &mut Outbox) {
        while let Some(&(deadline, conn, request)) = self.call_deadlines.first() {
            if deadline > now {
                break;
            }
            self.call_deadlines.pop_first();
            if conn == ROUTER_CONN {
                self.internal_call_expired(request, out);
                continue;
            }
            if request == JOIN_TIMER {
                self.join_expired(conn, deadline, out);
                continue;
            }
            let pending = self.session_of(conn).is_some_and(|s| s.calls.contains_key(&request));
            if pending {
                self.registry.stats.bump(Counter::CallTimeouts);
                let text = "the call timed out before the callee answered";
                self.end_call(conn, request, CancelMode::KillNoWait, uris::TIMEOUT, text, out);
            }
        }
    }

    /// The earliest call deadline on this shard, if any call has one.
    pub fn next_call_deadline(&self) -> Option<Instant> {
        self.call_deadlines.first().map(|(deadline, _, _)| *deadline)
    }

    /// Ends a call of a caller on this shard: answers the caller now (unless `Kill` leaves that to the
    /// callee) and tells the callee's shard.
    fn end_call(
        &mut self,
        conn: ConnId,
        request: Id,
        mode: CancelMode,
        reason: &str,
        text: &str,
        out: &mut Outbox,
    ) {
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        let caller = session.id;
        let Some(&pending) = session.calls.get(&request) else {
            return;
        };
        if mode != CancelMode::Kill {
            session.calls.remove(&request);
            if let Some(deadline) = pending.deadline {
                self.call_deadlines.remove(&(deadline, conn, request));
            }
            self.error(conn, code::CALL, request, reason, text, out);
        }
        if pending.callee_shard == self.shard {
            self.cancel_invocation(pending.callee, caller, request, mode, reason, out);
        } else {
            let message = PeerMessage::CancelInvocation {
                callee: pending.callee,
                caller,
                request,
                mode,
                reason: reason.into(),
            };
            out.peer(pending.callee_shard, message);
        }
    }

    /// The callee's side of ending a call. A callee that did not announce call canceling is never
    /// interrupted: for it every mode is `Skip` (11.4), so under `Kill` the caller gets its ERROR from here.
    pub(super) fn cancel_invocation(
        &mut self,
        callee: Id,
        caller: Id,
        request: Id,
        mode: CancelMode,
        reason: &str,
        out: &mut Outbox,
    ) {
        let Some(conn) = self.sessions.get(&callee).copied() else {
            return;
        };
        let Some(session) = self.session_mut(conn) else {
            return;
        };
        // A call still waiting for the callee's REGISTERED was never invoked: it is dropped, and answered
        // here if the caller waits for that answer (`kill`).
        let waiting = session.registrations.values_mut().find_map(|held| {
            let at = held.waiting.iter().position(|c| c.caller == caller && c.request == request)?;
            Some(held.waiting.remove(at))
        });
        if let Some(call) = waiting {
            if mode == CancelMode::Kill {
                self.route_reply(call.caller_shard, canceled(caller, request, reason), out);
            }
            return;
        }
        let found =
            session.invocations.iter().find(|(_, p)| p.caller == caller && p.caller_request == request);
        let Some((&invocation, &pending)) = found else {
            return;
        };
        let interrupt = session.accepts_interrupt && mode != CancelMode::Skip;
        if interrupt {
            let options = dict! { "mode" => mode.name(), "reason" => reason };
            self.send(conn, &Message::Interrupt { request: invocation, options }, out);
            if mode == CancelMode::Kill {
                return; // the callee's answer goes to the caller as usual
            }
        }
        if let Some(session) = self.session_mut(conn) {
            session.invocations.remove(&invocation);
        }
        if mode == CancelMode::Kill {
            self.route_reply(pending.caller_shard, canceled(caller, request, reason), out);
        }
    }
}

/// The ERROR a caller gets for a call canceled with `kill`, when the callee cannot answer it.
fn canceled(caller: Id, request: Id, reason: &str) -> CallReply {
    CallReply {
        caller,
        request,
        details: Dict::new(),
        error: Some(reason.into()),
        payload: Payload::from_values(
            crate::wamp::codec::Serializer::Json,
            Some(&[Value::from("the call was canceled")]),
            None,
        ),
    }
}
