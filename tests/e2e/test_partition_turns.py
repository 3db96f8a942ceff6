"""A backlog on one partition does not hold up the worker's other partitions: each partition
takes its turn in a batch, on both batch readers. aiokafka hands out a partition's fetched
records before the next partition's, and one fetch of compressed records holds thousands;
librdkafka hands out records in the order it fetched them ahead. An outside probe's flood of one
partition delayed decisions on the others by up to 315 s (aiokafka) and 236 s (librdkafka)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from itertools import pairwise

import pytest

from chatguard.settings import Settings
from streams.topics import ensure_topics_sync
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


LONG_BACKLOG = 600
# a long text of its own per event (nothing is scored once for many), 20,000 characters as the
# limit allows: a compressed record batch of them is small, so one fetch holds hundreds
LONG_TEXT = "the minutes of the meeting, item by item, with every figure read out " * 290


def _long_chat(event_id: str) -> bytes:
    return chat_message(event_id, f"{event_id} {LONG_TEXT}"[:20_000], "conv-1", "busy-sender")


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_a_flood_of_long_texts_is_read_in_batches_of_bytes_not_of_records(
    broker: str,
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    ingest: str,
) -> None:
    """A batch of 256 texts of 20,000 characters took 6.5 s to score, and a message on another
    partition waited behind one or two of them. A batch ends at ``CHATGUARD_BATCH_MAX_BYTES``
    too (256 KiB: about thirteen such texts). The events of one batch share their ``decided_at``,
    so the batches are counted from the decisions, which a busy machine does not change."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    topic = settings.topic("chat.messages")
    backlog = [f"long-{i}" for i in range(LONG_BACKLOG)]
    produce_batches(broker, topic, 0, [("zstd", [key]) for key in backlog], value=_long_chat)
    consume(settings, ["moderation.decisions"], until=bool, timeout=120)
    sent_at = time.time()
    produce_batches(broker, topic, settings.topic_partitions - 1, [("zstd", ["other"])], _chat)

    def all_decided(records: list[Record]) -> bool:
        return len({r.json()["event_id"] for r in records}) >= LONG_BACKLOG + 1

    records = consume(settings, ["moderation.decisions"], until=all_decided, timeout=600)
    decided_at = {r.json()["event_id"]: r.json()["decided_at"] for r in records}
    assert len(decided_at) == LONG_BACKLOG + 1
    assert len(records) == len(decided_at), "an event was decided twice"
    batches = Counter(decided_at[event_id] for event_id in backlog)
    per_batch = settings.batch_max_bytes // len(_long_chat(backlog[0])) + 1
    other = decided_at["other"]
    ahead = sum(1 for event_id in backlog if sent_at <= decided_at[event_id] <= other)
    print(
        f"{ingest}: batches of up to {max(batches.values())} long events; the other partition's "
        f"event waited {other - sent_at:.1f} s, behind {ahead} of them"
    )
    assert max(batches.values()) <= per_batch
    assert any(decided_at[event_id] > other for event_id in backlog), "it waited for them all"


MIXED = 2_000
BIG_EVERY = 100  # one record in a hundred is far over a batch's bytes
BIG_TEXT = "spam " * 60_000  # 300 KB: over the event size limit, a dead letter of its own


def _mixed(key: str) -> bytes:
    index = int(key.rsplit("-", 1)[1])
    text = BIG_TEXT if index % BIG_EVERY == BIG_EVERY - 1 else "see you at the station at seven"
    return chat_message(key, text, "conv-1", "mixed-sender")


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_a_batch_whose_record_sizes_jump_is_read_once_in_order(
    broker: str,
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    ingest: str,
) -> None:
    """Short records with one of 300 KB every hundred, in one zstd record batch: a reader asks
    for a batch's worth of short ones and gets a long one among them, which the batch's 256 KiB
    have no room for. What is left out waits for the next batch (``streams.carried_records``):
    fetched again instead, the whole record batch came back decompressed each time, and an
    outside probe's 154 KB batch of this shape held its partition 103–113 s. Every record gets
    one outcome, a decision or a dead letter, and none two."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    topic = settings.topic("chat.messages")
    keys = [f"mixed-{i}" for i in range(MIXED)]
    [base] = produce_batches(
        broker, topic, 0, [("zstd", keys)], value=_mixed, batch_bytes=16_000_000
    )

    def outcomes(records: list[Record]) -> list[int]:
        return [
            r.json()["source_offset"]
            for r in records
            if r.json().get("source_topic") == topic and r.json().get("source_partition") == 0
        ]

    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda records: len(set(outcomes(records))) >= MIXED,
        timeout=300,
        quiet_for=2.0,
    )
    offsets = outcomes(records)
    assert sorted(set(offsets)) == list(range(base, base + MIXED))
    assert len(offsets) == MIXED, "a record got two outcomes"
    dead = [r.json() for r in records if r.topic == settings.topic("moderation.deadletter")]
    assert len(dead) == MIXED // BIG_EVERY  # the long ones, as oversize events
    assert {d["source_offset"] - base for d in dead} == set(range(BIG_EVERY - 1, MIXED, BIG_EVERY))
    # batches are decided in the order they were read: a record carried to the next batch is
    # never decided after a later one
    decided = sorted(
        (r.json()["source_offset"], r.json()["decided_at"])
        for r in records
        if r.topic == settings.topic("moderation.decisions")
    )
    assert len(decided) == MIXED - len(dead)
    late = [(a, b) for a, b in pairwise(decided) if b[1] < a[1]]
    assert not late, f"decided out of offset order: {late[:3]}"


HEAVY_BACKLOG = 300
# what a producer may attach to a record and chatguard never reads, but a batch holds
HEAVY_HEADERS = [("trace", b"0123456789abcdef" * 3_750)]  # 60 KB


def test_a_flood_of_short_texts_under_heavy_headers_is_read_in_batches_of_bytes(
    broker: str,
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
) -> None:
    """Headers count towards a batch's bytes: short texts under 60 KB of headers each came in
    batches of 256 records (15 MB) when only keys and values were counted."""
    settings = stream_settings
    ensure_topics_sync(settings)  # the backlog is there before the worker starts
    topic = settings.topic("chat.messages")
    backlog = [f"heavy-{i}" for i in range(HEAVY_BACKLOG)]
    produce_batches(
        broker,
        topic,
        0,
        [("zstd", [key]) for key in backlog],
        value=_chat,
        headers=lambda _: HEAVY_HEADERS,
    )
    start_worker().wait_ready()

    def all_decided(records: list[Record]) -> bool:
        return len({r.json()["event_id"] for r in records}) >= HEAVY_BACKLOG

    records = consume(settings, ["moderation.decisions"], until=all_decided, timeout=300)
    decided_at = {r.json()["event_id"]: r.json()["decided_at"] for r in records}
    assert set(decided_at) == set(backlog)
    assert len(records) == len(decided_at), "an event was decided twice"
    batches = Counter(decided_at.values())
    heavy = len(_chat(backlog[0])) + len(HEAVY_HEADERS[0][0]) + len(HEAVY_HEADERS[0][1])
    print(f"batches of up to {max(batches.values())} records under heavy headers")
    assert max(batches.values()) <= settings.batch_max_bytes // heavy + 1
