//! `plexus chain`: the node's status, blocks and transactions, the validator sets, and
//! bonds.

use std::io::Write;

use clap::Subcommand;
use plexus_ledger::{LedgerRules, ValidatorSets};
use plexus_node::rpc::PlexusApiClient;
use plexus_node::rpc::{TxInfo, TxStatus};
use plexus_primitives::{AccountId, Balance, Call, Hash};

use super::{SentOutput, print_json};
use crate::client::{RpcArgs, STALLED_AFTER_SECS, block_on, rpc_message, submit};
use crate::exit;
use crate::wallet::unlock_coldkey;

/// `plexus chain ...`
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Heights, finality, validators, peers and ledger rules.
    Status {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// The chain validators: this epoch's set, the set the bonds would choose next, and
    /// when the epoch ends.
    Validators {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Bond tokens from the wallet's coldkey to a node's consensus key: at each consensus
    /// epoch boundary the largest bonds whose nodes are running (they send a heartbeat each
    /// epoch) become the validator set.
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
        #[arg(long, allow_negative_numbers = true)]
        amount: Balance,
        /// Bond even if nothing answers at --address from this machine (a node reachable
        /// by the other validators but not from here)
        #[arg(long)]
        no_address_check: bool,
        #[command(flatten)]
        out: SentOutput,
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
        #[arg(long, allow_negative_numbers = true)]
        amount: Balance,
        #[command(flatten)]
        out: SentOutput,
    },
    /// A finalized block with its transactions and their outcomes.
    Block {
        /// The block's height [default: the latest finalized]
        #[arg(value_parser = block_height)]
        height: Option<u64>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// What became of a transaction: waiting, refused, or in which block with what
    /// outcome (the hash is what submitting it printed).
    Tx {
        /// The transaction's hash (64 hex digits)
        hash: Hash,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// Prints the validator sets as two tables.
fn print_validator_sets(sets: &plexus_ledger::ValidatorSets, height: u64) {
    println!(
        "epoch {} (heights {}..={}, {} blocks each; head {height})",
        sets.epoch, sets.first_height, sets.last_height, sets.epoch_length
    );
    let table = |title: &str, noun: &str, seats: &[plexus_ledger::ValidatorSeat]| {
        println!(
            "{title} ({})",
            crate::devnet::plural(u64::try_from(seats.len()).unwrap_or(u64::MAX), noun)
        );
        println!(
            "  {:<64}  {:>18}  {:>9}  {:>9}  address",
            "consensus key", "bond", "bonded in", "heartbeat"
        );
        let epoch = |e: Option<u64>| e.map_or("-".into(), |e| format!("epoch {e}"));
        for v in seats {
            println!(
                "  {:<64}  {:>18}  {:>9}  {:>9}  {}",
                v.consensus_key.to_string(),
                v.bond.to_string(),
                epoch(v.bonded_in),
                epoch(v.heartbeat),
                v.address.as_deref().unwrap_or("-")
            );
        }
    };
    table("current set", "validator", &sets.current);
    table(
        &format!(
            "next set, if the epoch ended now (from height {})",
            sets.last_height + 1
        ),
        "validator",
        &sets.next,
    );
    // Nodes that validators let follow the chain without a seat; the seated are
    // their peers anyway.
    let followers: Vec<plexus_ledger::ValidatorSeat> = sets
        .candidates
        .iter()
        .filter(|c| {
            sets.current
                .iter()
                .all(|v| v.consensus_key != c.consensus_key)
        })
        .cloned()
        .collect();
    if !followers.is_empty() {
        table(
            "candidates outside the set, whose nodes validators let follow the chain",
            "candidate",
            &followers,
        );
    }
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
                out,
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
                let sent = submit(&client, &status, &key, call).await?;
                let sets = client
                    .validator_sets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                let seated = sets.next.iter().any(|v| v.consensus_key == consensus_key);
                let serving = sets
                    .current
                    .iter()
                    .any(|v| v.consensus_key == consensus_key);
                if out.json {
                    return out.done(
                        Some(sent),
                        "",
                        serde_json::json!({
                            "consensus_key": consensus_key, "address": address,
                            "amount": amount, "in_current_set": serving,
                            "in_next_set": seated, "epoch_ends_at": sets.last_height,
                        }),
                    );
                }
                let total = bond_of(&sets, &consensus_key)
                    .filter(|total| *total != amount)
                    .map_or(String::new(), |total| format!(" ({total} in all)"));
                println!("bonded {amount} to {consensus_key} at {address}{total}");
                let heartbeats = status
                    .ledger_rules
                    .is_some_and(|r| LedgerRules(r).seats_need_heartbeats());
                if serving && seated {
                    println!("it is in the validator set and stays in the next one");
                } else if serving && heartbeats {
                    println!(
                        "it is in the validator set until height {}, and stays if its node sends \
                         this epoch's heartbeat (a running node does so by itself) and its bond \
                         ranks among the largest",
                        sets.last_height
                    );
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
                } else if heartbeats {
                    println!(
                        "it joins the validator set at height {} if its node at {address} sends \
                         its heartbeat before then (a running node does so by itself within a \
                         few blocks; `plexus chain validators` shows it) and its bond ranks \
                         among the largest",
                        sets.last_height + 1,
                    );
                } else {
                    println!(
                        "its bond is not among the {} largest yet: it would not be in the next set",
                        sets.next.len()
                    );
                }
                // A node must follow the chain to be seated (and to send its heartbeat):
                // validators accept only candidates' connections. Nodes that predate the
                // list send none.
                let candidate = sets
                    .candidates
                    .iter()
                    .any(|c| c.consensus_key == consensus_key);
                if !serving && !candidate && !sets.candidates.is_empty() {
                    let fresh_bonds = status
                        .ledger_rules
                        .is_some_and(|r| LedgerRules(r).bonds_record_their_epoch());
                    let (order, remedy) = match fresh_bonds {
                        true => (
                            "the rest by their latest sign of life (made, or last heartbeat), \
                             then size",
                            "Bonding more counts only against bonds as new as this one",
                        ),
                        false => ("then the largest", "Bond more"),
                    };
                    eprintln!(
                        "note: validators will not accept connections from the node of \
                         {consensus_key} yet: its bond is not among the {} candidates (bonds \
                         whose nodes sent a heartbeat this epoch or the last, {order}). \
                         {remedy}, or ask a validator to list the node as a peer in its \
                         node.toml",
                        sets.candidates.len()
                    );
                }
                let leaving: Vec<String> = sets
                    .current
                    .iter()
                    .filter(|c| sets.next.iter().all(|n| n.consensus_key != c.consensus_key))
                    .map(|c| c.consensus_key.to_string())
                    .collect();
                if !leaving.is_empty() && heartbeats {
                    eprintln!(
                        "note: so far {} validator(s) of the current set would leave at height \
                         {}: their nodes have not sent this epoch's heartbeat yet, or their \
                         bonds rank below: {}",
                        leaving.len(),
                        sets.last_height + 1,
                        leaving.join(", ")
                    );
                } else if !leaving.is_empty() {
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
                out,
                ..
            } => {
                let key = coldkey.ok_or_else(|| anyhow::anyhow!("no coldkey unlocked"))?;
                let sets = client
                    .validator_sets()
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                if let Some(refusal) = partial_unbond(&sets, &consensus_key, amount) {
                    return Err(exit::input(refusal));
                }
                let sent = submit(
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
                out.done(
                    Some(sent),
                    &format!(
                        "unbonding {amount} from {consensus_key}: paid back after height {}",
                        sets.last_height
                    ),
                    serde_json::json!({
                        "consensus_key": consensus_key, "amount": amount,
                        "paid_back_after": sets.last_height,
                    }),
                )
            }
            ChainCommand::Status { json: false } => {
                println!("chain            {}", status.chain_id);
                println!("height           {}", status.height);
                // Without peers the node learns of no block, whatever the chain does.
                let alone = if status.peers == 0 {
                    "; this node has no peers: check its bootstrappers, that a validator \
                     accepts it (a node outside the set is accepted once its bond is a \
                     candidate), and that its genesis is the chain's"
                } else {
                    ""
                };
                let note = match status.secs_since_block {
                    _ if status.catching_up => {
                        " (catching up with the chain: fetching the blocks it is behind on)".into()
                    }
                    Some(secs) if secs >= STALLED_AFTER_SECS => format!(
                        " (no block for {secs} s: the chain may have stopped, as it does while \
                         a third of the validator seats are down{alone})"
                    ),
                    Some(secs) => format!(" ({secs} s ago)"),
                    None => format!(" (no block since this node started{alone})"),
                };
                println!("finalized height {}{note}", status.finalized_height);
                println!("state root       {}", status.state_root);
                println!("peers            {}", status.peers);
                println!("mempool          {}", status.mempool);
                println!(
                    "ledger rules     {}",
                    status
                        .ledger_rules
                        .map_or("unknown (the node predates them)".into(), |r| r.to_string())
                );
                match &status.checkpoint {
                    Some(c) => println!(
                        "checkpoint       height {}, block {} ({}; `plexus node --sync-from` starts a new node from it)",
                        c.height,
                        c.hash,
                        crate::sync::size(c.size)
                    ),
                    None => {
                        println!("checkpoint       none yet (one comes with each consensus epoch)")
                    }
                }
                println!("validators       {}", status.validators.len());
                for v in &status.validators {
                    println!("  {v}");
                }
                Ok(())
            }
            ChainCommand::Block { height, json } => {
                let height = height.unwrap_or(status.finalized_height);
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
            ChainCommand::Tx { hash, json } => {
                let status = client
                    .transaction_status(hash)
                    .await
                    .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                let included = match status {
                    TxStatus::Included { height, index, .. } => {
                        let block = client
                            .block(height)
                            .await
                            .map_err(|e| anyhow::anyhow!(rpc_message(&e)))?;
                        let tx = block.transactions.into_iter().nth(index).ok_or_else(|| {
                            anyhow::anyhow!("block {height} holds no transaction {index}")
                        })?;
                        Some((height, index, tx))
                    }
                    _ => None,
                };
                if json {
                    let mut value = serde_json::to_value(&status)?;
                    if let (Some((.., tx)), Some(fields)) = (&included, value.as_object_mut()) {
                        fields.insert("transaction".into(), serde_json::to_value(tx)?);
                    }
                    return print_json(&value);
                }
                match (status, included) {
                    (_, Some((height, index, tx))) => print_included(height, index, &tx)?,
                    (TxStatus::Pending, _) => {
                        println!("transaction {hash} is waiting in the node's mempool");
                    }
                    (TxStatus::Refused { reason }, _) => {
                        println!(
                            "transaction {hash} was left out of a block by this node: {reason}"
                        );
                    }
                    _ => println!(
                        "transaction {hash} is not known to this node (never sent here, or finalized before the blocks it keeps)"
                    ),
                }
                Ok(())
            }
        }
    })
}

/// A block height as `chain block` takes it; a hash is a transaction's, which `chain tx`
/// looks up.
fn block_height(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| {
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            "blocks are looked up by height; a 64-digit hash is a transaction's: `plexus chain \
             tx HASH`"
                .to_owned()
        } else {
            "a block height: a whole number".to_owned()
        }
    })
}

