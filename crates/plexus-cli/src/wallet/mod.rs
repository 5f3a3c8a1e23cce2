//! `plexus wallet`: create, regen (restore), list and show encrypted keys, and unlock them for
//! other commands ([`unlock_coldkey`], [`unlock_hotkey`]).
//!
//! # Environment
//!
//! - `PLEXUS_HOME`: the home directory (default `~/.plexus`); wallets live in `wallets/`.
//! - `PLEXUS_PASSWORD`: the keyfile password, for scripts. When set it is used instead of
//!   prompting; otherwise the password is read without echo from the terminal.
//! - `PLEXUS_MNEMONIC`: the phrase for `wallet regen`, instead of prompting.
//! - `PLEXUS_KDF_INSECURE_FAST=1`: new keyfiles use the cheapest Argon2 parameters. Honoured
//!   only by debug builds, so that tests run fast; release builds ignore it with a warning.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use plexus_primitives::{AccountId, Mnemonic, WordCount};
use rand::rngs::OsRng;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::exit;
use crate::home::{Home, WalletDir};
use crate::keyfile::{KdfParams, KeyKind, KeySecret, Keyfile};

mod unlock;

use unlock::*;
pub use unlock::{coldkey_address, hotkey_address, unlock_coldkey, unlock_hotkey, unlock_keyfile};

/// The environment variable that supplies the keyfile password.
pub const PASSWORD_ENV: &str = "PLEXUS_PASSWORD";
/// The environment variable that supplies the mnemonic for `wallet regen`.
pub const MNEMONIC_ENV: &str = "PLEXUS_MNEMONIC";
/// The environment variable that selects cheap Argon2 parameters in debug builds.
pub const FAST_KDF_ENV: &str = "PLEXUS_KDF_INSECURE_FAST";

/// Passwords shorter than this get a warning.
const WEAK_PASSWORD_CHARS: usize = 8;

/// Wallet commands.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a wallet's coldkey, and a hotkey with --hotkey.
    ///
    /// If the wallet has no coldkey one is created; with --hotkey the named hotkey is
    /// created as well (only the hotkey when the coldkey already exists). Each new key's
    /// mnemonic is printed once: write it down. All keys made by one command share the
    /// password (PLEXUS_PASSWORD, or asked twice on the terminal).
    Create(CreateArgs),
    /// Restore a coldkey (or, with --hotkey, a hotkey) from its mnemonic.
    ///
    /// The phrase is read from PLEXUS_MNEMONIC, or asked on the terminal without echo.
    Regen(RegenArgs),
    /// List every wallet with its coldkey and hotkey addresses (no password needed).
    List(ListArgs),
    /// Show one wallet's coldkey and hotkey addresses (no password needed).
    Show(ShowArgs),
}

/// How many words a new mnemonic has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Words {
    /// 12 words (128 bits).
    #[value(name = "12")]
    Twelve,
    /// 24 words (256 bits).
    #[value(name = "24")]
    TwentyFour,
}

impl From<Words> for WordCount {
    fn from(words: Words) -> Self {
        match words {
            Words::Twelve => WordCount::Twelve,
            Words::TwentyFour => WordCount::TwentyFour,
        }
    }
}

/// Arguments of `plexus wallet create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The wallet to create, or to add the hotkey to.
    #[arg(long, value_name = "NAME", default_value = "default")]
    wallet: String,
    /// Create this hotkey too (only it, if the wallet's coldkey exists).
    #[arg(long, value_name = "NAME")]
    hotkey: Option<String>,
    /// Mnemonic length in words.
    #[arg(long, value_enum, default_value = "12")]
    words: Words,
    /// Replace an existing keyfile: the hotkey with --hotkey, else the coldkey. The old key
    /// is lost unless you have its mnemonic.
    #[arg(long)]
    overwrite: bool,
    /// Print JSON, mnemonics included, instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `plexus wallet regen`.
