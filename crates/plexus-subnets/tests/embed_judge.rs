//! The embeddings validator on the real MiniLM, against miners served over the wire: an
//! honest one, one embedding other sentences, and one perturbing its vectors.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use plexus_models::testing::test_model_dir;
use plexus_models::{EmbeddingModel, ModelKind};
use plexus_primitives::{ChainId, Keypair, NetUid};
use plexus_subnets::embed::{
    EmbedAnswer, EmbedRequest, EmbeddedEmbeddings, EmbeddingBackend, EmbeddingSubnet, embed_routes,
};
use plexus_subnets::{BackendError, Subnet, Verdict};
use plexus_wire::{
    AxonScope, Client, ClientConfig, NeuronInfo, RunningServer, Server, ServerConfig,
    StaticMetagraph, Target,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const NET: NetUid = NetUid(2);

fn chain() -> ChainId {
    ChainId::new("plexus-test").unwrap()
}

/// How a miner bends the honest answer.
#[derive(Clone, Copy)]
enum Twist {
    Honest,
    /// Embeds each text with its words reversed: fluent vectors, wrong meaning.
    OtherSentence,
    /// Adds a small bias to every coordinate.
    Perturbed,
}

struct Miner {
    honest: EmbeddedEmbeddings,
    twist: Twist,
}

impl EmbeddingBackend for Miner {
    fn model(&self) -> &str {
        self.honest.model()
    }

    async fn embed(&self, mut request: EmbedRequest) -> Result<EmbedAnswer, BackendError> {
        if let Twist::OtherSentence = self.twist {
            for text in &mut request.input {
                *text = text.split(' ').rev().collect::<Vec<_>>().join(" ");
            }
        }
        let mut answer = self.honest.embed(request).await?;
        if let Twist::Perturbed = self.twist {
            for vector in &mut answer.embeddings {
                for (i, x) in vector.iter_mut().enumerate() {
                    *x += if i % 2 == 0 { 0.01 } else { -0.01 };
                }
            }
        }
        Ok(answer)
    }
}

async fn serve(
    model: &Arc<EmbeddingModel>,
    twist: Twist,
    validator: &Keypair,
) -> (RunningServer, Target) {
    let metagraph = Arc::new(StaticMetagraph::new());
    metagraph.insert(
        NET,
        validator.account_id(),
        NeuronInfo {
            stake: 1,
            validator_permit: true,
        },
    );
    let miner_key = Keypair::from_seed([twist as u8 + 10; 32]);
    let hotkey = miner_key.account_id();
    let routes = embed_routes(Arc::new(Miner {
        honest: EmbeddedEmbeddings::new(Arc::clone(model)),
        twist,
    }))
    .unwrap();
    let server = Server::new(
        miner_key,
        ServerConfig::new(chain(), NET),
        routes,
        metagraph,
    )
    .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    let target = Target {
        addr: server.local_addr(),
        hotkey,
        netuid: NET,
    };
    (server, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_models_own_vectors_pass() {
    let dir = test_model_dir(ModelKind::Embedding).expect("fetching MiniLM for the tests");
    let model = Arc::new(EmbeddingModel::load(&dir).unwrap());
    let subnet = EmbeddingSubnet::new(Arc::clone(&model));
    let validator = Keypair::from_seed([1; 32]);
    let client = Client::new(
        validator.clone(),
        ClientConfig {
            axon_scope: AxonScope::All,
            ..ClientConfig::new(chain())
        },
    );
    let challenge = subnet.challenge(&mut StdRng::seed_from_u64(5));

    let (_honest, target) = serve(&model, Twist::Honest, &validator).await;
    let honest = subnet.evaluate(&client, &target, &challenge).await;
    assert_eq!(honest.verdict, Verdict::Correct, "{honest:?}");
    assert!(honest.score >= 0.5);

    for twist in [Twist::OtherSentence, Twist::Perturbed] {
        let (_server, target) = serve(&model, twist, &validator).await;
        let judged = subnet.evaluate(&client, &target, &challenge).await;
        assert!(
            matches!(&judged.verdict, Verdict::Wrong(why) if why.contains("cosine")),
            "{judged:?}"
        );
        assert_eq!(judged.score, 0.0);
    }
}
