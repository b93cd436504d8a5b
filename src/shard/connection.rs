//! One accepted connection, from transport handshake to close: the reader loop feeds decoded frames to the
//! shard's router; a writer task drains the connection's outbound queue. The session never leaves the
//! shard that accepted it.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite};
use tracing::{debug, info};

use crate::config::{EndpointKind, Limits};
use crate::router::ConnLimits;
use crate::transport::{self, accept, Decoder, Framing, Incoming, TransportError, TransportLimits};

use super::core::ShardCore;
use super::outbound::{write_loop, OutFrame, Outbound};
use super::split::split;

/// How many bytes a read may add to the connection's buffer: it grows while reads fill it and shrinks back
/// when they do not, so a quiet connection does not zero 64 KiB for every read.
const READ_CHUNK_MIN: usize = 4 * 1024;
const READ_CHUNK_MAX: usize = 64 * 1024;
/// How long a closing connection may take to flush what is queued for it.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Serves one connection until it closes.
pub async fn serve<S>(core: Rc<ShardCore>, mut stream: S, kind: EndpointKind, limits: Rc<Limits>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let transport_limits = TransportLimits {
        max_message_size: limits.max_message_size,
        max_handshake_size: limits.max_handshake_size,
    };
    let (universal, only) = match kind {
        EndpointKind::Universal => (true, Framing::WebSocket),
        EndpointKind::WebSocket => (false, Framing::WebSocket),
        EndpointKind::RawSocket => (false, Framing::RawSocket),
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK_MIN);
    let timeout = Duration::from_secs(limits.handshake_timeout_secs);
    let handshake = accept::handshake(&mut stream, &mut buf, universal, only, &transport_limits);
    let accepted = match glommio::timer::timeout(timeout, async { Ok(handshake.await) }).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(e)) => return debug!(shard = core.shard, error = %e, "transport handshake failed"),
        Err(_) => return debug!(shard = core.shard, "transport handshake timed out"),
    };
    let (framing, serializer, max_outbound) = (accepted.framing, accepted.serializer, accepted.max_outbound);

    let outbound = Rc::new(Outbound::new(limits.max_outbound_bytes, limits.slow_consumer));
    let conn_limits = ConnLimits { max_outbound, max_nesting_depth: limits.max_nesting_depth };
    let conn = core.open(serializer, conn_limits, outbound.clone());
    glommio::spawn_local({
        let core = core.clone();
        async move {
            glommio::timer::sleep(timeout).await;
            core.with_router(|router, out| router.hello_timeout(conn, out));
        }
    })
    .detach();
    let (mut reader, writer) = split(stream);
    let writer_task = glommio::spawn_local({
        let outbound = outbound.clone();
        async move { write_loop(writer, &outbound, framing, serializer, max_outbound).await }
    });

    let mut decoder = Decoder::new(framing, transport_limits.max_message_size);
    let mut chunk = READ_CHUNK_MIN;
    'connection: loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Incoming::Message(frame))) => core.handle_frame(conn, frame),
                Ok(Some(Incoming::Ping(payload))) => {
                    let mut pong = BytesMut::new();
                    transport::encode_pong(framing, &payload, &mut pong);
                    outbound.push(OutFrame::Raw(pong.freeze()));
                }
                Ok(Some(Incoming::Pong(_))) => {}
                Ok(Some(Incoming::Close { .. })) => {
                    fail_transport(&outbound, framing, 1000, "");
                    break 'connection;
                }
                Ok(None) => break,
                Err(e) => {
                    debug!(shard = core.shard, conn, error = %e, "transport failed");
                    let (code, reason) = match &e {
                        TransportError::TooBig { .. } => (1009, "message too big"),
                        _ => (1002, "protocol error"),
                    };
                    fail_transport(&outbound, framing, code, reason);
                    break 'connection;
                }
            }
            if outbound.is_closed() {
                break 'connection;
            }
        }
        if outbound.is_closed() {
            break;
        }
        // Inbound backpressure: a connection that does not read its own answers is not read from either.
        outbound.wait_for_room().await;
        let start = buf.len();
        buf.resize(start + chunk, 0);
        let read = futures_lite::future::or(async { Some(reader.read(&mut buf[start..]).await) }, async {
            outbound.finished.wait().await;
            None
        })
        .await;
        match read {
            Some(Ok(n)) if n > 0 => {
                buf.truncate(start + n);
                chunk = if n == chunk { (chunk * 2).min(READ_CHUNK_MAX) } else { READ_CHUNK_MIN };
            }
            _ => break,
        }
    }

    core.closed(conn);
    outbound.close();
    if outbound.dropped_events() > 0 {
        info!(
            shard = core.shard,
            conn,
            dropped = outbound.dropped_events(),
            "events dropped for a slow consumer"
        );
    }
    if outbound.overflowed() {
        return; // dropping the writer task cancels a write blocked on a peer that does not read
    }
    let _ = glommio::timer::timeout(FLUSH_GRACE, async {
        writer_task.await;
        Ok(())
    })
    .await;
}

/// Ends the transport: a WebSocket close frame with `code` (RawSocket has none), then close.
fn fail_transport(outbound: &Outbound, framing: Framing, code: u16, reason: &str) {
    let mut close = BytesMut::new();
    transport::encode_close(framing, code, reason, &mut close);
    if !close.is_empty() {
        outbound.push(OutFrame::Raw(close.freeze()));
    }
    outbound.close();
}