/// The bond on `key` as the sets show it: those in no set and below the minimum are not.
fn bond_of(sets: &ValidatorSets, key: &AccountId) -> Option<Balance> {
    sets.current
        .iter()
        .chain(&sets.next)
        .chain(&sets.candidates)
        .filter(|seat| seat.consensus_key == *key)
        .map(|seat| seat.bond)
        .max()
}

/// Why unbonding `amount` from `key` is refused before it is sent: it would leave a bond
/// below the least a seat needs, which costs the seat at the epoch's end and then counts for
/// nothing (nor shows in `chain validators`). `None` where the bond is not in view (the
/// ledger's own checks then apply).
fn partial_unbond(sets: &ValidatorSets, key: &AccountId, amount: Balance) -> Option<String> {
    let bond = bond_of(sets, key)?;
    let left = bond.rao().checked_sub(amount.rao())?;
    let min = sets.min_bond;
    if left == 0 || left >= min.rao() {
        return None;
    }
    // A bond already below the minimum (a seat keeps its bond until the epoch ends) can
    // only go whole.
    let or_less = match bond.rao().saturating_sub(min.rao()) {
        0 => String::new(),
        most => format!(", or at most {}", Balance::from_rao(most)),
    };
    Some(format!(
        "unbonding {amount} of the {bond} bonded to {key} would leave {}, below the {min} a \
         seat needs: it would leave the validator set after height {} and the rest would count \
         for nothing; unbond all {bond}{or_less}",
        Balance::from_rao(left),
        sets.last_height,
    ))
}

