//! The signed-message builders never panic on arbitrary fields, a message signed by a key
//! verifies, and changing any byte of the route or body breaks the signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::{AccountId, ChainId, Hash, Keypair, NetUid, Signature};
use plexus_wire::{RequestMessage, ResponseMessage, validate_route};

fuzz_target!(|data: &[u8]| {
    // Layout: 32 key seed, 8 nonce, 2 lane, 2 netuid, 2 status, 64 signature, rest = route.
    if data.len() < 110 {
        return;
    }
    let (seed, rest) = data.split_at(32);
    let (nums, rest) = rest.split_at(14);
    let (sig, route) = rest.split_at(64);
    let mut seed_bytes = [0u8; 32];
    seed_bytes.copy_from_slice(seed);
    let keypair = Keypair::from_seed(seed_bytes);
    let nonce = u64::from_le_bytes(nums[..8].try_into().unwrap_or_default());
    let lane = u16::from_le_bytes([nums[8], nums[9]]);
    let netuid = NetUid(u16::from_le_bytes([nums[10], nums[11]]));
    let status = u16::from_le_bytes([nums[12], nums[13]]);
    let mut sig_bytes = [0u8; 64];
    sig_bytes.copy_from_slice(sig);
    let route = String::from_utf8_lossy(route);
    let _ = validate_route(&route);
    let Ok(chain) = ChainId::new("plexus-fuzz") else {
        return;
    };
    let request = RequestMessage {
        caller: keypair.account_id(),
        callee: AccountId(seed_bytes),
        netuid,
        nonce,
        lane,
        route: &route,
        body_hash: Hash::of(route.as_bytes()),
    };
    // An arbitrary signature (and the arbitrary callee as a key) fails cleanly.
    let _ = request.verify(&chain, &Signature(sig_bytes));
    let signature = request.sign(&keypair, &chain);
    assert!(request.verify(&chain, &signature).is_ok());
    let changed = format!("{route}x");
    let other = RequestMessage {
        route: &changed,
        ..request.clone()
    };
    assert!(other.verify(&chain, &signature).is_err());

    let response = ResponseMessage {
        callee: keypair.account_id(),
        caller: AccountId(seed_bytes),
        netuid,
        nonce,
        lane,
        route: &route,
        request_body_hash: request.body_hash,
        status,
        body_hash: Hash::of(seed),
    };
    let _ = response.verify(&chain, &Signature(sig_bytes));
    let signature = response.sign(&keypair, &chain);
    assert!(response.verify(&chain, &signature).is_ok());
    // A response signature is never a request signature.
    assert!(request.verify(&chain, &signature).is_err());
});
