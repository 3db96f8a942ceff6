"""Plain helpers for end-to-end tests: reach the broker, create topics, produce, read back.

Two levels:
- plain Kafka, by bootstrap address and physical topic name: :func:`create_topics`,
  :func:`produce_bytes`, :func:`produce_json`, :func:`consume_all`;
- chatguard's own topics through :class:`Settings` (logical names, the prefix applied):
  :func:`produce`, :func:`produce_signed`, :func:`consume`, :func:`outcome_keys`,
  :func:`accounted`.

Each helper runs its own event loop (``asyncio.run``), so tests stay synchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from chatguard.settings import Settings

if TYPE_CHECKING:
    from streams.outgoing import OutgoingEvent

log = logging.getLogger(__name__)


def strike_signal(account: str, event_id: str, **fields: Any) -> dict[str, Any]:
    """An ``account.strikes`` record for a blocked event, as a worker writes it (``fields``
    override any of its fields)."""
    return {
        "signal_id": f"block:{event_id}",
        "kind": "block",
        "event_id": event_id,
        "account_id": account,
        "categories": ["fraud"],
        "weight": 1.0,
        "at": time.time(),
        **fields,
    }


def window_start(window: float) -> float:
    """The start of the current strike window, once at least a minute of it is left: a signal
    from 20 s before that start is a window old in the window's last 20 s, and refused as
    stale (``streams.enforcement.stale_signal``)."""
    while window - time.time() % window < 60:
        time.sleep(1)
    return (time.time() // window) * window


def free_port() -> int:
    """A TCP port nothing listens on right now (for worker web ports and second brokers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when a Kafka client can bootstrap (fetch metadata) from ``bootstrap``."""

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


def create_topics(
    bootstrap: str, topics: Iterable[str], partitions: int = 1, timeout: float = 30.0
) -> None:
    """Create ``topics`` with ``partitions`` each (replication 1); existing ones are left as is.

    Returns once every partition has a leader, so a producer can write at once.
    """
    names = list(topics)

    async def run() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000)
        )
        await admin.start()
        try:
            for name in names:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([NewTopic(name, partitions, 1)])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                described = await admin.describe_topics(names)
                if all(
                    t["error_code"] == 0
                    and len(t["partitions"]) >= partitions
                    and all(p["leader"] >= 0 for p in t["partitions"])
                    for t in described
                ):
                    return
                await asyncio.sleep(0.2)
            msg = f"topics {names} not ready on {bootstrap} after {timeout:.0f}s"
            raise TimeoutError(msg)
        finally:
            await admin.close()

    asyncio.run(run())


def produce_bytes(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]
) -> None:
    """Send ``(key, value)`` pairs to ``topic`` and wait until the broker acknowledged each."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            sent = [await producer.send(topic, value, key=key) for key, value in records]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    asyncio.run(run())


def produce_batches(
    bootstrap: str,
    topic: str,
    partition: int,
    batches: Sequence[tuple[str, Sequence[str]]],
    value: Callable[[str], bytes] = str.encode,
    headers: Callable[[str], list[tuple[str, bytes]]] | None = None,
    batch_bytes: int = 16_384,
) -> list[int]:
    """Each ``(codec, keys)`` as one record batch on ``topic``'s ``partition``, in order, each
    record's value ``value(key)`` (by default the key) and its headers ``headers(key)`` (by
    default none), up to ``batch_bytes`` a batch before compression (the producer's default
    16 KB unless said); the base offset of each batch."""

    async def run() -> list[int]:
        producers: dict[str, AIOKafkaProducer] = {}
        offsets = []
        try:
            for codec, keys in batches:
                if codec not in producers:
                    producers[codec] = AIOKafkaProducer(
                        bootstrap_servers=bootstrap,
                        compression_type=codec,
                        acks="all",
                        max_batch_size=batch_bytes,
                        max_request_size=max(batch_bytes, 1_048_576),
                    )
                    await producers[codec].start()
                batch = producers[codec].create_batch()
                for key in keys:
                    assert batch.append(
                        key=key.encode(),
                        value=value(key),
                        timestamp=None,
                        headers=headers(key) if headers else None,
                    )
                sent = await producers[codec].send_batch(batch, topic, partition=partition)
                offsets.append((await sent).offset)
        finally:
            for producer in producers.values():
                await producer.stop()
        return offsets

    return asyncio.run(run())


def produce_json(bootstrap: str, topic: str, records: Iterable[tuple[str | None, Any]]) -> None:
    """Send ``(key, object)`` pairs as UTF-8 key and JSON value."""
    produce_bytes(
        bootstrap,
        topic,
        ((None if key is None else key.encode(), orjson.dumps(value)) for key, value in records),
    )


def consume_all(
    bootstrap: str,
    topic: str,
    count: int,
    timeout: float = 60.0,
    *,
    quiet_for: float = 0.0,
    read_committed: bool = False,
    until: Callable[[list[Record]], bool] | None = None,
) -> list[Record]:
    """Read ``topic`` from the beginning, without a consumer group, until ``count`` records
    arrived (or ``until(records)`` holds, if given) or ``timeout`` passed; returns what arrived
    (check it).

    The topic may not exist yet (a worker creates it): it is waited for. ``quiet_for`` keeps
    reading that long after ``count`` is reached, so duplicates show up.
    """

    async def run() -> list[Record]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed" if read_committed else "read_uncommitted",
        )
        await consumer.start()
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        try:
            partitions: set[int] = set()
            while not partitions and time.monotonic() < deadline:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
                if not partitions:
                    await asyncio.sleep(0.5)
            assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
            if not assigned:
                return records
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            done_at: float | None = None
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=300, max_records=10_000)
                for tp, messages in batches.items():
                    records.extend(
                        Record(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                        for m in messages
                    )
                done = until(records) if until is not None else len(records) >= count
                if done_at is None and done:
                    done_at = time.monotonic()
                if done_at is not None and time.monotonic() - done_at >= quiet_for:
                    break
        finally:
            await consumer.stop()
        return records

    return asyncio.run(run())


def delete_topics_of(bootstrap: str, names: Any) -> None:
    """Delete the topics a test made: its prefix's and its app id's (Faust's changelogs).
    Best effort: a broker that is gone has nothing left to clean up."""

    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            mine = [
                topic
                for topic in await admin.list_topics()
                if topic.startswith((names.prefix, f"{names.app_id}-"))
            ]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()

    try:
        asyncio.run(run())
    except Exception as exc:  # cleanup must never fail a test
        log.warning("could not delete the topics of %s: %r", names.prefix, exc)


def end_offsets_total(bootstrap: str, topic: str) -> int:
    """Records written to ``topic`` so far (the sum of its partitions' end offsets)."""

    async def run() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return sum(ends.values())
        finally:
            await consumer.stop()

    return asyncio.run(run())


def wait_committed(bootstrap: str, group: str, topic: str, count: int, timeout: float) -> int:
    """Wait until ``group``'s committed offsets on ``topic`` add up to ``count`` (records read
    from offset 0) or ``timeout`` passed; the sum committed then."""

    async def run() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        deadline = time.monotonic() + timeout
        try:
            while True:
                offsets = await admin.list_consumer_group_offsets(group)
                done = sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)
                if done >= count or time.monotonic() > deadline:
                    return done
                await asyncio.sleep(0.2)
        finally:
            await admin.close()

    return asyncio.run(run())


