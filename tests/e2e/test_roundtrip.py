"""The harness end to end: events produced to a real topic come out of a Faust agent running in
a separate worker process, through the real broker (no in-memory test doubles)."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from tests.e2e.conftest import UniqueNames, WorkerFactory
from tests.e2e.kafka_helpers import consume_all, create_topics, produce_json

pytestmark = pytest.mark.e2e

PARTITIONS = 4
ECHO_WORKER = (sys.executable, "-m", "faust", "-A", "tests.e2e.echo_app", "worker", "-l", "info")


@pytest.mark.slow
def test_events_round_trip_through_a_faust_worker_process(
    broker: str, unique_names: UniqueNames, worker_process: WorkerFactory
) -> None:
    source, sink = unique_names.topic("echo.in"), unique_names.topic("echo.out")
    create_topics(broker, [source, sink], partitions=PARTITIONS)
    worker = worker_process(ECHO_WORKER, env={"CHATGUARD_TOPIC_PARTITIONS": str(PARTITIONS)})
    worker.wait_for_log("[^Worker]: Ready", timeout=90)

    events = [(f"user-{i % 7}", {"n": i, "text": f"message {i} — 你好"}) for i in range(200)]
    produce_json(broker, source, events)
    out = consume_all(broker, sink, count=len(events), timeout=60, quiet_for=1.0)

    sent = Counter((key.encode(), value["n"]) for key, value in events)
    received = Counter(((r.key or b""), r.json()["n"]) for r in out)
    assert received == sent, f"{len(out)} of {len(events)} came out\n{worker.log_tail()}"
    assert {r.json()["text"] for r in out} == {value["text"] for _, value in events}
    # the same key lands on the same partition, so per-key order survives the hop
    for key in {k for k, _ in events}:
        ns = [r.json()["n"] for r in sorted(out, key=lambda r: r.offset) if r.key == key.encode()]
        assert ns == sorted(ns), key
    assert len({r.partition for r in out}) > 1  # the agent read every input partition

    assert worker.stop() == 0, worker.log_tail()  # SIGTERM: a clean Faust shutdown
