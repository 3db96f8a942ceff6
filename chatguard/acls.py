"""Who may do what on the local broker when it runs with ACLs (``chatguard broker start --acls``).

Four SCRAM principals: the admin (a super user: the broker itself, topic set-up, operators), the
platform's producers (write user traffic and reports), the moderation tool (writes moderator
labels and decisions) and the worker (reads its inputs, writes its outputs and internal topics).
Kafka's ``StandardAuthorizer`` denies everything no ACL allows, so a producer cannot forge a
moderator label or a worker output, and nobody but the worker writes ``account.strikes``.
Only the admin writes ``moderation.rules`` (workers read it; the records are also signed, see
``streams.rules_holder``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams import kinds, topics

Role = Literal["admin", "worker", "producer", "moderation"]
ROLES: tuple[Role, ...] = ("admin", "worker", "producer", "moderation")
USERNAMES: dict[Role, str] = {
    "admin": "chatguard-admin",
    "worker": "chatguard-worker",
    "producer": "platform-producer",
    "moderation": "moderation-tool",
}
# what the platform's own services send: user traffic, profiles and user reports (streams.kinds)
PRODUCER_TOPICS = kinds.PLATFORM_TOPICS
# moderator decisions on reports and labels for training: only the moderation tool
MODERATION_TOPICS = kinds.MODERATION_TOPICS
WORKER_READS = tuple(dict.fromkeys((*topics.INPUTS, *MODERATION_TOPICS)))
# the learned list: only ever blocks by contact token, taught by workers (streams.rules_holder)
WORKER_WRITES = (*topics.OUTPUTS, *topics.INTERNAL, topics.LEARNED, topics.CAMPAIGNS)
# written by workers, followed by every worker from the beginning, kept by time
FOLLOWED = (topics.LEARNED, topics.CAMPAIGNS)
# rules files: published by the admin (`chatguard rules publish`), read by every worker
ADMIN_WRITES = (topics.RULES,)

Resource = Literal["topic", "group", "transactional-id", "cluster"]


@dataclass(frozen=True)
class Grant:
    """Allow ``role`` the ``operations`` on the named resources (Kafka ACL vocabulary)."""

    role: Role
    resource: Resource
    names: tuple[str, ...]
    operations: tuple[str, ...]
    prefixed: bool = False


def grants(topic_prefix: str, app_id: str) -> list[Grant]:
    """Every ACL for a deployment whose topics start with ``topic_prefix`` and whose consumer
    groups, transactional ids and Faust-internal topics start with ``app_id``."""

    def full(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(topic_prefix + name for name in names)

    return [
        Grant("producer", "topic", full(PRODUCER_TOPICS), ("Write", "Describe")),
        Grant("moderation", "topic", full(MODERATION_TOPICS), ("Write", "Describe")),
        # Create: the worker (and Faust) declare every topic they use at start-up
        Grant("worker", "topic", full(WORKER_READS), ("Read", "Describe", "Create")),
        Grant("worker", "topic", full(WORKER_WRITES), ("Write", "Read", "Describe", "Create")),
        # a worker converts a learned or campaigns topic an older version made compacted
        # (streams.control_topics): it reads and sets those two topics' configs
        Grant("worker", "topic", full(FOLLOWED), ("DescribeConfigs", "AlterConfigs")),
        # no Write: a worker's credentials cannot publish rules (the admin is a super user)
        Grant("worker", "topic", full(ADMIN_WRITES), ("Read", "Describe", "Create")),
        # Faust's changelog and leader topics: <app_id>-...
        Grant("worker", "topic", (f"{app_id}-",), ("All",), prefixed=True),
        # Faust's group <app_id> and the batch reader's <app_id>.moderation; transactions
        Grant("worker", "group", (app_id,), ("Read", "Describe"), prefixed=True),
        Grant("worker", "transactional-id", (app_id,), ("Write", "Describe"), prefixed=True),
        Grant("worker", "cluster", ("kafka-cluster",), ("IdempotentWrite",)),
    ]
