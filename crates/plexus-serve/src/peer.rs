//! Who a connection or a request comes from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Who a connection comes from, for bounds per peer: an IPv4 address, or an IPv6 /64
/// (a single host is commonly given a whole /64, so counting its addresses one by one would
/// bound nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer(IpAddr);

impl Peer {
    /// The clients a trusted proxy forwarded without an address this server can use (an
    /// obfuscated name, a loopback address, a malformed header): limited together.
    pub const UNNAMED: Peer = Peer(IpAddr::V4(Ipv4Addr::UNSPECIFIED));

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

/// Where a connection or a request comes from. [`serve_bounded`](crate::serve_bounded)
/// puts it in the extensions of every request it serves, for limits per peer further in:
/// the connection's, or the forwarded client's where a proxy on this machine is trusted
/// ([`ConnectionLimits::forwarded_for`](crate::ConnectionLimits::forwarded_for)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// This machine (loopback): its own tools, or a reverse proxy in front of the server,
    /// which must then bound its clients itself unless it is trusted to name them.
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

/// The origin of the client a trusted proxy forwarded a request for: the last address of
/// the last `X-Forwarded-For` line, the one the proxy appended (those before it are the
/// client's to write); `None` when there is no such header (this machine's own request).
/// A forwarded request never counts as this machine's: an address that is missing,
/// malformed or loopback is [`Peer::UNNAMED`], so a client that a misconfigured proxy lets
/// write the header cannot make itself unlimited.
pub(crate) fn forwarded_origin(headers: &http::HeaderMap) -> Option<Origin> {
    let line = headers.get_all("x-forwarded-for").iter().next_back()?;
    let named = line
        .to_str()
        .ok()
        .and_then(|text| text.rsplit(',').next())
        .and_then(|last| forwarded_ip(last.trim()))
        .and_then(|ip| Peer::of(SocketAddr::new(ip, 0)));
    Some(Origin::Remote(named.unwrap_or(Peer::UNNAMED)))
}

/// An address as proxies write it: `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn forwarded_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}
