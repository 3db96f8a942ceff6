"""While the moderation tool rotates its key, a worker accepts labels signed with either key
(``CHATGUARD_MODERATOR_HMAC_KEY_ACCEPTED``) and still refuses any other signature."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from chatguard.settings import Settings
from streams import moderators
from streams.agents import Worker
from tests.agents.harness import MODERATOR_KEY, RecordingSink, put_to

NEW_KEY = b"the moderation tool's new key"


@pytest.fixture
def agent_settings(agent_settings: Settings) -> Settings:
    """The shared settings, mid-rotation: the new key, and the old one accepted."""
    return dataclasses.replace(
        agent_settings,
        moderator_hmac_key=NEW_KEY.decode(),
        moderator_hmac_key_accepted=MODERATOR_KEY.decode(),
    )


def _label(event_id: str, category: str, key: bytes) -> bytes:
    data = {
        "type": "moderator.label",
        "event_id": event_id,
        "text": f"text of {event_id}",
        "categories": [category],
        "moderator_id": "m1",
        "labelled_at": 1_700_000_000.0,
    }
    return orjson.dumps(moderators.sign(data, key))


async def test_labels_signed_with_the_old_or_the_new_key_land_and_a_guessed_key_does_not(
    worker: Worker, sink: RecordingSink
) -> None:
    settings = worker.settings
    store = worker.label_store
    known = worker.holder.current.model.labels[0]
    records = [
        (b"old", _label("old", known, MODERATOR_KEY)),
        (b"new", _label("new", known, NEW_KEY)),
        (b"guessed", _label("guessed", known, b"a guessed key")),
    ]

    def stored() -> int:
        return len(store.path.read_text().splitlines()) if store.path.exists() else 0

    await put_to(
        worker.store_labels,
        settings.topic("moderator.labels"),
        records,
        lambda: stored() >= 2 and len(sink.sent) >= 1,
    )
    rows = [orjson.loads(line) for line in store.path.read_bytes().splitlines()]
    assert sorted(r["event_id"] for r in rows) == ["new", "old"]
    dead = {
        k: (v["error_kind"], v["error"])
        for t, k, v in sink.sent
        if t == settings.topic("moderation.deadletter")
    }
    assert list(dead) == [b"guessed"]
    kind, error = dead[b"guessed"]
    assert kind == "bad_signature" and "the signature does not match" in error
