//! The miner's side: take a UID, serve the subnet's routes behind the wire protocol,
//! announce the axon, and keep the caller metagraph in sync with the chain.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plexus_primitives::{Balance, Keypair, NetUid};
use plexus_wire::{Handler, RunningServer, Server, ServerConfig, ServerError};

use crate::chain::{Chain, ChainError};
use crate::outage::Outage;
use crate::registration::{RegistrationError, Rejoin, announce_axon, axon_info, ensure_registered};
use crate::view::SubnetView;

/// Least time between the first two announcements that take the axon back from another
/// address on chain; it doubles with each one after, up to [`MAX_RECLAIM_INTERVAL`], so two
/// processes serving one hotkey do not pay a fee every sync.
const RECLAIM_INTERVAL: Duration = Duration::from_secs(60);

/// The longest wait between two announcements that take the axon back.
const MAX_RECLAIM_INTERVAL: Duration = Duration::from_secs(3_600);

/// How a miner runs.
#[derive(Debug, Clone)]
pub struct MinerConfig {
    /// The subnet.
    pub netuid: NetUid,
    /// Where the axon listens (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The address announced on chain [default: the listen IP, or 127.0.0.1 when that is
    /// unspecified].
    pub announce_ip: Option<IpAddr>,
    /// Most tokens to burn when registering.
    pub max_burn: Balance,
    /// How often the metagraph is read again.
    pub sync_interval: Duration,
}

impl MinerConfig {
    /// Defaults for `netuid`, listening on `listen`.
    pub fn new(netuid: NetUid, listen: SocketAddr) -> Self {
        Self {
            netuid,
            listen,
            announce_ip: None,
            max_burn: Balance::from_rao(10 * Balance::UNIT.rao()),
            sync_interval: Duration::from_secs(1),
        }
    }
}

/// Why a miner stopped.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// Taking a UID failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The axon could not be served.
    #[error("axon: {0}")]
    Server(#[from] ServerError),
}

/// A miner whose axon is up and announced.
#[derive(Debug)]
pub struct RunningMiner<C> {
    chain: Arc<C>,
    view: Arc<SubnetView>,
    server: RunningServer,
    hotkey: Keypair,
    coldkey: Option<Keypair>,
    config: MinerConfig,
    uid: u16,
    announced: SocketAddr,
    /// When the axon was last announced over another address on chain, and the wait
    /// before doing so again.
    reclaimed: Option<(Instant, Duration)>,
    /// The block from which the chain's serving rate limit lets the axon be announced,
    /// when an announcement was refused for it.
    announce_at: Option<u64>,
    /// When it may register again after the chain pruned it.
    rejoin: Rejoin,
}

/// Binds the axon to serve `handler`, registers `hotkey` if needed (paid by `coldkey`)
/// and announces the axon on chain.
///
/// The listener is bound before anything is paid for: a port in use fails here with the
/// registration fee still in the coldkey.
pub async fn start_miner<C: Chain, H: Handler>(
    chain: Arc<C>,
    hotkey: Keypair,
    coldkey: Option<Keypair>,
    config: MinerConfig,
    handler: H,
) -> Result<RunningMiner<C>, MinerError> {
    let view = Arc::new(SubnetView::new(config.netuid));
    // The subnet's stake threshold reaches the server through the view, sync by sync, so
    // it admits only callers read from the chain: serving before registration is harmless.
    let server_config = ServerConfig::new(chain.chain_id().clone(), config.netuid);
    let server = Server::new(hotkey.clone(), server_config, handler, view.wire())
        .bind(config.listen)
        .await?;
    // On an error below, dropping `server` stops it.
    let neuron =
        ensure_registered(&*chain, &view, &hotkey, coldkey.as_ref(), config.max_burn).await?;
    let bound = server.local_addr();
    let ip = config.announce_ip.unwrap_or(match bound.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    });
    let announced = SocketAddr::new(ip, bound.port());
    let mut miner = RunningMiner {
        chain,
        view,
        server,
        hotkey,
        coldkey,
        config,
        uid: neuron.uid,
        announced,
        reclaimed: None,
        announce_at: None,
        rejoin: Rejoin::default(),
    };
    miner.announce().await?;
    tracing::info!(uid = neuron.uid, %announced, netuid = miner.config.netuid.0, "miner serving");
    Ok(miner)
}

