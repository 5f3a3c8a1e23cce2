//! A checkpoint fetched from another node (`plexus node --sync-from`) never panics the
//! decoder, and whatever decodes holds together: a state of this chain after a block that
//! starts a consensus epoch, which encodes again to a checkpoint of the same block.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use plexus_ledger::{Genesis, Ledger};
use plexus_node::consensus::checkpoint::Checkpoint;

/// The genesis of the devnet the seed came from (epochs of 100 blocks).
static GENESIS: LazyLock<Ledger> = LazyLock::new(|| {
    let text = include_str!("common/devnet-genesis.toml");
    Ledger::from_genesis(&Genesis::parse(text).expect("the devnet genesis parses"))
        .expect("the devnet genesis is a ledger")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(checkpoint) = Checkpoint::decode(data, &GENESIS, None) {
        let length = GENESIS.state().economics.validator_epoch_length;
        assert_eq!(checkpoint.height() % length, 0, "not an epoch's first block");
        assert_eq!(checkpoint.ledger().height(), checkpoint.height());
        let again = checkpoint.encode().expect("a decoded checkpoint encodes");
        let again = Checkpoint::decode(&again, &GENESIS, Some(checkpoint.hash()))
            .expect("a checkpoint's encoding decodes");
        assert_eq!(again.ledger().state_root(), checkpoint.ledger().state_root());
    }
});
