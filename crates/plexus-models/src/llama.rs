//! The llama forward pass over a GGUF file, with weights dequantized to f16 at load.
//!
//! candle-transformers' `quantized_llama` would read the same file, but it only dequantizes
//! to f16 when the process was started with `CANDLE_DEQUANTIZE_ALL_F16=1` (read from the
//! environment by candle; setting it from code is `unsafe`, which the workspace forbids),
//! and it keeps the KV cache inside the model, so one model could serve one conversation at
//! a time. Here the weights are immutable and shared, the cache belongs to each call
//! ([`Cache`]), and the arithmetic is the same as candle's f16 path: activations in f32,
//! each matrix product in f16 through [`QMatMul::TensorF16`]. The native Q4_1 kernels are
//! about 4x slower on x86 (no SIMD kernel for Q4_1 in candle), hence f16.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use candle_core::quantized::{QMatMul, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};

/// The longest conversation (prompt plus completion) a call may hold, in tokens. SmolLM2
/// was trained on 8192, but one prompt pass materialises a heads x length x length
/// attention matrix (9 x 2048² f32 = 150 MB) and a 2-core machine takes seconds for such a
/// prompt; 2048 bounds both.
pub(crate) const MAX_CONTEXT: usize = 2048;

/// How many positions' logits [`Llama::forward_each`] computes at a time: 64 x 49,152 f32
/// is 12 MB.
const HEAD_ROWS: usize = 64;

struct Layer {
    attn_norm: Tensor,
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    wo: QMatMul,
    ffn_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// The weights and shape of the model; immutable once loaded.
pub(crate) struct Llama {
    /// Token embeddings, f16, `(vocab, dim)`.
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    eps: f32,
    vocab: usize,
    context: usize,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("vocab", &self.vocab)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// One conversation's attention state: the keys and values of every position so far.
pub(crate) struct Cache {
    kv: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

fn u32_key(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    match ct.metadata.get(key) {
        Some(v) => Ok(v.to_u32()? as usize),
        None => candle_core::bail!("GGUF metadata has no {key}"),
    }
}

fn f32_key(ct: &gguf_file::Content, key: &str) -> Result<f32> {
    match ct.metadata.get(key) {
        Some(v) => v.to_f32(),
        None => candle_core::bail!("GGUF metadata has no {key}"),
    }
}

impl Llama {
    /// Reads the GGUF file's header (metadata, for the tokenizer and template too) and its
    /// weights.
    pub(crate) fn load(path: &Path) -> Result<(Self, gguf_file::Content)> {
        let mut reader = BufReader::new(File::open(path)?);
        let ct = gguf_file::Content::read(&mut reader)?;
        let model = Self::from_content(&ct, &mut reader)?;
        Ok((model, ct))
    }

