//! SmolLM2 text generation with greedy decoding, and teacher-forced scoring to verify it.
//!
//! Decoding is greedy (the most likely token every step) so that an answer is a function
//! of the conversation alone: a validator recomputes it with [`TextModel::score`] and
//! checks it with [`verify`](crate::verify()).
//!
//! `score` reads the prompt and the whole completion in one pass, where `generate` read the
//! prompt in one pass and then one token at a time. The arithmetic is the same, but matrix
//! products of other shapes sum in other blocks, so the log-probabilities differ in
//! rounding: by at most 0.02 nats over 1,000 tokens of answers measured in this build,
//! against the 0.1 nats [`verify`](crate::verify()) allows. One pass is what makes checking
//! cheap: 19.5 ms a token against 45.7 ms for 32-token answers, and 11 ms against 39 ms up
//! to 200 tokens (one thread), since a pass over many positions at once reads each weight
//! once rather than once per token.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokenizers::Tokenizer;

use crate::chat::{ChatTemplate, Prompt, byte_level_bytes, tokenizer_from_gguf};
use crate::compute::{Compute, ComputeOptions};
use crate::llama::{self, Llama};
use crate::spec::SMOLLM2_GGUF;

/// Why the text model could not load or run.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The model file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a GGUF model this crate can run (truncated, another architecture,
    /// another tokenizer or chat template).
    #[error("{path} is not a usable SmolLM2 GGUF model: {reason}")]
    BadModel {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A conversation needs at least one message.
    #[error("the conversation has no messages")]
    EmptyConversation,
    /// Plain text to continue needs at least one token.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// Plain text to continue holds a control token's name. It would be read as text
    /// here and as the control token by other servers (llama.cpp, vLLM), which would then
    /// answer differently, so it is refused rather than read either way.
    #[error(
        "the prompt holds `{0}`, the name of one of the model's control tokens, which plain \
         text may not hold: this model would read it as text, other servers as the token"
    )]
    ControlTokenInPrompt(String),
    /// The conversation does not fit the context.
    #[error("{needed} tokens do not fit the context of {limit}")]
    ContextTooLong {
        /// Tokens the call needs (prompt, plus the completion when scoring).
        needed: usize,
        /// The most a call may hold.
        limit: usize,
    },
    /// A token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The compute pool could not start.
    #[error("starting the compute threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// The computation failed.
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}

/// One generated token.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedToken {
    /// Its id.
    pub id: u32,
    /// The text it adds: empty for the stop token, and for a token that ends inside a
    /// multi-byte character (the character comes with the token that completes it).
    pub text: String,
    /// Its log-probability (natural log of its softmax probability).
    pub logprob: f32,
}

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn (`<|im_end|>` or end of text); that token is the last one.
    Stop,
    /// `max_tokens` (or the context) was reached.
    Length,
    /// The `on_token` callback asked to stop.
    Cancelled,
}

/// A completed generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Every token generated, including the stop token when there is one (verification
    /// needs it: stopping is one of the model's greedy choices).
    pub tokens: Vec<GeneratedToken>,
    /// The answer's text.
    pub text: String,
    /// The prompt's length in tokens, template included.
    pub prompt_tokens: usize,
    /// Why it stopped.
    pub finish: FinishReason,
    /// From the call to the first token (mostly the prompt pass).
    pub time_to_first_token: Duration,
    /// The whole call.
    pub total: Duration,
}

/// The recomputed scores at one position of a completion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenScore {
    /// The completion's token at this position.
    pub id: u32,
    /// Its log-probability.
    pub logprob: f32,
    /// The most likely token here (what greedy decoding picks).
    pub top_id: u32,
    /// That token's log-probability.
    pub top_logprob: f32,
}

/// The most tokens [`TextModel::near_top`] gives.
pub const MOST_NEAR_TIES: usize = 4;

/// SmolLM2-135M-Instruct, loaded for generation. `Send + Sync`: the weights are read-only
/// and every call has its own attention cache, so one model (about 300 MB) can serve
/// several threads behind an `Arc`; calls share the compute pool and so run in turn.
pub struct TextModel {
    llama: Llama,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// Control tokens, never shown as text.
    control: Vec<u32>,
    /// Their names, which a plain prompt may not hold.
    control_names: Vec<String>,
    /// Tokens that end the assistant's turn.
    stop: Vec<u32>,
    compute: Compute,
}

impl std::fmt::Debug for TextModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the tokenizer: its Debug prints the whole vocabulary.
        f.debug_struct("TextModel")
            .field("llama", &self.llama)
            .field("template", &self.template)
            .field("stop", &self.stop)
            .field("compute", &self.compute)
            .finish_non_exhaustive()
    }
}

impl TextModel {
    /// Loads the model from its directory (or the `.gguf` file itself), dequantizing the
    /// weights to f16, with one compute thread.
    pub fn load(path: &Path) -> Result<Self, TextError> {
        Self::load_with(path, &ComputeOptions::default())
    }

