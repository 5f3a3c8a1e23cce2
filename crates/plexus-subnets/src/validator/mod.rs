//! The validator's side: sample miners, challenge them, keep moving-average scores, and
//! put those scores on chain as weights (directly or by commit-reveal) within the rate
//! limit.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::{self, Either};
use plexus_primitives::{AccountId, AxonInfo, Balance, Keypair, NetUid};
use plexus_wire::{AddressKind, AxonScope, Client, ClientConfig, Target};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::chain::{Chain, ChainError};
use crate::outage::Outage;
use crate::registration::{RegistrationError, Rejoin};
use crate::reveal::{PendingReveal, RevealFile};
use crate::scores::Scores;
use crate::subnet::{Evaluation, Subnet};
use crate::view::{Snapshot, SubnetView};

mod silent;
mod weights;

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
    warned_silent: bool,
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
            warned_silent: false,
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
        let mut outage = Outage::new("the validator's chain sync");
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                _ = sync.tick() => {
                    match self.view.refresh(&*self.chain).await {
                        Ok(_) => outage.succeeded(Instant::now()),
                        Err(e) => outage.failed(&e, Instant::now()),
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
                // The node down: one outage, said as the sync's is.
                Err(e @ ChainError::Unreachable(_)) => outage.failed(&e, Instant::now()),
                Err(e) => tracing::warn!(netuid, subnet, error = %e, "round failed"),
            }
            match self.submit_weights().await {
                Ok(_) => {}
                Err(e @ ChainError::Unreachable(_)) => outage.failed(&e, Instant::now()),
                Err(e) => tracing::warn!(netuid, subnet, error = %e, "weights not set"),
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

    /// Asks a round's miners, following the chain and putting weights (or a reveal) on
    /// chain meanwhile when they fall due (see `weights_on_time`). `None` once `stop`
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
                    // The miners' answers keep being read (and timed) while the weights
                    // wait for their block.
                    // A stop ends both: a submission dropped on the way is safe (a
                    // commit's reveal is kept before the commit is sent).
                    let weights = std::pin::pin!(self.weights_on_time());
                    let outcome = tokio::select! {
                        () = &mut stop => return None,
                        outcome = future::select(weights, &mut asking) => outcome,
                    };
                    if let Either::Right((seen, weights)) = outcome {
                        tokio::select! {
                            () = &mut stop => return None,
                            () = weights => {}
                        }
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
