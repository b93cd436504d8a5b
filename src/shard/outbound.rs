//! A connection's outbound side: the byte-bounded queue of encoded messages the router produced for it,
//! and the writer task that frames them for the transport and writes them in batches (one syscall for
//! many messages). A connection that does not read fast enough hits the bound and gets the configured
//! slow-consumer policy; it never makes the router grow without limit. The writer holds its batch buffer
//! only while it has something to write: an idle connection keeps none.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::config::SlowConsumerPolicy;
use crate::router::Registry;
use crate::stats::{Counter, Stats};
use crate::transport::{self, Framing};
use crate::wamp::codec::Serializer;

use super::liveness::Liveness;
use super::queue::{Notify, Queue, Signal};

/// Something to write to a connection.
#[derive(Debug)]
pub enum OutFrame {
    /// An encoded WAMP message, framed by the writer.
    Message(Bytes),
    /// Bytes already framed by the transport (pong, close).
    Raw(Bytes),
}

impl OutFrame {
    fn len(&self) -> usize {
        match self {
            OutFrame::Message(b) | OutFrame::Raw(b) => b.len(),
        }
    }
}

/// The outbound side of one connection, shared by its reader task, its writer task, the router and the
/// shard's sweeper (which also keeps the connection's [`Liveness`] here, saving an allocation).
pub struct Outbound {
    queue: Queue<OutFrame>,
    /// Bytes queued and not yet written.
    queued: Cell<usize>,
    limit: usize,
    policy: SlowConsumerPolicy,
    /// EVENTs dropped under `SlowConsumerPolicy::DropEvents`.
    dropped_events: Cell<u64>,
    /// The queue overflowed and the connection is being dropped: nothing more is written.
    overflowed: Cell<bool>,
    /// Set once the writer stopped (all flushed after close, the peer is gone, or overflow).
    pub finished: Signal,
    /// Set once nothing more will be queued: wakes a reader waiting on a peer that sends nothing, when the
    /// close came from elsewhere (a timer, another shard).
    pub closed: Signal,
    /// Tells the writer to stop at once, even in the middle of a write to a peer that does not read (the
    /// writer ends on its own: cancelling a glommio task blocked on I/O or a timer leaks the task).
    stop: Signal,
    /// Woken whenever the writer wrote a batch (for readers pausing on a full queue).
    written: Notify,
    /// Where slow-consumer disconnects and dropped events are counted (`registry.stats`).
    registry: Arc<Registry>,
    /// When the peer was last heard from, and its ping, idle and HELLO deadlines.
    pub liveness: Liveness,
}

impl Outbound {
    pub fn new(
        limit: usize,
        policy: SlowConsumerPolicy,
        registry: Arc<Registry>,
        liveness: Liveness,
    ) -> Outbound {
        Outbound {
            queue: Queue::default(),
            queued: Cell::new(0),
            limit,
            policy,
            dropped_events: Cell::new(0),
            overflowed: Cell::new(false),
            finished: Signal::default(),
            closed: Signal::default(),
            stop: Signal::default(),
            written: Notify::default(),
            registry,
            liveness,
        }
    }

    /// Queues a message the peer must get; a full queue drops the connection.
    pub fn push(&self, frame: OutFrame) {
        if self.is_closed() {
            return; // the last frame (a close frame) is already queued
        }
        if self.fits(frame.len()) {
            self.enqueue(frame);
        } else {
            self.overflow();
        }
    }

    /// Queues an EVENT; a full queue drops the event or the connection, as the policy says.
    pub fn push_event(&self, frame: Bytes) {
        if self.is_closed() {
            return;
        }
        if self.fits(frame.len()) {
            self.enqueue(OutFrame::Message(frame));
        } else if self.policy == SlowConsumerPolicy::DropEvents {
            self.dropped_events.set(self.dropped_events.get() + 1);
            self.registry.stats.bump(Counter::EventsDropped);
        } else {
            self.overflow();
        }
    }

