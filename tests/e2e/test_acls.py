"""Kafka ACLs on the local broker (``chatguard broker start --acls``): each principal writes only
what its role may, an unauthenticated client gets nowhere, and a worker with its own principal
reads its inputs and writes its outputs.

One broker per module with SCRAM users for the admin, the worker, the platform's producers and
the moderation tool, and the ACLs of ``chatguard.acls`` for this module's topic prefix and app id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from chatguard.acls import MODERATION_TOPICS, PRODUCER_TOPICS, WORKER_WRITES
from chatguard.settings import Settings
from devtools.broker import LocalBroker
from devtools.produce import build_events
from streams.kafka_options import connection as client_options
from streams.outgoing import send_events
from streams.rules_holder import ensure_rules_topic
from streams.topics import ensure_topics
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = f"acl{uuid.uuid4().hex[:8]}"
PREFIX, APP_ID = f"{NAME}.", NAME
ALL_TOPICS = (*PRODUCER_TOPICS, *MODERATION_TOPICS, *WORKER_WRITES)
PARTITIONS = 2  # few partitions: a busy machine creates 14 topics' logs quickly enough
# what a probe writes; on an input topic the worker dead-letters it, as any incomplete event
PROBE = b'{"event_id": "probe"}'


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[LocalBroker]:
    """An ACL broker with this module's grants and every topic created by the admin."""
    server = LocalBroker(
        port=free_port(),
        controller_port=free_port(),
        data_dir=tmp_path_factory.mktemp("acls") / "kafka",
        acls=True,
    )
    server.start(timeout=180, quiet=True)
    try:
        server.grant_acls(PREFIX, APP_ID)
        admin = _settings(server, "admin")
        asyncio.run(ensure_topics(admin, ALL_TOPICS))
        asyncio.run(ensure_rules_topic(admin))
        for topic in ALL_TOPICS:  # every partition leader answers before the tests write
            _write(admin, topic, timeout=180)
        yield server
    finally:
        server.stop(quiet=True)


def _settings(server: LocalBroker, role: str | None) -> Settings:
    base = Settings(
        broker=f"kafka://{server.bootstrap}",
        topic_prefix=PREFIX,
        app_id=APP_ID,
        topic_partitions=PARTITIONS,
    )
    if role is None:
        return base
    user = server.principals[role]
    return replace(
        base,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user.username,
        sasl_password=user.password,
    )


def _write(
    settings: Settings, topic: str, timeout: float = 90.0, partitions: int = PARTITIONS
) -> None:
    """Produce one record to each partition of ``topic`` (logical name) and wait for the
    broker's answers."""

    async def send() -> None:
        producer = AIOKafkaProducer(request_timeout_ms=10_000, **client_options(settings))
        await producer.start()
        try:
            for partition in range(partitions):
                await producer.send_and_wait(
                    settings.topic(topic), PROBE, key=b"probe", partition=partition
                )
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(send(), timeout))


# (role, topic, may write) — every row asserts what Kafka answered
CASES = [
    ("producer", "chat.messages", True),
    ("producer", "posts", True),
    ("producer", "user.reports", True),
    ("producer", "moderator.labels", False),
    ("producer", "moderator.decisions", False),
    ("producer", "moderation.decisions", False),
    ("producer", "account.actions", False),
    ("producer", "account.strikes", False),
    ("moderation", "moderator.labels", True),
    ("moderation", "moderator.decisions", True),
    ("moderation", "user.reports", False),
    ("moderation", "moderation.decisions", False),
    ("moderation", "account.actions", False),
    ("worker", "user.reports", False),
    ("worker", "moderator.labels", False),
    ("worker", "moderator.decisions", False),
    ("worker", "moderation.decisions", True),
    # the learned list: workers teach it; nobody else writes it
    ("worker", "moderation.learned", True),
    ("producer", "moderation.learned", False),
    ("moderation", "moderation.learned", False),
]


@pytest.mark.parametrize(("role", "topic", "allowed"), CASES)
def test_each_principal_writes_only_what_its_role_may(
    acl_broker: LocalBroker, role: str, topic: str, allowed: bool
) -> None:
    settings = _settings(acl_broker, role)
    if allowed:
        _write(settings, topic)
    else:
        with pytest.raises(TopicAuthorizationFailedError):
            _write(settings, topic)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("admin", True), ("worker", False), ("producer", False), ("moderation", False)],
)
def test_only_the_admin_publishes_rules(acl_broker: LocalBroker, role: str, allowed: bool) -> None:
    """A worker's leaked credentials cannot change the fleet's rules (one partition)."""
    settings = _settings(acl_broker, role)
    if allowed:
        _write(settings, "moderation.rules", partitions=1)
    else:
        with pytest.raises(TopicAuthorizationFailedError):
            _write(settings, "moderation.rules", partitions=1)


@pytest.mark.parametrize("topic", ["user.reports", "moderator.labels", "moderation.decisions"])
def test_an_unauthenticated_client_cannot_write(acl_broker: LocalBroker, topic: str) -> None:
    with pytest.raises(KafkaConnectionError):
        _write(_settings(acl_broker, None), topic)


def test_a_wrong_password_is_not_a_principal(acl_broker: LocalBroker) -> None:
    settings = replace(_settings(acl_broker, "producer"), sasl_password="guessed")
    with pytest.raises((KafkaConnectionError, asyncio.TimeoutError)):
        _write(settings, "user.reports")


def test_a_worker_with_its_principal_decides(
    acl_broker: LocalBroker,
    start_worker: Callable[..., WorkerProcess],
    stream_env: dict[str, str],
    tmp_path: Path,
) -> None:
    worker_user = acl_broker.principals["worker"]
    worker = start_worker(
        env={
            "CHATGUARD_BROKER": f"kafka://{acl_broker.bootstrap}",
            "CHATGUARD_TOPIC_PREFIX": PREFIX,
            "CHATGUARD_APP_ID": APP_ID,
            "CHATGUARD_TOPIC_PARTITIONS": str(PARTITIONS),
            "CHATGUARD_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CHATGUARD_SASL_MECHANISM": "SCRAM-SHA-512",
            "CHATGUARD_SASL_USERNAME": worker_user.username,
            "CHATGUARD_SASL_PASSWORD": worker_user.password,
        }
    )
    worker.wait_ready(timeout=120)
    events = build_events(150, malformed_share=0.1, seed=81)
    asyncio.run(send_events(_settings(acl_broker, "producer"), events))
    admin = _settings(acl_broker, "admin")
    ids = {e.event_id for e in events}
    records = consume(
        admin,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: ids <= accounted(rs, admin),
        timeout=120,
    )
    # the probes other tests wrote to the input topics are decided too; ours must all be there
    assert ids <= accounted(records, admin)
    log = worker.log_path.read_text(errors="replace")
    assert "TopicAuthorizationFailed" not in log and "GroupAuthorizationFailed" not in log
