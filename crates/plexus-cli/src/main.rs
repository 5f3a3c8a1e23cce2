//! The plexus command: wallet, chain, node, devnet, miner, validator, up and yuma simulate.

mod exit;
mod yuma;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Plexus: an open network of intelligence.
#[derive(Debug, Parser)]
#[command(name = "plexus", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Yuma Consensus tools: simulate epochs to tune a subnet's hyperparameters.
    #[command(subcommand)]
    Yuma(yuma::YumaCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Yuma(cmd) => yuma::run(cmd),
    };
    exit::report(result)
}
