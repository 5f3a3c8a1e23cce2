//! Where a neuron serves: its axon endpoint as announced on chain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, Decode, Encode, Reader};

/// The transport an axon speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AxonProtocol {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// A served endpoint.
///
/// The address is encoded as tag `4` + 4 bytes or tag `6` + 16 bytes. An IPv4-mapped
/// IPv6 address stays IPv6: it is a different `IpAddr` value, so it keeps its own
/// encoding and canonicality holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AxonInfo {
    /// IP address.
    pub ip: IpAddr,
    /// TCP port.
    pub port: u16,
    /// Transport.
    pub protocol: AxonProtocol,
    /// The serving software's version, for compatibility checks.
    pub version: u32,
}

impl Encode for AxonProtocol {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(match self {
            Self::Http => 0,
            Self::Https => 1,
        });
    }
}

impl Decode for AxonProtocol {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        match reader.read_u8()? {
            0 => Ok(Self::Http),
            1 => Ok(Self::Https),
            tag => codec::unknown_tag("AxonProtocol", tag),
        }
    }
}

impl Encode for IpAddr {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            IpAddr::V4(v4) => {
                out.push(4);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.push(6);
                out.extend_from_slice(&v6.octets());
            }
        }
    }
}

impl Decode for IpAddr {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        match reader.read_u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(reader.take_array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(reader.take_array::<16>()?))),
            tag => codec::unknown_tag("IpAddr", tag),
        }
    }
}

impl Encode for AxonInfo {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.ip.encode_to(out);
        self.port.encode_to(out);
        self.protocol.encode_to(out);
        self.version.encode_to(out);
    }
}

impl Decode for AxonInfo {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            ip: Decode::decode(reader)?,
            port: Decode::decode(reader)?,
            protocol: Decode::decode(reader)?,
            version: Decode::decode(reader)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::testgen::Arb;
    use proptest::prelude::*;

    #[test]
    fn ipv4_encoding() {
        let axon = AxonInfo {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 8091,
            protocol: AxonProtocol::Https,
            version: 1,
        };
        assert_eq!(
            axon.encode(),
            vec![4, 10, 0, 0, 1, 0x9b, 0x1f, 1, 1, 0, 0, 0]
        );
        let json = serde_json::to_string(&axon).unwrap();
        assert!(json.contains("\"10.0.0.1\""), "{json}");
    }

    #[test]
    fn unknown_tags_rejected() {
        assert_eq!(
            decode_exact::<IpAddr>(&[5, 0, 0, 0, 0]),
            Err(CodecError::UnknownTag {
                type_name: "IpAddr",
                tag: 5
            })
        );
        assert_eq!(
            decode_exact::<AxonProtocol>(&[2]),
            Err(CodecError::UnknownTag {
                type_name: "AxonProtocol",
                tag: 2
            })
        );
    }

    proptest! {
        #[test]
        fn round_trips(axon in AxonInfo::arb()) {
            prop_assert_eq!(decode_exact::<AxonInfo>(&axon.encode()), Ok(axon));
        }

        #[test]
        fn arbitrary_bytes_reencode(bytes in proptest::collection::vec(any::<u8>(), 0..30)) {
            if let Ok(axon) = decode_exact::<AxonInfo>(&bytes) {
                prop_assert_eq!(axon.encode(), bytes);
            }
        }
    }
}
