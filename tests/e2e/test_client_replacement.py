"""The librdkafka reader replaces a consumer or a producer that knows no broker, and loses
nothing (``streams.rdkafka_reader``, ``streams.broker_list_watch``).

A client gets there when a broker shutting down leaves every broker out of a metadata response
and librdkafka cancels its own re-bootstrap (librdkafka issue #5301): about one broker restart
in five here, so ``test_faults.py::test_broker_restart_mid_stream_loses_nothing[rdkafka]``
meets it only now and then. The watch that notices it is tested on librdkafka's own statistics
(``tests/unit/test_broker_list_watch.py``); here the reader, on the real broker, is told
mid-stream what the watch would tell it, and every event must still get its outcome."""

from __future__ import annotations

import asyncio

import pytest

from chatguard.settings import Settings
from devtools.produce import build_events
from models.policy import Policy
from models.registry import ModelRegistry
from streams.learned_list import LearnedHolder
from streams.model_holder import ModelHolder, ServingModel
from streams.rdkafka_reader import RdkafkaReader
from streams.rules_holder import RulesHolder
from tests.e2e.kafka_helpers import accounted, consume, produce

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTCOMES = ["moderation.decisions", "moderation.deadletter"]


async def _outcomes(settings: Settings, at_least: int) -> set[str]:
    records = await asyncio.to_thread(
        consume,
        settings,
        OUTCOMES,
        until=lambda rs: len(accounted(rs, settings)) >= at_least,
        timeout=180,
    )
    return accounted(records, settings)


async def test_replacing_the_reader_s_clients_mid_stream_loses_nothing(
    stream_settings: Settings, stream_env: dict[str, str]
) -> None:
    settings = stream_settings
    model = ModelRegistry(settings.registry).load_current()
    holder = ModelHolder(settings)
    holder.use(ServingModel(model, Policy.from_model(model, None)))
    first, second = build_events(800, seed=51), build_events(800, seed=52)
    await asyncio.to_thread(produce, settings, first)

    reader = RdkafkaReader(settings, holder, RulesHolder(), LearnedHolder())
    await reader.start()
    try:
        await _outcomes(settings, 100)  # mid-stream: moderating, with a batch in hand
        consumer, producer = reader._consumer, reader._producer
        # what the broker list watches set when a client has known no broker for 5 s
        reader._replace_producer.set()
        reader._replace_consumer.set()
        await asyncio.to_thread(produce, settings, second)
        owed = {e.event_id for e in first} | {e.event_id for e in second}
        outcomes = await _outcomes(settings, len(owed))
    finally:
        await reader.stop()

    assert reader._consumer is not consumer, "the consumer was not replaced"
    assert reader._producer is not producer, "the producer was not replaced"
    assert outcomes == owed, f"{len(owed - outcomes)} events without an outcome"
