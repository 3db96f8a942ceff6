"""Every topic chatguard reads or writes, by logical name, and their creation on the broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chatguard.settings import Settings
from streams import kafka_options, kinds

# inputs: one per event kind (the table in streams.kinds); named here for the code that needs one
CHAT_MESSAGES = kinds.topic_of("chat.message")
POSTS = kinds.topic_of("post")
USER_REPORTS = kinds.topic_of("user.report")
MODERATOR_LABELS = kinds.topic_of("moderator.label")
MODERATOR_DECISIONS = kinds.topic_of("moderator.decision")  # signed confirm / reject of reports
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
# internal: reports that arrived before their event was moderated, waiting to be checked again
# (streams.report_retry), keyed by event id
REPORTS_RETRY = "reports.retry"
# rules files, one record per version: kept for ever, one partition (streams.control_topics)
RULES = "moderation.rules"
# learned contact tokens, keyed by token: kept by time, one partition (streams.control_topics)
LEARNED = "moderation.learned"
# internal: contact tokens of blocked events keyed by token, the learned list's evidence
CONTACTS_BLOCKED = "contacts.blocked"
# internal: each fingerprinted event once per LSH band, keyed by the band (streams.campaigns)
CAMPAIGN_FINGERPRINTS = "campaign.fingerprints"
# internal: accounts a harmful campaign escalated, keyed by account (one action per campaign)
CAMPAIGN_MEMBERS = "campaign.members"
# internal: chat messages' senders, conversations and text keys, keyed by account
# (streams.senders)
SENDER_ACTIVITY = "sender.activity"
# campaigns, keyed by crossing band: kept by time, one partition (streams.control_topics)
CAMPAIGNS = "moderation.campaigns"

INPUTS = kinds.INPUT_TOPICS
OUTPUTS = (
    DECISIONS,
    REVIEW,
    ENFORCEMENT,
    DEAD_LETTER,
    ACCOUNT_ACTIONS,
    MODEL_UPDATES,
    REPORTER_STATS,
)
INTERNAL = (
    ACCOUNT_STRIKES,
    REPORTS_BY_REPORTER,
    EVENTS_BY_ID,
    REPORTS_RETRY,
    CONTACTS_BLOCKED,
    CAMPAIGN_FINGERPRINTS,
    CAMPAIGN_MEMBERS,
    SENDER_ACTIVITY,
)
ALL = (*INPUTS, *OUTPUTS, *INTERNAL)
# topics whose records act and that only workers write, so they carry the fleet's signature
# (streams.fleet_signing): the internal ones, the campaigns that block near-duplicates, and the
# learned contacts that block every message naming one
SIGNED = (*INTERNAL, CAMPAIGNS, LEARNED)

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


@dataclass(frozen=True)
class TopicSpec:
    """A topic other than chatguard's own that must exist before the agents start (a table's
    changelog): its full name, partition count and topic configs."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def logical_name(settings: Settings, physical: str) -> str:
    """``<prefix>chat.messages`` → ``chat.messages``."""
    return (
        physical[len(settings.topic_prefix) :]
        if physical.startswith(settings.topic_prefix)
        else physical
    )


async def ensure_topics(
    settings: Settings, names: Iterable[str] = ALL, extra: Sequence[TopicSpec] = ()
) -> list[str]:
    """Create the topics that do not exist yet (chatguard's with ``topic_partitions``, then
    ``extra`` as specified); return those created.

    Waiting here for every partition to have a leader matters on a slow machine: a client that
    asks for a topic's metadata before it exists makes the broker auto-create it with the
    broker's default partition count, which for a table's changelog then mismatches its source
    topic and crashes the table's agent (Faust's ``PartitionsMismatch``)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = [
        TopicSpec(settings.topic(name), settings.topic_partitions, _config(settings, name))
        for name in names
    ]
    specs += extra
    admin = AIOKafkaAdminClient(**kafka_options.admin(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(spec.name, spec.partitions, 1, topic_configs=dict(spec.config))
                    for spec in missing
                ]
            )
            await _wait_for_leaders(admin, [spec.name for spec in missing])
        return [spec.name for spec in missing]
    finally:
        await admin.close()


def _config(settings: Settings, name: str) -> dict[str, str]:
    """Topic configs beyond the broker's defaults: ``events.by_id`` is the recent-events
    store's changelog (``streams.recent_events``) and ``campaign.fingerprints`` the campaign
    fold's (``streams.campaign_fold``), so each keeps at least the two windows a worker
    replays, and a window more (never less than Kafka's default week). ``reports.retry``
    records carry the broker's append time, which bounds how long one waits
    (``streams.report_retry``). So do the input topics, which anyone may write: a record that
    names a time in the year 9999 kept its partition's log from ever rolling or being
    deleted (retention goes by the newest timestamp in a segment), and nothing of chatguard reads
    an input record's timestamp.

    Dead letters are stored zstd-compressed whatever codec the worker sent them with: each one
    carries up to 512 KB of its input, and an outside probe's 1 MB reports of padding, 85 bytes
    each on the wire, came back as 700 KB dead letters, 839 MB of the broker's disk in 21 s."""
    if name == DEAD_LETTER:
        return {"compression.type": "zstd"}
    if name == REPORTS_RETRY or name in INPUTS:
        return {"message.timestamp.type": "LogAppendTime"}
    windows = {
        EVENTS_BY_ID: settings.strike_window_s,
        CAMPAIGN_FINGERPRINTS: settings.campaign_window_s,
    }
    if name not in windows:
        return {}
    keep_s = max(7 * 86_400.0, 3 * windows[name])
    return {"retention.ms": str(int(keep_s * 1000))}


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


def ensure_topics_sync(settings: Settings, extra: Sequence[TopicSpec] = ()) -> list[str]:
    return asyncio.run(ensure_topics(settings, extra=extra))
