#!/usr/bin/env bash
# Builds every guest component:
#
#   rust         guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm
#   python       guest-example/python/target/agent_py.wasm      (componentize-py, in a venv)
#   js           guest-example/js/target/agent_js.wasm          (componentize-js, npm ci)
#   test-guests  tests/guests/target/wasm32-wasip2/release/*.wasm (the host's adversarial guests)
#
#   bash scripts/build-guests.sh                 # all of them
#   bash scripts/build-guests.sh python js       # some of them
#   bash scripts/build-guests.sh --test          # ... and each example's unit tests, natively
#
# Needs Rust (rustup), Python 3.10+ and Node 20+; every other tool is installed at a pinned
# version by the per-language scripts. Idempotent: a second run rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

test_flag=()
targets=()
for arg in "$@"; do
    case "$arg" in
        --test) test_flag=(--test) ;;
        rust | python | js | test-guests) targets+=("$arg") ;;
        *)
            echo "usage: $0 [--test] [rust] [python] [js] [test-guests]" >&2
            exit 2
            ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(rust python js test-guests)

wants() {
    local t
    for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}

if { wants rust || wants test-guests; } && command -v rustup >/dev/null 2>&1 &&
    ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

outputs=()
if wants rust; then
    if [ ${#test_flag[@]} -gt 0 ]; then
        echo "== rust: unit tests"
        cargo test --manifest-path guest-example/Cargo.toml --target-dir guest-example/target
    fi
    echo "== rust: cargo build --target wasm32-wasip2 --release"
    cargo build --manifest-path guest-example/Cargo.toml --target wasm32-wasip2 --release \
        --target-dir guest-example/target
    outputs+=(guest-example/target/wasm32-wasip2/release/gamecode_guest_example.wasm)
fi
if wants python; then
    bash guest-example/python/build.sh "${test_flag[@]}"
    outputs+=(guest-example/python/target/agent_py.wasm)
fi
if wants js; then
    bash guest-example/js/build.sh "${test_flag[@]}"
    outputs+=(guest-example/js/target/agent_js.wasm)
fi
if wants test-guests; then
    echo "== test guests: cargo build --target wasm32-wasip2 --release"
    cargo build --manifest-path tests/guests/Cargo.toml --target wasm32-wasip2 --release \
        --target-dir tests/guests/target
    outputs+=(tests/guests/target/wasm32-wasip2/release/*.wasm)
fi

echo "== components"
for f in "${outputs[@]}"; do
    printf '%10s  %s\n' "$(wc -c <"$f")" "$f"
done
