"""While the moderation tool rotates its key, a worker accepts labels signed with either key
(``CHATGUARD_MODERATOR_HMAC_KEY_ACCEPTED``) and still refuses any other signature."""

from __future__ import annotations

import dataclasses

import pytest

from chatguard.settings import Settings
from streams.agents import Worker
from tests.agents.harness import MODERATOR_KEY, RecordingSink, signed_label, store_labels

NEW_KEY = b"the moderation tool's new key"


@pytest.fixture
def agent_settings(agent_settings: Settings) -> Settings:
    """The shared settings, mid-rotation: the new key, and the old one accepted."""
    return dataclasses.replace(
        agent_settings,
        moderator_hmac_key=NEW_KEY.decode(),
        moderator_hmac_key_accepted=MODERATOR_KEY.decode(),
    )


async def test_labels_signed_with_the_old_or_the_new_key_land_and_a_guessed_key_does_not(
    worker: Worker, sink: RecordingSink
) -> None:
    settings = worker.settings
    known = worker.holder.current.model.labels[0]
    records = [
        (b"old", signed_label("old", [known], MODERATOR_KEY)),
        (b"new", signed_label("new", [known], NEW_KEY)),
        (b"guessed", signed_label("guessed", [known], b"a guessed key")),
    ]
    rows = await store_labels(worker, sink, records, stored=2, sent=1)
    assert sorted(r["event_id"] for r in rows) == ["new", "old"]
    dead = {
        k: (v["error_kind"], v["error"])
        for t, k, v in sink.sent
        if t == settings.topic("moderation.deadletter")
    }
    assert list(dead) == [b"guessed"]
    kind, error = dead[b"guessed"]
    assert kind == "bad_signature" and "the signature does not match" in error
