#!/usr/bin/env bash
# Builds the Python plugin: guest-example/python/target/agent_py.wasm, a WASI component for the
# world `plugin` of gamecode:plugin@0.2.1, made by componentize-py (pinned in requirements.txt).
#
#   bash guest-example/python/build.sh          # venv if missing, bindings, component
#   bash guest-example/python/build.sh --test   # ... and the unit tests first (stdlib unittest)
#
# Idempotent: the venv is made once (again when requirements.txt changes), the component is
# rebuilt only when a source, the WIT or the requirements changed. Needs Python 3.10+.
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
OUT=target/agent_py.wasm
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

# 1. The build tool, in a venv of its own.
if [ ! -x .venv/bin/componentize-py ] || ! cmp -s requirements.txt .venv/requirements.installed; then
    echo "== python: creating .venv with $("$PYTHON" --version) and $(grep -v '^#' requirements.txt | tr '\n' ' ')"
    "$PYTHON" -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/requirements.installed
fi
CPY=.venv/bin/componentize-py

# 2. Bindings: typed stubs of the WIT interfaces, for the unit tests and editors. (componentize
#    generates the real ones itself.)
if [ ! -f target/bindings/.stamp ] || [ -n "$(find "$WIT" requirements.txt -newer target/bindings/.stamp)" ]; then
    rm -rf target/bindings
    "$CPY" -d "$WIT" -w plugin bindings target/bindings
    touch target/bindings/.stamp
fi

# 3. Unit tests, natively, against a fake host.
if [ "$run_tests" = 1 ]; then
    echo "== python: unit tests"
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=src:target/bindings:tests \
        .venv/bin/python -m unittest discover -s tests
fi

# 4. The component.
if [ -f "$OUT" ] && [ -z "$(find src "$WIT" requirements.txt -newer "$OUT" \( -name '*.py' -o -name '*.wit' -o -name '*.txt' \))" ]; then
    echo "== python: $OUT is up to date"
    exit 0
fi
echo "== python: componentize-py -> $OUT"
"$CPY" -d "$WIT" -w plugin componentize -p src app -o "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "== python: $OUT ($(wc -c <"$OUT") bytes)"