/// The block a refusal names as the end of the serving rate limit, if that is why the
/// chain refused (a miner restarted on a new port soon after announcing the old one).
fn rate_limited_until(error: &ChainError) -> Option<u64> {
    let ChainError::Refused(why) = error else {
        return None;
    };
    let (_, rest) = why.split_once("rate-limited until block ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl<C: Chain> RunningMiner<C> {
    /// The miner's UID.
    pub fn uid(&self) -> u16 {
        self.uid
    }

    /// The address announced on chain.
    pub fn addr(&self) -> SocketAddr {
        self.announced
    }

    /// Keeps the metagraph in sync (so new validators are admitted) until `stop`
    /// completes, re-registering if the UID was pruned; then shuts the axon down.
    pub async fn serve(mut self, stop: impl Future<Output = ()> + Send) -> Result<(), MinerError> {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(self.config.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut outage = Outage::new("the miner's chain sync");
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {}
            }
            // A node restart or a refused re-registration is not a reason to stop
            // answering; the next tick tries again.
            match self.sync().await {
                Ok(()) => outage.succeeded(Instant::now()),
                Err(e) => outage.failed(&e, Instant::now()),
            }
        }
        self.server.shutdown().await?;
        Ok(())
    }

    /// Announces this miner's axon on chain, unless the chain already holds it. Refused
    /// for the serving rate limit, it notes the block to try again at and returns `false`;
    /// the miner serves meanwhile.
    async fn announce(&mut self) -> Result<bool, ChainError> {
        let announced = announce_axon(
            &*self.chain,
            &self.view,
            &self.hotkey,
            self.coldkey.as_ref(),
            self.announced,
        )
        .await;
        match announced {
            Ok(()) => {
                self.announce_at = None;
                Ok(true)
            }
            Err(e) => match rate_limited_until(&e) {
                Some(block) => {
                    tracing::info!(
                        axon = %self.announced,
                        block,
                        "the chain's serving rate limit holds the announcement until a later \
                         block; serving meanwhile"
                    );
                    self.announce_at = Some(block);
                    Ok(false)
                }
                None => Err(e),
            },
        }
    }

    async fn sync(&mut self) -> Result<(), MinerError> {
        let snapshot = self.view.refresh(&*self.chain).await?;
        let me = self.hotkey.account_id();
        if self
            .announce_at
            .is_some_and(|block| snapshot.height < block)
        {
            return Ok(());
        }
        match snapshot.neuron(&me) {
            Some(neuron) if neuron.axon == Some(axon_info(self.announced)) => {
                self.uid = neuron.uid;
            }
            Some(neuron) if neuron.axon.is_some() => {
                self.uid = neuron.uid;
                // Another process announced this hotkey elsewhere (an old run, a copy of
                // the keys): validators would call there, not here.
                if self.reclaimed.is_some_and(|(at, wait)| at.elapsed() < wait) {
                    return Ok(());
                }
                let on_chain = neuron.axon.map(|a| SocketAddr::new(a.ip, a.port));
                tracing::warn!(
                    uid = neuron.uid,
                    on_chain = %on_chain.map_or_else(String::new, |a| a.to_string()),
                    ours = %self.announced,
                    "the chain has another axon for this hotkey; announcing ours again \
                     (is another miner running with the same hotkey?)"
                );
                if self.announce().await? {
                    let wait = self.reclaimed.map_or(RECLAIM_INTERVAL, |(_, wait)| {
                        (wait * 2).min(MAX_RECLAIM_INTERVAL)
                    });
                    self.reclaimed = Some((Instant::now(), wait));
                }
            }
            Some(_) => {
                self.announce().await?;
            }
            None => {
                if !self.rejoin.due() {
                    return Ok(());
                }
                tracing::warn!(uid = self.uid, "deregistered; registering again");
                let neuron = self
                    .rejoin
                    .register(
                        &*self.chain,
                        &self.view,
                        &self.hotkey,
                        self.coldkey.as_ref(),
                        self.config.max_burn,
                    )
                    .await?;
                self.uid = neuron.uid;
                self.announce().await?;
            }
        }
        Ok(())
    }
}
