"""Readers that keep their own positions step over a record batch they cannot decompress: the
followers of control topics (campaigns, the learned list) and the recent-events replay read
through ``streams.unreadable.fetch_from``. Real broker; the client is made to lack snappy (as if
installed without cramjam) after the batches are written."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiokafka.codec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from chatguard.settings import Settings
from streams import unreadable
from streams.batch_bounds import batch_end
from streams.control_topics import COMPACTED, ensure_control_topic
from streams.following import follow_records, start_positions
from tests.e2e.conftest import UniqueNames
from tests.e2e.kafka_helpers import create_topics, produce_batches

pytestmark = pytest.mark.e2e

WAIT_S = 60.0


def _keys(part: str, n: int = 3) -> list[str]:
    return [f"{part}{i}" for i in range(n)]


def test_fetch_from_steps_over_the_batch_and_loses_no_record_of_any_partition(
    broker: str, unique_names: UniqueNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = unique_names.topic("control")
    create_topics(broker, [topic], partitions=2)
    offsets = produce_batches(
        broker, topic, 0, [("gzip", _keys("a")), ("snappy", _keys("b")), ("gzip", _keys("c"))]
    )
    produce_batches(broker, topic, 1, [("gzip", _keys("d")), ("gzip", _keys("e"))])
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)  # snappy is now unreadable here

    async def read_all() -> tuple[list[str], list[unreadable.UnreadableBatch]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            positions = await start_positions(consumer, partitions)
            keys, skipped = [], []
            deadline = time.monotonic() + WAIT_S
            while any(positions[tp] < ends[tp] for tp in partitions):
                assert time.monotonic() < deadline, f"stuck at {positions} of {ends}"
                fetched, batches = await unreadable.fetch_from(consumer, partitions, positions, 500)
                keys += [m.key.decode() for records in fetched.values() for m in records]
                skipped += batches
            return keys, skipped
        finally:
            await consumer.stop()

    keys, skipped = asyncio.run(read_all())
    assert Counter(keys) == Counter(_keys("a") + _keys("c") + _keys("d") + _keys("e"))
    assert [(b.tp.partition, b.first, b.last) for b in skipped] == [(0, offsets[1], offsets[2] - 1)]


def test_a_control_topic_follower_goes_on_after_a_batch_it_cannot_read(
    broker: str, unique_names: UniqueNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(broker=f"kafka://{broker}", topic_prefix=unique_names.prefix)
    name = settings.topic("moderation.campaigns")
    asyncio.run(ensure_control_topic(settings, name, COMPACTED))
    produce_batches(
        broker, name, 0, [("gzip", _keys("a")), ("snappy", _keys("b")), ("gzip", _keys("c"))]
    )
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)
    offered: list[str] = []
    refused: list[int] = []

    async def follow_until_c2() -> None:
        def offer(key: bytes | None, value: bytes | None, now: float) -> None:
            offered.append((key or b"").decode())

        task = asyncio.create_task(
            follow_records(settings, name, "test-follower", 4096, offer, lambda: refused.append(1))
        )
        deadline = time.monotonic() + WAIT_S
        try:
            while "c2" not in offered and not task.done():
                assert time.monotonic() < deadline, f"offered only {offered}"
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(follow_until_c2())
    assert offered == _keys("a") + _keys("c")
    assert refused == [1]


async def _commit_one_transaction(broker: str, topic: str, keys: list[str]) -> None:
    """``keys`` on partition 0 of ``topic`` in one committed transaction: its commit marker is
    the partition's last offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker, transactional_id=f"{topic}-tx", acks="all"
    )
    await producer.start()
    try:
        async with producer.transaction():
            for key in keys:
                await producer.send(topic, key.encode(), key=key.encode(), partition=0)
    finally:
        await producer.stop()


def _read_committed(broker: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=broker, enable_auto_commit=False, isolation_level="read_committed"
    )


