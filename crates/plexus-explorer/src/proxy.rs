//! `POST /rpc`: the page's one way to the node, read-only by construction.
//!
//! The page speaks JSON-RPC 2.0 to its own origin (so the node needs no
//! CORS) and the explorer forwards each call to the node, but only the
//! methods in [`READ_METHODS`]: the explorer changes nothing, so a
//! transaction submitted through it is refused here and never reaches the
//! node. Bodies are bounded by the server (see `ExplorerConfig`), batches
//! by [`ProxyLimits::max_batch`], calls in flight to the node by the
//! HTTP client's own limit, and answers held until sent by an
//! [`AnswerBudget`].

use axum::body::Bytes;
use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee_http_client::HttpClient;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::budget::{AnswerBudget, Held};

/// The node's methods the explorer forwards: every read, nothing that writes
/// (`plexus_submitTransaction`) or holds a connection open (subscriptions,
/// which the page opens on the node's WebSocket itself).
pub const READ_METHODS: &[&str] = &[
    "plexus_status",
    "plexus_transactionStatus",
    "plexus_account",
    "plexus_subnets",
    "plexus_subnet",
    "plexus_hyperparameters",
    "plexus_pool",
    "plexus_metagraph",
    "plexus_weights",
    "plexus_stakes",
    "plexus_pendingCommits",
    "plexus_block",
    "plexus_proof",
];

/// JSON-RPC's own error codes, and the explorer's for an unreachable node.
pub mod codes {
    /// The body is not JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// The body is JSON but not a request (or an empty or oversized batch).
    pub const INVALID_REQUEST: i32 = -32600;
    /// Not a method the explorer forwards.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Something went wrong in the explorer itself.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// The node did not answer (down, restarting, or too slow).
    pub const NODE_UNAVAILABLE: i32 = -32000;
}

/// Bounds on what one `POST /rpc` may ask.
#[derive(Clone, Copy, Debug)]
pub struct ProxyLimits {
    /// Most calls in one batch.
    pub max_batch: usize,
}

/// Whether the explorer forwards `method`.
pub fn allowed(method: &str) -> bool {
    READ_METHODS.contains(&method)
}

/// One call of a request, as parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcCall {
    /// The caller's id, echoed in the answer.
    pub id: Value,
    /// The method.
    pub method: String,
    /// Its parameters, passed on untouched.
    pub params: Option<Value>,
}

/// A parsed body: one call or a batch, each call already checked.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A single call (or the error answering it).
    Single(Result<RpcCall, Value>),
    /// A batch, answered as an array in the same order.
    Batch(Vec<Result<RpcCall, Value>>),
}

/// A JSON-RPC error answer.
pub fn error(id: Value, code: i32, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

/// Reads a body into calls; what cannot be answered at all (not JSON, an
/// empty or oversized batch) is the error answer itself.
pub fn parse(body: &[u8], limits: ProxyLimits) -> Result<Parsed, Value> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| error(Value::Null, codes::PARSE_ERROR, format!("not JSON: {e}")))?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(error(Value::Null, codes::INVALID_REQUEST, "an empty batch"))
        }
        Value::Array(items) if items.len() > limits.max_batch => Err(error(
            Value::Null,
            codes::INVALID_REQUEST,
            format!(
                "a batch of {} calls; the explorer takes at most {}",
                items.len(),
                limits.max_batch
            ),
        )),
        Value::Array(items) => Ok(Parsed::Batch(items.into_iter().map(check).collect())),
        other => Ok(Parsed::Single(check(other))),
    }
}

/// One call, checked: a request object with an id and a forwarded method.
fn check(value: Value) -> Result<RpcCall, Value> {
    let Value::Object(mut object) = value else {
        return Err(error(
            Value::Null,
            codes::INVALID_REQUEST,
            "a call must be an object",
        ));
    };
    // Notifications (no id) get no answer in JSON-RPC, so nothing could tell
    // the page what happened; the explorer does not take them.
    let id = match object.remove("id") {
        Some(id @ (Value::Number(_) | Value::String(_) | Value::Null)) => id,
        _ => {
            return Err(error(
                Value::Null,
                codes::INVALID_REQUEST,
                "a call needs an id (a number or a string)",
            ));
        }
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error(id, codes::INVALID_REQUEST, "jsonrpc must be \"2.0\""));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Err(error(id, codes::INVALID_REQUEST, "a call needs a method"));
    };
    if !allowed(&method) {
        return Err(error(
            id,
            codes::METHOD_NOT_FOUND,
            format!("{method} is not one of the read-only methods the explorer forwards"),
        ));
    }
    let params = match object.remove("params") {
        None | Some(Value::Null) => None,
        Some(p @ (Value::Array(_) | Value::Object(_))) => Some(p),
        Some(_) => {
            return Err(error(
                id,
                codes::INVALID_REQUEST,
                "params must be an array or an object",
            ));
        }
    };
    Ok(RpcCall { id, method, params })
}

