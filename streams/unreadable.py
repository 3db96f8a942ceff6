"""Record batches the consumer cannot read: found, stepped over, and named for a dead letter.

aiokafka decompresses and parses a fetched batch while handing out its records. When it cannot
(a codec it has no library for, bytes that do not decompress, a checksum that does not match, a
header key that is not UTF-8, which the broker passes on unchecked), ``getmany`` raises, and raises again on every retry, because the consumer's position stays before the batch:
a worker that lets the error through exits, and exits again on every restart. A batch that cannot
be read cannot be moderated either, so the honest outcome is a dead letter naming the partition
and the offsets it covers (its bytes stay in Kafka, where a capable client can still read them),
and the partition goes on after it.

aiokafka's error does not say which partition failed, and records of other partitions that were
drained in the failing call are dropped. :func:`probe_partition` rewinds a partition to its
committed offset (:func:`committed_starts`) and reads it on its own; on the failing one,
:func:`step_over` reads one record at a time up to the batch, then seeks past the batch its
header says it covers (``streams.batch_bounds``; one offset at a time where the header cannot
be read), until a fetch succeeds again (a fetch from any offset inside a compressed batch returns
the whole batch). Readers without a group (the followers of control topics, the recent-events
replay) keep their own positions and fetch through :func:`fetch_from`, which does the same from
those positions.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cramjam
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    ConsumerStoppedError,
    CorruptRecordException,
    IllegalStateError,
    UnsupportedCodecError,
)

from streams import decompression
from streams.batch_bounds import batch_end
from streams.decoding import Rejected

if TYPE_CHECKING:
    from streams.pipeline import RawMessage

# what aiokafka raises from getmany for a batch it cannot decompress, verify or parse
UNREADABLE: tuple[type[BaseException], ...] = (
    UnsupportedCodecError,
    CorruptRecordException,
    cramjam.DecompressionError,
    gzip.BadGzipFile,
    zlib.error,
    EOFError,
    UnicodeDecodeError,  # a header key that is not UTF-8: it stopped the worker, on every restart
    decompression.DecompressedTooLarge,
)

# every reader of this app reads through this module: its batches decompress to a bound
decompression.install()

# what ends a search early: stopping, a partition taken away by a rebalance, the time bound
INTERRUPTED: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConsumerStoppedError,
    IllegalStateError,
)

PROBE_TIMEOUT_MS = 5_000  # a fetch normally answers within milliseconds; this bounds a slow one
# one slice of that wait: a partition whose last offsets are transaction markers (or aborted
# records) yields no record ever, and waiting the whole bound on each of them was 5 s apiece
PROBE_POLL_MS = 100


@dataclass(frozen=True)
class UnreadableBatch:
    """Offsets ``first``..``last`` of ``tp`` could not be read; ``error`` says why."""

    tp: TopicPartition
    first: int
    last: int
    error: str

    def describe(self) -> str:
        return (
            f"offsets {self.first}-{self.last} of {self.tp.topic}[{self.tp.partition}] "
            f"could not be read (decompressed or parsed) and were skipped: {self.error}"
        )

    def source(self) -> RawMessage:
        """The dead letter's source position: the batch's first offset (no bytes to carry)."""
        from streams.pipeline import RawMessage  # the pipeline's modules read through this one

        return RawMessage(self.tp.topic, self.tp.partition, self.first, None, None)

    def rejected(self) -> Rejected:
        return Rejected("unreadable_batch", self.describe())


async def committed_starts(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """Where each of ``partitions`` is read again from: its group's committed offset, or its
    beginning (an explicit offset: ``seek_to_beginning`` leaves the position unset for a while,
    and Faust's livelock check, in another thread, asserts that it is set). The beginnings are
    asked for in one request: each request waits behind the consumer's long-polling fetch (1.5 s
    under Faust), and asking per partition made a worker with about 80 partitions take half a
    minute to step over one unreadable record."""
    starts: dict[TopicPartition, int] = {}
    never_committed = []
    for tp in partitions:
        committed = await consumer.committed(tp)
        if committed is None:
            never_committed.append(tp)
        else:
            starts[tp] = committed
    if never_committed:
        starts.update(await consumer.beginning_offsets(never_committed))
    return starts


async def probe_partition(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    end: int,
    max_records: int,
    start: int,
) -> tuple[list[Any], UnreadableBatch | None]:
    """Read ``tp`` alone from ``start`` (a group's reader: its committed offset,
    :func:`committed_starts`): its records, and the batch it cannot read (stepped over) if that
    is where the consumer failed."""
    consumer.seek(tp, start)  # anything fetched before is dropped
    try:
        return await fetch_some(consumer, tp, end, max_records), None
    except UNREADABLE:
        return await step_over(consumer, tp, end)


async def fetch_some(
    consumer: AIOKafkaConsumer, tp: TopicPartition, end: int, max_records: int
) -> list[Any]:
    """The next records of ``tp``: as soon as there are some, or nothing once its position
    reaches ``end`` (only markers or aborted records were left) or ``PROBE_TIMEOUT_MS`` passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROBE_TIMEOUT_MS / 1000
    while await consumer.position(tp) < end:
        fetched = await consumer.getmany(tp, timeout_ms=PROBE_POLL_MS, max_records=max_records)
        if fetched.get(tp):
            return fetched[tp]
        if loop.time() >= deadline:
            break
    return []


