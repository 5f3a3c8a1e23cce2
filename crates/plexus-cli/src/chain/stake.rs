//! `plexus stake`: staking tokens on a hotkey through a subnet's pool, and back.

use clap::Subcommand;
use plexus_node::rpc::PlexusApiClient;
use plexus_primitives::{AccountId, Balance, Call, NetUid};

use super::{KeyArgs, print_json};
use crate::client::{RpcArgs, block_on, rpc_message, submit};
use crate::wallet::{coldkey_address, hotkey_address, unlock_coldkey};

/// `plexus stake ...`
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// Stake tokens on a hotkey through the subnet's pool.
    Add {
        #[command(flatten)]
        keys: KeyArgs,
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// The hotkey address to stake on [default: the wallet's hotkey]
        #[arg(long = "to")]
        to: Option<AccountId>,
        /// Tokens to stake
        #[arg(long, allow_negative_numbers = true)]
        amount: Balance,
        /// Highest acceptable average price (tokens per alpha) [default: no limit]
        #[arg(long, allow_negative_numbers = true)]
        limit_price: Option<Balance>,
    },
    /// Unstake alpha back into tokens.
    Remove {
        #[command(flatten)]
        keys: KeyArgs,
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// The hotkey address to unstake from [default: the wallet's hotkey]
        #[arg(long = "from")]
        from: Option<AccountId>,
        /// Alpha to unstake (9 decimals)
        #[arg(long, allow_negative_numbers = true)]
        alpha: Balance,
        /// Lowest acceptable average price (tokens per alpha) [default: no limit]
        #[arg(long, allow_negative_numbers = true)]
        limit_price: Option<Balance>,
    },
    /// The wallet's stake positions.
    List {
        /// The wallet
        #[arg(long, default_value = "default")]
        wallet: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// Runs `plexus stake`.
pub fn stake(cmd: StakeCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    let price = |p: Option<Balance>| p.map(|b| b.rao());
    match cmd {
        StakeCommand::Add {
            keys,
            netuid,
            to,
            amount,
            limit_price,
        } => {
            let hotkey = match to {
                Some(a) => a,
                None => hotkey_address(&keys.wallet, &keys.hotkey)?,
            };
            let key = unlock_coldkey(&keys.wallet)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                let call = Call::AddStake {
                    netuid: NetUid(netuid),
                    hotkey,
                    amount,
                    limit_price: price(limit_price),
                };
                let held_before = alpha_held(&client, &key, netuid, &hotkey).await?;
                submit(&client, &status, &key, call).await?;
                let held = alpha_held(&client, &key, netuid, &hotkey).await?;
                println!(
                    "staked {amount} on {hotkey} in subnet {netuid}: got {} alpha, now hold {}",
                    Balance::from_rao(held.saturating_sub(held_before)),
                    Balance::from_rao(held)
                );
                Ok(())
            })
        }
        StakeCommand::Remove {
            keys,
            netuid,
            from,
            alpha,
            limit_price,
        } => {
            let hotkey = match from {
                Some(a) => a,
                None => hotkey_address(&keys.wallet, &keys.hotkey)?,
            };
            let key = unlock_coldkey(&keys.wallet)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                let call = Call::RemoveStake {
                    netuid: NetUid(netuid),
                    hotkey,
                    alpha: alpha.rao(),
                    limit_price: price(limit_price),
                };
                let free = |account: plexus_ledger::Account| account.balance;
                let before = client
                    .account(key.account_id())
                    .await
                    .map(free)
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                submit(&client, &status, &key, call).await?;
                let after = client
                    .account(key.account_id())
                    .await
                    .map(free)
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                // The fee left the same balance the tokens came into.
                let received = after
                    .rao()
                    .saturating_add(status.min_fee.rao())
                    .saturating_sub(before.rao());
                println!(
                    "unstaked {alpha} alpha from {hotkey} in subnet {netuid}: received {} tokens",
                    Balance::from_rao(received)
                );
                Ok(())
            })
        }
        StakeCommand::List { wallet, json } => {
            let coldkey = coldkey_address(&wallet)?;
            block_on(async move {
                let (client, _) = rpc.connect().await?;
                let stakes = client
                    .stakes(coldkey)
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                if json {
                    return print_json(&stakes);
                }
                println!("{:>6}  {:>18}  {:>18}  hotkey", "netuid", "alpha", "value");
                for s in &stakes {
                    println!(
                        "{:>6}  {:>18.9}  {:>18.9}  {}",
                        s.netuid,
                        Balance::from_rao(s.alpha),
                        s.value,
                        s.hotkey
                    );
                }
                Ok(())
            })
        }
    }
}

/// Alpha the signer's coldkey holds on `hotkey` in subnet `netuid`.
async fn alpha_held(
    client: &jsonrpsee_http_client::HttpClient,
    coldkey: &plexus_primitives::Keypair,
    netuid: u16,
    hotkey: &AccountId,
) -> anyhow::Result<u64> {
    let stakes = client
        .stakes(coldkey.account_id())
        .await
        .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
    Ok(stakes
        .iter()
        .find(|s| s.netuid.0 == netuid && s.hotkey == *hotkey)
        .map_or(0, |s| s.alpha))
}
