//! Router-wide counters of tripped limits and dropped traffic: every limit that trips is counted here, so an
//! operator can tell a slow consumer from a flood. Shards bump them with relaxed atomics, off the hot path
//! (only when something is refused, dropped or closed).

use std::sync::atomic::{AtomicU64, Ordering};

/// One thing the router counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A connection refused at `limits.max_connections`.
    ConnectionsRefused,
    /// A connection refused at `limits.max_connections_per_ip`.
    ConnectionsRefusedPerIp,
    /// A transport handshake (WebSocket upgrade, RawSocket) that failed or timed out.
    HandshakesFailed,
    /// A TLS handshake that failed (garbage or plain text on a TLS port, a client certificate that does
    /// not verify or is missing where required) or timed out.
    TlsHandshakesFailed,
    /// A connection that sent no HELLO within the handshake timeout.
    HelloTimeouts,
    /// A connection closed after `limits.idle_timeout_secs` without inbound traffic.
    IdleTimeouts,
    /// An inbound message larger than `limits.max_message_size`.
    MessagesTooBig,
    /// An ABORT `wamp.error.protocol_violation` (nesting past `max_nesting_depth` included).
    ProtocolViolations,
    /// A connection closed because its outbound queue was full (`slow_consumer = "disconnect"`).
    SlowConsumersDisconnected,
    /// An EVENT dropped for a slow consumer (`slow_consumer = "drop_events"`).
    EventsDropped,
    /// A message not sent because it is larger than the receiving peer accepts (`payload_size_exceeded`).
    PayloadSizeExceeded,
    /// A SUBSCRIBE refused at the realm's `max_subscriptions`.
    SubscriptionLimit,
    /// A REGISTER refused at the realm's `max_registrations`.
    RegistrationLimit,
    /// A CALL refused at the realm's `max_pending_calls`.
    PendingCallLimit,
    /// A call ended by the dealer with `wamp.error.timeout`.
    CallTimeouts,
    /// A join refused by authentication (ABORT `authentication_failed`, `no_auth_method`...).
    AuthenticationFailures,
    /// An action denied by authorization (`wamp.error.not_authorized`).
    NotAuthorized,
}

impl Counter {
    pub const ALL: [Counter; 17] = [
        Counter::ConnectionsRefused,
        Counter::ConnectionsRefusedPerIp,
        Counter::HandshakesFailed,
        Counter::TlsHandshakesFailed,
        Counter::HelloTimeouts,
        Counter::IdleTimeouts,
        Counter::MessagesTooBig,
        Counter::ProtocolViolations,
        Counter::SlowConsumersDisconnected,
        Counter::EventsDropped,
        Counter::PayloadSizeExceeded,
        Counter::SubscriptionLimit,
        Counter::RegistrationLimit,
        Counter::PendingCallLimit,
        Counter::CallTimeouts,
        Counter::AuthenticationFailures,
        Counter::NotAuthorized,
    ];

    /// The counter's name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Counter::ConnectionsRefused => "connections_refused",
            Counter::ConnectionsRefusedPerIp => "connections_refused_per_ip",
            Counter::HandshakesFailed => "handshakes_failed",
            Counter::TlsHandshakesFailed => "tls_handshakes_failed",
            Counter::HelloTimeouts => "hello_timeouts",
            Counter::IdleTimeouts => "idle_timeouts",
            Counter::MessagesTooBig => "messages_too_big",
            Counter::ProtocolViolations => "protocol_violations",
            Counter::SlowConsumersDisconnected => "slow_consumers_disconnected",
            Counter::EventsDropped => "events_dropped",
            Counter::PayloadSizeExceeded => "payload_size_exceeded",
            Counter::SubscriptionLimit => "subscription_limit",
            Counter::RegistrationLimit => "registration_limit",
            Counter::PendingCallLimit => "pending_call_limit",
            Counter::CallTimeouts => "call_timeouts",
            Counter::AuthenticationFailures => "authentication_failures",
            Counter::NotAuthorized => "not_authorized",
        }
    }
}

/// The counters, shared by every shard.
#[derive(Debug, Default)]
pub struct Stats {
    counts: [AtomicU64; Counter::ALL.len()],
}

impl Stats {
    pub fn add(&self, counter: Counter, n: u64) {
        self.counts[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn bump(&self, counter: Counter) {
        self.add(counter, 1);
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.counts[counter as usize].load(Ordering::Relaxed)
    }

    /// Every counter that is not zero, by name.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        Counter::ALL.iter().map(|c| (c.name(), self.get(*c))).filter(|(_, n)| *n > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_independent() {
        let stats = Stats::default();
        stats.bump(Counter::CallTimeouts);
        stats.add(Counter::EventsDropped, 5);
        assert_eq!(stats.get(Counter::CallTimeouts), 1);
        assert_eq!(stats.get(Counter::EventsDropped), 5);
        assert_eq!(stats.get(Counter::ConnectionsRefused), 0);
        assert_eq!(stats.nonzero(), vec![("events_dropped", 5), ("call_timeouts", 1)]);
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "ALL lists the counters in declaration order");
        }
    }
}