    fn from_content<R: Read + Seek>(ct: &gguf_file::Content, r: &mut R) -> Result<Self> {
        let arch = ct
            .metadata
            .get("general.architecture")
            .map(|v| v.to_string());
        match arch {
            Some(Ok(a)) if a == "llama" => {}
            other => candle_core::bail!("expected a llama model, found {other:?}"),
        }
        let dev = &Device::Cpu;
        let n_head = u32_key(ct, "llama.attention.head_count")?;
        let n_kv_head = u32_key(ct, "llama.attention.head_count_kv")?;
        let n_layer = u32_key(ct, "llama.block_count")?;
        let dim = u32_key(ct, "llama.embedding_length")?;
        let rope_dim = u32_key(ct, "llama.rope.dimension_count")?;
        let eps = f32_key(ct, "llama.attention.layer_norm_rms_epsilon")?;
        let rope_base = f32_key(ct, "llama.rope.freq_base").unwrap_or(10_000.0);
        let trained = u32_key(ct, "llama.context_length").unwrap_or(MAX_CONTEXT);
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 || dim % n_head != 0 {
            candle_core::bail!(
                "inconsistent attention shape: {n_head} heads, {n_kv_head} kv heads, {dim} dims"
            );
        }
        let head_dim = dim / n_head;
        if rope_dim != head_dim {
            candle_core::bail!(
                "partial rotary embeddings ({rope_dim} of {head_dim}) are not supported"
            );
        }
        let context = trained.min(MAX_CONTEXT);

        let f16 = |r: &mut R, name: &str| -> Result<QMatMul> {
            Ok(QMatMul::TensorF16(
                ct.tensor(r, name, dev)?.dequantize_f16(dev)?,
            ))
        };
        let f32 = |r: &mut R, name: &str| ct.tensor(r, name, dev)?.dequantize(dev);

        let embeddings = ct
            .tensor(r, "token_embd.weight", dev)?
            .dequantize_f16(dev)?;
        // SmolLM2 ties its output projection to the embeddings (no output.weight); sharing
        // the one f16 tensor saves 57 MB.
        let output = if ct.tensor_infos.contains_key("output.weight") {
            f16(r, "output.weight")?
        } else {
            QMatMul::TensorF16(embeddings.clone())
        };
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let p = format!("blk.{i}");
            layers.push(Layer {
                attn_norm: f32(r, &format!("{p}.attn_norm.weight"))?,
                wq: f16(r, &format!("{p}.attn_q.weight"))?,
                wk: f16(r, &format!("{p}.attn_k.weight"))?,
                wv: f16(r, &format!("{p}.attn_v.weight"))?,
                wo: f16(r, &format!("{p}.attn_output.weight"))?,
                ffn_norm: f32(r, &format!("{p}.ffn_norm.weight"))?,
                gate: f16(r, &format!("{p}.ffn_gate.weight"))?,
                up: f16(r, &format!("{p}.ffn_up.weight"))?,
                down: f16(r, &format!("{p}.ffn_down.weight"))?,
            });
        }
        let norm = f32(r, "output_norm.weight")?;
        let vocab = embeddings.dim(0)?;
        let (cos, sin) = rope_tables(head_dim, rope_base, context)?;
        Ok(Llama {
            embeddings,
            layers,
            norm,
            output,
            cos,
            sin,
            n_head,
            n_kv_head,
            head_dim,
            eps,
            vocab,
            context,
        })
    }

    /// The vocabulary size.
    pub(crate) fn vocab(&self) -> usize {
        self.vocab
    }

    /// The longest conversation one [`Cache`] can hold.
    pub(crate) fn context(&self) -> usize {
        self.context
    }

    /// An empty cache for a new conversation.
    pub(crate) fn new_cache(&self) -> Cache {
        Cache {
            kv: (0..self.layers.len()).map(|_| None).collect(),
            len: 0,
        }
    }

    /// Appends `tokens` to the conversation in `cache` and returns the logits (f32) for
    /// the token after the last of them. The caller keeps ids below the vocabulary size and
    /// the total within the context.
    pub(crate) fn forward(&self, tokens: &[u32], cache: &mut Cache) -> Result<Vec<f32>> {
        let hidden = self.hidden(tokens, cache)?;
        let last = hidden.i((.., tokens.len() - 1, ..))?;
        self.output.forward(&last)?.squeeze(0)?.to_vec1::<f32>()
    }

    /// Appends `tokens` to the conversation in `cache` in one pass and calls `each` with the
    /// logits (f32) for the token after each of them, from `tokens[from]` on, in order. The
    /// output projection runs over [`HEAD_ROWS`] positions at a time, so a long text never
    /// holds every position's logits (a vocabulary's worth of floats each) at once.
    pub(crate) fn forward_each(
        &self,
        tokens: &[u32],
        cache: &mut Cache,
        from: usize,
        mut each: impl FnMut(&[f32]),
    ) -> Result<()> {
        let hidden = self.hidden(tokens, cache)?;
        let mut start = from;
        while start < tokens.len() {
            let rows = HEAD_ROWS.min(tokens.len() - start);
            let chunk = hidden.i((.., start..start + rows, ..))?.contiguous()?;
            for logits in self.output.forward(&chunk)?.squeeze(0)?.to_vec2::<f32>()? {
                each(&logits);
            }
            start += rows;
        }
        Ok(())
    }

