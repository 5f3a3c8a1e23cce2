//! Putting a validator's scores on chain: `SetWeights` once a weights interval has
//! passed, or a commit and, in the epoch it matures, its reveal (kept in a file across
//! restarts), within the rate limit and only while the hotkey holds a permit.

use plexus_primitives::{Call, Hash, weights_commit_hash};
use rand::RngCore as _;

use super::Validator;
use crate::chain::{Chain, ChainError};
use crate::reveal::PendingReveal;
use crate::subnet::Subnet;
use crate::view::Snapshot;

impl<C: Chain, S: Subnet> Validator<C, S> {
    /// Reads the pending reveal an earlier run left, once (on first use, not in `new`:
    /// no I/O there).
    fn load_reveal(&mut self, snapshot: &Snapshot) {
        if self.reveal_loaded {
            return;
        }
        let chain_id = self.chain.chain_id().clone();
        self.pending =
            self.reveal_file
                .load(&chain_id, &self.hotkey.account_id(), self.config.netuid);
        self.reveal_loaded = true;
        // A commit made now reveals `reveal_period_epochs` on: one further out is not
        // this chain's (written before chains were recorded, on a chain since reset),
        // and waiting for it would hold back every new commit.
        let latest =
            snapshot.subnet.epoch_index + u64::from(snapshot.params.reveal_period_epochs) + 1;
        if let Some(pending) = &self.pending
            && pending.reveal_epoch > latest
        {
            tracing::warn!(
                reveal_epoch = pending.reveal_epoch,
                epoch = snapshot.subnet.epoch_index,
                "forgetting a pending reveal for an epoch this chain cannot have set"
            );
            self.forget_reveal();
        }
    }

    /// Follows the chain during a round, and puts what the rounds before found on chain
    /// once it is due: a commit's reveal in its epoch, or weights once the interval has
    /// passed. Miners may each take the whole timeout to answer, and a round longer than
    /// the activity cutoff would otherwise leave the validator counted as inactive (the
    /// miners then earn nothing), or one longer than an epoch miss its reveal.
    pub(super) async fn weights_on_time(&mut self) {
        let netuid = self.config.netuid.0;
        match self.submit_weights().await {
            Ok(_) => {}
            // A node restarting: tried again at the next block.
            Err(e @ ChainError::Unreachable(_)) => {
                tracing::debug!(netuid, error = %e, "metagraph sync failed");
            }
            Err(e) => tracing::warn!(netuid, error = %e, "weights not set"),
        }
    }

    /// Says once that this hotkey holds no validator permit, and what follows.
    pub(super) fn warn_no_permit(&mut self) {
        if !self.warned_permit {
            tracing::info!(
                netuid = self.config.netuid.0,
                "no validator permit yet: stake on this hotkey; permits go to the largest \
                 stakes at the subnet's epoch, and until this hotkey holds one it sets no \
                 weights, and miners (once the subnet has given permits) do not take its \
                 challenges"
            );
            self.warned_permit = true;
        }
    }

