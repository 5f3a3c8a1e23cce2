//! `plexus stake`: staking tokens on a hotkey through a subnet's pool, and back.

use clap::Subcommand;
use plexus_node::rpc::{PlexusApiClient, codes};
use plexus_primitives::{AccountId, Balance, Call, NetUid};

use super::slippage::{self, Side};
use super::{KeyArgs, SentOutput, print_json};
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
        #[command(flatten)]
        price: PriceArgs,
        #[command(flatten)]
        out: SentOutput,
    },
    /// Unstake alpha back into tokens.
    #[command(group(clap::ArgGroup::new("how_much").required(true).args(["alpha", "all"])))]
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
        alpha: Option<Balance>,
        /// Unstake all the alpha the wallet holds on the hotkey in the subnet (as of the
        /// latest block: emission paid before the transaction's block stays staked)
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        price: PriceArgs,
        #[command(flatten)]
        out: SentOutput,
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

/// The price a stake or unstake accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct PriceArgs {
    /// The limit on the average price (tokens per alpha): the highest a stake pays, the
    /// lowest an unstake takes [default: the pool's price, give or take --tolerance]
    #[arg(long, allow_negative_numbers = true)]
    limit_price: Option<Balance>,
    /// How far from the pool's price, in percent, the average price may stray: a trade
    /// that would move a thin pool's price further is refused before it is sent (for an
    /// unstake, 100 takes any price)
    #[arg(
        long,
        value_name = "PERCENT",
        default_value = "5",
        conflicts_with = "limit_price",
        allow_negative_numbers = true
    )]
    tolerance: Balance,
}

impl PriceArgs {
    /// The limit price to send with a trade of `amount` on `side`: the one given, or the
    /// tolerance's around the pool's price (see [`guard`]).
    async fn limit(
        &self,
        client: &jsonrpsee_http_client::HttpClient,
        netuid: u16,
        side: Side,
        amount: u64,
    ) -> anyhow::Result<Option<u64>> {
        match self.limit_price {
            Some(p) => Ok(Some(p.rao())),
            None => guard(client, netuid, side, amount, self.tolerance).await,
        }
    }
}