/// Prints a finalized transaction: where it is, what it did, what it asked.
fn print_included(height: u64, index: usize, tx: &TxInfo) -> anyhow::Result<()> {
    let outcome = match (&tx.error, tx.fee_paid) {
        (None, _) => "applied".to_owned(),
        (Some(why), true) => format!("failed, its fee paid: {why}"),
        (Some(why), false) => format!("failed, nothing charged: {why}"),
    };
    println!("transaction {}", tx.hash);
    println!("block       {height} (index {index})");
    println!("outcome     {outcome}");
    println!("signer      {}", tx.signer);
    println!("nonce       {}", tx.nonce);
    println!("call        {}", readable_call(&tx.call)?);
    Ok(())
}

/// The fields of a call that hold amounts in base units (tokens, alpha, or tokens per
/// alpha), which people read and write in whole units.
const AMOUNT_FIELDS: [&str; 5] = ["amount", "max_lock", "max_burn", "alpha", "limit_price"];

/// A call as JSON with its amounts as `plexus` commands take them ("12.5", not
/// 12500000000); `--json` keeps the base units, as the node serves them.
fn readable_call(call: &plexus_primitives::Call) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(call)?;
    if let Some(fields) = value
        .as_object_mut()
        .and_then(|variant| variant.values_mut().next())
        .and_then(serde_json::Value::as_object_mut)
    {
        for (name, field) in fields.iter_mut() {
            if let Some(rao) = field.as_u64()
                && AMOUNT_FIELDS.contains(&name.as_str())
            {
                *field = Balance::from_rao(rao).to_string().into();
            }
        }
    }
    Ok(serde_json::to_string(&value)?)
}