    /// [`load`](Self::load) with explicit thread settings.
    pub fn load_with(path: &Path, options: &ComputeOptions) -> Result<Self, TextError> {
        let file = if path.is_dir() {
            path.join(SMOLLM2_GGUF)
        } else {
            path.to_path_buf()
        };
        if let Err(source) = std::fs::metadata(&file) {
            return Err(TextError::Read { path: file, source });
        }
        let bad = |reason: String| TextError::BadModel {
            path: file.clone(),
            reason,
        };
        let compute = Compute::new(options)?;
        let (llama, ct) = compute
            .run(|| Llama::load(&file))
            .map_err(|e| bad(e.to_string()))?;
        let (tokenizer, control) = tokenizer_from_gguf(&ct).map_err(bad)?;
        let template = ChatTemplate::from_gguf(&ct, &tokenizer).map_err(bad)?;
        let mut stop = vec![template.im_end];
        if let Some(eos) = ct
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
        {
            stop.push(eos);
        }
        if let Some(eot) = tokenizer.token_to_id("<|endoftext|>") {
            stop.push(eot);
        }
        stop.sort_unstable();
        stop.dedup();
        Ok(TextModel {
            llama,
            control_names: control
                .iter()
                .filter_map(|id| tokenizer.id_to_token(*id))
                .collect(),
            tokenizer,
            template,
            control,
            stop,
            compute,
        })
    }

