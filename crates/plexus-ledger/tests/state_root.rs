//! The state root commits to every value: a light client holding only a
//! root checks an answer (or an absence) with a proof; genesis files parse.

#![allow(clippy::expect_used)]

mod common;

use common::{Chain, balance, id, test_economics};
use plexus_ledger::commitment::{account_key, neuron_key, prove, state_root};
use plexus_ledger::{Genesis, GenesisError, Ledger, LedgerRules};
use plexus_primitives::{Call, Encode, NetUid, Work};

#[test]
fn values_and_absences_prove_against_the_root() {
    let mut chain = Chain::new(&["alice", "bob", "owner", "hot"], test_economics());
    chain.ok(
        "alice",
        Call::Transfer {
            to: id("bob"),
            amount: balance(3),
        },
    );
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("hot"),
            max_lock: balance(1_000),
        },
    );
    let state = chain.ledger.state();
    let root = state_root(state);
    assert_eq!(root, chain.ledger.state_root());

    let bob = state.account(&id("bob"));
    let mut expected = bob.balance.encode();
    bob.nonce.encode_to(&mut expected);
    let (value, proof) = prove(state, &account_key(&id("bob"))).expect("tree builds");
    assert_eq!(value.as_deref(), Some(expected.as_slice()));
    proof
        .verify_member(&root, &account_key(&id("bob")), &expected)
        .expect("bob's balance proves");
    // A wrong balance does not.
    let mut forged = expected.clone();
    forged[0] ^= 1;
    assert!(
        proof
            .verify_member(&root, &account_key(&id("bob")), &forged)
            .is_err()
    );

    // The owner's neuron exists; UID 5 does not.
    let (value, proof) = prove(state, &neuron_key(NetUid(1), 0)).expect("tree builds");
    proof
        .verify_member(&root, &neuron_key(NetUid(1), 0), &value.expect("UID 0"))
        .expect("proves");
    let (value, proof) = prove(state, &neuron_key(NetUid(1), 5)).expect("tree builds");
    assert!(value.is_none());
    proof
        .verify_absent(&root, &neuron_key(NetUid(1), 5))
        .expect("absence proves");

    // Any change moves the root.
    chain.ok(
        "bob",
        Call::Transfer {
            to: id("alice"),
            amount: balance(1),
        },
    );
    assert_ne!(chain.ledger.state_root(), root);
}

#[test]
fn genesis_parses_from_toml_and_json_and_refuses_bad_files() {
    let alice = id("alice").to_string();
    let toml = format!(
        r#"
chain_id = "plexus-local"

[[balances]]
account = "{alice}"
balance = 5000000000000

[[validators]]
consensus_key = "{alice}"
address = "127.0.0.1:30333"

[economics]
subnet_limit = 16
"#
    );
    let genesis = Genesis::parse(&toml).expect("TOML genesis");
    assert_eq!(genesis.economics.subnet_limit, 16);
    assert_eq!(
        genesis.economics.min_fee,
        plexus_ledger::Economics::default().min_fee,
        "defaults fill the rest"
    );
    let json = serde_json::to_string(&genesis).expect("serialises");
    assert_eq!(Genesis::parse(&json).expect("JSON genesis"), genesis);
    assert_eq!(
        Genesis::parse(&genesis.to_toml().expect("renders")).expect("round trip"),
        genesis
    );
    let ledger = Ledger::from_genesis(&genesis).expect("valid");
    assert_eq!(
        ledger.state().balance(&id("alice")).rao(),
        5_000_000_000_000
    );

    let unknown = toml.replace("subnet_limit", "subnet_limitt");
    assert!(
        matches!(Genesis::parse(&unknown), Err(GenesisError::Malformed(m)) if m.contains("subnet_limitt"))
    );
    let mut duplicate = genesis.clone();
    duplicate.balances.push(duplicate.balances[0].clone());
    let text = serde_json::to_string(&duplicate).expect("serialises");
    assert!(
        matches!(Genesis::parse(&text), Err(GenesisError::DuplicateAccount(a)) if a == id("alice"))
    );
    let no_validators = "chain_id = \"x\"\nvalidators = []\n";
    assert!(matches!(
        Genesis::parse(no_validators),
        Err(GenesisError::NoValidators)
    ));
    let bad_address = toml.replace(&alice, "plx1notanaddress");
    assert!(matches!(
        Genesis::parse(&bad_address),
        Err(GenesisError::Malformed(_))
    ));
}

