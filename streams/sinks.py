"""Where the pipeline's outgoing records go: the :class:`OutputSink` protocol, and its two Kafka
sinks, Faust's producer (:class:`FaustSink`) or a batching aiokafka producer (:class:`BatchSink`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from streams.partitioning import partitions_for
from streams.retry import Outage

if TYPE_CHECKING:
    from streams.pipeline import Outgoing  # the pipeline names this protocol: no import cycle

log = logging.getLogger(__name__)


class OutputSink(Protocol):
    """Where outgoing records go: Kafka in a worker, a list in agent tests.

    At-least-once rests on these two methods: the batch reader commits a batch's offsets only
    after ``delivered()`` has returned, and on a :class:`~aiokafka.errors.KafkaError` from
    either it commits nothing and moderates the batch again from its last commit.
    """

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        """Hand over a whole batch's records (so a sink can build one producer batch per
        partition); may return before the broker has them."""

    async def delivered(self) -> None:
        """Return once the broker has every record handed over so far; raise (a
        ``KafkaError``) if one was lost, after waiting for all the others."""


class FaustSink:
    """Sends through the Faust app's producer.

    It skips Faust's per-message ``Topic.send`` machinery (serializers, sensors), which cost
    more than scoring in profiles. ``send_all`` returns once the broker has every record: Faust's
    flush before a commit does not fail for a batch the producer gave up on (a broker away
    longer than the request timeout), so the agent would commit offsets whose output is lost.
    Records not delivered are sent again after a backoff (``streams.retry``) until they are.

    Under exactly-once each record goes out in the transaction of the partition its input came
    from, which Faust commits together with that partition's offsets. Faust's own routing
    (``TransactionManager.send``) picks the transaction by the *output* partition: records for
    topics the app does not consume went out outside any transaction, and the others joined a
    transaction that the input's commit did not end, so it stayed open until the broker aborted
    it and the agent's sends failed from then on. A record whose input partition this worker no
    longer owns is dropped: the partition's new owner moderates that input again from its last
    committed offset.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def delivered(self) -> None:
        """Nothing to wait for: :meth:`send_all` returns only once every record is delivered."""

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        producer = await self.app.maybe_start_producer()
        sender: _Sender = (
            _SourceTransactions(self.app, producer.producer)  # the TransactionManager's producer
            if self.app.in_transaction
            else _Plain(producer)
        )
        unsent, outage = list(records), None
        while unsent:
            unsent, error = await self._send(sender, unsent)
            if error is not None:
                outage = outage or Outage("Faust producer")
                await asyncio.sleep(outage.failed(error))
        if outage is not None:
            outage.over()

    @staticmethod
    async def _send(
        sender: _Sender, records: list[Outgoing]
    ) -> tuple[list[Outgoing], BaseException | None]:
        """Send ``records`` and wait for them: those not delivered, and why."""
        futures: list[Any] = []
        error: BaseException | None = None
        for record in records:
            try:
                futures.append(await sender.send_record(record))
            except (KafkaError, ProducerSendError) as exc:
                error = exc
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed: list[Outgoing] = []
        for record, result in zip(records[: len(futures)], results, strict=True):
            if isinstance(result, KafkaError):
                failed.append(record)
                error = error or result
            elif isinstance(result, BaseException):
                raise result  # not the broker being away: a bug, not to be retried
        return failed + records[len(futures) :], error


class _Sender(Protocol):
    async def send_record(self, record: Outgoing) -> Awaitable[Any]:
        """Queue ``record``: a future for its delivery."""


class _Plain:
    """Faust's producer, outside any transaction."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer

    async def send_record(self, record: Outgoing) -> Awaitable[Any]:
        return await self.producer.send(
            record.topic, record.key, record.value, None, None, list(record.headers) or None
        )


class _SourceTransactions:
    """Faust's producer, sending each record in its input partition's transaction."""

    def __init__(self, app: Any, producer: Any) -> None:
        self.app = app
        self.producer = producer  # faust.transport.drivers.aiokafka.Producer

    async def send_record(self, record: Outgoing) -> Awaitable[Any]:
        source = record.source
        if source is None:  # not an answer to an input (e.g. a model update): no transaction
            return await self.producer.send(
                record.topic, record.key, record.value, None, None, list(record.headers) or None
            )
        group = self.app.assignor.group_for_topic(source.topic)
        # Faust's name for the transaction of an input partition (TransactionManager.commit)
        transactional_id = f"{self.app.conf.id}-{group}-{source.partition}"
        if transactional_id not in self.producer._transaction_producers:
            log.info("not sending for %s-%d: no longer assigned", source.topic, source.partition)
            return _sent_nowhere()
        return await self.producer.send(
            record.topic,
            record.key,
            record.value,
            None,
            None,
            list(record.headers) or None,
            transactional_id=transactional_id,
        )


def _sent_nowhere() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


class BatchSink:
    """Groups a batch's records per partition into one producer batch each.

    ``send_all`` returns once the batches are queued; :meth:`delivered` waits until the broker
    has acknowledged everything queued so far, which the reader does before committing offsets.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self._partitions: dict[str, int] = {}
        self._pending: list[asyncio.Future[Any]] = []
        self._round_robin = 0

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        counts = []
        for record in records:
            counts.append(self._partitions.get(record.topic) or await self._count(record.topic))
        by_partition: dict[tuple[str, int], list[Outgoing]] = defaultdict(list)
        for record, partition in zip(records, self._partitions_of(records, counts), strict=True):
            by_partition[(record.topic, partition)].append(record)
        for (topic, partition), group in by_partition.items():
            batch = self.producer.create_batch()
            for record in group:
                if batch.append(**_fields(record)) is None:
                    # full: send it and start another (a record never exceeds an empty batch,
                    # since max_batch_size is above the largest event chatguard accepts)
                    await self._send(batch, topic, partition)
                    batch = self.producer.create_batch()
                    batch.append(**_fields(record))
            await self._send(batch, topic, partition)

    def _partitions_of(self, records: Sequence[Outgoing], counts: Sequence[int]) -> list[int]:
        """Each record's partition: its key's, as Kafka's default partitioner gives it (all the
        batch's keys at once), or the next in turn for a record without a key."""
        out = [0] * len(records)
        keyed: dict[int, list[int]] = defaultdict(list)  # partition count -> record indexes
        for i, (record, count) in enumerate(zip(records, counts, strict=True)):
            if record.key is None:
                self._round_robin += 1
                out[i] = self._round_robin % count
            else:
                keyed[count].append(i)
        for count, indexes in keyed.items():
            keys = [cast(bytes, records[i].key) for i in indexes]
            for i, partition in zip(indexes, partitions_for(keys, count), strict=True):
                out[i] = partition
        return out

    async def _send(self, batch: Any, topic: str, partition: int) -> None:
        batch.close()
        self._pending.append(await self.producer.send_batch(batch, topic, partition=partition))

    async def _count(self, topic: str) -> int:
        self._partitions[topic] = len(await self.producer.partitions_for(topic))
        return self._partitions[topic]

    async def delivered(self) -> None:
        """Wait for every batch queued so far; raise if the producer gave up on one.

        Every batch is waited for, also after a failure, so none is left in flight when the
        caller re-sends them all."""
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*pending, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _fields(record: Outgoing) -> dict[str, Any]:
    """``record`` as aiokafka's ``BatchBuilder.append`` takes it."""
    return {
        "key": record.key,
        "value": record.value,
        "timestamp": None,
        "headers": list(record.headers),
    }
