//! Chain commands: status, balances, transfers, subnets, registration,
//! stake, weights and the metagraph, one family of subcommands per module.

mod slippage;
mod stake;
mod status;
mod subnet;
mod weights;

pub use stake::{StakeCommand, stake};
pub use status::{ChainCommand, chain};
pub use subnet::{SubnetCommand, subnet};
pub use weights::{WeightsCommand, weights};

use anyhow::Context;
use clap::Args;
use plexus_node::rpc::PlexusApiClient;
use plexus_primitives::{AccountId, Balance, Call, NetUid};

use crate::client::{RpcArgs, Sent, block_on, rpc_message, submit};
use crate::exit;
use crate::wallet::{coldkey_address, hotkey_address, unlock_coldkey};
use crate::yuma::share;

/// Which keys sign.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// The wallet whose keys sign
    #[arg(long, default_value = "default")]
    pub wallet: String,
    /// The wallet's hotkey to act for
    #[arg(long, default_value = "default")]
    pub hotkey: String,
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `--json` for the commands that send a transaction.
#[derive(Debug, Clone, Copy, Args)]
pub struct SentOutput {
    /// Print JSON instead of text: the transaction's hash and block (null where nothing
    /// was sent) and what it did, amounts in base units
    #[arg(long)]
    pub json: bool,
}

impl SentOutput {
    /// Says what a command did: `text` for people, or with `--json` the transaction that
    /// did it (`sent`) and `fields`.
    fn done(self, sent: Option<Sent>, text: &str, fields: serde_json::Value) -> anyhow::Result<()> {
        if !self.json {
            println!("{text}");
            return Ok(());
        }
        let mut value = serde_json::json!({
            "transaction": sent.map(|s| s.transaction),
            "block": sent.map(|s| s.block),
        });
        if let (Some(all), serde_json::Value::Object(more)) = (value.as_object_mut(), fields) {
            all.extend(more);
        }
        print_json(&value)
    }
}

/// Runs `plexus balance`.
pub fn balance(
    address: Option<AccountId>,
    wallet: String,
    json: bool,
    rpc: RpcArgs,
) -> anyhow::Result<()> {
    let address = match address {
        Some(a) => a,
        None => coldkey_address(&wallet)?,
    };
    block_on(async move {
        let (client, _) = rpc.connect().await?;
        let account = client
            .account(address)
            .await
            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
        let stakes = client
            .stakes(address)
            .await
            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
        if json {
            return print_json(
                &serde_json::json!({ "address": address, "balance": account.balance, "nonce": account.nonce, "stakes": stakes }),
            );
        }
        println!("{address}");
        println!("free   {}", account.balance);
        let staked: u64 = stakes.iter().map(|s| s.value.rao()).sum();
        let positions = match stakes.len() {
            1 => "1 position".to_owned(),
            n => format!("{n} positions"),
        };
        println!(
            "staked {} (what unstaking would pay now, {positions})",
            Balance::from_rao(staked)
        );
        Ok(())
    })
}

/// An address, or the coldkey address of the wallet with that name.
fn resolve_address(text: &str) -> anyhow::Result<AccountId> {
    match text.parse::<AccountId>() {
        Ok(address) => Ok(address),
        Err(parse) if !text.starts_with("plx1") => coldkey_address(text).map_err(|e| {
            exit::input(format!(
                "{text:?} is neither an address ({parse}) nor a wallet: {e}"
            ))
        }),
        Err(parse) => Err(exit::input(format!("bad address {text:?}: {parse}"))),
    }
}

/// Runs `plexus transfer`.
pub fn transfer(
    wallet: &str,
    to: String,
    amount: Balance,
    out: SentOutput,
    rpc: RpcArgs,
) -> anyhow::Result<()> {
    if amount.is_zero() {
        return Err(exit::input("--amount must be more than 0"));
    }
    let to = resolve_address(&to)?;
    let key = unlock_coldkey(wallet)?;
    block_on(async move {
        let (client, status) = rpc.connect().await?;
        // A transfer the ledger refuses still pays its fee: say so before signing.
        let what = format!("sending {amount} with its fee ({})", status.min_fee);
        ensure_affords(&client, &key, wallet, amount, status.min_fee, &what).await?;
        let sent = submit(&client, &status, &key, Call::Transfer { to, amount }).await?;
        out.done(
            Some(sent),
            &format!("sent {amount} to {to}"),
            serde_json::json!({ "to": to, "amount": amount }),
        )
    })
}

