//! What `plexus up` puts on a new chain: the two subnets with their kinds of work, and the
//! validator registered and staked on each.

use std::time::{Duration, Instant};

use plexus_primitives::{Balance, Call, Hyperparameter, Work};
use plexus_subnets::{Chain, ChainError};

use super::{EMBEDDINGS_NETUID, OWNER, TEXT_NETUID, UpArgs, VALIDATOR};
use crate::devnet::dev_keypair;
use crate::exit;
use crate::rpc_chain::RpcChain;

/// Creates the subnets and stakes the validator, unless a previous run did.
pub(super) async fn prepare(rpc: &str, args: &UpArgs) -> anyhow::Result<()> {
    let chain = wait_for_chain(rpc).await?;
    let owner = dev_keypair(OWNER);
    let owner_hotkey = dev_keypair(&format!("{OWNER}-hotkey"));
    let validator = dev_keypair(VALIDATOR);
    let validator_hotkey = dev_keypair(&format!("{VALIDATOR}-hotkey"));
    let mut subnets = vec![(TEXT_NETUID, Work::Text)];
    if args.embedding_miners > 0 {
        subnets.push((EMBEDDINGS_NETUID, Work::Embeddings));
    }
    for (netuid, work) in subnets {
        let existing = chain.subnet(netuid).await;
        if let Err(ChainError::NoSubnet(_)) = existing {
            let _ = say!("creating subnet {netuid}\n");
            let call = Call::CreateSubnet {
                owner_hotkey: owner_hotkey.account_id(),
                max_lock: Balance::from_rao(100_000 * Balance::UNIT.rao()),
            };
            chain.submit(&owner, call).await?;
            // A short tempo and rate limit so a local network pays within a minute. The
            // activity cutoff shrinks with them (the default, 5,000 blocks, is 100 such
            // tempos): the owner's and miners' hotkeys hold validator permits and pile up
            // alpha without ever setting weights, and while they count as active their
            // stake outweighs the validator's within half an hour, consensus falls to
            // zero and the miners stop being paid.
            for param in [
                Hyperparameter::Tempo(50),
                Hyperparameter::WeightsRateLimit(10),
                Hyperparameter::ImmunityPeriod(1_000),
                Hyperparameter::ActivityCutoff(200),
            ] {
                let call = Call::SetHyperparameter { netuid, param };
                chain.submit(&owner, call).await?;
            }
        }
        // Miners and the validator read it from the chain. A network made before subnets
        // recorded their work gets it on resume.
        match existing.as_ref().ok().and_then(|info| info.work) {
            Some(recorded) if recorded == work => {}
            Some(recorded) => {
                return Err(exit::input(format!(
                    "subnet {netuid} of this network trades {recorded} work, where `plexus up` \
                     runs {work} miners; start a new network with another PLEXUS_HOME"
                )));
            }
            None => {
                chain
                    .submit(&owner, Call::SetSubnetWork { netuid, work })
                    .await?;
            }
        }
        let graph = chain.metagraph(netuid).await?;
        if !graph
            .iter()
            .any(|n| n.hotkey == validator_hotkey.account_id())
        {
            let _ = say!("registering and staking the validator on subnet {netuid}\n");
            let hotkey = validator_hotkey.account_id();
            let max_burn = Balance::from_rao(100 * Balance::UNIT.rao());
            chain
                .submit(
                    &validator,
                    Call::Register {
                        netuid,
                        hotkey,
                        max_burn,
                    },
                )
                .await?;
            let amount = Balance::from_rao(1_000 * Balance::UNIT.rao());
            let call = Call::AddStake {
                netuid,
                hotkey,
                amount,
                limit_price: None,
            };
            chain.submit(&validator, call).await?;
        }
    }
    Ok(())
}

/// Connects to the first node once it answers and has finalized a block.
async fn wait_for_chain(rpc: &str) -> anyhow::Result<RpcChain> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(chain) = RpcChain::connect(rpc).await
            && chain.height().await.is_ok_and(|h| h >= 1)
        {
            return Ok(chain);
        }
        if Instant::now() > deadline {
            return Err(exit::input(format!(
                "the chain at {rpc} did not start within a minute; see the nodes' node.log"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
