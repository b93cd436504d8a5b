//! Binding listeners. Every shard gets its own TCP listening socket per endpoint, all bound to the same
//! address with `SO_REUSEPORT`, so the kernel spreads incoming connections over the shards. They are
//! bound up front on the starting thread so that a bad address fails start-up with a clear error, and so
//! that port 0 resolves to one port shared by every shard.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` listening sockets to `addr` with `SO_REUSEPORT`; returns them and the bound address.
pub fn bind_tcp(
    addr: SocketAddr,
    count: usize,
    backlog: i32,
) -> std::io::Result<(Vec<TcpListener>, SocketAddr)> {
    if addr.port() != 0 {
        refuse_if_taken(addr)?;
    }
    let mut listeners = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(bound), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nodelay(true)?;
        socket.bind(&bound.into())?;
        socket.listen(backlog)?;
        let listener: TcpListener = socket.into();
        bound = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok((listeners, bound))
}

/// Binds a glommio Unix listening socket at `path`, replacing a stale socket file left by an earlier run.
pub fn bind_unix(path: &Path) -> std::io::Result<glommio::net::UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    glommio::net::UnixListener::bind(path).map_err(|e| std::io::Error::other(e.to_string()))
}

/// Fails with `AddrInUse` if another socket listens on `addr`. Without this check, a second router (or any
/// process of the same user) listening with `SO_REUSEPORT` would silently get half of the connections.
fn refuse_if_taken(addr: SocketAddr) -> std::io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_refused_even_with_reuseport() {
        let (_held, addr) = bind_tcp("127.0.0.1:0".parse().unwrap(), 2, 16).unwrap();
        let err = bind_tcp(addr, 2, 16).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }
}
