//! Chat messages, SmolLM2's ChatML template, and the tokenizer rebuilt from GGUF metadata.
//!
//! The GGUF file carries the tokenizer (vocabulary, merges, token types) and the chat
//! template as Jinja text. The template is not run through a Jinja engine: it is checked
//! to be the ChatML form this code renders, and its default system prompt is read out of
//! it, so a different template is an error rather than a silently wrong prompt.
//!
//! Prompts are assembled as token ids: the control tokens (`<|im_start|>`, `<|im_end|>`)
//! are inserted by id and only the text between them goes through the tokenizer. This
//! gives the same ids as tokenizing the rendered template with a tokenizer that splits on
//! special tokens, except that a user who types `<|im_end|>` gets those characters as
//! text, not a control token, so no message can close its own turn.

use candle_core::quantized::gguf_file;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person asking.
    User,
    /// The model's earlier answers.
    Assistant,
}

impl Role {
    /// The role's name as the template writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// What the text model answers: a conversation, rendered with the chat template and
/// ending with the assistant's turn, or plain text that it continues as it stands (what
/// OpenAI's legacy completions ask for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt<'a> {
    /// A conversation.
    Chat(&'a [ChatMessage]),
    /// Plain text to continue, without the template.
    Text(&'a str),
}

impl<'a> From<&'a [ChatMessage]> for Prompt<'a> {
    fn from(messages: &'a [ChatMessage]) -> Self {
        Prompt::Chat(messages)
    }
}

impl<'a> From<&'a Vec<ChatMessage>> for Prompt<'a> {
    fn from(messages: &'a Vec<ChatMessage>) -> Self {
        Prompt::Chat(messages)
    }
}

impl<'a, const N: usize> From<&'a [ChatMessage; N]> for Prompt<'a> {
    fn from(messages: &'a [ChatMessage; N]) -> Self {
        Prompt::Chat(messages)
    }
}

impl<'a> From<&'a String> for Prompt<'a> {
    fn from(text: &'a String) -> Self {
        Prompt::Text(text)
    }
}

impl<'a> From<&'a str> for Prompt<'a> {
    fn from(text: &'a str) -> Self {
        Prompt::Text(text)
    }
}

/// The ChatML template as the GGUF file states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChatTemplate {
    /// Prepended as a system message when the conversation does not start with one.
    pub(crate) default_system: Option<String>,
    pub(crate) im_start: u32,
    pub(crate) im_end: u32,
}

/// The message line of a ChatML template, as Jinja source.
const CHATML_MESSAGE: &str =
    "'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'";
/// The generation prompt of a ChatML template.
const CHATML_GENERATION: &str = "'<|im_start|>assistant\n'";
/// How SmolLM2's template introduces its default system prompt.
const DEFAULT_SYSTEM_GUARD: &str = "loop.first and messages[0]['role'] != 'system'";
const SYSTEM_OPEN: &str = "'<|im_start|>system\n";
const SYSTEM_CLOSE: &str = "<|im_end|>";

impl ChatTemplate {
    /// Reads and checks the template in `tokenizer.chat_template`.
    pub(crate) fn from_gguf(
        ct: &gguf_file::Content,
        tokenizer: &Tokenizer,
    ) -> Result<Self, String> {
        let source = match ct
            .metadata
            .get("tokenizer.chat_template")
            .map(|v| v.to_string())
        {
            Some(Ok(s)) => s.clone(),
            _ => return Err("the GGUF file has no tokenizer.chat_template".to_string()),
        };
        // GGUF writers differ in whether the template's newlines are real or `\n` escapes.
        let source = source.replace("\\n", "\n");
        if !source.contains(CHATML_MESSAGE) || !source.contains(CHATML_GENERATION) {
            return Err(format!(
                "not the ChatML template this crate renders: {source:?}"
            ));
        }
        let default_system = match source.find(DEFAULT_SYSTEM_GUARD) {
            None => None,
            Some(at) => {
                let rest = &source[at..];
                let start = rest
                    .find(SYSTEM_OPEN)
                    .map(|i| i + SYSTEM_OPEN.len())
                    .ok_or("a default-system branch without a system message")?;
                let len = rest[start..]
                    .find(SYSTEM_CLOSE)
                    .ok_or("an unterminated default system message")?;
                Some(rest[start..start + len].to_string())
            }
        };
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| format!("the vocabulary has no {t}"))
        };
        Ok(ChatTemplate {
            default_system,
            im_start: id("<|im_start|>")?,
            im_end: id("<|im_end|>")?,
        })
    }

    /// The prompt for `messages` followed by the assistant's turn, as token ids. The
    /// caller has checked that `messages` is not empty.
    pub(crate) fn render(
        &self,
        messages: &[ChatMessage],
        encode: &dyn Fn(&str) -> Result<Vec<u32>, String>,
    ) -> Result<Vec<u32>, String> {
        let mut ids = Vec::new();
        let turn = |role: &str, content: &str, ids: &mut Vec<u32>| -> Result<(), String> {
            ids.push(self.im_start);
            ids.extend(encode(&format!("{role}\n{content}"))?);
            ids.push(self.im_end);
            ids.extend(encode("\n")?);
            Ok(())
        };
        if let (Some(system), Some(first)) = (&self.default_system, messages.first())
            && first.role != Role::System
        {
            turn(Role::System.as_str(), system, &mut ids)?;
        }
        for m in messages {
            turn(m.role.as_str(), &m.content, &mut ids)?;
        }
        ids.push(self.im_start);
        ids.extend(encode("assistant\n")?);
        Ok(ids)
    }
}

