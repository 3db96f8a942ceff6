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

A broker that is away (for seconds or hours) never stops the reader: a fetch, send, delivery or
commit that fails with a Kafka error rewinds every partition to the first offset not yet
committed, waits (``streams.retry``) and tries again, so a batch whose delivery failed is
moderated and sent again, never skipped and never committed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, KafkaError

from streams import kafka_options, kinds, metrics, unreadable
from streams.batch_budget import BatchBudget, RecordSizes, record_bytes
from streams.carried_records import CarriedRecords
from streams.ingest import BatchIngest
from streams.partition_progress import Offsets, Partition, aiokafka_offsets
from streams.pipeline import RawMessage
from streams.producers import TrackingProducer
from streams.sinks import BatchSink

log = logging.getLogger(__name__)


class BatchReader(BatchIngest):
    """The aiokafka batch reader: the worker's default ingest path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._turn = 0  # the partition that takes the first share of the next batch
        self._sizes = RecordSizes()
        # records fetched past a batch's budget, handed out first in the next batch
        self._carried: CarriedRecords[TopicPartition, Any] = CarriedRecords(
            lambda r: r.offset, lambda r: record_bytes(r.key, r.value, r.headers)
        )
        # partitions revoked while a batch is being fetched (``_CommitBeforeRevoke``)
        self._revoked: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    def partition_offsets(self) -> dict[Partition, Offsets]:
        return aiokafka_offsets(self._consumer) if self._consumer is not None else {}

    async def on_start(self) -> None:
        settings = self.settings
        self._producer = TrackingProducer(**kafka_options.producer(settings, "batch-reader"))
        self._consumer = AIOKafkaConsumer(
            **kafka_options.group_consumer(settings, self.group_id, "batch-reader")
        )
        await self._producer.start()
        await self._feed(BatchSink(self._producer)).warm()
        self._consumer.subscribe(
            [self.settings.topic(name) for name in kinds.SCORED_TOPICS],
            listener=_CommitBeforeRevoke(self),
        )
        await self._consumer.start()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            async with self._in_hand:
                try:
                    await self._settle()
                except KafkaError as exc:
                    # nothing is lost: the uncommitted events are re-read by the next owner
                    log.warning("stopping without a final commit (broker unavailable): %s", exc)
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pipeline is not None:
            await self._pipeline.close()

    @BatchIngest.task
    async def _read(self) -> None:
        assert self._consumer is not None and self._pipeline is not None
        while not self.should_stop:
            try:
                with metrics.batch_stage("fetch"):
                    fetched = await self._fetch_in_turn()
            except ConsumerStoppedError:
                return  # the worker is stopping: on_stop committed what was done
            except unreadable.UNREADABLE as exc:
                log.error(
                    "a fetched record batch cannot be read (%r); finding and skipping it", exc
                )
                async with self._in_hand:
                    try:
                        await self._step_over_unreadable()
                    except KafkaError as step_exc:  # the broker went away meanwhile
                        await self._rewind()
                        await self._retry_later(step_exc)
                continue
            except KafkaError as exc:
                await self._retry_later(exc)
                continue
            if not await self._handle(fetched, KafkaError):
                return

    async def _fetch_in_turn(self) -> dict[TopicPartition, list[Any]]:
        """Up to a batch of records (``streams.batch_budget``: records and bytes), each assigned
        partition taking its turn. aiokafka hands out a partition's fetched records before the
        next partition's, in the order they were fetched, so one fetch of thousands of
        compressed records on one partition held every other partition of the worker until it
        was drained (an outside probe: decisions on the other partitions up to 315 s late). Each
        partition first gets an equal share of what is already fetched, at least one record,
        starting one partition further each time; what room is left is filled as before. A
        partition's records carried from the last batch come before any it fetches."""
        fetched: dict[TopicPartition, list[Any]] = {}
        self._revoked.clear()
        try:
            await self._fill(fetched)
        except BaseException:
            # the client's position is past what was taken: it waits for the next batch
            self._forget_revoked(fetched)
            for tp, records in fetched.items():
                self._carried.put_back(tp, records)
            raise
        return fetched

    def _forget_revoked(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Leave out what was taken of partitions revoked since the last call: whoever holds
        them now (this worker too, if they came back) reads them from the last commit."""
        revoked, self._revoked = self._revoked, set()
        for tp in revoked & fetched.keys():
            del fetched[tp]

    async def _fill(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        consumer = self._consumer
        assert consumer is not None
        budget = BatchBudget(self.settings.batch_size, self.settings.batch_max_bytes)
        assigned = sorted(consumer.assignment())
        # records of a partition given away since (its next owner reads them from the commit)
        self._carried.drop(set(self._carried.partitions()) - set(assigned))
        if len(assigned) > 1:
            share = max(1, budget.records // len(assigned))
            share_bytes = budget.bytes // len(assigned)
            self._turn = (self._turn + 1) % len(assigned)
            # a partition revoked meanwhile gives nothing (getmany skips it)
            for tp in assigned[self._turn :] + assigned[: self._turn]:
                if self._carried.holds(tp):
                    taken = self._carried.take(
                        tp, budget, share, limit=share_bytes, at_least_one=True
                    )
                    _add(fetched, tp, taken)
                else:
                    asked = self._sizes.fit(budget, share, tp, limit=share_bytes)
                    got = await consumer.getmany(tp, timeout_ms=0, max_records=asked)
                    self._forget_revoked(fetched)
                    self._take(got, budget, fetched, limit=share_bytes, at_least_one=True)
                if budget.full:
                    return
        for tp in self._carried.partitions():
            _add(fetched, tp, self._carried.take(tp, budget))
        if self._carried or budget.full:  # a fetch now would hand out records after them
            return
        window_ms = 0 if fetched else int(self._fetch_window_s() * 1000)
        asked = self._sizes.fit(budget, budget.records)
        more = await consumer.getmany(timeout_ms=window_ms, max_records=asked)
        self._forget_revoked(fetched)
        self._take(more, budget, fetched)

    def _take(
        self,
        got: dict[TopicPartition, list[Any]],
        budget: BatchBudget,
        fetched: dict[TopicPartition, list[Any]],
        **share: Any,
    ) -> None:
        """Add to ``fetched`` what ``budget`` has room for of ``got``; what did not fit is
        carried to the next batch (``streams.carried_records``)."""
        for tp, records in got.items():
            sizes = [record_bytes(r.key, r.value, r.headers) for r in records]
            self._sizes.saw(tp, sizes)
            count = budget.take(sizes, **share)
            self._carried.carry(tp, records[count:])
            _add(fetched, tp, records[:count])

    async def _rewind(self) -> None:
        """Forget what was moderated since the last commit and re-read it from there."""
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        # a partition with nothing moderated since its commit may still have records carried
        targets = {**self._carried.drop(), **self._rewind_to}
        for tp, offset in targets.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)
        self._rewind_to.clear()
        self._done.clear()
        self._in_flight = None  # dropped: it is read again too
        self._since_commit = 0

    async def _moderate(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        batch = [
            RawMessage(
                m.topic,
                m.partition,
                m.offset,
                m.key,
                m.value,
                key_size=m.serialized_key_size,
                value_size=m.serialized_value_size,
            )
            for records in fetched.values()
            for m in records
        ]
        spans = {tp: (records[0].offset, records[-1].offset) for tp, records in fetched.items()}
        await self._overlapped(batch, spans)

    async def _step_over_unreadable(self) -> None:
        """Moderate what precedes a batch that cannot be decompressed, dead-letter the batch
        (partition and offsets), and go on after it (``streams.unreadable`` says how)."""
        assert self._consumer is not None and self._pipeline is not None
        await self._settle()  # each partition is re-read from its commit: moderate nothing twice
        for tp, first in self._carried.drop().items():  # read again, should the probe stop short
            if tp in self._consumer.assignment():
                self._consumer.seek(tp, first)
        assigned = sorted(self._consumer.assignment())
        try:
            async with asyncio.timeout(120):
                ends = await self._consumer.end_offsets(assigned)
                starts = await unreadable.committed_starts(self._consumer, assigned)
                for tp in assigned:
                    good, bad = await unreadable.probe_partition(
                        self._consumer, tp, ends[tp], self.settings.batch_size, start=starts[tp]
                    )
                    if good:
                        await self._moderate({tp: good})
                        await self._finish_in_flight()
                    if bad is not None:
                        log.error("dead-lettered %s", bad.describe())
                        await self._pipeline.dead_letter(bad.source(), bad.rejected())
                        self._done[tp] = max(self._done.get(tp, 0), bad.last + 1)
                        self._since_commit += 1
        except unreadable.INTERRUPTED as exc:
            # stopping, or a rebalance took partitions away: the next fetch starts over
            log.warning("stepping over an unreadable batch was interrupted: %r", exc)

    async def _commit_offsets(self, offsets: dict[Any, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # the group moved on (this worker was too slow or cut off): whoever owns these
            # partitions now re-reads from the last commit, so the events are re-decided
            log.warning("commit of %d partitions failed, will be re-read: %s", len(offsets), exc)


def _add(fetched: dict[TopicPartition, list[Any]], tp: TopicPartition, records: list[Any]) -> None:
    """Append a partition's records to a batch (a partition in a batch has at least one)."""
    if records:
        fetched.setdefault(tp, []).extend(records)


class _CommitBeforeRevoke(ConsumerRebalanceListener):
    """Finish the batch in hand and commit it before this worker gives partitions away."""

    def __init__(self, reader: BatchReader) -> None:
        self.reader = reader

    async def on_partitions_revoked(self, revoked: Any) -> None:
        reader = self.reader
        async with reader._in_hand:
            try:
                await reader._settle()
            except KafkaError as exc:
                log.warning("could not commit before a rebalance, will be re-read: %s", exc)
            # whatever is left is re-read from the committed offsets by the next owner (perhaps
            # this worker again, which then starts at the committed offsets too)
            reader._done.clear()
            reader._rewind_to.clear()
            reader._in_flight = None
            reader._carried.drop()
            reader._revoked.update(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("moderating %d partitions: %s", len(assigned), sorted(map(str, assigned)))
