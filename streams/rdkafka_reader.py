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
partition and offset, and the reader seeks past it: librdkafka steps over a corrupt batch, but
not one it refuses to decompress.

Each assigned partition takes its turn: librdkafka hands out records in the order it fetched
them ahead, so a partition that has supplied a batch's worth in a row is paused and resumed at
once, which drops what librdkafka had queued of it and fetches it again from after the last
record handed out, behind the other partitions' records (``streams.partition_turns``). The
position is librdkafka's own, so nothing is skipped and nothing handed out is fetched again; and
nothing stays paused.

A client that has forgotten every broker (a librdkafka defect, ``streams.broker_list_watch``)
would wait forever: the reader replaces it. A new consumer joins the group and reads from the
last commit; records a replaced producer held are failed, so their batch is rewound and sent
again, as after any failed delivery.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, cast

import aiokafka
import orjson
from aiokafka import AIOKafkaClient
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streams import kafka_options, kinds, metrics
from streams.batch_bounds import batch_end
from streams.batch_budget import BatchBudget, RecordSizes, record_bytes
from streams.broker_list_watch import BrokerListWatch
from streams.carried_records import CarriedRecords
from streams.decoding import Rejected
from streams.ingest import BatchIngest
from streams.partition_progress import CHECK_EVERY_S, Offsets, Partition, rdkafka_offsets
from streams.partition_turns import PartitionTurns
from streams.pipeline import Outgoing, RawMessage

log = logging.getLogger(__name__)

# how long one flush waits before checking whether the worker is stopping (it then goes on
# waiting: librdkafka fails a record only after ``message.timeout.ms``)
FLUSH_STEP_S = 1.0
# errors that mean a record batch could not be read
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
                    produce(
                        record.topic,
                        record.value,
                        record.key,
                        headers=list(record.headers) or None,
                        on_delivery=self._on_delivery,
                    )
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


