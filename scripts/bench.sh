#!/usr/bin/env bash
# The stream benchmark from a fresh clone: .venv (created if missing) -> install chatguard ->
# benchmarks/stream.py, which starts its own broker on port 19092 and stops it at the end.
# Arguments go to the benchmark, e.g. scripts/bench.sh --events 50000 --latency-seconds 30
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
mkdir -p .run
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "== installing chatguard into .venv"
if ! .venv/bin/pip install -q --disable-pip-version-check -e . >.run/bench-install.log 2>&1; then
    cat .run/bench-install.log >&2
    exit 1
fi
exec .venv/bin/python benchmarks/stream.py "$@"
