"""End-to-end harness: the real local Kafka broker, unique names per test, real worker processes.

Fixtures:
- ``broker``: the bootstrap address (``CHATGUARD_BROKER`` or 127.0.0.1:9092). Unreachable →
  the test fails under ``CI=true`` and is skipped elsewhere, with how to start the broker.
- ``stream_env``: ``CHATGUARD_*`` variables for this test: a uuid topic prefix and consumer
  group, a free web port, a data dir and a private copy of the default model registry.
- ``start_worker(env=None, args=...)``: starts ``python -m streams worker`` as a subprocess and
  returns a :class:`WorkerProcess` (``.wait_ready()``, ``.kill()``, ``.stop()``, ``.log_tail()``);
  every worker is stopped at teardown and its log printed if the test failed.
Plain helpers (produce, consume until a condition) live in ``tests.e2e.kafka_helpers``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatguard.settings import Settings
from models.registry import ModelRegistry
from tests.e2e.kafka_helpers import broker_answers, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def broker() -> str:
    url = os.environ.get("CHATGUARD_BROKER", "kafka://127.0.0.1:9092")
    bootstrap = Settings(broker=url).bootstrap_servers
    if not broker_answers(bootstrap):
        message = f"no Kafka broker answers on {bootstrap}; start it with: chatguard broker start"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return bootstrap


@pytest.fixture
def stream_env(
    broker: str, tmp_path: Path, default_model_registry: ModelRegistry
) -> dict[str, str]:
    """Environment for one test's workers and clients; nothing shared with other tests."""
    name = f"t{uuid.uuid4().hex[:10]}"
    registry = tmp_path / "registry"
    shutil.copytree(default_model_registry.root, registry)
    return {
        "CHATGUARD_BROKER": f"kafka://{broker}",
        "CHATGUARD_TOPIC_PREFIX": f"{name}.",
        "CHATGUARD_APP_ID": name,
        "CHATGUARD_WEB_PORT": str(free_port()),
        "CHATGUARD_DATA_DIR": str(tmp_path / "worker-data"),
        "CHATGUARD_REGISTRY": str(registry),
        "CHATGUARD_LABEL_STORE": str(tmp_path / "labels.jsonl"),
        "CHATGUARD_MODEL_POLL_S": "1",
    }


@pytest.fixture
def stream_settings(stream_env: dict[str, str]) -> Settings:
    return Settings.from_env(stream_env)


class WorkerProcess:
    """A worker subprocess with its own log file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self._log = log_path.open("wb")
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def web_port(self) -> int:
        return int(self.env["CHATGUARD_WEB_PORT"])

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=2) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until ``/ready`` says a model is loaded and partitions are assigned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.get("/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"worker not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM for a clean shutdown, SIGKILL if it takes too long."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def log_tail(self, lines: int = 60) -> str:
        if not self._log.closed:
            self._log.flush()
        content = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(content[-lines:])


@pytest.fixture
def start_worker(
    request: pytest.FixtureRequest, stream_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(
        env: dict[str, str] | None = None, args: tuple[str, ...] = ("-l", "info")
    ) -> WorkerProcess:
        worker_env = {
            **stream_env,
            # each worker its own web port and data dir, the same group and topics
            "CHATGUARD_WEB_PORT": str(free_port()),
            "CHATGUARD_DATA_DIR": str(tmp_path / f"worker-data-{len(workers)}"),
            **(env or {}),
        }
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = WorkerProcess(
            [sys.executable, "-m", "streams", "worker", *args], worker_env, log_path
        )
        workers.append(worker)
        return worker

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for worker in workers:
        worker.stop()
        if failed:
            print(f"\n--- {worker.log_path.name} ---\n{worker.log_tail()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
