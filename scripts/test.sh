#!/usr/bin/env bash
# The README's test command: on a fresh machine, set everything up and run every check.
# .venv (created if missing) -> install with the dev extra -> ruff, mypy -> a real Kafka broker
# (started unless one already answers; stopped again afterwards, also on failure or Ctrl-C)
# -> pytest (the end-to-end tests, and beside them the unit and agent tests). Every check runs
# even when an earlier one failed; the exit status is non-zero if any failed. Extra arguments go
# to one pytest run instead, e.g. `scripts/test.sh tests/unit -x`.
#
# CHATGUARD_TEST_BROKER_PORT  broker port (default 9092); the tests get it as CHATGUARD_BROKER
# PYTHON                      interpreter for a new .venv (default python3.11, else python3)
# CI=true                     an unreachable broker fails the end-to-end tests instead of skipping
set -uo pipefail
cd "$(dirname "$0")/.."

PORT="${CHATGUARD_TEST_BROKER_PORT:-9092}"
export CHATGUARD_BROKER="kafka://127.0.0.1:${PORT}"

step() { printf '\n== %s\n' "$*"; }
failed=()
check() {  # run a check, remember it if it failed, go on
    local name="$1"
    shift
    step "$name"
    "$@" || failed+=("$name")
}

started_broker=0
unit_pid=""
cleanup() {
    if [ -n "$unit_pid" ]; then
        kill "$unit_pid" 2>/dev/null || true
    fi
    if [ "$started_broker" = 1 ]; then
        step "stopping the broker this run started (port ${PORT})"
        .venv/bin/chatguard broker stop --port "$PORT" || true
    fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

if [ ! -x .venv/bin/python ]; then
    PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
    if [ -z "$PYTHON" ]; then
        echo "no python3.11 (or python3) on PATH: chatguard needs Python 3.11+" >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "$PYTHON is $("$PYTHON" --version 2>&1); chatguard needs Python 3.11+ (set PYTHON=...)" >&2
        exit 1
    fi
    step "creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv .venv || exit 1
fi
step "installing chatguard with its dev extra"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip &&
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' || {
    echo "installing chatguard failed" >&2
    exit 1
}

check "ruff check" .venv/bin/ruff check .
check "ruff format --check" .venv/bin/ruff format --check .
check "mypy" .venv/bin/mypy

step "Kafka broker on 127.0.0.1:${PORT}"
if .venv/bin/chatguard broker status --port "$PORT"; then
    echo "using the broker that is already running; it is left running"
else
    started_broker=1 # before start: Ctrl-C during start-up still stops it
    if ! .venv/bin/chatguard broker start --port "$PORT"; then
        echo "the Kafka broker did not start (the message above says why)" >&2
        exit 1
    fi
fi

if [ "$#" -gt 0 ]; then
    step "pytest $*"
    .venv/bin/pytest "$@"
    status=$?
else
    # The end-to-end tests mostly wait on the broker and their workers; the unit and agent tests
    # are CPU-bound: run both at once (on 2 cores, the whole suite took 33 min one after the
    # other). The outage tests join the CPU-bound ones: they spend two minutes waiting on a
    # broker of their own that is stopped. The second run's output follows the first's.
    beside=(tests/unit tests/agents tests/e2e/test_outage.py)
    step "pytest tests/e2e, with ${beside[*]} beside it"
    unit_log=$(mktemp)
    .venv/bin/pytest "${beside[@]}" >"$unit_log" 2>&1 &
    unit_pid=$!
    .venv/bin/pytest tests/e2e --ignore=tests/e2e/test_outage.py
    status=$?
    wait "$unit_pid"
    unit_status=$?
    unit_pid=""
    step "pytest ${beside[*]} (run beside the end-to-end tests)"
    cat "$unit_log"
    rm -f "$unit_log"
    [ "$status" = 0 ] && status=$unit_status
fi
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
fi
[ "$status" = 0 ] || failed+=("pytest (exit $status)")

if [ "${#failed[@]}" -gt 0 ]; then
    summary=$(printf '%s; ' "${failed[@]}")
    step "FAILED: ${summary%; }"
    exit 1
fi
step "all checks passed"
