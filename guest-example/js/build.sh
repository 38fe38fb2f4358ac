#!/usr/bin/env bash
# Builds the JavaScript plugin: guest-example/js/target/agent_js.wasm, a WASI component for the
# world `plugin` of gamecode:plugin@0.2.1, made by componentize-js through its JS API
# (build.mjs; versions pinned in package.json and package-lock.json).
#
#   bash guest-example/js/build.sh          # npm ci if needed, component
#   bash guest-example/js/build.sh --test   # ... and the unit tests first (node --test)
#
# Idempotent: `npm ci` runs when node_modules is missing or older than the lockfile, the
# component is rebuilt only when a source, the WIT, build.mjs or the lockfile changed.
# Needs Node 20+.
set -euo pipefail
cd "$(dirname "$0")"

run_tests=0
for arg in "$@"; do
    case "$arg" in
        --test) run_tests=1 ;;
        *) echo "usage: $0 [--test]" >&2; exit 2 ;;
    esac
done

WIT=../../wit/v0.2.1
OUT=target/agent_js.wasm

# 1. The build tool, exactly as locked.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== js: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi

# 2. Unit tests, natively, against a fake host.
if [ "$run_tests" = 1 ]; then
    echo "== js: unit tests"
    node --test test/
fi

# 3. The component.
if [ -f "$OUT" ] && [ -z "$(find src "$WIT" build.mjs package-lock.json -newer "$OUT")" ]; then
    echo "== js: $OUT is up to date"
    exit 0
fi
echo "== js: componentize-js -> $OUT"
node build.mjs
