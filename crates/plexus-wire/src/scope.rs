//! Which miner addresses a caller calls.
//!
//! Any registered hotkey can announce any address as its axon, and validators and
//! gateways POST to whatever is announced. On an open network a miner could otherwise
//! point them at services on their own machine (loopback) or network (private
//! addresses, and the metadata services some clouds keep there), so a caller calls only
//! the kinds of address its network's miners really serve from: public ones on an open
//! network, private ones too on a network within one organisation, loopback too on a
//! network on one machine (`plexus up`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// What kind of address an axon is announced at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// Reachable across the internet (as far as its number says).
    Public,
    /// A private network's: RFC 1918, shared address space (100.64.0.0/10, carrier NAT
    /// and some clouds' metadata services), benchmarking (198.18.0.0/15), protocol
    /// assignments (192.0.0.0/24), IPv4's "this network" (0.0.0.0/8), IPv6 unique local
    /// and site-local addresses, and local-use NAT64.
    Private,
    /// This machine's own (127.0.0.0/8, `::1`).
    Loopback,
    /// No miner serves from it: unspecified, multicast, broadcast, reserved
    /// (240.0.0.0/4), link-local (where most clouds answer with the machine's own
    /// credentials, 169.254.169.254), or reached only through a tunnel.
    Unusable,
}

