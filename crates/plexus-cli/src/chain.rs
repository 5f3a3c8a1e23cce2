//! Chain commands: status, balances, transfers, subnets, registration,
//! stake, weights and the metagraph.

use anyhow::Context;
use clap::{Args, Subcommand};
use plexus_ledger::{SubnetInfo, SubnetParams};
use plexus_node::rpc::PlexusApiClient;
use plexus_primitives::{
    AccountId, Balance, Call, Hash, Hyperparameter, MAX_SALT_LEN, NetUid, weights_commit_hash,
};

use crate::client::{RpcArgs, block_on, rpc_message, submit};
use crate::exit;
use crate::wallet::{coldkey_address, hotkey_address, unlock_coldkey, unlock_hotkey};
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

/// `plexus chain ...`
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Heights, finality, validators and peers.
    Status {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// The chain validators: this epoch's set, the set the bonds would choose next, and
    /// when the epoch ends.
    Validators {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Bond tokens from the wallet's coldkey to a node's consensus key: the largest
    /// bonds become the validator set at each consensus epoch boundary.
    Bond {
        /// The wallet whose coldkey pays and owns the bond
        #[arg(long, default_value = "default")]
        wallet: String,
        /// The node's consensus key (`plexus node init` prints it)
        #[arg(long)]
        consensus_key: AccountId,
        /// Where the node listens for peers, as IP:PORT reachable by the other validators
        #[arg(long)]
        address: std::net::SocketAddr,
        /// Tokens to bond, e.g. 1000 (the chain sets a minimum per seat)
        #[arg(long)]
        amount: Balance,
        /// Bond even if nothing answers at --address from this machine (a node reachable
        /// by the other validators but not from here)
        #[arg(long)]
        no_address_check: bool,
    },
    /// Start returning tokens of a bond the wallet owns: they stop counting at once and
    /// come back at the end of the current consensus epoch.
    Unbond {
        /// The wallet that owns the bond
        #[arg(long, default_value = "default")]
        wallet: String,
        /// The node's consensus key
        #[arg(long)]
        consensus_key: AccountId,
        /// Tokens to unbond
        #[arg(long)]
        amount: Balance,
    },
    /// A finalized block with its transactions and their outcomes.
    Block {
        /// The block's height
        height: u64,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
}

/// `plexus subnet ...`
#[derive(Debug, Subcommand)]
pub enum SubnetCommand {
    /// Create a subnet, locking the current price.
    Create {
        #[command(flatten)]
        keys: KeyArgs,
        /// Most tokens to lock (the price moves)
        #[arg(long, default_value = "1000")]
        max_lock: Balance,
    },
    /// List subnets.
    List {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// One subnet with its hyperparameters.
    Show {
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Set a hyperparameter (subnet owner only), e.g. `--param tempo --value 100`.
    Set {
        #[command(flatten)]
        keys: KeyArgs,
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// The hyperparameter, e.g. tempo, kappa, commit_reveal, max_allowed_uids
        #[arg(long)]
        param: String,
        /// Its new value
        #[arg(long)]
        value: String,
    },
}

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
        #[arg(long)]
        amount: Balance,
        /// Highest acceptable average price (tokens per alpha)
        #[arg(long)]
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
        #[arg(long)]
        alpha: Balance,
        /// Lowest acceptable average price (tokens per alpha)
        #[arg(long)]
        limit_price: Option<Balance>,
    },
    /// The wallet's stake positions.
    List {
        /// The wallet
        #[arg(long, default_value = "default")]
        wallet: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
}

/// Weights arguments shared by set, commit and reveal.
#[derive(Debug, Clone, Args)]
pub struct WeightArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// The subnet
    #[arg(long)]
    netuid: u16,
    /// UIDs, comma-separated
    #[arg(long, value_delimiter = ',', required = true)]
    uids: Vec<u16>,
    /// Weights, comma-separated, one per UID
    #[arg(long, value_delimiter = ',', required = true)]
    weights: Vec<u16>,
    /// The subnet's weights version key
    #[arg(long, default_value_t = 0)]
    version_key: u64,
}

/// `plexus weights ...`
#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Set weights directly (subnets without commit-reveal).
    Set(WeightArgs),
    /// Commit to weights; reveal them with the same salt after the reveal period.
    Commit {
        #[command(flatten)]
        weights: WeightArgs,
        /// Secret salt, hex (up to 32 bytes)
        #[arg(long)]
        salt: String,
    },
    /// Reveal committed weights.
    Reveal {
        #[command(flatten)]
        weights: WeightArgs,
        /// The salt used at commit time, hex
        #[arg(long)]
        salt: String,
    },
    /// The weights each neuron of a subnet has set, as stored on chain.
    Show {
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints the weights set on `netuid`: one row per setting neuron, as shares of its row.
fn show_weights(netuid: u16, json: bool, rpc: RpcArgs) -> anyhow::Result<()> {
    block_on(async move {
        let (client, _) = rpc.connect().await?;
        let rows = client
            .weights(netuid)
            .await
            .map_err(|e| exit::input(rpc_message(&e)))?;
        if json {
            return print_json(&rows);
        }
        if rows.is_empty() {
            println!("no weights set on subnet {netuid}");
        }
        for row in rows {
            let total: u64 = row.weights.iter().map(|(_, w)| u64::from(*w)).sum();
            let cells: Vec<String> = row
                .weights
                .iter()
                .map(|(uid, w)| {
                    let share = u64::from(*w) as f64 / total.max(1) as f64;
                    format!("{uid}:{share:.3}")
                })
                .collect();
            println!(
                "UID {:<4} {} (block {}): {}",
                row.uid,
                row.hotkey,
                row.last_update,
                cells.join(" ")
            );
        }
        Ok(())
    })
}

/// Prints the validator sets as two tables.
fn print_validator_sets(sets: &plexus_ledger::ValidatorSets, height: u64) {
    println!(
        "epoch {} (heights {}..={}, {} blocks each; head {height})",
        sets.epoch, sets.first_height, sets.last_height, sets.epoch_length
    );
    let table = |title: &str, seats: &[plexus_ledger::ValidatorSeat]| {
        println!(
            "{title} ({})",
            crate::devnet::plural(u64::try_from(seats.len()).unwrap_or(u64::MAX), "validator")
        );
        println!("  {:<64}  {:>18}  address", "consensus key", "bond");
        for v in seats {
            println!(
                "  {:<64}  {:>18}  {}",
                v.consensus_key.to_string(),
                v.bond.to_string(),
                v.address.as_deref().unwrap_or("-")
            );
        }
    };
    table("current set", &sets.current);
    table(
        &format!(
            "next set, if the epoch ended now (from height {})",
            sets.last_height + 1
        ),
        &sets.next,
    );
}

/// Runs `plexus chain`.
pub fn chain(cmd: ChainCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    let coldkey = match &cmd {
        ChainCommand::Bond { wallet, .. } | ChainCommand::Unbond { wallet, .. } => {
            Some(unlock_coldkey(wallet)?)
        }
        _ => None,
    };
    block_on(async move {
        let (client, status) = rpc.connect().await?;
        match cmd {
            ChainCommand::Status { json: true } => print_json(&status),
            ChainCommand::Validators { json } => {
                let sets = client
                    .validator_sets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                if json {
                    return print_json(&sets);
                }
                print_validator_sets(&sets, status.height);
                Ok(())
            }
            ChainCommand::Bond {
                consensus_key,
                address,
                amount,
                no_address_check,
                ..
            } => {
                let key = coldkey.ok_or_else(|| anyhow::anyhow!("no coldkey unlocked"))?;
                // Every seat has an equal vote: a seated key that no running node holds
                // counts as a validator down, and a third of them down stops the chain.
                if !no_address_check {
                    node_answers(address).await?;
                }
                let call = Call::BondValidator {
                    consensus_key,
                    address: address.to_string(),
                    amount,
                };
                submit(&client, &status, &key, call).await?;
                let sets = client
                    .validator_sets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                let seated = sets.next.iter().any(|v| v.consensus_key == consensus_key);
                let serving = sets
                    .current
                    .iter()
                    .any(|v| v.consensus_key == consensus_key);
                println!("bonded {amount} to {consensus_key} at {address}");
                if serving && seated {
                    println!("it is in the validator set and stays in the next one");
                } else if serving {
                    println!(
                        "it is in the validator set until height {}; its bond is not among the {} largest for the next one",
                        sets.last_height,
                        sets.next.len()
                    );
                } else if seated {
                    println!(
                        "it joins the validator set at height {} (epoch {})",
                        sets.last_height + 1,
                        sets.epoch + 1
                    );
                } else {
                    println!(
                        "its bond is not among the {} largest yet: it would not be in the next set",
                        sets.next.len()
                    );
                }
                let leaving: Vec<String> = sets
                    .current
                    .iter()
                    .filter(|c| sets.next.iter().all(|n| n.consensus_key != c.consensus_key))
                    .map(|c| c.consensus_key.to_string())
                    .collect();
                if !leaving.is_empty() {
                    eprintln!(
                        "note: {} validator(s) of the current set would leave at height {} \
                         (only bonded keys are seated; bond them to keep them): {}",
                        leaving.len(),
                        sets.last_height + 1,
                        leaving.join(", ")
                    );
                }
                Ok(())
            }
            ChainCommand::Unbond {
                consensus_key,
                amount,
                ..
            } => {
                let key = coldkey.ok_or_else(|| anyhow::anyhow!("no coldkey unlocked"))?;
                submit(
                    &client,
                    &status,
                    &key,
                    Call::UnbondValidator {
                        consensus_key,
                        amount,
                    },
                )
                .await?;
                let sets = client
                    .validator_sets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                println!(
                    "unbonding {amount} from {consensus_key}: paid back after height {}",
                    sets.last_height
                );
                Ok(())
            }
            ChainCommand::Status { json: false } => {
                println!("chain            {}", status.chain_id);
                println!("height           {}", status.height);
                println!("finalized height {}", status.finalized_height);
                println!("state root       {}", status.state_root);
                println!("peers            {}", status.peers);
                println!("mempool          {}", status.mempool);
                println!("validators       {}", status.validators.len());
                for v in &status.validators {
                    println!("  {v}");
                }
                Ok(())
            }
            ChainCommand::Block { height, json } => {
                let block = client
                    .block(height)
                    .await
                    .map_err(|e| exit::input(rpc_message(&e)))?;
                if json {
                    return print_json(&block);
                }
                println!("block {height}  {}", block.hash);
                println!("state root   {}", block.header.state_root);
                println!("proposer     {}", block.header.proposer);
                println!("emission     {}", Balance::from_rao(block.emission));
                println!("transactions {}", block.transactions.len());
                for tx in &block.transactions {
                    let outcome = tx.error.as_deref().unwrap_or("ok");
                    println!("  {}  {}  {outcome}", tx.hash, tx.signer);
                }
                Ok(())
            }
        }
    })
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
pub fn transfer(keys: KeyArgs, to: String, amount: Balance, rpc: RpcArgs) -> anyhow::Result<()> {
    let to = resolve_address(&to)?;
    let key = unlock_coldkey(&keys.wallet)?;
    block_on(async move {
        let (client, status) = rpc.connect().await?;
        submit(&client, &status, &key, Call::Transfer { to, amount }).await?;
        println!("sent {amount} to {to}");
        Ok(())
    })
}

/// Runs `plexus register`.
pub fn register(keys: KeyArgs, netuid: u16, max_burn: Balance, rpc: RpcArgs) -> anyhow::Result<()> {
    let key = unlock_coldkey(&keys.wallet)?;
    let hotkey = hotkey_address(&keys.wallet, &keys.hotkey)?;
    block_on(async move {
        let (client, status) = rpc.connect().await?;
        let call = Call::Register {
            netuid: NetUid(netuid),
            hotkey,
            max_burn,
        };
        submit(&client, &status, &key, call).await?;
        let metagraph = client
            .metagraph(netuid)
            .await
            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
        let uid = metagraph.iter().find(|n| n.hotkey == hotkey).map(|n| n.uid);
        println!(
            "registered {hotkey} on subnet {netuid} as UID {}",
            uid.map_or("?".into(), |u| u.to_string())
        );
        Ok(())
    })
}

/// Runs `plexus subnet`.
pub fn subnet(cmd: SubnetCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    match cmd {
        SubnetCommand::Create { keys, max_lock } => {
            let key = unlock_coldkey(&keys.wallet)?;
            let owner_hotkey = hotkey_address(&keys.wallet, &keys.hotkey)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                let before = client
                    .subnets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                submit(
                    &client,
                    &status,
                    &key,
                    Call::CreateSubnet {
                        owner_hotkey,
                        max_lock,
                    },
                )
                .await?;
                let after = client
                    .subnets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                let new = after
                    .iter()
                    .find(|s| !before.iter().any(|b| b.netuid == s.netuid));
                match new {
                    Some(s) => println!("created subnet {} (locked {})", s.netuid, s.locked),
                    None => println!("created a subnet"),
                }
                Ok(())
            })
        }
        SubnetCommand::List { json } => block_on(async move {
            let (client, _) = rpc.connect().await?;
            let subnets = client
                .subnets()
                .await
                .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
            if json {
                return print_json(&subnets);
            }
            println!(
                "{:>6}  {:>7}  {:>5}  {:>16}  {:>16}  {:>12}  owner",
                "netuid", "neurons", "tempo", "pool tokens", "pool alpha", "price"
            );
            for s in &subnets {
                println!(
                    "{:>6}  {:>7}  {:>5}  {:>16.9}  {:>16.9}  {:>12}  {}",
                    s.netuid,
                    format!("{}/{}", s.neurons, s.max_neurons),
                    s.tempo,
                    Balance::from_rao(s.pool.tao),
                    Balance::from_rao(s.pool.alpha),
                    s.pool.price,
                    s.owner
                );
            }
            Ok(())
        }),
        SubnetCommand::Show { netuid, json } => block_on(async move {
            let (client, _) = rpc.connect().await?;
            let info = client
                .subnet(netuid)
                .await
                .map_err(|e| exit::input(rpc_message(&e)))?;
            let params = client
                .hyperparameters(netuid)
                .await
                .map_err(|e| exit::input(rpc_message(&e)))?;
            if json {
                return print_json(
                    &serde_json::json!({ "subnet": info, "hyperparameters": params }),
                );
            }
            print_subnet(&info, &params)?;
            Ok(())
        }),
        SubnetCommand::Set {
            keys,
            netuid,
            param,
            value,
        } => {
            let param = parse_hyperparameter(&param, &value)?;
            let key = unlock_coldkey(&keys.wallet)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                submit(
                    &client,
                    &status,
                    &key,
                    Call::SetHyperparameter {
                        netuid: NetUid(netuid),
                        param,
                    },
                )
                .await?;
                println!("subnet {netuid}: {} set", param.name());
                Ok(())
            })
        }
    }
}

