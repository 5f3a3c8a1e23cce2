//! The state tree and its proofs against every way a state or a proof can go wrong.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use super::proof::*;
use super::*;
use crate::codec::{CodecError, Encode, decode_exact};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn tree(state: &State) -> MerkleTree {
    MerkleTree::new(state.iter().map(|(k, v)| (k.clone(), v.clone()))).unwrap()
}

fn numbered(n: u8) -> State {
    (0..n).map(|i| (vec![2 * i + 1], vec![i; 3])).collect()
}

fn derive(context: &str, parts: &[&[u8]]) -> Hash {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    for part in parts {
        hasher.update(part);
    }
    Hash::from(hasher.finalize())
}

fn neighbours(proof: &Proof) -> (Option<&Neighbour>, Option<&Neighbour>) {
    match proof {
        Proof::Absent { left, right, .. } => (left.as_ref(), right.as_ref()),
        Proof::Member { .. } => panic!("expected an absence proof"),
    }
}

#[test]
fn hash_layout_matches_the_docs() {
    let empty = derive("plexus state root v1", &[&0u64.to_le_bytes(), &[0; 32]]);
    assert_eq!(MerkleTree::empty_root(), empty);
    assert_eq!(merkle_root(Vec::<(Vec<u8>, Vec<u8>)>::new()), Ok(empty));
    assert_eq!(MerkleTree::new(Vec::new()).unwrap().root(), empty);

    let leaf = |k: &[u8], v: &[u8]| {
        derive(
            "plexus state leaf v1",
            &[
                &(k.len() as u64).to_le_bytes(),
                k,
                &(v.len() as u64).to_le_bytes(),
                v,
            ],
        )
    };
    let node = |l: &Hash, r: &Hash| derive("plexus state node v1", &[l.as_bytes(), r.as_bytes()]);
    let root =
        |n: u64, top: &Hash| derive("plexus state root v1", &[&n.to_le_bytes(), top.as_bytes()]);
    assert_eq!(leaf_hash(b"k", b"v"), leaf(b"k", b"v"));

    // Five leaves: ((l0 l1) (l2 l3)) l4 -- the odd l4 is carried up twice, never doubled.
    let state = numbered(5);
    let l: Vec<Hash> = state.iter().map(|(k, v)| leaf(k, v)).collect();
    let top = node(&node(&node(&l[0], &l[1]), &node(&l[2], &l[3])), &l[4]);
    assert_eq!(tree(&state).root(), root(5, &top));
    assert_eq!(merkle_root(&state), Ok(root(5, &top)));

    // Three leaves: (l0 l1) l2.
    let state = numbered(3);
    let l: Vec<Hash> = state.iter().map(|(k, v)| leaf(k, v)).collect();
    assert_eq!(
        tree(&state).root(),
        root(3, &node(&node(&l[0], &l[1]), &l[2]))
    );
}

#[test]
fn leaf_binds_the_key_value_boundary() {
    assert_ne!(leaf_hash(b"ab", b"c"), leaf_hash(b"a", b"bc"));
    assert_ne!(leaf_hash(b"", b"x"), leaf_hash(b"x", b""));
    let one = MerkleTree::new([(b"ab".to_vec(), b"c".to_vec())]).unwrap();
    let other = MerkleTree::new([(b"a".to_vec(), b"bc".to_vec())]).unwrap();
    assert_ne!(one.root(), other.root());
}

#[test]
fn single_leaf_is_not_its_own_root_or_node() {
    let t = MerkleTree::new([(b"k".to_vec(), b"v".to_vec())]).unwrap();
    assert_ne!(t.root(), leaf_hash(b"k", b"v"));
    let proof = t.prove(b"k");
    assert_eq!(
        proof,
        Proof::Member {
            leaf_count: 1,
            index: 0,
            siblings: vec![]
        }
    );
    assert_eq!(proof.verify_member(&t.root(), b"k", b"v"), Ok(()));
}

#[test]
fn unsorted_duplicate_and_oversize_entries_are_typed() {
    let e = |k: &[u8]| (k.to_vec(), b"v".to_vec());
    assert_eq!(
        MerkleTree::new([e(b"a"), e(b"c"), e(b"b")]).err(),
        Some(MerkleError::UnsortedKeys { index: 2 })
    );
    assert_eq!(
        merkle_root([e(b"a"), e(b"a")]),
        Err(MerkleError::DuplicateKey { index: 1 })
    );
    // "ab" sorts after "a" (prefix first), and "" before everything.
    assert!(MerkleTree::new([e(b""), e(b"a"), e(b"ab"), e(b"b")]).is_ok());
    let long_key = vec![0u8; MAX_STATE_KEY_LEN + 1];
    assert_eq!(
        merkle_root([(long_key, vec![])]),
        Err(MerkleError::KeyTooLong {
            index: 0,
            len: MAX_STATE_KEY_LEN + 1
        })
    );
    let long_value = vec![0u8; MAX_STATE_VALUE_LEN + 1];
    assert_eq!(
        MerkleTree::new([e(b"a"), (b"b".to_vec(), long_value)]).err(),
        Some(MerkleError::ValueTooLong {
            index: 1,
            len: MAX_STATE_VALUE_LEN + 1
        })
    );
}