    /// Runs `tokens` through every layer after what `cache` holds and returns the final
    /// normalised hidden states, `(1, tokens, dim)`.
    fn hidden(&self, tokens: &[u32], cache: &mut Cache) -> Result<Tensor> {
        let seq = tokens.len();
        let pos = cache.len;
        if seq == 0 || pos + seq > self.context {
            candle_core::bail!(
                "{seq} tokens at position {pos} do not fit a context of {}",
                self.context
            );
        }
        let dev = &Device::Cpu;
        let ids = Tensor::new(tokens, dev)?;
        let mut h = self
            .embeddings
            .index_select(&ids, 0)?
            .to_dtype(DType::F32)?
            .unsqueeze(0)?;
        // One token attends to everything before it; only a multi-token pass needs a mask.
        let mask = match seq {
            1 => None,
            _ => Some(candle_transformers::utils::build_causal_mask(
                seq, pos, dev,
            )?),
        };
        for (layer, kv) in self.layers.iter().zip(cache.kv.iter_mut()) {
            let x = candle_nn::ops::rms_norm(&h, &layer.attn_norm, self.eps)?;
            let h_attn = (self.attention(layer, &x, mask.as_ref(), pos, kv)? + &h)?;
            let x = candle_nn::ops::rms_norm(&h_attn, &layer.ffn_norm, self.eps)?;
            let gated =
                (candle_nn::ops::silu(&layer.gate.forward(&x)?)? * layer.up.forward(&x)?)?;
            h = (layer.down.forward(&gated)? + h_attn)?;
        }
        cache.len += seq;
        candle_nn::ops::rms_norm(&h, &self.norm, self.eps)
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask: Option<&Tensor>,
        pos: usize,
        kv: &mut Option<(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let (b, seq, dim) = x.dims3()?;
        let heads = |t: Tensor, n: usize| t.reshape((b, seq, n, self.head_dim))?.transpose(1, 2);
        let q = heads(layer.wq.forward(x)?, self.n_head)?;
        let k = heads(layer.wk.forward(x)?, self.n_kv_head)?;
        let v = heads(layer.wv.forward(x)?, self.n_kv_head)?.contiguous()?;
        // llama GGUF files store q and k permuted for the interleaved rotary convention.
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let q = candle_nn::rotary_emb::rope_i(&q.contiguous()?, &cos, &sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k.contiguous()?, &cos, &sin)?;
        let (k, v) = match kv.take() {
            None => (k, v),
            Some((k0, v0)) => (Tensor::cat(&[&k0, &k], 2)?, Tensor::cat(&[&v0, &v], 2)?),
        };
        *kv = Some((k.clone(), v.clone()));

        let groups = self.n_head / self.n_kv_head;
        let k = candle_transformers::utils::repeat_kv(k, groups)?;
        let v = candle_transformers::utils::repeat_kv(v, groups)?;
        let att = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(mask) => {
                let mask = mask.broadcast_as(att.shape())?;
                let neg_inf =
                    Tensor::new(f32::NEG_INFINITY, att.device())?.broadcast_as(att.shape())?;
                mask.where_cond(&neg_inf, &att)?
            }
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v.contiguous()?)?;
        let y = y.transpose(1, 2)?.reshape((b, seq, dim))?;
        layer.wo.forward(&y)
    }
}

/// The rotary embedding's cos and sin tables, `(context, head_dim / 2)`, as candle computes
/// them for llama.
fn rope_tables(head_dim: usize, base: f32, context: usize) -> Result<(Tensor, Tensor)> {
    let theta: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let dev = &Device::Cpu;
    let theta = Tensor::new(theta.as_slice(), dev)?;
    let angles = Tensor::arange(0, context as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((context, 1))?
        .broadcast_mul(&theta.reshape((1, ()))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// The log-softmax normaliser of `logits` (`max + ln Σ exp(l - max)`), summed in f64 in
/// index order so that the same logits always give the same bits.
pub(crate) fn log_normaliser(logits: &[f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    max + sum.ln()
}

/// The index of the largest logit, the lowest index on ties (NaNs never win).
pub(crate) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}