#[derive(Debug, Args)]
pub struct RegenArgs {
    /// The wallet to restore into (created if missing).
    #[arg(long, value_name = "NAME")]
    wallet: String,
    /// Restore this hotkey instead of the coldkey.
    #[arg(long, value_name = "NAME")]
    hotkey: Option<String>,
    /// Replace the keyfile if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Arguments of `plexus wallet list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Arguments of `plexus wallet show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The wallet to show.
    #[arg(long, value_name = "NAME", default_value = "default")]
    wallet: String,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Runs a `wallet` subcommand.
pub fn run(cmd: WalletCommand) -> anyhow::Result<()> {
    match cmd {
        WalletCommand::Create(args) => create(&args),
        WalletCommand::Regen(args) => regen(&args),
        WalletCommand::List(args) => list(&args),
        WalletCommand::Show(args) => show(&args),
    }
}

/// One key that `create` made, for output.
#[derive(Serialize)]
struct CreatedKey {
    kind: KeyKind,
    name: String,
    address: AccountId,
    path: String,
    #[serde(serialize_with = "serialize_phrase")]
    mnemonic: Mnemonic,
}

fn serialize_phrase<S: serde::Serializer>(m: &Mnemonic, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&m.phrase())
}

/// Output of `create`.
#[derive(Serialize)]
struct CreateReport<'a> {
    wallet: &'a str,
    coldkey: AccountId,
    created: Vec<CreatedKey>,
}

fn create(args: &CreateArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let wallet = home.wallet(&args.wallet)?;
    let name = wallet.name();
    let coldkey_path = wallet.coldkey_path();
    let coldkey_exists = coldkey_path.symlink_metadata().is_ok();
    let hotkey = match &args.hotkey {
        Some(hotkey) => Some((hotkey.as_str(), wallet.hotkey_path(hotkey)?)),
        None => None,
    };
    let make_coldkey = !coldkey_exists || (args.overwrite && hotkey.is_none());
    if coldkey_exists && hotkey.is_none() && !args.overwrite {
        return Err(exit::input(format!(
            "wallet '{name}' already has a coldkey ({}); add a hotkey with \
             `plexus wallet create --wallet {name} --hotkey NAME`, or pass --overwrite to \
             replace the coldkey (it is lost unless you have its mnemonic)",
            coldkey_path.display()
        )));
    }
    if let Some((hotkey, path)) = &hotkey
        && path.symlink_metadata().is_ok()
        && !args.overwrite
    {
        return Err(exit::input(format!(
            "hotkey '{hotkey}' of wallet '{name}' already exists ({}); pass --overwrite to \
             replace it (it is lost unless you have its mnemonic)",
            path.display()
        )));
    }
    // Read the existing coldkey first, so that a broken one stops us before any writing.
    let existing_coldkey = if make_coldkey {
        None
    } else {
        Some(read_keyfile(&coldkey_path)?)
    };

    let what = match (&hotkey, make_coldkey) {
        (Some((hotkey, _)), true) => {
            format!("coldkey and hotkey '{hotkey}' of wallet '{name}'")
        }
        (Some((hotkey, _)), false) => format!("hotkey '{hotkey}' of wallet '{name}'"),
        (None, _) => format!("coldkey of wallet '{name}'"),
    };
    let password = new_password(&what)?;
    // Miners and validators unlock both keys from one PLEXUS_PASSWORD when unattended:
    // a hotkey sealed under another password than its coldkey's can only be used at a
    // terminal. Said, not refused: the keys may be meant for different machines.
    if let Some(coldkey) = &existing_coldkey
        && let Err(crate::keyfile::KeyfileError::WrongPassword) = coldkey.open(password.as_bytes())
    {
        eprintln!(
            "note: this password is not the coldkey's; `plexus miner run` and `plexus \
             validator run` need both keys, and PLEXUS_PASSWORD holds one password, so \
             without a terminal to ask at they will not start with this wallet (create the \
             hotkey again with --overwrite and the coldkey's password to use it unattended)"
        );
    }
    let kdf = kdf_params();
    wallet.create_dirs()?;

    let mut created = Vec::new();
    if make_coldkey {
        created.push(new_key(
            KeyKind::Coldkey,
            name,
            &coldkey_path,
            args,
            &password,
            kdf,
        )?);
    }
    if let Some((hotkey, path)) = &hotkey {
        created.push(new_key(
            KeyKind::Hotkey,
            hotkey,
            path,
            args,
            &password,
            kdf,
        )?);
    }
    let coldkey = match (&existing_coldkey, created.first()) {
        (Some(keyfile), _) => keyfile.address(),
        (None, Some(key)) => key.address,
        (None, None) => anyhow::bail!("internal error: no coldkey created"),
    };
    let report = CreateReport {
        wallet: name,
        coldkey,
        created,
    };

    let mut out = std::io::stdout().lock();
    if args.json {
        eprintln!("warning: the output holds secret mnemonics; keep it safe");
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "wallet '{name}' ({})", wallet.dir().display())?;
    for key in &report.created {
        writeln!(
            out,
            "  created {:<22} {}",
            label(key.kind, &key.name),
            key.address
        )?;
    }
    if existing_coldkey.is_some() {
        writeln!(out, "  existing {:<21} {coldkey}", "coldkey")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "IMPORTANT: write down each mnemonic below and keep it offline. It is the only way to \
         restore the key if its keyfile or password is lost, and anyone who sees it controls \
         the key. It will not be shown again."
    )?;
    for key in &report.created {
        writeln!(out)?;
        writeln!(out, "  {} mnemonic:", label(key.kind, &key.name))?;
        writeln!(out, "    {}", key.mnemonic.phrase().as_str())?;
    }
    Ok(())
}

