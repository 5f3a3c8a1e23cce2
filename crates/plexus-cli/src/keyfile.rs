//! Encrypted keyfiles: one ed25519 key sealed with a password.
//!
//! # Format (version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "kind": "coldkey",
//!   "name": "default",
//!   "address": "plx1…",
//!   "kdf": {"algorithm": "argon2id", "m_cost_kib": 65536, "t_cost": 3, "p_cost": 1,
//!           "salt": "<16 bytes hex>"},
//!   "cipher": {"algorithm": "xchacha20poly1305", "nonce": "<24 bytes hex>"},
//!   "ciphertext": "<hex>"
//! }
//! ```
//!
//! - The 32-byte cipher key is `argon2id(password, salt)` (version 0x13) with the file's
//!   parameters. Parameters are checked against [`KdfParams::MAX_M_COST_KIB`] and the other
//!   maxima *before* any memory is allocated, so a hostile file cannot ask for 100 GB.
//! - The plaintext is one tag byte and the secret: `1` then the BIP39 phrase (UTF-8) when
//!   the key came from a mnemonic, or `2` then the 32-byte ed25519 seed.
//! - The associated data binds the plaintext fields:
//!   `"plexus keyfile v1" 0x00 kind 0x00 u32le(len(name)) name address_bytes(32)`,
//!   so changing the kind, name or address in the file makes decryption fail.
//! - After decryption the key's address must equal `address`.
//!
//! `address`, `kind` and `name` are in the clear so that listing wallets needs no password.
//! Files are written atomically (temporary file, then link or rename) with mode 0600.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use plexus_primitives::{AccountId, Keypair, Mnemonic};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

/// The keyfile format version this code reads and writes.
pub const VERSION: u64 = 1;

/// The largest keyfile read, in bytes; a real one is under 1 KiB.
pub const MAX_FILE_LEN: u64 = 64 * 1024;

/// The longest `name` a keyfile may carry, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// The longest ciphertext accepted, in bytes (a 24-word phrase is about 220).
const MAX_CIPHERTEXT_LEN: usize = 1024;

const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "xchacha20poly1305";
const AD_PREFIX: &[u8] = b"plexus keyfile v1";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_MNEMONIC: u8 = 1;
const TAG_SEED: u8 = 2;

/// Why a keyfile could not be read, written, or opened.
#[derive(Debug, Error)]
pub enum KeyfileError {
    /// Authenticated decryption failed: the password is wrong or the file was altered.
    #[error("wrong password or corrupted keyfile")]
    WrongPassword,
    /// A field is missing or has an unacceptable value.
    #[error("malformed keyfile: {field}: {reason}")]
    Malformed {
        /// The JSON path of the field (`kdf.salt`), or `(file)` for the whole file.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is of a format version this code does not know.
    #[error("unsupported keyfile version {0}; this plexus reads version {VERSION}")]
    UnsupportedVersion(u64),
    /// Reading or writing the file failed.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The keyfile exists and overwriting was not allowed.
    #[error("keyfile {} already exists", .0.display())]
    AlreadyExists(PathBuf),
    /// Key derivation or encryption failed for a reason other than the inputs above.
    #[error("key derivation or encryption failed: {0}")]
    Crypto(String),
}

impl KeyfileError {
    fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Malformed {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Owns funds and hotkeys.
    Coldkey,
    /// The working identity of a neuron.
    Hotkey,
}

impl KeyKind {
    /// The name used in files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coldkey => "coldkey",
            Self::Hotkey => "hotkey",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secret a keyfile holds. `Debug` never shows it; it is zeroized on drop.
#[derive(Clone)]
pub enum KeySecret {
    /// A BIP39 phrase; the key is `Keypair::from_mnemonic(phrase, "")`.
    Mnemonic(Mnemonic),
    /// A raw ed25519 seed; the key is `Keypair::from_seed(seed)`.
    Seed(Zeroizing<[u8; 32]>),
}

impl KeySecret {
    /// The keypair this secret stands for.
    pub fn keypair(&self) -> Keypair {
        match self {
            Self::Mnemonic(m) => Keypair::from_mnemonic(m, ""),
            Self::Seed(seed) => Keypair::from_seed(**seed),
        }
    }

