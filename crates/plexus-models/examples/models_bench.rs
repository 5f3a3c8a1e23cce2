//! Fetches the embedded models into the test cache (or `$PLEXUS_TEST_MODELS`), answers one
//! question, and measures generation, verification and embedding speed and peak memory.
//! Run it optimised: `cargo run --release -p plexus-models --example models_bench [THREADS]`.

use std::error::Error;
use std::ops::ControlFlow;

use plexus_models::testing::test_model_dir;
use plexus_models::{
    ChatMessage, ComputeOptions, EmbeddingModel, ModelKind, TextModel, bench_embed, bench_text,
};

fn peak_rss_mb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn main() -> Result<(), Box<dyn Error>> {
    let threads = std::env::args()
        .nth(1)
        .map(|t| t.parse())
        .transpose()?
        .unwrap_or(1);
    let options = ComputeOptions { threads };

    let text_dir = test_model_dir(ModelKind::Text)?;
    let started = std::time::Instant::now();
    let text = TextModel::load_with(&text_dir, &options)?;
    println!(
        "text model loaded in {:?}, peak RSS {}",
        started.elapsed(),
        peak_rss_mb()
    );
    let question = [ChatMessage::user("What is the capital of France?")];
    let answer = text.generate(&question, 32, |_| ControlFlow::Continue(()))?;
    println!("answer: {:?} ({:?})", answer.text, answer.finish);

    let report = bench_text(&text, 32, 3)?;
    println!("text: {report:#?}");
    println!("peak RSS after text {}", peak_rss_mb());

    let embed_dir = test_model_dir(ModelKind::Embedding)?;
    let embed = EmbeddingModel::load_with(&embed_dir, &options)?;
    let report = bench_embed(&embed, 32, 3)?;
    println!("embeddings: {report:#?}");
    println!("peak RSS after both {}", peak_rss_mb());
    Ok(())
}