def produce(
    settings: Settings, events: Sequence[OutgoingEvent], rate: float | None = None
) -> float:
    """Create chatguard's topics if needed and produce ``events``; seconds taken."""
    from streams.outgoing import send_events
    from streams.topics import ensure_topics

    async def run() -> float:
        await ensure_topics(settings)
        return await send_events(settings, events, rate=rate)

    return asyncio.run(run())


def produce_with_headers(
    settings: Settings, topic: str, records: Sequence[tuple[bytes, bytes | None, list[Any]]]
) -> None:
    """Write ``(key, value, headers)`` records to ``topic`` (its full name), each acknowledged:
    a record as a forger writes it (a tombstone if ``value`` is None), or with a signature
    header a test computed."""
    from streams.kafka_options import connection as client_options

    async def run() -> None:
        producer = AIOKafkaProducer(acks="all", **client_options(settings))
        await producer.start()
        try:
            for key, value, headers in records:
                await producer.send_and_wait(topic, value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(run())


def produce_signed(
    settings: Settings,
    logical_topic: str,
    records: Sequence[tuple[int | None, bytes, bytes]],
    at: float,
) -> None:
    """Write ``(partition, key, value)`` records to one of chatguard's internal topics as a
    worker does, with the fleet's signature, but with the record time ``at`` (a time a test
    picks, such as either side of a window's end); partition ``None`` is the key's. Acked."""
    from streams.fleet_signing import HEADER, FleetSigner, mac
    from streams.kafka_options import connection as client_options
    from streams.topics import ensure_topics

    topic = settings.topic(logical_topic)
    secret = FleetSigner.for_settings(settings).secret
    assert secret is not None, "the tests' workers have a fleet key"

    async def run() -> None:
        await ensure_topics(settings)
        producer = AIOKafkaProducer(acks="all", **client_options(settings))
        await producer.start()
        try:
            for partition, key, value in records:
                await producer.send_and_wait(
                    topic,
                    value,
                    key=key,
                    partition=partition,
                    timestamp_ms=int(at * 1000),
                    headers=[(HEADER, mac(secret, topic, key, value))],
                )
        finally:
            await producer.stop()

    asyncio.run(run())


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
    from streams.kafka_options import connection as client_options
    from streams.topics import ensure_topics

    await ensure_topics(settings)
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        **client_options(settings),
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


def produce_acknowledged(
    settings: Settings, events: Sequence[OutgoingEvent], rate: float | None = None
) -> set[str]:
    """Produce ``events`` through an outage: the ids of those the broker acknowledged.

    An event whose send or delivery failed (the broker was away longer than the producer's
    timeout) is left out, not retried: only acknowledged events are owed an outcome.
    """
    from streams.kafka_options import connection as client_options
    from streams.topics import ensure_topics

    async def run() -> set[str]:
        await ensure_topics(settings)
        producer = AIOKafkaProducer(linger_ms=5, **client_options(settings))
        await producer.start()
        started = time.perf_counter()
        sent: list[tuple[str, asyncio.Future[Any]]] = []
        try:
            for i, event in enumerate(events):
                with contextlib.suppress(KafkaError):
                    future = await producer.send(
                        settings.topic(event.topic), event.value, key=event.key
                    )
                    sent.append((event.event_id, future))
                if rate and (ahead := (i + 1) / rate - (time.perf_counter() - started)) > 0:
                    await asyncio.sleep(ahead)
            results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        finally:
            await producer.stop()
        return {
            event_id
            for (event_id, _), result in zip(sent, results, strict=True)
            if not isinstance(result, BaseException)
        }

    return asyncio.run(run())


def chat_message(event_id: str, text: str, conversation: str, sender: str) -> bytes:
    """The value of an ordinary ``chat.message`` event, sent now."""
    return orjson.dumps(
        {
            "type": "chat.message",
            "event_id": event_id,
            "conversation_id": conversation,
            "sender_id": sender,
            "text": text,
            "sent_at": time.time(),
        }
    )