/// How long `plexus chain bond` waits for a node to answer at the bonded address: one
/// started a moment ago may still be opening its storage.
const NODE_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Refuses a bond to an address where nothing listens for peers.
async fn node_answers(address: std::net::SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + NODE_ANSWER_WAIT;
    let mut waiting = false;
    let why = loop {
        let Err(why) = crate::client::accepts_connections(address, deadline).await else {
            return Ok(());
        };
        if tokio::time::Instant::now() + std::time::Duration::from_millis(250) >= deadline {
            break why;
        }
        if !waiting {
            waiting = true;
            let _ = writeln!(
                std::io::stderr(),
                "no node answers at {address} yet ({why}); waiting up to {} s",
                NODE_ANSWER_WAIT.as_secs()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    Err(exit::input(format!(
        "no node answers at {address} ({why}). Start the node that holds this consensus key \
         first: once seated, a validator that is not running counts as down, and a third of \
         the seats down stops the chain. (This checks only that something accepts \
         connections there; --no-address-check bonds anyway.)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_ledger::ValidatorSeat;
    use plexus_primitives::{AccountId, Call, NetUid};

    #[test]
    fn an_unbond_that_leaves_less_than_a_seat_needs_is_refused() {
        let key = AccountId([7; 32]);
        let tokens = |t: u64| Balance::from_rao(t * 1_000_000_000);
        let sets = ValidatorSets {
            epoch: 3,
            epoch_length: 30,
            first_height: 90,
            last_height: 119,
            current: vec![ValidatorSeat {
                consensus_key: key,
                address: None,
                bond: tokens(1_000),
                heartbeat: None,
                bonded_in: None,
            }],
            next: Vec::new(),
            candidates: Vec::new(),
            min_bond: tokens(1_000),
        };
        let refused = partial_unbond(&sets, &key, tokens(500)).unwrap();
        assert!(
            refused.contains("would leave 500") && refused.contains("unbond all 1000"),
            "{refused}"
        );
        // All of it, or a bond that stays above the minimum, or one not in view: sent.
        assert_eq!(partial_unbond(&sets, &key, tokens(1_000)), None);
        let mut big = sets.clone();
        big.current[0].bond = tokens(3_000);
        assert_eq!(partial_unbond(&big, &key, tokens(500)), None);
        // A seat whose bond is already below the minimum can only go whole.
        let mut small = sets.clone();
        small.current[0].bond = tokens(800);
        let refused = partial_unbond(&small, &key, tokens(300)).unwrap();
        assert!(
            refused.ends_with("unbond all 800") && refused.contains("leave 500"),
            "{refused}"
        );
        assert_eq!(
            partial_unbond(&sets, &AccountId([8; 32]), tokens(500)),
            None
        );
    }

    #[test]
    fn a_calls_amounts_read_in_whole_units() {
        let to = AccountId([7; 32]);
        let transfer = Call::Transfer {
            to,
            amount: Balance::from_rao(12_500_000_000),
        };
        let text = readable_call(&transfer).unwrap();
        assert!(text.contains(r#""amount":"12.5""#), "{text}");
        assert!(text.contains(&to.to_string()), "{text}");
        let unstake = Call::RemoveStake {
            netuid: NetUid(1),
            hotkey: to,
            alpha: 1_000_000_000,
            limit_price: None,
        };
        let text = readable_call(&unstake).unwrap();
        assert!(
            text.contains(r#""alpha":"1""#) && text.contains(r#""netuid":1"#),
            "{text}"
        );
    }
}
