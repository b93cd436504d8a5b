//! The state one shard's tasks share: its router, the outbound queues of its connections, and its outboxes
//! towards the other shards. Everything here is touched only by this shard's thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ahash::AHashMap;
use bytes::Bytes;

use crate::auth::TransportInfo;
use crate::config::Limits;
use crate::router::{ConnId, ConnLimits, Effect, Outbox, PeerMessage, ShardRouter};
use crate::wamp::codec::Serializer;

use super::connection::READ_SCRATCH;
use super::liveness::{Sweeper, TICK};
use super::outbound::{OutFrame, Outbound};
use super::queue::{Notify, Queue, Signal};

/// Messages for one other shard, sent over the mesh in batches.
pub type PeerBatch = Vec<PeerMessage>;

pub struct ShardCore {
    pub shard: usize,
    pub router: RefCell<ShardRouter>,
    pub limits: Limits,
    conns: RefCell<AHashMap<ConnId, Rc<Outbound>>>,
    /// One outbox per shard (this shard's own slot stays unused).
    peers: Vec<Queue<PeerMessage>>,
    scratch: RefCell<Outbox>,
    /// Set when the router is stopping: stop accepting, say GOODBYE.
    pub stopping: Signal,
    live_connections: Cell<usize>,
    /// Wakes the call timer when the first call with a timeout is made.
    call_timer: Notify,
    call_timer_idle: Cell<bool>,
    /// The connections' HELLO, ping and idle deadlines.
    sweeper: Sweeper,
    /// Wakes the sweeper when it has something to watch again.
    sweeper_wake: Notify,
    /// What every connection of this shard reads into (see `connection::read_into`).
    pub read_scratch: RefCell<Box<[u8]>>,
}

/// The longest the call timer sleeps while calls with a timeout are pending: a call made meanwhile with
/// a shorter timeout is ended at most this late.
const CALL_TIMER_TICK: Duration = Duration::from_millis(50);

impl ShardCore {
    pub fn new(shard: usize, shards: usize, router: ShardRouter, limits: Limits) -> ShardCore {
        ShardCore {
            shard,
            router: RefCell::new(router),
            limits,
            conns: RefCell::new(AHashMap::new()),
            peers: (0..shards).map(|_| Queue::default()).collect(),
            scratch: RefCell::new(Outbox::default()),
            stopping: Signal::default(),
            live_connections: Cell::new(0),
            call_timer: Notify::default(),
            call_timer_idle: Cell::new(false),
            sweeper: Sweeper::default(),
            sweeper_wake: Notify::default(),
            read_scratch: RefCell::new(vec![0; READ_SCRATCH].into_boxed_slice()),
        }
    }

    /// Registers a connection's outbound side with the router; returns its id.
    pub fn open(
        &self,
        serializer: Serializer,
        limits: ConnLimits,
        transport: TransportInfo,
        outbound: Rc<Outbound>,
    ) -> ConnId {
        let conn = self.router.borrow_mut().open(serializer, limits, transport);
        if self.sweeper.is_empty() {
            self.sweeper_wake.notify();
        }
        self.sweeper.schedule(conn, outbound.liveness.first_deadline());
        self.conns.borrow_mut().insert(conn, outbound);
        self.live_connections.set(self.live_connections.get() + 1);
        conn
    }

    /// The connection's transport is gone.
    pub fn closed(&self, conn: ConnId) {
        self.with_router(|router, out| router.closed(conn, out));
        self.conns.borrow_mut().remove(&conn);
        self.live_connections.set(self.live_connections.get() - 1);
    }

    pub fn live_connections(&self) -> usize {
        self.live_connections.get()
    }

    /// One inbound WAMP message from a connection.
    pub fn handle_frame(&self, conn: ConnId, frame: Bytes) {
        self.with_router(|router, out| router.handle_frame(conn, frame, out));
    }

    /// A batch of messages from another shard.
    pub fn handle_peer_batch(&self, from: usize, batch: PeerBatch) {
        self.with_router(|router, out| {
            for message in batch {
                router.handle_peer(from, message, out);
            }
        });
    }

    /// Runs `f` on the router, then carries out the effects it produced.
    pub fn with_router(&self, f: impl FnOnce(&mut ShardRouter, &mut Outbox)) {
        let mut out = self.scratch.borrow_mut();
        let mut router = self.router.borrow_mut();
        f(&mut router, &mut out);
        if self.call_timer_idle.get() && router.next_call_deadline().is_some() {
            self.call_timer_idle.set(false);
            self.call_timer.notify();
        }
        drop(router);
        let conns = self.conns.borrow();
        for effect in out.effects.drain(..) {
            match effect {
                Effect::Send(conn, frame) => {
                    if let Some(outbound) = conns.get(&conn) {
                        outbound.push(OutFrame::Message(frame));
                    }
                }
                Effect::Event(conn, frame) => {
                    if let Some(outbound) = conns.get(&conn) {
                        outbound.push_event(frame);
                    }
                }
                Effect::Close(conn) => {
                    if let Some(outbound) = conns.get(&conn) {
                        outbound.close();
                    }
                }
                Effect::Peer(shard, message) => self.peers[shard].push(message),
            }
        }
    }

    /// Ends calls whose timeout ran out (11.3); runs for the life of the shard.
    pub async fn run_call_timer(&self) {
        loop {
            let next = self.router.borrow().next_call_deadline();
            match next {
                None => {
                    self.call_timer_idle.set(true);
                    self.call_timer.wait().await;
                }
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now()).min(CALL_TIMER_TICK);
                    glommio::timer::sleep(wait).await;
                    self.with_router(|router, out| router.expire_calls(Instant::now(), out));
                }
            }
        }
    }

    /// Pings quiet connections, closes silent ones and aborts those without HELLO in time; runs for the life
    /// of the shard, waking once a tick while there is something to watch.
    pub async fn run_sweeper(&self) {
        loop {
            if self.sweeper.is_empty() {
                self.sweeper_wake.wait().await;
                continue;
            }
            glommio::timer::sleep(TICK).await;
            let hello_timed_out = self.sweeper.sweep(Instant::now(), &self.conns.borrow());
            for conn in hello_timed_out {
                self.with_router(|router, out| router.hello_timeout(conn, out));
            }
        }
    }

    /// Waits for messages bound for `shard` and takes them all as one batch; `None` when stopping.
    pub async fn next_peer_batch(&self, shard: usize) -> Option<PeerBatch> {
        let queue = &self.peers[shard];
        if !queue.ready().await {
            return None;
        }
        let mut items = VecDeque::new();
        queue.take_all(&mut items);
        Some(items.into())
    }

    /// Stops the cross-shard forwarders once their outboxes are drained.
    pub fn close_peers(&self) {
        for queue in &self.peers {
            queue.close();
        }
    }
}
