"""Noticing a Kafka producer that has stopped delivering, waking it, and saying so on ``/health``.

In CI a worker's aiokafka producer twice held record batches it never sent, with no request in
flight: once from the moment the worker was told to stop, once mid-run for over five minutes.
The commits behind those batches waited, the worker's partitions stalled, and ``/health`` still
said ok. That cause is fixed (``streams.producers``); this watch is for the next one.

So the worker looks every :data:`CHECK_EVERY_S` at the oldest batch each of its aiokafka
producers has not had acknowledged yet:

- older than :data:`NUDGE_AFTER_S`: it logs what the producer waits on
  (:func:`streams.transport.describe_producer`), wakes its sender and asks for fresh metadata
  about every topic it holds batches for. aiokafka does the same on new data and on an unknown
  leader, so this costs nothing when the sender is merely busy; it is what a lost wake-up, or
  metadata that stopped naming a topic (the cause found, ``streams.producers``), would need;
- older than ``settings.producer_stall_s``: ``/health`` answers 503 naming the producer, so the
  orchestrator restarts the worker. Nothing is lost: the inputs behind undelivered records are
  not committed, so the partitions' next owner reads them again.

A broker outage ages batches too; the default stall limit (5 minutes) is longer than the outage
a worker rides out in the tests (2 minutes), and a restart during a longer one does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.transport import describe_producer

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
NUDGE_AFTER_S = 30.0
DESCRIBE_EVERY_S = 60.0  # while a producer does not deliver, its state is logged again this often


def oldest_undelivered_age(producer: Any, now: float) -> float | None:
    """Seconds since the oldest batch the aiokafka ``producer`` holds (queued, or sent and not
    yet acknowledged) was opened; None when it holds none. ``now`` is ``time.monotonic()``,
    aiokafka's clock for batches. Reads private attributes, so defensively."""
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is None:
        return None
    batches = [batch for queue in accumulator._batches.values() for batch in queue]
    batches.extend(accumulator._pending_batches)
    if not batches:
        return None
    return max(0.0, now - min(batch._ctime for batch in batches))


def nudge(producer: Any) -> None:
    """Wake the producer's sender as new data would, and ask for fresh metadata, naming every
    topic it holds batches for (``streams.producers``: metadata that stopped naming a topic
    stalled its batches), as an unknown leader would."""
    accumulator = getattr(producer, "_message_accumulator", None)
    client = getattr(producer, "client", None)
    if accumulator is None or client is None:
        return
    if not accumulator._waiter_future.done():
        accumulator._waiter_future.set_result(None)
    asked = [client.force_metadata_update()]
    for topic in {tp.topic for tp in accumulator._batches} - set(client._topics):
        asked.append(client.add_topic(topic))
    for update in asked:  # nobody awaits these: fetch their outcome so asyncio logs none as lost
        update.add_done_callback(lambda done: done.cancelled() or done.exception())


class ProducerWatch:
    """Which producers are stalled, from one look at their oldest undelivered batches."""

    def __init__(self, stall_after_s: float, nudge_after_s: float = NUDGE_AFTER_S) -> None:
        self.stall_after_s = stall_after_s
        self.nudge_after_s = min(nudge_after_s, stall_after_s)
        self.stalled: dict[str, str] = {}  # producer name → why, for /health
        self._waiting: dict[str, float] = {}  # nudged producer → when its state was last logged

    def check(self, producers: Mapping[str, Any], now: float) -> None:
        """Look at each named aiokafka producer; nudge and log the slow ones, note the stalled."""
        for name in list(self._waiting):
            if name not in producers:  # stopped, e.g. a transaction producer after a rebalance
                self._forget(name)
        for name, producer in producers.items():
            age = oldest_undelivered_age(producer, now)
            if age is None or age < self.nudge_after_s:
                if name in self._waiting:
                    self._forget(name)
                    log.warning("the %s producer delivers again", name)
                continue
            if name not in self._waiting:
                self._waiting[name] = now
                log.warning(
                    "the %s producer has not delivered a batch for %.0fs; waking it (%s)",
                    name,
                    age,
                    describe_producer(producer),
                )
                nudge(producer)
            elif now - self._waiting[name] >= DESCRIBE_EVERY_S:
                self._waiting[name] = now
                log.warning(
                    "the %s producer has still not delivered, for %.0fs (%s)",
                    name,
                    age,
                    describe_producer(producer),
                )
            if age < self.stall_after_s:
                continue
            known = name in self.stalled
            self.stalled[name] = (
                f"no batch delivered for {age:.0f}s (limit {self.stall_after_s:.0f}s)"
            )
            if not known:
                log.error(
                    "the %s producer is stalled: %s; /health answers 503 (%s)",
                    name,
                    self.stalled[name],
                    describe_producer(producer),
                )

    def _forget(self, name: str) -> None:
        self._waiting.pop(name, None)
        self.stalled.pop(name, None)
