//! The router-wide count of open connections, in total and per source IP address
//! (`limits.max_connections`, `limits.max_connections_per_ip`). Created once by `RouterHandle::start` and
//! shared by every shard; a connection is admitted when it is accepted (before its handshake spends any
//! memory) and holds a [`GateGuard`] that gives its place back when the connection ends.
//!
//! Cost per connection: one compare-and-swap on the total, plus, only when a per-IP limit is set, one
//! entry of a sharded map on admission and on release. Nothing is touched while the connection runs.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::stats::Counter;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` connections are open router-wide.
    Total,
    /// `max_connections_per_ip` connections are open from this connection's source address.
    PerIp,
}

impl Refusal {
    /// The counter a refusal bumps.
    pub fn counter(self) -> Counter {
        match self {
            Refusal::Total => Counter::ConnectionsRefused,
            Refusal::PerIp => Counter::ConnectionsRefusedPerIp,
        }
    }

    /// A short explanation for the peer (HTTP 503 body) and the log.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Total => "the router has reached its maximum connection count; try again later",
            Refusal::PerIp => "too many connections from your address; try again later",
        }
    }
}

/// Open connections, router-wide and per source IP address.
#[derive(Debug)]
pub struct ConnectionGate {
    max_total: usize,
    /// 0: no per-IP limit (and no per-IP bookkeeping).
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
}

impl ConnectionGate {
    /// A gate admitting at most `max_total` connections (0: any number), at most `max_per_ip` of them
    /// from one IP address (0: any number).
    pub fn new(max_total: usize, max_per_ip: usize) -> ConnectionGate {
        ConnectionGate {
            max_total: if max_total == 0 { usize::MAX } else { max_total },
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: DashMap::new(),
        }
    }

    /// Admits a connection from `ip` (`None` for a Unix socket, which only counts towards the total), or
    /// says which limit refuses it. The guard gives the place back when dropped.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<GateGuard, Refusal> {
        let max = self.max_total;
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .map_err(|_| Refusal::Total)?;
        let ip = match ip {
            Some(ip) if self.max_per_ip > 0 => {
                let ip = ip.to_canonical();
                let mut count = self.per_ip.entry(ip).or_insert(0);
                if *count >= self.max_per_ip {
                    drop(count);
                    self.total.fetch_sub(1, Ordering::AcqRel);
                    return Err(Refusal::PerIp);
                }
                *count += 1;
                Some(ip)
            }
            _ => None,
        };
        Ok(GateGuard { gate: self.clone(), ip })
    }

    /// Connections open router-wide.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Connections open from `ip` (always 0 without a per-IP limit: they are not tracked then).
    #[cfg(test)]
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip.to_canonical()).map_or(0, |n| *n)
    }

    fn release(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            if let Entry::Occupied(mut entry) = self.per_ip.entry(ip) {
                if *entry.get() <= 1 {
                    entry.remove();
                } else {
                    *entry.get_mut() -= 1;
                }
            }
        }
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's place at the gate, held for the connection's life.
#[derive(Debug)]
pub struct GateGuard {
    gate: Arc<ConnectionGate>,
    ip: Option<IpAddr>,
}

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.gate.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn total_limit_admits_again_once_released() {
        let gate = Arc::new(ConnectionGate::new(2, 0));
        let a = gate.admit(ip("127.0.0.1")).unwrap();
        let _b = gate.admit(None).unwrap();
        assert_eq!(gate.admit(ip("127.0.0.2")).unwrap_err(), Refusal::Total);
        assert_eq!(gate.open(), 2);
        drop(a);
        assert_eq!(gate.open(), 1);
        let _c = gate.admit(ip("127.0.0.2")).unwrap();
        assert!(gate.per_ip.is_empty(), "no per-IP bookkeeping without a per-IP limit");
    }

    #[test]
    fn per_ip_limit_counts_addresses_separately() {
        let gate = Arc::new(ConnectionGate::new(100, 2));
        let a1 = gate.admit(ip("10.0.0.1")).unwrap();
        let _a2 = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(gate.admit(ip("10.0.0.1")).unwrap_err(), Refusal::PerIp);
        // The same address seen as IPv4-mapped IPv6 is the same client.
        assert_eq!(gate.admit(ip("::ffff:10.0.0.1")).unwrap_err(), Refusal::PerIp);
        let _b = gate.admit(ip("10.0.0.2")).unwrap();
        let _unix = gate.admit(None).unwrap();
        assert_eq!(gate.open(), 4, "refusals give their place in the total back");
        assert_eq!(gate.open_from("10.0.0.1".parse().unwrap()), 2);
        drop(a1);
        assert_eq!(gate.open_from("10.0.0.1".parse().unwrap()), 1);
        let _a3 = gate.admit(ip("10.0.0.1")).unwrap();
        drop(_a2);
        drop(_a3);
        assert_eq!(gate.open_from("10.0.0.1".parse().unwrap()), 0);
        assert_eq!(gate.per_ip.len(), 1, "released addresses leave the map");
    }

    #[test]
    fn concurrent_admissions_never_exceed_the_limit() {
        let gate = Arc::new(ConnectionGate::new(50, 0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for round in 0..1000 {
                        if let Ok(g) = gate.admit(None) {
                            held.push(g);
                        }
                        assert!(gate.open() <= 50);
                        if round % 3 == 0 {
                            held.pop();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(gate.open(), 0);
    }
}
