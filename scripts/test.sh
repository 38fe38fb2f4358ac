#!/usr/bin/env bash
# Runs the whole test suite: unit, integration (real AWS SDK against the loopback Bedrock
# emulator) and end-to-end (wasm plugins in the host). Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Guests are built for WASI 0.2 by the end-to-end tests themselves.
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

cargo test --workspace "$@"
