"""Every topic chatguard reads or writes, by logical name, and their creation on the broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from chatguard.settings import Settings

# inputs
CHAT_MESSAGES = "chat.messages"
POSTS = "posts"
USER_REPORTS = "user.reports"
MODERATOR_LABELS = "moderator.labels"
# outputs
DECISIONS = "moderation.decisions"
REVIEW = "moderation.review"
ENFORCEMENT = "moderation.enforcement"
DEAD_LETTER = "moderation.deadletter"
ACCOUNT_ACTIONS = "account.actions"
MODEL_UPDATES = "model.updates"
# internal: blocked events and reports keyed by account, the source of the strikes table
ACCOUNT_STRIKES = "account.strikes"
# rules files, one record per version: compacted, one partition (created by streams.rules_holder)
RULES = "moderation.rules"

INPUTS = (CHAT_MESSAGES, POSTS, USER_REPORTS, MODERATOR_LABELS)
OUTPUTS = (DECISIONS, REVIEW, ENFORCEMENT, DEAD_LETTER, ACCOUNT_ACTIONS, MODEL_UPDATES)
ALL = (*INPUTS, *OUTPUTS, ACCOUNT_STRIKES)

# short names for `chatguard tail --topic`
TAIL_NAMES = {
    "decisions": DECISIONS,
    "review": REVIEW,
    "enforcement": ENFORCEMENT,
    "deadletter": DEAD_LETTER,
    "actions": ACCOUNT_ACTIONS,
    "updates": MODEL_UPDATES,
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


def ensure_topics_sync(settings: Settings) -> list[str]:
    return asyncio.run(ensure_topics(settings))
