//! One accepted connection, from transport handshake to close: the reader loop feeds decoded frames to the
//! shard's router; a writer task drains the connection's outbound queue; the shard's sweeper
//! ([`super::liveness`]) pings a quiet peer and closes a silent one. The session never leaves the shard
//! that accepted it.
//!
//! Memory per connection is what bounds how many sessions a router holds, so an idle connection keeps no
//! buffers: reads go through the shard's scratch buffer, the writer allocates its batch only while it has
//! something to write, and the rarely taken branches (TLS, the handshake) are boxed so that the
//! connection's task does not carry their state for its whole life.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::auth::TransportInfo;
use crate::config::{EndpointKind, Limits};
use crate::router::{ConnLimits, Registry};
use crate::stats::Counter;
use crate::transport::{self, accept, tls, Decoder, Framing, Incoming, TransportError, TransportLimits};

use super::connection_gate::{ConnectionGate, GateGuard, Refusal};
use super::core::ShardCore;
use super::liveness::{Deadlines, Liveness};
use super::outbound::{write_loop, OutFrame, Outbound};
use super::split::split;

/// What a listener's connections share: the endpoint's kind and limits, the router-wide connection gate
/// and counters.
pub struct Endpoint {
    pub kind: EndpointKind,
    /// The limits of this endpoint (the global ones with its overrides).
    pub limits: Limits,
    pub gate: Arc<ConnectionGate>,
    /// The router-wide registry, for its counters (`registry.stats`).
    pub registry: Arc<Registry>,
    /// Set on a TLS endpoint: every connection starts with a TLS handshake.
    pub tls: Option<TlsAcceptor>,
}

/// The size of the shard's read scratch buffer: the most one read takes in.
pub const READ_SCRATCH: usize = 64 * 1024;
/// How long a closing connection may take to flush what is queued for it.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Serves one connection until it closes. `admission` is the connection's place at the connection gate
/// (released when this returns), or why it has none: then it only gets the refusal its protocol defines,
/// or, on a TLS endpoint, is closed at once (no TLS handshake is spent on a connection that is refused).
///
/// On a TLS endpoint the TLS handshake comes first, and it and the WAMP transport handshake together must
/// finish within `handshake_timeout_secs`. Only TLS connections are wrapped: a plain one is served on its
/// own stream type.
pub async fn serve<S>(
    core: Rc<ShardCore>,
    mut stream: S,
    transport: TransportInfo,
    endpoint: Rc<Endpoint>,
    admission: Result<GateGuard, Refusal>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (limits, stats) = (&endpoint.limits, &endpoint.registry.stats);
    let timeout = Duration::from_secs(limits.handshake_timeout_secs);
    let _place = match admission {
        Ok(place) => place,
        Err(refusal) => {
            stats.bump(refusal.counter());
            debug!(shard = core.shard, ?refusal, "connection refused at a connection limit");
            if endpoint.tls.is_some() {
                return; // closed without a TLS handshake: the refusal could only be sent over TLS
            }
            let (universal, only) = framings(endpoint.kind);
            let why = refusal.describe();
            let refuse =
                Box::pin(accept::refuse_busy(&mut stream, universal, only, why, limits.max_handshake_size));
            let _ = glommio::timer::timeout(timeout, async { Ok(refuse.await) }).await;
            return;
        }
    };
    let Some(acceptor) = &endpoint.tls else {
        return run(core, stream, transport, &endpoint, timeout).await;
    };
    // Boxed: a plain connection's task does not carry room for rustls' state all its life.
    Box::pin(serve_tls(core, stream, transport, &endpoint, acceptor, timeout)).await
}

/// Serves an admitted connection on a TLS endpoint: the TLS handshake, then [`run`] over TLS, both within
/// `timeout` together.
async fn serve_tls<S>(
    core: Rc<ShardCore>,
    stream: S,
    mut transport: TransportInfo,
    endpoint: &Endpoint,
    acceptor: &TlsAcceptor,
    timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let stats = &endpoint.registry.stats;
    let started = Instant::now();
    let handshake = acceptor.accept(stream);
    match glommio::timer::timeout(timeout, async { Ok(handshake.await) }).await {
        Ok(Ok(stream)) => {
            transport.tls = Some(Box::new(tls::tls_info(stream.get_ref().1)));
            let left = timeout.saturating_sub(started.elapsed());
            run(core, stream, transport, endpoint, left).await
        }
        // Closed before the handshake completed, without a TLS error: a port probe, a health check, or a
        // client that gave up (a client that rejects the certificate says so with an alert: counted).
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            debug!(shard = core.shard, error = %e, "connection closed during the TLS handshake")
        }
        Ok(Err(e)) => {
            stats.bump(Counter::TlsHandshakesFailed);
            debug!(shard = core.shard, error = %e, "TLS handshake failed")
        }
        Err(_) => {
            stats.bump(Counter::TlsHandshakesFailed);
            debug!(shard = core.shard, "TLS handshake timed out")
        }
    }
}

