"""How far moderation has got, read from the real broker: the moderation group's committed
offsets and the append time of the first record each partition has not committed
(``streams.moderation_progress``). A report is refused as naming an unknown event only once this
has passed the time the report was first checked."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from chatguard.settings import Settings
from streams.moderation_progress import moderated_until, moderation_group
from streams.topics import ensure_topics_sync
from tests.e2e.kafka_helpers import consume_all, produce_batches

pytestmark = pytest.mark.e2e


def _commit(settings: Settings, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` (chat.messages partition → next offset) for the moderation group,
    as a worker does after a batch is delivered."""

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=moderation_group(settings),
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            topic = settings.topic("chat.messages")
            partitions = {TopicPartition(topic, p): o for p, o in offsets.items()}
            consumer.assign(list(partitions))
            await consumer.commit(partitions)
        finally:
            await consumer.stop()

    asyncio.run(run())


def test_moderation_has_passed_the_append_time_of_the_first_record_not_committed(
    broker: str, stream_settings: Settings
) -> None:
    settings = stream_settings
    ensure_topics_sync(settings)  # as a worker creates them: the broker stamps append times
    topic = settings.topic("chat.messages")
    # three records on partition 0, then one on partition 1, each its own batch
    produce_batches(broker, topic, 0, [("gzip", ["a"]), ("gzip", ["b"]), ("gzip", ["c"])])
    produce_batches(broker, topic, 1, [("gzip", ["d"])])
    records = consume_all(broker, topic, 4)
    appended = {(r.partition, r.offset): r.timestamp / 1000 for r in records}
    assert len(appended) == 4

    before = time.time()
    # nothing committed: the group would start at the beginning, so nothing is moderated
    assert asyncio.run(moderated_until(settings)) == appended[0, 0]
    _commit(settings, {0: 1})
    assert asyncio.run(moderated_until(settings)) == appended[0, 1]
    # partition 0 done; partition 1 never committed: its first record is the oldest pending
    _commit(settings, {0: 3})
    assert asyncio.run(moderated_until(settings)) == appended[1, 0]
    _commit(settings, {1: 1})
    assert asyncio.run(moderated_until(settings)) >= before  # caught up: the time measured


def test_a_fleet_with_nothing_to_moderate_has_passed_every_time(
    broker: str, stream_settings: Settings
) -> None:
    ensure_topics_sync(stream_settings)
    before = time.time()
    assert asyncio.run(moderated_until(stream_settings)) >= before
