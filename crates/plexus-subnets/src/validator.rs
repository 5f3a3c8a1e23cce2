//! The validator's side: sample miners, challenge them, keep moving-average scores, and
//! put those scores on chain as weights (directly or by commit-reveal) within the rate
//! limit.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{self, Either};
use plexus_primitives::{
    AccountId, AxonInfo, Balance, Call, Hash, Keypair, NetUid, weights_commit_hash,
};
use plexus_wire::{AddressKind, AxonScope, Client, ClientConfig, Target};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

use crate::chain::{Chain, ChainError};
use crate::registration::{RegistrationError, Rejoin};
use crate::reveal::{PendingReveal, RevealFile};
use crate::scores::Scores;
use crate::subnet::{Evaluation, Subnet};
use crate::view::{Snapshot, SubnetView};

/// How often the validator reads the chain between rounds.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// How a validator runs.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// The subnet.
    pub netuid: NetUid,
    /// Time between challenge rounds.
    pub round_interval: Duration,
    /// Miners challenged per round.
    pub sample_size: usize,
    /// Challenges in flight at once.
    pub concurrency: usize,
    /// Weight of a new observation in the moving average.
    pub ema_alpha: f64,
    /// Blocks between weight submissions [default: the subnet's weights rate limit, or
    /// where it sets none its tempo, at most half its activity cutoff].
    pub weights_interval: Option<u64>,
    /// Deadline for one miner's answer.
    pub timeout: Duration,
    /// Most tokens to burn when registering.
    pub max_burn: Balance,
    /// Directory where a weight commit waits for its reveal across restarts (default
    /// none: kept in memory, and lost with the process).
    pub state_dir: Option<PathBuf>,
    /// The kinds of address whose miners are called (default public only); a miner
    /// announced elsewhere is scored as unavailable. A client given with
    /// [`Validator::with_client`] brings its own.
    pub axon_scope: AxonScope,
}

impl ValidatorConfig {
    /// Defaults for `netuid`.
    pub fn new(netuid: NetUid) -> Self {
        Self {
            netuid,
            round_interval: Duration::from_secs(5),
            sample_size: 16,
            concurrency: 8,
            ema_alpha: 0.2,
            weights_interval: None,
            timeout: Duration::from_secs(20),
            max_burn: Balance::from_rao(10 * Balance::UNIT.rao()),
            state_dir: None,
            axon_scope: AxonScope::Public,
        }
    }
}

/// Why a miner's axon is not called, for its unavailable verdict.
fn not_called(axon: &AxonInfo, scope: AxonScope) -> String {
    if axon.port == 0 {
        return "its axon is announced at port 0".into();
    }
    format!(
        "its axon's address {} is {}, which a validator calling {scope} addresses does not \
         call",
        axon.ip,
        AddressKind::of(axon.ip).describe()
    )
}

/// Why a validator stopped.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// Taking a UID failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// One miner's part in a round.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The miner's UID.
    pub uid: u16,
    /// The miner's hotkey.
    pub hotkey: AccountId,
    /// The validator's judgement.
    pub evaluation: Evaluation,
}

/// A validator on one subnet.
pub struct Validator<C, S> {
    chain: Arc<C>,
    subnet: Arc<S>,
    hotkey: Keypair,
    coldkey: Option<Keypair>,
    config: ValidatorConfig,
    view: Arc<SubnetView>,
    client: Client,
    scores: Arc<Mutex<Scores>>,
    rng: StdRng,
    last_weights: Option<u64>,
    /// The commit awaiting its reveal, kept in `reveal_file` too.
    pending: Option<PendingReveal>,
    reveal_file: RevealFile,
    /// Whether `reveal_file` was read (on first use, not in `new`: no I/O there).
    reveal_loaded: bool,
    warned_permit: bool,
    warned_scope: bool,
    /// When it may register again after the chain pruned it.
    rejoin: Rejoin,
}

