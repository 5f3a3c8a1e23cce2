//! Which miners serve a request, and in what order to try them.
//!
//! Miners are drawn in proportion to their on-chain incentive, so the network's own
//! judgement routes the traffic; those without incentive (new, or judged poor) come after,
//! in random order, as the last resort of a failover. A young network where nobody has
//! incentive yet is served uniformly.

use plexus_primitives::AccountId;
use plexus_subnets::Snapshot;
use plexus_wire::Target;
use rand::Rng;
use rand::seq::SliceRandom;

/// A miner to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its UID.
    pub uid: u16,
    /// Where and as whom it answers.
    pub target: Target,
    /// Its incentive (of 65535).
    pub incentive: u16,
}

/// Every miner with an axon except `me`, in the order to try them.
pub fn candidates(snapshot: &Snapshot, me: &AccountId, rng: &mut impl Rng) -> Vec<Candidate> {
    let netuid = snapshot.subnet.netuid;
    let all: Vec<Candidate> = snapshot
        .neurons
        .iter()
        .filter(|n| n.hotkey != *me)
        .filter_map(|n| {
            let axon = n.axon?;
            Some(Candidate {
                uid: n.uid,
                target: Target::from_axon(&axon, n.hotkey, netuid),
                incentive: n.incentive,
            })
        })
        .collect();
    let (mut paid, mut rest): (Vec<Candidate>, Vec<Candidate>) =
        all.into_iter().partition(|c| c.incentive > 0);
    let mut order = Vec::with_capacity(paid.len() + rest.len());
    // Weighted draws without replacement.
    while !paid.is_empty() {
        let total: u64 = paid.iter().map(|c| u64::from(c.incentive)).sum();
        let mut point = rng.gen_range(0..total);
        let index = paid
            .iter()
            .position(|c| {
                let w = u64::from(c.incentive);
                if point < w {
                    true
                } else {
                    point -= w;
                    false
                }
            })
            .unwrap_or(0);
        order.push(paid.swap_remove(index));
    }
    rest.shuffle(rng);
    order.extend(rest);
    order
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use plexus_ledger::{NeuronInfo, PoolInfo, SubnetInfo, SubnetParams};
    use plexus_primitives::{AxonInfo, AxonProtocol, Balance, NetUid};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn neuron(uid: u16, incentive: u16, axon: bool) -> NeuronInfo {
        NeuronInfo {
            uid,
            hotkey: AccountId([uid as u8; 32]),
            coldkey: AccountId([0; 32]),
            stake: 0,
            trust: 0,
            consensus: 0,
            incentive,
            dividends: 0,
            validator_trust: 0,
            emission: 0,
            validator_permit: false,
            active: true,
            last_update: 0,
            registered_at: 0,
            axon: axon.then_some(AxonInfo {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 1000 + uid,
                protocol: AxonProtocol::Http,
                version: 1,
            }),
        }
    }

    fn snapshot(neurons: Vec<NeuronInfo>) -> Snapshot {
        Snapshot {
            height: 1,
            subnet: SubnetInfo {
                netuid: NetUid(1),
                owner: AccountId([0; 32]),
                owner_hotkey: AccountId([0; 32]),
                neurons: neurons.len() as u16,
                max_neurons: 256,
                tempo: 10,
                last_epoch_block: 0,
                epoch_index: 0,
                pending_emission: 0,
                pool: PoolInfo {
                    tao: 0,
                    alpha: 0,
                    price: plexus_ledger::pool::Price(0),
                },
                registration_price: Balance::ZERO,
                locked: Balance::ZERO,
                created_at: 0,
            },
            params: SubnetParams::default(),
            neurons,
        }
    }

    #[test]
    fn incentive_leads_and_the_rest_follow() {
        let s = snapshot(vec![
            neuron(0, 0, false),
            neuron(1, 60_000, true),
            neuron(2, 0, true),
            neuron(3, 5_000, true),
            neuron(4, 0, true),
        ]);
        let me = AccountId([4; 32]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut first = [0u32; 5];
        for _ in 0..2_000 {
            let order = candidates(&s, &me, &mut rng);
            let uids: Vec<u16> = order.iter().map(|c| c.uid).collect();
            assert_eq!(uids.len(), 3, "no axon and me are left out: {uids:?}");
            assert_eq!(uids[2], 2, "the unpaid miner comes last");
            first[usize::from(uids[0])] += 1;
        }
        // 60,000 : 5,000 gives the first slot to UID 1 about 92% of the time.
        assert!((1_750..1_950).contains(&first[1]), "{first:?}");
        assert_eq!(first[1] + first[3], 2_000);
    }

    #[test]
    fn a_young_subnet_is_served_uniformly() {
        let s = snapshot((0..4).map(|u| neuron(u, 0, true)).collect());
        let mut rng = StdRng::seed_from_u64(2);
        let mut first = [0u32; 4];
        for _ in 0..4_000 {
            first[usize::from(candidates(&s, &AccountId([9; 32]), &mut rng)[0].uid)] += 1;
        }
        assert!(first.iter().all(|n| (800..1_200).contains(n)), "{first:?}");
    }
}
