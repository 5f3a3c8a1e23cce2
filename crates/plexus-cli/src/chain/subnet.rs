//! `plexus subnet`: creating subnets, listing and showing them, and owners' settings.

use clap::Subcommand;
use plexus_ledger::{SubnetInfo, SubnetParams};
use plexus_node::rpc::PlexusApiClient;
use plexus_primitives::{Balance, Call, Hyperparameter, NetUid, Work};

use super::{KeyArgs, SentOutput, print_json};
use crate::client::{RpcArgs, block_on, rpc_message, submit};
use crate::exit;
use crate::wallet::{hotkey_address, unlock_coldkey};

/// `plexus subnet ...`
#[derive(Debug, Subcommand)]
pub enum SubnetCommand {
    /// Create a subnet, locking the current price.
    Create {
        #[command(flatten)]
        keys: KeyArgs,
        /// At most this many tokens to lock (the price moves)
        #[arg(long, allow_negative_numbers = true, default_value = "1000")]
        max_lock: Balance,
        /// The kind of work the subnet trades (text or embeddings), recorded on chain so
        /// miners and validators know it; set once, now or later with `subnet set --param
        /// work`
        #[arg(long)]
        work: Option<Work>,
        #[command(flatten)]
        out: SentOutput,
    },
    /// List subnets.
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// One subnet with its hyperparameters.
    Show {
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Set a hyperparameter (subnet owner only), e.g. `--param tempo --value 100`, or the
    /// subnet's kind of work once: `--param work --value text`.
    Set {
        /// The wallet whose coldkey (the subnet's owner) signs
        #[arg(long, default_value = "default")]
        wallet: String,
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// The hyperparameter, e.g. tempo, kappa, commit_reveal, max_allowed_uids, or work
        /// (`plexus subnet show --netuid N` lists every name)
        #[arg(long)]
        param: String,
        /// Its new value (a whole number, true or false, or tokens for min_stake,
        /// min_burn and max_burn)
        #[arg(long, allow_hyphen_values = true)]
        value: String,
        #[command(flatten)]
        out: SentOutput,
    },
}

/// Runs `plexus subnet`.
pub fn subnet(cmd: SubnetCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    match cmd {
        SubnetCommand::Create {
            keys,
            max_lock,
            work,
            out,
        } => {
            let key = unlock_coldkey(&keys.wallet)?;
            let owner = key.account_id();
            let owner_hotkey = hotkey_address(&keys.wallet, &keys.hotkey)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                let before = client
                    .subnets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                let created = submit(
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
                    .find(|s| s.owner == owner && !before.iter().any(|b| b.netuid == s.netuid));
                let Some(new) = new else {
                    return match work {
                        Some(_) => Err(anyhow::anyhow!(
                            "created a subnet, but could not tell which one is new; record \
                             its work with `plexus subnet set --netuid N --param work --value \
                             KIND`"
                        )),
                        None => out.done(
                            Some(created),
                            "created a subnet",
                            serde_json::json!({ "netuid": null }),
                        ),
                    };
                };
                let mut text = format!("created subnet {} (locked {})", new.netuid, new.locked);
                let mut recorded = None;
                if let Some(work) = work {
                    let netuid = new.netuid;
                    let call = Call::SetSubnetWork { netuid, work };
                    if !out.json {
                        println!("{text}");
                    }
                    recorded = Some(submit(&client, &status, &key, call).await.map_err(|e| {
                        e.context(format!(
                            "subnet {netuid} was created, but its work was not recorded; \
                             record it with `plexus subnet set --netuid {netuid} --param work \
                             --value {work}`"
                        ))
                    })?);
                    text = format!("subnet {netuid} trades {work} work");
                }
                out.done(
                    Some(created),
                    &text,
                    serde_json::json!({
                        "netuid": new.netuid, "locked": new.locked, "work": work,
                        "work_transaction": recorded.map(|s| s.transaction),
                    }),
                )
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
                "{:>6}  {:<10}  {:>7}  {:>5}  {:>16}  {:>16}  {:>12}  owner",
                "netuid", "work", "neurons", "tempo", "pool tokens", "pool alpha", "price"
            );
            for s in &subnets {
                println!(
                    "{:>6}  {:<10}  {:>7}  {:>5}  {:>16.9}  {:>16.9}  {:>12}  {}",
                    s.netuid,
                    s.work.map_or("-", Work::as_str),
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
            wallet,
            netuid,
            param: name,
            value,
            out,
        } => {
            let netuid_id = NetUid(netuid);
            let call = match name.as_str() {
                "work" => Call::SetSubnetWork {
                    netuid: netuid_id,
                    work: value
                        .parse::<Work>()
                        .map_err(|e| exit::input(e.to_string()))?,
                },
                _ => Call::SetHyperparameter {
                    netuid: netuid_id,
                    param: parse_hyperparameter(&name, &value)?,
                },
            };
            let key = unlock_coldkey(&wallet)?;
            block_on(async move {
                let (client, status) = rpc.connect().await?;
                if let Call::SetSubnetWork { work, .. } = call {
                    let info = client
                        .subnet(netuid)
                        .await
                        .map_err(|e| exit::input(rpc_message(&e)))?;
                    match info.work {
                        // Again the same: nothing to pay for.
                        Some(recorded) if recorded == work => {
                            return out.done(
                                None,
                                &format!("subnet {netuid} already trades {work} work"),
                                serde_json::json!({ "netuid": netuid, "work": work }),
                            );
                        }
                        Some(recorded) => {
                            return Err(exit::input(format!(
                                "subnet {netuid} already trades {recorded} work; a subnet's \
                                 kind of work is set once"
                            )));
                        }
                        None => {}
                    }
                    let sent = submit(&client, &status, &key, call).await?;
                    return out.done(
                        Some(sent),
                        &format!("subnet {netuid} trades {work} work"),
                        serde_json::json!({ "netuid": netuid, "work": work }),
                    );
                }
                let sent = submit(&client, &status, &key, call).await?;
                out.done(
                    Some(sent),
                    &format!("subnet {netuid}: {name} set to {value}"),
                    serde_json::json!({ "netuid": netuid, "param": name, "value": value }),
                )
            })
        }
    }
}

/// Parses `--param NAME --value V` into a hyperparameter update.
fn parse_hyperparameter(name: &str, value: &str) -> anyhow::Result<Hyperparameter> {
    // Fractions (kappa, bonds_penalty, alpha_low, alpha_high) are parts of 65,535, not
    // decimals as some tools show them.
    let fraction = matches!(
        name.replace('-', "_").as_str(),
        "kappa" | "bonds_penalty" | "alpha_low" | "alpha_high"
    );
    let bad = |expected: &str| {
        let parts = if fraction {
            " (a fraction in parts of 65535: 32767 is one half)"
        } else {
            ""
        };
        exit::input(format!(
            "bad value {value:?} for {name}: expected {expected}{parts}"
        ))
    };
    let u16v = || {
        value
            .parse::<u16>()
            .map_err(|_| bad("a whole number from 0 to 65535"))
    };
    let u64v = || {
        value
            .parse::<u64>()
            .map_err(|_| bad("a whole number from 0 to 18446744073709551615"))
    };
    let boolv = || value.parse::<bool>().map_err(|_| bad("true or false"));
    let tokens = || {
        value
            .parse::<Balance>()
            .map_err(|e| bad(&format!("an amount of tokens ({e})")))
    };
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
        "alpha_sigmoid_steepness" => Hyperparameter::AlphaSigmoidSteepness(
            value
                .parse::<i16>()
                .map_err(|_| bad("a whole number from -32768 to 32767"))?,
        ),
        "min_stake" => Hyperparameter::MinStake(tokens()?),
        "min_burn" => Hyperparameter::MinBurn(tokens()?),
        "max_burn" => Hyperparameter::MaxBurn(tokens()?),
        _ => {
            return Err(exit::input(format!(
                "unknown hyperparameter {name:?}; the names are work, {}",
                Hyperparameter::NAMES.join(", ")
            )));
        }
    })
}

/// `plexus subnet show` for people: amounts in tokens and alpha, hyperparameters under the
/// names `plexus subnet set --param` takes.
fn print_subnet(info: &SubnetInfo, params: &SubnetParams) -> anyhow::Result<()> {
    let tokens = |rao: u64| Balance::from_rao(rao).to_string();
    println!("subnet {}", info.netuid);
    let work = info.work.map_or("not recorded", Work::as_str);
    println!("  work                {work}");
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
    if let Some(moving) = info.moving_price {
        // 10⁻¹⁸ tokens per alpha, shown to nine places as prices are.
        let moving = plexus_ledger::pool::Price(moving / 1_000_000_000);
        println!("  moving price        {moving} tokens per alpha (emission follows it)");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hyperparameter_the_chain_names_can_be_set_by_that_name() {
        for name in Hyperparameter::NAMES {
            let value = if name.contains("burn") || name == "min_stake" {
                "1"
            } else if matches!(name, "commit_reveal" | "yuma3" | "liquid_alpha") {
                "true"
            } else {
                "7"
            };
            let param = parse_hyperparameter(name, value).unwrap();
            // The chain's messages name it as the command does.
            assert_eq!(param.name(), name);
        }
    }

    #[test]
    fn a_bad_value_says_what_is_expected() {
        let err = parse_hyperparameter("kappa", "0.5")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("from 0 to 65535") && err.contains("32767 is one half"),
            "{err}"
        );
        let err = parse_hyperparameter("tempo", "-5").unwrap_err().to_string();
        assert!(err.contains("a whole number from 0 to 65535"), "{err}");
        let err = parse_hyperparameter("commit_reveal", "yes")
            .unwrap_err()
            .to_string();
        assert!(err.contains("true or false"), "{err}");
        let err = parse_hyperparameter("tmepo", "5").unwrap_err().to_string();
        assert!(
            err.contains("activity_cutoff") && err.contains("work"),
            "{err}"
        );
    }
}
