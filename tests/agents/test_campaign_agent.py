"""The campaign agent folds a batch of band records per band: it announces a band once enough
accounts sent into it, counts every member of the batch, and dead-letters forged records
without losing the valid ones beside them."""

from __future__ import annotations

import time

import orjson

from chatguard.settings import Settings
from streams.agents import Worker
from tests.agents.harness import RecordingSink, put_to

BAND = "0123456789abcdef"
OTHER = "fedcba9876543210"


def _fingerprint(band: str, i: int, *, flagged: bool = True) -> tuple[bytes, bytes]:
    record = {
        "kind": "campaign_fingerprint",
        "band": band,
        "event_id": f"{band}-e{i}",
        "account_id": f"acct-{i}",
        "conversation_id": f"conv-{i}",
        "flagged": flagged,
        "blocked": False,
        "contacts": [],
        "bands": [BAND, OTHER],
        "at": time.time(),
    }
    return band.encode(), orjson.dumps(record)


async def test_a_batch_of_one_bands_records_announces_it_once_with_every_member(
    worker: Worker, sink: RecordingSink, agent_settings: Settings
) -> None:
    accounts = agent_settings.campaign_accounts
    records = [_fingerprint(BAND, i) for i in range(accounts + 5)]
    records.insert(3, (BAND.encode(), b'{"kind": "campaign_fingerprint", "band": 7}'))
    records.insert(9, (b"not-its-band", _fingerprint(BAND, 999)[1]))
    records += [_fingerprint(OTHER, i, flagged=False) for i in range(5)]

    def folded() -> bool:
        return len(sink.on("moderation.deadletter")) == 2 and bool(sink.on("moderation.campaigns"))

    topic = agent_settings.topic("campaign.fingerprints")
    await put_to(worker.track_campaigns, topic, records, folded)

    announced = sink.on("moderation.campaigns")
    assert len(announced) == 1, announced  # one band crossed, once
    campaign = announced[0]
    assert campaign["band"] == BAND and campaign["status"] == "harmful"
    # every valid member of the batch was counted before the announcement went out, or the
    # announcement came at the accounts threshold, with the rest counted after it
    assert accounts <= campaign["accounts"] <= accounts + 5
    dead = sink.on("moderation.deadletter")
    assert {d["error_kind"] for d in dead} == {"invalid_field"}
