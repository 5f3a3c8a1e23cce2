//! Streaming answers as server-sent events, and how the whole stream is signed.
//!
//! A streaming route answers `200 text/event-stream` with one event per chunk and a final
//! `end` event:
//!
//! ```text
//! event: chunk
//! data: {"token":"Hel"}
//!
//! event: end
//! data: {"status":200,"body_hash":"…","signature":"…"}
//! ```
//!
//! Each chunk's data is one compact JSON value (never a raw newline, so one `data:` line).
//! The stream hash is `BLAKE3(Σ u64_le(len(chunk)) || chunk)` over the chunks' data bytes in
//! order: length prefixes keep chunk boundaries part of what is signed, so `"ab","c"` and
//! `"a","bc"` hash differently. The `end` event carries the miner's signature over the
//! [`ResponseMessage`](crate::ResponseMessage) with that hash as the body hash. A stream
//! that stops without a valid `end` event proves nothing.
//!
//! A handler that fails after the stream started sends an `error` event instead of the
//! rest: its data is an [`ErrorBody`](crate::ErrorBody), hashed like a chunk, and the `end`
//! that follows is signed with the handler's error status, so the miner's proof says the
//! answer failed rather than that a shorter one succeeded.

use plexus_primitives::{Hash, Signature};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The event name of a data chunk.
pub const CHUNK_EVENT: &str = "chunk";
/// The event name of the final, signed event.
pub const END_EVENT: &str = "end";
/// The event name of a handler's failure mid-stream (followed only by the end).
pub const ERROR_EVENT: &str = "error";

/// Incremental hash of a stream's chunks (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct StreamHasher {
    hasher: blake3::Hasher,
}

impl StreamHasher {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the data bytes of one chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.hasher.update(&(chunk.len() as u64).to_le_bytes());
        self.hasher.update(chunk);
    }

    /// The hash of every chunk pushed so far.
    pub fn finish(&self) -> Hash {
        Hash::from(self.hasher.finalize())
    }
}

/// The data of the final `end` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// The status signed over: 200, or the handler's error status after an `error` event.
    pub status: u16,
    /// The stream hash.
    pub body_hash: Hash,
    /// The miner's signature over the response message.
    pub signature: Signature,
}

impl StreamEnd {
    /// Decodes the data of an `end` event.
    pub fn from_json(data: &[u8]) -> Result<Self, SseError> {
        serde_json::from_slice(data).map_err(|e| SseError::BadEnd(e.to_string()))
    }
}

/// Encodes one chunk event; `json` must be compact JSON (no raw newline).
pub fn chunk_frame(json: &[u8]) -> Vec<u8> {
    frame(CHUNK_EVENT, json)
}

/// Encodes an `error` event; `json` must be compact JSON (no raw newline).
pub fn error_frame(json: &[u8]) -> Vec<u8> {
    frame(ERROR_EVENT, json)
}

/// Encodes the final `end` event.
pub fn end_frame(end: &StreamEnd) -> Vec<u8> {
    // Serializing a struct of an integer and two hex strings cannot fail.
    let json = serde_json::to_vec(end).unwrap_or_default();
    frame(END_EVENT, &json)
}

fn frame(event: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() + data.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    out
}

/// One parsed server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent, as the SSE spec says).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

/// Why an event stream is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SseError {
    /// An event grew past the parser's limit.
    #[error("event larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// An `event:` name is not UTF-8.
    #[error("event name is not UTF-8")]
    BadEventName,
    /// The stream ended in the middle of an event.
    #[error("stream ended inside an event")]
    Truncated,
    /// The `end` event's data is not a valid [`StreamEnd`].
    #[error("malformed end event: {0}")]
    BadEnd(String),
}

/// An incremental parser for `text/event-stream` bodies that arrive in arbitrary pieces.
#[derive(Debug, Clone)]
pub struct SseParser {
    /// Bytes not yet forming a complete line.
    pending: Vec<u8>,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    max_event: usize,
}

