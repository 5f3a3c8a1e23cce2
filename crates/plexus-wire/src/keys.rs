//! The decoded public keys of the peers a server or client hears from.
//!
//! Decoding a key costs a field square root, about an eighth of a verification. Miners
//! hear from the same validators and validators from the same miners all day, so both
//! keep the keys they have decoded. The set is bounded: when full it starts over, which
//! costs one decode per peer again and needs no bookkeeping on the hot path. On a server
//! only registered callers reach signature checking, so the set holds at most a subnet.

use std::collections::HashMap;
use std::sync::Mutex;

use plexus_primitives::{AccountId, PublicKey, SignatureError};

/// How many keys a [`PeerKeys`] holds by default: more than any subnet has neurons.
pub const DEFAULT_PEER_KEYS: usize = 4096;

/// A bounded set of decoded peer keys, shared between tasks.
#[derive(Debug)]
pub struct PeerKeys {
    keys: Mutex<HashMap<AccountId, PublicKey>>,
    capacity: usize,
}

impl Default for PeerKeys {
    fn default() -> Self {
        Self::new(DEFAULT_PEER_KEYS)
    }
}

impl PeerKeys {
    /// An empty set holding up to `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The decoded key of `account`, decoding it on first use. Keys that do not decode are
    /// not kept: they fail again, at the same cost, on every use.
    pub fn get(&self, account: &AccountId) -> Result<PublicKey, SignatureError> {
        if let Some(key) = self.lock().get(account) {
            return Ok(*key);
        }
        // Decoded outside the lock: two tasks may both decode a new key, which is harmless.
        let key = account.public_key()?;
        let mut keys = self.lock();
        if keys.len() >= self.capacity && !keys.contains_key(account) {
            keys.clear();
        }
        keys.insert(*account, key);
        Ok(key)
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, PublicKey>> {
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_primitives::Keypair;

    fn account(i: u8) -> AccountId {
        Keypair::from_seed([i; 32]).account_id()
    }

    #[test]
    fn keeps_decoded_keys_up_to_capacity() {
        let keys = PeerKeys::new(2);
        assert_eq!(keys.get(&account(1)).unwrap().account(), &account(1));
        keys.get(&account(2)).unwrap();
        keys.get(&account(1)).unwrap();
        assert_eq!(keys.len(), 2);
        // A third key starts the set over rather than growing past the bound.
        assert_eq!(keys.get(&account(3)).unwrap().account(), &account(3));
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn refuses_and_does_not_keep_bad_keys() {
        let keys = PeerKeys::default();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            keys.get(&AccountId(identity)),
            Err(SignatureError::InvalidPublicKey)
        );
        assert!(keys.is_empty());
    }
}
