"""A partition held by a transaction its producer leaves open shows on ``/health`` and
``/metrics`` while the worker's other partitions go on (``streams.partition_progress``).

An outside probe held one partition of a worker for minutes this way: every consumer reads
``read_committed``, so none passes the open transaction's first record until the broker aborts
it, and the records produced behind it wait. ``/health`` said ok throughout. Here the worker
stalls a partition after 3 s; the broker aborts an open transaction after 60 s
(``transaction.max.timeout.ms`` of ``chatguard broker``), so the test aborts it itself before."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from chatguard.settings import Settings
from streams.partition_progress import CHECK_EVERY_S
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import Record, chat_message, consume

pytestmark = pytest.mark.e2e

HELD, OTHER = 0, 1  # partitions of chat.messages
STALL_S = 3
DEADLINE_S = 40.0  # well inside the 60 s the broker lets a transaction stay open


def _chat(event_id: str) -> bytes:
    return chat_message(event_id, "see you at the station at seven", "conv-stall", "someone")


def _health(worker: WorkerProcess) -> dict[str, Any]:
    status, body = worker.get("/health")
    assert status == 200, body  # degraded or not, never a reason to restart the worker
    answer: dict[str, Any] = json.loads(body)
    return answer


def _metric(worker: WorkerProcess, name: str, topic: str, partition: int) -> float | None:
    status, body = worker.get("/metrics")
    assert status == 200
    wanted = f'{name}{{partition="{partition}",topic="{topic}"}} '
    for line in body.decode().splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return None


@pytest.mark.parametrize("ingest", ["batch", "rdkafka", "faust"])
def test_a_partition_held_by_an_open_transaction_is_degraded_health_until_it_moves(
    broker: str,
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    ingest: str,
) -> None:
    settings = stream_settings
    worker = start_worker(
        env={"CHATGUARD_INGEST": ingest, "CHATGUARD_PARTITION_STALL_S": str(STALL_S)}
    )
    worker.wait_ready()
    topic = settings.topic("chat.messages")
    assert _health(worker)["status"] == "ok"

    plain = Producer({"bootstrap.servers": broker})
    holder = Producer(
        {
            "bootstrap.servers": broker,
            "transactional.id": f"{settings.app_id}-holder-{uuid.uuid4().hex[:6]}",
            "transaction.timeout.ms": 60_000,
        }
    )
    holder.init_transactions(10)
    holder.begin_transaction()
    holder.produce(topic, _chat("held-open"), b"held-open", partition=HELD)
    assert holder.flush(10) == 0  # written: the partition's last stable offset stops here
    behind: list[str] = []
    other: list[str] = []
    try:
        # ordinary messages keep arriving, behind the transaction and on another partition
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for partition, ids in ((HELD, behind), (OTHER, other)):
                ids.append(f"p{partition}-{len(ids)}")
                plain.produce(topic, _chat(ids[-1]), ids[-1].encode(), partition=partition)
            plain.flush(10)
            answer = _health(worker)
            if answer["status"] == "degraded":
                break
            assert answer["status"] == "ok", answer
            assert time.monotonic() < deadline, f"/health never named the partition: {answer}"
            time.sleep(0.5)
        [stalled] = answer["stalled_partitions"]
        assert (stalled["topic"], stalled["partition"]) == (topic, HELD), answer
        assert stalled["end"] > stalled["position"] and stalled["seconds"] >= STALL_S
        assert answer["crashed_agents"] == {} and answer["stalled_producers"] == {}
        lag = _metric(worker, "chatguard_partition_lag", topic, HELD)
        assert lag is not None and lag >= stalled["end"] - stalled["position"] > 0
        waited = _metric(worker, "chatguard_partition_stalled_seconds", topic, HELD)
        assert waited is not None and waited >= STALL_S - CHECK_EVERY_S  # a reading behind
        assert _metric(worker, "chatguard_partition_stalled_seconds", topic, OTHER) == 0

        # the other partition was moderated meanwhile
        decided = consume(settings, ["moderation.decisions"], until=_decided(other), timeout=60)
        assert _decided(other)(decided)
    finally:
        holder.abort_transaction(10)

    # the records behind it are moderated, and /health is ok again
    decided = consume(settings, ["moderation.decisions"], until=_decided(behind), timeout=60)
    assert _decided(behind)(decided)
    deadline = time.monotonic() + DEADLINE_S
    while (answer := _health(worker))["status"] != "ok" or (
        _metric(worker, "chatguard_partition_lag", topic, HELD) != 0
    ):
        assert time.monotonic() < deadline, f"/health stayed degraded: {answer}"
        time.sleep(0.5)
    assert answer["stalled_partitions"] == []
    assert _metric(worker, "chatguard_partition_stalled_seconds", topic, HELD) == 0


def _decided(ids: list[str]) -> Callable[[list[Record]], bool]:
    wanted = set(ids)
    return lambda records: wanted <= {r.json()["event_id"] for r in records}
