"""Start-up on the real broker: what the agents need exists before they run, and ``/ready``
says so only once it does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from chatguard.settings import Settings
from streams import topics
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import UniqueNames, WorkerProcess
from tests.e2e.kafka_helpers import consume, produce

pytestmark = pytest.mark.e2e


def _describe(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    """The topic's partition count and its non-default configs."""

    async def run() -> tuple[int, dict[str, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
            entries = response.resources[0][4]
            configs = {name: value for name, value, *_ in entries}
            return len(described["partitions"]), configs
        finally:
            await admin.close()

    return asyncio.run(run())


def _block_strike(account: str, n: int) -> OutgoingEvent:
    """A strike signal as the worker writes one for a blocked event."""
    data = {
        "signal_id": f"block:evt-{n}",
        "kind": "block",
        "event_id": f"evt-{n}",
        "account_id": account,
        "categories": ["fraud"],
        "weight": 1.0,
        "at": time.time(),
    }
    return OutgoingEvent("account.strikes", account.encode(), orjson.dumps(data), f"s{n}", "valid")


def test_the_strikes_changelog_exists_with_its_source_partitions_before_agents_run(
    start_worker: Callable[..., WorkerProcess],
    stream_env: dict[str, str],
    unique_names: UniqueNames,
    broker: str,
) -> None:
    # 6 partitions, where the broker would auto-create a topic with 4: a changelog created by
    # a client's metadata request instead of the worker mismatches its source topic
    # (the strike signals below are written straight to the topic: no fleet key to sign them)
    env = {
        "CHATGUARD_TOPIC_PARTITIONS": "6",
        "CHATGUARD_RESTRICT_STRIKES": "2",
        "CHATGUARD_FLEET_KEY": "",
    }
    settings = Settings.from_env({**stream_env, **env})
    worker = start_worker(env=env)
    worker.wait_ready()
    status, body = worker.get("/ready")
    assert status == 200 and orjson.loads(body)["tables_recovered"] is True

    # created by the worker itself, before Faust started: chatguard's topics and the changelogs
    # of its five tables (strikes, reporters, contact evidence, campaign accounts, sender
    # activity); events.by_id and campaign.fingerprints keep the windows their stores replay
    worker.wait_for_log(f"created {len(topics.ALL) + 5} topics")
    partitions, configs = _describe(broker, f"{unique_names.app_id}-account-strikes-changelog")
    assert partitions == 6
    assert set(configs["cleanup.policy"].split(",")) == {"compact", "delete"}
    # two windows: a new window starts from the previous one's recent strikes
    assert int(configs["retention.ms"]) == 2 * int(settings.strike_window_s * 1000)
    _, by_id = _describe(broker, settings.topic(topics.EVENTS_BY_ID))
    assert int(by_id["retention.ms"]) >= 2 * int(settings.strike_window_s * 1000)
    _, bands = _describe(broker, settings.topic(topics.CAMPAIGN_FINGERPRINTS))
    assert int(bands["retention.ms"]) >= 2 * int(settings.campaign_window_s * 1000)

    produce(settings, [_block_strike("acct-z", n) for n in range(2)])
    actions = consume(settings, ["account.actions"], until=lambda rs: len(rs) >= 1, timeout=60)
    assert [(a.json()["account_id"], a.json()["action"]) for a in actions] == [
        ("acct-z", "restrict")
    ]
    assert worker.get("/health")[0] == 200
