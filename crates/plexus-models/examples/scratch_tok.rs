//! Scratch (temporary).
#![allow(missing_docs, clippy::unwrap_used)]
use plexus_models::testing::test_model_dir;
use plexus_models::*;
fn main() {
    let model = TextModel::load(&test_model_dir(ModelKind::Text).unwrap()).unwrap();
    let strings: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string("/tmp/strings.json").unwrap()).unwrap();
    let theirs: Vec<Vec<u32>> =
        serde_json::from_str(&std::fs::read_to_string("/tmp/llama_ids.json").unwrap()).unwrap();
    for (s, t) in strings.iter().zip(&theirs) {
        let ours = model.tokenize(s).unwrap();
        println!("{} {:?}", if &ours == t { "SAME" } else { "DIFF" }, s);
        if &ours != t {
            println!("  ours   {ours:?}\n  llama  {t:?}");
        }
    }
    let p = model
        .prompt(&[ChatMessage::user("What is the capital of France?")])
        .unwrap();
    let t: Vec<u32> =
        serde_json::from_str(&std::fs::read_to_string("/tmp/llama_prompt.json").unwrap()).unwrap();
    println!("prompt {} ours {:?}\n llama {:?}", p == t, p, t);
}