    /// Queues a control frame (a ping) if it fits; a full queue drops the frame, not the connection.
    pub fn try_push(&self, frame: OutFrame) -> bool {
        let fits = self.fits(frame.len()) && !self.is_closed();
        if fits {
            self.enqueue(frame);
        }
        fits
    }

    /// A message always fits an empty queue (it is bounded by the message size limit on its own).
    fn fits(&self, len: usize) -> bool {
        !self.overflowed.get() && (self.queued.get() == 0 || self.queued.get() + len <= self.limit)
    }

    fn enqueue(&self, frame: OutFrame) {
        self.queued.set(self.queued.get() + frame.len());
        self.queue.push(frame);
    }

    fn overflow(&self) {
        if self.overflowed.replace(true) {
            return;
        }
        info!(
            queued = self.queued.get(),
            limit = self.limit,
            "slow consumer: outbound queue full, disconnecting"
        );
        self.registry.stats.bump(Counter::SlowConsumersDisconnected);
        self.queue.close();
        self.finished.set();
        self.stop.set();
    }

    /// Gives up on flushing (the peer took too long): the writer stops now.
    pub fn abandon(&self) {
        self.queue.close();
        self.stop.set();
    }

    /// No more messages: the writer flushes what is queued, then stops.
    pub fn close(&self) {
        self.queue.close();
        self.closed.set();
    }

    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    pub fn stats(&self) -> &Stats {
        &self.registry.stats
    }

    pub fn dropped_events(&self) -> u64 {
        self.dropped_events.get()
    }

    /// Waits while more than half the queue bound is waiting to be written (inbound backpressure: a
    /// session that does not read its own answers is not read from either). `progress` runs whenever the
    /// writer got a batch out meanwhile: the peer is reading, so it is alive even though it is not read.
    pub async fn wait_for_room(&self, progress: impl Fn()) {
        while self.queued.get() > self.limit / 2 && !self.finished.is_set() {
            self.written.wait().await;
            progress();
        }
    }
}

/// Writes everything queued on `outbound` until the queue is closed and drained, or a write fails.
pub async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    outbound: &Outbound,
    framing: Framing,
    serializer: Serializer,
    max_outbound: usize,
) {
    const BATCH_KEEP: usize = 256 * 1024;
    let mut batch = BytesMut::new();
    let mut items = VecDeque::new();
    while outbound.queue.ready().await && !outbound.stop.is_set() {
        outbound.queue.take_all(&mut items);
        let mut taken = 0;
        for item in items.drain(..) {
            taken += item.len();
            match item {
                // The peer announced it cannot take more (RawSocket max length): never send a broken frame.
                OutFrame::Message(message) if message.len() > max_outbound => {
                    warn!(len = message.len(), max_outbound, "message larger than the peer accepts; dropped");
                }
                OutFrame::Message(message) => {
                    transport::encode_message(framing, serializer, &message, &mut batch)
                }
                OutFrame::Raw(raw) => batch.extend_from_slice(&raw),
            }
        }
        // The flush is what sends a TLS stream's last records (rustls keeps what the socket did not take);
        // on a plain socket it does nothing.
        let write = async { writer.write_all(&batch).await.is_ok() && writer.flush().await.is_ok() };
        let written = futures_lite::future::or(write, async {
            outbound.stop.wait().await;
            false
        })
        .await;
        if !written {
            break;
        }
        outbound.queued.set(outbound.queued.get() - taken);
        outbound.written.notify();
        // Kept for the next batch while more is queued (a busy connection does not allocate per batch);
        // given back when the queue is empty or it grew large.
        batch.clear();
        if outbound.queue.is_empty() || batch.capacity() > BATCH_KEEP {
            batch = BytesMut::new();
            items = VecDeque::new();
        }
    }
    if !outbound.stop.is_set() {
        let _ = writer.close().await;
    }
    outbound.finished.set();
    outbound.written.notify();
}
