"""End-to-end harness: the real local Kafka broker, unique names per test, real worker processes.

Fixtures:
- ``broker``: the bootstrap address ``host:port`` (from ``CHATGUARD_BROKER``, default
  127.0.0.1:9092). Unreachable -> the test fails under ``CI=true`` and is skipped elsewhere,
  saying how to start the broker.
- ``unique_names``: a :class:`UniqueNames` for this test — a uuid topic prefix and consumer
  group (app id), ``.topic("echo.in")`` for a full topic name and ``.env`` for the
  ``CHATGUARD_*`` variables that carry them.
- ``worker_process(command=None, env=None)``: starts a worker subprocess (default
  ``python -m streams worker -l info``) against the broker with this test's names, a free web
  port and a data dir in tmp, plus ``env``; returns a :class:`WorkerProcess` with ``.stop()``,
  ``.kill(sig)``, ``.wait_for_log(text)``, ``.log_tail()``. Every worker is stopped at teardown
  and its log tail printed if the test failed.
- ``stream_env`` / ``stream_settings`` / ``start_worker(env=None, args=...)``: the same for
  the moderation worker, with a private copy of the default model registry.

Plain helpers (create topics, produce bytes/JSON, consume until N records) live in
``tests.e2e.kafka_helpers``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatguard.settings import Settings
from models.registry import ModelRegistry
from tests.e2e.kafka_helpers import broker_answers, delete_topics_of, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
STREAMS_WORKER = (sys.executable, "-m", "streams", "worker", "-l", "info")


@pytest.fixture(scope="session")
def broker() -> str:
    """Bootstrap ``host:port`` of the running broker; fail (CI) or skip when none answers."""
    url = os.environ.get("CHATGUARD_BROKER", "kafka://127.0.0.1:9092")
    bootstrap = Settings(broker=url).bootstrap_servers
    if not broker_answers(bootstrap):
        port = bootstrap.rsplit(":", 1)[-1]
        start = "chatguard broker start" + ("" if port == "9092" else f" --port {port}")
        message = f"no Kafka broker answers on {bootstrap}; start it with: {start}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return bootstrap


@dataclass(frozen=True)
class UniqueNames:
    """Names no other test (or earlier run) uses: topics ``<prefix><name>``, group ``app_id``."""

    prefix: str
    app_id: str

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def env(self) -> dict[str, str]:
        return {"CHATGUARD_TOPIC_PREFIX": self.prefix, "CHATGUARD_APP_ID": self.app_id}


@pytest.fixture
def unique_names(request: pytest.FixtureRequest) -> Iterator[UniqueNames]:
    """This test's names; its topics are deleted after it when it used the broker: a whole
    suite on one broker otherwise holds over 10,000 partitions, each an open file, and the
    broker stops when it reaches the machine's limit (20,000 here)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    names = UniqueNames(prefix=f"{name}.", app_id=name)
    yield names
    if "broker" in request.fixturenames:
        delete_topics_of(request.getfixturevalue("broker"), names)


@pytest.fixture
def stream_env(
    broker: str, unique_names: UniqueNames, tmp_path: Path, default_model_registry: ModelRegistry
) -> dict[str, str]:
    """Environment for one test's moderation workers and clients; nothing shared with others."""
    registry = tmp_path / "registry"
    shutil.copytree(default_model_registry.root, registry)
    return {
        "CHATGUARD_BROKER": f"kafka://{broker}",
        **unique_names.env,
        "CHATGUARD_WEB_PORT": str(free_port()),
        "CHATGUARD_DATA_DIR": str(tmp_path / "worker-data"),
        "CHATGUARD_REGISTRY": str(registry),
        "CHATGUARD_LABEL_STORE": str(tmp_path / "labels.jsonl"),
        "CHATGUARD_MODEL_POLL_S": "1",
        "CHATGUARD_MODERATOR_HMAC_KEY": f"moderators-{unique_names.app_id}",
        # the workers sign their internal records and refuse unsigned ones, as in production
        "CHATGUARD_FLEET_KEY": f"fleet-{unique_names.app_id}",
        # a report of an event never moderated is refused after 1 s here, not 5 minutes
        "CHATGUARD_REPORT_RETRY_S": "0.5",
        "CHATGUARD_REPORT_RETRIES": "2",
    }