#[test]
fn the_root_commits_to_a_subnets_kind_of_work() {
    let mut chain = Chain::new(&["owner", "hot"], test_economics());
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("hot"),
            max_lock: balance(1_000),
        },
    );
    let state = chain.ledger.state();
    let root = state_root(state);
    let with = |work| {
        let mut changed = state.clone();
        if let Some(subnet) = changed.subnets.get_mut(&NetUid(1)) {
            subnet.work = work;
        }
        state_root(&changed)
    };
    assert_eq!(with(None), root);
    let (text, embeddings) = (with(Some(Work::Text)), with(Some(Work::Embeddings)));
    assert_ne!(text, root);
    assert_ne!(embeddings, root);
    assert_ne!(text, embeddings);
}
/// The root after one block on a genesis written as chains were before ledger
/// rules had versions: a transfer that fails, then one that applies.
fn old_chain_root() -> (Genesis, Ledger, String) {
    let (alice, bob) = (id("alice"), id("bob"));
    let toml = format!(
        r#"
chain_id = "plexus-old"

[[balances]]
account = "{alice}"
balance = 5000000000000

[[validators]]
consensus_key = "{bob}"

[economics]
subnet_limit = 16
"#
    );
    let genesis = Genesis::parse(&toml).expect("an older genesis parses");
    let mut ledger = Ledger::from_genesis(&genesis).expect("valid");
    let fee = genesis.economics.min_fee;
    let transfer = |nonce: u64, amount: u64| {
        plexus_primitives::Transaction {
            chain_id: genesis.chain_id.clone(),
            signer: alice,
            nonce,
            fee,
            call: Call::Transfer {
                to: bob,
                amount: plexus_primitives::Balance::from_rao(amount),
            },
        }
        .sign(&common::key("alice"))
    };
    let out = ledger
        .apply_block(
            1,
            &[transfer(0, 0), transfer(0, 7)],
            plexus_ledger::Signatures::Verify,
        )
        .expect("height");
    assert!(out.receipts[0].result.is_err());
    assert!(out.receipts[1].result.is_ok());
    let root = ledger.state_root().to_string();
    (genesis, ledger, root)
}

/// A chain begun before ledger rules had versions names none: it keeps the
/// original rules (its failed transfer pays nothing) and replays to the very
/// root the build of that time computed, and written back out its genesis
/// still names none.
#[test]
fn chains_begun_before_rule_versions_keep_their_rules_and_roots() {
    let (genesis, ledger, root) = old_chain_root();
    assert_eq!(genesis.economics.ledger_rules, LedgerRules::ORIGINAL);
    assert_eq!(
        root,
        "fde615f4deeb4e1ca2310737cf1c607f34b4ab22fc4efde5eb5343855dfe3881"
    );
    assert_eq!(ledger.state().account(&id("alice")).nonce, 1);
    assert!(!genesis.to_toml().expect("renders").contains("ledger_rules"));

    // New chains start on the newest rules and say so in their genesis.
    let new = Genesis {
        economics: plexus_ledger::Economics::default(),
        ..genesis.clone()
    };
    assert_eq!(new.economics.ledger_rules, LedgerRules::LATEST);
    let text = new.to_toml().expect("renders");
    let latest = format!("ledger_rules = {}", LedgerRules::LATEST.0);
    assert!(text.contains(&latest), "{text}");
    assert_eq!(Genesis::parse(&text).expect("parses"), new);

    // Naming the original rules outright is the same as naming none.
    let original = Genesis::parse(&text.replace(&latest, "ledger_rules = 0")).expect("parses");
    assert_eq!(original.economics.ledger_rules, LedgerRules::ORIGINAL);
    assert!(
        !original
            .to_toml()
            .expect("renders")
            .contains("ledger_rules")
    );

    // Rules this build does not know are refused with what to do.
    let future = text.replace(&latest, "ledger_rules = 9");
    let err = Genesis::parse(&future).expect_err("unknown rules");
    let known = LedgerRules::LATEST.0;
    assert!(matches!(err, GenesisError::NewerRules { named: 9, known: k } if k == known));
    assert!(err.to_string().contains("upgrade"), "{err}");
}
