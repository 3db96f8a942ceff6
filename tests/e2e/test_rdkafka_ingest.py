"""The confluent-kafka ingest path (``CHATGUARD_INGEST=rdkafka``) against the real broker: what
it writes lands where the aiokafka path and Java's producers put it. Its fault tests (a killed
worker, a clean hand-over, a broker restart, every codec and an aborted transaction) are the
shared ones in test_fleet, test_faults and test_real_producers, run on both paths."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from chatguard.settings import Settings
from devtools.produce import build_events
from streams.partitioning import partition_for
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, produce

pytestmark = pytest.mark.e2e


def test_keyed_outputs_land_on_kafkas_default_partition_for_their_key(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """librdkafka's own default partitioner is CRC32; decisions keyed by account must land
    where murmur2 (Java's, aiokafka's, Faust's tables') puts them."""
    worker = start_worker(env={"CHATGUARD_INGEST": "rdkafka"})
    worker.wait_ready()
    body = orjson.loads(worker.get("/ready")[1])
    assert body["ingest"] == "rdkafka" and body["moderation_partitions"] > 0
    events = build_events(400, malformed_share=0.05, seed=41)
    produce(stream_settings, events)
    ids = {e.event_id for e in events}
    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=120,
    )
    assert accounted(records, stream_settings) == ids
    decisions = [r for r in records if r.topic == stream_settings.topic("moderation.decisions")]
    partitions = stream_settings.topic_partitions
    misplaced = [r for r in decisions if r.partition != partition_for(r.key or b"", partitions)]
    assert decisions and not misplaced, f"{len(misplaced)} of {len(decisions)} decisions misplaced"
