//! The I/O side: one pinned glommio executor per core (a *shard*), each with its own listeners, its own
//! sessions and its own [`ShardRouter`]; shards exchange batches of [`PeerMessage`]s over glommio's
//! lock-free channel mesh.

mod connection;
mod connection_gate;
mod core;
mod listener;
mod liveness;
mod outbound;
mod queue;
mod split;

use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::channels::channel_mesh::{Full, MeshBuilder};
use glommio::{CpuSet, ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use tracing::{info, warn};

use crate::auth::TransportInfo;
use crate::config::{Config, EndpointKind, Limits};
use crate::router::{Registry, ShardRouter};

use self::connection::Endpoint;
use self::connection_gate::ConnectionGate;
use self::core::{PeerBatch, ShardCore};

/// Where an endpoint listens, once bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind endpoint {endpoint}: {source}")]
    Bind { endpoint: String, source: std::io::Error },
    #[error("cannot start shard executors: {0}")]
    Executor(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("endpoint {endpoint}: {source}")]
    Tls { endpoint: String, source: Box<crate::transport::tls::TlsSetupError> },
}

/// A listener handed to a shard (a TCP one with its endpoint's TLS configuration, if it has one).
enum ShardListener {
    Tcp(std::net::TcpListener, EndpointKind, Limits, Option<Arc<rustls::ServerConfig>>),
    Unix(PathBuf, EndpointKind, Limits),
}

/// A running router. Dropping it (or calling [`RouterHandle::stop`]) says GOODBYE to every session and
/// stops the shards.
pub struct RouterHandle {
    endpoints: Vec<BoundAddr>,
    registry: Arc<Registry>,
    /// Open connections, router-wide and per source address (`max_connections`, `max_connections_per_ip`).
    gate: Arc<ConnectionGate>,
    stop: Arc<AtomicBool>,
    shards: Vec<ExecutorJoinHandle<()>>,
}

