"""``moderation.campaigns`` acts: a harmful campaign blocks every later near-duplicate of its
texts, whatever each scores alone. Band keys are public (anyone with the code computes those of
any text), so a record written there by anyone but the fleet could block any message. With a
fleet key, workers follow only records that carry the fleet's signature."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import orjson
import pytest

from chatguard.settings import Settings
from models.fingerprint import band_keys
from models.normalize import normalize
from streams import topics
from streams.fleet_signing import HEADER, FleetSigner, mac
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import consume, produce, produce_with_headers
from tests.e2e.test_campaigns import _chat

pytestmark = pytest.mark.e2e

FORGED_TEXT = "Our team meeting moved to Thursday afternoon, please bring the quarterly slides"
SIGNED_TEXT = "I'll pick up the groceries after work and then we can cook dinner together"


def _harmful_campaign(campaign_id: str, text: str) -> tuple[bytes, bytes]:
    """A harmful campaign record (key, value) whose bands are those of ``text``."""
    bands = band_keys([normalize(text)])[0]
    assert bands, f"{text!r} gets no fingerprint"
    now = time.time()
    value = {
        "kind": "campaign",
        "campaign_id": campaign_id,
        "band": bands[0],
        "bands": list(bands),
        "status": "harmful",
        "first_seen": now,
        "last_seen": now,
        "events": 900,
        "accounts": 400,
        "conversations": 400,
        "flagged_share": 1.0,
        "contacts": [],
        "sample_event_id": "x",
        "sample_accounts": [],
        "announced_at": now,
    }
    return bands[0].encode(), orjson.dumps(value)


def _campaign_records(worker: WorkerProcess, result: str) -> float:
    text = worker.get("/metrics")[1].decode()
    pattern = rf'^chatguard_campaign_records_total{{result="{result}"}} (\S+)$'
    found = re.findall(pattern, text, re.MULTILINE)
    return float(found[0]) if found else 0.0


def test_a_campaign_record_without_the_fleet_signature_blocks_nothing(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    settings = stream_settings
    # every member of a harmful campaign is blocked for it, even a clean text like these
    worker = start_worker(env={"CHATGUARD_CAMPAIGNS": "on", "CHATGUARD_CAMPAIGN_OWN_SCORE": "0"})
    worker.wait_ready()
    topic = settings.topic(topics.CAMPAIGNS)
    forged_key, forged = _harmful_campaign("cmp-forged", FORGED_TEXT)
    signed_key, signed = _harmful_campaign("cmp-signed", SIGNED_TEXT)
    secret = FleetSigner.for_settings(settings).secret
    assert secret is not None
    signature = [(HEADER, mac(secret, topic, signed_key, signed))]
    produce_with_headers(
        settings, topic, [(forged_key, forged, []), (signed_key, signed, signature)]
    )
    deadline = time.monotonic() + 90
    while _campaign_records(worker, "ok") < 1 or _campaign_records(worker, "refused") < 1:
        assert time.monotonic() < deadline, "the worker did not read both campaign records"
        time.sleep(0.3)

    events = [_chat("trust", 0, "acct-a", FORGED_TEXT), _chat("trust", 1, "acct-b", SIGNED_TEXT)]
    produce(settings, events)
    ids = {"trust-0", "trust-1"}
    records = consume(
        settings,
        [topics.DECISIONS],
        until=lambda rs: ids <= {r.json()["event_id"] for r in rs},
        timeout=90,
    )
    decided = {r.json()["event_id"]: r.json() for r in records}
    # the signed record works as a campaign does: the control that the forged one would have too
    assert decided["trust-1"]["action"] == "block"
    assert decided["trust-1"]["campaign_id"] == "cmp-signed"
    assert decided["trust-0"]["action"] == "allow"
    assert decided["trust-0"].get("campaign_id") is None
