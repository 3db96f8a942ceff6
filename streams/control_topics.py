"""How the single-partition control topics keep their records, and why none is compacted.

Every worker follows the rules, the learned list and the campaign announcements from their
beginning. They used to be compacted by key (one live record per version, token or band), but
the log cleaner keeps the last record of a key whether it is signed or not, and keys are public:
a tombstone or a forged record written under a signed record's key deleted it at the next
compaction. Workers refused the forgery, yet every worker started after that knew nothing of
the signed record (an outside probe: a restarted worker served the previous rules version, forgot
a learned token, lost a campaign's reason). Now nothing is removed by key. Rules are kept for ever
(a version is small and published by hand); the learned list and campaigns are kept for a time
after which none of their records is live any more, by the broker's own clock
(``LogAppendTime``: a record that names the year 9999 would otherwise keep its segment, and so
the whole log, for ever). A forged record is refused as it is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from chatguard.settings import Settings
from streams import kafka_options, topics

log = logging.getLogger(__name__)

KEPT_FOR_EVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
# what versions before this one made: kept for tests that stand in for an older deployment
COMPACTED = {"cleanup.policy": "compact"}
# nothing is kept for less than a day, whatever the windows: a worker down over a night still
# finds what was live when it stopped
MIN_KEEP_S = 86_400.0
# a segment is closed, and so can be deleted, an hour after it was opened (Kafka's default is a
# week, which a starting worker would read through on every start)
SEGMENT_MS = 3_600_000


def kept_for(settings: Settings, name: str) -> dict[str, str]:
    """The configs of the followed topic ``name`` (logical): a learned record lives for at most
    ``learn_ttl_s`` after it was taught and a campaign one window after its last member, so each
    is kept for longer than that (campaigns are announced again every half window)."""
    lives_s = {
        topics.LEARNED: 2 * settings.learn_ttl_s,
        topics.CAMPAIGNS: 3 * settings.campaign_window_s,
    }[name]
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(int(max(MIN_KEEP_S, lives_s) * 1000)),
        "retention.bytes": "-1",  # a flood of forged records must not push out the signed ones
        "segment.ms": str(SEGMENT_MS),
        "message.timestamp.type": "LogAppendTime",
    }


async def ensure_followed_topic(settings: Settings, name: str) -> None:
    """Create the learned or campaigns topic (``name`` logical) unless it exists; one made
    compacted by an older version is converted (logged; a worker not allowed to is told why it
    matters). One already deleting by time keeps what an operator set on it."""
    physical = settings.topic(name)
    wanted = kept_for(settings, name)
    if await ensure_control_topic(settings, physical, wanted):
        return
    try:
        policy = (await asyncio.to_thread(topic_configs, settings, physical))["cleanup.policy"]
        if "compact" not in policy:
            return
        await asyncio.to_thread(set_topic_configs, settings, physical, wanted)
    except (RuntimeError, KeyError) as exc:
        log.error(
            "%s could not be checked or converted (%s): while it is compacted, anyone who can "
            "write it can delete a signed record by writing under its key; set %s on it",
            physical,
            exc,
            ", ".join(f"{k}={v}" for k, v in wanted.items()),
        )
        return
    log.warning("%s was compacted (made by an older version): converted to %s", physical, wanted)


async def ensure_control_topic(
    settings: Settings,
    name: str,
    configs: Mapping[str, str],
    max_bytes: int = 0,
    alter_existing: bool = False,
) -> bool:
    """Create the single-partition topic ``name`` with ``configs`` unless it exists, accepting
    records up to ``max_bytes`` if given; with ``alter_existing``, set those on an existing topic
    too, leaving its other settings as they are. True if this call created it."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    wanted = dict(configs)
    if max_bytes:
        wanted["max.message.bytes"] = str(max_bytes)
    admin = AIOKafkaAdminClient(**kafka_options.admin(settings))
    await admin.start()
    try:
        if name in set(await admin.list_topics()):
            if alter_existing:
                await asyncio.to_thread(set_topic_configs, settings, name, wanted)
            return False
        try:
            await admin.create_topics([NewTopic(name, 1, 1, topic_configs=wanted)])
        except TopicAlreadyExistsError:
            return False  # another worker created it a moment ago
        await topics._wait_for_leaders(admin, [name])
        return True
    finally:
        await admin.close()


def topic_configs(settings: Settings, name: str) -> dict[str, str]:
    """Every config of topic ``name``, as the broker reports it (defaults included)."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

    admin = AdminClient(kafka_options.rdkafka_connection(settings))
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)]).values()
    try:
        described = future.result(timeout=30)
    except Exception as exc:
        msg = f"cannot describe {name}: {exc}"
        raise RuntimeError(msg) from exc
    return {key: entry.value for key, entry in described.items()}


def set_topic_configs(settings: Settings, name: str, configs: Mapping[str, str]) -> None:
    """Set ``configs`` on topic ``name`` with IncrementalAlterConfigs: AlterConfigs (aiokafka's
    only call) replaces a topic's whole set, so each publish reset what operators had set."""
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in configs.items()
    ]
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
    admin = AdminClient(kafka_options.rdkafka_connection(settings))
    for future in admin.incremental_alter_configs([resource]).values():
        try:
            future.result(timeout=30)
        except Exception as exc:
            msg = f"cannot configure {name}: {exc}"
            raise RuntimeError(msg) from exc
