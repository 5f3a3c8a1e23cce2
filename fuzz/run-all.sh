#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 10) and exits non-zero if any
# target finds a crash. Works on a stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass
# its nightly-only flags. AddressSanitizer is used when it builds, otherwise none.
#
# Usage: fuzz/run-all.sh [SECONDS]
# Env:   FUZZ_SANITIZER=address|none  force a sanitizer instead of probing
#        CARGO_TARGET_DIR             honoured as usual (default fuzz/target)
set -euo pipefail

seconds="${1:-10}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [SECONDS>=1]" >&2
    exit 2
fi

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
start=$(date +%s)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=(
    decode_signed_transaction
    decode_block
    decode_block_header
    parse_address
    parse_balance
    wire_request_headers
    wire_signed_message
    wire_sse_stream
    consensus_block
    decode_checkpoint
    subnet_answers
    upstream_stream
    openai_requests
    gateway_stops
)

# Build everything once; fall back to no sanitizer if ASan does not build here.
sanitizer="${FUZZ_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
    if cargo fuzz build --sanitizer address; then
        sanitizer=address
    else
        echo "== AddressSanitizer build failed; falling back to --sanitizer none" >&2
        sanitizer=none
        cargo fuzz build --sanitizer none
    fi
else
    cargo fuzz build --sanitizer "$sanitizer"
fi
echo "== built in $(($(date +%s) - start))s with sanitizer=$sanitizer"

failed=()
for target in "${targets[@]}"; do
    # corpus/ collects what the fuzzer learns (git-ignored); seeds/ are committed,
    # valid inputs that start it deep inside the format.
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    echo "== fuzzing $target for ${seconds}s"
    t0=$(date +%s)
    if cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 \
        >"corpus/$target.log" 2>&1; then
        echo "   ok ($(($(date +%s) - t0))s, $(grep -o 'Done [0-9]* runs' "corpus/$target.log" || echo '? runs'))"
    else
        echo "   CRASH or error in $target; last lines of corpus/$target.log:" >&2
        tail -n 30 "corpus/$target.log" >&2
        failed+=("$target")
    fi
done

echo "== total $(($(date +%s) - start))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "== FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
echo "== all ${#targets[@]} targets clean"
