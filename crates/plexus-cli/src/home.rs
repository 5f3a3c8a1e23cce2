//! The Plexus home directory and the wallet layout inside it.
//!
//! ```text
//! $PLEXUS_HOME (default ~/.plexus)
//! └── wallets/
//!     └── <wallet>/
//!         ├── coldkey.json
//!         └── hotkeys/
//!             └── <hotkey>.json
//! ```
//!
//! Directories that hold keys are created with mode 0700.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit;

/// The environment variable that overrides the home directory.
pub const HOME_ENV: &str = "PLEXUS_HOME";

/// The longest wallet or hotkey name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// The Plexus home directory: where wallets (and later config and chain data) live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
    /// Named (by `PLEXUS_HOME` or the caller) rather than the default `~/.plexus`.
    named: bool,
}

impl Home {
    /// The home from the environment: `$PLEXUS_HOME` if set and non-empty, else `$HOME/.plexus`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::resolve(std::env::var_os(HOME_ENV), std::env::var_os("HOME"))
    }

    /// The home at an explicit directory.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            named: true,
        }
    }

    /// Picks the home from the values of `PLEXUS_HOME` and `HOME`.
    fn resolve(plexus_home: Option<OsString>, home: Option<OsString>) -> anyhow::Result<Self> {
        if let Some(dir) = plexus_home.filter(|v| !v.is_empty()) {
            return Ok(Self::at(dir));
        }
        match home.filter(|v| !v.is_empty()) {
            Some(home) => Ok(Self {
                root: PathBuf::from(home).join(".plexus"),
                named: false,
            }),
            None => Err(exit::input(format!(
                "cannot find the Plexus home directory: neither {HOME_ENV} nor HOME is set; \
                 set {HOME_ENV} to the directory to use"
            ))),
        }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory that holds one folder per wallet.
    pub fn wallets_dir(&self) -> PathBuf {
        self.root.join("wallets")
    }

    /// The paths of wallet `name`, which need not exist yet. Fails if the name is not valid.
    pub fn wallet(&self, name: &str) -> anyhow::Result<WalletDir> {
        validate_name("wallet", name)?;
        Ok(WalletDir {
            name: name.to_owned(),
            dir: self.wallets_dir().join(name),
        })
    }

    /// Wallet `name`, which must exist; the error says how to create it.
    pub fn existing_wallet(&self, name: &str) -> anyhow::Result<WalletDir> {
        let wallet = self.wallet(name)?;
        if !wallet.dir.is_dir() {
            // `plexus up` keeps its network's wallets in `network/` under the home it was
            // given: a shell without the banner's export line looks here instead.
            let network = self.root.join("network");
            let network_has_it = network.join("wallets").join(name).is_dir();
            let hint = if network_has_it {
                format!(
                    "the local network of `plexus up` has it: point commands at the network \
                     with `export PLEXUS_HOME={}` (the line `plexus up` printed)",
                    network.display()
                )
            } else if !self.named {
                // Most likely a shell that has not been pointed at a devnet or network yet:
                // creating the wallet here would make a second, empty one of that name.
                format!(
                    "PLEXUS_HOME is not set, so this is the default home. For a local chain, \
                     point commands at its directory (`export PLEXUS_HOME=DIR`: the one \
                     `plexus devnet init --dir` made, or the `network/` folder `plexus up` \
                     names); for a new wallet here, `plexus wallet create --wallet {name}`"
                )
            } else {
                format!("create it with `plexus wallet create --wallet {name}`")
            };
            return Err(exit::input(format!(
                "wallet '{name}' not found in {}; {hint}",
                self.wallets_dir().display()
            )));
        }
        Ok(wallet)
    }

    /// Every wallet folder under the wallets directory, sorted by name. Entries whose name is
    /// not a valid wallet name are skipped. No wallets directory means no wallets.
    pub fn list_wallets(&self) -> anyhow::Result<Vec<WalletDir>> {
        let names = list_names(&self.wallets_dir(), |entry| entry.is_dir(), None)?;
        names.iter().map(|name| self.wallet(name)).collect()
    }
}

/// The paths of one wallet: a coldkey and any number of named hotkeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletDir {
    name: String,
    dir: PathBuf,
}

impl WalletDir {
    /// The wallet's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wallet's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The coldkey's keyfile.
    pub fn coldkey_path(&self) -> PathBuf {
        self.dir.join("coldkey.json")
    }

    /// The folder of the hotkey keyfiles.
    pub fn hotkeys_dir(&self) -> PathBuf {
        self.dir.join("hotkeys")
    }

    /// The keyfile of hotkey `name`. Fails if the name is not valid.
    pub fn hotkey_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        validate_name("hotkey", name)?;
        Ok(self.hotkeys_dir().join(format!("{name}.json")))
    }

    /// The names of the wallet's hotkeys, sorted.
    pub fn list_hotkeys(&self) -> anyhow::Result<Vec<String>> {
        list_names(&self.hotkeys_dir(), |entry| entry.is_file(), Some("json"))
    }

    /// Creates the wallet folder and its hotkeys folder (mode 0700) if missing.
    pub fn create_dirs(&self) -> anyhow::Result<()> {
        create_private_dir(&self.hotkeys_dir())
    }
}

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating directory {}", dir.display()))
}