/// Parameters passed on as they came.
struct Params(Option<Value>);

impl ToRpcParams for Params {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        self.0
            .map(|p| serde_json::value::to_raw_value(&p))
            .transpose()
    }
}

/// A successful answer, with the node's result passed on as the node wrote it.
#[derive(Serialize)]
struct Success<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a RawValue,
}

/// Asks the node one checked call; the answer in JSON-RPC form, as JSON text. The node's
/// result is kept as its text, never as a tree of values several times its size.
pub async fn forward(client: &HttpClient, call: RpcCall) -> Vec<u8> {
    let RpcCall { id, method, params } = call;
    let failed = match client
        .request::<Box<RawValue>, _>(&method, Params(params))
        .await
    {
        Ok(result) => {
            let success = Success {
                jsonrpc: "2.0",
                id: &id,
                result: &result,
            };
            return match serde_json::to_vec(&success) {
                Ok(text) => text,
                Err(e) => error(id, codes::INTERNAL_ERROR, e.to_string())
                    .to_string()
                    .into(),
            };
        }
        Err(ClientError::Call(e)) => {
            let mut answer = error(id, e.code(), e.message());
            if let Some(data) = e.data() {
                answer["error"]["data"] = serde_json::from_str(data.get()).unwrap_or(Value::Null);
            }
            answer
        }
        Err(ClientError::RequestTimeout) => error(
            id,
            codes::NODE_UNAVAILABLE,
            "the node did not answer in time",
        ),
        Err(ClientError::Transport(e)) => error(
            id,
            codes::NODE_UNAVAILABLE,
            format!("cannot reach the node: {e}"),
        ),
        Err(e) => error(id, codes::INTERNAL_ERROR, e.to_string()),
    };
    failed.to_string().into_bytes()
}

/// A whole answer to a `POST /rpc` body, ready to send: JSON text in parts, and the share
/// of the [`AnswerBudget`] it holds until sent.
#[derive(Debug)]
pub struct Reply {
    /// The JSON text, in order.
    pub parts: Vec<Bytes>,
    /// What the parts hold of the budget.
    pub held: Vec<Held>,
}

impl Reply {
    /// The reply as one JSON value (for tests and tools; the server sends the parts).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.parts.concat())
    }
}