impl AddressKind {
    /// The kind in words, for messages: "a public address", ...
    pub fn describe(self) -> &'static str {
        match self {
            Self::Public => "a public address",
            Self::Private => "a private-network address",
            Self::Loopback => "this machine's loopback",
            Self::Unusable => "an address no miner serves from",
        }
    }

    /// The kind of `ip`. An IPv4 address written as IPv6 is the kind of the IPv4
    /// address: mapped (`::ffff:a.b.c.d`), or behind the well-known NAT64 prefix
    /// (`64:ff9b::/96`). Addresses that reach IPv4 only through a tunnel (the deprecated
    /// IPv4-compatible `::a.b.c.d` and IPv4-translated `::ffff:0:a.b.c.d`, Teredo, 6to4
    /// around a non-public IPv4 address) are
    /// unusable, and the local-use NAT64 prefix (`64:ff9b:1::/48`, translated to private
    /// addresses too) is private. A NAT64 prefix an operator chose cannot be told from a
    /// public address.
    pub fn of(ip: IpAddr) -> Self {
        let ip = match ip.to_canonical() {
            IpAddr::V4(ip) => return Self::of_v4(ip),
            IpAddr::V6(ip) => ip,
        };
        let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
        match ip.segments() {
            [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Self::of_v4(v4(high, low)),
            [0x64, 0xff9b, 1, ..] => Self::Private,
            // IPv4-compatible (all but `::` and `::1`) and IPv4-translated.
            [0, 0, 0, 0, 0, 0, high, low] if (high, low) > (0, 1) => Self::Unusable,
            [0, 0, 0, 0, 0xffff, 0, _, _] => Self::Unusable,
            [0x2001, 0, ..] => Self::Unusable,
            [0x2002, high, low, ..] if Self::of_v4(v4(high, low)) != Self::Public => Self::Unusable,
            _ => Self::of_v6(ip),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Self {
        let [a, b, c, _] = ip.octets();
        if ip.is_unspecified()
            || ip.is_multicast()
            || ip.is_broadcast()
            || ip.is_link_local()
            || a >= 240
        {
            Self::Unusable
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_private()
            || a == 0
            || (a == 100 && (64..128).contains(&b))
            || (a == 198 && (18..20).contains(&b))
            || (a, b, c) == (192, 0, 0)
        {
            Self::Private
        } else {
            Self::Public
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Self {
        let first = ip.segments()[0];
        if ip.is_unspecified() || ip.is_multicast() || ip.is_unicast_link_local() {
            Self::Unusable
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_unique_local() || first & 0xffc0 == 0xfec0 {
            Self::Private
        } else {
            Self::Public
        }
    }
}

/// The kinds of address a caller calls miners at; each admits the kinds of the one
/// before it. No scope admits an [`AddressKind::Unusable`] address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AxonScope {
    /// Public addresses only: an open network, where anyone may register a miner.
    #[default]
    Public,
    /// Public and private-network addresses: a network within one organisation.
    Private,
    /// Those and this machine's loopback: a network on one machine.
    All,
}

impl AxonScope {
    /// Whether an axon at `ip` is called.
    pub fn admits(self, ip: IpAddr) -> bool {
        match AddressKind::of(ip) {
            AddressKind::Public => true,
            AddressKind::Private => self != Self::Public,
            AddressKind::Loopback => self == Self::All,
            AddressKind::Unusable => false,
        }
    }

    /// The scope's name, as [`FromStr`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::All => "all",
        }
    }
}

impl fmt::Display for AxonScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an [`AxonScope`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an axon scope is public, private or all, not {0:?}")]
pub struct AxonScopeError(String);

impl FromStr for AxonScope {
    type Err = AxonScopeError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Public, Self::Private, Self::All]
            .into_iter()
            .find(|scope| scope.name() == name)
            .ok_or_else(|| AxonScopeError(name.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> AddressKind {
        AddressKind::of(ip.parse().unwrap())
    }

    #[test]
    fn addresses_are_told_apart_by_where_they_lead() {
        let kinds = [
            (
                AddressKind::Public,
                &["203.0.113.5", "8.8.8.8", "2001:db8::1", "2606:4700::1111"][..],
            ),
            (
                AddressKind::Private,
                &[
                    "10.0.0.7",
                    "172.16.4.1",
                    "192.168.1.20",
                    "100.100.100.200",
                    "198.18.0.1",
                    "0.1.2.3",
                    "fd00:ec2::254",
                    "fec0::1",
                    "::ffff:10.0.0.7",
                    "64:ff9b::a00:7",
                    "64:ff9b:1::a00:7",
                    "64:ff9b:1::808:808",
                    "192.0.0.8",
                ],
            ),
            (
                AddressKind::Loopback,
                &[
                    "127.0.0.1",
                    "127.8.9.10",
                    "::1",
                    "::ffff:127.0.0.1",
                    "64:ff9b::7f00:1",
                ],
            ),
            (
                AddressKind::Unusable,
                &[
                    "169.254.169.254",
                    "0.0.0.0",
                    "224.0.0.1",
                    "255.255.255.255",
                    "fe80::1",
                    "::",
                    "ff02::1",
                    "::ffff:169.254.169.254",
                    "64:ff9b::a9fe:a9fe",
                    "::7f00:1",
                    "::a9fe:a9fe",
                    "::808:808",
                    "::2",
                    "::ffff:0:a00:7",
                    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                    "2002:7f00:1::1",
                    "2002:a00:7::1",
                    "240.0.0.1",
                    "255.255.255.254",
                ],
            ),
        ];
        for (expected, ips) in kinds {
            for ip in ips {
                assert_eq!(kind(ip), expected, "{ip}");
            }
        }
        // Just outside the private blocks.
        for ip in [
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "172.32.0.1",
        ] {
            assert_eq!(kind(ip), AddressKind::Public, "{ip}");
        }
    }

    #[test]
    fn each_scope_admits_the_one_before_it_and_never_what_no_miner_serves_from() {
        let admitted = |scope: AxonScope| {
            ["8.8.8.8", "10.0.0.7", "127.0.0.1", "169.254.169.254"]
                .map(|ip| scope.admits(ip.parse().unwrap()))
        };
        assert_eq!(admitted(AxonScope::Public), [true, false, false, false]);
        assert_eq!(admitted(AxonScope::Private), [true, true, false, false]);
        assert_eq!(admitted(AxonScope::All), [true, true, true, false]);
    }

    #[test]
    fn scopes_are_read_by_name() {
        for scope in [AxonScope::Public, AxonScope::Private, AxonScope::All] {
            assert_eq!(scope.to_string().parse::<AxonScope>(), Ok(scope));
        }
        let e = "lan".parse::<AxonScope>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "an axon scope is public, private or all, not \"lan\""
        );
        assert_eq!(AxonScope::default(), AxonScope::Public);
    }
}
