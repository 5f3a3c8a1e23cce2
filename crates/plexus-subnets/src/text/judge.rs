//! The text validator: ask a short greedy question (or give plain text to continue),
//! stream the answer, recompute it with the same model, and pay verified answers by speed.

use std::sync::Arc;
use std::time::Duration;

use plexus_models::{ClaimedToken, TextError, TextModel, Verdict as ModelVerdict, verify};
use plexus_wire::{Client, Target};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::protocol::{ChatAnswer, ChatMessage, ChatRequest, FinishReason, Prompt};
use super::stop::first_stop;
use super::streamed::ask;
use crate::subnet::{Evaluation, Pace, PaceTargets, Subnet};

/// How a text validator judges.
#[derive(Debug, Clone)]
pub struct TextJudgeConfig {
    /// Tokens asked for per challenge; short keeps verification cheap.
    pub max_tokens: u32,
    /// Log-probability tolerance in nats (see `plexus_models::DEFAULT_TOLERANCE`).
    pub tolerance: f32,
    /// The pace worth the full speed bonus: tokens per second (time to first token
    /// included) and time to the first token.
    pub targets: PaceTargets,
    /// The most a whole streamed answer may take.
    pub deadline: Duration,
}

impl Default for TextJudgeConfig {
    fn default() -> Self {
        Self {
            max_tokens: 16,
            tolerance: plexus_models::DEFAULT_TOLERANCE,
            // The embedded miner on one core decodes ~30 tokens/s and starts a short
            // prompt in ~350 ms (docs/benchmarks.md): a fast miner beats both.
            targets: PaceTargets {
                per_second: 40.0,
                first: Duration::from_millis(250),
            },
            deadline: Duration::from_secs(20),
        }
    }
}

/// The text subnet as its validators see it.
#[derive(Debug, Clone)]
pub struct TextSubnet {
    model: Arc<TextModel>,
    config: TextJudgeConfig,
}

impl TextSubnet {
    /// A judge recomputing answers with `model`.
    pub fn new(model: Arc<TextModel>, config: TextJudgeConfig) -> Self {
        Self { model, config }
    }
}

/// The numbers that make each challenge its own (see [`question`]).
const TICKETS: std::ops::Range<u32> = 100_000_000..1_000_000_000;

const SUBJECTS: &[&str] = &[
    "the sea",
    "a mountain",
    "bread",
    "the moon",
    "a library",
    "rain",
    "a bicycle",
    "music",
    "a garden",
    "winter",
    "a river",
    "coffee",
    "a city at night",
    "friendship",
    "the desert",
];
const WORDS: &[&str] = &[
    "bright", "quick", "ancient", "gentle", "brave", "quiet", "happy", "cold", "strong", "small",
];

/// A short question nobody can answer ahead of time: besides the template's own parts,
/// every question carries a random nine-digit number, which changes the model's answer.
/// Without it the few dozen templates could be answered once, cached, and served
/// instantly for the full speed bonus; with a small one (five digits, before) the ~6
/// million questions could be: nine digits make ~6·10¹⁰, and an answer table that size is
/// beyond any miner.
fn question(rng: &mut StdRng) -> String {
    let ticket = rng.gen_range(TICKETS);
    format!("Question {ticket}: {}", template(rng))
}

fn template(rng: &mut StdRng) -> String {
    let subject = SUBJECTS.choose(rng).copied().unwrap_or("the sea");
    let word = WORDS.choose(rng).copied().unwrap_or("bright");
    match rng.gen_range(0..6) {
        0 => format!(
            "What is {} plus {}?",
            rng.gen_range(2..500),
            rng.gen_range(2..500)
        ),
        1 => format!("Write one sentence about {subject}."),
        2 => format!("Give a word that means the opposite of \"{word}\"."),
        3 => format!("Describe {subject} in three words."),
        4 => format!("Name something that is {word}."),
        _ => format!("Why do people like {subject}?"),
    }
}