    /// The plaintext that is encrypted: a tag byte then the secret.
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Self::Mnemonic(m) => {
                let phrase = m.phrase();
                // Sized up front so that no reallocation leaves a copy of the phrase behind.
                let mut out = Zeroizing::new(Vec::with_capacity(1 + phrase.len()));
                out.push(TAG_MNEMONIC);
                out.extend_from_slice(phrase.as_bytes());
                out
            }
            Self::Seed(seed) => {
                let mut out = Zeroizing::new(Vec::with_capacity(1 + seed.len()));
                out.push(TAG_SEED);
                out.extend_from_slice(seed.as_ref());
                out
            }
        }
    }

    fn decode(plaintext: &[u8]) -> Result<Self, KeyfileError> {
        let bad = |reason: &str| KeyfileError::malformed("ciphertext", reason);
        match plaintext.split_first() {
            Some((&TAG_MNEMONIC, phrase)) => {
                let phrase = std::str::from_utf8(phrase)
                    .map_err(|_| bad("the stored mnemonic is not UTF-8"))?;
                Mnemonic::parse(phrase)
                    .map(Self::Mnemonic)
                    .map_err(|e| bad(&format!("the stored mnemonic is invalid: {e}")))
            }
            Some((&TAG_SEED, seed)) => {
                let seed: [u8; 32] = seed
                    .try_into()
                    .map_err(|_| bad("the stored seed is not 32 bytes"))?;
                Ok(Self::Seed(Zeroizing::new(seed)))
            }
            _ => Err(bad("unknown secret type")),
        }
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mnemonic(m) => {
                write!(f, "KeySecret::Mnemonic({} words, redacted)", m.word_count())
            }
            Self::Seed(_) => f.write_str("KeySecret::Seed(redacted)"),
        }
    }
}

