"""The worker's web port: loopback by default, Faust's /router/ and /table/ views off, no
filesystem paths in answers, and a bearer token for /ready and /metrics (not /health)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from chatguard.settings import Settings
from streams.app import create_app
from tests.e2e.conftest import WorkerProcess

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
