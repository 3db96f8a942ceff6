"""Raw records to produce, and a producer that sends them: ``chatguard moderate`` and the tools.

A record is sent as given (bytes, already encoded), so the development tools can send malformed
events through the same path as well-formed ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from chatguard.settings import Settings


@dataclass(frozen=True)
class OutgoingEvent:
    """One event to produce: its logical topic, key and raw value."""

    topic: str
    key: bytes
    value: bytes
    event_id: str
    kind: str  # "valid", or how it is malformed (devtools.produce.MALFORMED_KINDS)
    expected: tuple[str, ...] = ()
    account_id: str = ""


async def send_events(
    settings: Settings, events: Sequence[OutgoingEvent], rate: float | None = None
) -> float:
    """Produce ``events`` (at ``rate`` per second if given); return the seconds it took."""
    from streams import kafka_options
    from streams.producers import TrackingProducer

    # events go to several topics: a plain producer could strand a batch (streams.producers)
    producer = TrackingProducer(**kafka_options.producer(settings, "outgoing"))
    started = time.perf_counter()
    try:
        await producer.start()  # inside: a broker that is away still closes the producer
        # the pace starts once the producer is connected: counted from before, the events due
        # while it connected went out in one burst (a backlog the benchmark's latency included)
        paced_from = time.perf_counter()
        pending = []
        for i, event in enumerate(events):
            pending.append(
                await producer.send(settings.topic(event.topic), event.value, key=event.key)
            )
            if rate:
                ahead = (i + 1) / rate - (time.perf_counter() - paced_from)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await producer.flush()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started
