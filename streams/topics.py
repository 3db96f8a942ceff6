"""Every topic chatguard reads or writes, by logical name, and their creation on the broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from mode.utils.times import want_seconds

from chatguard.settings import Settings

# inputs
CHAT_MESSAGES = "chat.messages"
POSTS = "posts"
USER_REPORTS = "user.reports"
MODERATOR_LABELS = "moderator.labels"
MODERATOR_DECISIONS = "moderator.decisions"  # signed confirm / reject of user reports
# outputs
DECISIONS = "moderation.decisions"
REVIEW = "moderation.review"
ENFORCEMENT = "moderation.enforcement"
DEAD_LETTER = "moderation.deadletter"
ACCOUNT_ACTIONS = "account.actions"
MODEL_UPDATES = "model.updates"
REPORTER_STATS = "reporter.stats"  # each reporter's reports, outcomes and reliability
# internal: blocked events and reports keyed by account, the source of the strikes table
ACCOUNT_STRIKES = "account.strikes"
# internal: reports and moderators' outcomes keyed by reporter, the source of the reporters table
REPORTS_BY_REPORTER = "reports.by_reporter"
# internal: moderated events ("seen") and reports keyed by event id, the recent-events table's source
EVENTS_BY_ID = "events.by_id"

INPUTS = (CHAT_MESSAGES, POSTS, USER_REPORTS, MODERATOR_LABELS, MODERATOR_DECISIONS)
OUTPUTS = (
    DECISIONS,
    REVIEW,
    ENFORCEMENT,
    DEAD_LETTER,
    ACCOUNT_ACTIONS,
    MODEL_UPDATES,
    REPORTER_STATS,
)
INTERNAL = (ACCOUNT_STRIKES, REPORTS_BY_REPORTER, EVENTS_BY_ID)
ALL = (*INPUTS, *OUTPUTS, *INTERNAL)

# short names for `chatguard tail --topic`
TAIL_NAMES = {
    "decisions": DECISIONS,
    "review": REVIEW,
    "enforcement": ENFORCEMENT,
    "deadletter": DEAD_LETTER,
    "actions": ACCOUNT_ACTIONS,
    "updates": MODEL_UPDATES,
    "reporters": REPORTER_STATS,
}


def logical_name(settings: Settings, physical: str) -> str:
    """``<prefix>chat.messages`` → ``chat.messages``."""
    return (
        physical[len(settings.topic_prefix) :]
        if physical.startswith(settings.topic_prefix)
        else physical
    )


def client_options(settings: Settings) -> dict[str, object]:
    """aiokafka connection options (bootstrap, TLS, SASL) from the settings."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile or None,
            certfile=settings.ssl_certfile or None,
            keyfile=settings.ssl_keyfile or None,
        )
    return options


async def ensure_topics(settings: Settings, names: Iterable[str] = ALL) -> list[str]:
    """Create the topics that do not exist yet (with ``topic_partitions``); return those created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [settings.topic(name) for name in names]
        missing = [name for name in wanted if name not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(name, settings.topic_partitions, 1) for name in missing]
            )
            await _wait_for_leaders(admin, missing)
        return missing
    finally:
        await admin.close()


async def ensure_changelogs(settings: Settings, tables: Iterable[Any]) -> list[str]:
    """Create the changelog topics of Faust ``tables`` that do not exist yet; return those created.

    Faust creates them itself once the worker runs, but after its consumer joined the group with
    them missing: an agent that writes a table before the next metadata refresh then crashes
    with ``PartitionsMismatch`` (the changelog "has 0 partitions"). Created beforehand, with the
    cleanup policy and retention Faust gives them, they are there from the first join."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    wanted: dict[str, NewTopic] = {}
    for table in tables:
        topic = table.changelog_topic
        policy = ",".join(
            flag for flag, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on
        )
        configs = {"cleanup.policy": policy} if policy else {}
        if topic.retention:
            configs["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
        name = topic.get_topic_name()
        partitions = table.partitions or settings.topic_partitions
        wanted[name] = NewTopic(name, partitions, 1, topic_configs=configs)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for name, topic in wanted.items() if name not in existing]
        if missing:
            await admin.create_topics(missing)
            await _wait_for_leaders(admin, [t.name for t in missing])
        return [t.name for t in missing]
    finally:
        await admin.close()


async def _wait_for_leaders(admin: object, names: list[str], timeout: float = 15.0) -> None:
    """New partitions answer "not leader" for a moment; wait until each has a leader."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(names)  # type: ignore[attr-defined]
        if all(
            topic.get("error_code", 0) == 0
            and topic["partitions"]
            and all(p.get("leader", -1) >= 0 for p in topic["partitions"])
            for topic in described
        ):
            return
        await asyncio.sleep(0.2)


def ensure_topics_sync(settings: Settings, tables: Iterable[Any] = ()) -> list[str]:
    """Chatguard's topics and the changelogs of ``tables`` (Faust tables), created if missing."""

    async def run() -> list[str]:
        return [*await ensure_topics(settings), *await ensure_changelogs(settings, tables)]

    return asyncio.run(run())