/// Parses `--param NAME --value V` into a hyperparameter update.
fn parse_hyperparameter(name: &str, value: &str) -> anyhow::Result<Hyperparameter> {
    let bad =
        |e: &dyn std::fmt::Display| exit::input(format!("bad value {value:?} for {name}: {e}"));
    let u16v = || value.parse::<u16>().map_err(|e| bad(&e));
    let u64v = || value.parse::<u64>().map_err(|e| bad(&e));
    let boolv = || value.parse::<bool>().map_err(|e| bad(&e));
    let tokens = || value.parse::<Balance>().map_err(|e| bad(&e));
    Ok(match name.replace('-', "_").as_str() {
        "tempo" => Hyperparameter::Tempo(u16v()?),
        "kappa" => Hyperparameter::Kappa(u16v()?),
        "bonds_penalty" => Hyperparameter::BondsPenalty(u16v()?),
        "bonds_moving_average" => Hyperparameter::BondsMovingAverage(u64v()?),
        "max_allowed_validators" => Hyperparameter::MaxAllowedValidators(u16v()?),
        "max_allowed_uids" => Hyperparameter::MaxAllowedUids(u16v()?),
        "min_allowed_weights" => Hyperparameter::MinAllowedWeights(u16v()?),
        "immunity_period" => Hyperparameter::ImmunityPeriod(u16v()?),
        "weights_rate_limit" => Hyperparameter::WeightsRateLimit(u64v()?),
        "weights_version_key" => Hyperparameter::WeightsVersionKey(u64v()?),
        "activity_cutoff" => Hyperparameter::ActivityCutoff(u16v()?),
        "commit_reveal" => Hyperparameter::CommitReveal(boolv()?),
        "reveal_period_epochs" => Hyperparameter::RevealPeriodEpochs(u16v()?),
        "yuma3" => Hyperparameter::Yuma3(boolv()?),
        "liquid_alpha" => Hyperparameter::LiquidAlpha(boolv()?),
        "alpha_low" => Hyperparameter::AlphaLow(u16v()?),
        "alpha_high" => Hyperparameter::AlphaHigh(u16v()?),
        "alpha_sigmoid_steepness" => {
            Hyperparameter::AlphaSigmoidSteepness(value.parse::<i16>().map_err(|e| bad(&e))?)
        }
        "min_stake" => Hyperparameter::MinStake(tokens()?),
        "min_burn" => Hyperparameter::MinBurn(tokens()?),
        "max_burn" => Hyperparameter::MaxBurn(tokens()?),
        _ => {
            return Err(exit::input(format!(
                "unknown hyperparameter {name:?}; see `plexus subnet show --netuid N` for the names"
            )));
        }
    })
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

/// How long `plexus chain bond` waits for a node to answer at the bonded address: one
/// started a moment ago may still be opening its storage.
const NODE_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Refuses a bond to an address where nothing listens for peers.
async fn node_answers(address: std::net::SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + NODE_ANSWER_WAIT;
    let why = loop {
        let connect = tokio::net::TcpStream::connect(address);
        let why = match tokio::time::timeout_at(deadline, connect).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => break format!("no answer within {} s", NODE_ANSWER_WAIT.as_secs()),
        };
        if tokio::time::Instant::now() + std::time::Duration::from_millis(250) >= deadline {
            break why;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    Err(exit::input(format!(
        "no node answers at {address} ({why}). Start the node that holds this consensus key \
         first: once seated, a validator that is not running counts as down, and a third of \
         the seats down stops the chain. (--no-address-check bonds anyway.)"
    )))
}

/// `plexus subnet show` for people: amounts in tokens and alpha, hyperparameters under the
/// names `plexus subnet set --param` takes.
fn print_subnet(info: &SubnetInfo, params: &SubnetParams) -> anyhow::Result<()> {
    let tokens = |rao: u64| Balance::from_rao(rao).to_string();
    println!("subnet {}", info.netuid);
    println!("  owner               {}", info.owner);
    println!("  owner hotkey        {}", info.owner_hotkey);
    println!(
        "  neurons             {} of {}",
        info.neurons, info.max_neurons
    );
    println!(
        "  epochs              every {} blocks; {} run, the last at block {}",
        info.tempo, info.epoch_index, info.last_epoch_block
    );
    println!(
        "  pending emission    {} alpha",
        tokens(info.pending_emission)
    );
    println!(
        "  pool                {} tokens, {} alpha; price {} tokens per alpha",
        tokens(info.pool.tao),
        tokens(info.pool.alpha),
        info.pool.price
    );
    println!("  registration price  {} tokens", info.registration_price);
    println!("  locked              {} tokens", info.locked);
    println!("  created at block    {}", info.created_at);
    println!("hyperparameters");
    let serde_json::Value::Object(fields) = serde_json::to_value(params)? else {
        anyhow::bail!("hyperparameters are not a JSON object");
    };
    for (name, value) in &fields {
        let shown = match (name.as_str(), value.as_u64()) {
            ("min_stake" | "min_burn" | "max_burn", Some(rao)) => format!("{} tokens", tokens(rao)),
            _ => value.to_string(),
        };
        println!("  {name:<24}  {shown}");
    }
    Ok(())
}

/// Runs `plexus weights`; weights are signed by the hotkey.
pub fn weights(cmd: WeightsCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    let (args, salt, kind) = match cmd {
        WeightsCommand::Show { netuid, json } => return show_weights(netuid, json, rpc),
        WeightsCommand::Set(args) => (args, None, "set"),
        WeightsCommand::Commit { weights, salt } => (weights, Some(salt), "committed"),
        WeightsCommand::Reveal { weights, salt } => (weights, Some(salt), "revealed"),
    };
    if args.uids.len() != args.weights.len() {
        return Err(exit::input(format!(
            "{} uids but {} weights",
            args.uids.len(),
            args.weights.len()
        )));
    }
    let salt = salt
        .map(|s| {
            let salt = hex::decode(s.trim_start_matches("0x"))
                .map_err(|e| exit::input(format!("--salt is not hex: {e}")))?;
            // A longer salt could be committed (only its hash goes on chain) but never
            // revealed: a reveal carries the salt and is refused past this length.
            if salt.len() > MAX_SALT_LEN {
                return Err(exit::input(format!(
                    "--salt is {} bytes; at most {MAX_SALT_LEN} (a longer one could never be revealed)",
                    salt.len()
                )));
            }
            Ok(salt)
        })
        .transpose()?;
    let key = unlock_hotkey(&args.keys.wallet, &args.keys.hotkey)?;
    let netuid = NetUid(args.netuid);
    let call = match (kind, salt) {
        ("committed", Some(salt)) => {
            let commit: Hash = weights_commit_hash(
                &key.account_id(),
                netuid,
                &args.uids,
                &args.weights,
                &salt,
                args.version_key,
            );
            Call::CommitWeights { netuid, commit }
        }
        ("revealed", Some(salt)) => Call::RevealWeights {
            netuid,
            uids: args.uids.clone(),
            weights: args.weights.clone(),
            salt,
            version_key: args.version_key,
        },
        _ => Call::SetWeights {
            netuid,
            uids: args.uids.clone(),
            weights: args.weights.clone(),
            version_key: args.version_key,
        },
    };
    block_on(async move {
        let (client, status) = rpc.connect().await?;
        // The hotkey signs, so the hotkey pays the fee: say so before the node's bare
        // "insufficient balance" sends the user to look at a well-funded coldkey.
        let hotkey = key.account_id();
        let account = client
            .account(hotkey)
            .await
            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
        if account.balance < status.min_fee {
            return Err(exit::input(format!(
                "the hotkey {hotkey} signs weights transactions and pays their fee ({}), but holds {}; \
                 send it some tokens first: plexus transfer --wallet {} --to {hotkey} --amount 1",
                status.min_fee, account.balance, args.keys.wallet
            )));
        }
        submit(&client, &status, &key, call).await?;
        println!("weights {kind} on subnet {}", args.netuid);
        Ok(())
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