/// "coldkey" or "hotkey 'name'".
fn label(kind: KeyKind, name: &str) -> String {
    match kind {
        KeyKind::Coldkey => "coldkey".to_owned(),
        KeyKind::Hotkey => format!("hotkey '{name}'"),
    }
}

/// Generates, seals and writes one key.
fn new_key(
    kind: KeyKind,
    name: &str,
    path: &Path,
    args: &CreateArgs,
    password: &str,
    kdf: KdfParams,
) -> anyhow::Result<CreatedKey> {
    let mnemonic =
        Mnemonic::generate(&mut OsRng, args.words.into()).context("generating a mnemonic")?;
    let secret = KeySecret::Mnemonic(mnemonic.clone());
    let keyfile = Keyfile::seal(kind, name, &secret, password.as_bytes(), kdf)
        .map_err(|e| keyfile_error(path, e))?;
    keyfile
        .write(path, args.overwrite)
        .map_err(|e| keyfile_error(path, e))?;
    Ok(CreatedKey {
        kind,
        name: name.to_owned(),
        address: keyfile.address(),
        path: path.display().to_string(),
        mnemonic,
    })
}

/// Generates a node's consensus key and writes it encrypted to `path` (never over an
/// existing file), asking for a new password as for any key; returns its public key.
pub fn create_consensus_key(path: &Path) -> anyhow::Result<AccountId> {
    let password = new_password("node's consensus key")?;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut OsRng, seed.as_mut());
    let secret = KeySecret::Seed(seed);
    let keyfile = Keyfile::seal(
        KeyKind::Hotkey,
        "consensus",
        &secret,
        password.as_bytes(),
        kdf_params(),
    )
    .map_err(|e| keyfile_error(path, e))?;
    keyfile
        .write(path, false)
        .map_err(|e| keyfile_error(path, e))?;
    Ok(keyfile.address())
}

/// Output of `regen`.
#[derive(Serialize)]
struct RegenReport<'a> {
    wallet: &'a str,
    kind: KeyKind,
    name: &'a str,
    address: AccountId,
    path: String,
}

