#!/usr/bin/env bash
# The README's test command: on a fresh machine, set everything up and run every check.
# .venv (created if missing) -> install with the dev extra -> ruff, mypy -> a real Kafka broker
# (started unless one already answers; stopped again afterwards, also on failure) -> pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -x`.
set -uo pipefail
cd "$(dirname "$0")/.."

PORT="${CHATGUARD_TEST_BROKER_PORT:-9092}"
PYTHON="${PYTHON:-python3}"
export CHATGUARD_BROKER="kafka://127.0.0.1:${PORT}"

step() { printf '\n== %s\n' "$*"; }
started_broker=0
cleanup() {
    if [ "$started_broker" = 1 ]; then
        step "stopping the broker"
        .venv/bin/chatguard broker stop --port "$PORT" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

set -e
if [ ! -x .venv/bin/python ]; then
    step "creating .venv"
    "$PYTHON" -m venv .venv
fi
step "installing chatguard with its dev extra"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy

step "Kafka broker on 127.0.0.1:${PORT}"
if .venv/bin/chatguard broker status --port "$PORT" >/dev/null 2>&1; then
    .venv/bin/chatguard broker status --port "$PORT"
else
    .venv/bin/chatguard broker start --port "$PORT"
    started_broker=1
fi
set +e

step "pytest"
.venv/bin/pytest "$@"
status=$?
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    status=1
fi
exit "$status"
