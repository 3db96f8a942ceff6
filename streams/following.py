"""Following a control topic (rules, the learned list, campaigns) from its beginning,
for ever: what the holders of ``streams.rules_holder``, ``streams.learned_list`` and
``streams.campaigns`` share."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from chatguard.settings import Settings

if TYPE_CHECKING:
    from streams.fleet_signing import FleetSigner

log = logging.getLogger(__name__)
RETRY_S = 1.0


async def retrying(what: str, follow: Callable[[], Awaitable[None]]) -> None:
    """Run ``follow`` for ever: a lost connection is logged and retried, never the end of the
    task (what was read so far stays served)."""
    while True:
        try:
            await follow()
        except Exception as exc:  # the broker went away: retry
            log.warning("reading %s failed, retrying: %s", what, exc)
            await asyncio.sleep(RETRY_S)


async def read_from_beginning(settings: Settings, name: str, role: str) -> tuple[Any, list[Any]]:
    """A started committed-only reader of the learned or campaigns topic ``name`` (created, or
    converted from compacted, if need be: ``streams.control_topics``), on every partition from
    offset 0 (the caller stops it)."""
    from aiokafka import TopicPartition

    from streams import topics
    from streams.control_topics import ensure_followed_topic
    from streams.rules_holder import committed_reader

    await ensure_followed_topic(settings, topics.logical_name(settings, name))
    consumer = committed_reader(settings, role)
    await consumer.start()
    try:
        await consumer.topics()  # metadata: every partition, whoever created the topic
        partitions = [
            TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, partitions


async def start_positions(consumer: Any, partitions: Sequence[Any]) -> dict[Any, int]:
    """Each partition's next offset to read, for ``streams.unreadable.fetch_from``."""
    return {tp: await consumer.position(tp) for tp in partitions}


async def follow_records(
    settings: Settings,
    name: str,
    role: str,
    max_bytes: int,
    offer: Callable[[bytes | None, bytes | None, float], object],
    refused: Callable[[], None],
    signer: FleetSigner | None = None,
) -> None:
    """Hand every record of ``name``, from the beginning and then as they come, to ``offer``
    (key, value, the time it was read); a value over ``max_bytes`` goes to ``refused`` instead,
    and so does a record batch that cannot be decompressed (logged, stepped over) and, given a
    ``signer`` with a key, a record without the fleet's signature."""
    from streams import unreadable

    consumer, partitions = await read_from_beginning(settings, name, role)
    try:
        positions = await start_positions(consumer, partitions)
        while True:
            fetched, skipped = await unreadable.fetch_from(consumer, partitions, positions, 500)
            for batch in skipped:
                log.error("reading %s: %s", name, batch.describe())
                refused()
            now = time.time()
            for records in fetched.values():
                for message in records:
                    if message.value is not None and len(message.value) > max_bytes:
                        refused()
                        continue
                    if signer is not None:
                        problem = signer.problem(name, message.key, message.value, message.headers)
                        if problem is not None:
                            log.warning(
                                "reading %s: refused offset %d: %s", name, message.offset, problem
                            )
                            refused()
                            continue
                    offer(message.key, message.value, now)
    finally:
        await consumer.stop()