/// The tokenizer of a GGUF file whose `tokenizer.ggml.pre` is `smollm`, and the ids of its
/// control tokens.
///
/// candle's own GGUF tokenizer helper treats `smollm` as plain GPT-2, whose byte-level
/// pre-tokenizer adds a leading space (so "What" would be read as " What") and does not
/// split digits. SmolLM2's `tokenizer.json`, and llama.cpp's `smollm` pre-tokenizer,
/// split every digit on its own, then apply GPT-2's byte-level split without a prefix
/// space; that is what is built here.
pub(crate) fn tokenizer_from_gguf(
    ct: &gguf_file::Content,
) -> Result<(Tokenizer, Vec<u32>), String> {
    let get = |key: &str| {
        ct.metadata
            .get(key)
            .ok_or_else(|| format!("GGUF metadata has no {key}"))
    };
    let text = |key: &str| -> Result<String, String> {
        get(key)?
            .to_string()
            .cloned()
            .map_err(|e| format!("{key}: {e}"))
    };
    let strings = |key: &str| -> Result<Vec<String>, String> {
        let values = get(key)?.to_vec().map_err(|e| format!("{key}: {e}"))?;
        values
            .iter()
            .map(|v| v.to_string().cloned().map_err(|e| format!("{key}: {e}")))
            .collect()
    };
    let model = text("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer.ggml.model is {model:?}; only gpt2 (byte-level BPE) is supported"
        ));
    }
    let pre = text("tokenizer.ggml.pre")?;
    if pre != "smollm" {
        return Err(format!(
            "tokenizer.ggml.pre is {pre:?}; only smollm is supported"
        ));
    }
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| match m.split_once(' ') {
            Some((a, b)) => Ok((a.to_string(), b.to_string())),
            None => Err(format!("malformed merge {m:?}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("building the BPE model: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));

    // Token type 3 is "control" in GGUF (llama.cpp's LLAMA_TOKEN_TYPE_CONTROL).
    let types = get("tokenizer.ggml.token_type")?
        .to_vec()
        .map_err(|e| format!("tokenizer.ggml.token_type: {e}"))?;
    let mut control = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if matches!(t.to_i32(), Ok(3)) || matches!(t.to_u32(), Ok(3)) {
            control.push(i as u32);
        }
    }
    Ok((tokenizer, control))
}

/// The bytes a byte-level BPE token stands for: GPT-2's alphabet writes each byte as one
/// character, printable bytes as themselves and the others (controls, space, a few
/// Latin-1 ones) as U+0100 onwards, in byte order. `None` for a character outside it.
pub(crate) fn byte_level_bytes(token: &str) -> Option<Vec<u8>> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    token
        .chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(b) if printable(b) => Some(b),
            _ => {
                let n = usize::try_from(u32::from(c).checked_sub(0x100)?).ok()?;
                (0..=u8::MAX).filter(|b| !printable(*b)).nth(n)
            }
        })
        .collect()
}

#[cfg(test)]
mod byte_level_tests {
    use super::byte_level_bytes;

    #[test]
    fn the_alphabet_maps_back_to_bytes() {
        // "Ġ" is the space, "Ċ" the newline: the 33rd and 11th bytes that are not printable.
        assert_eq!(byte_level_bytes("Ġthe"), Some(b" the".to_vec()));
        assert_eq!(byte_level_bytes("ĊĊ"), Some(b"\n\n".to_vec()));
        assert_eq!(byte_level_bytes("Ã©"), Some("é".as_bytes().to_vec()));
        assert_eq!(byte_level_bytes("\u{4e00}"), None);
    }
}