/// Refuses, before anything is signed, a call whose `cost` and `fee` the
/// wallet's coldkey cannot pay: a call the ledger refuses still pays its fee.
async fn ensure_affords(
    client: &jsonrpsee_http_client::HttpClient,
    key: &plexus_primitives::Keypair,
    wallet: &str,
    cost: Balance,
    fee: Balance,
    what: &str,
) -> anyhow::Result<()> {
    let held = client
        .account(key.account_id())
        .await
        .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?
        .balance;
    // Summed wide: a cost near the largest amount must not hide the fee.
    let needed = u128::from(cost.rao()) + u128::from(fee.rao());
    if u128::from(held.rao()) < needed {
        let needed = match u64::try_from(needed) {
            Ok(rao) => Balance::from_rao(rao).to_string(),
            Err(_) => format!("{cost} + {fee}"),
        };
        return Err(exit::input(format!(
            "{wallet} holds {held}, but {what} needs {needed}"
        )));
    }
    Ok(())
}

/// Runs `plexus register`.
pub fn register(
    keys: KeyArgs,
    netuid: u16,
    max_burn: Balance,
    out: SentOutput,
    rpc: RpcArgs,
) -> anyhow::Result<()> {
    let key = unlock_coldkey(&keys.wallet)?;
    let hotkey = hotkey_address(&keys.wallet, &keys.hotkey)?;
    block_on(async move {
        let (client, status) = rpc.connect().await?;
        // A registration the ledger refuses still pays its fee: check what can be known
        // before signing (the price may still move before the block).
        let subnet = client
            .subnet(netuid)
            .await
            .map_err(|e| exit::input(rpc_message(&e)))?;
        let uid_of = |metagraph: &[plexus_ledger::NeuronInfo]| {
            metagraph.iter().find(|n| n.hotkey == hotkey).map(|n| n.uid)
        };
        let metagraph = client
            .metagraph(netuid)
            .await
            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
        if let Some(uid) = uid_of(&metagraph) {
            return out.done(
                None,
                &format!(
                    "{hotkey} is already registered on subnet {netuid} as UID {uid}: nothing sent"
                ),
                serde_json::json!({ "hotkey": hotkey, "netuid": netuid, "uid": uid }),
            );
        }
        let price = subnet.registration_price;
        if price > max_burn {
            return Err(exit::input(format!(
                "registering on subnet {netuid} costs {price} now, above --max-burn \
                 {max_burn}; raise --max-burn, or wait: the price halves over time while no \
                 one registers"
            )));
        }
        let what = format!("registering (burn {price}, fee {})", status.min_fee);
        ensure_affords(&client, &key, &keys.wallet, price, status.min_fee, &what).await?;
        let call = Call::Register {
            netuid: NetUid(netuid),
            hotkey,
            max_burn,
        };
        let sent = submit(&client, &status, &key, call).await?;
        let metagraph = client
            .metagraph(netuid)
            .await
            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
        let uid = uid_of(&metagraph);
        out.done(
            Some(sent),
            &format!(
                "registered {hotkey} on subnet {netuid} as UID {}",
                uid.map_or("?".into(), |u| u.to_string())
            ),
            serde_json::json!({ "hotkey": hotkey, "netuid": netuid, "uid": uid }),
        )
    })
}

/// Runs `plexus metagraph`.
pub fn metagraph(netuid: u16, json: bool, rpc: RpcArgs) -> anyhow::Result<()> {
    block_on(async move {
        let (client, _) = rpc.connect().await?;
        let neurons = client.metagraph(netuid).await.map_err(|e| exit::input(rpc_message(&e)))?;
        if json {
            return print_json(&neurons);
        }
        println!(
            "{:>4}  {:>16}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>14}  {:>3}  {:>3}  {:<21}  hotkey",
            "UID", "stake", "trust", "cons", "incent", "divs", "vtrust", "emission", "val", "act", "axon"
        );
        for n in &neurons {
            let axon = n.axon.map_or("-".to_owned(), |a| format!("{}:{}", a.ip, a.port));
            println!(
                "{:>4}  {:>16.9}  {:>7}  {:>7}  {:>7}  {:>7}  {:>7}  {:>14.9}  {:>3}  {:>3}  {:<21}  {}",
                n.uid,
                Balance::from_rao(n.stake),
                share(n.trust),
                share(n.consensus),
                share(n.incentive),
                share(n.dividends),
                share(n.validator_trust),
                Balance::from_rao(n.emission),
                if n.validator_permit { "yes" } else { "-" },
                if n.active { "yes" } else { "-" },
                axon,
                n.hotkey
            );
        }
        Ok(())
    })
    .context("reading the metagraph")
}
