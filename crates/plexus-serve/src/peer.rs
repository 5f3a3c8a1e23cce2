//! Who a connection comes from, and how many connections each peer holds.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

/// Who a connection comes from, for bounds per peer: an IPv4 address, or an IPv6 /64
/// (a single host is commonly given a whole /64, so counting its addresses one by one would
/// bound nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer(IpAddr);

impl Peer {
    /// The peer `addr` belongs to; `None` for loopback, which is this machine itself.
    pub fn of(addr: SocketAddr) -> Option<Peer> {
        let ip = addr.ip().to_canonical();
        if ip.is_loopback() {
            return None;
        }
        Some(Peer(match ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        }))
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Where a connection comes from. [`serve_bounded`](crate::serve_bounded) puts it in the
/// extensions of every request it serves, for limits per peer further in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// This machine (loopback): its own tools, or a reverse proxy in front of the server,
    /// which must then bound its clients itself.
    Local,
    /// Another machine.
    Remote(Peer),
}

impl Origin {
    /// The origin of a connection from `addr`.
    pub fn of(addr: SocketAddr) -> Origin {
        Peer::of(addr).map_or(Origin::Local, Origin::Remote)
    }
}

/// Open connections per origin. Only origins with a connection open have an entry, so the
/// map is no larger than the connection cap.
#[derive(Clone)]
pub(crate) struct PeerCounts {
    open: Arc<Mutex<HashMap<Origin, usize>>>,
    max: usize,
}

/// One counted connection; it is uncounted when dropped.
pub(crate) struct Counted {
    peers: PeerCounts,
    origin: Origin,
}

impl PeerCounts {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max: max.max(1),
        }
    }

    /// Counts a new connection from `origin`, unless it has as many open as it may.
    pub(crate) fn admit(&self, origin: Origin) -> Option<Counted> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(origin).or_insert(0);
        if *count >= self.max {
            if *count == 0 {
                open.remove(&origin);
            }
            return None;
        }
        *count += 1;
        Some(Counted {
            peers: self.clone(),
            origin,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self
            .peers
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.origin) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.origin);
            }
        }
    }
}