/// Whether an endpoint of `kind` tells WebSocket and RawSocket apart, and the framing it speaks if not.
fn framings(kind: EndpointKind) -> (bool, Framing) {
    match kind {
        EndpointKind::Universal => (true, Framing::WebSocket),
        EndpointKind::WebSocket => (false, Framing::WebSocket),
        EndpointKind::RawSocket => (false, Framing::RawSocket),
    }
}

/// Serves an admitted connection (after TLS, if any): the WAMP transport handshake within
/// `handshake_timeout`, then the session until the connection closes.
async fn run<S>(
    core: Rc<ShardCore>,
    mut stream: S,
    transport: TransportInfo,
    endpoint: &Endpoint,
    handshake_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (limits, stats) = (&endpoint.limits, &endpoint.registry.stats);
    let transport_limits = TransportLimits {
        max_message_size: limits.max_message_size,
        max_handshake_size: limits.max_handshake_size,
    };
    let (universal, only) = framings(endpoint.kind);
    let timeout = Duration::from_secs(limits.handshake_timeout_secs);
    let mut buf = BytesMut::new();
    // Boxed: its state is needed only until the handshake is done.
    let handshake = Box::pin(accept::handshake(&mut stream, &mut buf, universal, only, &transport_limits));
    let accepted = match glommio::timer::timeout(handshake_timeout, async { Ok(handshake.await) }).await {
        Ok(Ok(accepted)) => accepted,
        // Closed before sending a byte: no handshake was attempted (a port probe, a health check).
        Ok(Err(TransportError::Closed)) => return,
        Ok(Err(e)) => {
            stats.bump(Counter::HandshakesFailed);
            return debug!(shard = core.shard, error = %e, "transport handshake failed");
        }
        Err(_) => {
            stats.bump(Counter::HandshakesFailed);
            return debug!(shard = core.shard, "transport handshake timed out");
        }
    };
    let (framing, serializer, max_outbound) = (accepted.framing, accepted.serializer, accepted.max_outbound);

    let liveness = Liveness::new(Deadlines::new(limits), framing, timeout);
    let outbound = Rc::new(Outbound::new(
        limits.max_outbound_bytes,
        limits.slow_consumer,
        endpoint.registry.clone(),
        liveness,
    ));
    let conn_limits =
        ConnLimits { max_outbound, max_nesting_depth: limits.max_nesting_depth, join_timeout: timeout };
    let conn = core.open(serializer, conn_limits, transport, outbound.clone());
    let (mut reader, writer) = split(stream);
    let writer_task = glommio::spawn_local({
        let outbound = outbound.clone();
        async move { write_loop(writer, &outbound, framing, serializer, max_outbound).await }
    });
    // Ends a wait of the reader when the connection must end without it: the writer stopped (peer gone,
    // overflow), or the connection was closed from elsewhere (the idle timeout, a timer, another shard).
    let interrupted = || futures_lite::future::or(outbound.finished.wait(), outbound.closed.wait());

    let mut decoder = Decoder::new(framing, transport_limits.max_message_size);
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
                        TransportError::TooBig { .. } => {
                            stats.bump(Counter::MessagesTooBig);
                            (1009, "message too big")
                        }
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
        // While it reads what is queued for it, it is not idle.
        let room = async {
            outbound.wait_for_room(|| outbound.liveness.touch()).await;
            true
        };
        if !futures_lite::future::or(room, async {
            interrupted().await;
            false
        })
        .await
        {
            break;
        }
        // Nothing half-read: give the buffer back (its frames keep what they share of it), so an idle
        // connection holds no read buffer.
        if buf.is_empty() {
            buf = BytesMut::new();
        }
        let read = futures_lite::future::or(
            async { Some(read_into(&mut reader, &core.read_scratch, &mut buf).await) },
            async {
                interrupted().await;
                None
            },
        )
        .await;
        match read {
            Some(Ok(n)) if n > 0 => outbound.liveness.touch(),
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
    // The writer flushes what is queued, for at most FLUSH_GRACE; it stops at once after an overflow.
    let give_up = async {
        glommio::timer::sleep(FLUSH_GRACE).await;
        outbound.abandon();
        std::future::pending::<()>().await
    };
    futures_lite::future::or(writer_task, give_up).await;
}

/// Reads what the stream has (at most [`READ_SCRATCH`] bytes) into the shard's scratch buffer and appends
/// it to `buf`. Connections own no read buffer while they wait: `buf` holds only a frame's unread part.
/// The scratch is borrowed for one poll at a time, never across a wait.
fn read_into<'a, R: AsyncRead + Unpin>(
    reader: &'a mut R,
    scratch: &'a RefCell<Box<[u8]>>,
    buf: &'a mut BytesMut,
) -> impl Future<Output = std::io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| {
        let mut scratch = scratch.borrow_mut();
        let n = std::task::ready!(Pin::new(&mut *reader).poll_read(cx, &mut scratch))?;
        buf.extend_from_slice(&scratch[..n]);
        Poll::Ready(Ok(n))
    })
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