/// The opening of a plain-text challenge (one in four), for the model to continue as it
/// stands: consumers' `/v1/completions` ask for such continuations, so a miner that
/// wraps every prompt in the chat template fails these. Numbered, as questions are.
fn opening(rng: &mut StdRng) -> String {
    let ticket = rng.gen_range(TICKETS);
    let subject = SUBJECTS.choose(rng).copied().unwrap_or("the sea");
    let word = WORDS.choose(rng).copied().unwrap_or("bright");
    match rng.gen_range(0..4) {
        0 => format!("Note {ticket}. The best thing about {subject} is"),
        1 => format!("Story {ticket}. Once upon a time, {subject}"),
        2 => format!("List {ticket}: things that are {word}.\n1."),
        _ => format!("Entry {ticket}. Few things are as {word} as"),
    }
}

/// Stop strings a challenge may carry.
const STOPS: &[&str] = &[".", ",", "\n", " and"];

/// One challenge in four names a stop string, so a miner that ignores stops (and makes
/// consumers wait for text they will not see) fails some of its challenges.
fn challenge_stops(rng: &mut StdRng) -> Vec<String> {
    if !rng.gen_ratio(1, 4) {
        return Vec::new();
    }
    STOPS
        .choose(rng)
        .map(|s| vec![(*s).to_owned()])
        .unwrap_or_default()
}

/// A streamed challenge of `max_tokens`: a question, or one time in four plain text to
/// continue, with a stop string one time in four.
fn challenge(rng: &mut StdRng, max_tokens: u32) -> ChatRequest {
    let mut request = if rng.gen_ratio(1, 4) {
        ChatRequest::text(opening(rng), max_tokens)
    } else {
        ChatRequest::chat(vec![ChatMessage::user(question(rng))], max_tokens)
    };
    request.stream = true;
    request.stop = challenge_stops(rng);
    request
}

/// Why [`check_answer`] verified no tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The answer is not what the model answers: the miner's doing.
    #[error("{0}")]
    Wrong(String),
    /// The checker's own model failed to run (its threads, its computation). It says
    /// nothing of the answer, and nothing in an answer can cause it: an answer's bad token
    /// ids, lengths and text are [`CheckError::Wrong`], or a miner could make its answers
    /// unjudgeable and keep the score it had.
    #[error("the checking model failed: {0}")]
    Unjudged(String),
}

impl From<String> for CheckError {
    fn from(why: String) -> Self {
        Self::Wrong(why)
    }
}

impl From<&str> for CheckError {
    fn from(why: &str) -> Self {
        Self::Wrong(why.to_owned())
    }
}

impl From<TextError> for CheckError {
    fn from(e: TextError) -> Self {
        match e {
            TextError::Threads(_) | TextError::Compute(_) => Self::Unjudged(e.to_string()),
            other => Self::Wrong(other.to_string()),
        }
    }
}

