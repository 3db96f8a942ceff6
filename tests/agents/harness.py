"""What agent tests share: a sink that records what would be sent, and putting records on an
agent in Faust's ``test_context`` as if they had been read from a named topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from faust.types import AgentT, Message

from chatguard.settings import Settings
from streams.agents import Worker
from streams.pipeline import Outgoing

MODERATOR_KEY = b"moderators-test-key"


class RecordingSink:
    """Collects what the pipeline would send, per topic (the worker's ``OutputSink``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent: list[tuple[str, bytes | None, dict[str, Any]]] = []
        self.records: list[Outgoing] = []  # as handed over, with the input each one answers

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        self.sent.extend((r.topic, r.key, orjson.loads(r.value)) for r in records)
        self.records.extend(records)

    async def delivered(self) -> None:
        pass  # kept in memory: delivered on send

    def on(self, logical: str) -> list[dict[str, Any]]:
        return [value for topic, _, value in self.sent if topic == self.settings.topic(logical)]


class NothingToReplay:
    """The worker's reader of ``events.by_id`` (``streams.recent_events.Replay``) with no broker
    behind it: in ``test_context`` no other worker folded anything to read back. The real one
    connected to a broker on port 9092, so these tests passed only where one ran there."""

    async def records(
        self, partition: int, start: int | None, until: int
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        folded: tuple[tuple[int, dict[str, Any]], ...] = ()
        for record in folded:
            yield record

    async def stop(self) -> None:
        pass


def chat(event_id: str, text: Any, **extra: Any) -> bytes:
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": "c1",
        "sender_id": f"acct-{event_id}",
        "text": text,
        "sent_at": 1_700_000_000.0,
        **extra,
    }
    return orjson.dumps(data)


async def put_to(
    agent: AgentT,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes]],
    done: Callable[[], bool],
    timeout: float = 10.0,
    partitions: Sequence[int] | None = None,
    timestamps: Sequence[float] | None = None,
) -> None:
    """Put ``(key, value)`` records on ``agent``'s stream as messages of ``topic`` (its full
    name), at offsets 0, 1, ... (on partition 0, or each on its own of ``partitions``), stamped
    now (or each with its own of ``timestamps``), and wait until ``done()``."""
    async with agent.test_context() as context:
        channel = context.stream().channel  # the one the agent iterates
        # a stream drops messages of another consumer generation (from before a rebalance)
        generation = agent.app.consumer_generation_id
        for offset, (key, value) in enumerate(records):
            partition = partitions[offset] if partitions is not None else 0
            message = Message(
                topic,
                partition,
                offset,
                timestamps[offset] if timestamps is not None else time.time(),
                0,
                None,
                key,
                value,
                None,
                generation_id=generation,
            )
            await channel.put(await channel.decode(message))
        deadline = asyncio.get_running_loop().time() + timeout
        while not done():
            assert asyncio.get_running_loop().time() < deadline, "the agent did not finish"
            await asyncio.sleep(0.02)


async def put_all(
    worker: Worker, sink: RecordingSink, values: list[bytes], timeout: float = 10.0
) -> None:
    """Put chat messages on the moderation agent and wait until each has an outcome."""
    assert worker.moderate_events is not None, "the worker must be on the faust ingest path"
    records = [(f"k{i}".encode(), value) for i, value in enumerate(values)]

    def decided() -> bool:
        outcomes = sink.on("moderation.decisions") + sink.on("moderation.deadletter")
        return len(outcomes) >= len(values)

    topic = worker.settings.topic("chat.messages")
    await put_to(worker.moderate_events, topic, records, decided, timeout)


def signed_label(
    event_id: str, categories: Any, key: bytes = MODERATOR_KEY, at: float | None = None
) -> bytes:
    """A label as the moderation tool sends it: signed with ``key`` (``streams.moderators``),
    at ``at`` (now unless given: an old label is refused as a replay)."""
    from streams import moderators

    data = {
        "type": "moderator.label",
        "event_id": event_id,
        "text": f"text of {event_id}",
        "categories": categories,
        "moderator_id": "m1",
        "labelled_at": time.time() if at is None else at,
    }
    return orjson.dumps(moderators.sign(data, key))


async def store_labels(
    worker: Worker, sink: Any, records: list[tuple[bytes, bytes]], stored: int, sent: int
) -> list[dict[str, Any]]:
    """Put ``records`` to the labels agent until ``stored`` rows are in the label store and
    ``sink`` has ``sent`` records; the stored rows."""
    path = worker.label_store.path

    def rows() -> int:
        return len(path.read_text().splitlines()) if path.exists() else 0

    await put_to(
        worker.store_labels,
        worker.settings.topic("moderator.labels"),
        records,
        lambda: rows() >= stored and len(sink.sent) >= sent,
    )
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
