//! The state root: every piece of state as a (key, value) leaf of one
//! Merkle tree, so a light client can check any single value against a
//! block header.
//!
//! Keys are `prefix / ids`, values the canonical encoding of the item:
//!
//! | key | value |
//! |---|---|
//! | `a/` account | balance, nonce |
//! | `c/` netuid hotkey | pending weight commits |
//! | `g/` | chain id, height, books, lock state, economics hash, validators and their addresses |
//! | `h/` hotkey | owner, take, take raised at |
//! | `k/` netuid hotkey | staked alpha, shares outstanding |
//! | `k/` netuid hotkey coldkey | the coldkey's shares |
//! | `n/` netuid uid | the neuron (keys, blocks, axon, weights, bonds, scores, then under `SLOW_CHANGES` the block its weights were decided in, once set) |
//! | `s/` netuid | the subnet (owner, hyperparameters, pool, prices, pot, then its kind of work if recorded, then under `SLOW_CHANGES` its moving price) |
//! | `v/` consensus key | the validator bond (owner, address, bonded, unbonding, then under `FRESH_BONDS` the epoch it was made in and the last heartbeat's epoch as an option, else that epoch if any) |
//!
//! Integers in keys are big-endian so that keys sort by id.

use plexus_primitives::{
    AccountId, Encode, Hash, MerkleError, MerkleTree, NetUid, Proof, merkle_root,
};

use crate::params::SubnetParams;
use crate::state::State;
use crate::subnet::{Neuron, Subnet};

/// The key of an account's leaf.
pub fn account_key(account: &AccountId) -> Vec<u8> {
    key(b"a/", &[account.as_bytes()])
}

/// The key of a validator bond's leaf.
pub fn bond_key(consensus_key: &AccountId) -> Vec<u8> {
    key(b"v/", &[consensus_key.as_bytes()])
}

/// The key of a subnet's leaf.
pub fn subnet_key(netuid: NetUid) -> Vec<u8> {
    key(b"s/", &[&netuid.0.to_be_bytes()])
}

/// The key of a neuron's leaf.
pub fn neuron_key(netuid: NetUid, uid: u16) -> Vec<u8> {
    key(b"n/", &[&netuid.0.to_be_bytes(), &uid.to_be_bytes()])
}

/// The key of a coldkey's shares of a hotkey's stake in a subnet.
pub fn stake_share_key(netuid: NetUid, hotkey: &AccountId, coldkey: &AccountId) -> Vec<u8> {
    key(
        b"k/",
        &[
            &netuid.0.to_be_bytes(),
            hotkey.as_bytes(),
            coldkey.as_bytes(),
        ],
    )
}

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn encode_params(p: &SubnetParams, out: &mut Vec<u8>) {
    p.tempo.encode_to(out);
    p.kappa.encode_to(out);
    p.bonds_penalty.encode_to(out);
    p.bonds_moving_average.encode_to(out);
    p.max_allowed_validators.encode_to(out);
    p.max_allowed_uids.encode_to(out);
    p.min_allowed_weights.encode_to(out);
    p.immunity_period.encode_to(out);
    p.weights_rate_limit.encode_to(out);
    p.weights_version_key.encode_to(out);
    p.activity_cutoff.encode_to(out);
    p.commit_reveal.encode_to(out);
    p.reveal_period_epochs.encode_to(out);
    p.yuma3.encode_to(out);
    p.liquid_alpha.encode_to(out);
    p.alpha_low.encode_to(out);
    p.alpha_high.encode_to(out);
    p.alpha_sigmoid_steepness.encode_to(out);
    p.min_stake.encode_to(out);
    p.min_burn.encode_to(out);
    p.max_burn.encode_to(out);
    p.serving_rate_limit.encode_to(out);
}

fn encode_subnet(s: &Subnet) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    s.owner.encode_to(&mut out);
    s.owner_hotkey.encode_to(&mut out);
    encode_params(&s.params, &mut out);
    s.pool.tao.encode_to(&mut out);
    s.pool.alpha.encode_to(&mut out);
    s.locked.encode_to(&mut out);
    s.created_at.encode_to(&mut out);
    (s.neurons.len() as u32).encode_to(&mut out);
    s.burn.encode_to(&mut out);
    s.burn_updated_at.encode_to(&mut out);
    s.last_epoch_block.encode_to(&mut out);
    s.epoch_index.encode_to(&mut out);
    s.pending_emission.encode_to(&mut out);
    s.alpha_issued.encode_to(&mut out);
    // Absent until recorded, so chains from before subnets recorded their work replay
    // to the state roots their blocks carry. A trailing byte is unambiguous: every field
    // before it has a fixed size.
    if let Some(work) = s.work {
        work.encode_to(&mut out);
    }
    // Only chains whose emission follows moving prices have one, from creation: eight
    // bytes after the optional one-byte work, so every leaf length still reads one way.
    if let Some(price) = s.moving_price {
        price.encode_to(&mut out);
    }
    out
}

fn encode_pairs(pairs: &[(u16, u16)], out: &mut Vec<u8>) {
    (pairs.len() as u32).encode_to(out);
    for (a, b) in pairs {
        a.encode_to(out);
        b.encode_to(out);
    }
}

