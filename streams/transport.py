"""Faust's aiokafka transport, with its consumer reading only committed records.

faust-streaming asks aiokafka for ``read_committed`` only under ``exactly_once``; under the default
at-least-once guarantee its consumer also returns the records of aborted transactions, so a
producer's rolled-back user reports would still count as strikes. It has no setting for this, so
the worker consumer its thread creates is given the isolation level before it starts.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

READ_COMMITTED = "read_committed"


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread; its aiokafka consumer skips aborted transactions."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher in start(); faust-streaming offers no keyword for it
        consumer._isolation_level = READ_COMMITTED
        return consumer


class ReadCommittedConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, run by :class:`ReadCommittedConsumerThread`."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The ``kafka://`` transport with :class:`ReadCommittedConsumer`."""

    Consumer: ClassVar[Any] = ReadCommittedConsumer
