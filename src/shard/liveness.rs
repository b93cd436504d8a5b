//! Per-connection deadlines, kept by one timer per shard instead of timer tasks per connection (at tens of
//! thousands of sessions, two glommio tasks with a timer each cost more memory than the session itself).
//!
//! The reader only stamps the time of each read that brought bytes. The shard's sweeper keeps a coarse
//! wheel (ticks of [`TICK`]) of when each connection must next be looked at: the HELLO deadline, the next
//! ping, the idle deadline. A connection is looked at once per deadline, not once per tick, so the cost
//! grows with the expirations, not with the number of connections. Deadlines fire up to one tick late.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::BytesMut;
use tracing::debug;

use crate::config::Limits;
use crate::router::ConnId;
use crate::stats::Counter;
use crate::transport::{self, Framing};

use super::outbound::{OutFrame, Outbound};

/// The sweeper's resolution: every deadline fires at most this late.
pub const TICK: Duration = Duration::from_millis(250);

/// When a quiet connection is pinged and when a silent one is closed (`ping_interval_secs`,
/// `idle_timeout_secs`; `None` disables each).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    ping: Option<Duration>,
    idle: Option<Duration>,
}

impl Deadlines {
    pub fn new(limits: &Limits) -> Deadlines {
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Deadlines { ping: secs(limits.ping_interval_secs), idle: secs(limits.idle_timeout_secs) }
    }
}

/// One connection's liveness: what the reader stamps and what the sweeper decides from.
pub struct Liveness {
    deadlines: Deadlines,
    framing: Framing,
    last_inbound: Cell<Instant>,
    last_ping: Cell<Option<Instant>>,
    /// Until the HELLO deadline has passed (the router ignores it for a session that joined in time).
    hello_by: Cell<Option<Instant>>,
}

impl Liveness {
    pub fn new(deadlines: Deadlines, framing: Framing, hello_timeout: Duration) -> Liveness {
        let now = Instant::now();
        Liveness {
            deadlines,
            framing,
            last_inbound: Cell::new(now),
            last_ping: Cell::new(None),
            hello_by: Cell::new(Some(now + hello_timeout)),
        }
    }

    /// When the sweeper must first look at the connection.
    pub fn first_deadline(&self) -> Instant {
        let last = self.last_inbound.get();
        [self.deadlines.ping, self.deadlines.idle]
            .into_iter()
            .flatten()
            .map(|d| last + d)
            .chain(self.hello_by.get())
            .min()
            .unwrap_or(last)
    }

    /// Inbound bytes arrived (or the peer is reading what is queued for it): not idle.
    pub fn touch(&self) {
        self.last_inbound.set(Instant::now());
    }
}

/// What a look at a connection decided.
enum Verdict {
    /// Look again at this time (`None`: nothing left to watch).
    Next(Option<Instant>),
    /// No HELLO within the handshake timeout: the router must abort it; then look again at this time.
    HelloTimedOut(Option<Instant>),
}

/// Looks at one connection at `now`: pings it if quiet for the ping interval (and again every interval
/// while it stays quiet), closes it once silent for the idle timeout (WebSocket close 1001; RawSocket has
/// none), and reports a passed HELLO deadline.
fn check(outbound: &Outbound, now: Instant, conn: ConnId) -> Verdict {
    let live = &outbound.liveness;
    let Deadlines { ping, idle } = live.deadlines;
    let last = live.last_inbound.get();
    if let Some(limit) = idle {
        if now.saturating_duration_since(last) >= limit {
            debug!(conn, idle_timeout = ?limit, "no inbound traffic within the idle timeout; closing");
            outbound.stats().bump(Counter::IdleTimeouts);
            // Like a transport failure, but a queue too full for the close frame is not a slow consumer.
            let mut close = BytesMut::new();
            transport::encode_close(live.framing, 1001, "idle timeout", &mut close);
            if !close.is_empty() {
                outbound.try_push(OutFrame::Raw(close.freeze()));
            }
            outbound.close();
            return Verdict::Next(None);
        }
    }
    let mut next = idle.map(|limit| last + limit);
    if let Some(interval) = ping {
        // Quiet since the last inbound bytes or the last ping, whichever came later.
        let mut since = live.last_ping.get().map_or(last, |p| p.max(last));
        if now.saturating_duration_since(since) >= interval {
            let mut frame = BytesMut::new();
            transport::encode_ping(live.framing, b"", &mut frame);
            outbound.try_push(OutFrame::Raw(frame.freeze()));
            live.last_ping.set(Some(now));
            since = now;
        }
        next = Some(next.map_or(since + interval, |n| n.min(since + interval)));
    }
    match live.hello_by.get() {
        Some(by) if now >= by => {
            live.hello_by.set(None);
            Verdict::HelloTimedOut(next)
        }
        Some(by) => Verdict::Next(Some(next.map_or(by, |n| n.min(by)))),
        None => Verdict::Next(next),
    }
}

/// The shard's wheel: which connections to look at in which tick.
pub struct Sweeper {
    epoch: Instant,
    wheel: RefCell<BTreeMap<u64, Vec<ConnId>>>,
}

impl Default for Sweeper {
    fn default() -> Self {
        Sweeper { epoch: Instant::now(), wheel: RefCell::new(BTreeMap::new()) }
    }
}

impl Sweeper {
    /// The first tick that starts at or after `at`.
    fn tick_of(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        nanos.div_ceil(TICK.as_nanos()) as u64
    }

    /// Looks at `conn` again at `at`.
    pub fn schedule(&self, conn: ConnId, at: Instant) {
        self.wheel.borrow_mut().entry(self.tick_of(at)).or_default().push(conn);
    }

    pub fn is_empty(&self) -> bool {
        self.wheel.borrow().is_empty()
    }

    /// Takes the connections due at `now`.
    fn due(&self, now: Instant) -> Vec<ConnId> {
        let current = self.tick_of(now);
        let mut wheel = self.wheel.borrow_mut();
        let mut due = Vec::new();
        while let Some(entry) = wheel.first_entry() {
            if *entry.key() > current {
                break;
            }
            due.append(&mut entry.remove());
        }
        due
    }

    /// Looks at every connection due at `now` that is still open (in `conns`); returns those whose HELLO
    /// deadline passed, for the router.
    pub fn sweep(&self, now: Instant, conns: &AHashMap<ConnId, Rc<Outbound>>) -> Vec<ConnId> {
        let mut hello_timed_out = Vec::new();
        for conn in self.due(now) {
            let Some(outbound) = conns.get(&conn) else { continue };
            let next = match check(outbound, now, conn) {
                Verdict::Next(next) => next,
                Verdict::HelloTimedOut(next) => {
                    hello_timed_out.push(conn);
                    next
                }
            };
            if let Some(at) = next {
                self.schedule(conn, at);
            }
        }
        hello_timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_due_in_the_first_tick_at_or_after_its_deadline() {
        let sweeper = Sweeper::default();
        let t0 = sweeper.epoch;
        sweeper.schedule(1, t0 + TICK / 2);
        sweeper.schedule(2, t0 + TICK * 3);
        sweeper.schedule(3, t0 + TICK);
        assert!(sweeper.due(t0).is_empty(), "nothing fires early");
        assert_eq!(sweeper.due(t0 + TICK), [1, 3]);
        assert!(sweeper.due(t0 + TICK * 2).is_empty());
        assert_eq!(sweeper.due(t0 + TICK * 5), [2], "a late sweep takes every tick it missed");
        assert!(sweeper.is_empty());
    }
}