#[test]
fn empty_tree_proves_absence_only() {
    let t = MerkleTree::new(Vec::new()).unwrap();
    assert!(t.is_empty());
    let proof = t.prove(b"anything");
    assert_eq!(
        proof,
        Proof::Absent {
            leaf_count: 0,
            left: None,
            right: None
        }
    );
    assert_eq!(proof.verify_absent(&t.root(), b"anything"), Ok(()));
    assert_eq!(
        proof.verify_member(&t.root(), b"anything", b""),
        Err(ProofError::ExpectedMember)
    );
    // The empty-tree proof does not verify against a non-empty root.
    let other = tree(&numbered(2));
    assert_eq!(
        proof.verify_absent(&other.root(), b"x"),
        Err(ProofError::RootMismatch)
    );
    // And a non-empty tree cannot claim zero neighbours.
    let forged = Proof::Absent {
        leaf_count: 2,
        left: None,
        right: None,
    };
    assert_eq!(
        forged.verify_absent(&other.root(), b"x"),
        Err(ProofError::MissingNeighbour)
    );
}

#[test]
fn absent_proofs_reject_present_keys_and_gaps() {
    // Keys 1, 3, 5, ..., 15.
    let state = numbered(8);
    let t = tree(&state);
    let root = t.root();
    let present = vec![7u8];
    let i = t.find(&present).unwrap();
    let (a, b, c) = (t.neighbour(i - 1), t.neighbour(i), t.neighbour(i + 1));
    let absent = |left: &Neighbour, right: &Neighbour| Proof::Absent {
        leaf_count: 8,
        left: Some(left.clone()),
        right: Some(right.clone()),
    };
    // Skipping over the present leaf.
    assert_eq!(
        absent(&a, &c).verify_absent(&root, &present),
        Err(ProofError::NotAdjacent {
            left: i as u64 - 1,
            right: i as u64 + 1
        })
    );
    // Relabelling the far neighbour as adjacent breaks its path.
    let mut relabelled = c.clone();
    relabelled.index = i as u64;
    assert_eq!(
        absent(&a, &relabelled).verify_absent(&root, &present),
        Err(ProofError::RootMismatch)
    );
    // Adjacent, but the key is one of them.
    assert_eq!(
        absent(&a, &b).verify_absent(&root, &present),
        Err(ProofError::NotBracketed)
    );
    assert_eq!(
        absent(&b, &c).verify_absent(&root, &present),
        Err(ProofError::NotBracketed)
    );
    // A real absence proof reused for a key outside its gap.
    let gap = t.prove(&[6]);
    assert_eq!(gap.verify_absent(&root, &[6]), Ok(()));
    assert_eq!(
        gap.verify_absent(&root, &[9]),
        Err(ProofError::NotBracketed)
    );
    // Edge proofs must use the edge leaves.
    let below = Proof::Absent {
        leaf_count: 8,
        left: None,
        right: Some(b.clone()),
    };
    assert!(matches!(
        below.verify_absent(&root, &[0]),
        Err(ProofError::NotAtEdge { .. })
    ));
    let mut fake_first = b.clone();
    fake_first.index = 0;
    let below = Proof::Absent {
        leaf_count: 8,
        left: None,
        right: Some(fake_first),
    };
    assert_eq!(
        below.verify_absent(&root, &[0]),
        Err(ProofError::RootMismatch)
    );
    let above = Proof::Absent {
        leaf_count: 8,
        left: Some(b),
        right: None,
    };
    assert!(matches!(
        above.verify_absent(&root, &[100]),
        Err(ProofError::NotAtEdge { .. })
    ));
    // A present key's membership proof is not an absence proof, nor vice versa.
    assert_eq!(
        t.prove(&present).verify_absent(&root, &present),
        Err(ProofError::ExpectedAbsent)
    );
    assert_eq!(
        t.prove(&[6]).verify_member(&root, &[6], b""),
        Err(ProofError::ExpectedMember)
    );
}

