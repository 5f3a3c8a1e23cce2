//! Scratch (temporary): candle's own quantized llama for comparison.
#![allow(missing_docs, clippy::unwrap_used)]
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use plexus_models::testing::test_model_dir;
use plexus_models::*;
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let dir = test_model_dir(ModelKind::Text).unwrap();
    let q = [ChatMessage::user(
        "Explain in a few sentences why the sky is blue.",
    )];
    if which == "ours" {
        let ours = TextModel::load(&dir).unwrap();
        for _ in 0..4 {
            let g = ours
                .generate(&q, 32, |_| std::ops::ControlFlow::Continue(()))
                .unwrap();
            println!(
                "ours: ttft {:?} decode {:.1} tok/s",
                g.time_to_first_token,
                31.0 / (g.total - g.time_to_first_token).as_secs_f64()
            );
        }
        return;
    }
    let prompt: Vec<u32> = serde_json::from_str(
        &std::fs::read_to_string("/tmp/sky_prompt.json").unwrap_or_else(|_| {
            let ours = TextModel::load(&dir).unwrap();
            let p = ours.prompt(&q).unwrap();
            std::fs::write("/tmp/sky_prompt.json", serde_json::to_string(&p).unwrap()).unwrap();
            serde_json::to_string(&p).unwrap()
        }),
    )
    .unwrap();
    let path = dir.join(SMOLLM2_GGUF);
    let mut f = std::fs::File::open(&path).unwrap();
    let ct = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
    let mut m = ModelWeights::from_gguf(ct, &mut f, &Device::Cpu).unwrap();
    for _round in 0..4 {
        m.clear_kv_cache();
        let t0 = std::time::Instant::now();
        let input = Tensor::new(prompt.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let mut logits = m
            .forward(&input, 0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let ttft = t0.elapsed();
        let t1 = std::time::Instant::now();
        for i in 0..32 {
            let id = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0 as u32;
            if i == 31 {
                break;
            }
            let input = Tensor::new(&[id], &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            logits = m
                .forward(&input, prompt.len() + i)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
        }
        println!(
            "candle ref: ttft {:?} decode {:.1} tok/s",
            ttft,
            31.0 / t1.elapsed().as_secs_f64()
        );
    }
}
