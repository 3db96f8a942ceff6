"""An event kind added by one row of ``streams.kinds`` (and its record) is moderated end to end:
a ``profile.update`` produced to its topic on the real broker comes back as a decision from a
worker subprocess, on both ingest paths, and the decision is what its schema says."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from chatguard.settings import Settings
from models.policy import Policy
from models.registry import ModelRegistry
from streams import kinds
from streams.topics import ensure_topics
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import consume, produce_json

pytestmark = pytest.mark.e2e

SCAM_BIO = "Your bank account is locked, verify now at http://secure-bank.top or lose your money"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "decision.schema.json"


def profile(event_id: str, nickname: str, bio: str) -> dict[str, object]:
    return {
        "type": "profile.update",
        "event_id": event_id,
        "account_id": f"acct-{event_id}",
        "nickname": nickname,
        "bio": bio,
        "updated_at": 1_700_000_000.0,
    }


@pytest.mark.parametrize("ingest", ["batch", "faust"])
def test_a_profile_update_with_a_scam_bio_gets_a_decision(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    broker: str,
    ingest: str,
) -> None:
    events = [profile("scam", "Bank support", SCAM_BIO), profile("mia", "Mia", "tea and hiking")]
    # what the worker's model and policy make of them, judged as profiles
    model = ModelRegistry(Path(stream_settings.registry)).load_current()
    texts = [f"{e['nickname']}\n{e['bio']}" for e in events]
    verdicts = Policy.from_model(model).decide_batch(model.score(texts), ["profile"] * len(texts))
    expected = {str(e["event_id"]): v.action for e, v in zip(events, verdicts, strict=True)}
    assert expected["scam"] != "allow", "the seed model should flag the scam bio"

    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    asyncio.run(ensure_topics(stream_settings))
    topic = stream_settings.topic(kinds.topic_of("profile.update"))
    produce_json(broker, topic, [(str(e["event_id"]), e) for e in events])

    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(rs) >= len(events),
        timeout=120,
    )
    dead = [r.json() for r in records if r.topic.endswith("moderation.deadletter")]
    assert not dead, dead
    decisions = {r.json()["event_id"]: r.json() for r in records}
    assert {k: d["action"] for k, d in decisions.items()} == expected
    scam = decisions["scam"]
    assert scam["event_type"] == "profile.update" and scam["account_id"] == "acct-scam"
    assert scam["source_topic"] == topic and scam["triggered"]
    assert scam["excerpt"].startswith("Bank support\nYour bank account")
    assert scam["model_version"] == model.version
    schema = Draft202012Validator(json.loads(SCHEMA.read_text()))
    for decision in decisions.values():
        assert not list(schema.iter_errors(decision)), decision