#[test]
fn forged_positions_are_rejected() {
    let t = tree(&numbered(7));
    let root = t.root();
    let Proof::Member {
        leaf_count,
        index,
        siblings,
    } = t.prove(&[5])
    else {
        panic!("present");
    };
    let forge = |leaf_count, index| Proof::Member {
        leaf_count,
        index,
        siblings: siblings.clone(),
    };
    assert_eq!(
        forge(leaf_count, index).verify_member(&root, &[5], &[2; 3]),
        Ok(())
    );
    for other in 0..10 {
        if other != index {
            assert!(
                forge(leaf_count, other)
                    .verify_member(&root, &[5], &[2; 3])
                    .is_err()
            );
        }
    }
    for count in [0, 1, 3, 6, 8, 9, 16, u64::MAX] {
        assert!(
            forge(count, index)
                .verify_member(&root, &[5], &[2; 3])
                .is_err()
        );
    }
    assert_eq!(
        forge(7, 7).verify_member(&root, &[5], &[2; 3]),
        Err(ProofError::IndexOutOfRange {
            index: 7,
            leaf_count: 7
        })
    );
    let mut extra = siblings.clone();
    extra.push(Hash::ZERO);
    assert!(matches!(
        Proof::Member {
            leaf_count,
            index,
            siblings: extra
        }
        .verify_member(&root, &[5], &[2; 3]),
        Err(ProofError::SiblingCount { .. })
    ));
}

#[test]
fn path_lengths_follow_the_shape() {
    // 5 leaves: leaves 0..4 have 3 siblings, leaf 4 is carried twice and has 1.
    let counts: Vec<usize> = (0..5).map(|i| path_sides(i, 5).count()).collect();
    assert_eq!(counts, vec![3, 3, 3, 3, 1]);
    assert_eq!(path_sides(0, 1).count(), 0);
    assert_eq!(path_sides(0, u64::MAX).count(), 64);
    // The last of 2^64 - 1 leaves is carried once, then is a right child all the way up.
    assert_eq!(path_sides(u64::MAX - 1, u64::MAX).count(), 63);
}

#[test]
fn proof_codec_bounds_and_json_shape() {
    let t = tree(&numbered(4));
    let proof = t.prove(&[4]);
    let json = serde_json::to_string(&proof).unwrap();
    assert!(json.contains("\"key\":\"03\""), "{json}");
    assert!(json.contains("\"value\":\"010101\""), "{json}");
    assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof);
    assert!(serde_json::from_str::<Proof>(&json.replace("\"03\"", "\"0g\"")).is_err());
    assert!(serde_json::from_str::<Proof>(&json.replace("\"03\"", "\"031\"")).is_err());
    assert!(serde_json::from_str::<Proof>(&json.replace("\"03\"", "\"0é\"")).is_err());
    let upper = json.replace("\"010101\"", "\"0A0B0C\"");
    assert!(serde_json::from_str::<Proof>(&upper).is_ok());

    let too_many = Proof::Member {
        leaf_count: 1,
        index: 0,
        siblings: vec![Hash::ZERO; MAX_PROOF_SIBLINGS + 1],
    };
    assert_eq!(
        decode_exact::<Proof>(&too_many.encode()),
        Err(CodecError::TooLong {
            len: MAX_PROOF_SIBLINGS as u64 + 1,
            max: MAX_PROOF_SIBLINGS as u64
        })
    );
    assert!(serde_json::from_str::<Proof>(&serde_json::to_string(&too_many).unwrap()).is_err());
    assert_eq!(
        decode_exact::<Proof>(&[2]),
        Err(CodecError::UnknownTag {
            type_name: "Proof",
            tag: 2
        })
    );
}

fn state() -> impl Strategy<Value = State> {
    // Short keys so that probes often fall between, before and after present keys.
    btree_map(vec(any::<u8>(), 0..5), vec(any::<u8>(), 0..12), 0..200)
}