impl RouterHandle {
    /// Binds every endpoint, starts the shards, and returns once all of them accept connections.
    pub fn start(config: Config) -> Result<RouterHandle, StartError> {
        let cpus: Vec<usize> = match CpuSet::online() {
            Ok(set) => set.into_iter().map(|l| l.cpu).collect(),
            Err(_) => Vec::new(),
        };
        let shards = config
            .cores
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let mut per_shard: Vec<Vec<ShardListener>> = (0..shards).map(|_| Vec::new()).collect();
        let mut endpoints = Vec::new();
        for (index, endpoint) in config.endpoints.iter().enumerate() {
            let limits = config.limits.for_endpoint(endpoint);
            if let Some(addr) = endpoint.listen {
                // Certificates and keys are read once, here; every shard shares the endpoint's config.
                let tls = endpoint.tls.as_ref().map(crate::transport::tls::server_config).transpose();
                let tls =
                    tls.map_err(|e| StartError::Tls { endpoint: addr.to_string(), source: Box::new(e) })?;
                let (listeners, bound) = listener::bind_tcp(addr, shards, config.limits.listen_backlog)
                    .map_err(|source| StartError::Bind { endpoint: addr.to_string(), source })?;
                for (shard, l) in listeners.into_iter().enumerate() {
                    per_shard[shard].push(ShardListener::Tcp(l, endpoint.kind, limits.clone(), tls.clone()));
                }
                endpoints.push(BoundAddr::Tcp(bound));
            } else if let Some(path) = &endpoint.unix {
                // A Unix socket cannot be bound once per shard: one shard (chosen per endpoint) accepts on it.
                per_shard[index % shards].push(ShardListener::Unix(path.clone(), endpoint.kind, limits));
                endpoints.push(BoundAddr::Unix(path.clone()));
            }
        }

        let registry = Arc::new(Registry::new(config.realms.clone()).map_err(StartError::Config)?);
        let mesh: MeshBuilder<PeerBatch, Full> =
            MeshBuilder::full(shards, config.limits.mesh_channel_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(ConnectionGate::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
        ));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let mut handles = Vec::with_capacity(shards);
        for (shard, listeners) in per_shard.into_iter().enumerate() {
            let placement = match cpus.get(shard % cpus.len().max(1)) {
                Some(cpu) if !cpus.is_empty() => Placement::Fixed(*cpu),
                _ => Placement::Unbound,
            };
            let context = ShardContext {
                shard,
                shards,
                registry: registry.clone(),
                gate: gate.clone(),
                limits: config.limits.clone(),
                mesh: mesh.clone(),
                listeners,
                stop: stop.clone(),
                ready: ready_tx.clone(),
            };
            let handle = LocalExecutorBuilder::new(placement)
                .name(&format!("shard-{shard}"))
                .spin_before_park(Duration::from_micros(config.spin_before_park_us))
                .spawn(move || run_shard(context))
                .map_err(|e| StartError::Executor(e.to_string()))?;
            handles.push(handle);
        }
        drop(ready_tx);
        let mut router = RouterHandle { endpoints, registry, gate, stop, shards: handles };
        for _ in 0..shards {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(StartError::Executor(e)),
                Err(_) => {
                    // Every shard is gone: say why the first one that failed did (glommio's executor
                    // refuses to start when io_uring lacks locked memory, for one).
                    let why = router.shards.drain(..).find_map(|shard| shard.join().err());
                    let why = why.map_or("a shard exited during start-up".into(), |e| {
                        // glommio folds its memlock error into an I/O error; only its text names it.
                        let hint = if e.to_string().contains("MemLock") {
                            " (io_uring needs locked memory: raise `ulimit -l` to at least 512 KiB)"
                        } else {
                            ""
                        };
                        format!("a shard could not start: {e}{hint}")
                    });
                    return Err(StartError::Executor(why));
                }
            }
        }
        for endpoint in &router.endpoints {
            info!(?endpoint, shards, "listening");
        }
        Ok(router)
    }

    /// The bound address of every endpoint, in configuration order.
    pub fn endpoints(&self) -> &[BoundAddr] {
        &self.endpoints
    }

    /// The shard that serves session `session`, if it is live.
    pub fn session_shard(&self, session: crate::wamp::Id) -> Option<usize> {
        self.registry.session(session).map(|s| s.shard)
    }

    /// The router's counters of tripped limits.
    pub fn stats(&self) -> &crate::stats::Stats {
        &self.registry.stats
    }

    /// Number of open connections, router-wide (those refused at a connection limit are not counted).
    pub fn connection_count(&self) -> usize {
        self.gate.open()
    }

    /// Number of live sessions, router-wide.
    pub fn session_count(&self) -> usize {
        self.registry.session_count()
    }

    /// Says GOODBYE to every session, waits briefly for replies, and stops the shards.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Blocks until the shards exit (after [`RouterHandle::request_stop`] from another thread or a signal).
    pub fn wait(mut self) {
        for handle in self.shards.drain(..) {
            let _ = handle.join();
        }
    }

    /// Asks the shards to stop; returns at once.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// A flag that stops the router when set (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    fn shutdown(&mut self) {
        self.request_stop();
        let stopped = !self.shards.is_empty();
        for handle in self.shards.drain(..) {
            let _ = handle.join();
        }
        let tripped = self.registry.stats.nonzero();
        if stopped && !tripped.is_empty() {
            info!(?tripped, "limits tripped while running");
        }
    }
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What one shard starts with.
struct ShardContext {
    shard: usize,
    shards: usize,
    registry: Arc<Registry>,
    gate: Arc<ConnectionGate>,
    limits: crate::config::Limits,
    mesh: MeshBuilder<PeerBatch, Full>,
    listeners: Vec<ShardListener>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<(), String>>,
}