def test_fetch_from_reaches_the_end_of_a_partition_that_ends_in_a_transaction_marker(
    broker: str, unique_names: UniqueNames
) -> None:
    """The end offset counts the commit marker after a transaction's records: a reader that
    reads up to the end must step past it, not wait for a record that never comes."""
    topic = unique_names.topic("transactional")
    create_topics(broker, [topic])

    async def write_then_read() -> list[str]:
        await _commit_one_transaction(broker, topic, _keys("t"))
        consumer = _read_committed(broker)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            assert end == len(_keys("t")) + 1  # the records and the commit marker
            positions = await start_positions(consumer, [tp])
            keys: list[str] = []
            deadline = time.monotonic() + WAIT_S
            while positions[tp] < end:
                assert time.monotonic() < deadline, f"stuck at {positions[tp]} of {end}"
                fetched, _ = await unreadable.fetch_from(consumer, [tp], positions, 500)
                keys += [m.key.decode() for m in fetched.get(tp, [])]
            return keys
        finally:
            await consumer.stop()

    assert asyncio.run(write_then_read()) == _keys("t")


def test_probing_a_partition_whose_last_offset_is_a_marker_does_not_wait_for_a_record(
    broker: str, unique_names: UniqueNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer's committed offset stops before a transaction's commit marker, so every
    partition a transactional producer wrote ends in one. Probing such a partition after an
    unreadable batch elsewhere waited the whole probe bound for a record that never comes (5 s
    a partition; a worker reading 7 of them took 35 s to go on); it returns once the position
    passes the marker. The bound is made 10 minutes here, so waiting it out cannot pass."""
    monkeypatch.setattr(unreadable, "PROBE_TIMEOUT_MS", 600_000)
    topic = unique_names.topic("marker-probe")
    create_topics(broker, [topic])

    async def write_then_probe() -> tuple[list[object], object, int, int]:
        await _commit_one_transaction(broker, topic, _keys("m"))
        consumer = _read_committed(broker)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            probe = unreadable.probe_partition(consumer, tp, end, 500, start=len(_keys("m")))
            good, bad = await asyncio.wait_for(probe, WAIT_S)
            return good, bad, await consumer.position(tp), end
        finally:
            await consumer.stop()

    good, bad, position, end = asyncio.run(write_then_probe())
    assert good == [] and bad is None
    assert position == end == len(_keys("m")) + 1


def test_an_unreadable_batch_of_hundreds_of_records_is_stepped_over_in_a_few_fetches(
    broker: str, unique_names: UniqueNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch from inside a compressed batch returns the whole batch, so stepping one offset
    at a time cost a fetch (and a decompression) per record: an outside probe's 1,001-record
    batch stopped a worker for 70 s. The batch's header says where it ends; the readable
    batches between and after two unreadable ones are all read."""
    topic = unique_names.topic("control")
    create_topics(broker, [topic], partitions=1)
    many = [f"b{i}" for i in range(400)]
    offsets = produce_batches(
        broker,
        topic,
        0,
        [
            ("gzip", _keys("a")),
            ("snappy", many),
            ("gzip", _keys("c")),
            ("snappy", _keys("d")),
            ("gzip", _keys("e")),
        ],
    )
    monkeypatch.setattr(aiokafka.codec, "cramjam", None)  # snappy is now unreadable here

    async def read_all() -> tuple[list[str], list[unreadable.UnreadableBatch], int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
        await consumer.start()
        fetches = 0
        getmany = consumer.getmany

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal fetches
            fetches += 1
            return await getmany(*args, **kwargs)

        monkeypatch.setattr(consumer, "getmany", counted)
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            positions = await start_positions(consumer, [tp])
            keys, skipped = [], []
            deadline = time.monotonic() + WAIT_S
            while positions[tp] < end:
                assert time.monotonic() < deadline, f"stuck at {positions} of {end}"
                fetched, batches = await unreadable.fetch_from(consumer, [tp], positions, 500)
                keys += [m.key.decode() for records in fetched.values() for m in records]
                skipped += batches
            header = await batch_end(consumer._client, tp, offsets[1] + 123)
            return keys, skipped, fetches, header
        finally:
            await consumer.stop()

    keys, skipped, fetches, header = asyncio.run(read_all())
    assert keys == [*_keys("a"), *_keys("c"), *_keys("e")]
    assert [(b.first, b.last) for b in skipped] == [
        (offsets[1], offsets[2] - 1),
        (offsets[3], offsets[4] - 1),
    ]
    assert header == offsets[2]  # from inside the batch, its end
    assert fetches < 40, f"{fetches} fetches to step over {len(many)} + 3 records"