/// Answers a whole body: refused calls at once, the rest from the node
/// (a batch's calls concurrently, in the order asked). Each answer is charged to `budget`
/// as it arrives; one the budget cannot hold is dropped and answered with an error.
pub async fn answer(
    client: &HttpClient,
    body: &[u8],
    limits: ProxyLimits,
    budget: &AnswerBudget,
) -> Reply {
    async fn one(
        client: &HttpClient,
        budget: &AnswerBudget,
        call: Result<RpcCall, Value>,
    ) -> (Bytes, Option<Held>) {
        let (id, text) = match call {
            Ok(call) => (call.id.clone(), forward(client, call).await),
            Err(refused) => (refused["id"].clone(), refused.to_string().into_bytes()),
        };
        match budget.hold(text.len()) {
            Ok(held) => (Bytes::from(text), Some(held)),
            Err(refusal) => {
                drop(text);
                let busy = error(id, codes::NODE_UNAVAILABLE, refusal.to_string());
                (Bytes::from(busy.to_string()), None)
            }
        }
    }
    let (answers, batch) = match parse(body, limits) {
        Err(refused) => (vec![one(client, budget, Err(refused)).await], false),
        Ok(Parsed::Single(call)) => (vec![one(client, budget, call).await], false),
        Ok(Parsed::Batch(calls)) => {
            let calls = calls.into_iter().map(|c| one(client, budget, c));
            (futures_util::future::join_all(calls).await, true)
        }
    };
    let mut reply = Reply {
        parts: Vec::with_capacity(2 * answers.len() + 1),
        held: Vec::with_capacity(answers.len()),
    };
    for (i, (text, held)) in answers.into_iter().enumerate() {
        if batch {
            reply
                .parts
                .push(Bytes::from_static(if i == 0 { b"[" } else { b"," }));
        }
        reply.parts.push(text);
        reply.held.extend(held);
    }
    if batch {
        reply.parts.push(Bytes::from_static(b"]"));
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ProxyLimits = ProxyLimits { max_batch: 4 };

    fn call(method: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": [1]})
    }

    fn parse_one(body: Value) -> Result<RpcCall, Value> {
        match parse(body.to_string().as_bytes(), LIMITS).unwrap() {
            Parsed::Single(c) => c,
            Parsed::Batch(_) => panic!("not a batch"),
        }
    }

    #[test]
    fn every_read_method_is_forwarded_and_nothing_that_writes() {
        for method in READ_METHODS {
            assert!(allowed(method), "{method}");
            assert!(parse_one(call(method)).is_ok());
        }
        for method in [
            "plexus_submitTransaction",
            "plexus_subscribeFinalized",
            "plexus_unsubscribeFinalized",
            "rpc_methods",
            "PLEXUS_STATUS",
            "plexus_status ",
            "",
        ] {
            assert!(!allowed(method), "{method}");
            let refused = parse_one(call(method)).unwrap_err();
            assert_eq!(refused["id"], 7);
            assert_eq!(refused["error"]["code"], codes::METHOD_NOT_FOUND);
        }
    }

    #[test]
    fn a_call_keeps_its_id_and_params() {
        let c = parse_one(
            json!({"jsonrpc": "2.0", "id": "a", "method": "plexus_block", "params": [3]}),
        )
        .unwrap();
        assert_eq!(c.id, json!("a"));
        assert_eq!(c.params, Some(json!([3])));
        let c = parse_one(json!({"jsonrpc": "2.0", "id": 1, "method": "plexus_status"})).unwrap();
        assert_eq!(c.params, None);
    }

    #[test]
    fn malformed_calls_are_answered_with_errors() {
        let bad = [
            json!({"jsonrpc": "2.0", "method": "plexus_status"}),
            json!({"jsonrpc": "2.0", "id": [1], "method": "plexus_status"}),
            json!({"jsonrpc": "1.0", "id": 1, "method": "plexus_status"}),
            json!({"jsonrpc": "2.0", "id": 1}),
            json!({"jsonrpc": "2.0", "id": 1, "method": 5}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "plexus_block", "params": 3}),
            json!("plexus_status"),
        ];
        for body in bad {
            let refused = parse_one(body.clone()).unwrap_err();
            assert_eq!(refused["error"]["code"], codes::INVALID_REQUEST, "{body}");
        }
        let not_json = parse(b"{nope", LIMITS).unwrap_err();
        assert_eq!(not_json["error"]["code"], codes::PARSE_ERROR);
    }

    #[test]
    fn batches_are_bounded_and_checked_call_by_call() {
        let empty = parse(b"[]", LIMITS).unwrap_err();
        assert_eq!(empty["error"]["code"], codes::INVALID_REQUEST);
        let big = Value::Array(vec![call("plexus_status"); LIMITS.max_batch + 1]);
        let refused = parse(big.to_string().as_bytes(), LIMITS).unwrap_err();
        assert_eq!(refused["error"]["code"], codes::INVALID_REQUEST);

        let mixed = json!([call("plexus_status"), call("plexus_submitTransaction")]);
        let Parsed::Batch(calls) = parse(mixed.to_string().as_bytes(), LIMITS).unwrap() else {
            panic!("a batch");
        };
        assert!(calls[0].is_ok());
        assert!(calls[1].is_err());
    }

    proptest::proptest! {
        // What a browser (or anyone) posts is network input: whatever the
        // bytes, parsing answers without panicking, and only read methods
        // ever come out as calls to forward.
        #[test]
        fn any_body_parses_to_read_calls_or_errors(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            check_parsed(parse(&body, LIMITS));
        }

        #[test]
        fn any_json_call_parses_to_read_calls_or_errors(
            id in proptest::prelude::any::<Option<u32>>(),
            method in "(plexus_)?[a-zA-Z]{0,20}",
            batch in 0usize..6,
        ) {
            let one = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": []});
            let body = if batch == 0 { one } else { Value::Array(vec![one; batch]) };
            check_parsed(parse(body.to_string().as_bytes(), LIMITS));
        }
    }

    fn check_parsed(parsed: Result<Parsed, Value>) {
        let calls = match parsed {
            Err(refused) => {
                assert!(refused["error"]["code"].is_i64());
                return;
            }
            Ok(Parsed::Single(c)) => vec![c],
            Ok(Parsed::Batch(cs)) => cs,
        };
        assert!(calls.len() <= LIMITS.max_batch);
        for call in calls.into_iter().flatten() {
            assert!(allowed(&call.method), "{}", call.method);
        }
    }

    #[tokio::test]
    async fn a_refused_call_never_reaches_the_node() {
        // Nothing listens on port 9: a forwarded call would fail to connect,
        // while a refused one is answered without trying.
        let client = jsonrpsee_http_client::HttpClientBuilder::default()
            .build("http://127.0.0.1:9")
            .unwrap();
        let body = call("plexus_submitTransaction").to_string();
        let budget = AnswerBudget::new(1 << 20);
        let refused = answer(&client, body.as_bytes(), LIMITS, &budget).await;
        let refused = refused.to_value().unwrap();
        assert_eq!(refused["error"]["code"], codes::METHOD_NOT_FOUND);
        let body = call("plexus_status").to_string();
        let unreachable = answer(&client, body.as_bytes(), LIMITS, &budget).await;
        let unreachable = unreachable.to_value().unwrap();
        assert_eq!(unreachable["error"]["code"], codes::NODE_UNAVAILABLE);
    }
}
