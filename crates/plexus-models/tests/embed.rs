//! all-MiniLM-L6-v2 on the real model: published similarities, batching, limits, errors.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use plexus_models::testing::test_model_dir;
use plexus_models::{
    EmbedError, EmbeddingModel, MAX_EMBEDDING_TOKENS, MINILM_CONFIG, MINILM_TOKENIZER,
    MINILM_WEIGHTS, ModelKind, cosine,
};

fn model() -> EmbeddingModel {
    let dir = test_model_dir(ModelKind::Embedding).expect("fetching MiniLM for the tests");
    EmbeddingModel::load(&dir).expect("loading MiniLM")
}

#[test]
fn similarities_match_the_published_model() {
    let model = model();
    let v = model
        .embed(&[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "A man is eating food.",
        ])
        .unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(model.dimension(), 384);
    for e in &v {
        assert_eq!(e.len(), 384);
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }
    let similar = cosine(&v[0], &v[1]);
    assert!((similar - 0.7553).abs() < 0.001, "{similar}");
    assert!((cosine(&v[0], &v[2]) - 1.0).abs() < 1e-5);
    let unrelated = model
        .embed(&["The stock market fell sharply on Monday."])
        .unwrap();
    assert!(cosine(&v[0], &unrelated[0]) < 0.3);
}

#[test]
fn batches_agree_with_one_by_one() {
    let model = model();
    let texts = [
        "short",
        "a somewhat longer sentence with more words in it",
        "",
    ];
    let batch = model.embed(&texts).unwrap();
    for (text, b) in texts.iter().zip(&batch) {
        let one = model.embed(&[text]).unwrap();
        assert!(cosine(&one[0], b) > 0.99999, "{text:?}");
    }
    assert!(model.embed(&[]).unwrap().is_empty());
}

#[test]
fn token_counts_and_the_length_limit() {
    let model = model();
    // [CLS] a man is eating food . [SEP]
    assert_eq!(model.count_tokens("A man is eating food.").unwrap(), 8);
    assert_eq!(model.count_tokens("").unwrap(), 2);
    let long = "word ".repeat(2000);
    assert_eq!(model.count_tokens(&long).unwrap(), MAX_EMBEDDING_TOKENS);
    // Text past the limit does not change the embedding.
    let longer = format!("{long} and then something entirely different about volcanoes");
    let v = model.embed(&[&long, &longer]).unwrap();
    assert!(cosine(&v[0], &v[1]) > 0.99999);
}

#[test]
fn missing_and_damaged_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        EmbeddingModel::load(&dir.path().join("absent")),
        Err(EmbedError::Read { .. })
    ));
    let real = test_model_dir(ModelKind::Embedding).unwrap();
    for name in [MINILM_CONFIG, MINILM_TOKENIZER] {
        std::fs::copy(real.join(name), dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join(MINILM_WEIGHTS), b"not safetensors").unwrap();
    assert!(matches!(
        EmbeddingModel::load(dir.path()),
        Err(EmbedError::BadModel { .. })
    ));
    std::fs::write(dir.path().join(MINILM_CONFIG), b"{").unwrap();
    assert!(matches!(
        EmbeddingModel::load(dir.path()),
        Err(EmbedError::BadModel { .. })
    ));
}
