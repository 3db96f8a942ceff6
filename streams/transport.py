"""Faust's aiokafka transport, with its consumer reading only committed records and stepping over
record batches it cannot decompress.

faust-streaming asks aiokafka for ``read_committed`` only under ``exactly_once``; under the default
at-least-once guarantee its consumer also returns the records of aborted transactions, so a
producer's rolled-back user reports would still count as strikes. It has no setting for this, so
the worker consumer its thread creates is given the isolation level before it starts.

A batch aiokafka cannot decompress makes Faust's fetcher raise on every try and the worker exit;
here it is stepped over as in the batch reader (``streams.unreadable``) and handed to
:attr:`Transport.on_unreadable` (the agents dead-letter it). Faust itself drops records re-read
below the offsets it has already read, and commits across the gap the batch leaves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, cast

import aiokafka
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import kafka_options, unreadable
from streams.producers import TrackingProducer

log = logging.getLogger(__name__)

# How long a stopping worker waits for its producer to deliver what it holds
STOP_FLUSH_TIMEOUT_S = 10.0
# How often a flush under way looks whether the worker has begun to stop
STOP_POLL_S = 0.5


class ProducerStuck(Exception):
    """A stopping worker's producer did not deliver its records in time."""


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread; its aiokafka consumer skips aborted transactions."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher in start(); faust-streaming offers no keyword for it
        consumer._isolation_level = kafka_options.ISOLATION_LEVEL
        return consumer

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        try:
            return await super()._fetch_records(
                consumer, active_partitions, timeout=timeout, max_records=max_records
            )
        except unreadable.UNREADABLE as exc:
            log.error("a fetched record batch cannot be read (%r); finding and skipping it", exc)
            return await self._step_over_unreadable(consumer, active_partitions, max_records)

    async def _step_over_unreadable(
        self, consumer: aiokafka.AIOKafkaConsumer, active_partitions: Any, max_records: int | None
    ) -> dict[Any, list[Any]]:
        changelogs = self.app.tables.changelog_topics  # read by Faust's recovery: not rewound
        partitions = sorted(
            TopicPartition(tp.topic, tp.partition)  # Faust passes its own TP tuples
            for tp in (active_partitions or consumer.assignment())
            if tp.topic not in changelogs
        )
        fetched: dict[Any, list[Any]] = {}
        try:
            async with asyncio.timeout(120):
                ends = await consumer.end_offsets(partitions)
                starts = await unreadable.committed_starts(consumer, partitions)
                for tp in partitions:
                    good, bad = await unreadable.probe_partition(
                        consumer, tp, ends[tp], max_records or 500, start=starts[tp]
                    )
                    if good:
                        fetched[tp] = good
                    if bad is not None:
                        await self._report(bad)
        except unreadable.INTERRUPTED as exc:
            log.warning("stepping over an unreadable batch was interrupted: %r", exc)
        return fetched

    async def _report(self, batch: unreadable.UnreadableBatch) -> None:
        """Log the batch and hand it to the app's handler, which runs on the app's loop."""
        log.error("dead-lettered %s", batch.describe())
        handler = getattr(self.transport, "on_unreadable", None)
        if handler is not None:
            done = asyncio.run_coroutine_threadsafe(handler(batch), self.app.loop)
            await asyncio.wrap_future(done)


class ReadCommittedConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, run by :class:`ReadCommittedConsumerThread`; under
    exactly-once it commits only while no agent is between sending a batch's outputs and acking
    its inputs. A stopping worker whose producer is stuck commits nothing (:class:`ProducerStuck`).

    Under exactly-once a commit ends the transaction that holds the records sent so far, with
    the offsets acked so far: one taken between the two would commit a batch's outputs without
    its offsets, and a worker killed before the next commit would moderate it twice.
    """

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        try:
            if not self.app.in_transaction:
                return cast(bool, await super().commit(topics, start_new_transaction))
            async with cast(Transport, self.transport).handing_over:
                return cast(bool, await super().commit(topics, start_new_transaction))
        except ProducerStuck as exc:
            log.warning("stopping without a final commit: %s", exc)
            return False


class BoundedStopProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer, which a stopping worker waits for a bounded time.

    Faust flushes the producer before each commit and once more at the end of a stop, and
    aiokafka's ``stop`` waits for every queued batch, each without a limit but the request
    timeout (Faust's is 20 minutes). In CI a worker's producer held queued batches it never
    sent, with no request in flight, from the moment the worker was told to stop: every commit,
    and so the clean stop, waited until the worker was killed, holding its partitions. Once the
    app is stopping, a flush (also one that began before) gives up :data:`STOP_FLUSH_TIMEOUT_S`
    later and raises :class:`ProducerStuck`, so the commit that wanted it commits nothing; later
    flushes and the producer's stop then do not wait. Nothing is lost: the undelivered records'
    inputs stay uncommitted, for the next owner. While the app runs a flush waits as long as it
    takes: a commit after a failed flush would count inputs whose outputs were lost.

    Its aiokafka producers are :class:`streams.producers.TrackingProducer`: the cause of those
    stalls (queued batches for topics their metadata had stopped asking about) is fixed there.
    """

    stuck: ProducerStuck | None = None

    @property
    def _producer_type(self) -> type[aiokafka.AIOKafkaProducer]:
        return TrackingProducer  # and so are the transaction producers

    async def flush(self) -> None:
        if self.stuck is not None:
            raise self.stuck
        flushing = asyncio.ensure_future(super().flush())
        try:
            while not (flushing.done() or self.app.should_stop):
                await asyncio.wait({flushing}, timeout=STOP_POLL_S)
            if not flushing.done():  # the app is stopping: a bounded wait from now on
                await asyncio.wait({flushing}, timeout=STOP_FLUSH_TIMEOUT_S)
            if flushing.done():
                flushing.result()
                return
            self.stuck = ProducerStuck(
                f"not delivered within {STOP_FLUSH_TIMEOUT_S:.0f}s of stopping "
                f"({describe_producer(self._producer)})"
            )
            raise self.stuck
        finally:
            flushing.cancel()

    async def commit_transactions(
        self,
        tid_to_offset_map: Mapping[str, Mapping[Any, int]],
        group_id: str,
        start_new_transaction: bool = True,
    ) -> None:
        """Faust's loop, except that a transaction producer with no transaction open is left
        out. Faust asked such producers to send offsets in 3 of 5 clean stops of an exactly-once
        worker measured on 2026-12-07: aiokafka raised ``IllegalOperation``, and the
        transactions after it in the loop were never committed, so the next owner aborted them
        and moderated their events again; raised by the periodic commit, it crashed the
        consumer and the worker exited 1. A stopping worker commits more than once (its last
        commit, and a periodic one beside it), and a commit that held a producer's lock before
        may have just closed the transaction a later one finds, so each producer is looked at
        under its lock, as it is committed. A producer with no transaction open holds no
        output; the events of offsets it could not commit are read again, never lost. A running
        worker begins it a new transaction, as a commit would have."""
        skipped = 0
        for transactional_id, offsets in tid_to_offset_map.items():
            lock = self._trn_locks.get(transactional_id)
            if lock is None:  # Faust makes the lock with the producer
                log.warning("commit for unknown transaction %s", transactional_id)
                continue
            async with lock:
                producer = self._transaction_producers.get(transactional_id)
                if producer is None:
                    log.warning("commit for unknown transaction %s", transactional_id)
                    continue
                if not _transaction_open(producer):
                    skipped += 1
                    if start_new_transaction and not self.app.should_stop:
                        await producer.begin_transaction()
                    continue
                await producer.send_offsets_to_transaction(offsets, group_id)
                await producer.commit_transaction()
                if start_new_transaction:
                    await producer.begin_transaction()
        if skipped:
            log.info("%d transactional producers had no transaction open to commit", skipped)

    async def on_stop(self) -> None:
        producer = self._producer
        if self.stuck is None:
            stopping = asyncio.ensure_future(super().on_stop())
            await asyncio.wait({stopping}, timeout=STOP_FLUSH_TIMEOUT_S)
            if stopping.done():
                stopping.result()
                return
            stopping.cancel()
            log.warning(
                "the producer did not stop within %.0fs; leaving its records (%s)",
                STOP_FLUSH_TIMEOUT_S,
                describe_producer(producer),
            )
        self._producer = None
        sender = getattr(producer, "_sender", None)
        if sender is not None and sender.sender_task is not None:
            sender.sender_task.cancel()  # not awaited: it waits for what never came