fn flip(hash: &mut Hash, bit: usize) {
    hash.0[bit / 8 % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_key_proves_membership(state in state()) {
        let t = tree(&state);
        let root = t.root();
        prop_assert_eq!(t.len(), state.len());
        prop_assert_eq!(merkle_root(&state), Ok(root));
        for (key, value) in &state {
            prop_assert_eq!(t.get(key), Some(value.as_slice()));
            let proof = t.prove(key);
            prop_assert_eq!(proof.verify_member(&root, key, value), Ok(()));
            prop_assert_eq!(proof.verify_absent(&root, key), Err(ProofError::ExpectedAbsent));
            prop_assert_eq!(decode_exact::<Proof>(&proof.encode()), Ok(proof.clone()));
            let json = serde_json::to_string(&proof).unwrap();
            prop_assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof.clone());

            let mut wrong_value = value.clone();
            wrong_value.push(0);
            prop_assert!(proof.verify_member(&root, key, &wrong_value).is_err());
            let mut wrong_key = key.clone();
            wrong_key.push(0);
            prop_assert!(proof.verify_member(&root, &wrong_key, value).is_err());
            let mut other_root = root;
            flip(&mut other_root, 0);
            prop_assert_eq!(
                proof.verify_member(&other_root, key, value),
                Err(ProofError::RootMismatch)
            );
            if let Proof::Member { leaf_count, index, siblings } = &proof {
                for (i, bit) in (0..siblings.len()).zip([0usize, 77, 255].into_iter().cycle()) {
                    let mut tampered = siblings.clone();
                    flip(&mut tampered[i], bit);
                    let forged = Proof::Member {
                        leaf_count: *leaf_count,
                        index: *index,
                        siblings: tampered,
                    };
                    prop_assert_eq!(
                        forged.verify_member(&root, key, value),
                        Err(ProofError::RootMismatch)
                    );
                }
            }
        }
    }

    #[test]
    fn every_absent_key_proves_absence(
        state in state(),
        probes in vec(vec(any::<u8>(), 0..5), 0..40),
    ) {
        let t = tree(&state);
        let root = t.root();
        let mut probes = probes;
        probes.extend([vec![], vec![0xff; 5]]);
        for probe in probes.iter().filter(|p| !state.contains_key(*p)) {
            prop_assert_eq!(t.get(probe), None);
            let proof = t.prove(probe);
            prop_assert_eq!(proof.verify_absent(&root, probe), Ok(()));
            prop_assert_eq!(
                proof.verify_member(&root, probe, b""),
                Err(ProofError::ExpectedMember)
            );
            prop_assert_eq!(decode_exact::<Proof>(&proof.encode()), Ok(proof.clone()));
            let json = serde_json::to_string(&proof).unwrap();
            prop_assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof.clone());

            // The same proof must not vouch for any present key.
            for present in state.keys() {
                prop_assert!(proof.verify_absent(&root, present).is_err());
            }
            let mut other_root = root;
            flip(&mut other_root, 9);
            prop_assert!(proof.verify_absent(&other_root, probe).is_err());

            // Tampering with either neighbour's value, key or path breaks it.
            let (left, right) = neighbours(&proof);
            for (is_left, n) in [(true, left), (false, right)] {
                let Some(n) = n else { continue };
                let rebuild = |n: Neighbour| {
                    let (mut l, mut r) = (left.cloned(), right.cloned());
                    if is_left { l = Some(n) } else { r = Some(n) }
                    Proof::Absent { leaf_count: t.len() as u64, left: l, right: r }
                };
                let mut bad = n.clone();
                bad.value.push(1);
                prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                let mut bad = n.clone();
                bad.key.insert(0, bad.key.first().copied().unwrap_or(0));
                prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                for i in 0..n.siblings.len() {
                    let mut bad = n.clone();
                    flip(&mut bad.siblings[i], 3);
                    prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                }
                let mut bad = n.clone();
                bad.index ^= 1;
                prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
            }
        }
    }

    #[test]
    fn root_is_deterministic_and_binds_every_value(
        state in state(),
        pick in any::<prop::sample::Index>(),
        extra in any::<u8>(),
    ) {
        prop_assert_eq!(tree(&state).root(), tree(&state.clone()).root());
        if state.is_empty() {
            prop_assert_eq!(tree(&state).root(), MerkleTree::empty_root());
        } else {
            let root = tree(&state).root();
            let key = state.keys().nth(pick.index(state.len())).unwrap().clone();
            let mut changed = state.clone();
            changed.get_mut(&key).unwrap().push(extra);
            prop_assert_ne!(tree(&changed).root(), root);
            let mut removed = state.clone();
            removed.remove(&key);
            prop_assert_ne!(merkle_root(&removed).unwrap(), root);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reencode(
        bytes in vec(any::<u8>(), 0..200),
    ) {
        if let Ok(proof) = decode_exact::<Proof>(&bytes) {
            prop_assert_eq!(proof.encode(), bytes.clone());
            let _ = proof.verify_absent(&Hash::ZERO, b"k");
            let _ = proof.verify_member(&Hash::ZERO, b"k", b"v");
        }
    }

    #[test]
    fn mutated_proofs_never_panic_and_reencode(
        state in state(),
        probe in vec(any::<u8>(), 0..5),
        edits in crate::testgen::edits(),
    ) {
        let bytes = crate::testgen::mutate(tree(&state).prove(&probe).encode(), &edits);
        if let Ok(proof) = decode_exact::<Proof>(&bytes) {
            prop_assert_eq!(proof.encode(), bytes);
        }
    }
}
