"""Where a record batch ends, read from its header: how a reader steps over a batch it cannot
decompress in one seek instead of one offset at a time.

A fetch from any offset inside a compressed batch returns the whole batch, so a reader that
could not read it moved one offset per failed fetch: an outside probe's 14.8 KB zstd batch of
1,001 records (one of them 70 MB when decompressed) stopped every partition of a worker for
70 s (aiokafka, ~70 ms a step) and held its partition for 562 s on confluent-kafka (0.55 s a
step); a batch of 100,000 tiny records, still under the broker's 1 MB, would have held it for
hours. A batch's header (base offset, last offset delta) is outside its compressed part, so one
raw fetch tells where the next batch starts, whatever the batch holds.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

log = logging.getLogger(__name__)

READ_UNCOMMITTED = 0  # the header is what matters, whatever the batch's transaction did
HEADER_FETCH_BYTES = 1  # the broker still returns the first batch whole (KIP-74)


async def batch_end(client: AIOKafkaClient, tp: TopicPartition, offset: int) -> int | None:
    """The first offset after the record batch that holds ``offset`` of ``tp``, or None when it
    cannot be told (no leader known, an error, nothing there, a batch in the old message
    format): the caller then steps one offset at a time as before."""
    try:
        leader = client.cluster.leader_for_partition(tp)
        if leader is None or leader < 0:
            await client.force_metadata_update()
            leader = client.cluster.leader_for_partition(tp)
        if leader is None or leader < 0:
            return None
        request = FetchRequest(
            0, 0, HEADER_FETCH_BYTES, READ_UNCOMMITTED,
            [(tp.topic, [(tp.partition, offset, HEADER_FETCH_BYTES)])],
        )  # fmt: skip
        response: Any = await client.send(leader, request)
        for _topic, partitions in response.topics:
            for partition, error_code, _highwater, *rest in partitions:
                if partition != tp.partition or error_code != 0:
                    continue
                records = MemoryRecords(rest[-1])
                batch = records.next_batch()
                next_offset = getattr(batch, "next_offset", None)
                if isinstance(next_offset, int) and next_offset > offset:
                    return next_offset
    except Exception as exc:  # a measurement: any failure falls back to stepping
        log.warning("could not read the header of the batch at %s@%d: %r", tp, offset, exc)
    return None
