//! `plexus yuma simulate`: run Yuma Consensus epochs from a case file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use plexus_primitives::Balance;
use plexus_yuma::simulate::{CaseReport, EpochReport, parse_cases, run_case};

use crate::exit;

/// Yuma Consensus tools.
#[derive(Debug, Subcommand)]
pub enum YumaCommand {
    /// Run the epochs of a case file and show what each UID earns.
    ///
    /// FILE holds one case or `{"cases": [...]}` in the format of the
    /// reference golden cases: stake, permits, initial bonds, and the weights
    /// set before each epoch. Bonds and permits carry from epoch to epoch as
    /// the chain stores them.
    Simulate(SimulateArgs),
}

/// Arguments of `plexus yuma simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The case file (JSON); `-` reads standard input.
    file: PathBuf,
    /// Print `{"cases":[{"name":…,"epochs":[…]}]}` instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs a `yuma` subcommand.
pub fn run(cmd: YumaCommand) -> anyhow::Result<()> {
    match cmd {
        YumaCommand::Simulate(args) => simulate(&args),
    }
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| exit::input(format!("cannot read {}: {e}", args.file.display())))?
    };
    let cases =
        parse_cases(&text).map_err(|e| exit::input(format!("{}: {e}", args.file.display())))?;
    let reports = cases
        .iter()
        .map(|(path, case)| run_case(case, path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| exit::input(format!("{}: {e}", args.file.display())))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "cases": reports }))?;
        writeln!(out)?;
    } else {
        for (k, ((_, case), report)) in cases.iter().zip(&reports).enumerate() {
            if k > 0 {
                writeln!(out)?;
            }
            write_case(
                &mut out,
                report,
                &case.description,
                case.inputs.params.rao_emission,
            )?;
        }
    }
    Ok(())
}

/// A u16 proportion (of 65535) as a decimal fraction with four places.
pub fn share(v: u16) -> String {
    format!("{:.4}", f64::from(v) / 65_535.0)
}

fn write_case(
    out: &mut impl Write,
    report: &CaseReport,
    description: &str,
    emission: u64,
) -> std::io::Result<()> {
    writeln!(out, "case {}", report.name)?;
    if !description.is_empty() {
        writeln!(out, "  {description}")?;
    }
    for epoch in &report.epochs {
        writeln!(out)?;
        write_epoch(out, epoch, emission)?;
    }
    Ok(())
}

fn write_epoch(out: &mut impl Write, e: &EpochReport, emission: u64) -> std::io::Result<()> {
    writeln!(
        out,
        "epoch {}  (emission {})",
        e.epoch,
        Balance::from_rao(emission)
    )?;
    let header = [
        "UID",
        "stake",
        "consensus",
        "trust",
        "vtrust",
        "incentive",
        "dividends",
        "emission",
        "permit",
    ];
    let rows: Vec<[String; 9]> = (0..e.stake_rao.len())
        .map(|uid| {
            let earned = e.server_emission_rao[uid].saturating_add(e.validator_emission_rao[uid]);
            [
                uid.to_string(),
                format!("{:.9}", Balance::from_rao(e.stake_rao[uid])),
                share(e.consensus_u16[uid]),
                share(e.trust_u16[uid]),
                share(e.validator_trust_u16[uid]),
                share(e.incentive_u16[uid]),
                share(e.dividends_u16[uid]),
                format!("{:.9}", Balance::from_rao(earned)),
                if e.new_validator_permits[uid] {
                    "yes"
                } else {
                    "-"
                }
                .to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        writeln!(
            out,
            "{}",
            line(&row.iter().map(String::as_str).collect::<Vec<_>>())
        )?;
    }
    Ok(())
}
