"""The worker's web port: loopback by default, Faust's /router/ and /table/ views off, no
filesystem paths in answers, and a bearer token for /ready and /metrics (not /health)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from chatguard.settings import Settings
from streams import web_server
from streams.app import create_app
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import consume, produce

pytestmark = pytest.mark.e2e

TOKEN = "test-token-5f1c"


def _get(worker: WorkerProcess, path: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_ready(worker: WorkerProcess, token: str, timeout: float = 90.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.returncode is None, worker.log_tail()
        try:
            status, body = _get(worker, "/ready", token)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"worker not ready after {timeout:.0f}s:\n{worker.log_tail()}")


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_the_web_port_needs_the_token_except_for_health(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    worker = start_worker(env={"CHATGUARD_WEB_TOKEN": TOKEN})
    body = _wait_ready(worker, TOKEN)
    ready = json.loads(body)
    assert ready["model_version"] and ready["refused_model"] is None
    assert b"/" not in body, "a filesystem path in /ready"
    assert stream_env["CHATGUARD_REGISTRY"].encode() not in body

    assert _get(worker, "/health")[0] == 200  # liveness probes need no secret
    for path in ("/ready", "/metrics"):
        status, denied = _get(worker, path)
        assert status == 401 and b"chatguard_" not in denied and b"model_version" not in denied
        assert _get(worker, path, "wrong-token")[0] == 401
    status, metrics = _get(worker, "/metrics", TOKEN)
    assert status == 200 and b"chatguard_model_info" in metrics

    # Faust's built-in views: cluster topology and any table key (e.g. an account's strikes)
    for path in ("/router/", "/table/", "/table/account-strikes/"):
        assert _get(worker, path, TOKEN)[0] == 404, path

    # loopback only: 127.0.0.1 (0100007F in /proc/net/tcp), never 0.0.0.0
    assert _listening_addresses(worker.web_port) == {"0100007F"}


def test_the_bind_address_is_a_setting() -> None:
    assert create_app(Settings()).conf.web_bind == "127.0.0.1"
    assert create_app(Settings(web_host="0.0.0.0")).conf.web_bind == "0.0.0.0"
    assert "secret" not in repr(Settings(web_token="secret"))


def _web_connections(pid: int, port: int) -> int:
    """Connections to ``port`` that process ``pid`` holds open (its sockets' inodes, matched
    against /proc/net/tcp's connected sockets on that local port)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A" and fields[9] in inodes:
                held += 1
    return held


def _closed_by_the_server(sock: socket.socket) -> bool:
    """Whether the worker closed this client's connection (EOF or reset), without waiting."""
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_half_sent_requests_neither_take_the_workers_descriptors_nor_stop_moderation(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """A client that opens connections and never finishes a request: 842 of them took every
    descriptor of a worker under ``ulimit -n 1024``, /health went silent and nothing was decided
    for two minutes. The worker keeps at most ``MAX_CONNECTIONS`` (the oldest waiting one gives
    way to a new one), closes a half-sent request after ``IDLE_S``, and goes on moderating."""
    worker = start_worker()
    worker.wait_ready()
    slow = []
    for _ in range(3 * web_server.MAX_CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", worker.web_port), timeout=5)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: chatguard\r\nX-Wait: ")
        sock.setblocking(False)
        slow.append(sock)
    try:
        assert _get(worker, "/health")[0] == 200  # a probe still gets in
        # those given way are closed on the event loop's next turn: a few may still be closing
        held = _web_connections(worker.pid, worker.web_port)
        assert 0 < held <= web_server.MAX_CONNECTIONS + 32, held
        events = [_chat(i) for i in range(50)]
        produce(stream_settings, events)
        records = consume(
            stream_settings, ["moderation.decisions"], until=lambda rs: len(rs) >= 50, timeout=120
        )
        assert {r.json()["event_id"] for r in records} >= {e.event_id for e in events}
        # and the half-sent requests that were let in are closed after IDLE_S
        deadline = time.monotonic() + 10 * web_server.IDLE_S
        while not all(map(_closed_by_the_server, slow)):
            assert time.monotonic() < deadline, "half-sent requests still open"
            time.sleep(0.5)
        assert worker.returncode is None
    finally:
        for sock in slow:
            sock.close()


def _chat(i: int) -> OutgoingEvent:
    event_id = f"slow-web-{i}"
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": f"c{i % 7}",
        "sender_id": f"user-{i % 5}",
        "text": f"{i}: running late, see you at the station",
        "sent_at": time.time(),
    }
    return OutgoingEvent("chat.messages", event_id.encode(), orjson.dumps(data), event_id, "valid")
