"""The project's own Kafka broker: it answers the Kafka protocol, starts and stops cleanly, and
bad set-up gets a clear message."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from chatguard.broker import BrokerError, LocalBroker, check_port_free, ensure_jars, require_java
from chatguard.settings import Settings
from streams.produce import OutgoingEvent
from tests.e2e.kafka_helpers import consume, free_port, produce

pytestmark = pytest.mark.e2e


def test_broker_lists_topics_and_round_trips_records(broker: str) -> None:
    settings = Settings(broker=f"kafka://{broker}", topic_prefix=f"b{uuid.uuid4().hex[:8]}.")
    events = [
        OutgoingEvent("chat.messages", f"k{i}".encode(), f"v{i}".encode(), f"k{i}", "valid")
        for i in range(50)
    ]
    produce(settings, events)  # creates the topics, then produces
    records = consume(settings, ["chat.messages"], until=lambda rs: len(rs) >= 50, timeout=30)
    assert sorted(r.value for r in records) == sorted(e.value for e in events)

    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def topics() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker)
        await admin.start()
        try:
            return list(await admin.list_topics())
        finally:
            await admin.close()

    assert settings.topic("chat.messages") in asyncio.run(topics())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_second_broker_starts_answers_and_stops_leaving_no_process(
    tmp_path: Path, broker: str
) -> None:
    second = LocalBroker(port=free_port(), controller_port=free_port(), data_dir=tmp_path / "kafka")
    second.start(timeout=120, quiet=True)
    pid = second.pid()
    try:
        assert pid is not None and _alive(pid)
        assert second.answers()
        second.start(quiet=True)  # already running: a no-op
        assert second.pid() == pid
    finally:
        second.stop(quiet=True)
    assert second.pid() is None
    assert not _alive(pid)
    assert not any(
        str(second.config_file).encode() in Path(p, "cmdline").read_bytes()
        for p in Path("/proc").glob("[0-9]*")
        if Path(p, "cmdline").exists()
    )


def test_port_taken_is_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(BrokerError, match=rf"port {port} .* already in use"):
            check_port_free(port)
        with pytest.raises(BrokerError, match=f"port {port}"):
            LocalBroker(port=port, data_dir=tmp_path).start(quiet=True)


@pytest.mark.slow
def test_broker_that_never_becomes_ready_reports_the_log_tail(tmp_path: Path, broker: str) -> None:
    slow = LocalBroker(port=free_port(), controller_port=free_port(), data_dir=tmp_path / "kafka")
    with pytest.raises(BrokerError, match=r"did not answer .* within 1s") as failure:
        slow.start(timeout=1, quiet=True)
    assert "Last lines of" in str(failure.value)
    assert slow.pid() is None


def test_no_java_and_no_maven_get_clear_messages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached jars
    with pytest.raises(BrokerError, match="Java not found"):
        require_java()
    with pytest.raises(BrokerError, match=r"Maven \(mvn\) not found"):
        ensure_jars()
