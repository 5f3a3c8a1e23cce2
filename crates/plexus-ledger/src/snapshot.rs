//! A ledger's whole state as bytes, for a node to save and read back after a
//! restart. Not a consensus format: nothing hashes these bytes, and a reader
//! trusts a decoded state only after checking its [`Ledger::state_root`]
//! against a finalized header.

use thiserror::Error;

use crate::{Ledger, State};

/// The encoding's first byte: a later build that changes the format bumps it,
/// and older bytes are then refused rather than misread.
pub const FORMAT: u8 = 1;

/// Why a state cannot be encoded or read back.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// The state does not encode.
    #[error("cannot encode the state: {0}")]
    Encode(String),
    /// The bytes are not a state this build can read.
    #[error("cannot read the saved state: {0}")]
    Decode(String),
}

/// `ledger`'s state: [`FORMAT`], then the state in CBOR (which, unlike JSON,
/// takes map keys of any type, as the stake table's are).
pub fn encode(ledger: &Ledger) -> Result<Vec<u8>, SnapshotError> {
    let mut bytes = vec![FORMAT];
    ciborium::into_writer(ledger.state(), &mut bytes)
        .map_err(|e| SnapshotError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// The ledger [`encode`] wrote. What the state root does not commit to is
/// checked here: a subnet's id is committed as its key only, so the copy it
/// holds must match.
pub fn decode(bytes: &[u8]) -> Result<Ledger, SnapshotError> {
    match bytes.split_first() {
        Some((&FORMAT, state)) => {
            let state = ciborium::from_reader::<State, _>(state)
                .map_err(|e| SnapshotError::Decode(e.to_string()))?;
            if let Some((netuid, subnet)) = state.subnets.iter().find(|(n, s)| s.netuid != **n) {
                return Err(SnapshotError::Decode(format!(
                    "subnet {} says it is subnet {}",
                    netuid.0, subnet.netuid.0
                )));
            }
            Ok(Ledger::from_state(state))
        }
        Some((format, _)) => Err(SnapshotError::Decode(format!(
            "format {format}, this build reads {FORMAT}"
        ))),
        None => Err(SnapshotError::Decode("no bytes".into())),
    }
}
