#!/usr/bin/env bash
# The README's main command: on a fresh machine, set everything up and show chatguard working.
# Broker (real Kafka, KRaft) -> default model (`train --recipe default`) -> one worker ->
# sample traffic in English and Chinese (some malformed) -> decisions printed as they arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${CHATGUARD_DEMO_BROKER_PORT:-9092}"
COUNT="${CHATGUARD_DEMO_EVENTS:-200}"
PYTHON="${PYTHON:-python3}"
mkdir -p .run

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "== installing chatguard into .venv"
if ! .venv/bin/pip install -q --disable-pip-version-check -e . >.run/demo-install.log 2>&1; then
    cat .run/demo-install.log >&2
    exit 1
fi
export PATH="$PWD/.venv/bin:$PATH"
export CHATGUARD_BROKER="kafka://127.0.0.1:${PORT}"
# a fresh topic prefix and group per run, so what is printed is this run's traffic only
run_id="demo$(date +%s)"
export CHATGUARD_TOPIC_PREFIX="${CHATGUARD_TOPIC_PREFIX:-${run_id}.}"
export CHATGUARD_APP_ID="${CHATGUARD_APP_ID:-${run_id}}"
export CHATGUARD_DATA_DIR="${CHATGUARD_DATA_DIR:-.run/${run_id}}"
# the key the moderation tool signs labels and report decisions with; a fresh one per run here
# (in production a file only the moderation tool and the workers can read)
if [ -z "${CHATGUARD_MODERATOR_HMAC_KEY:-}" ] && [ -z "${CHATGUARD_MODERATOR_HMAC_KEY_FILE:-}" ]; then
    CHATGUARD_MODERATOR_HMAC_KEY="demo-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    export CHATGUARD_MODERATOR_HMAC_KEY
fi
# the key the fleet signs its internal records with (strike signals, seen events...): likewise
if [ -z "${CHATGUARD_FLEET_KEY:-}" ] && [ -z "${CHATGUARD_FLEET_KEY_FILE:-}" ]; then
    CHATGUARD_FLEET_KEY="demo-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    export CHATGUARD_FLEET_KEY
fi

started_broker=0
worker_pid=""
cleanup() {
    if [ -n "$worker_pid" ]; then
        kill -TERM "$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
    fi
    if [ "$started_broker" = 1 ] && [ "${CHATGUARD_DEMO_KEEP_BROKER:-0}" != 1 ]; then
        chatguard broker stop --port "$PORT" || true
    fi
}
trap cleanup EXIT INT TERM

echo "== broker"
if ! chatguard broker status --port "$PORT" >/dev/null 2>&1; then
    chatguard broker start --port "$PORT"
    started_broker=1
else
    chatguard broker status --port "$PORT"
fi

echo "== model signing keys"
# promotion signs with the private key; the worker loads only models signed by it
new_keys=0
if [ ! -f "${CHATGUARD_MODEL_SIGNING_KEY:-keys/model-signing.key}" ]; then
    chatguard keys init
    new_keys=1
else
    echo "using ${CHATGUARD_MODEL_SIGNING_KEY:-keys/model-signing.key}"
fi

echo "== model"
if ! chatguard models 2>/dev/null | grep -q '^\*'; then
    chatguard train --recipe default --promote
elif [ "$new_keys" = 1 ]; then
    chatguard keys sign # a model promoted before this checkout had keys
fi
chatguard models

echo "== worker (log: .run/demo-worker.log)"
chatguard worker -l info >.run/demo-worker.log 2>&1 &
worker_pid=$!
web_port="${CHATGUARD_WEB_PORT:-6066}"
for attempt in $(seq 1 120); do
    if "$PYTHON" - "$web_port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ready", timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    if ! kill -0 "$worker_pid" 2>/dev/null; then
        echo "worker exited; last lines of .run/demo-worker.log:" >&2
        tail -n 40 .run/demo-worker.log >&2
        exit 1
    fi
    if [ "$attempt" = 120 ]; then
        echo "worker not ready after 120s; see .run/demo-worker.log" >&2
        exit 1
    fi
    sleep 1
done

echo "== sample traffic: $COUNT events"
chatguard produce --count "$COUNT" --reports 20

echo "== decisions as they arrive (allow / review / block, dead letters)"
chatguard tail --topic all --from-beginning --timeout "${CHATGUARD_DEMO_TAIL_S:-15}"
echo "== decisions by action"
curl_metrics() {
    "$PYTHON" - "$web_port" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2).read().decode()
print("\n".join(l for l in body.splitlines() if l.startswith(("chatguard_decisions_total", "chatguard_dead_letters_total", "chatguard_account_actions_total"))))
PY
}
curl_metrics
echo "== metrics: http://127.0.0.1:${web_port}/metrics"
