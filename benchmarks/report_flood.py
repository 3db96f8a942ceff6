"""Report-flood benchmark: how long an honest pair of reports waits behind forged ones.

    python benchmarks/report_flood.py --broker 127.0.0.1:9092 [--flood 20000] [--retries 20]

Against a running broker (``chatguard broker start``) and one worker subprocess on fresh topics:
moderates two messages, then measures the time from producing an honest pair of reports to the
account's ``review_account``, first alone, then behind ``--flood`` reports of events that never
existed from as many made-up reporters (each is sent back ``--retries`` times, every
``--retry-s`` seconds, before it is refused as ``unknown_event``). Prints both waits, their
ratio, and the rate at which the flood was refused. Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatguard.settings import Settings  # noqa: E402
from models.signing import generate  # noqa: E402
from streams.outgoing import OutgoingEvent  # noqa: E402
from tests.e2e.kafka_helpers import Record, consume, free_port, produce  # noqa: E402

REGISTRY = ROOT / ".run" / "flood-registry"
KEYS = ROOT / ".run" / "flood-keys"


def say(message: str) -> None:
    print(message, flush=True)


def chat(event_id: str, account: str) -> OutgoingEvent:
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": "conv-1",
        "sender_id": account,
        "text": "see you at 7 at the library",
        "sent_at": time.time(),
    }
    return OutgoingEvent("chat.messages", event_id.encode(), orjson.dumps(data), event_id, "valid")


def reports(prefix: str, event_id: str, account: str, n: int, own_event: bool) -> list[Any]:
    """``n`` reports of ``account``'s ``event_id`` (or, unless ``own_event``, each of an event
    of its own that never existed), each from a reporter of its own."""
    out: list[OutgoingEvent] = []
    for i in range(n):
        report_id = f"{prefix}-{i}"
        record: dict[str, Any] = {
            "type": "user.report",
            "report_id": report_id,
            "reporter_id": f"{prefix}-reporter-{i}",
            "event_id": event_id if own_event else f"{event_id}-{i}",
            "account_id": account,
            "reason": "fraud",
            "reported_at": time.time(),
        }
        value = orjson.dumps(record)
        out.append(OutgoingEvent("user.reports", report_id.encode(), value, report_id, "valid"))
    return out


def of(records: list[Record], settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [r.json() for r in records if r.topic == settings.topic(topic)]


def reviewed(settings: Settings, account: str) -> Callable[[list[Record]], bool]:
    def done(records: list[Record]) -> bool:
        actions = of(records, settings, "account.actions")
        return any(a["account_id"] == account for a in actions)

    return done


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the worker exited ({process.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the worker was not ready in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", required=True, help="host:port of a running broker")
    parser.add_argument("--flood", type=int, default=20_000)
    parser.add_argument("--retries", type=int, default=20)
    parser.add_argument("--retry-s", type=float, default=15.0)
    parser.add_argument(
        "--refusal-timeout", type=float, default=1800.0, help="how long to wait for every refusal"
    )
    args = parser.parse_args()

    private, public = KEYS / "model-signing.key", KEYS / "model-signing.pub"
    if not private.exists():
        generate(private, public)
    # promotion signs with the private key, the worker verifies with the public one
    os.environ["CHATGUARD_MODEL_SIGNING_KEY"] = str(private)
    os.environ["CHATGUARD_MODEL_PUBLIC_KEY"] = str(public)
    if not (REGISTRY / "CURRENT").exists():
        say("training the seed model for the benchmark's registry ...")
        command = ["train", "--promote", "--registry", str(REGISTRY), "--quiet"]
        subprocess.run([sys.executable, "-m", "chatguard", *command], cwd=ROOT, check=True)
    run_id = uuid.uuid4().hex[:8]
    port = free_port()
    env = {
        "CHATGUARD_BROKER": f"kafka://{args.broker}",
        "CHATGUARD_TOPIC_PREFIX": f"flood-{run_id}.",
        "CHATGUARD_APP_ID": f"flood-{run_id}",
        "CHATGUARD_WEB_PORT": str(port),
        "CHATGUARD_DATA_DIR": str(ROOT / ".run" / f"flood-{run_id}"),
        "CHATGUARD_REGISTRY": str(REGISTRY),
        "CHATGUARD_REPORT_RETRIES": str(args.retries),
        "CHATGUARD_REPORT_RETRY_S": str(args.retry_s),
    }
    settings = Settings.from_env(env)
    log = ROOT / ".run" / f"flood-{run_id}.log"
    log.parent.mkdir(exist_ok=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "streams", "worker", "-l", "warn"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(port, worker)
        produce(
            settings,
            [chat("quiet-target", "quiet-account"), chat("flood-target", "flooded-account")],
        )
        consume(
            settings,
            ["moderation.decisions"],
            until=lambda rs: len(of(rs, settings, "moderation.decisions")) >= 2,
            timeout=300,
        )
        started = time.monotonic()
        produce(settings, reports("quiet", "quiet-target", "quiet-account", 2, own_event=True))
        consume(
            settings, ["account.actions"], until=reviewed(settings, "quiet-account"), timeout=900
        )
        alone = time.monotonic() - started

        forged = reports("forged", "no-such-event", "anyone", args.flood, own_event=False)
        honest = reports("honest", "flood-target", "flooded-account", 2, own_event=True)
        started = time.monotonic()
        produce(settings, [*forged, *honest])
        consume(
            settings, ["account.actions"], until=reviewed(settings, "flooded-account"), timeout=1800
        )
        behind = time.monotonic() - started

        def refused(records: list[Record]) -> bool:
            return len(of(records, settings, "moderation.deadletter")) >= args.flood

        dead = consume(
            settings, ["moderation.deadletter"], until=refused, timeout=args.refusal_timeout
        )
        all_refused = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    say(
        f"\n{args.flood:,} forged reports, each sent back {args.retries} times every {args.retry_s:g} s"
    )
    say(f"| honest pair → review_account, alone | {alone:.2f} s |")
    say(
        f"| honest pair → review_account, behind the flood | {behind:.2f} s ({behind / alone:.1f}× alone) |"
    )
    count = len(dead)
    say(
        f"| forged reports refused | {count:,} in {all_refused:.1f} s ({count / all_refused:,.0f}/s) |"
    )


if __name__ == "__main__":
    main()