/// Checks that `answer` is what the subnet's model answers to `request` by greedy
/// decoding: tokens and text agree, the stop (or length) is honest, and every token is
/// the model's choice within `tolerance`. Returns how many tokens were verified, which is
/// what speed is paid on. Runs the model: call from a blocking thread. The error says
/// what failed, and whether the answer or the checker did.
pub fn check_answer(
    model: &TextModel,
    request: &ChatRequest,
    answer: &ChatAnswer,
    tolerance: f32,
) -> Result<usize, CheckError> {
    // Bounds first: nothing is decoded or run for an answer past them.
    answer.fits(request)?;
    // Backends that cannot tell tokens (upstream servers) send text alone.
    let text_only = answer.tokens.is_empty();
    let tokens = if text_only {
        model.tokenize(&answer.text)?
    } else {
        let text = model.detokenize(&answer.tokens)?;
        // A streamed answer cut off inside a multi-byte character never sends that
        // character's first bytes as text; decoding the ids at once shows them as U+FFFD.
        if text.trim_end_matches('\u{FFFD}') != answer.text {
            return Err("the text is not what the tokens say".into());
        }
        answer.tokens.clone()
    };
    if tokens.is_empty() {
        return Err("empty answer".into());
    }
    if tokens.len() > request.max_tokens as usize {
        return Err(format!(
            "{} tokens for max_tokens {}",
            tokens.len(),
            request.max_tokens
        )
        .into());
    }
    // The model's turn ends at its first stop token: tokens after it are the model's
    // choices too (greedy decoding goes on), but no honest miner sends them, and counting
    // them would pay a miner for padding its answer.
    if let Some(at) = tokens[..tokens.len() - 1]
        .iter()
        .position(|t| model.is_stop(*t))
    {
        return Err(format!("goes on past the end of its turn (token {at})").into());
    }
    let stopped = tokens.last().is_some_and(|t| model.is_stop(*t));
    let at_stop_string =
        ends_at_stop_string(model, &tokens, &answer.text, &request.stop, text_only)?;
    // Text alone never shows the stop token, so a stop claimed over text is checked by
    // scoring one more position: the model must end its turn right after the text.
    // Without this, any prefix of the right answer would pass as a complete one.
    let scored = match answer.finish_reason {
        FinishReason::Stop if at_stop_string => tokens.clone(),
        FinishReason::Length if at_stop_string => {
            return Err("claims the length limit where a stop string ended it".into());
        }
        FinishReason::Length if tokens.len() < request.max_tokens as usize && !stopped => {
            return Err("stopped early claiming the length limit".into());
        }
        FinishReason::Stop if !text_only && !stopped => {
            return Err("claims a stop without the stop token".into());
        }
        // The stop would be one token past the limit: such an answer ended on the length.
        FinishReason::Stop if text_only && tokens.len() >= request.max_tokens as usize => {
            return Err("claims a stop at the length limit".into());
        }
        FinishReason::Stop if text_only && !stopped => {
            [tokens.as_slice(), &[model.end_of_turn()]].concat()
        }
        _ => tokens.clone(),
    };
    let mut scores = model.score(request.input(), &scored)?;
    // The stop position is verified work like any token: counted either way.
    let verified = scored.len();
    // Text alone is cut where the stop string ends, which may be inside the model's
    // tokens, and read again its last word may split otherwise ("The capi" reads as " cap"
    // "i" where the model wrote " capital"). From the first token that is not the model's
    // choice, the text passes when the model, going on greedily from the tokens before,
    // writes text that begins with the rest.
    if text_only && at_stop_string {
        let diverged = scores
            .iter()
            .position(|s| s.top_logprob - s.logprob > tolerance);
        if let Some(at) = diverged {
            let rest: Vec<u8> = tokens[at..]
                .iter()
                .filter_map(|t| model.token_bytes(*t))
                .flatten()
                .collect();
            let writes = rest.len() <= MAX_CUT_BYTES
                && model_writes(model, request.input(), &tokens[..at], &rest, tolerance)?;
            if !writes {
                return Err(format!(
                    "the text from token {at} to the stop string is not the model's"
                )
                .into());
            }
            scores.truncate(at);
        }
    }
    if scored.len() > tokens.len() {
        let end = scores.pop().ok_or("no score for the stop")?;
        let ends_here = model.is_stop(end.top_id) || end.top_logprob - end.logprob <= tolerance;
        if !ends_here {
            return Err("claims a stop where the model goes on".into());
        }
    }
    let claims: Vec<ClaimedToken> = if answer.logprobs.len() == tokens.len() {
        tokens
            .iter()
            .zip(&answer.logprobs)
            .map(|(id, logprob)| ClaimedToken {
                id: *id,
                logprob: *logprob,
            })
            .collect()
    } else if answer.logprobs.is_empty() {
        // Nothing claimed: only the greedy choice is checked.
        scores
            .iter()
            .map(|s| ClaimedToken {
                id: s.id,
                logprob: s.logprob,
            })
            .collect()
    } else {
        return Err("log-probabilities do not match the tokens".into());
    };
    match verify(&scores, &claims, tolerance) {
        ModelVerdict::Verified => Ok(verified),
        ModelVerdict::Rejected { position, reason } => {
            Err(format!("token {position} is not the model's: {reason:?}").into())
        }
    }
}