/// Argon2id cost parameters, stored in each keyfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over the memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// The parameters new keyfiles get: 64 MiB, 3 passes, 1 lane (about 0.3 s).
    pub const DEFAULT: Self = Self {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };

    /// The cheapest parameters Argon2 accepts. Offers no protection: for tests only.
    pub const INSECURE_FAST: Self = Self {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };

    /// The most memory a keyfile may ask for: 1 GiB.
    pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
    /// The most passes a keyfile may ask for.
    pub const MAX_T_COST: u32 = 64;
    /// The most lanes a keyfile may ask for.
    pub const MAX_P_COST: u32 = 16;

    /// Checks the parameters against Argon2's minima and these maxima, without allocating.
    pub fn check(&self) -> Result<(), KeyfileError> {
        let p = u64::from(self.p_cost);
        let m = u64::from(self.m_cost_kib);
        let t = u64::from(self.t_cost);
        check_range("kdf.p_cost", p, 1, u64::from(Self::MAX_P_COST), "")?;
        check_range("kdf.t_cost", t, 1, u64::from(Self::MAX_T_COST), "")?;
        check_range(
            "kdf.m_cost_kib",
            m,
            8 * p,
            u64::from(Self::MAX_M_COST_KIB),
            " KiB",
        )
    }

    /// The Argon2id instance for these parameters (checked first).
    fn argon2(&self) -> Result<Argon2<'static>, KeyfileError> {
        self.check()?;
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| KeyfileError::Crypto(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn check_range(field: &str, v: u64, min: u64, max: u64, unit: &str) -> Result<(), KeyfileError> {
    if v < min {
        return Err(KeyfileError::malformed(
            field,
            format!("{v}{unit} is below the minimum of {min}{unit}"),
        ));
    }
    if v > max {
        return Err(KeyfileError::malformed(
            field,
            format!("{v}{unit} exceeds the limit of {max}{unit}"),
        ));
    }
    Ok(())
}

/// An encrypted keyfile in memory. Holds no plaintext secret; [`Keyfile::open`] decrypts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyfile {
    kind: KeyKind,
    name: String,
    address: AccountId,
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Keyfile {
    /// Encrypts `secret` under `password` with a fresh random salt and nonce.
    pub fn seal(
        kind: KeyKind,
        name: &str,
        secret: &KeySecret,
        password: &[u8],
        kdf: KdfParams,
    ) -> Result<Self, KeyfileError> {
        check_name(name)?;
        let address = secret.keypair().account_id();
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut nonce);
        let cipher = cipher(password, &salt, kdf)?;
        let plaintext = secret.encode();
        let ad = associated_data(kind, name, &address);
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &ad,
                },
            )
            .map_err(|_| KeyfileError::Crypto("encryption failed".into()))?;
        Ok(Self {
            kind,
            name: name.to_owned(),
            address,
            kdf,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts the secret with `password`.
    pub fn open(&self, password: &[u8]) -> Result<KeySecret, KeyfileError> {
        let cipher = cipher(password, &self.salt, self.kdf)?;
        let ad = associated_data(self.kind, &self.name, &self.address);
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &XNonce::from(self.nonce),
                    Payload {
                        msg: &self.ciphertext,
                        aad: &ad,
                    },
                )
                .map_err(|_| KeyfileError::WrongPassword)?,
        );
        let secret = KeySecret::decode(&plaintext)?;
        if secret.keypair().account_id() != self.address {
            return Err(KeyfileError::malformed(
                "address",
                "does not match the decrypted key",
            ));
        }
        Ok(secret)
    }

    /// What the key is for.
    #[allow(dead_code, reason = "keyfile API; used by tests")]
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key's name (the wallet's name for a coldkey, the hotkey's name for a hotkey).
    #[allow(dead_code, reason = "keyfile API; used by tests")]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's public account, readable without the password.
    pub fn address(&self) -> AccountId {
        self.address
    }

    /// The key-derivation parameters.
    #[allow(dead_code, reason = "keyfile API; used by tests")]
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// Parses and checks a keyfile's JSON text.
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyfileError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| KeyfileError::malformed("(file)", format!("not valid JSON: {e}")))?;
        let version = value
            .get("version")
            .ok_or_else(|| KeyfileError::malformed("version", "missing"))?
            .as_u64()
            .ok_or_else(|| KeyfileError::malformed("version", "not a non-negative integer"))?;
        if version != VERSION {
            return Err(KeyfileError::UnsupportedVersion(version));
        }
        let file: FileV1 = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = match e.path().to_string() {
                root if root == "." => "(file)".to_owned(),
                path => path,
            };
            KeyfileError::malformed(field, e.into_inner().to_string())
        })?;
        file.into_keyfile()
    }

    /// The keyfile as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        let file = FileV1 {
            version: VERSION,
            kind: self.kind,
            name: self.name.clone(),
            address: self.address,
            kdf: FileKdf {
                algorithm: KDF_ALGORITHM.into(),
                m_cost_kib: self.kdf.m_cost_kib.into(),
                t_cost: self.kdf.t_cost.into(),
                p_cost: self.kdf.p_cost.into(),
                salt: hex::encode(self.salt),
            },
            cipher: FileCipher {
                algorithm: CIPHER_ALGORITHM.into(),
                nonce: hex::encode(self.nonce),
            },
            ciphertext: hex::encode(&self.ciphertext),
        };
        // Strings, integers and a struct of them always serialize.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads and checks the keyfile at `path`.
    pub fn read(path: &Path) -> Result<Self, KeyfileError> {
        let file = File::open(path).map_err(|e| KeyfileError::io(path, e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| KeyfileError::io(path, e))?;
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(KeyfileError::malformed(
                "(file)",
                format!("larger than {MAX_FILE_LEN} bytes"),
            ));
        }
        Self::from_json(&bytes)
    }

    /// Writes the keyfile to `path` atomically with mode 0600, creating missing parent
    /// directories with mode 0700. Fails with [`KeyfileError::AlreadyExists`] if `path`
    /// exists and `overwrite` is false.
    pub fn write(&self, path: &Path, overwrite: bool) -> Result<(), KeyfileError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| KeyfileError::io(path, io::ErrorKind::InvalidInput.into()))?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| KeyfileError::io(dir, e))?;
        if !overwrite && path.symlink_metadata().is_ok() {
            return Err(KeyfileError::AlreadyExists(path.to_owned()));
        }
        let mut tag = [0u8; 6];
        OsRng.fill_bytes(&mut tag);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", hex::encode(tag)));
        let temp = dir.join(temp_name);
        let result = write_new(&temp, self.to_json().as_bytes())
            .and_then(|()| install(&temp, path, overwrite));
        // The temporary name is gone after a rename; after a link or a failure it is removed.
        let _ = std::fs::remove_file(&temp);
        result?;
        // Make the new directory entry durable; failure here loses nothing already written.
        let _ = File::open(dir).and_then(|d| d.sync_all());
        Ok(())
    }
}

