"""Secure deployment against real brokers: SASL/SCRAM refuses a client without the right
credentials and serves the worker that has them; no secret appears in the worker's log; a worker
whose registry points at a tampered artifact refuses to start."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from chatguard.settings import Settings
from devtools.broker import LocalBroker, ScramUser
from devtools.produce import build_events
from models.registry import ModelRegistry
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, free_port, produce

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USER = "chatguard-worker"
PASSWORD = f"pw-{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory, broker: str) -> Iterator[str]:
    """A second broker whose client listener requires SASL/SCRAM-SHA-512."""
    server = LocalBroker(
        port=free_port(),
        controller_port=free_port(),
        data_dir=tmp_path_factory.mktemp("scram") / "kafka",
        scram_user=ScramUser(USER, PASSWORD),
    )
    server.start(timeout=120, quiet=True)
    try:
        yield server.bootstrap
    finally:
        server.stop(quiet=True)


def _produce_one(bootstrap: str, **auth: str) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **auth)
        await producer.start()
        try:
            await producer.send_and_wait("security-probe", b"x")
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(send(), 30))


def test_wrong_credentials_are_refused(scram_broker: str) -> None:
    with pytest.raises((KafkaError, asyncio.TimeoutError, OSError)):
        _produce_one(
            scram_broker,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=USER,
            sasl_plain_password="not-the-password",
        )
    with pytest.raises((KafkaError, asyncio.TimeoutError, OSError)):
        _produce_one(scram_broker)  # no credentials at all


def test_worker_with_the_credentials_processes_events_and_never_logs_the_password(
    scram_broker: str, start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    secure = {
        "CHATGUARD_BROKER": f"kafka://{scram_broker}",
        "CHATGUARD_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CHATGUARD_SASL_MECHANISM": "SCRAM-SHA-512",
        "CHATGUARD_SASL_USERNAME": USER,
        "CHATGUARD_SASL_PASSWORD": PASSWORD,
    }
    settings = Settings.from_env({**stream_env, **secure})
    assert PASSWORD not in repr(settings)
    worker = start_worker(env={**secure}, args=("-l", "debug"))
    worker.wait_ready()
    events = build_events(200, malformed_share=0.1, seed=3)
    produce(settings, events)
    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, settings)) >= len(events),
        timeout=90,
    )
    assert accounted(records, settings) == {e.event_id for e in events}
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert log, "the worker wrote no log at all"
    assert PASSWORD not in log


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_worker_refuses_a_damaged_artifact(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str], damage: str
) -> None:
    registry = ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"]))
    artifact = registry.path(registry.current_version() or "") / "model.joblib"
    artifact.parent.chmod(0o755)
    artifact.chmod(0o644)
    if damage == "tampered":
        artifact.write_bytes(artifact.read_bytes()[:-16] + b"\x00" * 16)
    else:
        artifact.unlink()
    worker = start_worker()
    assert worker.process.wait(timeout=60) == 2
    log = worker.log_tail()
    assert "cannot start without a model" in log
    assert ("sha256" if damage == "tampered" else "model.joblib") in log