async fn run_shard(context: ShardContext) {
    let ShardContext { shard, shards, registry, gate, limits, mesh, listeners, stop, ready } = context;
    let (senders, mut receivers) = match mesh.join().await {
        Ok(pair) => pair,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {shard} could not join the mesh: {e}")));
            return;
        }
    };
    let router = ShardRouter::new(shard, shards, registry.clone());
    let core = Rc::new(ShardCore::new(shard, shards, router, limits));

    glommio::spawn_local({
        let core = core.clone();
        async move { core.run_call_timer().await }
    })
    .detach();
    glommio::spawn_local({
        let core = core.clone();
        async move { core.run_sweeper().await }
    })
    .detach();
    let senders = Rc::new(senders);
    let mut tasks = Vec::new();
    for peer in (0..shards).filter(|p| *p != shard) {
        let (core, senders) = (core.clone(), senders.clone());
        tasks.push(glommio::spawn_local(async move {
            while let Some(batch) = core.next_peer_batch(peer).await {
                if senders.send_to(peer, batch).await.is_err() {
                    break;
                }
            }
        }));
    }
    for (peer, receiver) in receivers.streams() {
        let core = core.clone();
        glommio::spawn_local(async move {
            while let Some(batch) = receiver.recv().await {
                core.handle_peer_batch(peer, batch);
            }
        })
        .detach();
    }
    let endpoint = |kind, limits, tls: Option<Arc<rustls::ServerConfig>>| {
        let tls = tls.map(futures_rustls::TlsAcceptor::from);
        Rc::new(Endpoint { kind, limits, gate: gate.clone(), registry: registry.clone(), tls })
    };
    for listener in listeners {
        match listener {
            ShardListener::Tcp(l, kind, limits, tls) => {
                // SAFETY: `into_raw_fd` hands over sole ownership of a bound, listening TCP socket; glommio
                // takes it over and closes it on drop. glommio offers no safe constructor from a socket
                // configured elsewhere (backlog, SO_REUSEPORT on every shard's socket before any listens).
                let l = unsafe {
                    <glommio::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(l.into_raw_fd())
                };
                let (core, endpoint) = (core.clone(), endpoint(kind, limits, tls));
                glommio::spawn_local(async move {
                    let accept = || async {
                        let stream = l.accept().await?;
                        let _ = stream.set_nodelay(true);
                        let peer = stream.peer_addr().ok();
                        Ok((stream, peer))
                    };
                    accept_loop(core, endpoint, accept).await
                })
                .detach();
            }
            ShardListener::Unix(path, kind, limits) => match listener::bind_unix(&path) {
                Ok(l) => {
                    let (core, endpoint) = (core.clone(), endpoint(kind, limits, None));
                    // A Unix socket peer has no IP address: it counts towards the total only.
                    glommio::spawn_local(async move {
                        let accept = || async { Ok((l.accept().await?, None)) };
                        accept_loop(core, endpoint, accept).await
                    })
                    .detach();
                }
                Err(e) => {
                    let _ = ready.send(Err(format!("cannot bind {}: {e}", path.display())));
                    return;
                }
            },
        }
    }
    let _ = ready.send(Ok(()));

    while !stop.load(Ordering::SeqCst) {
        glommio::timer::sleep(Duration::from_millis(25)).await;
    }
    core.stopping.set();
    core.with_router(|router, out| router.shutdown(out));
    let deadline = std::time::Instant::now() + Duration::from_secs(core.limits.shutdown_grace_secs);
    while core.live_connections() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    core.close_peers();
    for task in tasks {
        task.await;
    }
}

/// Accepts connections until the shard stops, and serves each one on this shard. Each connection takes
/// its place at the connection gate as it is accepted; one refused there is still served, but only with
/// its protocol's refusal (see [`connection::serve`]).
async fn accept_loop<S, F, Fut>(core: Rc<ShardCore>, endpoint: Rc<Endpoint>, accept: F)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = glommio::Result<(S, Option<SocketAddr>), ()>>,
{
    loop {
        let accepted = futures_lite::future::or(async { Some(accept().await) }, async {
            core.stopping.wait().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, peer))) => {
                let admission = endpoint.gate.admit(peer.map(|a| a.ip()));
                let transport = TransportInfo { peer, tls: None };
                let serve = connection::serve(core.clone(), stream, transport, endpoint.clone(), admission);
                glommio::spawn_local(serve).detach();
            }
            Some(Err(e)) => {
                warn!(shard = core.shard, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