fn regen(args: &RegenArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let wallet = home.wallet(&args.wallet)?;
    let (kind, name, path) = match &args.hotkey {
        Some(hotkey) => (
            KeyKind::Hotkey,
            hotkey.as_str(),
            wallet.hotkey_path(hotkey)?,
        ),
        None => (KeyKind::Coldkey, wallet.name(), wallet.coldkey_path()),
    };
    let what = format!("{} of wallet '{}'", label(kind, name), wallet.name());
    if !args.overwrite && path.symlink_metadata().is_ok() {
        return Err(exit::input(format!(
            "the {what} already exists ({}); pass --overwrite to replace it",
            path.display()
        )));
    }
    let mnemonic = read_mnemonic()?;
    let password = new_password(&what)?;
    let secret = KeySecret::Mnemonic(mnemonic);
    let keyfile = Keyfile::seal(kind, name, &secret, password.as_bytes(), kdf_params())
        .map_err(|e| keyfile_error(&path, e))?;
    wallet.create_dirs()?;
    keyfile
        .write(&path, args.overwrite)
        .map_err(|e| keyfile_error(&path, e))?;

    let report = RegenReport {
        wallet: wallet.name(),
        kind,
        name,
        address: keyfile.address(),
        path: path.display().to_string(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "restored the {what}: {}", report.address)?;
        writeln!(out, "  keyfile {}", report.path)?;
    }
    Ok(())
}

/// A wallet's public view, for `list` and `show`.
#[derive(Serialize)]
struct WalletView {
    name: String,
    path: String,
    /// `None` when the wallet has no (readable) coldkey.
    coldkey: Option<AccountId>,
    /// Hotkey name to address.
    hotkeys: BTreeMap<String, AccountId>,
}

/// Reads a wallet's addresses; unreadable keyfiles are reported on stderr and left out.
fn view(wallet: &WalletDir) -> anyhow::Result<WalletView> {
    let warn = |e: anyhow::Error| eprintln!("warning: {e:#}");
    let coldkey_path = wallet.coldkey_path();
    let coldkey = if coldkey_path.exists() {
        read_keyfile(&coldkey_path)
            .map(|k| k.address())
            .map_err(warn)
            .ok()
    } else {
        None
    };
    let mut hotkeys = BTreeMap::new();
    for hotkey in wallet.list_hotkeys()? {
        let path = wallet.hotkey_path(&hotkey)?;
        if let Ok(keyfile) = read_keyfile(&path).map_err(warn) {
            hotkeys.insert(hotkey, keyfile.address());
        }
    }
    Ok(WalletView {
        name: wallet.name().to_owned(),
        path: wallet.dir().display().to_string(),
        coldkey,
        hotkeys,
    })
}

fn write_view(out: &mut impl Write, view: &WalletView) -> std::io::Result<()> {
    let coldkey = view
        .coldkey
        .map_or_else(|| "(no coldkey)".to_owned(), |a| a.to_string());
    writeln!(out, "{}  {}", view.name, view.path)?;
    writeln!(out, "  {:<24} {coldkey}", "coldkey")?;
    for (name, address) in &view.hotkeys {
        writeln!(out, "  {:<24} {address}", format!("hotkey '{name}'"))?;
    }
    Ok(())
}