impl<C: Chain, S: Subnet> Validator<C, S> {
    /// A validator signing as `hotkey`; `coldkey` pays for registration if needed.
    pub fn new(
        chain: Arc<C>,
        subnet: Arc<S>,
        hotkey: Keypair,
        coldkey: Option<Keypair>,
        config: ValidatorConfig,
    ) -> Self {
        let mut client_config = ClientConfig::new(chain.chain_id().clone());
        client_config.timeout = config.timeout;
        client_config.axon_scope = config.axon_scope;
        let client = Client::new(hotkey.clone(), client_config);
        let reveal_file = RevealFile::new(
            config.state_dir.as_deref(),
            &hotkey.account_id(),
            config.netuid,
        );
        Self {
            reveal_file,
            view: Arc::new(SubnetView::new(config.netuid)),
            scores: Arc::new(Mutex::new(Scores::new(config.ema_alpha))),
            rng: StdRng::from_entropy(),
            chain,
            subnet,
            hotkey,
            coldkey,
            config,
            client,
            last_weights: None,
            pending: None,
            reveal_loaded: false,
            warned_permit: false,
            warned_scope: false,
            rejoin: Rejoin::default(),
        }
    }

    /// Signs with `client` instead of a client of its own: one client per hotkey per
    /// process keeps the nonces in one sequence when a gateway or a validator of another
    /// subnet calls miners as the same hotkey.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// The scores, shared: the gateway records what it sees of miners here too.
    pub fn scores(&self) -> Arc<Mutex<Scores>> {
        Arc::clone(&self.scores)
    }

    /// The subnet as last read from the chain.
    pub fn view(&self) -> Arc<SubnetView> {
        Arc::clone(&self.view)
    }

    /// The wire client the validator signs with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Registers if needed, then runs rounds and sets weights until `stop` completes.
    pub async fn run(
        mut self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<(), ValidatorError> {
        let neuron = self.register().await?;
        tracing::info!(
            uid = neuron.uid,
            netuid = self.config.netuid.0,
            subnet = self.subnet.name(),
            "validator running"
        );
        // Every line of the loop names the subnet: one process may validate several.
        let (netuid, this) = (self.config.netuid.0, Arc::clone(&self.subnet));
        let subnet = this.name();
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(self.config.round_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Between rounds the view follows the chain block by block, so the gateway and
        // the next round see registrations and axons as soon as they finalize.
        let mut sync = tokio::time::interval(SYNC_INTERVAL);
        sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                _ = sync.tick() => {
                    if let Err(e) = self.view.refresh(&*self.chain).await {
                        tracing::debug!(error = %e, "metagraph sync failed");
                    }
                    continue;
                }
                _ = tick.tick() => {}
            }
            if let Err(e) = self.rejoin().await {
                tracing::warn!(netuid, subnet, error = %e, "registering again failed");
            }
            // Chain hiccups (a node restarting) are retried on the next tick.
            match self.plan().await {
                Ok(asked) => {
                    let following = self.ask_following_chain(asked, &mut sync, stop.as_mut());
                    let Some(seen) = following.await else {
                        return Ok(());
                    };
                    self.record(&seen);
                    log_round(netuid, subnet, &seen);
                }
                Err(e) => tracing::warn!(netuid, subnet, error = %e, "round failed"),
            }
            if let Err(e) = self.submit_weights().await {
                tracing::warn!(netuid, subnet, error = %e, "weights not set");
            }
        }
    }

    /// Registers again when the chain has pruned this validator (its UID went to a
    /// newcomer): without a UID it can neither challenge miners nor set weights, and
    /// would otherwise stay up doing nothing.
    async fn rejoin(&mut self) -> Result<(), RegistrationError> {
        let me = self.hotkey.account_id();
        let pruned = self
            .view
            .snapshot()
            .is_some_and(|s| s.neuron(&me).is_none());
        if !pruned || !self.rejoin.due() {
            return Ok(());
        }
        let netuid = self.config.netuid.0;
        tracing::warn!(netuid, "this validator was deregistered; registering again");
        let neuron = self.register().await?;
        tracing::info!(netuid, uid = neuron.uid, "registered again");
        Ok(())
    }

    /// This validator's neuron, registering it first when it is not (paid by the
    /// coldkey, at most `max_burn`; a failure makes the next try wait longer).
    async fn register(&mut self) -> Result<plexus_ledger::NeuronInfo, RegistrationError> {
        let (chain, view, coldkey) = (&*self.chain, &self.view, self.coldkey.as_ref());
        let registering =
            self.rejoin
                .register(chain, view, &self.hotkey, coldkey, self.config.max_burn);
        registering.await
    }