/// Most bytes of text alone, before a stop string's end, that may be read otherwise than
/// the model wrote them: the last word's.
const MAX_CUT_BYTES: usize = 64;

/// Most tokens the model is followed for to see that it writes the end of text cut at a
/// stop string (one or two is the usual case).
const CUT_STEPS: usize = 4;

/// Most model passes spent following the model past a cut: each step is one, and a
/// near-tie (rare) branches.
const CUT_PASSES: usize = 8;

/// Whether the model, going on greedily after `before`, writes text that begins with `cut`.
/// Rounding may tie the greedy choice with another token within `tolerance` (the check
/// reads in one pass what the miner wrote a token at a time), so every such near-tie is
/// followed. One model pass per step.
fn model_writes(
    model: &TextModel,
    prompt: Prompt<'_>,
    before: &[u32],
    cut: &[u8],
    tolerance: f32,
) -> Result<bool, CheckError> {
    let mut going_on = before.to_vec();
    let mut passes = CUT_PASSES;
    let follow = Follow {
        model,
        prompt,
        cut,
        tolerance,
    };
    follow.writes_from(&mut going_on, &[], CUT_STEPS, &mut passes)
}

/// What [`model_writes`] follows the model with.
struct Follow<'a, 'p> {
    model: &'a TextModel,
    prompt: Prompt<'p>,
    cut: &'a [u8],
    tolerance: f32,
}

