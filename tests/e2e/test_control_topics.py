"""The learned list and campaign announcements keep their records by time, never by key.

Compacted by key, either topic let anyone who can write it delete a signed record: the log
cleaner keeps the last record of a key whether it verifies or not, so a tombstone written under
a learned token's key (or a campaign's band key) took the signed one away at the next
compaction, and every worker started after forgot it (an outside probe: a learned token's
message went from block to review after a restart)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from chatguard.settings import Settings
from streams import topics
from streams.campaigns import read_campaigns
from streams.control_topics import COMPACTED, ensure_control_topic, kept_for, topic_configs
from streams.fleet_signing import HEADER, FleetSigner, mac
from streams.learned_list import read_learned
from streams.records import LearnedContact
from tests.e2e.kafka_helpers import produce_with_headers

pytestmark = pytest.mark.e2e


def _assert_kept_by_time(settings: Settings, name: str, lives_s: float) -> None:
    configs = topic_configs(settings, settings.topic(name))
    assert configs["cleanup.policy"] == "delete"
    assert int(configs["retention.ms"]) >= lives_s * 1000
    assert configs["retention.bytes"] == "-1"
    assert configs["message.timestamp.type"] == "LogAppendTime"
    assert configs == {**configs, **kept_for(settings, name)}


def test_a_forged_record_under_a_learned_tokens_key_deletes_nothing(
    stream_settings: Settings,
) -> None:
    """A tombstone and a forged record under a signed token's key: the token is still learned
    when the topic is read from the beginning, and the topic deletes no record by key, so no
    compaction will take it away later."""
    settings = stream_settings
    topic = settings.topic(topics.LEARNED)
    secret = FleetSigner.for_settings(settings).secret
    assert secret is not None
    assert asyncio.run(read_learned(settings)) == []  # creates the topic, as a worker does
    _assert_kept_by_time(settings, topics.LEARNED, settings.learn_ttl_s)

    key = b"brightharbour-books.com"
    record = LearnedContact.teach(key.decode(), "domains", "fraud", (9, 9), time.time(), 3_600.0)
    signed = orjson.dumps(record)
    forged = orjson.dumps({**orjson.loads(signed), "expires_at": time.time() - 10})
    produce_with_headers(
        settings,
        topic,
        [
            (key, signed, [(HEADER, mac(secret, topic, key, signed))]),
            (key, forged, []),
            (key, None, []),  # a tombstone
        ],
    )
    (entry,) = asyncio.run(read_learned(settings))
    assert entry.token == key.decode()
    assert entry.expires_at is not None and entry.expires_at > time.time()


def test_a_compacted_topic_of_an_older_version_is_converted_when_first_read(
    stream_settings: Settings,
) -> None:
    """A deployment that ran an older version has both topics compacted: the first worker (or
    ``chatguard campaigns``, ``rules show``) to read one converts it."""
    settings = stream_settings
    for name in (topics.LEARNED, topics.CAMPAIGNS):
        asyncio.run(ensure_control_topic(settings, settings.topic(name), COMPACTED))
        assert topic_configs(settings, settings.topic(name))["cleanup.policy"] == "compact"
    assert asyncio.run(read_learned(settings)) == []
    assert asyncio.run(read_campaigns(settings)) == []
    _assert_kept_by_time(settings, topics.LEARNED, settings.learn_ttl_s)
    _assert_kept_by_time(settings, topics.CAMPAIGNS, 2 * settings.campaign_window_s)
