"""Faults against a real broker: the broker goes away mid-stream and comes back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatguard.broker import LocalBroker
from chatguard.settings import Settings
from streams.produce import build_events
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, free_port, produce

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def own_broker(tmp_path: Path, broker: str) -> Iterator[LocalBroker]:
    """A broker this test may stop and restart without disturbing the others."""
    server = LocalBroker(port=free_port(), controller_port=free_port(), data_dir=tmp_path / "kafka")
    server.start(timeout=120, quiet=True)
    try:
        yield server
    finally:
        server.stop(quiet=True)


def test_broker_restart_mid_stream_loses_nothing(
    own_broker: LocalBroker, start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    env = {"CHATGUARD_BROKER": f"kafka://{own_broker.bootstrap}"}
    settings = Settings.from_env({**stream_env, **env})
    worker = start_worker(env=env)
    worker.wait_ready()
    first, second = build_events(1_500, seed=31), build_events(1_500, seed=32)
    producer = threading.Thread(
        target=produce, args=(settings, first), kwargs={"rate": 500}, daemon=True
    )
    producer.start()
    time.sleep(1.5)  # mid-stream
    own_broker.stop(quiet=True)
    time.sleep(5)
    own_broker.start(timeout=120, quiet=True)
    producer.join(timeout=120)
    produce(settings, second)  # the worker reconnected and goes on

    ids = {e.event_id for e in first + second}
    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, settings)) >= len(ids),
        timeout=180,
    )
    missing = ids - accounted(records, settings)
    assert not missing, f"{len(missing)} events without an outcome"
    assert worker.process.poll() is None, "the worker died instead of reconnecting"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_flood_is_absorbed_by_lag_not_memory(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    flood = build_events(40_000, malformed_share=0.02, seed=41)
    produce(
        stream_settings, flood
    )  # all of it before the worker starts: a burst far above throughput
    worker = start_worker()
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set() and worker.process.poll() is None:
            samples.append(_rss_mb(worker.process.pid))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ids = {e.event_id for e in flood}
    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=300,
    )
    done.set()
    sampler.join(timeout=5)
    assert accounted(records, stream_settings) == ids  # the lag drained
    peak = max(samples)
    print(
        f"\nflood of {len(ids)} events: worker RSS peak {peak:.0f} MB over {len(samples)} samples"
    )
    assert peak < 500, f"worker RSS reached {peak:.0f} MB"
