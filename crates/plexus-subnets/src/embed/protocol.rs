//! What embedding miners and their callers say to each other on the wire.

use serde::{Deserialize, Serialize};

/// The route embedding miners serve.
pub const EMBED_ROUTE: &str = "embed";

/// Most texts in one request.
pub const MAX_INPUTS: usize = 256;

/// Most bytes of one text.
pub const MAX_INPUT_BYTES: usize = 16 * 1024;

/// Texts to embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// The texts, embedded independently.
    pub input: Vec<String>,
}

impl EmbedRequest {
    /// Checks the request's bounds; the error says which was broken.
    pub fn validate(&self) -> Result<(), String> {
        if self.input.is_empty() {
            return Err("input must not be empty".into());
        }
        if self.input.len() > MAX_INPUTS {
            return Err(format!("at most {MAX_INPUTS} inputs"));
        }
        if let Some(i) = self.input.iter().position(|t| t.len() > MAX_INPUT_BYTES) {
            return Err(format!("input {i} exceeds {MAX_INPUT_BYTES} bytes"));
        }
        Ok(())
    }
}

/// The embeddings of a request's texts, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedAnswer {
    /// The model that produced them.
    pub model: String,
    /// One unit-length vector per input.
    pub embeddings: Vec<Vec<f32>>,
    /// Tokens read.
    pub prompt_tokens: u32,
}

impl EmbedAnswer {
    /// Checks that the answer is shaped as `request` and the model call for, before any
    /// work is spent on it: one vector per text, each of `dimension` finite values. (Not
    /// its length: an upstream backend need not scale its vectors, and a check compares
    /// directions.) The error says what is wrong.
    pub fn fits(&self, request: &EmbedRequest, dimension: usize) -> Result<(), String> {
        let texts = request.input.len();
        if self.embeddings.len() != texts {
            return Err(format!(
                "{} embeddings for {texts} texts",
                self.embeddings.len()
            ));
        }
        for (i, vector) in self.embeddings.iter().enumerate() {
            if vector.len() != dimension {
                return Err(format!(
                    "embedding {i} has {} values, not {dimension}",
                    vector.len()
                ));
            }
            if vector.iter().any(|x| !x.is_finite()) {
                return Err(format!("embedding {i} has a value that is not a number"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_the_wrong_shape_are_refused() {
        let request = EmbedRequest {
            input: vec!["a".into(), "b".into()],
        };
        let answer = |embeddings: Vec<Vec<f32>>| EmbedAnswer {
            model: "m".into(),
            embeddings,
            prompt_tokens: 2,
        };
        assert_eq!(answer(vec![vec![0.6, 0.8]; 2]).fits(&request, 2), Ok(()));
        assert!(answer(vec![vec![0.6, 0.8]]).fits(&request, 2).is_err());
        assert!(answer(vec![vec![1.0]; 2]).fits(&request, 2).is_err());
        for bad in [f32::NAN, f32::INFINITY] {
            let vectors = vec![vec![0.6, 0.8], vec![bad, 0.0]];
            assert!(answer(vectors).fits(&request, 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_are_checked() {
        let ok = EmbedRequest {
            input: vec!["a".into()],
        };
        assert_eq!(ok.validate(), Ok(()));
        assert!(EmbedRequest { input: vec![] }.validate().is_err());
        let many = EmbedRequest {
            input: vec![String::new(); MAX_INPUTS + 1],
        };
        assert!(many.validate().is_err());
        let long = EmbedRequest {
            input: vec!["x".repeat(MAX_INPUT_BYTES + 1)],
        };
        assert!(long.validate().unwrap_err().contains("input 0"));
    }
}
