"""Chat messages and posts read in batches through confluent-kafka (``CHATGUARD_INGEST=rdkafka``).

aiokafka is pure Python on the event loop's thread: parsing fetched record batches, building
produce requests and moving bytes through sockets there took about as much of a worker's time
as the model did. librdkafka fetches, decompresses, batches and delivers in its own C threads;
this reader only hands batches between it and the same :class:`ModerationPipeline`. Its blocking
calls (``consume``, ``commit``, ``flush``) run in two threads of their own, so the event loop and
the scoring thread keep working while Kafka I/O waits.

The contract is :mod:`streams.batch_reader`'s: at-least-once, offsets committed only once the
broker has every record produced for them (``flush``); before partitions are revoked the work in
hand is delivered and committed (librdkafka calls ``on_revoke`` from inside ``consume``, so no
batch is between fetch and commit then); a broker that is away is waited for, never skipped past:
librdkafka keeps records queued and reconnects, a commit that fails is retried, and a delivery
that fails rewinds every partition to its last commit. A record batch librdkafka cannot read
(a corrupt or undecompressable batch, which it steps over) becomes a dead letter naming its
partition and offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from mode import Service

from chatguard.settings import Settings
from streams import campaigns, kafka_options, kinds
from streams.campaigns import CampaignHolder
from streams.decoding import Rejected
from streams.learned_list import LearnedHolder
from streams.model_holder import ModelHolder
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage
from streams.retry import Outage
from streams.rules_holder import RulesHolder

log = logging.getLogger(__name__)

COMMIT_EVERY_EVENTS = 2_000
COMMIT_EVERY_S = 1.0
# how long one flush waits before checking whether the worker is stopping (it then goes on
# waiting: librdkafka fails a record only after ``message.timeout.ms``)
FLUSH_STEP_S = 1.0
# errors that mean a record batch could not be read: librdkafka steps over it
UNREADABLE = frozenset({KafkaError._BAD_MSG, KafkaError._BAD_COMPRESSION, KafkaError.INVALID_MSG})
# a commit refused because the group moved on: the partitions' new owner re-reads from the last
# commit, so these events are decided again (never lost)
GROUP_MOVED_ON = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError._ASSIGNMENT_LOST,
    }
)


class DeliveryFailed(Exception):
    """A produced record was not delivered: nothing is committed, the batch is sent again."""


class RdkafkaSink:
    """``produce`` per record (librdkafka builds the per-partition batches itself);
    :meth:`delivered` flushes and raises if one of the records so far was not delivered."""

    def __init__(self, producer: Producer, stopping: Any) -> None:
        self.producer = producer
        self._stopping = stopping  # a callable: is the worker stopping?
        self._io = ThreadPoolExecutor(1, thread_name_prefix="chatguard-produce")
        self._failed: list[KafkaError] = []

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._failed.append(error)

    async def send_all(self, records: list[Outgoing] | Any) -> None:
        produce = self.producer.produce
        for record in records:
            while True:
                try:
                    produce(record.topic, record.value, record.key, on_delivery=self._on_delivery)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    await self._in_thread(self.producer.poll, 0.1)
        self.producer.poll(0)  # serve delivery callbacks due so far, without waiting

    async def delivered(self) -> None:
        while await self._in_thread(self.producer.flush, FLUSH_STEP_S) > 0:
            if self._stopping():
                raise DeliveryFailed("stopping with records not yet delivered")
        failed, self._failed = self._failed, []
        if failed:
            raise DeliveryFailed(f"{len(failed)} records not delivered, e.g. {failed[0]}")

    def failures(self) -> int:
        """How many records were not delivered since the last :meth:`delivered`."""
        return len(self._failed)

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, call, *args)

    def close(self) -> None:
        self._io.shutdown(wait=False)


class RdkafkaReader(Service):
    """Consume → moderate → produce → commit, a batch at a time, inside the Faust worker."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        rules: RulesHolder,
        learned: LearnedHolder,
        campaign_holder: CampaignHolder = campaigns.SHARED,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.holder = holder
        self.rules = rules
        self.learned = learned
        self.campaigns = campaign_holder
        self.group_id = f"{settings.app_id}.moderation"
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._sink: RdkafkaSink | None = None
        self._pipeline: ModerationPipeline | None = None
        # every consumer call in one thread: librdkafka calls on_revoke from inside consume
        self._io = ThreadPoolExecutor(1, thread_name_prefix="chatguard-consume")
        self._done: dict[tuple[str, int], int] = {}  # moderated, not committed: next offset
        self._rewind_to: dict[tuple[str, int], int] = {}  # first offset since the last commit
        self._assigned: set[tuple[str, int]] = set()
        self._outage: Outage | None = None
        self._since_commit = 0
        self._committed_at = time.monotonic()
        self._in_hand = asyncio.Lock()

    def assignment(self) -> set[tuple[str, int]]:
        return set(self._assigned)

    async def on_start(self) -> None:
        settings = self.settings
        self._producer = Producer(kafka_options.rdkafka_producer(settings, "batch-reader"))
        self._sink = RdkafkaSink(self._producer, lambda: self.should_stop)
        self._pipeline = ModerationPipeline(
            settings, self.holder, self._sink, self.rules, self.learned, self.campaigns
        )
        self._consumer = Consumer(
            {
                **kafka_options.rdkafka_group_consumer(settings, self.group_id, "batch-reader"),
                "error_cb": self._client_error,
            }
        )
        self._consumer.subscribe(
            [settings.topic(name) for name in kinds.SCORED_TOPICS],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    async def on_stop(self) -> None:
        if self._consumer is not None:
            async with self._in_hand:
                try:
                    await self._commit()
                except (KafkaException, DeliveryFailed) as exc:
                    log.warning("stopping without a final commit (broker unavailable): %s", exc)
            # leaves the group; on_revoke commits nothing more (nothing is in hand)
            await self._in_thread(self._consumer.close)
        if self._producer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, 10.0)
        if self._sink is not None:
            self._sink.close()
        self._io.shutdown(wait=False)

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, call, *args)

    @Service.task
    async def _read(self) -> None:
        assert self._consumer is not None
        while not self.should_stop:
            try:
                fetched = await self._in_thread(self._fetch)
            except RuntimeError:  # the consumer is closed: the worker is stopping
                return
            except KafkaException as exc:
                await self._retry_later(exc)
                continue
            async with self._in_hand:
                if self.should_stop:
                    return  # on_stop committed; whoever gets these partitions reads this batch
                try:
                    if fetched:
                        await self._moderate(fetched)
                    if self._commit_due():
                        await self._commit()
                except (KafkaException, DeliveryFailed) as exc:
                    await self._rewind()
                    await self._retry_later(exc)

    def _fetch(self) -> list[Message]:
        """Up to ``batch_size`` messages, as soon as there is one (``consume`` alone would wait
        out the whole window for a full batch, adding its length to every decision's latency
        when traffic is light): the first within ``batch_window_s``, then what is queued."""
        assert self._consumer is not None
        first = self._consumer.poll(self.settings.batch_window_s)
        if first is None:
            return []
        return [first, *self._consumer.consume(self.settings.batch_size - 1, 0)]

    async def _moderate(self, fetched: list[Message]) -> None:
        assert self._pipeline is not None
        batch: list[RawMessage] = []
        unreadable: list[RawMessage] = []
        for message in fetched:
            error = message.error()
            if error is None:
                batch.append(_raw(message))
            elif error.code() in UNREADABLE and message.topic() is not None:
                unreadable.append(_raw(message))
                log.error("a record batch cannot be read: %s", error.str())
            else:
                self._client_error(error)
        for raw in batch:
            self._rewind_to.setdefault((raw.topic, raw.partition), raw.offset)
        if batch:
            await self._pipeline.moderate(batch)
        for raw in unreadable:
            why = f"librdkafka could not read the record batch at {raw.topic}-{raw.partition}@{raw.offset}"
            await self._pipeline.dead_letter(raw, Rejected("unreadable_batch", why))
        for raw in batch + unreadable:
            tp = (raw.topic, raw.partition)
            self._done[tp] = max(self._done.get(tp, 0), raw.offset + 1)
        self._since_commit += len(batch) + len(unreadable)

    def _client_error(self, error: KafkaError) -> None:
        """librdkafka's own reports (a broker away, reconnecting): it retries by itself."""
        if error.fatal():
            raise KafkaException(error)
        log.warning("Kafka client: %s", error.str())

    def _commit_due(self) -> bool:
        return bool(self._done) and (
            self._since_commit >= COMMIT_EVERY_EVENTS
            or time.monotonic() - self._committed_at >= COMMIT_EVERY_S
        )

    async def _commit(self) -> None:
        """Commit what is moderated, once the broker has everything produced for it."""
        assert self._consumer is not None and self._sink is not None
        self._since_commit, self._committed_at = 0, time.monotonic()
        if not self._done:
            return
        await self._sink.delivered()
        done, self._done = self._done, {}
        self._rewind_to.clear()
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in done.items()
            if (topic, partition) in self._assigned
        ]
        if not offsets:
            return
        try:
            await self._in_thread(
                partial(self._consumer.commit, offsets=offsets, asynchronous=False)
            )
        except KafkaException as exc:
            if exc.args[0].code() in GROUP_MOVED_ON:
                log.warning(
                    "commit of %d partitions failed, will be re-read: %s", len(offsets), exc
                )
                return
            for tp, offset in done.items():
                self._done[tp] = max(offset, self._done.get(tp, 0))
            raise
        if self._outage is not None:
            self._outage.over()
            self._outage = None

    async def _rewind(self) -> None:
        """Forget what was moderated since the last commit and re-read it from there."""
        assert self._consumer is not None
        consumer = self._consumer
        for (topic, partition), offset in self._rewind_to.items():
            if (topic, partition) in self._assigned:
                await self._in_thread(consumer.seek, TopicPartition(topic, partition, offset))
        self._rewind_to.clear()
        self._done.clear()
        self._since_commit = 0

    async def _retry_later(self, exc: BaseException) -> None:
        if self._outage is None:
            self._outage = Outage("batch reader")
        await self.sleep(self._outage.failed(exc))

    # Rebalance callbacks: librdkafka runs them in the consume thread, inside ``consume``, when
    # no batch is in hand (the event loop is waiting for that consume call).

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info(
            "moderating %d partitions: %s",
            len(partitions),
            sorted(f"{tp.topic}-{tp.partition}" for tp in partitions),
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Deliver and commit what was moderated before giving partitions away."""
        assert self._producer is not None
        done, self._done = self._done, {}
        self._rewind_to.clear()
        offsets = [
            TopicPartition(topic, partition, offset) for (topic, partition), offset in done.items()
        ]
        try:
            if offsets:
                remaining = self._producer.flush(30.0)
                if remaining or (self._sink is not None and self._sink.failures()):
                    raise DeliveryFailed(f"{remaining} records not delivered")
                consumer.commit(offsets=offsets, asynchronous=False)
        except (KafkaException, DeliveryFailed) as exc:
            log.warning("could not commit before a rebalance, will be re-read: %s", exc)
        self._assigned.difference_update((tp.topic, tp.partition) for tp in partitions)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions taken away without a chance to commit: their new owner re-reads them."""
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned.difference_update(lost)
        for tp in lost:
            self._done.pop(tp, None)
            self._rewind_to.pop(tp, None)


def _raw(message: Message) -> RawMessage:
    """What the pipeline needs of a consumed message (an unreadable one has no key or value)."""
    return RawMessage(
        cast(str, message.topic()),
        cast(int, message.partition()),
        cast(int, message.offset()),
        message.key() if message.error() is None else None,
        message.value() if message.error() is None else None,
    )
