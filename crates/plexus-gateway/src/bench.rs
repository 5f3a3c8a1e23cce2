//! What the gateway adds to a request: the same embedding request sent straight to a miner
//! over the wire protocol, and through the gateway's OpenAI endpoint, on loopback.
//!
//! The miner answers with a constant vector (the measuring stick, like the wire benchmark's
//! add-two-integers), so the difference between the two is the gateway's own work: HTTP,
//! OpenAI parsing and shaping, choosing the miner, and signing the onward request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use plexus_models::EmbeddingModel;
use plexus_primitives::{ChainId, Keypair, NetUid};
use plexus_subnets::embed::{
    EMBED_ROUTE, EmbedAnswer, EmbedRequest, EmbeddingBackend, embed_routes,
};
use plexus_subnets::{BackendError, Scores, Snapshot, SubnetView, standalone_neuron};
use plexus_wire::{AxonScope, Client, ClientConfig, Server, ServerConfig, StaticMetagraph, Target};
use serde::Serialize;

use crate::{Gateway, GatewayConfig, Service};

/// Latency of one path, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// The measured overhead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OverheadReport {
    /// Requests per path.
    pub requests: usize,
    /// Straight to the miner.
    pub direct: Latency,
    /// Through the gateway.
    pub gateway: Latency,
    /// `gateway.p50_ms - direct.p50_ms`.
    pub added_p50_ms: f64,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A server could not start.
    #[error("starting a server: {0}")]
    Start(String),
    /// A request failed.
    #[error("a request failed: {0}")]
    Request(String),
}

/// A miner that answers every text with the same unit vector.
struct ConstantEmbeddings;

impl EmbeddingBackend for ConstantEmbeddings {
    fn model(&self) -> &str {
        plexus_subnets::embed::EMBEDDED_EMBEDDING_MODEL
    }

    async fn embed(&self, request: EmbedRequest) -> Result<EmbedAnswer, BackendError> {
        let mut unit = vec![0.0; 384];
        unit[0] = 1.0;
        Ok(EmbedAnswer {
            model: self.model().to_owned(),
            embeddings: vec![unit; request.input.len()],
            prompt_tokens: 4,
        })
    }
}

fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Latency {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

/// Sends `requests` sequential one-text embedding requests each way and reports both
/// latencies. `model` only backs the gateway's spot checks, which are off here.
pub async fn bench_overhead(
    model: Arc<EmbeddingModel>,
    requests: usize,
) -> Result<OverheadReport, BenchError> {
    let chain_id = ChainId::new("plexus-bench").map_err(|e| BenchError::Start(e.to_string()))?;
    let netuid = NetUid(2);
    let mut rng = rand::rngs::OsRng;
    let (miner, validator) = (Keypair::generate(&mut rng), Keypair::generate(&mut rng));
    let callers = Arc::new(StaticMetagraph::new());
    callers.insert(
        netuid,
        validator.account_id(),
        plexus_wire::NeuronInfo {
            stake: 1_000,
            validator_permit: true,
        },
    );
    let mut server_config = ServerConfig::new(chain_id.clone(), netuid);
    server_config.rate_limit = None;
    let routes =
        embed_routes(Arc::new(ConstantEmbeddings)).map_err(|e| BenchError::Start(e.to_string()))?;
    let server = Server::new(miner.clone(), server_config, routes, callers)
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| BenchError::Start(e.to_string()))?;
    let axon = server.local_addr();

    let view = SubnetView::from_snapshot(Snapshot::standalone(
        netuid,
        vec![
            standalone_neuron(0, validator.account_id(), 1_000, 0, None),
            standalone_neuron(1, miner.account_id(), 0, 0, Some(axon)),
        ],
    ));
    let client = Client::new(
        validator,
        ClientConfig {
            // The miner is on this machine.
            axon_scope: AxonScope::All,
            ..ClientConfig::new(chain_id)
        },
    );
    let service = Service {
        netuid,
        view: Arc::new(view),
        scores: Arc::new(Mutex::new(Scores::new(0.2))),
        model,
    };
    let config = GatewayConfig {
        spot_check: 0.0,
        requests_per_minute: u32::MAX,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(client.clone(), None, Some(service), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Start(e.to_string()))?;
    let gateway_addr = listener
        .local_addr()
        .map_err(|e| BenchError::Start(e.to_string()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(gateway.serve(listener, async move {
        let _ = stopped.await;
    }));

    let target = Target {
        addr: axon,
        hotkey: miner.account_id(),
        netuid,
    };
    let wire_body = Bytes::from(r#"{"input":["benchmark"]}"#);
    let http: HttpClient<_, Full<Bytes>> = HttpClient::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri = format!("http://{gateway_addr}/v1/embeddings");
    let openai_body = Bytes::from(r#"{"model":"all-minilm-l6-v2","input":"benchmark"}"#);

    let (mut direct, mut through) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    // Alternate the two paths so drift on a noisy machine hits both alike; the first
    // rounds warm the connection pools.
    for i in 0..requests + 20 {
        let started = Instant::now();
        let answer = client
            .call(&target, EMBED_ROUTE, wire_body.clone())
            .await
            .map_err(|e| BenchError::Request(e.to_string()))?;
        let spent = started.elapsed();
        if !answer.is_success() {
            return Err(BenchError::Request(format!(
                "miner answered {}",
                answer.status
            )));
        }
        let request = http::Request::post(&uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(openai_body.clone()))
            .map_err(|e| BenchError::Request(e.to_string()))?;
        let started = Instant::now();
        let response = http
            .request(request)
            .await
            .map_err(|e| BenchError::Request(e.to_string()))?;
        let status = response.status();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| BenchError::Request(e.to_string()))?;
        let via = started.elapsed();
        if !status.is_success() {
            return Err(BenchError::Request(format!("gateway answered {status}")));
        }
        if i >= 20 {
            direct.push(spent);
            through.push(via);
        }
    }
    let _ = stop.send(());
    let _ = serving.await;
    let _ = server.shutdown().await;
    let (direct, gateway) = (latency(direct), latency(through));
    Ok(OverheadReport {
        requests,
        direct,
        gateway,
        added_p50_ms: gateway.p50_ms - direct.p50_ms,
    })
}