    /// Asks a round's miners, following the chain and sending a due reveal meanwhile:
    /// miners may take up to the timeout to answer, and a round longer than an epoch
    /// would miss the one epoch in which a commit may be revealed. `None` once `stop`
    /// completes.
    async fn ask_following_chain(
        &mut self,
        asked: Vec<Asked<S::Challenge>>,
        sync: &mut tokio::time::Interval,
        mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<Vec<Observation>> {
        let subnet = Arc::clone(&self.subnet);
        let asking = ask(
            &*subnet,
            self.client.clone(),
            asked,
            self.config.concurrency,
        );
        let mut asking = std::pin::pin!(asking);
        loop {
            tokio::select! {
                () = &mut stop => return None,
                seen = &mut asking => return Some(seen),
                _ = sync.tick() => {
                    // The miners' answers keep being read (and timed) while the reveal
                    // waits for its block.
                    let reveal = std::pin::pin!(self.reveal_on_time());
                    if let Either::Right((seen, reveal)) =
                        future::select(reveal, &mut asking).await
                    {
                        reveal.await;
                        return Some(seen);
                    }
                }
            }
        }
    }

    /// Challenges a sample of the miners serving an axon and records their scores.
    pub async fn round(&mut self) -> Result<Vec<Observation>, ChainError> {
        let asked = self.plan().await?;
        let concurrency = self.config.concurrency;
        let seen = ask(&*self.subnet, self.client.clone(), asked, concurrency).await;
        self.record(&seen);
        Ok(seen)
    }

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

    /// Follows the chain, and sends a commit's reveal once its epoch has come.
    async fn reveal_on_time(&mut self) {
        let netuid = self.config.netuid.0;
        match self.view.refresh(&*self.chain).await {
            Ok(snapshot) => {
                self.load_reveal(&snapshot);
                if let Err(e) = self.reveal_if_due(&snapshot).await {
                    tracing::warn!(netuid, error = %e, "weights not revealed");
                }
            }
            Err(e) => tracing::debug!(netuid, error = %e, "metagraph sync failed"),
        }
    }

    /// Records what a round saw in the scores.
    fn record(&self, seen: &[Observation]) {
        let mut scores = self.scores.lock().unwrap_or_else(|p| p.into_inner());
        for o in seen.iter().filter(|o| o.evaluation.counts()) {
            scores.record(o.uid, o.hotkey, o.evaluation.score);
        }
    }

    /// The miners a round asks, each with a challenge of its own.
    async fn plan(&mut self) -> Result<Vec<Asked<S::Challenge>>, ChainError> {
        let snapshot = self.view.refresh(&*self.chain).await?;
        self.forget_deregistered(&snapshot);
        let me = self.hotkey.account_id();
        let netuid = self.config.netuid;
        // Miners refuse a caller without a permit once the subnet has given any: asking
        // them would only score every miner zero for this validator's own lack.
        if !snapshot.miners_serve(&me) {
            self.warn_no_permit();
            return Ok(Vec::new());
        }
        // Owned targets: futures over borrowed neurons trip the compiler's Send inference
        // when the validator runs as a spawned task.
        self.warn_out_of_scope(&snapshot, &me);
        // An axon at an address this validator does not call is sampled and scored as
        // unavailable like any other: re-announcing one must not keep a score.
        let mut miners: Vec<(u16, AccountId, Result<Target, String>, u32)> = snapshot
            .neurons
            .iter()
            .filter(|n| n.hotkey != me)
            .filter_map(|n| {
                let axon = n.axon?;
                let target = self
                    .client
                    .target(&axon, n.hotkey, netuid)
                    .ok_or_else(|| not_called(&axon, self.client.axon_scope()));
                Some((n.uid, n.hotkey, target, axon.version))
            })
            .collect();
        // Each sampled miner gets a challenge of its own: with one for all, hotkeys run
        // by one operator could answer from one computation, and a miner asked late in the
        // round could pass on the answer of one asked early. A miner that cannot take the
        // challenge drawn for it (an older build) sits the round out.
        miners.shuffle(&mut self.rng);
        let wanted = self.config.sample_size.max(1);
        let mut asked = Vec::with_capacity(wanted);
        for (uid, hotkey, target, version) in miners {
            if asked.len() == wanted {
                break;
            }
            let challenge = self.subnet.challenge(&mut self.rng);
            if self.subnet.takes(&challenge, version) {
                asked.push((uid, hotkey, target, challenge));
            }
        }
        Ok(asked)
    }

    /// Says once, where an operator looks first, that miners serve at private or
    /// loopback addresses this validator does not call: after an upgrade that made
    /// public addresses the default, a private network's validator would otherwise score
    /// every miner unavailable with the reason only in its debug log.
    fn warn_out_of_scope(&mut self, snapshot: &Snapshot, me: &AccountId) {
        let scope = self.client.axon_scope();
        // Announced where a wider scope would call, but not this one.
        let netuid = self.config.netuid;
        let outside = snapshot
            .neurons
            .iter()
            .filter(|n| n.hotkey != *me)
            .filter_map(|n| Some((n.hotkey, n.axon?)))
            .filter(|(hotkey, a)| {
                Target::from_axon(a, *hotkey, netuid, AxonScope::All).is_some()
                    && !scope.admits(a.ip)
            })
            .count();
        if outside > 0 && !self.warned_scope {
            self.warned_scope = true;
            tracing::warn!(
                netuid = self.config.netuid.0,
                miners = outside,
                "miners serve at private or loopback addresses, which this validator does \
                 not call (axon scope {scope}) and scores as unavailable; on a network \
                 within one organisation or on one machine, --axon-scope private or all \
                 calls them"
            );
        }
    }

    fn forget_deregistered(&self, snapshot: &Snapshot) {
        let mut scores = self.scores.lock().unwrap_or_else(|p| p.into_inner());
        scores.retain_registered(|uid, hotkey| {
            snapshot
                .neurons
                .get(usize::from(uid))
                .is_some_and(|n| n.hotkey == *hotkey)
        });
    }

    /// Says once that this hotkey holds no validator permit, and what follows.
    fn warn_no_permit(&mut self) {
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
        Ok(Some(height))
    }

    /// After a weights submission failed with `e` at `height`: a refusal (its fee paid, on
    /// chains that charge failed calls) waits a weights interval before the next try, as a
    /// submission that landed would, rather than pay again every round. The chain may
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

fn log_round(netuid: u16, subnet: &str, seen: &[Observation]) {
    use crate::subnet::Verdict;
    let (mut correct, mut wrong, mut unavailable) = (0, 0, 0);
    for o in seen {
        match &o.evaluation.verdict {
            Verdict::Correct => correct += 1,
            // A wrong answer says why where an operator looks first; a miner that is down
            // would say so every round, so that is detail.
            Verdict::Wrong(_) => {
                wrong += 1;
                tracing::info!(netuid, subnet, uid = o.uid, verdict = %o.evaluation.verdict, "miner answered wrong");
            }
            Verdict::Unavailable(_) => unavailable += 1,
            // This validator's own failure: the operator's to see, and no miner's score.
            Verdict::Unjudged(_) => {
                tracing::warn!(netuid, subnet, uid = o.uid, verdict = %o.evaluation.verdict, "answer not judged");
            }
        }
        tracing::debug!(netuid, uid = o.uid, score = o.evaluation.score, verdict = %o.evaluation.verdict, "observed");
    }
    tracing::info!(
        netuid,
        subnet,
        miners = seen.len(),
        correct,
        wrong,
        unavailable,
        "round done"
    );
}

/// The epoch a "too early" reveal refusal names (`...revealed from epoch N (now M)`).
fn revealable_from(why: &str) -> Option<u64> {
    let (_, rest) = why.split_once("can be revealed from epoch ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A miner a round asks: its UID, hotkey, where to call it (or why it is not called),
/// and its challenge.
type Asked<C> = (u16, AccountId, Result<Target, String>, C);

/// Asks each miner of `asked` its challenge, `concurrency` at a time, and judges the
/// answers. Owns its client so that the validator can follow the chain meanwhile.
async fn ask<S: Subnet>(
    subnet: &S,
    client: Client,
    asked: Vec<Asked<S::Challenge>>,
    concurrency: usize,
) -> Vec<Observation> {
    let client = &client;
    futures_util::stream::iter(asked)
        .map(|(uid, hotkey, target, challenge)| async move {
            let evaluation = match target {
                Ok(target) => subnet.evaluate(client, &target, &challenge).await,
                Err(why) => Evaluation::unavailable(why),
            };
            Observation {
                uid,
                hotkey,
                evaluation,
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
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
