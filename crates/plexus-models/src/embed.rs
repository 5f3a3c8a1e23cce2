//! all-MiniLM-L6-v2 sentence embeddings: candle's BERT, mean pooling, L2 normalisation.
//!
//! This is what sentence-transformers does for this model, so the vectors match the
//! published ones (0.7553 cosine for "A man is eating food." against "A man is eating a
//! piece of bread.").

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::compute::{Compute, ComputeOptions};
use crate::spec::{MINILM_CONFIG, MINILM_TOKENIZER, MINILM_WEIGHTS};

/// The most tokens of one text the model reads (its `[CLS]` and `[SEP]` included); the
/// rest is cut off. The model has 512 positions, but sentence-transformers reads at most
/// 256 (`max_seq_length` in the package's `sentence_bert_config.json`; the model was tuned
/// on far shorter texts), and matching it keeps the vectors equal to the reference's.
pub const MAX_EMBEDDING_TOKENS: usize = 256;

/// How many texts go through the model at once; bounds memory for long inputs lists.
const BATCH: usize = 32;

/// Why the embedding model could not load or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A model file is not what the model needs.
    #[error("{path} is not a usable all-MiniLM-L6-v2 file: {reason}")]
    BadModel {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
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

/// all-MiniLM-L6-v2, loaded (about 90 MB of f32 weights). `Send + Sync`; calls share the
/// compute pool.
pub struct EmbeddingModel {
    bert: BertModel,
    tokenizer: Tokenizer,
    dimension: usize,
    compute: Compute,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("dimension", &self.dimension)
            .field("compute", &self.compute)
            .finish_non_exhaustive()
    }
}

impl EmbeddingModel {
    /// Loads the model from its directory (`model.safetensors`, `tokenizer.json`,
    /// `config.json`), with one compute thread.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        Self::load_with(dir, &ComputeOptions::default())
    }

    /// [`load`](Self::load) with explicit thread settings.
    pub fn load_with(dir: &Path, options: &ComputeOptions) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Read { path, source })
        };
        let bad = |name: &str, reason: String| EmbedError::BadModel {
            path: dir.join(name),
            reason,
        };
        let config: Config = serde_json::from_slice(&read(MINILM_CONFIG)?)
            .map_err(|e| bad(MINILM_CONFIG, e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(read(MINILM_TOKENIZER)?)
            .map_err(|e| bad(MINILM_TOKENIZER, e.to_string()))?;
        // The file's own settings (truncate at 128, pad every text to 128) are leftovers of
        // training; truncation is set to the reference's and padding is done per batch.
        let max = MAX_EMBEDDING_TOKENS.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max,
                ..Default::default()
            }))
            .map_err(|e| bad(MINILM_TOKENIZER, e.to_string()))?;
        tokenizer.with_padding(None);
        let compute = Compute::new(options)?;
        let weights = read(MINILM_WEIGHTS)?;
        let bert = compute
            .run(|| {
                let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
                BertModel::load(vb, &config)
            })
            .map_err(|e| bad(MINILM_WEIGHTS, e.to_string()))?;
        Ok(EmbeddingModel {
            bert,
            tokenizer,
            dimension: config.hidden_size,
            compute,
        })
    }

    /// The unit-length embedding of each text, in order. Texts longer than
    /// [`MAX_EMBEDDING_TOKENS`] tokens are cut to that length.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let encoded = chunk
                .iter()
                .map(|t| self.encode(t))
                .collect::<Result<Vec<_>, _>>()?;
            out.extend(self.compute.run(|| self.embed_batch(&encoded))?);
        }
        Ok(out)
    }

    /// How many tokens the model reads of `text`: its word pieces plus `[CLS]` and
    /// `[SEP]`, at most [`MAX_EMBEDDING_TOKENS`]. For usage reports.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(self.encode(text)?.len())
    }

    /// The embeddings' length (384).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The compute threads the model runs on.
    pub fn threads(&self) -> usize {
        self.compute.threads()
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// One forward pass over texts padded to the longest, mean-pooled over each text's own
    /// tokens and normalised.
    fn embed_batch(&self, encoded: &[Vec<u32>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let n = encoded.len();
        let len = encoded.iter().map(Vec::len).max().unwrap_or(0);
        if n == 0 || len == 0 {
            return Ok(vec![vec![0.0; self.dimension]; n]);
        }
        let mut ids = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (row, e) in encoded.iter().enumerate() {
            ids[row * len..row * len + e.len()].copy_from_slice(e);
            mask[row * len..row * len + e.len()].fill(1);
        }
        let dev = &Device::Cpu;
        let ids = Tensor::from_vec(ids, (n, len), dev)?;
        let mask = Tensor::from_vec(mask, (n, len), dev)?;
        let types = ids.zeros_like()?;
        let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

/// The cosine similarity of two vectors (their dot product when both have unit length, as
/// embeddings from [`EmbeddingModel::embed`] do). 0 when either is all zeros or their
/// lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (dot / (aa.sqrt() * bb.sqrt())) as f32
}
