//! A connection's outbound side: the queue of encoded messages the router produced for it, and the writer
//! task that frames them for the transport and writes them in batches (one syscall for many messages).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncWrite, AsyncWriteExt};
use tracing::warn;

use crate::transport::{self, Framing};
use crate::wamp::codec::Serializer;

use super::queue::{Queue, Signal};

/// Something to write to a connection.
#[derive(Debug)]
pub enum OutFrame {
    /// An encoded WAMP message, framed by the writer.
    Message(Bytes),
    /// Bytes already framed by the transport (pong, close).
    Raw(Bytes),
}

/// The outbound side of one connection, shared by its reader task, its writer task and the router.
#[derive(Default)]
pub struct Outbound {
    pub queue: Queue<OutFrame>,
    /// Set once the writer stopped (all flushed after close, or the peer is gone).
    pub finished: Signal,
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
    let mut batch = BytesMut::with_capacity(16 * 1024);
    let mut items = VecDeque::new();
    while outbound.queue.ready().await {
        outbound.queue.take_all(&mut items);
        for item in items.drain(..) {
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
        if writer.write_all(&batch).await.is_err() {
            break;
        }
        batch.clear();
        if batch.capacity() > BATCH_KEEP {
            batch = BytesMut::with_capacity(16 * 1024);
        }
    }
    let _ = writer.close().await;
    outbound.finished.set();
}