fn encode_neuron(n: &Neuron) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + 4 * (n.weights.len() + n.bonds.len()));
    n.hotkey.encode_to(&mut out);
    n.coldkey.encode_to(&mut out);
    n.registered_at.encode_to(&mut out);
    n.last_update.encode_to(&mut out);
    n.axon.encode_to(&mut out);
    n.axon_updated_at.encode_to(&mut out);
    encode_pairs(&n.weights, &mut out);
    encode_pairs(&n.bonds, &mut out);
    n.validator_permit.encode_to(&mut out);
    n.active.encode_to(&mut out);
    for v in [
        n.stake_weight,
        n.consensus,
        n.trust,
        n.validator_trust,
        n.incentive,
        n.dividends,
    ] {
        v.encode_to(&mut out);
    }
    n.emission.encode_to(&mut out);
    // Only chains whose rules date weights have it, once weights are set; after the
    // fixed-size fields, so every leaf length reads one way.
    if let Some(block) = n.weights_at {
        block.encode_to(&mut out);
    }
    out
}

fn encode_global(state: &State) -> Vec<u8> {
    let mut out = Vec::new();
    state.chain_id.encode_to(&mut out);
    state.height.encode_to(&mut out);
    state.totals.issued.encode_to(&mut out);
    state.totals.burned.encode_to(&mut out);
    state.totals.fees.encode_to(&mut out);
    state.last_lock.encode_to(&mut out);
    state.last_lock_block.encode_to(&mut out);
    // Economics are fixed at genesis; commit to them by hash of their JSON,
    // which is deterministic for this struct (fields in declaration order).
    let economics = serde_json::to_vec(&state.economics).unwrap_or_default();
    Hash::of(&economics).encode_to(&mut out);
    (state.validators.len() as u32).encode_to(&mut out);
    for v in &state.validators {
        v.consensus_key.encode_to(&mut out);
        plexus_primitives::codec::encode_bytes(
            v.address.as_deref().unwrap_or_default().as_bytes(),
            &mut out,
        );
    }
    out
}

/// Every leaf of the state, sorted by key.
pub fn leaves(state: &State) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut leaves = Vec::with_capacity(
        1 + state.accounts.len()
            + state.hotkeys.len()
            + 2 * state.stakes.len()
            + 64 * state.subnets.len(),
    );
    leaves.push((b"g/".to_vec(), encode_global(state)));
    for (id, a) in &state.accounts {
        let mut v = Vec::with_capacity(16);
        a.balance.encode_to(&mut v);
        a.nonce.encode_to(&mut v);
        leaves.push((account_key(id), v));
    }
    for (hotkey, h) in &state.hotkeys {
        let mut v = Vec::with_capacity(48);
        h.owner.encode_to(&mut v);
        h.take.encode_to(&mut v);
        h.take_raised_at.encode_to(&mut v);
        leaves.push((key(b"h/", &[hotkey.as_bytes()]), v));
    }
    for ((netuid, hotkey), stake) in &state.stakes {
        let mut v = Vec::with_capacity(24);
        stake.alpha.encode_to(&mut v);
        stake.total_shares.encode_to(&mut v);
        leaves.push((key(b"k/", &[&netuid.0.to_be_bytes(), hotkey.as_bytes()]), v));
        for (coldkey, shares) in &stake.shares {
            leaves.push((stake_share_key(*netuid, hotkey, coldkey), shares.encode()));
        }
    }
    for (consensus_key, b) in &state.bonds {
        let mut v = Vec::with_capacity(64 + b.address.len());
        b.owner.encode_to(&mut v);
        plexus_primitives::codec::encode_bytes(b.address.as_bytes(), &mut v);
        b.amount.encode_to(&mut v);
        b.unbonding.encode_to(&mut v);
        match b.bonded_in {
            // Bonds record their epoch under FRESH_BONDS: its leaves end with it and
            // the heartbeat as an option, a length no older leaf has.
            Some(bonded_in) => {
                bonded_in.encode_to(&mut v);
                b.heartbeat.encode_to(&mut v);
            }
            // Only chains whose rules take heartbeats have one: older chains' leaves
            // stay as they were.
            None => {
                if let Some(epoch) = b.heartbeat {
                    epoch.encode_to(&mut v);
                }
            }
        }
        leaves.push((bond_key(consensus_key), v));
    }
    for (netuid, subnet) in &state.subnets {
        leaves.push((subnet_key(*netuid), encode_subnet(subnet)));
        for (uid, neuron) in subnet.neurons.iter().enumerate() {
            leaves.push((neuron_key(*netuid, uid as u16), encode_neuron(neuron)));
        }
        for (hotkey, commits) in &subnet.commits {
            let mut v = Vec::new();
            (commits.len() as u32).encode_to(&mut v);
            for c in commits {
                c.hash.encode_to(&mut v);
                c.block.encode_to(&mut v);
                c.epoch.encode_to(&mut v);
            }
            leaves.push((key(b"c/", &[&netuid.0.to_be_bytes(), hotkey.as_bytes()]), v));
        }
    }
    leaves.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    leaves
}

/// The root committing to the whole state.
pub fn state_root(state: &State) -> Hash {
    // Keys are unique by construction, so the tree always builds.
    merkle_root(leaves(state)).unwrap_or(Hash::ZERO)
}

/// The value under `key` (if any) and a proof of it, or of its absence,
/// against [`state_root`].
pub fn prove(state: &State, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof), MerkleError> {
    let tree = tree(state)?;
    Ok((tree.get(key).map(<[u8]>::to_vec), tree.prove(key)))
}

/// The whole tree of [`state_root`], to prove many keys of one state.
pub fn tree(state: &State) -> Result<MerkleTree, MerkleError> {
    MerkleTree::new(leaves(state))
}
