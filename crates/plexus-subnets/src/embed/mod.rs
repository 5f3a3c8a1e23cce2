//! The embeddings subnet: miners embed texts with the subnet's model; validators recompute
//! a sample and require a cosine similarity of at least 0.999 per vector.

mod embedded;
mod judge;
mod protocol;
mod serve;

pub use embedded::{EMBEDDED_EMBEDDING_MODEL, EmbeddedEmbeddings};
pub use judge::{EmbeddingSubnet, MIN_COSINE, TARGET_TEXTS_PER_SECOND, check_embeddings};
pub use protocol::{EMBED_ROUTE, EmbedAnswer, EmbedRequest, MAX_INPUT_BYTES, MAX_INPUTS};
pub use serve::{EmbeddingBackend, embed_routes};
