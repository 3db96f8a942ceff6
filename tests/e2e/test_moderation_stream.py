"""The moderation stream through the real broker: produce events, a worker subprocess decides,
and every event comes back exactly once as a decision or a dead letter."""

from __future__ import annotations

import collections
from collections.abc import Callable

import orjson
import pytest

from chatguard.settings import Settings
from devtools.produce import MALFORMED_KINDS, build_events
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, outcome_keys, produce

pytestmark = pytest.mark.e2e

OUTPUTS = [
    "moderation.decisions",
    "moderation.deadletter",
    "moderation.review",
    "moderation.enforcement",
]


@pytest.mark.parametrize("ingest", ["batch", "faust"])
def test_every_event_gets_one_decision_or_dead_letter(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, ingest: str
) -> None:
    """Both ingest paths: the batch reader (the default) and the Faust agent."""
    events = build_events(400, malformed_share=0.2, seed=7)
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    status, body = worker.get("/ready")
    assert status == 200 and orjson.loads(body)["ingest"] == ingest
    produce(stream_settings, events)
    ids = {e.event_id for e in events}
    records = consume(
        stream_settings,
        OUTPUTS,
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=120,
        quiet_for=2,
    )
    decided, dead = outcome_keys(records, stream_settings)
    assert set(decided) | set(dead) == ids
    assert not set(decided) & set(dead)
    assert len(decided) == len(set(decided)) and len(dead) == len(set(dead))  # one worker, no crash

    # malformed events are dead letters with their reason; valid ones are decided
    by_kind = {e.event_id: e.kind for e in events}
    assert all(by_kind[i] == "valid" for i in decided)
    dead_records = [
        r.json() for r in records if r.topic == stream_settings.topic("moderation.deadletter")
    ]
    assert {d["error_kind"] for d in dead_records} == set(MALFORMED_KINDS)
    assert all(d["error"] and d["raw"] is not None for d in dead_records)

    # review and block decisions also land on their queues, allow on neither
    decisions = [
        r.json() for r in records if r.topic == stream_settings.topic("moderation.decisions")
    ]
    actions = collections.Counter(d["action"] for d in decisions)
    assert actions["allow"] and actions["review"] + actions["block"]
    review_ids = {
        r.json()["event_id"]
        for r in records
        if r.topic == stream_settings.topic("moderation.review")
    }
    block_ids = {
        r.json()["event_id"]
        for r in records
        if r.topic == stream_settings.topic("moderation.enforcement")
    }
    assert review_ids == {d["event_id"] for d in decisions if d["action"] == "review"}
    assert block_ids == {d["event_id"] for d in decisions if d["action"] == "block"}

    # decisions are keyed by account and carry what is needed to trace them
    one = next(r for r in records if r.topic == stream_settings.topic("moderation.decisions"))
    decision = one.json()
    assert one.key == decision["account_id"].encode()
    assert decision["model_version"] and decision["policy_version"]
    assert decision["source_topic"].startswith(stream_settings.topic_prefix)
    assert set(decision["scores"]) == {"spam", "fraud", "sexual", "gambling", "extremism", "hate"}

    status, body = worker.get("/health")
    assert status == 200 and b'"crashed_agents":{}' in body
    status, body = worker.get("/metrics")
    assert status == 200 and b"chatguard_decisions_total" in body