/// Output of `list`.
#[derive(Serialize)]
struct ListReport {
    home: String,
    wallets: Vec<WalletView>,
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let views = home
        .list_wallets()?
        .iter()
        .map(view)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = ListReport {
            home: home.root().display().to_string(),
            wallets: views,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else if views.is_empty() {
        writeln!(
            out,
            "no wallets in {}; create one with `plexus wallet create`",
            home.wallets_dir().display()
        )?;
    } else {
        for (k, view) in views.iter().enumerate() {
            if k > 0 {
                writeln!(out)?;
            }
            write_view(&mut out, view)?;
        }
    }
    Ok(())
}

fn show(args: &ShowArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let wallet = home.existing_wallet(&args.wallet)?;
    let view = view(&wallet)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
    } else {
        write_view(&mut out, &view)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use plexus_primitives::Keypair;

    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                          abandon abandon abandon about";
    const ADDRESS: &str = "plx1xvgtdfncgsv6vuhh2ky4pqvlwervvkkj507phj3gvl007lsmtqpskrk60y";

    fn given(password: &str) -> impl FnMut(&str) -> anyhow::Result<Zeroizing<String>> {
        let password = password.to_owned();
        move |_| Ok(Zeroizing::new(password.clone()))
    }

    fn is_input_error(e: &anyhow::Error) -> bool {
        e.chain().any(|c| c.is::<exit::InputError>())
    }

    /// A home with wallet `w`: coldkey from PHRASE, hotkey `h` from seed 7, password "pw".
    fn home_with_wallet() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let wallet = home.wallet("w").unwrap();
        let fast = KdfParams::INSECURE_FAST;
        let coldkey = KeySecret::Mnemonic(Mnemonic::parse(PHRASE).unwrap());
        Keyfile::seal(KeyKind::Coldkey, "w", &coldkey, b"pw", fast)
            .unwrap()
            .write(&wallet.coldkey_path(), false)
            .unwrap();
        let hotkey = KeySecret::Seed(Zeroizing::new([7; 32]));
        Keyfile::seal(KeyKind::Hotkey, "h", &hotkey, b"pw", fast)
            .unwrap()
            .write(&wallet.hotkey_path("h").unwrap(), false)
            .unwrap();
        (dir, home)
    }

    #[test]
    fn unlock_gives_the_stored_keys() {
        let (_dir, home) = home_with_wallet();
        let coldkey = unlock_coldkey_in(&home, "w", given("pw")).unwrap();
        assert_eq!(coldkey.account_id().to_string(), ADDRESS);
        let hotkey = unlock_hotkey_in(&home, "w", "h", given("pw")).unwrap();
        assert_eq!(
            hotkey.account_id(),
            Keypair::from_seed([7; 32]).account_id()
        );
    }

    #[test]
    fn unlock_with_a_wrong_password_is_an_input_error() {
        let (_dir, home) = home_with_wallet();
        let err = unlock_coldkey_in(&home, "w", given("nope")).unwrap_err();
        assert!(is_input_error(&err));
        let message = format!("{err:#}");
        assert!(
            message.contains("wrong password or corrupted keyfile"),
            "{message}"
        );
        assert!(message.contains("coldkey.json"), "{message}");
    }

    #[test]
    fn unlock_of_missing_keys_says_what_to_do() {
        let (_dir, home) = home_with_wallet();
        let never = |_: &str| -> anyhow::Result<Zeroizing<String>> {
            anyhow::bail!("the password must not be asked for")
        };
        let err = unlock_coldkey_in(&home, "other", never).unwrap_err();
        assert!(is_input_error(&err));
        assert!(
            err.to_string()
                .contains("plexus wallet create --wallet other"),
            "{err}"
        );
        let err = unlock_hotkey_in(&home, "w", "x", never).unwrap_err();
        assert!(is_input_error(&err));
        assert!(err.to_string().contains("--wallet w --hotkey x"), "{err}");
        std::fs::remove_file(home.wallet("w").unwrap().coldkey_path()).unwrap();
        let err = unlock_coldkey_in(&home, "w", never).unwrap_err();
        assert!(
            err.to_string().contains("plexus wallet regen --wallet w"),
            "{err}"
        );
    }

    #[test]
    fn the_view_needs_no_password() {
        let (_dir, home) = home_with_wallet();
        let view = view(&home.wallet("w").unwrap()).unwrap();
        assert_eq!(
            view.coldkey.map(|a| a.to_string()).as_deref(),
            Some(ADDRESS)
        );
        assert_eq!(view.hotkeys.len(), 1);
    }
}