/// Runs `plexus stake`.
pub fn stake(cmd: StakeCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    match cmd {
        StakeCommand::Add {
            keys,
            netuid,
            to,
            amount,
            price,
            out,
        } => {
            let hotkey = match to {
                Some(a) => a,
                None => hotkey_address(&keys.wallet, &keys.hotkey)?,
            };
            let key = unlock_coldkey(&keys.wallet)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                let limit_price = price
                    .limit(&client, netuid, Side::Buy, amount.rao())
                    .await?;
                let call = Call::AddStake {
                    netuid: NetUid(netuid),
                    hotkey,
                    amount,
                    limit_price,
                };
                let held_before = alpha_held(&client, &key, netuid, &hotkey).await?;
                let sent = submit(&client, &status, &key, call).await?;
                let held = alpha_held(&client, &key, netuid, &hotkey).await?;
                let got = held.saturating_sub(held_before);
                let text = format!(
                    "staked {amount} on {hotkey} in subnet {netuid}: got {} alpha{}, now hold {}",
                    Balance::from_rao(got),
                    average(Side::Buy, amount.rao(), got),
                    Balance::from_rao(held)
                );
                out.done(
                    Some(sent),
                    &text,
                    serde_json::json!({
                        "netuid": netuid, "hotkey": hotkey, "amount": amount,
                        "alpha_received": got, "alpha_held": held,
                    }),
                )
            })
        }
        StakeCommand::Remove {
            keys,
            netuid,
            from,
            alpha,
            all,
            price,
            out,
        } => {
            let hotkey = match from {
                Some(a) => a,
                None => hotkey_address(&keys.wallet, &keys.hotkey)?,
            };
            let key = unlock_coldkey(&keys.wallet)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                let alpha = match alpha {
                    Some(alpha) if !all => alpha,
                    _ => match alpha_held(&client, &key, netuid, &hotkey).await? {
                        0 => {
                            return Err(crate::exit::input(format!(
                                "the wallet holds no stake on {hotkey} in subnet {netuid} \
                                 (`plexus stake list` shows what it holds)"
                            )));
                        }
                        held => Balance::from_rao(held),
                    },
                };
                let limit_price = price
                    .limit(&client, netuid, Side::Sell, alpha.rao())
                    .await?;
                let call = Call::RemoveStake {
                    netuid: NetUid(netuid),
                    hotkey,
                    alpha: alpha.rao(),
                    limit_price,
                };
                let free = |account: plexus_ledger::Account| account.balance;
                let before = client
                    .account(key.account_id())
                    .await
                    .map(free)
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                let sent = submit(&client, &status, &key, call).await?;
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
                let mut text = format!(
                    "unstaked {alpha} alpha from {hotkey} in subnet {netuid}: received {} \
                     tokens{}",
                    Balance::from_rao(received),
                    average(Side::Sell, received, alpha.rao())
                );
                let left = alpha_held(&client, &key, netuid, &hotkey).await?;
                if all && left > 0 {
                    text.push_str(&format!(
                        "\n{} alpha is still staked there: emission paid to it before the \
                         transaction's block",
                        Balance::from_rao(left)
                    ));
                }
                out.done(
                    Some(sent),
                    &text,
                    serde_json::json!({
                        "netuid": netuid, "hotkey": hotkey, "alpha": alpha,
                        "tokens_received": received, "alpha_held": left,
                    }),
                )
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

/// The limit price `tolerance` gives around the pool's price now, or a refusal that says
/// what the trade would cost where its quote already lies beyond it. `None` (no limit)
/// where the pool cannot be read or quote it: the dry run then says why the trade fails.
async fn guard(
    client: &jsonrpsee_http_client::HttpClient,
    netuid: u16,
    side: Side,
    amount: u64,
    tolerance: Balance,
) -> anyhow::Result<Option<u64>> {
    let pool = match client.pool(netuid).await {
        Ok(pool) => pool,
        // No such subnet: the dry run says so in its own words.
        Err(jsonrpsee::core::ClientError::Call(e)) if e.code() == codes::NOT_FOUND => {
            return Ok(None);
        }
        // Anything else must not send the trade without the limit it asked for.
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot read subnet {netuid}'s pool to check the price: {}; nothing was sent \
                 (with --limit-price the price is yours to set)",
                rpc_message(&e)
            ));
        }
    };
    let Some(quote) = slippage::quote(&pool, side, amount) else {
        return Ok(None);
    };
    let limit = slippage::limit(quote.spot, side, tolerance);
    if slippage::within(&quote, side, limit) {
        return Ok(Some(limit.0));
    }
    let off = slippage::percent_off(quote.spot, quote.average);
    let (what, got, way) = match side {
        Side::Buy => (
            format!("staking {}", Balance::from_rao(amount)),
            "alpha",
            "above",
        ),
        Side::Sell => (
            format!("unstaking {} alpha", Balance::from_rao(amount)),
            "tokens",
            "below",
        ),
    };
    Err(crate::exit::input(format!(
        "{what} would get about {} {got} at an average {} tokens per alpha, {off:.1}% {way} \
         the pool's price {} (subnet {netuid}'s pool holds {} tokens); nothing was sent. \
         Trade less, or accept the price with --tolerance {} (or set --limit-price)",
        Balance::from_rao(quote.out),
        quote.average,
        quote.spot,
        Balance::from_rao(pool.tao),
        off.ceil() + 1.0,
    )))
}

/// " (at N tokens per alpha)" for a trade of `tokens` for `alpha` on `side`, or nothing.
fn average(side: Side, tokens: u64, alpha: u64) -> String {
    slippage::average_price(side, tokens, alpha)
        .map_or_else(String::new, |p| format!(" (at {p} tokens per alpha)"))
}
