//! What the gateway's tests share: a raw HTTP client that shows exactly what the gateway
//! sent back (status, headers, body, event stream), with no client library in between.

#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;

use plexus_gateway::Gateway;
use plexus_primitives::{AccountId, NetUid};
use plexus_wire::StaticMetagraph;
use serde_json::Value;

/// An answer: status, headers and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The `data:` payloads of a streamed answer.
    pub fn events(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .map(str::to_owned)
            .collect()
    }

    /// The streamed chunks before `[DONE]`, as JSON.
    pub fn chunks(&self) -> Vec<Value> {
        let events = self.events();
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{events:?}"
        );
        events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect()
    }

    /// The text a streamed answer delivered (chat or completion).
    pub fn streamed_text(&self) -> String {
        self.chunks()
            .iter()
            .filter_map(|c| {
                let choice = &c["choices"][0];
                // Chat chunks carry a delta, completion chunks their text.
                choice["delta"]["content"]
                    .as_str()
                    .or(choice["text"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// A blocking HTTP/1.0 request from a plain thread, read to its end.
pub async fn send(
    method: &str,
    url: String,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let method = method.to_owned();
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    tokio::task::spawn_blocking(move || {
        let url: http::Uri = url.parse().unwrap();
        let addr = format!("{}:{}", url.host().unwrap(), url.port_u16().unwrap());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            url.path(),
            body.len()
        );
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        Answer {
            status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
            head: head.to_owned(),
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

/// The callers a test miner admits: `validator`, staked and permitted on `netuid`.
pub fn callers(netuid: NetUid, validator: AccountId) -> Arc<StaticMetagraph> {
    let callers = Arc::new(StaticMetagraph::new());
    callers.insert(
        netuid,
        validator,
        plexus_wire::NeuronInfo {
            stake: 1_000,
            validator_permit: true,
        },
    );
    callers
}

/// Serves `gateway` on a loopback port: its base URL, and what stops it when dropped.
pub async fn serve(gateway: Gateway) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.serve(listener, async move {
        let _ = stopped.await;
    }));
    (base, stop)
}