impl Follow<'_, '_> {
    /// Whether the model, after `going_on`, writes the rest of the cut past `written`, in
    /// at most `steps` tokens and `passes` model passes (shared by every branch).
    fn writes_from(
        &self,
        going_on: &mut Vec<u32>,
        written: &[u8],
        steps: usize,
        passes: &mut usize,
    ) -> Result<bool, CheckError> {
        if steps == 0 || *passes == 0 {
            return Ok(false);
        }
        *passes -= 1;
        let next = self.model.near_top(self.prompt, going_on, self.tolerance)?;
        for id in next {
            // A turn that ends (a control token) writes nothing more.
            let Some(bytes) = self.model.token_bytes(id) else {
                continue;
            };
            let written = [written, &bytes].concat();
            if written.starts_with(self.cut) {
                return Ok(true);
            }
            if !self.cut.starts_with(&written) {
                continue;
            }
            going_on.push(id);
            let writes = self.writes_from(going_on, &written, steps - 1, passes)?;
            going_on.pop();
            if writes {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Whether the answer ends at one of `stops`: its last token completes one, or, for text
/// alone (which may end inside a token), its text ends where one does. An answer that goes
/// on past one is refused: an honest miner ends there.
fn ends_at_stop_string(
    model: &TextModel,
    tokens: &[u32],
    text: &str,
    stops: &[String],
    text_only: bool,
) -> Result<bool, CheckError> {
    if text_only {
        return match first_stop(text, stops) {
            None => Ok(false),
            Some(stop) if stop.end == text.len() => Ok(true),
            Some(_) => Err("went on past a stop string".into()),
        };
    }
    let Some((_, before)) = tokens.split_last().filter(|_| !stops.is_empty()) else {
        return Ok(false);
    };
    let before = model.detokenize(before)?;
    // A token that ends inside a character shows it as U+FFFD; its text comes later.
    if first_stop(before.trim_end_matches('\u{FFFD}'), stops).is_some() {
        return Err("went on past a stop string".into());
    }
    Ok(first_stop(text, stops).is_some())
}

impl Subnet for TextSubnet {
    type Challenge = ChatRequest;

    fn name(&self) -> &str {
        "text"
    }

    fn challenge(&self, rng: &mut StdRng) -> ChatRequest {
        challenge(rng, self.config.max_tokens)
    }

    fn takes(&self, challenge: &ChatRequest, axon_version: u32) -> bool {
        axon_version >= challenge.axon_version()
    }

    async fn evaluate(
        &self,
        client: &Client,
        target: &Target,
        request: &ChatRequest,
    ) -> Evaluation {
        let streamed = match ask(client, target, request, self.config.deadline).await {
            Ok(s) => s,
            Err(failed) => return failed,
        };
        let model = Arc::clone(&self.model);
        let request = request.clone();
        let tolerance = self.config.tolerance;
        let answer = streamed.answer.clone();
        let checked =
            tokio::task::spawn_blocking(move || check_answer(&model, &request, &answer, tolerance))
                .await;
        let checked = match checked {
            Ok(checked) => checked,
            Err(e) => return Evaluation::unjudged(format!("verification thread: {e}")),
        };
        match checked {
            Err(CheckError::Unjudged(why)) => Evaluation::unjudged(why),
            Ok(tokens) => Evaluation::correct_streamed(
                &Pace {
                    items: tokens,
                    first: streamed.first_token,
                    elapsed: streamed.elapsed,
                },
                &self.config.targets,
            ),
            Err(CheckError::Wrong(why)) => Evaluation::wrong(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn only_the_checkers_own_failures_go_unjudged() {
        // What an answer can cause is the answer's fault: its ids, its length, its text.
        let answers_doing = [
            TextError::TokenOutOfRange {
                id: 1 << 20,
                vocab: 49_152,
            },
            TextError::ContextTooLong {
                needed: 9_000,
                limit: 8_192,
            },
            TextError::Tokenizer("unknown byte".into()),
        ];
        for e in answers_doing {
            let why = e.to_string();
            assert_eq!(CheckError::from(e), CheckError::Wrong(why));
        }
        let own = TextError::Compute(candle_core::Error::Msg("out of memory".into()));
        assert!(
            matches!(CheckError::from(own), CheckError::Unjudged(why) if why.contains("out of memory"))
        );
    }

    #[test]
    fn questions_vary_and_stay_short() {
        let mut rng = StdRng::seed_from_u64(7);
        let asked: std::collections::BTreeSet<String> =
            (0..200).map(|_| question(&mut rng)).collect();
        assert_eq!(asked.len(), 200, "a question came twice");
        assert!(asked.iter().all(|q| q.len() < 100));
        // Without their numbers the questions repeat: the number is what defeats caching.
        let templates: std::collections::BTreeSet<&str> = asked
            .iter()
            .map(|q| q.split_once(": ").map_or(q.as_str(), |(_, t)| t))
            .collect();
        assert!(templates.len() < 150, "{} distinct", templates.len());
    }

    #[test]
    fn a_quarter_of_challenges_are_plain_text_and_carry_a_stop() {
        let mut rng = StdRng::seed_from_u64(9);
        let challenges: Vec<ChatRequest> = (0..400).map(|_| challenge(&mut rng, 16)).collect();
        assert!(challenges.iter().all(|c| c.validate().is_ok() && c.stream));
        let plain = challenges.iter().filter(|c| c.prompt.is_some()).count();
        let stopped = challenges.iter().filter(|c| !c.stop.is_empty()).count();
        for share in [plain, stopped] {
            assert!((60..140).contains(&share), "{share} of 400");
        }
    }

    #[test]
    fn openings_vary_and_stay_short() {
        let mut rng = StdRng::seed_from_u64(8);
        let openings: std::collections::BTreeSet<String> =
            (0..200).map(|_| opening(&mut rng)).collect();
        assert_eq!(openings.len(), 200, "an opening came twice");
        assert!(openings.iter().all(|o| o.len() < 100));
    }
}
