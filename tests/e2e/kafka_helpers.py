"""Plain helpers for end-to-end tests: reach the broker, produce, and read topics back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition

from chatguard.settings import Settings
from streams.produce import OutgoingEvent, send_events
from streams.topics import client_options, ensure_topics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    async def fetch() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return True
        finally:
            await client.close()

    try:
        return asyncio.run(fetch())
    except Exception:
        return False


@dataclass(frozen=True)
class Record:
    """A record read back from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int

    def json(self) -> Any:
        return orjson.loads(self.value)


def produce(
    settings: Settings, events: Sequence[OutgoingEvent], rate: float | None = None
) -> float:
    """Create the topics if needed and produce ``events``; seconds taken."""

    async def run() -> float:
        await ensure_topics(settings)
        return await send_events(settings, events, rate=rate)

    return asyncio.run(run())


def consume(
    settings: Settings,
    logical_topics: Sequence[str],
    *,
    until: Callable[[list[Record]], bool],
    timeout: float = 120.0,
    read_committed: bool = False,
    quiet_for: float = 0.0,
) -> list[Record]:
    """Read ``logical_topics`` from the beginning until ``until(records)`` or ``timeout``.

    ``quiet_for`` keeps reading that many seconds after ``until`` holds, so a test can see
    duplicates that arrive late.
    """
    return asyncio.run(
        _consume(settings, logical_topics, until, timeout, read_committed, quiet_for)
    )


async def _consume(
    settings: Settings,
    logical_topics: Sequence[str],
    until: Callable[[list[Record]], bool],
    timeout: float,
    read_committed: bool,
    quiet_for: float,
) -> list[Record]:
    await ensure_topics(settings)
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        **client_options(settings),  # type: ignore[arg-type]
    )
    await consumer.start()
    records: list[Record] = []
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(settings.topic(name), p)
            for name in logical_topics
            for p in sorted(consumer.partitions_for_topic(settings.topic(name)) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        done_at: float | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, messages in batches.items():
                records.extend(
                    Record(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                    for m in messages
                )
            if done_at is None and until(records):
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at >= quiet_for:
                break
    finally:
        await consumer.stop()
    return records


def outcome_keys(records: Sequence[Record], settings: Settings) -> tuple[list[str], list[str]]:
    """Event ids with a decision, and keys (event ids) of dead letters, duplicates kept."""
    decided = [
        r.json()["event_id"] for r in records if r.topic == settings.topic("moderation.decisions")
    ]
    dead = [
        (r.key or b"").decode()
        for r in records
        if r.topic == settings.topic("moderation.deadletter")
    ]
    return decided, dead


def accounted(records: Sequence[Record], settings: Settings) -> set[str]:
    """Event ids that have a decision or a dead letter so far."""
    decided, dead = outcome_keys(records, settings)
    return set(decided) | set(dead)
