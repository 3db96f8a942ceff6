"""The project's own Kafka broker: it answers the Kafka protocol, starts and stops cleanly, and
bad set-up gets a clear message."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from chatguard.cli import main as chatguard_main
from devtools.broker import (
    BrokerError,
    LocalBroker,
    ScramUser,
    check_port_free,
    ensure_jars,
    require_java,
)
from tests.e2e.kafka_helpers import (
    broker_answers,
    consume_all,
    create_topics,
    free_port,
    produce_bytes,
)

pytestmark = pytest.mark.e2e


def _list_topics(bootstrap: str) -> set[str]:
    async def run() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(run())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _processes_using(path: Path) -> list[int]:
    """Pids whose command line names ``path`` (a broker's config file)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(path).encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # exited while we looked
    return found


def _second_broker(tmp_path: Path, scram_user: ScramUser | None = None) -> LocalBroker:
    return LocalBroker(
        port=free_port(),
        controller_port=free_port(),
        data_dir=tmp_path / "kafka",
        scram_user=scram_user,
        heap="512m",
    )


def test_broker_lists_topics_and_round_trips_records(broker: str) -> None:
    topic = f"b{uuid.uuid4().hex[:10]}.roundtrip"
    create_topics(broker, [topic], partitions=3)
    assert topic in _list_topics(broker)

    records = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(60)]
    produce_bytes(broker, topic, records)
    out = consume_all(broker, topic, count=len(records), timeout=30, quiet_for=0.5)

    assert sorted((r.key, r.value) for r in out) == sorted(records)
    assert {r.partition for r in out} == {0, 1, 2}
    for partition in {0, 1, 2}:
        offsets = sorted(r.offset for r in out if r.partition == partition)
        assert offsets == list(range(len(offsets)))  # nothing skipped, nothing twice
    assert all(r.timestamp > 0 for r in out)


@pytest.mark.slow
def test_second_broker_starts_answers_and_stops_leaving_no_process(
    tmp_path: Path, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    second = _second_broker(tmp_path)
    second.start(timeout=120, quiet=True)
    pid = second.pid()
    try:
        assert pid is not None and _alive(pid)
        assert second.answers()
        assert broker_answers(second.bootstrap)
        second.start(quiet=True)  # already running: a no-op
        assert second.pid() == pid
        assert _processes_using(second.config_file) == [pid]
        # stop without the --data-dir it was started with: said plainly, and nothing stopped
        assert chatguard_main(["broker", "stop", "--port", str(second.port)]) == 1
        assert "stop it with the --data-dir it was started with" in capsys.readouterr().err
        assert _alive(pid) and second.answers()
    finally:
        second.stop(quiet=True)
    assert second.pid() is None
    assert not _alive(pid)
    assert _processes_using(second.config_file) == []
    assert not second.answers(timeout=2)
    assert not second.pid_file.exists()


@pytest.mark.slow
def test_scram_broker_refuses_clients_without_credentials(tmp_path: Path, broker: str) -> None:
    user = ScramUser("chatguard", f"pw-{uuid.uuid4().hex[:8]}")
    secured = _second_broker(tmp_path, scram_user=user)
    secured.start(timeout=120, quiet=True)
    try:
        assert secured.answers()  # SASL_PLAINTEXT + SCRAM-SHA-512 with the user
        assert not broker_answers(secured.bootstrap, timeout=3)  # plaintext client: refused
        wrong = LocalBroker(
            port=secured.port,
            data_dir=secured.data_dir,
            scram_user=ScramUser("chatguard", "wrong-password"),
        )
        assert not wrong.answers(timeout=3)
    finally:
        secured.stop(quiet=True)
    assert _processes_using(secured.config_file) == []


def test_port_taken_is_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(BrokerError, match=rf"port {port} .* already in use"):
            check_port_free(port)
        taken = LocalBroker(port=port, data_dir=tmp_path / "kafka")
        with pytest.raises(BrokerError, match=f"port {port}"):
            taken.start(quiet=True)
        assert taken.pid() is None
        assert _processes_using(taken.config_file) == []


def test_port_of_a_just_stopped_server_counts_as_free() -> None:
    """Connections the server closed linger in TIME_WAIT; a restart must not call the port taken."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    server.close()
    client.close()
    with socket.socket() as plain, pytest.raises(OSError):  # real: a plain bind fails here
        plain.bind(("127.0.0.1", port))
    check_port_free(port)


@pytest.mark.slow
def test_broker_that_never_becomes_ready_reports_the_log_tail(tmp_path: Path, broker: str) -> None:
    slow = _second_broker(tmp_path)
    # a first, complete start and stop writes the log, so what the second start's message shows
    # does not depend on how far a loaded machine's JVM got in one second (no Kafka answers
    # within a second of its start, so the second start times out)
    slow.start(timeout=120, quiet=True)
    slow.stop(quiet=True)
    with pytest.raises(BrokerError, match=r"did not answer .* within 1s") as failure:
        slow.start(timeout=1, quiet=True)
    message = str(failure.value)
    assert f"Last lines of {slow.log_file}:" in message
    tail = message.split(f"Last lines of {slow.log_file}:\n", 1)[1].splitlines()
    log = slow.log_file.read_text(errors="replace").splitlines()
    assert tail and all(line in log for line in tail)  # the real log's lines, not a placeholder
    assert slow.pid() is None
    assert _processes_using(slow.config_file) == []


def test_no_java_and_no_maven_get_clear_messages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # nothing on it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached jars
    with pytest.raises(BrokerError, match="Java not found on PATH"):
        require_java()
    with pytest.raises(BrokerError, match=r"Maven \(mvn\) not found on PATH") as failure:
        ensure_jars()
    assert str(tmp_path / "cache") in str(failure.value)  # says where the jars would go
    broker = LocalBroker(port=free_port(), data_dir=tmp_path / "kafka")
    with pytest.raises(BrokerError, match="Java not found"):
        broker.start(quiet=True)
    assert not (tmp_path / "kafka").exists()  # checked before anything was written


def test_broker_refuses_a_transaction_that_could_hold_readers_longer_than_a_minute(
    broker: str,
) -> None:
    """Every reader is read_committed, so an open transaction holds the records behind it
    until the broker aborts it: with Kafka's default bound a producer could hold a partition
    15 minutes (904.8 s measured). The project's broker refuses a timeout over a minute and
    takes the clients' default one."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    async def begin(timeout_ms: int) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker,
            transactional_id=f"txn-bound-{uuid.uuid4().hex[:8]}",
            transaction_timeout_ms=timeout_ms,
        )
        try:
            await producer.start()
        finally:
            await producer.stop()

    asyncio.run(begin(60_000))
    with pytest.raises(KafkaError):
        asyncio.run(begin(900_000))
