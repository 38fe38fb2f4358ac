#!/usr/bin/env bash
# The public API of the crates embedders use, against the last release: the commit named in
# .ci/semver-baseline (a git baseline while nothing is on crates.io; 0.2.0 today). Move it
# when a release is cut. A change that breaks
# embedders fails here unless the workspace version says it breaks (0.x: the minor number).
#
#   bash scripts/semver.sh
#
# Installs cargo-semver-checks (pinned) once. The host is checked without its CLI feature
# (the library embedders depend on), with MCP.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.51.0
if ! cargo semver-checks --version 2>/dev/null | grep -q " $version\$"; then
    echo "== installing cargo-semver-checks $version (once)"
    # A debug build: it compiles in half the time, and its checks take seconds either way.
    cargo install cargo-semver-checks --version "$version" --locked --debug
fi
baseline="$(tr -d '[:space:]' < .ci/semver-baseline)"
echo "== cargo semver-checks against $baseline"
cargo semver-checks --baseline-rev "$baseline" -p gamecode-backend
cargo semver-checks --baseline-rev "$baseline" -p gamecode-bedrock
cargo semver-checks --baseline-rev "$baseline" -p gamecode-host \
    --only-explicit-features --features mcp
