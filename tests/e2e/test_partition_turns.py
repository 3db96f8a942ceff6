"""A backlog on one partition does not hold up the worker's other partitions: each partition
takes its turn in a batch, on both batch readers. aiokafka hands out a partition's fetched
records before the next partition's, and one fetch of compressed records holds thousands;
librdkafka hands out records in the order it fetched them ahead. An outside probe's flood of one
partition delayed decisions on the others by up to 315 s (aiokafka) and 236 s (librdkafka)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chatguard.settings import Settings
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import Record, chat_message, consume, produce_batches

pytestmark = pytest.mark.e2e

BACKLOG = 4_000
PER_BATCH = 6  # records per zstd batch: each fits the producer's 16 KB batch
# long and alike: a 1 MB fetch of such compressed batches holds the whole backlog
TEXT = "see you at the station at seven, bring the tickets and the snacks " * 30


def _chat(event_id: str) -> bytes:
    return chat_message(event_id, TEXT, "conv-1", "busy-sender")


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_a_backlog_on_one_partition_waits_its_turn_behind_a_message_on_another(
    broker: str,
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    ingest: str,
) -> None:
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    topic = settings.topic("chat.messages")
    backlog = [f"backlog-{i}" for i in range(BACKLOG)]
    chunks = [backlog[i : i + PER_BATCH] for i in range(0, BACKLOG, PER_BATCH)]
    produce_batches(broker, topic, 0, [("zstd", chunk) for chunk in chunks], value=_chat)
    # once the worker is working through the backlog, a message on another partition
    consume(settings, ["moderation.decisions"], until=bool, timeout=120)
    produce_batches(broker, topic, settings.topic_partitions - 1, [("zstd", ["other"])], _chat)

    def all_decided(records: list[Record]) -> bool:
        return len({r.json()["event_id"] for r in records}) >= BACKLOG + 1

    records = consume(settings, ["moderation.decisions"], until=all_decided, timeout=300)
    decided_at = {r.json()["event_id"]: r.json()["decided_at"] for r in records}
    assert len(decided_at) == BACKLOG + 1
    # librdkafka's partition sent to the back is fetched again from after its last record
    assert len(records) == len(decided_at), "an event was decided twice"
    after = sum(1 for event_id in backlog if decided_at[event_id] > decided_at["other"])
    print(f"{after} of {BACKLOG} backlog events were decided after the other partition's event")
    assert after > BACKLOG // 2