    /// Puts the scores on chain if the interval has passed and the validator holds a
    /// permit: `SetWeights`, or a commit now and its reveal in the epoch it matures.
    /// Returns the block that carried a submission, if one was made.
    pub async fn submit_weights(&mut self) -> Result<Option<u64>, ChainError> {
        let snapshot = self.view.refresh(&*self.chain).await?;
        // A UID taken by a new hotkey since the round starts from nothing: the score
        // earned by the one before is not the newcomer's.
        self.forget_deregistered(&snapshot);
        self.load_reveal(&snapshot);
        if let Some(height) = self.reveal_if_due(&snapshot).await? {
            return Ok(Some(height));
        }
        let me = self.hotkey.account_id();
        let Some(neuron) = snapshot.neuron(&me) else {
            return Ok(None);
        };
        if !neuron.validator_permit {
            self.warn_no_permit();
            return Ok(None);
        }
        let params = &snapshot.params;
        // Yuma reads weights once per epoch: where the subnet sets no rate limit, more
        // than one submission per tempo would only pay fees (but twice within the
        // activity cutoff, or the validator would count as inactive between them).
        let default = match params.weights_rate_limit {
            0 => u64::from(params.tempo)
                .min(u64::from(params.activity_cutoff) / 2)
                .max(1),
            limit => limit,
        };
        let interval = self
            .config
            .weights_interval
            .unwrap_or(default)
            .max(params.weights_rate_limit);
        let chain_next = neuron.last_update.saturating_add(params.weights_rate_limit);
        let local_next = self.last_weights.map_or(0, |h| h.saturating_add(interval));
        if snapshot.height + 1 < chain_next.max(local_next) || self.pending.is_some() {
            return Ok(None);
        }
        let (uids, weights) = self
            .scores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .weights();
        if uids.is_empty() {
            return Ok(None);
        }
        // The chain wants a row of at least this many UIDs; zero weights count.
        let least = usize::from(params.min_allowed_weights).min(snapshot.neurons.len());
        let (uids, weights) = padded(uids, weights, least);
        let netuid = self.config.netuid;
        let version_key = params.weights_version_key;
        let height = if params.commit_reveal {
            let mut salt = vec![0u8; 16];
            self.rng.fill_bytes(&mut salt);
            let commit: Hash =
                weights_commit_hash(&me, netuid, &uids, &weights, &salt, version_key);
            // Kept before the commit is sent: a crash in between must not lose the salt of
            // a commit that made it on chain.
            let pending = PendingReveal {
                chain_id: Some(self.chain.chain_id().clone()),
                hotkey: me,
                netuid,
                uids,
                weights,
                salt,
                version_key,
                reveal_epoch: snapshot.subnet.epoch_index + u64::from(params.reveal_period_epochs),
            };
            self.reveal_file.save(&pending);
            self.pending = Some(pending);
            let height = match self
                .chain
                .submit(&self.hotkey, Call::CommitWeights { netuid, commit })
                .await
            {
                Ok(height) => height,
                // Refused (its fee paid, its commit not stored) or never sent: no commit
                // on chain. Any other failure may have landed; the reveal then tells (a
                // reveal without its commit is refused and forgotten).
                Err(e @ (ChainError::Refused(_) | ChainError::NotSent(_))) => {
                    self.forget_reveal();
                    return Err(self.after_refusal(e, snapshot.height));
                }
                Err(e) => return Err(e),
            };
            tracing::info!(netuid = netuid.0, height, "weights committed");
            height
        } else {
            let count = weights.iter().filter(|w| **w > 0).count();
            let sent = self
                .chain
                .submit(
                    &self.hotkey,
                    Call::SetWeights {
                        netuid,
                        uids,
                        weights,
                        version_key,
                    },
                )
                .await;
            let height = match sent {
                Ok(height) => height,
                Err(e) => return Err(self.after_refusal(e, snapshot.height)),
            };
            tracing::info!(netuid = netuid.0, height, miners = count, "weights set");
            height
        };
        self.last_weights = Some(height);
        self.warn_silent_majority(&snapshot);
        Ok(Some(height))
    }

    /// Says once when validators that set no weights hold consensus at zero, and what
    /// changes it: otherwise the weights just set look as if they counted.
    fn warn_silent_majority(&mut self, snapshot: &Snapshot) {
        if self.warned_silent {
            return;
        }
        let Some(silent) = super::silent::silent_majority(snapshot, &self.hotkey.account_id())
        else {
            return;
        };
        self.warned_silent = true;
        tracing::warn!(
            netuid = self.config.netuid.0,
            uids = ?silent.uids,
            stake_percent = silent.percent,
            inactive_from = silent.inactive_from,
            "validators holding most of the active validators' stake have never set weights \
             (a new subnet's owner hotkey, say): Yuma counts them as weighting every miner \
             zero, so miners earn nothing until they set weights, lose their permits, or go \
             inactive at the block above (the subnet's activity_cutoff, which its owner may \
             lower with `plexus subnet set --param activity_cutoff`)"
        );
    }

