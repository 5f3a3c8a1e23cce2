//! Unlocking keyfiles, and the secrets that protect them: passwords (from
//! `PLEXUS_PASSWORD` or the terminal, without echo) and mnemonic phrases.

use std::env::VarError;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use plexus_primitives::{AccountId, Keypair, Mnemonic, MnemonicError};
use zeroize::Zeroizing;

use super::{FAST_KDF_ENV, MNEMONIC_ENV, PASSWORD_ENV, WEAK_PASSWORD_CHARS};
use crate::exit;
use crate::home::{Home, WalletDir};
use crate::keyfile::{KdfParams, Keyfile, KeyfileError};

/// Decrypts the coldkey of `wallet` in the Plexus home, asking for its password (or
/// reading `PLEXUS_PASSWORD`). Errors say how to create or restore a missing key.
pub fn unlock_coldkey(wallet: &str) -> anyhow::Result<Keypair> {
    unlock_coldkey_in(&Home::from_env()?, wallet, existing_password)
}

/// Decrypts hotkey `hotkey` of `wallet` in the Plexus home, asking for its password (or
/// reading `PLEXUS_PASSWORD`). Errors say how to create a missing key.
pub fn unlock_hotkey(wallet: &str, hotkey: &str) -> anyhow::Result<Keypair> {
    unlock_hotkey_in(&Home::from_env()?, wallet, hotkey, existing_password)
}

/// [`unlock_coldkey`] in `home`, with the password from `password(description)`.
pub(super) fn unlock_coldkey_in(
    home: &Home,
    wallet: &str,
    password: impl FnMut(&str) -> anyhow::Result<Zeroizing<String>>,
) -> anyhow::Result<Keypair> {
    let dir = home.existing_wallet(wallet)?;
    let path = coldkey_path_existing(&dir)?;
    unlock(&path, &format!("coldkey of wallet '{wallet}'"), password)
}

/// [`unlock_hotkey`] in `home`, with the password from `password(description)`.
pub(super) fn unlock_hotkey_in(
    home: &Home,
    wallet: &str,
    hotkey: &str,
    password: impl FnMut(&str) -> anyhow::Result<Zeroizing<String>>,
) -> anyhow::Result<Keypair> {
    let dir = home.existing_wallet(wallet)?;
    let path = hotkey_path_existing(&dir, hotkey)?;
    unlock(
        &path,
        &format!("hotkey '{hotkey}' of wallet '{wallet}'"),
        password,
    )
}

/// Decrypts the keyfile at `path` (a node's consensus key, say), asking for
/// its password or reading `PLEXUS_PASSWORD`.
pub fn unlock_keyfile(path: &std::path::Path, description: &str) -> anyhow::Result<Keypair> {
    unlock(path, description, existing_password)
}

/// The coldkey address of `wallet`, read without a password.
pub fn coldkey_address(wallet: &str) -> anyhow::Result<AccountId> {
    let dir = Home::from_env()?.existing_wallet(wallet)?;
    let path = coldkey_path_existing(&dir)?;
    read_keyfile(&path).map(|k| k.address())
}

/// The address of hotkey `hotkey` of `wallet`, read without a password.
pub fn hotkey_address(wallet: &str, hotkey: &str) -> anyhow::Result<AccountId> {
    let dir = Home::from_env()?.existing_wallet(wallet)?;
    let path = hotkey_path_existing(&dir, hotkey)?;
    read_keyfile(&path).map(|k| k.address())
}

pub(super) fn coldkey_path_existing(dir: &WalletDir) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.coldkey_path();
    if !path.exists() {
        let name = dir.name();
        return Err(exit::input(format!(
            "wallet '{name}' has no coldkey ({} is missing); restore it with \
             `plexus wallet regen --wallet {name}`",
            path.display()
        )));
    }
    Ok(path)
}

pub(super) fn hotkey_path_existing(
    dir: &WalletDir,
    hotkey: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.hotkey_path(hotkey)?;
    if !path.exists() {
        let name = dir.name();
        return Err(exit::input(format!(
            "hotkey '{hotkey}' not found in wallet '{name}' ({} is missing); create it with \
             `plexus wallet create --wallet {name} --hotkey {hotkey}`",
            path.display()
        )));
    }
    Ok(path)
}

/// How many passwords a person at the terminal may type for one key.
const TRIES: u32 = 3;

/// Reads the keyfile at `path` (described as `what`) and decrypts it. A wrong password
/// typed at the terminal is asked for again, up to [`TRIES`] in all; one from
/// `PLEXUS_PASSWORD` is not (it would be the same again).
pub(super) fn unlock(
    path: &Path,
    what: &str,
    mut password: impl FnMut(&str) -> anyhow::Result<Zeroizing<String>>,
) -> anyhow::Result<Keypair> {
    let keyfile = read_keyfile(path)?;
    let mut tries = 1;
    loop {
        let given = password(what)?;
        match keyfile.open(given.as_bytes()) {
            Ok(secret) => return Ok(secret.keypair()),
            Err(KeyfileError::WrongPassword) if tries < TRIES && asks_at_terminal() => {
                eprintln!("wrong password; try again ({} left)", TRIES - tries);
                tries += 1;
            }
            Err(e) => return Err(keyfile_error(path, e)),
        }
    }
}