async def step_over(
    consumer: AIOKafkaConsumer, tp: TopicPartition, end: int
) -> tuple[list[Any], UnreadableBatch | None]:
    """Records of ``tp`` before its unreadable batch, the batch, and the consumer placed after it."""
    good: list[Any] = []
    consumer.seek(tp, await consumer.position(tp))  # the failed fetch result is dead: drop it
    while True:
        try:
            good.extend(await fetch_some(consumer, tp, end, 1))
        except UNREADABLE as exc:
            error = exc
            break
        if await consumer.position(tp) >= end:
            return good, None  # it read after all (a transient checksum error)
    first = await consumer.position(tp)
    offset = first + 1
    client = getattr(consumer, "_client", None)  # aiokafka's, for the batch's header
    while offset < end:
        if client is not None:
            # past the whole batch that holds the last offset found unreadable, at once
            after = await batch_end(client, tp, offset - 1)
            offset = min(max(offset, after or offset), end)
            if offset >= end:
                continue  # the batch was the partition's last: placed at its end below
        consumer.seek(tp, offset)
        try:
            fetched = await consumer.getmany(tp, timeout_ms=PROBE_TIMEOUT_MS, max_records=1)
        except UNREADABLE:
            offset += 1  # still inside the batch
            continue
        if fetched.get(tp):
            good.extend(fetched[tp])
            break
        if await consumer.position(tp) > offset:
            break  # only control records or an aborted transaction there: the batch ended
    else:
        consumer.seek(tp, end)
    return good, UnreadableBatch(tp, first, offset - 1, repr(error))


async def fetch_from(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    positions: dict[TopicPartition, int],
    timeout_ms: int,
    max_records: int = 500,
) -> tuple[dict[TopicPartition, list[Any]], list[UnreadableBatch]]:
    """``getmany`` for a reader that keeps its own ``positions`` (per partition, the next offset
    it has not handed on, control records included; updated here): a batch that cannot be
    decompressed is stepped over and returned, and the records the failing call dropped are read
    again from ``positions``."""
    try:
        fetched = await consumer.getmany(
            *partitions, timeout_ms=timeout_ms, max_records=max_records
        )
        batches: list[UnreadableBatch] = []
    except UNREADABLE:
        ends = await consumer.end_offsets(list(partitions))
        fetched, batches = {}, []
        for tp in partitions:
            good, batch = await probe_partition(
                consumer, tp, ends[tp], max_records, start=positions[tp]
            )
            if good:
                fetched[tp] = good
            if batch is not None:
                batches.append(batch)
                positions[tp] = batch.last + 1
    for tp in partitions:  # past what was handed out, and past transaction markers too
        positions[tp] = max(positions[tp], await consumer.position(tp))
    return fetched, batches
