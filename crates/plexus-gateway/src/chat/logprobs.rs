//! OpenAI's `logprobs` on chat answers: for each token the miner chose, its
//! log-probability (which validators hold to the model's, within
//! [`DEFAULT_TOLERANCE`](plexus_models::DEFAULT_TOLERANCE)), text and bytes.
//! Alternatives (`top_logprobs`) are not known: miners report only the chosen token.
//!
//! A token's entry goes out with the text that token produced, so an answer cut at a stop
//! string carries the tokens that began before the cut.

use std::collections::VecDeque;

use plexus_models::TextModel;
use plexus_subnets::text::{ChatAnswer, Prompt};
use serde_json::{Value, json};

/// One token's entry in OpenAI's shape and its length in bytes; `None` for a control
/// token (never shown).
fn entry(model: &TextModel, id: u32, logprob: f32) -> Option<(Value, usize)> {
    let bytes = model.token_bytes(id)?;
    let len = bytes.len();
    let entry = json!({
        "token": String::from_utf8_lossy(&bytes),
        "logprob": logprob,
        "bytes": bytes,
        "top_logprobs": [],
    });
    Some((entry, len))
}

/// Whether the miner sent a log-probability for each of its tokens; if not, [`whole`]
/// runs the model.
pub(super) fn claimed(answer: &ChatAnswer) -> bool {
    !answer.tokens.is_empty() && answer.tokens.len() == answer.logprobs.len()
}

/// The `logprobs` object of a choice.
pub(super) fn choice_logprobs(content: Vec<Value>) -> Value {
    json!({"content": content, "refusal": null})
}

/// The entries of a whole answer's tokens that begin before byte `cut` of its text. A miner
/// that did not send its tokens' log-probabilities (an upstream backend sends text alone)
/// has them computed by the gateway's model, as a validator's check computes them; that
/// runs the model: call from a blocking thread.
pub(super) fn whole(
    model: &TextModel,
    prompt: Prompt<'_>,
    answer: &ChatAnswer,
    cut: usize,
) -> Vec<Value> {
    let scored: Vec<(u32, f32)> = if claimed(answer) {
        answer
            .tokens
            .iter()
            .copied()
            .zip(answer.logprobs.iter().copied())
            .collect()
    } else {
        let tokens = match answer.tokens.is_empty() {
            true => model.tokenize(&answer.text),
            false => Ok(answer.tokens.clone()),
        };
        let scores = tokens.and_then(|tokens| model.score(prompt, &tokens));
        match scores {
            Ok(scores) => scores.iter().map(|s| (s.id, s.logprob)).collect(),
            Err(e) => {
                tracing::warn!(%e, "scoring an answer for its log-probabilities");
                Vec::new()
            }
        }
    };
    let mut start = 0;
    let mut entries = Vec::with_capacity(scored.len());
    for (id, logprob) in scored {
        if start >= cut {
            break;
        }
        let Some((entry, len)) = entry(model, id, logprob) else {
            continue;
        };
        start += len;
        entries.push(entry);
    }
    entries
}

/// A streamed answer's entries waiting for their text to be sent (the stop-string filter
/// may hold text back).
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Each token's entry, with the length of the text the miner sent for it.
    entries: VecDeque<(Value, usize)>,
    /// Bytes sent that the entries in front have not yet accounted for.
    sent: usize,
}

impl Pending {
    /// Queues a streamed token: `text` is what the miner sent with it. Tokens without a
    /// log-probability (text from an upstream backend) and control tokens have no entry.
    pub(super) fn push(
        &mut self,
        model: &TextModel,
        token: Option<u32>,
        logprob: Option<f32>,
        text: &str,
    ) {
        if let (Some(id), Some(logprob)) = (token, logprob)
            && let Some((entry, _)) = entry(model, id, logprob)
        {
            // Aligned with the text the miner sent for the token, which is what the
            // stop-string filter lets through.
            self.entries.push_back((entry, text.len()));
        }
    }

    /// `bytes` more of the answer's text were sent: the entries whose text is now all out.
    pub(super) fn sent(&mut self, bytes: usize) -> Vec<Value> {
        self.sent += bytes;
        let mut out = Vec::new();
        while let Some((_, len)) = self.entries.front() {
            // A token with no text of its own (the first bytes of a character the next
            // token completes) goes out with the text after it, not before.
            if *len > self.sent || (*len == 0 && self.sent == 0) {
                break;
            }
            self.sent -= len;
            out.extend(self.entries.pop_front().map(|(entry, _)| entry));
        }
        out
    }

    /// The last `bytes` of the answer's text were sent and it ends there: the entries whose
    /// text began before that end.
    pub(super) fn cut(&mut self, bytes: usize) -> Vec<Value> {
        let mut out = self.sent(bytes);
        while self.sent > 0 {
            let Some((entry, len)) = self.entries.pop_front() else {
                break;
            };
            self.sent = self.sent.saturating_sub(len);
            out.push(entry);
        }
        self.entries.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(lengths: &[usize]) -> Pending {
        Pending {
            entries: lengths
                .iter()
                .enumerate()
                .map(|(i, len)| (json!(i), *len))
                .collect(),
            sent: 0,
        }
    }

    #[test]
    fn entries_go_out_with_their_text() {
        // Tokens of 2, 0 (inside a character), 3 and 1 bytes.
        let mut pending = queued(&[2, 0, 3, 1]);
        assert_eq!(pending.sent(1), Vec::<Value>::new());
        // The token inside a character waits for the text that completes it.
        assert_eq!(pending.sent(1), vec![json!(0)]);
        // Held text comes out later, several tokens at once.
        assert_eq!(pending.sent(4), vec![json!(1), json!(2), json!(3)]);
        assert_eq!(pending.sent(0), Vec::<Value>::new());
    }

    #[test]
    fn a_cut_keeps_the_tokens_that_began_before_it() {
        let mut pending = queued(&[2, 3, 1]);
        // The stop string began one byte into the second token.
        assert_eq!(pending.cut(3), vec![json!(0), json!(1)]);
        let mut pending = queued(&[2, 3, 1]);
        // ... or right after the first one.
        assert_eq!(pending.cut(2), vec![json!(0)]);
        // A character split over two tokens begins right at the cut: neither is kept.
        let mut pending = queued(&[2, 0, 3]);
        assert_eq!(pending.cut(2), vec![json!(0)]);
    }
}
