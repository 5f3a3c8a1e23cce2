//! Measuring the embedded models on this machine, for `plexus models bench` and the
//! numbers in the docs.

use std::time::{Duration, Instant};

use crate::chat::ChatMessage;
use crate::embed::{EmbedError, EmbeddingModel};
use crate::text::{TextError, TextModel};

/// The question every text benchmark asks; long enough an answer for 32 tokens.
const BENCH_QUESTION: &str = "Explain in a few sentences why the sky is blue.";

/// Text generation and verification speed.
#[derive(Clone, Debug, PartialEq)]
pub struct TextBench {
    /// Compute threads used.
    pub threads: usize,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Tokens generated per run.
    pub tokens: usize,
    /// Time to the first token (best run).
    pub time_to_first_token: Duration,
    /// Decoding speed after the first token (best run), tokens per second.
    pub decode_tokens_per_second: f64,
    /// End-to-end speed (best run): tokens over the whole call, prompt included.
    pub tokens_per_second: f64,
    /// Time to re-score the whole answer for verification (best run).
    pub score_time: Duration,
}

/// Embedding speed.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedBench {
    /// Compute threads used.
    pub threads: usize,
    /// Texts per second, one call per text (best run).
    pub one_by_one_per_second: f64,
    /// Texts per second in calls of `batch` texts (best run).
    pub batched_per_second: f64,
    /// Texts per batched call.
    pub batch: usize,
}

/// Generates `tokens` tokens greedily (the answer may stop earlier only at a stop token,
/// which this question does not reach in 32) and re-scores the answer, `runs` times
/// (at least once), reporting the best run of each.
pub fn bench_text(model: &TextModel, tokens: usize, runs: usize) -> Result<TextBench, TextError> {
    let mut best = text_run(model, tokens)?;
    for _ in 1..runs {
        let run = text_run(model, tokens)?;
        best = TextBench {
            time_to_first_token: best.time_to_first_token.min(run.time_to_first_token),
            decode_tokens_per_second: best
                .decode_tokens_per_second
                .max(run.decode_tokens_per_second),
            tokens_per_second: best.tokens_per_second.max(run.tokens_per_second),
            score_time: best.score_time.min(run.score_time),
            ..run
        };
    }
    Ok(best)
}

fn text_run(model: &TextModel, tokens: usize) -> Result<TextBench, TextError> {
    let messages = [ChatMessage::user(BENCH_QUESTION)];
    let generation = model.generate(&messages, tokens, |_| std::ops::ControlFlow::Continue(()))?;
    let ids: Vec<u32> = generation.tokens.iter().map(|t| t.id).collect();
    let started = Instant::now();
    model.score(&messages, &ids)?;
    let score_time = started.elapsed();
    let n = generation.tokens.len();
    let decode = generation
        .total
        .saturating_sub(generation.time_to_first_token);
    Ok(TextBench {
        threads: model.threads(),
        prompt_tokens: generation.prompt_tokens,
        tokens: n,
        time_to_first_token: generation.time_to_first_token,
        decode_tokens_per_second: per_second(n.saturating_sub(1), decode),
        tokens_per_second: per_second(n, generation.total),
        score_time,
    })
}

/// Embeds `batch` short sentences one call each and then in one call, `runs` times (at
/// least once), reporting the best run of each.
pub fn bench_embed(
    model: &EmbeddingModel,
    batch: usize,
    runs: usize,
) -> Result<EmbedBench, EmbedError> {
    let texts: Vec<String> = (0..batch.max(1))
        .map(|i| format!("Sentence number {i} is about a man eating food in a small town."))
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (mut one, mut batched) = (0f64, 0f64);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        for t in &texts {
            model.embed(&[t])?;
        }
        one = one.max(per_second(texts.len(), started.elapsed()));
        let started = Instant::now();
        model.embed(&texts)?;
        batched = batched.max(per_second(texts.len(), started.elapsed()));
    }
    Ok(EmbedBench {
        threads: model.threads(),
        one_by_one_per_second: one,
        batched_per_second: batched,
        batch: texts.len(),
    })
}

fn per_second(n: usize, time: Duration) -> f64 {
    let seconds = time.as_secs_f64();
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}