def _transaction_open(producer: aiokafka.AIOKafkaProducer) -> bool:
    """True for a producer in the middle of a transaction."""
    manager = getattr(producer, "_txn_manager", None)
    return manager is not None and bool(manager.is_in_transaction())


class Transport(faust_aiokafka.Transport):
    """The ``kafka://`` transport with :class:`ReadCommittedConsumer` and
    :class:`BoundedStopProducer`."""

    Consumer: ClassVar[Any] = ReadCommittedConsumer
    Producer: ClassVar[Any] = BoundedStopProducer
    # held by an agent from sending a batch's outputs until it has acked the batch; commits wait
    handing_over: asyncio.Lock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handing_over = asyncio.Lock()

    # called (on the app's loop) with each batch the consumer stepped over
    on_unreadable: Callable[[unreadable.UnreadableBatch], Awaitable[None]] | None = None


def describe_producer(client: Any) -> str:
    """What an aiokafka producer is waiting on: its sender, in-flight requests, metadata and
    batches (for the log of a stuck one; private attributes, so read defensively)."""
    sender = getattr(client, "_sender", None)
    accumulator = getattr(client, "_message_accumulator", None)
    if sender is None or accumulator is None:
        return "no aiokafka producer"
    task = sender.sender_task
    kafka = getattr(client, "client", None)  # the producer's AIOKafkaClient
    cluster = getattr(kafka, "cluster", None)

    def leader(tp: Any) -> Any:
        if cluster is None:
            return "?"
        found = cluster.leader_for_partition(tp)
        if found is not None:
            return found
        # why it is unknown: the topic is not asked for, or the answer lacked it or the partition
        tracked = tp.topic in getattr(kafka, "_topics", ()) or not getattr(kafka, "_topics", ())
        known = cluster.partitions_for_topic(tp.topic)
        return (
            f"unknown; topic {'asked for' if tracked else 'not asked for'}, "
            f"partitions in metadata {sorted(known) if known is not None else None}"
        )

    queued = sorted(
        f"{tp.topic}-{tp.partition} (leader {leader(tp)})"
        for tp, batches in accumulator._batches.items()
        if batches
    )
    metadata = "pending" if getattr(kafka, "_md_update_fut", None) is not None else "idle"
    sync = getattr(kafka, "_sync_task", None)
    if sync is not None and sync.done():
        metadata += (
            f" (its task ended: {sync.exception() if not sync.cancelled() else 'cancelled'!r})"
        )
    connections = {
        str(key[0]): f"{'open' if conn.connected() else 'closed'}, "
        f"{len(conn._requests)} requests unanswered, "
        f"last read or write {time.monotonic() - conn._last_action:.0f}s ago"
        for key, conn in getattr(kafka, "_conns", {}).items()
    }
    return (
        f"sender {'done' if task is not None and task.done() else 'running'}, "
        f"requests in flight to nodes {sorted(sender._in_flight)}, "
        f"partitions awaiting an answer {sorted(map(str, sender._muted_partitions))}, "
        f"{len(accumulator._pending_batches)} batches sent, metadata update {metadata}, "
        f"connections {connections}, "
        f"partitions with queued batches {queued}"
    )
