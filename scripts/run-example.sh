#!/usr/bin/env bash
# The main job: builds the example agent plugin (Rust, wasm32-wasip2) and runs it in the
# gamecode host, offline, against the bundled Bedrock emulator (real AWS SDK, real SigV4,
# real HTTP on 127.0.0.1). No AWS account needed.
#
#   bash scripts/run-example.sh "What is 6 * 7?"
#   bash scripts/run-example.sh --aws "What is 6 * 7?"   # real Bedrock, default AWS chain
#
# Any other `gamecode run` options can follow the task (see `gamecode run --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=(--emulator)
if [ "${1:-}" = "--aws" ]; then
    backend=()
    shift
fi
task="${1:-What is 6 * 7?}"
shift || true

target_dir="${CARGO_TARGET_DIR:-target}"
# The `quickstart` profile (Cargo.toml): dependencies unoptimised, for the shortest first build.
if [ ! -x "$target_dir/quickstart/gamecode" ]; then
    # Short lines: readable in a 60-column terminal.
    printf '%s\n' "== first build: wasmtime and the AWS SDK compile once," \
        "   ~4 minutes on 2 cores; cargo shows its progress below" \
        "   (later runs start in seconds)" >&2
fi
bash scripts/build-guests.sh rust >&2
# Cargo's progress goes to stderr; stdout carries the answer alone.
exec cargo run --profile quickstart -p gamecode-host --bin gamecode -- run "${backend[@]}" \
    guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm "$task" "$@"
