//! `plexus weights`: setting, committing, revealing and showing a subnet's weights.

use clap::{Args, Subcommand};
use plexus_node::rpc::PlexusApiClient;
use plexus_primitives::{Call, Hash, MAX_SALT_LEN, NetUid, weights_commit_hash};

use super::{KeyArgs, SentOutput, print_json};
use crate::client::{RpcArgs, block_on, rpc_message, submit};
use crate::exit;
use crate::wallet::unlock_hotkey;

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
    /// Weights, comma-separated, one per UID: whole numbers 0 to 65535, in proportion
    /// (the chain normalizes them: 1,3 gives the second UID three quarters)
    #[arg(long, value_delimiter = ',', required = true)]
    weights: Vec<u16>,
    /// The subnet's weights version key
    #[arg(long, default_value_t = 0)]
    version_key: u64,
    #[command(flatten)]
    out: SentOutput,
}

/// The shortest salt `plexus weights commit` accepts, in bytes.
const MIN_COMMIT_SALT_LEN: usize = 16;

/// `plexus weights ...`
#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Set weights directly (subnets without commit-reveal).
    Set(WeightArgs),
    /// Commit to weights; reveal them later with `plexus weights reveal` and the same salt,
    /// once the subnet's reveal period (`reveal_period_epochs`) has passed.
    Commit {
        #[command(flatten)]
        weights: WeightArgs,
        /// Secret random salt, hex, 16 to 32 bytes (e.g. `openssl rand -hex 32`)
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
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
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
            // Weights are few and guessable: a short salt would let anyone read them from
            // the commit before the reveal, which commit-reveal exists to prevent.
            if kind == "committed" && salt.len() < MIN_COMMIT_SALT_LEN {
                return Err(exit::input(format!(
                    "--salt is {} bytes; a commit needs at least {MIN_COMMIT_SALT_LEN} random \
                     bytes (e.g. `openssl rand -hex 32`), or its weights can be guessed from it",
                    salt.len()
                )));
            }
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
        let sent = submit(&client, &status, &key, call).await?;
        args.out.done(
            Some(sent),
            &format!("weights {kind} on subnet {}", args.netuid),
            serde_json::json!({ "netuid": args.netuid, "weights": kind }),
        )
    })
}
