"""Where the pipeline's outgoing records go: Faust's producer, or a batching aiokafka producer.

Both take a whole batch of records at once (``OutputSink.send_all``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from streams.pipeline import Outgoing


class FaustSink:
    """Sends through the Faust app's producer (its transaction manager under exactly-once).

    It skips Faust's per-message ``Topic.send`` machinery (futures, serializers, sensors), which
    cost more than scoring in profiles; delivery is still awaited by Faust's flush before commit.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        producer = await self.app.maybe_start_producer()
        for record in records:
            await producer.send(record.topic, record.key, record.value, None, None, None)


@lru_cache(maxsize=65_536)
def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java's and aiokafka's) gives ``key``.

    Cached because murmur2 is pure Python in aiokafka and account keys repeat."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


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
        by_partition: dict[tuple[str, int], list[Outgoing]] = defaultdict(list)
        for record in records:
            count = self._partitions.get(record.topic) or await self._count(record.topic)
            if record.key is None:
                self._round_robin += 1
                partition = self._round_robin % count
            else:
                partition = partition_for(record.key, count)
            by_partition[(record.topic, partition)].append(record)
        for (topic, partition), group in by_partition.items():
            batch = self.producer.create_batch()
            for record in group:
                if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                    # full: send it and start another (a record never exceeds an empty batch,
                    # since max_batch_size is above the largest event chatguard accepts)
                    await self._send(batch, topic, partition)
                    batch = self.producer.create_batch()
                    batch.append(key=record.key, value=record.value, timestamp=None)
            await self._send(batch, topic, partition)

    async def _send(self, batch: Any, topic: str, partition: int) -> None:
        batch.close()
        self._pending.append(await self.producer.send_batch(batch, topic, partition=partition))

    async def _count(self, topic: str) -> int:
        self._partitions[topic] = len(await self.producer.partitions_for(topic))
        return self._partitions[topic]

    async def delivered(self) -> None:
        """Wait for every batch queued so far; raise if the producer gave up on one."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
