//! The embeddings validator: embed a few sentences through a miner, recompute them, and
//! require each vector to point the same way (cosine ≥ 0.999).

use std::sync::Arc;
use std::time::Instant;

use plexus_models::{EmbeddingModel, cosine};
use plexus_wire::{Client, Target};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::embedded::embed_blocking;
use super::protocol::{EMBED_ROUTE, EmbedAnswer, EmbedRequest};
use crate::subnet::{Evaluation, Subnet};

/// Texts per second that earn the full speed half of a score.
pub const TARGET_TEXTS_PER_SECOND: f64 = 40.0;

/// The least cosine similarity an embedding must have with the recomputed one.
pub const MIN_COSINE: f32 = 0.999;

/// The embeddings subnet as its validators see it.
#[derive(Debug, Clone)]
pub struct EmbeddingSubnet {
    model: Arc<EmbeddingModel>,
    /// Texts per challenge.
    texts: usize,
    /// Texts per second worth the full speed bonus.
    target_per_second: f64,
}

impl EmbeddingSubnet {
    /// A judge recomputing answers with `model`.
    pub fn new(model: Arc<EmbeddingModel>) -> Self {
        Self {
            model,
            texts: 4,
            target_per_second: TARGET_TEXTS_PER_SECOND,
        }
    }
}

const NOUNS: &[&str] = &[
    "cat", "train", "teacher", "storm", "violin", "harbour", "forest", "engineer", "lantern",
    "market", "glacier", "poem",
];
const VERBS: &[&str] = &[
    "waits near",
    "runs past",
    "sings about",
    "hides behind",
    "paints",
    "remembers",
    "follows",
    "ignores",
    "studies",
    "carries",
];

/// Checks `answer` against the recomputed `expected` vectors; the error says which failed.
pub fn check_embeddings(expected: &[Vec<f32>], answer: &EmbedAnswer) -> Result<(), String> {
    if answer.embeddings.len() != expected.len() {
        return Err(format!(
            "{} embeddings for {} texts",
            answer.embeddings.len(),
            expected.len()
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&answer.embeddings).enumerate() {
        let similarity = cosine(want, got);
        // NaN fails too.
        if similarity.is_nan() || similarity < MIN_COSINE {
            return Err(format!(
                "embedding {i} has cosine {similarity:.4} with the model's"
            ));
        }
    }
    Ok(())
}

impl Subnet for EmbeddingSubnet {
    type Challenge = EmbedRequest;

    fn name(&self) -> &str {
        "embeddings"
    }

    fn challenge(&self, rng: &mut StdRng) -> EmbedRequest {
        let input = (0..self.texts)
            .map(|_| {
                // ~10¹³ sentences, with a nine-digit number in each: too many to embed
                // ahead of time and look up (three digits, before, made ~10⁷, a table that
                // fits in memory).
                let a = NOUNS.choose(rng).copied().unwrap_or("cat");
                let b = NOUNS.choose(rng).copied().unwrap_or("train");
                let c = NOUNS.choose(rng).copied().unwrap_or("poem");
                let verb = VERBS.choose(rng).copied().unwrap_or("follows");
                let times = rng.gen_range(100_000_000..1_000_000_000_u32);
                format!("The {a} {verb} the {b} {times} times near the {c}.")
            })
            .collect();
        EmbedRequest { input }
    }

    async fn evaluate(
        &self,
        client: &Client,
        target: &Target,
        request: &EmbedRequest,
    ) -> Evaluation {
        // The miner's time starts once this validator has a lane to call it on.
        let lane = match client.reserve().await {
            Ok(lane) => lane,
            Err(e) => return Evaluation::failed_call(&e),
        };
        let started = Instant::now();
        let called = client
            .call_json_reserved(lane, target, EMBED_ROUTE, request)
            .await;
        let answer: EmbedAnswer = match called {
            Ok((answer, _proof)) => answer,
            Err(e) => return Evaluation::failed_call(&e),
        };
        let elapsed = started.elapsed();
        let model = Arc::clone(&self.model);
        let texts = request.input.clone();
        let expected =
            match tokio::task::spawn_blocking(move || embed_blocking(&model, &texts)).await {
                Ok(Ok((vectors, _))) => vectors,
                // Our own model failing says nothing about the miner.
                Ok(Err(e)) => return Evaluation::unjudged(format!("validator model: {e}")),
                Err(e) => return Evaluation::unjudged(format!("validator thread: {e}")),
            };
        if let Err(why) = check_embeddings(&expected, &answer) {
            return Evaluation::wrong(why);
        }
        Evaluation::correct_at_speed(request.input.len(), elapsed, self.target_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(embeddings: Vec<Vec<f32>>) -> EmbedAnswer {
        EmbedAnswer {
            model: "m".into(),
            embeddings,
            prompt_tokens: 0,
        }
    }

    #[test]
    fn embeddings_must_match_in_count_and_direction() {
        let expected = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        assert_eq!(
            check_embeddings(&expected, &answer(expected.clone())),
            Ok(())
        );
        // Scaled vectors point the same way.
        let scaled = vec![vec![2.0, 0.0], vec![0.0, 0.5]];
        assert_eq!(check_embeddings(&expected, &answer(scaled)), Ok(()));
        let swapped = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        assert!(
            check_embeddings(&expected, &answer(swapped))
                .unwrap_err()
                .contains("embedding 0")
        );
        assert!(check_embeddings(&expected, &answer(vec![vec![1.0, 0.0]])).is_err());
        let nan = vec![vec![f32::NAN, 0.0], vec![0.0, 1.0]];
        assert!(check_embeddings(&expected, &answer(nan)).is_err());
    }
}
