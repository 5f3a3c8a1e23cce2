//! The plexus command: a whole local network (up), wallets, the chain and its subnets, stake and weights, nodes, miners, validators, models, the explorer, benchmarks and Yuma simulation.

mod bench;
mod chain;
mod client;
mod cpu;
mod devnet;
mod exit;
mod home;
mod keyfile;
mod models;
mod neuron;
mod node;
mod ports;
mod rpc_chain;
mod signals;
mod sync;
mod up;
mod wallet;
mod yuma;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use plexus_primitives::{AccountId, Balance};

use crate::chain::KeyArgs;
use crate::client::RpcArgs;

/// Plexus: an open network of intelligence.
#[derive(Debug, Parser)]
#[command(name = "plexus", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A family of commands that talk to a node: they, and only they, take `--rpc`.
#[derive(Debug, Args)]
struct OnChain<C: Subcommand> {
    #[command(subcommand)]
    command: C,
    #[command(flatten)]
    rpc: RpcArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a whole local network: chain, text and embeddings subnets with miners and a
    /// validator, the OpenAI-compatible gateway on 127.0.0.1:8080 and the explorer on
    /// 127.0.0.1:8081. Run again to resume.
    Up(up::UpArgs),
    /// Wallets: create, regen (restore from a mnemonic), list and show encrypted coldkeys and
    /// hotkeys.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// The chain: status, validators, bonding to validate, blocks and transactions.
    Chain(OnChain<chain::ChainCommand>),
    /// An account's free balance and stake.
    Balance {
        /// The address [default: the wallet's coldkey]
        address: Option<AccountId>,
        /// The wallet, when no address is given
        #[arg(long, default_value = "default")]
        wallet: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Send tokens from the wallet's coldkey.
    Transfer {
        /// The wallet whose coldkey signs and pays
        #[arg(long, default_value = "default")]
        wallet: String,
        /// The recipient: an address, or the name of a wallet in $PLEXUS_HOME
        #[arg(long)]
        to: String,
        /// Tokens to send, e.g. 1.5
        #[arg(long, allow_negative_numbers = true)]
        amount: Balance,
        #[command(flatten)]
        out: chain::SentOutput,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Subnets: create, list, show, set hyperparameters.
    Subnet(OnChain<chain::SubnetCommand>),
    /// Register the wallet's hotkey on a subnet by burning the current price.
    Register {
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        rpc: RpcArgs,
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// At most this many tokens to burn (the price moves)
        #[arg(long, allow_negative_numbers = true, default_value = "10")]
        max_burn: Balance,
        #[command(flatten)]
        out: chain::SentOutput,
    },
    /// Stake: add, remove, list.
    Stake(OnChain<chain::StakeCommand>),
    /// Weights: set, commit or reveal them (signed by the hotkey), or show them.
    Weights(OnChain<chain::WeightsCommand>),
    /// A subnet's metagraph: every UID's stake, scores, emission and axon.
    Metagraph {
        /// The subnet
        #[arg(long)]
        netuid: u16,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Run one chain node from the config and keys in a home directory (`plexus node
    /// --home DIR`), or write a new node's home to join a network (`plexus node init`).
    Node(node::NodeArgs),
    /// The web explorer over a node's RPC (--rpc): chain head, subnets, metagraphs,
    /// blocks and accounts, read-only.
    Explorer {
        /// Where to serve the page
        #[arg(long, default_value = plexus_explorer::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// A local N-validator network: init writes it, up runs it.
    #[command(subcommand)]
    Devnet(devnet::DevnetCommand),
    /// The embedded models: fetch them (pip, SHA-256 checked), list them.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// A miner: serve a subnet's work behind the wire protocol.
    Miner(OnChain<neuron::MinerCommand>),
    /// A validator: challenge a subnet's miners, score them and set weights.
    Validator(OnChain<neuron::ValidatorCommand>),
    /// Benchmarks: the chain (finalized transfers per second, finality), the wire protocol in
    /// the reference's scenarios, the embedded models, and the gateway's overhead.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Yuma Consensus tools: simulate epochs to tune a subnet's hyperparameters.
    #[command(subcommand)]
    Yuma(yuma::YumaCommand),
}

fn main() -> ExitCode {
    let missing = cpu::missing_features();
    if !missing.is_empty() {
        eprintln!(
            "error: this plexus was built for a CPU with {}, which this one lacks; rebuild it \
             here (a build without RUSTFLAGS='-C target-cpu=native' runs anywhere)",
            missing.join(", ")
        );
        return ExitCode::FAILURE;
    }
    exit::quiet_on_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Wallet(cmd) => wallet::run(cmd),
        Command::Chain(c) => chain::chain(c.command, c.rpc),
        Command::Balance {
            address,
            wallet,
            json,
            rpc,
        } => chain::balance(address, wallet, json, rpc),
        Command::Transfer {
            wallet,
            rpc,
            to,
            amount,
            out,
        } => chain::transfer(&wallet, to, amount, out, rpc),
        Command::Subnet(c) => chain::subnet(c.command, c.rpc),
        Command::Register {
            keys,
            rpc,
            netuid,
            max_burn,
            out,
        } => chain::register(keys, netuid, max_burn, out, rpc),
        Command::Stake(c) => chain::stake(c.command, c.rpc),
        Command::Weights(c) => chain::weights(c.command, c.rpc),
        Command::Metagraph { netuid, json, rpc } => chain::metagraph(netuid, json, rpc),
        Command::Node(args) => node::node(args),
        Command::Explorer { listen, rpc } => node::explorer(listen, &rpc.url()),
        Command::Devnet(cmd) => devnet::run(cmd),
        Command::Models(cmd) => models::run(cmd),
        Command::Miner(c) => neuron::miner(c.command, c.rpc),
        Command::Validator(c) => neuron::validator(c.command, c.rpc),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Yuma(cmd) => yuma::run(cmd),
    };
    exit::report(result)
}
