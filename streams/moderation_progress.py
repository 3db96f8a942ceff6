"""How far the fleet's moderation has got: a time before which every event of the scored topics
is decided. A report naming an event the recent-events store lacks is refused only once
moderation has passed the time the report was first checked (``streams.report_retry``): under a
backlog its event may still be waiting to be decided, and an outside probe's two honest reports
of a scam were refused after 5 minutes while the scam was decided 21 minutes later.

Read from Kafka, not from this worker, because a worker moderates only its own partitions: the
moderation group's committed offsets (a batch's offsets are committed after its decisions and
``seen`` records are delivered) and, for each partition behind its end, the time the broker
appended its first record not yet committed. The scored topics keep the broker's append time
(``LogAppendTime``), so no producer sets what is compared here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from chatguard.settings import Settings
from streams import kafka_options, kinds, metrics

log = logging.getLogger(__name__)

# the broker's clock against a worker's: a margin a time compared across them must clear
CLOCK_MARGIN_S = 1.0
READ_TIMEOUT_S = 10.0
COORDINATOR_TRIES = 10


def moderation_group(settings: Settings) -> str:
    """The consumer group that moderates the scored topics on the worker's ingest path."""
    return settings.app_id if settings.ingest_path == "faust" else f"{settings.app_id}.moderation"


class ModerationProgress:
    """The last measured time before which every scored event was moderated, measured on
    demand: a worker with no report waiting asks the broker nothing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.until = -math.inf  # unknown until measured: reports wait rather than are refused
        self._wanted = False

    def passed(self, since: float) -> bool:
        """Whether every event appended before ``since`` is moderated, as last measured."""
        self._wanted = True
        return self.until > since + CLOCK_MARGIN_S

    async def refresh(self) -> None:
        """Measure again, if a report asked since the last measurement. A broker that does
        not answer leaves the last measurement (moderation never goes back)."""
        if not self._wanted:
            return
        self._wanted = False
        try:
            async with asyncio.timeout(2 * READ_TIMEOUT_S):
                until = await moderated_until(self.settings)
        except Exception as exc:  # a broker away, a batch it cannot read: measured next time
            log.warning("moderation progress: not measured (%r)", exc)
            return
        self.until = max(self.until, until)
        metrics.MODERATION_BEHIND.set(max(time.time() - until, 0.0))


async def moderated_until(settings: Settings) -> float:
    """The time before which every record of the scored topics is committed by the moderation
    group: now if no partition is behind, else the append time of the oldest record not
    committed (-inf if one cannot be read: an open transaction holds it, say)."""
    measured_at = time.time()
    partitions, committed = await _group_offsets(settings)
    if not partitions:
        return measured_at
    consumer = AIOKafkaConsumer(**kafka_options.progress_reader(settings))
    await consumer.start()
    try:
        # the group starts a partition it never committed at its beginning (auto_offset_reset
        # "earliest"); the ends are read after the offsets, so a partition found caught up had
        # every record appended before ``measured_at`` committed
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        offsets = {tp: committed.get(tp, starts[tp]) for tp in partitions}
        behind = {tp: offset for tp, offset in offsets.items() if offset < ends[tp]}
        if not behind:
            return measured_at
        first = await _first_append_times(consumer, behind)
    finally:
        await consumer.stop()
    return min(first.get(tp, -math.inf) for tp in behind)


async def _group_offsets(
    settings: Settings,
) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
    """Every partition of the scored topics, and the moderation group's committed offsets.
    Asked again a few times while the broker says to retry: a group's coordinator takes a
    moment to be found on a new broker."""
    admin = AIOKafkaAdminClient(**kafka_options.admin(settings))
    await admin.start()
    try:
        names = [settings.topic(name) for name in kinds.SCORED_TOPICS]
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in await admin.describe_topics(names)
            if topic["error_code"] == 0
            for partition in topic["partitions"]
        ]
        for tries_left in range(COORDINATOR_TRIES - 1, -1, -1):
            try:
                committed = await admin.list_consumer_group_offsets(moderation_group(settings))
                break
            except KafkaError as exc:
                if not exc.retriable or tries_left == 0:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return partitions, {tp: meta.offset for tp, meta in committed.items() if tp in partitions}


async def _first_append_times(
    consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int]
) -> dict[TopicPartition, float]:
    """The append time (s) of the first record at or after each partition's offset."""
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    found: dict[TopicPartition, float] = {}
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(found) < len(starts) and time.monotonic() < deadline:
        fetched: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=500)
        for tp, records in fetched.items():
            if records and tp not in found:
                found[tp] = records[0].timestamp / 1000.0
                consumer.pause(tp)
    return found