    /// Generates the answer to `prompt` (the assistant's turn of a conversation, or the
    /// continuation of plain text) by greedy decoding, at most `max_tokens` tokens,
    /// calling `on_token` as each one is produced (return `ControlFlow::Break(())` to stop
    /// early, e.g. when a streaming client has gone).
    pub fn generate<'p>(
        &self,
        prompt: impl Into<Prompt<'p>>,
        max_tokens: usize,
        mut on_token: impl FnMut(&GeneratedToken) -> ControlFlow<()>,
    ) -> Result<Generation, TextError> {
        let start = Instant::now();
        let prompt = self.prompt(prompt)?;
        let limit = self.llama.context();
        if prompt.len() >= limit {
            return Err(TextError::ContextTooLong {
                needed: prompt.len() + 1,
                limit,
            });
        }
        let max_tokens = max_tokens.min(limit - prompt.len());
        let mut generation = Generation {
            tokens: Vec::new(),
            text: String::new(),
            prompt_tokens: prompt.len(),
            finish: FinishReason::Length,
            time_to_first_token: Duration::ZERO,
            total: Duration::ZERO,
        };
        if max_tokens > 0 {
            let mut cache = self.llama.new_cache();
            let mut decoder = self.tokenizer.decode_stream(false);
            let mut logits = self
                .compute
                .run(|| self.llama.forward(&prompt, &mut cache))?;
            loop {
                let id = llama::argmax(&logits);
                let logprob = (logits[id as usize] as f64 - llama::log_normaliser(&logits)) as f32;
                if generation.tokens.is_empty() {
                    generation.time_to_first_token = start.elapsed();
                }
                let text = if self.control.contains(&id) {
                    String::new()
                } else {
                    decoder
                        .step(id)
                        .map_err(|e| TextError::Tokenizer(e.to_string()))?
                        .unwrap_or_default()
                };
                generation.text.push_str(&text);
                let token = GeneratedToken { id, text, logprob };
                let flow = on_token(&token);
                generation.tokens.push(token);
                if self.stop.contains(&id) {
                    generation.finish = FinishReason::Stop;
                    break;
                }
                if flow.is_break() {
                    generation.finish = FinishReason::Cancelled;
                    break;
                }
                if generation.tokens.len() == max_tokens {
                    break;
                }
                logits = self.compute.run(|| self.llama.forward(&[id], &mut cache))?;
            }
        }
        generation.total = start.elapsed();
        Ok(generation)
    }

    /// Recomputes, for each token of `completion` as an answer to `prompt`, its
    /// log-probability and the most likely token at that position (teacher forcing), in
    /// one pass over the prompt and the completion. The numbers differ from what
    /// [`generate`](Self::generate) reported by rounding only (see the module docs).
    pub fn score<'p>(
        &self,
        prompt: impl Into<Prompt<'p>>,
        completion: &[u32],
    ) -> Result<Vec<TokenScore>, TextError> {
        let prompt = self.prompt(prompt)?;
        let limit = self.llama.context();
        if prompt.len() + completion.len() > limit || prompt.len() >= limit {
            return Err(TextError::ContextTooLong {
                needed: prompt.len() + completion.len().max(1),
                limit,
            });
        }
        self.check_ids(completion)?;
        let mut scores = Vec::with_capacity(completion.len());
        let Some((_, fed)) = completion.split_last() else {
            return Ok(scores);
        };
        // The last token is only scored, never fed: nothing is asked of the position after it.
        let text = [prompt.as_slice(), fed].concat();
        let from = prompt.len().checked_sub(1).ok_or(TextError::EmptyPrompt)?;
        let mut cache = self.llama.new_cache();
        self.compute.run(|| {
            self.llama.forward_each(&text, &mut cache, from, |logits| {
                let Some(&id) = completion.get(scores.len()) else {
                    return;
                };
                let norm = llama::log_normaliser(logits);
                let top_id = llama::argmax(logits);
                scores.push(TokenScore {
                    id,
                    logprob: (logits[id as usize] as f64 - norm) as f32,
                    top_id,
                    top_logprob: (logits[top_id as usize] as f64 - norm) as f32,
                });
            })
        })?;
        Ok(scores)
    }

    /// The tokens the model would write next after `prompt` and `written`: the most likely
    /// one first, then any other within `margin` nats of it, most likely first, at most
    /// [`MOST_NEAR_TIES`] in all. Greedy decoding picks the first, but rounding may tie it
    /// with the next ones, so a check that follows the model follows them all.
    pub fn near_top<'p>(
        &self,
        prompt: impl Into<Prompt<'p>>,
        written: &[u32],
        margin: f32,
    ) -> Result<Vec<u32>, TextError> {
        let prompt = self.prompt(prompt)?;
        let limit = self.llama.context();
        if prompt.len() + written.len() >= limit {
            return Err(TextError::ContextTooLong {
                needed: prompt.len() + written.len() + 1,
                limit,
            });
        }
        self.check_ids(written)?;
        let text = [prompt.as_slice(), written].concat();
        let mut cache = self.llama.new_cache();
        let logits = self.compute.run(|| self.llama.forward(&text, &mut cache))?;
        let top = logits[llama::argmax(&logits) as usize];
        // A difference of logits is the difference of log-probabilities.
        let mut near: Vec<u32> = (0..logits.len() as u32)
            .filter(|&id| logits[id as usize] >= top - margin.max(0.0))
            .collect();
        near.sort_by(|a, b| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        });
        near.truncate(MOST_NEAR_TIES);
        Ok(near)
    }

    /// The prompt as token ids: a conversation in SmolLM2's ChatML template, with its
    /// default system prompt when the conversation has none, ending with the assistant's
    /// turn; plain text tokenized as it stands. Its length is the prompt's token count for
    /// usage reports.
    pub fn prompt<'p>(&self, prompt: impl Into<Prompt<'p>>) -> Result<Vec<u32>, TextError> {
        match prompt.into() {
            Prompt::Chat([]) => Err(TextError::EmptyConversation),
            Prompt::Chat(messages) => self
                .template
                .render(messages, &|text| {
                    self.tokenize(text).map_err(|e| e.to_string())
                })
                .map_err(TextError::Tokenizer),
            Prompt::Text(text) => {
                if let Some(name) = self
                    .control_names
                    .iter()
                    .find(|n| text.contains(n.as_str()))
                {
                    return Err(TextError::ControlTokenInPrompt(name.clone()));
                }
                match self.tokenize(text)? {
                    ids if ids.is_empty() => Err(TextError::EmptyPrompt),
                    ids => Ok(ids),
                }
            }
        }
    }

    /// The token ids of plain text (no template; control-token names are read as text).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of token ids, leaving out control tokens.
    pub fn detokenize(&self, ids: &[u32]) -> Result<String, TextError> {
        self.check_ids(ids)?;
        let shown: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| !self.control.contains(id))
            .collect();
        self.tokenizer
            .decode(&shown, false)
            .map_err(|e| TextError::Tokenizer(e.to_string()))
    }

    /// The bytes token `id` adds to the text: `None` for a control token (never shown) or
    /// an id outside the vocabulary. A token may hold part of a multi-byte character.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        if self.control.contains(&id) {
            return None;
        }
        byte_level_bytes(&self.tokenizer.id_to_token(id)?)
    }

    /// Whether `id` ends the answer (the assistant's turn, or the text).
    pub fn is_stop(&self, id: u32) -> bool {
        self.stop.contains(&id)
    }

    /// The token the chat template ends an assistant's turn with (`<|im_end|>`): what the
    /// model emits to stop when answering a chat.
    pub fn end_of_turn(&self) -> u32 {
        self.template.im_end
    }

    /// The most tokens (prompt plus completion) one call may hold.
    pub fn context_length(&self) -> usize {
        self.llama.context()
    }

    /// The vocabulary size; valid token ids are below it.
    pub fn vocab_size(&self) -> usize {
        self.llama.vocab()
    }

    /// The compute threads the model runs on.
    pub fn threads(&self) -> usize {
        self.compute.threads()
    }

    fn check_ids(&self, ids: &[u32]) -> Result<(), TextError> {
        let vocab = self.llama.vocab();
        match ids.iter().find(|&&id| id as usize >= vocab) {
            Some(&id) => Err(TextError::TokenOutOfRange { id, vocab }),
            None => Ok(()),
        }
    }
}
