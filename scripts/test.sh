#!/usr/bin/env bash
# Runs the whole test suite: the guest plugins' own unit tests (Rust, Python, JS), then the
# workspace's unit, integration (real AWS SDK against the loopback Bedrock emulator) and
# end-to-end tests (wasm plugins in the host). Installs what it needs first: the
# wasm32-wasip2 target, componentize-py in a venv, componentize-js with `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-guests.sh --test

cargo test --workspace "$@"