@pytest.fixture
def stream_settings(stream_env: dict[str, str]) -> Settings:
    return Settings.from_env(stream_env)


class WorkerProcess:
    """A worker subprocess in its own process group, writing stdout and stderr to a log file."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.log_path = log_path
        self._log = log_path.open("wb")
        full_env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # signals reach the whole group, e.g. a console-script wrapper
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def web_port(self) -> int:
        return int(self.env["CHATGUARD_WEB_PORT"])

    def get(self, path: str) -> tuple[int, bytes]:
        """HTTP GET on the worker's web port: ``(status, body)``."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=2) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until ``/ready`` says a model is loaded and partitions are assigned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_exited()
            try:
                if self.get("/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"worker not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def wait_for_log(self, text: str, timeout: float = 90.0) -> None:
        """Wait until ``text`` appears in the log (e.g. Faust's ``Ready``); fail if it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_exited()
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.3)
        pytest.fail(f"{text!r} not in the worker's log after {timeout:.0f}s:\n{self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int:
        """Send ``sig`` to the worker's process group and wait for it to exit; its exit code."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, sig)
            self.process.wait(timeout=timeout)
        return self.process.returncode

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM for a clean shutdown, SIGKILL if it takes longer than ``timeout``."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # the group may hold children that outlived the leader
        _signal_group(self.process.pid, signal.SIGKILL)
        self._log.close()
        return self.process.returncode

    def log_tail(self, lines: int = 60) -> str:
        if not self._log.closed:
            self._log.flush()
        content = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(content[-lines:])

    def _fail_if_exited(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def worker_process(
    request: pytest.FixtureRequest, broker: str, unique_names: UniqueNames, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Start worker subprocesses for this test: ``worker_process(command=None, env=None)``.

    ``command`` defaults to ``python -m streams worker -l info``; it runs from the repository
    root. Each worker gets ``CHATGUARD_BROKER``, this test's prefix and app id, its own free
    ``CHATGUARD_WEB_PORT`` and ``CHATGUARD_DATA_DIR``; ``env`` adds or overrides variables.
    """
    workers: list[WorkerProcess] = []

    def start(
        command: Sequence[str] | None = None, env: Mapping[str, str] | None = None
    ) -> WorkerProcess:
        index = len(workers)
        worker_env = {
            "CHATGUARD_BROKER": f"kafka://{broker}",
            **unique_names.env,
            "CHATGUARD_WEB_PORT": str(free_port()),
            "CHATGUARD_DATA_DIR": str(tmp_path / f"worker-data-{index}"),
            **(env or {}),
        }
        worker = WorkerProcess(
            command or STREAMS_WORKER, worker_env, tmp_path / f"worker-{index}.log"
        )
        workers.append(worker)
        return worker

    yield start
    failed = any(
        getattr(request.node, f"rep_{when}", None) is not None
        and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )
    for worker in workers:
        worker.stop()
        if failed:
            print(f"\n--- {worker.log_path.name} ({' '.join(worker.command)}) ---")
            print(worker.log_tail())


@pytest.fixture
def start_worker(
    worker_process: WorkerFactory, stream_env: dict[str, str]
) -> Callable[..., WorkerProcess]:
    """``start_worker(env=None, args=("-l", "info"))``: a moderation worker with ``stream_env``;
    several share the group and topics, each has its own web port and data dir."""
    shared = {
        k: v for k, v in stream_env.items() if k not in ("CHATGUARD_WEB_PORT", "CHATGUARD_DATA_DIR")
    }

    def start(
        env: dict[str, str] | None = None, args: tuple[str, ...] = ("-l", "info")
    ) -> WorkerProcess:
        command = [sys.executable, "-m", "streams", "worker", *args]
        return worker_process(command, {**shared, **(env or {})})

    return start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