/// Whether [`existing_password`] asks at the terminal (rather than read the environment).
fn asks_at_terminal() -> bool {
    std::env::var_os(PASSWORD_ENV).is_none() && std::io::stdin().is_terminal()
}

pub(super) fn read_keyfile(path: &Path) -> anyhow::Result<Keyfile> {
    Keyfile::read(path).map_err(|e| keyfile_error(path, e))
}

/// Turns a keyfile error into a message that names the file and says what to do; the
/// user's mistakes (wrong password, existing file) exit with code 2.
pub(super) fn keyfile_error(path: &Path, e: KeyfileError) -> anyhow::Error {
    match e {
        KeyfileError::WrongPassword => exit::input(format!(
            "cannot unlock {}: {e} (check the password; {PASSWORD_ENV} is used when set)",
            path.display()
        )),
        KeyfileError::AlreadyExists(_) => {
            exit::input(format!("{e}; pass --overwrite to replace it"))
        }
        KeyfileError::Io { .. } => e.into(),
        other => anyhow::Error::new(other).context(format!("keyfile {}", path.display())),
    }
}

/// The parameters for new keyfiles (cheap only in debug builds with the env var set).
pub(super) fn kdf_params() -> KdfParams {
    if std::env::var_os(FAST_KDF_ENV).is_some_and(|v| v == "1") {
        if cfg!(debug_assertions) {
            return KdfParams::INSECURE_FAST;
        }
        eprintln!("warning: {FAST_KDF_ENV} is ignored by release builds");
    }
    KdfParams::DEFAULT
}

/// The password from `PLEXUS_PASSWORD`, if set.
pub(super) fn env_password() -> anyhow::Result<Option<Zeroizing<String>>> {
    match std::env::var(PASSWORD_ENV) {
        Ok(p) if p.is_empty() => Err(exit::input(format!(
            "{PASSWORD_ENV} is set but empty; a keyfile password has at least 1 character"
        ))),
        Ok(p) => Ok(Some(Zeroizing::new(p))),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => {
            Err(exit::input(format!("{PASSWORD_ENV} is not valid UTF-8")))
        }
    }
}

pub(super) fn no_terminal(what: &str, var: &str) -> anyhow::Error {
    exit::input(format!(
        "cannot ask for the {what}: standard input is not a terminal; set {var} instead"
    ))
}

pub(super) fn prompt_hidden(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .context("reading from the terminal")
}

/// The password of an existing keyfile: `PLEXUS_PASSWORD`, else asked once on the terminal.
pub(super) fn existing_password(what: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Some(password) = env_password()? {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal("password", PASSWORD_ENV));
    }
    prompt_hidden(&format!("Password for the {what}: "))
}

/// The password for new keyfiles: `PLEXUS_PASSWORD`, else asked twice on the terminal.
pub(super) fn new_password(what: &str) -> anyhow::Result<Zeroizing<String>> {
    let password = match env_password()? {
        Some(password) => password,
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(no_terminal("password", PASSWORD_ENV));
            }
            let first = prompt_hidden(&format!("New password for the {what}: "))?;
            if first.is_empty() {
                return Err(exit::input(
                    "the password is empty; use at least 1 character",
                ));
            }
            let second = prompt_hidden("Repeat the password: ")?;
            if *first != *second {
                return Err(exit::input(
                    "the two passwords do not match; nothing was written",
                ));
            }
            first
        }
    };
    if password.chars().count() < WEAK_PASSWORD_CHARS {
        eprintln!(
            "warning: the password is shorter than {WEAK_PASSWORD_CHARS} characters; anyone \
             who copies the keyfile can guess it quickly"
        );
    }
    Ok(password)
}

/// The mnemonic for `regen`: `PLEXUS_MNEMONIC`, else asked on the terminal without echo.
pub(super) fn read_mnemonic() -> anyhow::Result<Mnemonic> {
    let (phrase, source) = match std::env::var(MNEMONIC_ENV) {
        Ok(p) => (Zeroizing::new(p), MNEMONIC_ENV),
        Err(VarError::NotUnicode(_)) => {
            return Err(exit::input(format!("{MNEMONIC_ENV} is not valid UTF-8")));
        }
        Err(VarError::NotPresent) => {
            if !std::io::stdin().is_terminal() {
                return Err(no_terminal("mnemonic", MNEMONIC_ENV));
            }
            (
                prompt_hidden("Mnemonic (words separated by spaces): ")?,
                "the entered phrase",
            )
        }
    };
    let phrase = Zeroizing::new(phrase.to_lowercase());
    Mnemonic::parse(&phrase).map_err(|e| {
        let problem = match e {
            // Numbered from 1 for people; the word itself is not echoed.
            MnemonicError::UnknownWord { index } => format!(
                "word {} is not in the BIP39 English word list (a typo?)",
                index + 1
            ),
            other => other.to_string(),
        };
        exit::input(format!("invalid mnemonic in {source}: {problem}"))
    })
}