/// Checks that `name` is usable as a wallet or hotkey name (and so as a file name):
/// 1 to 64 ASCII letters, digits, `_`, `-` or `.`, not starting with `.` or `-`.
pub fn validate_name(what: &str, name: &str) -> anyhow::Result<()> {
    let fine_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let fine_start = !name.starts_with(['.', '-']);
    if name.is_empty() || name.len() > MAX_NAME_LEN || !fine_chars || !fine_start {
        return Err(exit::input(format!(
            "invalid {what} name {name:?}: use 1 to {MAX_NAME_LEN} ASCII letters, digits, \
             '_', '-' or '.', not starting with '.' or '-'"
        )));
    }
    Ok(())
}

/// The valid names in `dir` whose entries pass `keep`, with extension `ext` stripped (entries
/// without it are skipped when one is given), sorted. A missing `dir` gives no names.
fn list_names(
    dir: &Path,
    keep: impl Fn(&Path) -> bool,
    ext: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if !keep(&path) {
            continue;
        }
        let stem = match ext {
            Some(ext) if path.extension().is_some_and(|e| e == ext) => path.file_stem(),
            Some(_) => None,
            None => path.file_name(),
        };
        if let Some(name) = stem.and_then(|s| s.to_str())
            && validate_name("", name).is_ok()
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plexus_home_wins_over_home() {
        let home = Home::resolve(Some("/x/p".into()), Some("/home/u".into())).unwrap();
        assert_eq!(home.root(), Path::new("/x/p"));
        let home = Home::resolve(Some("".into()), Some("/home/u".into())).unwrap();
        assert_eq!(home.root(), Path::new("/home/u/.plexus"));
        let err = Home::resolve(None, None).unwrap_err();
        assert!(err.to_string().contains("PLEXUS_HOME"), "{err}");
    }

    #[test]
    fn layout() {
        let home = Home::at("/h");
        let wallet = home.wallet("w1").unwrap();
        assert_eq!(
            wallet.coldkey_path(),
            Path::new("/h/wallets/w1/coldkey.json")
        );
        assert_eq!(
            wallet.hotkey_path("miner").unwrap(),
            Path::new("/h/wallets/w1/hotkeys/miner.json")
        );
    }

    #[test]
    fn a_missing_wallet_that_the_local_network_holds_points_at_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let err = home.existing_wallet("alice").unwrap_err().to_string();
        assert!(
            err.ends_with("create it with `plexus wallet create --wallet alice`"),
            "{err}"
        );
        // `plexus up` made its network under this home: the hint is its export line.
        std::fs::create_dir_all(dir.path().join("network/wallets/alice")).unwrap();
        let err = home.existing_wallet("alice").unwrap_err().to_string();
        let export = format!(
            "export PLEXUS_HOME={}",
            dir.path().join("network").display()
        );
        assert!(err.contains(&export), "{err}");
        // A wallet the network does not hold either is still to be created.
        let err = home.existing_wallet("zed").unwrap_err().to_string();
        assert!(err.contains("plexus wallet create --wallet zed"), "{err}");
    }

    #[test]
    fn a_missing_wallet_in_the_default_home_asks_whether_plexus_home_was_meant() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::resolve(None, Some(dir.path().into())).unwrap();
        let err = home.existing_wallet("alice").unwrap_err().to_string();
        assert!(
            err.contains("PLEXUS_HOME is not set") && err.contains("export PLEXUS_HOME=DIR"),
            "{err}"
        );
        // Named, the home is the one meant.
        let named = Home::resolve(Some(dir.path().into()), None).unwrap();
        let err = named.existing_wallet("alice").unwrap_err().to_string();
        assert!(!err.contains("PLEXUS_HOME is not set"), "{err}");
    }

    #[test]
    fn names_cannot_escape_the_wallet_dir() {
        for bad in [
            "",
            "..",
            ".hidden",
            "-x",
            "a/b",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(validate_name("wallet", bad).is_err(), "{bad:?}");
        }
        for good in ["default", "my-wallet_2", "v1.0", &"x".repeat(64)] {
            assert!(validate_name("wallet", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn listing() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert!(home.list_wallets().unwrap().is_empty());
        let b = home.wallet("b").unwrap();
        let a = home.wallet("a").unwrap();
        b.create_dirs().unwrap();
        a.create_dirs().unwrap();
        std::fs::write(a.hotkey_path("h2").unwrap(), "{}").unwrap();
        std::fs::write(a.hotkey_path("h1").unwrap(), "{}").unwrap();
        std::fs::write(a.hotkeys_dir().join("notes.txt"), "").unwrap();
        let names: Vec<_> = home
            .list_wallets()
            .unwrap()
            .iter()
            .map(|w| w.name().to_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(a.list_hotkeys().unwrap(), ["h1", "h2"]);
        assert!(b.list_hotkeys().unwrap().is_empty());
        assert!(home.existing_wallet("c").is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