    /// After a weights submission failed with `e` at `height`: a refusal (by the node's dry
    /// run, before any fee; or in its block, its fee paid on chains that charge failed
    /// calls) waits a weights interval before the next try, as a submission that landed
    /// would, rather than try (and perhaps pay) again every round. The chain may
    /// count what this validator cannot see, such as a commit of an earlier process whose
    /// reveal file is gone.
    fn after_refusal(&mut self, e: ChainError, height: u64) -> ChainError {
        if matches!(e, ChainError::Refused(_)) {
            self.last_weights = Some(height);
        }
        e
    }

    fn forget_reveal(&mut self) {
        self.pending = None;
        self.reveal_file.clear();
    }

    async fn reveal_if_due(&mut self, snapshot: &Snapshot) -> Result<Option<u64>, ChainError> {
        let Some(pending) = self.pending.clone() else {
            return Ok(None);
        };
        if snapshot.subnet.epoch_index < pending.reveal_epoch {
            return Ok(None);
        }
        let result = self
            .chain
            .submit(
                &self.hotkey,
                Call::RevealWeights {
                    netuid: self.config.netuid,
                    uids: pending.uids,
                    weights: pending.weights,
                    salt: pending.salt,
                    version_key: pending.version_key,
                },
            )
            .await;
        match result {
            Ok(height) => {
                self.forget_reveal();
                tracing::info!(netuid = self.config.netuid.0, height, "weights revealed");
                Ok(Some(height))
            }
            // The commit's epoch is read a little early, so it may land an epoch later
            // than planned: wait for the epoch the chain names (each refusal pays a fee).
            // Any other refusal (expired, mismatched) means the commit is gone for good.
            Err(ChainError::Refused(why)) => {
                match revealable_from(&why) {
                    Some(epoch) => {
                        if let Some(pending) = &mut self.pending {
                            pending.reveal_epoch = epoch;
                            self.reveal_file.save(pending);
                        }
                    }
                    None => {
                        tracing::warn!(netuid = self.config.netuid.0, %why, "reveal refused; committing afresh");
                        self.forget_reveal();
                    }
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// The epoch a "too early" reveal refusal names (`...revealed from epoch N (now M)`).
fn revealable_from(why: &str) -> Option<u64> {
    let (_, rest) = why.split_once("can be revealed from epoch ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `uids` and their `weights`, with zero weights added for the lowest UIDs not among
/// them until there are `least`: a validator that scored fewer miners than the subnet's
/// minimum row still sets weights (the chain counts zero weights in the row, then drops
/// them), rather than none at all.
fn padded(mut uids: Vec<u16>, mut weights: Vec<u16>, least: usize) -> (Vec<u16>, Vec<u16>) {
    let scored: std::collections::BTreeSet<u16> = uids.iter().copied().collect();
    let missing = least.saturating_sub(uids.len());
    for uid in (0..=u16::MAX).filter(|u| !scored.contains(u)).take(missing) {
        uids.push(uid);
        weights.push(0);
    }
    (uids, weights)
}

#[cfg(test)]
mod tests {
    use super::{padded, revealable_from};
    use plexus_ledger::TxError;

    #[test]
    fn a_short_row_is_padded_with_zero_weights_up_to_the_minimum() {
        let row = padded(vec![1, 4], vec![65535, 9], 5);
        assert_eq!(row, (vec![1, 4, 0, 2, 3], vec![65535, 9, 0, 0, 0]));
        // Long enough already: as it was.
        let row = padded(vec![1, 4], vec![65535, 9], 2);
        assert_eq!(row, (vec![1, 4], vec![65535, 9]));
    }

    #[test]
    fn a_too_early_reveal_names_its_epoch() {
        let why = TxError::RevealTooEarly {
            reveal_epoch: 12,
            epoch: 11,
        };
        let via_node = format!("transaction abc failed in block 9 (its fee was paid): {why}");
        assert_eq!(revealable_from(&via_node), Some(12));
        assert_eq!(
            revealable_from(&TxError::NoMatchingCommit.to_string()),
            None
        );
    }
}
