"""Chat messages and posts read in batches straight from Kafka: the worker's fast ingest path.

Faust hands every event one at a time through its consumer thread, conductor and stream before
``take_events`` can batch them; on a 2-core machine that cost about 200 µs per event, five times
what scoring it costs (``benchmarks/stream.py`` measures both paths). This reader is a service of
the same Faust worker, started and stopped with it, in its event loop: one aiokafka consumer in
the group ``<app id>.moderation`` fetches up to ``batch_size`` events at a time and hands them to
the same :class:`ModerationPipeline` the Faust agent uses. Reports, labels, the strikes table,
timers and web views stay Faust's.

At-least-once: offsets are committed only after the broker has acknowledged every record
produced for them; before partitions are revoked in a rebalance, the work in hand is finished
and committed, so a worker that leaves cleanly re-delivers nothing and one that dies re-delivers
at most what it had not committed (decisions carry the event id for de-duplication).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, KafkaError
from mode import Service

from chatguard.settings import Settings
from streams import topics, unreadable
from streams.model_holder import ModelHolder
from streams.pipeline import ModerationPipeline, RawMessage
from streams.sinks import BatchSink

log = logging.getLogger(__name__)

COMMIT_EVERY_EVENTS = 2_000
COMMIT_EVERY_S = 1.0


class BatchReader(Service):
    """Consume → moderate → produce → commit, a batch at a time, inside the Faust worker."""

    def __init__(self, settings: Settings, holder: ModelHolder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.holder = holder
        self.group_id = f"{settings.app_id}.moderation"
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sink: BatchSink | None = None
        self._pipeline: ModerationPipeline | None = None
        # offsets moderated but not committed yet, and when/what was last committed
        self._done: dict[TopicPartition, int] = {}
        self._since_commit = 0
        self._committed_at = time.monotonic()
        self._in_hand = asyncio.Lock()  # held while a batch is between fetch and commit

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    async def on_start(self) -> None:
        options = topics.client_options(self.settings)
        self._producer = AIOKafkaProducer(
            acks="all",
            linger_ms=5,
            max_batch_size=262_144,
            **options,
        )
        self._consumer = AIOKafkaConsumer(
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.batch_size,
            # a SIGKILLed worker's partitions move after this, not after the 45 s default
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            # a producer's aborted transaction is not moderated, blocked or counted as strikes
            isolation_level="read_committed",
            **options,
        )
        await self._producer.start()
        self._sink = BatchSink(self._producer)
        self._pipeline = ModerationPipeline(self.settings, self.holder, self._sink)
        self._consumer.subscribe(
            [self.settings.topic(topics.CHAT_MESSAGES), self.settings.topic(topics.POSTS)],
            listener=_CommitBeforeRevoke(self),
        )
        await self._consumer.start()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            async with self._in_hand:
                await self._commit()
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    @Service.task
    async def _read(self) -> None:
        assert self._consumer is not None and self._pipeline is not None
        window_ms = int(self.settings.batch_window_s * 1000)
        while not self.should_stop:
            try:
                fetched = await self._consumer.getmany(
                    timeout_ms=window_ms, max_records=self.settings.batch_size
                )
            except ConsumerStoppedError:
                return  # the worker is stopping: on_stop committed what was done
            except unreadable.UNREADABLE as exc:
                log.error(
                    "a fetched record batch cannot be read (%r); finding and skipping it", exc
                )
                async with self._in_hand:
                    await self._step_over_unreadable()
                continue
            async with self._in_hand:
                if self.should_stop:
                    return  # on_stop committed; whoever gets these partitions reads this batch
                if fetched:
                    await self._moderate(fetched)
                if self._commit_due():
                    await self._commit()

    async def _moderate(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        assert self._pipeline is not None
        batch = [
            RawMessage(m.topic, m.partition, m.offset, m.key, m.value)
            for records in fetched.values()
            for m in records
        ]
        await self._pipeline.moderate(batch)
        for tp, records in fetched.items():
            self._done[tp] = records[-1].offset + 1
        self._since_commit += len(batch)

    async def _step_over_unreadable(self) -> None:
        """Moderate what precedes a batch that cannot be decompressed, dead-letter the batch
        (partition and offsets), and go on after it (``streams.unreadable`` says how)."""
        assert self._consumer is not None and self._pipeline is not None
        await self._commit()  # each partition is re-read from its commit: moderate nothing twice
        assigned = sorted(self._consumer.assignment())
        try:
            async with asyncio.timeout(120):
                ends = await self._consumer.end_offsets(assigned)
                for tp in assigned:
                    good, bad = await unreadable.probe_partition(
                        self._consumer, tp, ends[tp], self.settings.batch_size
                    )
                    if good:
                        await self._moderate({tp: good})
                    if bad is not None:
                        log.error("dead-lettered %s", bad.describe())
                        await self._pipeline.dead_letter(bad.source(), bad.rejected())
                        self._done[tp] = max(self._done.get(tp, 0), bad.last + 1)
                        self._since_commit += 1
        except unreadable.INTERRUPTED as exc:
            # stopping, or a rebalance took partitions away: the next fetch starts over
            log.warning("stepping over an unreadable batch was interrupted: %r", exc)

    def _commit_due(self) -> bool:
        return bool(self._done) and (
            self._since_commit >= COMMIT_EVERY_EVENTS
            or time.monotonic() - self._committed_at >= COMMIT_EVERY_S
        )

    async def _commit(self) -> None:
        """Commit what is moderated, once the broker has everything produced for it."""
        assert self._consumer is not None and self._sink is not None
        done, self._done = self._done, {}
        self._since_commit, self._committed_at = 0, time.monotonic()
        if not done:
            return
        await self._sink.delivered()  # raises if a record could not be produced: no commit
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in done.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # the group moved on (this worker was too slow or cut off): whoever owns these
            # partitions now re-reads from the last commit, so the events are re-decided
            log.warning("commit of %d partitions failed, will be re-read: %s", len(offsets), exc)


class _CommitBeforeRevoke(ConsumerRebalanceListener):
    """Finish the batch in hand and commit it before this worker gives partitions away."""

    def __init__(self, reader: BatchReader) -> None:
        self.reader = reader

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.reader._in_hand:
            await self.reader._commit()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("moderating %d partitions: %s", len(assigned), sorted(map(str, assigned)))
