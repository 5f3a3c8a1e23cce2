//! The text-generation subnet: miners complete chats and plain text with the subnet's
//! model (greedy decoding, so answers are reproducible); validators recompute the
//! log-probabilities of a sample of answers with the same model and pay verified answers
//! by speed.

mod embedded;
mod judge;
mod protocol;
mod serve;
mod stop;
mod streamed;

pub use embedded::{EMBEDDED_TEXT_MODEL, EmbeddedText};
pub use judge::{CheckError, TextJudgeConfig, TextSubnet, check_answer};
pub use protocol::{
    CHAT_ROUTE, ChatAnswer, ChatMessage, ChatRequest, FinishReason, MAX_COMPLETION_TOKENS,
    MAX_MESSAGES, MAX_PROMPT_BYTES, MAX_TOKEN_BYTES, PLAIN_TEXT_AXON_VERSION, Prompt, Role,
    StreamEnd, StreamEvent, TokenChunk,
};
pub use serve::{TextBackend, text_routes};
pub use stop::{MAX_STOP_BYTES, MAX_STOPS, StopError, check_stops, first_stop, stop_after};