impl SseParser {
    /// A parser that refuses events (and unterminated lines) over `max_event` bytes, so a
    /// hostile server cannot make the client buffer without bound.
    pub fn new(max_event: usize) -> Self {
        Self {
            pending: Vec::new(),
            event: None,
            data: Vec::new(),
            has_data: false,
            max_event,
        }
    }

    /// Feeds `bytes`, appending every event they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.pending.is_empty() {
                self.line(head, out)?;
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(head);
                self.line(&line, out)?;
            }
        }
        self.pending.extend_from_slice(rest);
        if self.pending.len() + self.data.len() > self.max_event {
            return Err(SseError::TooLarge {
                max: self.max_event,
            });
        }
        Ok(())
    }

    /// Checks that the stream did not stop inside an event.
    pub fn finish(&self) -> Result<(), SseError> {
        if self.pending.is_empty() && !self.has_data && self.event.is_none() {
            Ok(())
        } else {
            Err(SseError::Truncated)
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // A blank line dispatches the event; one with no data is dropped (SSE spec).
            let event = self.event.take();
            if self.has_data {
                out.push(SseEvent {
                    event: event.unwrap_or_else(|| "message".to_owned()),
                    data: std::mem::take(&mut self.data),
                });
                self.has_data = false;
            }
            return Ok(());
        }
        if line.starts_with(b":") {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                let name = std::str::from_utf8(value).map_err(|_| SseError::BadEventName)?;
                self.event = Some(name.to_owned());
            }
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                if self.data.len() > self.max_event {
                    return Err(SseError::TooLarge {
                        max: self.max_event,
                    });
                }
            }
            // `id`, `retry` and unknown fields carry nothing this protocol uses.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8], split: usize) -> Result<Vec<SseEvent>, SseError> {
        let mut parser = SseParser::new(1 << 16);
        let mut out = Vec::new();
        let split = split.min(bytes.len());
        parser.push(&bytes[..split], &mut out)?;
        parser.push(&bytes[split..], &mut out)?;
        parser.finish()?;
        Ok(out)
    }

    #[test]
    fn frames_parse_back() {
        let end = StreamEnd {
            status: 200,
            body_hash: Hash::of(b"x"),
            signature: Signature([1; 64]),
        };
        let mut stream = chunk_frame(b"{\"a\":1}");
        stream.extend(chunk_frame(b"2"));
        stream.extend(end_frame(&end));
        for split in 0..stream.len() {
            let events = parse_all(&stream, split).unwrap();
            assert_eq!(events.len(), 3);
            assert_eq!(events[0].event, CHUNK_EVENT);
            assert_eq!(events[0].data, b"{\"a\":1}");
            assert_eq!(events[2].event, END_EVENT);
            let parsed: StreamEnd = serde_json::from_slice(&events[2].data).unwrap();
            assert_eq!(parsed, end);
        }
    }

    #[test]
    fn spec_details() {
        let events = parse_all(b": comment\r\ndata: a\ndata:b\nid: 1\n\nevent: x\n\n", 3).unwrap();
        assert_eq!(
            events,
            vec![SseEvent {
                event: "message".into(),
                data: b"a\nb".to_vec()
            }]
        );
        assert_eq!(parse_all(b"data: a\n", 0), Err(SseError::Truncated));
        let mut parser = SseParser::new(8);
        let mut out = Vec::new();
        assert!(parser.push(b"data: 0123456789", &mut out).is_err());
    }

    #[test]
    fn chunk_boundaries_are_hashed() {
        let (mut a, mut b) = (StreamHasher::new(), StreamHasher::new());
        a.push(b"ab");
        a.push(b"c");
        b.push(b"a");
        b.push(b"bc");
        assert_ne!(a.finish(), b.finish());
        assert_ne!(StreamHasher::new().finish(), a.finish());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                       split in 0usize..300) {
            let _ = parse_all(&bytes, split);
        }
    }
}
