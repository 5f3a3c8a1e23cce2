//! Which miners serve a request, and in what order to try them.
//!
//! Miners are drawn in proportion to their on-chain incentive, so the network's own
//! judgement routes the traffic; those without incentive (new, or judged poor) come after,
//! in random order, as the last resort of a failover. A young network where nobody has
//! incentive yet is served uniformly.

use plexus_primitives::AccountId;
use plexus_subnets::Snapshot;
use plexus_wire::{AxonScope, Target};
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

/// Every miner except `me` with an axon of at least `min_version` (what the request
/// needs a miner's software to take) at an address within `scope` ([`Target::from_axon`]),
/// in the order to try them.
pub fn candidates(
    snapshot: &Snapshot,
    me: &AccountId,
    min_version: u32,
    scope: AxonScope,
    rng: &mut impl Rng,
) -> Vec<Candidate> {
    let netuid = snapshot.subnet.netuid;
    let all: Vec<Candidate> = snapshot
        .neurons
        .iter()
        .filter(|n| n.hotkey != *me)
        .filter_map(|n| {
            let axon = n.axon.filter(|a| a.version >= min_version)?;
            Some(Candidate {
                uid: n.uid,
                target: Target::from_axon(&axon, n.hotkey, netuid, scope)?,
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

/// The miners to try for one part of a request, in `order` (drawn once for the whole
/// request): from the `start`-th on, wrapping, at most `attempts`. Parts asked at once
/// then start on different miners while there are enough.
pub fn turn(order: &[Candidate], start: usize, attempts: usize) -> Vec<Candidate> {
    let skip = start.checked_rem(order.len()).unwrap_or(0);
    let take = attempts.max(1).min(order.len());
    order
        .iter()
        .cycle()
        .skip(skip)
        .take(take)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use plexus_ledger::NeuronInfo;
    use plexus_primitives::NetUid;
    use plexus_subnets::standalone_neuron;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn neuron(uid: u16, incentive: u16, axon: bool) -> NeuronInfo {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1000 + uid));
        standalone_neuron(
            uid,
            AccountId([uid as u8; 32]),
            0,
            incentive,
            axon.then_some(addr),
        )
    }

    fn snapshot(neurons: Vec<NeuronInfo>) -> Snapshot {
        Snapshot::standalone(NetUid(1), neurons)
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
            let order = candidates(&s, &me, 0, AxonScope::All, &mut rng);
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
    fn miners_of_an_older_version_are_left_out_when_the_request_needs_a_newer_one() {
        let mut old = neuron(1, 60_000, true);
        if let Some(axon) = old.axon.as_mut() {
            axon.version = 1;
        }
        let s = snapshot(vec![old, neuron(2, 0, true)]);
        let mut rng = StdRng::seed_from_u64(3);
        let uids = |min| -> Vec<u16> {
            let mut rng = StdRng::seed_from_u64(3);
            candidates(&s, &AccountId([9; 32]), min, AxonScope::All, &mut rng)
                .iter()
                .map(|c| c.uid)
                .collect()
        };
        assert_eq!(uids(1), [1, 2]);
        assert_eq!(uids(2), [2]);
        assert!(candidates(&s, &AccountId([9; 32]), 3, AxonScope::All, &mut rng).is_empty());
    }

    #[test]
    fn each_part_starts_at_its_own_miner_and_wraps() {
        let s = snapshot((1..=5).map(|uid| neuron(uid, 100, true)).collect());
        let order = candidates(
            &s,
            &AccountId([9; 32]),
            0,
            AxonScope::All,
            &mut rand::thread_rng(),
        );
        let uids = |c: Vec<Candidate>| c.into_iter().map(|c| c.uid).collect::<Vec<_>>();
        let at = |i: usize| order[i].uid;
        assert_eq!(uids(turn(&order, 0, 3)), vec![at(0), at(1), at(2)]);
        assert_eq!(uids(turn(&order, 3, 3)), vec![at(3), at(4), at(0)]);
        assert_eq!(uids(turn(&order, 7, 3)), vec![at(2), at(3), at(4)]);
        // Never more than there are, never none while there are some.
        assert_eq!(turn(&order, 1, 9).len(), 5);
        assert_eq!(turn(&order, 1, 0).len(), 1);
        assert!(turn(&[], 4, 3).is_empty());
    }

    #[test]
    fn a_young_subnet_is_served_uniformly() {
        let s = snapshot((0..4).map(|u| neuron(u, 0, true)).collect());
        let mut rng = StdRng::seed_from_u64(2);
        let mut first = [0u32; 4];
        for _ in 0..4_000 {
            first[usize::from(
                candidates(&s, &AccountId([9; 32]), 0, AxonScope::All, &mut rng)[0].uid,
            )] += 1;
        }
        assert!(first.iter().all(|n| (800..1_200).contains(n)), "{first:?}");
    }
}