class RdkafkaReader(BatchIngest):
    """The confluent-kafka batch reader (``CHATGUARD_INGEST=rdkafka``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._sink: RdkafkaSink | None = None
        # every consumer call in one thread: librdkafka calls on_revoke from inside consume
        self._io = ThreadPoolExecutor(1, thread_name_prefix="chatguard-consume")
        self._assigned: set[tuple[str, int]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # per partition, the offset an unreadable record batch was last stepped over to
        self._stepped_to: dict[tuple[str, int], int] = {}
        # reads the header of a batch librdkafka cannot read: where it ends (opened when needed)
        self._headers: AIOKafkaClient | None = None
        # per partition, its offsets in librdkafka's last statistics (``_on_statistics``)
        self._offsets: dict[Partition, Offsets] = {}
        # a partition that has supplied a batch in a row goes to the back of the fetch queue
        self._turns: PartitionTurns[tuple[str, int]] = PartitionTurns(
            self.settings.batch_size, self.settings.batch_max_bytes
        )
        self._sizes = RecordSizes()
        # records consumed past a batch's budget, handed out first in the next batch
        self._carried: CarriedRecords[tuple[str, int], Message] = CarriedRecords(
            lambda m: cast(int, m.offset()), _size
        )
        # partitions revoked or lost while a batch is being fetched (the rebalance callbacks)
        self._revoked: set[tuple[str, int]] = set()
        # a client that knows no broker is replaced (``streams.broker_list_watch``)
        self._consumer_brokers = BrokerListWatch()
        self._producer_brokers = BrokerListWatch()
        self._replace_consumer = threading.Event()
        self._consumers_made = 0
        self._replace_producer = threading.Event()
        # replaced clients, kept so that the event loop's thread never destroys one (it may
        # block): each is closed in a thread of its own
        self._replaced: list[Consumer | Producer] = []

    def assignment(self) -> set[tuple[str, int]]:
        return set(self._assigned)

    def partition_offsets(self) -> dict[Partition, Offsets]:
        held = self._assigned
        return {part: offsets for part, offsets in self._offsets.items() if part in held}

    def _on_statistics(self, generation: int, text: str) -> None:
        """librdkafka's statistics, every :data:`CHECK_EVERY_S` (in the consume thread, from
        ``poll``): keep each partition's offsets, and notice a consumer that knows no broker.
        Never raises: ``poll`` would raise it."""
        if generation != self._consumers_made:  # a replaced consumer's last words
            return
        try:
            statistics = orjson.loads(text)
            self._offsets = rdkafka_offsets(statistics)
        except Exception as exc:  # a shape this librdkafka does not write: no offsets then
            log.warning("librdkafka statistics not read: %r", exc)
            self._offsets = {}
            return
        if self._consumer_brokers.saw(statistics, time.monotonic()):
            self._replace_consumer.set()

    def _on_producer_statistics(self, text: str) -> None:
        """The producer's statistics (from ``poll`` and ``flush``): notice one that knows no
        broker. Never raises."""
        try:
            forgot = self._producer_brokers.saw(orjson.loads(text), time.monotonic())
        except Exception as exc:
            log.warning("librdkafka statistics not read: %r", exc)
            return
        if forgot:
            self._replace_producer.set()

    def _new_producer(self) -> Producer:
        return Producer(
            {
                **kafka_options.rdkafka_producer(self.settings, "batch-reader"),
                "statistics.interval.ms": int(CHECK_EVERY_S * 1000),
                "stats_cb": self._on_producer_statistics,
            }
        )

    def _new_consumer(self) -> Consumer:
        """A consumer of the input topics in the moderation group; its callbacks ignore it
        once it has been replaced."""
        self._consumers_made += 1
        consumer = Consumer(
            {
                **kafka_options.rdkafka_group_consumer(
                    self.settings, self.group_id, "batch-reader"
                ),
                "error_cb": self._client_error,
                # each partition's position and end, for streams.partition_progress
                "statistics.interval.ms": int(CHECK_EVERY_S * 1000),
                "stats_cb": partial(self._on_statistics, self._consumers_made),
            }
        )
        consumer.subscribe(
            [self.settings.topic(name) for name in kinds.SCORED_TOPICS],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        return consumer

    async def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._producer = self._new_producer()
        self._sink = RdkafkaSink(self._producer, lambda: self.should_stop)
        await self._feed(self._sink).warm()
        self._consumer = self._new_consumer()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            async with self._in_hand:
                try:
                    await self._settle()
                except (KafkaException, DeliveryFailed) as exc:
                    log.warning("stopping without a final commit (broker unavailable): %s", exc)
            # leaves the group; on_revoke commits nothing more (nothing is in hand)
            await self._in_thread(self._consumer.close)
        if self._producer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, 10.0)
        if self._sink is not None:
            self._sink.close()
        if self._pipeline is not None:
            await self._pipeline.close()
        if self._headers is not None:
            await self._headers.close()
        self._io.shutdown(wait=False)

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, call, *args)

    @BatchIngest.task
    async def _read(self) -> None:
        assert self._consumer is not None
        while not self.should_stop:
            if self._replace_producer.is_set():
                await self._new_producer_for_lost_one()
            if self._replace_consumer.is_set():
                await self._new_consumer_for_lost_one()
            try:
                with metrics.batch_stage("fetch"):
                    fetched = await self._in_thread(self._fetch, self._fetch_window_s())
            except RuntimeError:  # the consumer is closed: the worker is stopping
                return
            except KafkaException as exc:
                await self._retry_later(exc)
                continue
            if not await self._handle(fetched, (KafkaException, DeliveryFailed)):
                return

    async def _new_consumer_for_lost_one(self) -> None:
        """Replace a consumer that knows no broker. Its partitions are lost to it: what was
        moderated since the last commit is read again from there by whoever gets them (this
        worker's new consumer, most likely), as after a lost assignment."""
        async with self._in_hand:
            log.warning(
                "the Kafka consumer has known no broker for %.0f s (librdkafka does not "
                "bootstrap again after a broker left every broker out of a metadata response): "
                "replacing it; what was moderated since the last commit is read again",
                self._consumer_brokers.limit_s,
            )
            try:
                await self._finish_in_flight()  # its decisions go out; re-read all the same
            except (KafkaException, DeliveryFailed) as exc:
                log.warning("the batch in flight is dropped and read again: %s", exc)
            self._assigned.clear()  # so the rewind seeks nothing on the lost consumer
            self._revoked.clear()
            await self._rewind()
            self._stepped_to.clear()
            self._offsets = {}
            lost, self._consumer = self._consumer, None
            self._consumer_brokers = BrokerListWatch(self._consumer_brokers.limit_s)
            self._replace_consumer.clear()
            self._consumer = await self._in_thread(self._new_consumer)
            if lost is not None:
                self._put_away(lost, lost.close)

    async def _new_producer_for_lost_one(self) -> None:
        """Replace a producer that knows no broker. The records it holds are failed (purged),
        so the next delivery check rewinds their batch and sends it again through the new one."""
        async with self._in_hand:
            log.warning(
                "the Kafka producer has known no broker for %.0f s: replacing it; the records "
                "it held are sent again",
                self._producer_brokers.limit_s,
            )
            lost = self._producer
            self._producer = self._new_producer()
            self._producer_brokers = BrokerListWatch(self._producer_brokers.limit_s)
            self._replace_producer.clear()
            if self._sink is not None:
                self._sink.producer = self._producer
            if lost is not None:
                # every record it held fails, in its delivery callback, before any commit
                await self._in_thread(_fail_every_record, lost)
                self._put_away(lost, partial(lost.flush, 1.0))

    def _put_away(self, client: Consumer | Producer, close: Any) -> None:
        """Close a replaced client in a thread of its own (it knows no broker, so closing may
        wait), and keep a reference, so that it is never destroyed on the event loop's thread."""
        self._replaced.append(client)
        threading.Thread(
            target=_quietly, args=(close,), name="chatguard-close-replaced", daemon=True
        ).start()

    def _fetch(self, window_s: float) -> list[Message]:
        """Up to ``batch_size`` messages, as soon as there is one (``consume`` alone would wait
        out the whole window for a full batch, adding its length to every decision's latency
        when traffic is light): the first within ``window_s``, then what is queued. Records
        carried from the last batch come first."""
        fetched: list[Message] = []
        self._revoked.clear()
        try:
            self._fill(fetched, window_s)
        except BaseException:
            # the client's position is past what was taken: it waits for the next batch
            self._forget_revoked(fetched)
            taken: dict[tuple[str, int], list[Message]] = {}
            for message in fetched:
                taken.setdefault(_partition(message), []).append(message)
            for part, messages in taken.items():
                self._carried.put_back(part, messages)
            raise
        over = self._turns.served(
            (_partition(m), _size(m)) for m in fetched if m.topic() is not None
        )
        if over is not None and not self._carried.holds(over) and len(self._assigned) > 1:
            self._to_the_back(over)
        return fetched

    def _fill(self, fetched: list[Message], window_s: float) -> None:
        assert self._consumer is not None
        budget = BatchBudget(self.settings.batch_size, self.settings.batch_max_bytes)
        for part in self._carried.partitions():
            fetched.extend(self._carried.take(part, budget))
        if self._carried or budget.full:  # a fetch now would hand out records after them
            return
        # librdkafka runs the rebalance callbacks inside poll and consume
        first = self._consumer.poll(0 if fetched else window_s)
        self._forget_revoked(fetched)
        if first is None:
            return
        consumed = [first]
        asked = self._sizes.fit(budget, budget.records) - 1
        if asked:
            try:
                more = self._consumer.consume(asked, 0)
            except BaseException:
                fetched.extend(consumed)  # past the client's position too: kept with the rest
                raise
            self._forget_revoked(fetched, consumed)
            consumed.extend(more)
        fetched.extend(self._within_budget(consumed, budget))

    def _forget_revoked(self, *taken: list[Message]) -> None:
        """Leave out what was taken of partitions revoked or lost since the last call: whoever
        holds them now (this worker too, if they came back) reads them from the last commit."""
        revoked, self._revoked = self._revoked, set()
        if revoked:
            for messages in taken:
                messages[:] = [m for m in messages if _partition(m) not in revoked]

    def _within_budget(self, consumed: list[Message], budget: BatchBudget) -> list[Message]:
        """What a batch's budget (``streams.batch_budget``) has room for of ``consumed``, in
        order; a partition's records from the first left out are carried to the next batch."""
        kept: list[Message] = []
        for message in consumed:
            part = _partition(message)
            size = _size(message)
            if size:
                self._sizes.saw(part, [size])
            if self._carried.holds(part) or not budget.take([size]):
                self._carried.carry(part, [message])
            else:
                kept.append(message)
        return kept

    def _to_the_back(self, part: tuple[str, int]) -> None:
        """Send a partition whose turn is over to the back of librdkafka's queue: pausing it
        drops what is queued of it and keeps its position after the last record handed out
        (``pause`` waits for both); resumed, it is fetched again from there, behind what the
        other partitions have queued (``streams.partition_turns``)."""
        assert self._consumer is not None
        partitions = [TopicPartition(*part)]
        try:
            self._consumer.pause(partitions)
        finally:  # never left paused: nothing else resumes it, not even a new assignment
            self._consumer.resume(partitions)

    async def _moderate(self, fetched: list[Message]) -> None:
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
        if batch:
            spans: dict[tuple[str, int], tuple[int, int]] = {}
            for raw in batch:
                part = (raw.topic, raw.partition)
                spans[part] = (spans[part][0] if part in spans else raw.offset, raw.offset)
            await self._overlapped(batch, spans)
        if not unreadable:
            return
        # the batch must be finished first: an unreadable record's offset may be past its own
        await self._finish_in_flight()
        pipeline = self._pipeline_now()
        assert self._consumer is not None
        for raw in unreadable:
            part = (raw.topic, raw.partition)
            stepped = self._stepped_to.get(part)
            if stepped is not None and raw.offset < stepped:
                # the same batch again (fetched from inside it): one offset further each time
                target = stepped + 1
            else:
                why = f"librdkafka could not read the record batch at {raw.topic}-{raw.partition}@{raw.offset}"
                await pipeline.dead_letter(raw, Rejected("unreadable_batch", why))
                self._since_commit += 1
                target = raw.offset + 1
            # past the whole batch, as its header says: one offset at a time, a batch of 1,001
            # records held its partition for 562 s (streams.batch_bounds)
            tp = aiokafka.TopicPartition(*part)
            end = await batch_end(await self._header_reader(), tp, target - 1)
            target = max(target, end or target)
            # librdkafka does not step over a batch it refuses to decompress (past
            # ``receive.message.max.bytes``): it fetched the same offset again every 0.55 s, a
            # new dead letter each time, and the partition stalled behind it
            await self._in_thread(self._consumer.seek, TopicPartition(*part, target))
            self._carried.drop([part])  # fetched again after the seek
            self._stepped_to[part] = target
            self._moderated(part, target - 1)

    async def _header_reader(self) -> AIOKafkaClient:
        if self._headers is None:
            self._headers = AIOKafkaClient(**kafka_options.connection(self.settings))
            await self._headers.bootstrap()
        return self._headers

    def _client_error(self, error: KafkaError) -> None:
        """librdkafka's own reports (a broker away, reconnecting): it retries by itself."""
        if error.fatal():
            raise KafkaException(error)
        log.warning("Kafka client: %s", error.str())

    async def _commit_offsets(self, offsets: dict[Any, int]) -> None:
        assert self._consumer is not None
        partitions = [
            TopicPartition(topic, part, offset) for (topic, part), offset in offsets.items()
        ]
        try:
            await self._in_thread(
                partial(self._consumer.commit, offsets=partitions, asynchronous=False)
            )
        except KafkaException as exc:
            if exc.args[0].code() not in GROUP_MOVED_ON:
                raise
            log.warning("commit of %d partitions failed, will be re-read: %s", len(offsets), exc)

    async def _rewind(self) -> None:
        """Forget what was moderated since the last commit and re-read it from there."""
        assert self._consumer is not None
        consumer = self._consumer
        # a partition with nothing moderated since its commit may still have records carried
        targets = {**self._carried.drop(), **self._rewind_to}
        for (topic, partition), offset in targets.items():
            if (topic, partition) in self._assigned and offset >= 0:
                await self._in_thread(consumer.seek, TopicPartition(topic, partition, offset))
        self._rewind_to.clear()
        self._done.clear()
        self._in_flight = None  # dropped: it is read again too
        self._since_commit = 0

    # Rebalance callbacks: librdkafka runs them in the consume thread, inside ``consume``, when
    # no batch is in hand (the event loop is waiting for that consume call).

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self._consumer:  # replaced: its assignment is nothing to this reader
            return
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info(
            "moderating %d partitions: %s",
            len(partitions),
            sorted(f"{tp.topic}-{tp.partition}" for tp in partitions),
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Deliver and commit what was moderated before giving partitions away."""
        assert self._producer is not None
        if consumer is not self._consumer:  # a replaced consumer, closing
            return
        self._finish_from_callback()
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
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        self._assigned.difference_update(revoked)
        self._carried.drop(revoked)  # their next owner reads them from the commit
        self._revoked.update(revoked)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions taken away without a chance to commit: their new owner re-reads them."""
        if consumer is not self._consumer:  # a replaced consumer, closing
            return
        # the batch in flight may hold partitions still ours, past their consumer position
        self._finish_from_callback()
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned.difference_update(lost)
        self._carried.drop(lost)
        self._revoked.update(lost)
        for tp in lost:
            self._done.pop(tp, None)
            self._rewind_to.pop(tp, None)

    def _finish_from_callback(self) -> None:
        """Finish the batch in flight from a rebalance callback. The event loop is free: it is
        waiting for the consume call that runs the callback."""
        if self._in_flight is None or self._loop is None:
            return
        finishing = asyncio.run_coroutine_threadsafe(self._finish_in_flight(), self._loop)
        try:
            finishing.result(timeout=60)
        except Exception as exc:  # its events are re-read from the last commit
            log.warning("could not finish the batch in flight before a rebalance: %r", exc)
            self._in_flight = None


def _fail_every_record(producer: Producer) -> None:
    """Fail the records a producer holds: the sink counts each failure in its delivery
    callback, so the batch they belong to is rewound and sent again, never committed."""
    producer.purge()
    producer.poll(0)


def _quietly(close: Any) -> None:
    try:
        close()
    except Exception as exc:  # it knew no broker: there is nothing left to lose
        log.info("a replaced Kafka client closed with: %r", exc)


def _partition(message: Message) -> tuple[str, int]:
    return (cast(str, message.topic()), cast(int, message.partition()))


def _size(message: Message) -> int:
    """What a message costs a batch; an error (an unreadable batch) has no record to count: the
    pipeline reports it."""
    if message.error() is not None:
        return 0
    return record_bytes(message.key(), message.value(), message.headers())


def _raw(message: Message) -> RawMessage:
    """What the pipeline needs of a consumed message (an unreadable one has no key or value)."""
    return RawMessage(
        cast(str, message.topic()),
        cast(int, message.partition()),
        cast(int, message.offset()),
        message.key() if message.error() is None else None,
        message.value() if message.error() is None else None,
    )