/// Creates `path` (which must not exist) with mode 0600 and writes `bytes` durably.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), KeyfileError> {
    let io_err = |e| KeyfileError::io(path, e);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    // The umask can only remove bits, but set the mode explicitly all the same.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    file.write_all(b"\n").map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// Moves the written temporary file to `path`: a rename when overwriting, otherwise a hard
/// link, which fails atomically if `path` appeared meanwhile.
fn install(temp: &Path, path: &Path, overwrite: bool) -> Result<(), KeyfileError> {
    if overwrite {
        return std::fs::rename(temp, path).map_err(|e| KeyfileError::io(path, e));
    }
    match std::fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(KeyfileError::AlreadyExists(path.to_owned()))
        }
        // A filesystem without hard links: check, then rename.
        Err(_) if path.symlink_metadata().is_ok() => {
            Err(KeyfileError::AlreadyExists(path.to_owned()))
        }
        Err(_) => std::fs::rename(temp, path).map_err(|e| KeyfileError::io(path, e)),
    }
}

fn check_name(name: &str) -> Result<(), KeyfileError> {
    if name.len() > MAX_NAME_LEN {
        return Err(KeyfileError::malformed(
            "name",
            format!("longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    Ok(())
}

/// The AEAD cipher keyed by `argon2id(password, salt)`.
fn cipher(
    password: &[u8],
    salt: &[u8; SALT_LEN],
    kdf: KdfParams,
) -> Result<XChaCha20Poly1305, KeyfileError> {
    let mut key = Zeroizing::new([0u8; 32]);
    kdf.argon2()?
        .hash_password_into(password, salt, key.as_mut())
        .map_err(|e| KeyfileError::Crypto(e.to_string()))?;
    XChaCha20Poly1305::new_from_slice(key.as_ref())
        .map_err(|_| KeyfileError::Crypto("bad key length".into()))
}

/// The associated data that binds the cleartext fields to the ciphertext.
fn associated_data(kind: KeyKind, name: &str, address: &AccountId) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + 16 + name.len() + 32);
    ad.extend_from_slice(AD_PREFIX);
    ad.push(0);
    ad.extend_from_slice(kind.as_str().as_bytes());
    ad.push(0);
    // `check_name` keeps names far below u32::MAX bytes.
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    ad.extend_from_slice(&len.to_le_bytes());
    ad.extend_from_slice(name.as_bytes());
    ad.extend_from_slice(address.as_bytes());
    ad
}

/// The on-disk JSON of version 1.
#[derive(Serialize, Deserialize)]
struct FileV1 {
    version: u64,
    kind: KeyKind,
    name: String,
    address: AccountId,
    kdf: FileKdf,
    cipher: FileCipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct FileKdf {
    algorithm: String,
    m_cost_kib: u64,
    t_cost: u64,
    p_cost: u64,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct FileCipher {
    algorithm: String,
    nonce: String,
}

impl FileV1 {
    fn into_keyfile(self) -> Result<Keyfile, KeyfileError> {
        check_name(&self.name)?;
        if self.kdf.algorithm != KDF_ALGORITHM {
            return Err(KeyfileError::malformed(
                "kdf.algorithm",
                format!(
                    "{:?} is not supported (expected {KDF_ALGORITHM:?})",
                    self.kdf.algorithm
                ),
            ));
        }
        if self.cipher.algorithm != CIPHER_ALGORITHM {
            return Err(KeyfileError::malformed(
                "cipher.algorithm",
                format!(
                    "{:?} is not supported (expected {CIPHER_ALGORITHM:?})",
                    self.cipher.algorithm
                ),
            ));
        }
        let cost = |field: &str, v: u64| {
            u32::try_from(v)
                .map_err(|_| KeyfileError::malformed(field, format!("{v} is too large")))
        };
        let kdf = KdfParams {
            m_cost_kib: cost("kdf.m_cost_kib", self.kdf.m_cost_kib)?,
            t_cost: cost("kdf.t_cost", self.kdf.t_cost)?,
            p_cost: cost("kdf.p_cost", self.kdf.p_cost)?,
        };
        kdf.check()?;
        let ciphertext = from_hex("ciphertext", &self.ciphertext)?;
        // The tag alone is 16 bytes; the shortest plaintext is a tag byte and a 32-byte seed
        // or a 12-word phrase.
        if ciphertext.len() <= 16 || ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(KeyfileError::malformed(
                "ciphertext",
                format!(
                    "{} bytes; expected 17 to {MAX_CIPHERTEXT_LEN}",
                    ciphertext.len()
                ),
            ));
        }
        Ok(Keyfile {
            kind: self.kind,
            name: self.name,
            address: self.address,
            kdf,
            salt: from_hex_array("kdf.salt", &self.kdf.salt)?,
            nonce: from_hex_array("cipher.nonce", &self.cipher.nonce)?,
            ciphertext,
        })
    }
}

/// Parses hex (either case) for `field`.
fn from_hex(field: &str, s: &str) -> Result<Vec<u8>, KeyfileError> {
    hex::decode(s).map_err(|e| match e {
        hex::FromHexError::OddLength => KeyfileError::malformed(field, "odd number of hex digits"),
        _ => KeyfileError::malformed(field, "not hex"),
    })
}

/// Parses exactly `N` bytes of hex for `field`.
fn from_hex_array<const N: usize>(field: &str, s: &str) -> Result<[u8; N], KeyfileError> {
    let bytes = from_hex(field, s)?;
    let found = bytes.len();
    bytes
        .try_into()
        .map_err(|_| KeyfileError::malformed(field, format!("{found} bytes; expected {N}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                          abandon abandon abandon about";
    const ADDRESS: &str = "plx1xvgtdfncgsv6vuhh2ky4pqvlwervvkkj507phj3gvl007lsmtqpskrk60y";
    const CHEAP: KdfParams = KdfParams::INSECURE_FAST;

    fn mnemonic_secret() -> KeySecret {
        KeySecret::Mnemonic(Mnemonic::parse(PHRASE).unwrap())
    }

    fn sealed() -> Keyfile {
        Keyfile::seal(KeyKind::Coldkey, "w", &mnemonic_secret(), b"pw", CHEAP).unwrap()
    }

    /// The keyfile's JSON as a value, to tamper with.
    fn json(keyfile: &Keyfile) -> serde_json::Value {
        serde_json::from_str(&keyfile.to_json()).unwrap()
    }

    fn reparse(value: &serde_json::Value) -> Result<Keyfile, KeyfileError> {
        Keyfile::from_json(value.to_string().as_bytes())
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/coldkey.json");
        let keyfile = sealed();
        assert_eq!(keyfile.address().to_string(), ADDRESS);
        keyfile.write(&path, false).unwrap();
        let back = Keyfile::read(&path).unwrap();
        assert_eq!(back, keyfile);
        assert_eq!(back.kind(), KeyKind::Coldkey);
        assert_eq!(back.name(), "w");
        assert_eq!(back.kdf(), CHEAP);
        let secret = back.open(b"pw").unwrap();
        assert!(matches!(&secret, KeySecret::Mnemonic(m) if *m.phrase() == PHRASE));
        assert_eq!(secret.keypair().account_id().to_string(), ADDRESS);

        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["kind"], "coldkey");
        assert_eq!(value["address"], ADDRESS);
        assert_eq!(value["kdf"]["algorithm"], "argon2id");
        assert_eq!(value["kdf"]["salt"].as_str().unwrap().len(), 32);
        assert_eq!(value["cipher"]["algorithm"], "xchacha20poly1305");
        assert_eq!(value["cipher"]["nonce"].as_str().unwrap().len(), 48);
        assert!(!text.contains("abandon"));
    }

    #[test]
    fn seed_round_trip() {
        let secret = KeySecret::Seed(Zeroizing::new([7; 32]));
        let keyfile = Keyfile::seal(KeyKind::Hotkey, "miner", &secret, b"pw", CHEAP).unwrap();
        let back = Keyfile::from_json(keyfile.to_json().as_bytes()).unwrap();
        let opened = back.open(b"pw").unwrap();
        assert!(matches!(&opened, KeySecret::Seed(s) if **s == [7; 32]));
        assert_eq!(
            back.address(),
            Keypair::from_seed([7; 32]).account_id(),
            "address is the seed's"
        );
    }

    #[test]
    fn salt_and_nonce_are_fresh() {
        let a = json(&sealed());
        let b = json(&sealed());
        assert_ne!(a["kdf"]["salt"], b["kdf"]["salt"]);
        assert_ne!(a["cipher"]["nonce"], b["cipher"]["nonce"]);
    }

    #[test]
    fn wrong_password_is_rejected() {
        let err = sealed().open(b"not pw").unwrap_err();
        assert!(matches!(err, KeyfileError::WrongPassword), "{err:?}");
        assert_eq!(err.to_string(), "wrong password or corrupted keyfile");
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let mut value = json(&sealed());
        let ct = value["ciphertext"].as_str().unwrap().to_owned();
        let flipped = if ct.starts_with('0') { "1" } else { "0" };
        value["ciphertext"] = format!("{flipped}{}", &ct[1..]).into();
        let err = reparse(&value).unwrap().open(b"pw").unwrap_err();
        assert!(matches!(err, KeyfileError::WrongPassword), "{err:?}");
    }

    #[test]
    fn cleartext_fields_are_bound_to_the_ciphertext() {
        let other = Keypair::from_seed([1; 32]).account_id().to_string();
        let changes: [(&str, serde_json::Value); 3] = [
            ("address", other.into()),
            ("kind", "hotkey".into()),
            ("name", "w2".into()),
        ];
        for (field, new) in changes {
            let mut value = json(&sealed());
            value[field] = new;
            let err = reparse(&value).unwrap().open(b"pw").unwrap_err();
            assert!(
                matches!(err, KeyfileError::WrongPassword),
                "{field}: {err:?}"
            );
        }
    }

    #[test]
    fn file_mode_is_0600_and_no_temp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        sealed().write(&path, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn refuses_to_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let first = sealed();
        first.write(&path, false).unwrap();
        let second = Keyfile::seal(
            KeyKind::Coldkey,
            "w",
            &KeySecret::Seed(Zeroizing::new([3; 32])),
            b"pw",
            CHEAP,
        )
        .unwrap();
        let err = second.write(&path, false).unwrap_err();
        assert!(
            matches!(&err, KeyfileError::AlreadyExists(p) if *p == path),
            "{err:?}"
        );
        assert_eq!(Keyfile::read(&path).unwrap(), first);
        second.write(&path, true).unwrap();
        assert_eq!(Keyfile::read(&path).unwrap(), second);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn absurd_kdf_costs_are_refused_before_allocating() {
        // 100 GiB: if this were allocated the test would die; the check runs at parse time.
        for (field, v) in [
            ("m_cost_kib", 100 * 1024 * 1024_u64),
            ("m_cost_kib", u64::MAX),
            ("m_cost_kib", 4),
            ("t_cost", 1_000_000),
            ("t_cost", 0),
            ("p_cost", 0),
            ("p_cost", 1000),
        ] {
            let mut value = json(&sealed());
            value["kdf"][field] = v.into();
            let err = reparse(&value).unwrap_err();
            assert!(
                matches!(&err, KeyfileError::Malformed { field: f, .. } if *f == format!("kdf.{field}")),
                "{field}={v}: {err:?}"
            );
        }
        // The same check guards sealing with parameters made in code.
        let huge = KdfParams {
            m_cost_kib: u32::MAX,
            ..CHEAP
        };
        let err = Keyfile::seal(KeyKind::Coldkey, "w", &mnemonic_secret(), b"pw", huge);
        assert!(matches!(err, Err(KeyfileError::Malformed { .. })));
    }

    #[test]
    fn unsupported_version_and_malformed_fields() {
        let mut value = json(&sealed());
        value["version"] = 2.into();
        assert!(matches!(
            reparse(&value),
            Err(KeyfileError::UnsupportedVersion(2))
        ));

        let cases: [(&str, &str, serde_json::Value); 5] = [
            ("kdf", "salt", "00ff".into()),
            ("cipher", "nonce", "zz".into()),
            ("kdf", "algorithm", "scrypt".into()),
            ("cipher", "algorithm", "aes".into()),
            ("kdf", "t_cost", "three".into()),
        ];
        for (outer, inner, new) in cases {
            let mut value = json(&sealed());
            value[outer][inner] = new;
            let err = reparse(&value).unwrap_err();
            assert!(
                matches!(&err, KeyfileError::Malformed { field, .. } if *field == format!("{outer}.{inner}")),
                "{outer}.{inner}: {err:?}"
            );
        }
        let mut value = json(&sealed());
        value["address"] = "plx1nope".into();
        assert!(matches!(
            reparse(&value),
            Err(KeyfileError::Malformed { field, .. }) if field == "address"
        ));
        assert!(matches!(
            Keyfile::from_json(b"not json"),
            Err(KeyfileError::Malformed { .. })
        ));
        let missing = Keyfile::read(Path::new("/nonexistent/k.json")).unwrap_err();
        assert!(matches!(missing, KeyfileError::Io { .. }), "{missing:?}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let secret = mnemonic_secret();
        let shown = format!("{secret:?}");
        assert!(!shown.contains("abandon"), "{shown}");
        let seed = KeySecret::Seed(Zeroizing::new([0xab; 32]));
        assert!(!format!("{seed:?}").contains("ab"));
        let shown = format!("{:?}", sealed());
        assert!(!shown.contains("abandon"), "{shown}");
    }

    #[test]
    fn default_params_are_the_documented_ones() {
        assert_eq!(KdfParams::default().m_cost_kib, 65536);
        assert_eq!(KdfParams::default().t_cost, 3);
        assert_eq!(KdfParams::default().p_cost, 1);
        KdfParams::DEFAULT.check().unwrap();
        KdfParams::INSECURE_FAST.check().unwrap();
    }
}
