//! Getting a hotkey onto a subnet and announcing where it serves: what both miners and
//! validators do before their loops start.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use plexus_ledger::NeuronInfo;
use plexus_primitives::{AxonInfo, AxonProtocol, Balance, Call, Keypair};

use crate::chain::{Chain, ChainError};
use crate::view::SubnetView;

/// The serving software's version announced with an axon, which tells callers what the
/// miner takes: 1 served chats only; from 2 text miners also take plain text to continue
/// ([`crate::text::PLAIN_TEXT_AXON_VERSION`]).
pub const AXON_VERSION: u32 = 2;

/// Why a neuron could not take its place on the subnet.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The chain failed or refused.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The hotkey is not registered and no coldkey was given to pay for it.
    #[error(
        "hotkey {hotkey} is not registered on subnet {netuid}; register it (`plexus register`) \
         or give the coldkey to pay the burn"
    )]
    NeedsColdkey {
        /// The hotkey.
        hotkey: String,
        /// The subnet.
        netuid: u16,
    },
    /// The subnet's registration price is above what the miner may burn. Checked before
    /// sending: a registration the chain refuses still pays its fee.
    #[error(
        "registering on subnet {netuid} costs {price} now, above the most this may burn \
         ({max_burn}); the price halves over time while no one registers, or raise --max-burn"
    )]
    PriceAboveMax {
        /// The subnet.
        netuid: u16,
        /// The price now.
        price: Balance,
        /// The most this may burn.
        max_burn: Balance,
    },
    /// Registration was accepted but the hotkey is not in the metagraph afterwards.
    #[error("registration of {0} finalized but the hotkey is not in the metagraph")]
    Vanished(String),
}

/// The neuron registered as `hotkey`, registering it first (burning at most `max_burn`,
/// paid by `coldkey`) when it is not.
pub async fn ensure_registered<C: Chain>(
    chain: &C,
    view: &SubnetView,
    hotkey: &Keypair,
    coldkey: Option<&Keypair>,
    max_burn: Balance,
) -> Result<NeuronInfo, RegistrationError> {
    let me = hotkey.account_id();
    let snapshot = view.refresh(chain).await?;
    if let Some(neuron) = snapshot.neuron(&me) {
        return Ok(neuron.clone());
    }
    let Some(coldkey) = coldkey else {
        return Err(RegistrationError::NeedsColdkey {
            hotkey: me.to_string(),
            netuid: view.netuid().0,
        });
    };
    let price = snapshot.subnet.registration_price;
    if price > max_burn {
        return Err(RegistrationError::PriceAboveMax {
            netuid: view.netuid().0,
            price,
            max_burn,
        });
    }
    let height = chain
        .submit(
            coldkey,
            Call::Register {
                netuid: view.netuid(),
                hotkey: me,
                max_burn,
            },
        )
        .await?;
    tracing::info!(hotkey = %me, netuid = view.netuid().0, height, "registered");
    let snapshot = view.refresh(chain).await?;
    snapshot
        .neuron(&me)
        .cloned()
        .ok_or_else(|| RegistrationError::Vanished(me.to_string()))
}

/// The wait after a failed re-registration before the next try; it doubles with each
/// failure after, up to [`MAX_REGISTER_RETRY`]. A registration the chain refuses still
/// pays its fee, so a pruned neuron must not try every sync.
const REGISTER_RETRY: Duration = Duration::from_secs(12);

/// The longest wait between two re-registration tries.
const MAX_REGISTER_RETRY: Duration = Duration::from_secs(600);

/// When a neuron the chain pruned (its UID went to a newcomer) may try to register again.
#[derive(Debug, Default)]
pub(crate) struct Rejoin {
    /// When the last try failed, and the wait before the next.
    failed: Option<(Instant, Duration)>,
}

impl Rejoin {
    /// Whether a try may be made now.
    pub(crate) fn due(&self) -> bool {
        self.failed.is_none_or(|(at, wait)| at.elapsed() >= wait)
    }

    /// Registers `hotkey` again (see [`ensure_registered`]), or waits longer before the
    /// next try if that fails.
    pub(crate) async fn register<C: Chain>(
        &mut self,
        chain: &C,
        view: &SubnetView,
        hotkey: &Keypair,
        coldkey: Option<&Keypair>,
        max_burn: Balance,
    ) -> Result<NeuronInfo, RegistrationError> {
        let registered = ensure_registered(chain, view, hotkey, coldkey, max_burn).await;
        self.failed = match &registered {
            Ok(_) => None,
            Err(_) => {
                let wait = self.failed.map_or(REGISTER_RETRY, |(_, wait)| {
                    (wait * 2).min(MAX_REGISTER_RETRY)
                });
                Some((Instant::now(), wait))
            }
        };
        registered
    }
}

/// What a miner serving at `addr` announces on chain.
pub(crate) fn axon_info(addr: SocketAddr) -> AxonInfo {
    AxonInfo {
        ip: addr.ip(),
        port: addr.port(),
        protocol: AxonProtocol::Http,
        version: AXON_VERSION,
    }
}

/// Announces that `hotkey` serves at `addr`, unless the chain already says so. Signed by
/// the coldkey when given (it pays the fee), else by the hotkey.
pub async fn announce_axon<C: Chain>(
    chain: &C,
    view: &SubnetView,
    hotkey: &Keypair,
    coldkey: Option<&Keypair>,
    addr: SocketAddr,
) -> Result<(), ChainError> {
    let me = hotkey.account_id();
    let axon = axon_info(addr);
    let snapshot = view.refresh(chain).await?;
    if snapshot.neuron(&me).and_then(|n| n.axon) == Some(axon) {
        return Ok(());
    }
    let signer = coldkey.unwrap_or(hotkey);
    let height = chain
        .submit(
            signer,
            Call::ServeAxon {
                netuid: view.netuid(),
                hotkey: me,
                axon,
            },
        )
        .await?;
    tracing::info!(hotkey = %me, %addr, height, "axon announced");
    view.refresh(chain).await?;
    Ok(())
}
