//! Small integer identifiers: subnets, neuron slots and block heights.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, Decode, Encode, Reader};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$inner> for $name {
            fn from(value: $inner) -> Self {
                Self(value)
            }
        }

        impl Encode for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                self.0.encode_to(out);
            }
        }

        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
                Ok(Self(<$inner>::decode(reader)?))
            }
        }
    };
}

id_newtype!(
    /// Identifies a subnet.
    NetUid(u16)
);
id_newtype!(
    /// A neuron's slot index within one subnet.
    Uid(u16)
);
id_newtype!(
    /// The height of a block; genesis is height 0.
    BlockHeight(u64)
);

impl BlockHeight {
    /// The genesis height.
    pub const GENESIS: Self = Self(0);

    /// The following height, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use proptest::prelude::*;

    #[test]
    fn display_and_serde_are_plain_numbers() {
        assert_eq!(NetUid(7).to_string(), "7");
        assert_eq!(BlockHeight(42).to_string(), "42");
        assert_eq!(NetUid(3).encode(), vec![3, 0]);
        assert!(Uid(1) < Uid(2));
        assert_eq!(BlockHeight::GENESIS.next(), Some(BlockHeight(1)));
        assert_eq!(BlockHeight(u64::MAX).next(), None);
    }

    proptest! {
        #[test]
        fn ids_round_trip(a: u16, b: u16, c: u64) {
            prop_assert_eq!(decode_exact::<NetUid>(&NetUid(a).encode()), Ok(NetUid(a)));
            prop_assert_eq!(decode_exact::<Uid>(&Uid(b).encode()), Ok(Uid(b)));
            prop_assert_eq!(decode_exact::<BlockHeight>(&BlockHeight(c).encode()), Ok(BlockHeight(c)));
        }
    }
}
