//! The subnet SDK's view of the chain, over a node's JSON-RPC.

use std::time::Duration;

use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use plexus_ledger::{NeuronInfo, SubnetInfo, SubnetParams};
use plexus_node::rpc::{PlexusApiClient, codes};
use plexus_primitives::{Balance, Call, ChainId, Keypair, NetUid};
use plexus_subnets::{Chain, ChainError};

use crate::client::{SubmitError, rpc_message, submit_and_wait};

/// A node reached over JSON-RPC.
#[derive(Debug)]
pub struct RpcChain {
    client: HttpClient,
    chain_id: ChainId,
    min_fee: Balance,
}

impl RpcChain {
    /// Connects to the node at `url` and learns its chain id and fee.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .build(url)
            .map_err(|e| crate::exit::input(format!("bad RPC URL {url}: {e}")))?;
        let status = client.status().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach a Plexus node at {url}: {}\n\
                 start one (`plexus up`, `plexus devnet up` or `plexus node`) or pass --rpc URL",
                rpc_message(&e)
            )
        })?;
        Ok(Self {
            client,
            chain_id: ChainId::new(status.chain_id)?,
            min_fee: status.min_fee,
        })
    }
}

fn unreachable(e: jsonrpsee::core::ClientError) -> ChainError {
    ChainError::Unreachable(rpc_message(&e))
}

fn subnet_error(netuid: NetUid) -> impl Fn(jsonrpsee::core::ClientError) -> ChainError {
    move |e| match &e {
        jsonrpsee::core::ClientError::Call(obj) if obj.code() == codes::NOT_FOUND => {
            ChainError::NoSubnet(netuid)
        }
        _ => unreachable(e),
    }
}

impl Chain for RpcChain {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    async fn height(&self) -> Result<u64, ChainError> {
        Ok(self
            .client
            .status()
            .await
            .map_err(unreachable)?
            .finalized_height)
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        self.client
            .subnet(netuid.0)
            .await
            .map_err(subnet_error(netuid))
    }

    async fn hyperparameters(&self, netuid: NetUid) -> Result<SubnetParams, ChainError> {
        self.client
            .hyperparameters(netuid.0)
            .await
            .map_err(subnet_error(netuid))
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Vec<NeuronInfo>, ChainError> {
        self.client
            .metagraph(netuid.0)
            .await
            .map_err(subnet_error(netuid))
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<u64, ChainError> {
        submit_and_wait(
            &self.client,
            &self.chain_id,
            self.min_fee,
            signer,
            call,
            &mut |_| {},
        )
        .await
        .map(|(height, _)| height)
        .map_err(|e| match e {
            SubmitError::Refused(why) => ChainError::Refused(why),
            SubmitError::Timeout(_) => ChainError::Timeout,
            SubmitError::Rpc(why) => ChainError::Unreachable(why),
            SubmitError::NotSent(why) => ChainError::NotSent(why),
        })
    }
}
