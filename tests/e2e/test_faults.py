"""Faults against a real broker: the broker goes away and comes back, a flood, a corrupt model
promoted under a running worker, a worker killed during a rebalance. Each test asserts that the set
of event ids with a decision or dead letter equals the set produced."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from chatguard.cli import main as chatguard
from chatguard.settings import Settings
from devtools.broker import LocalBroker
from devtools.produce import build_events
from models.registry import ModelRegistry
from streams.control_topics import topic_configs
from streams.outgoing import OutgoingEvent
from tests.conftest import ModelKeys
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import (
    accounted,
    consume,
    free_port,
    produce,
    produce_acknowledged,
)
from tests.e2e.poison_model import MARKER, promote_poisoned_copy

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


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_broker_restart_mid_stream_loses_nothing(
    own_broker: LocalBroker,
    start_worker: Callable[..., WorkerProcess],
    stream_env: dict[str, str],
    ingest: str,
) -> None:
    env = {"CHATGUARD_BROKER": f"kafka://{own_broker.bootstrap}", "CHATGUARD_INGEST": ingest}
    settings = Settings.from_env({**stream_env, **env})
    worker = start_worker(env=env)
    worker.wait_ready()
    first, second = build_events(1_500, seed=31), build_events(1_500, seed=32)
    acknowledged: set[str] = set()
    producer = threading.Thread(
        target=lambda: acknowledged.update(produce_acknowledged(settings, first, rate=500)),
        daemon=True,
    )
    producer.start()
    # mid-stream: the first decisions are out, the producer is still sending
    consume(settings, ["moderation.decisions"], until=lambda rs: len(rs) > 0, timeout=60)
    own_broker.stop(quiet=True)
    time.sleep(5)  # the outage itself is the scenario
    own_broker.start(timeout=120, quiet=True)
    producer.join(timeout=180)
    produce(settings, second)  # the worker reconnected and goes on

    # owed an outcome: what the broker acknowledged (an event whose send timed out while the
    # broker was away may have been written anyway, so it may have one too)
    owed = acknowledged | {e.event_id for e in second}
    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, settings) & owed) >= len(owed),
        timeout=180,
    )
    outcomes = accounted(records, settings)
    assert not producer.is_alive()
    assert len(acknowledged) > 0
    assert owed <= outcomes, f"{len(owed - outcomes)} acknowledged events without an outcome"
    assert outcomes <= owed | {e.event_id for e in first}
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


def test_a_corrupt_promoted_model_keeps_the_current_one_serving(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    model_keys: ModelKeys,
) -> None:
    registry = ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"]))
    good = registry.current_version()
    worker = start_worker()
    worker.wait_ready()
    # a new, signed version whose artifact is damaged after it was written, promoted without
    # the gate
    assert chatguard(["train", "--registry", str(registry.root), "--seed", "9", "--quiet"]) == 0
    bad = registry.versions()[-1]
    registry.sign(bad, model_keys.private_key)
    artifact = registry.path(bad) / "model.joblib"
    artifact.chmod(0o644)
    artifact.write_bytes(b"\x80\x04 not the model")
    registry.promote(bad)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body = worker.get("/ready")
        if b"last_model_error" in body and bad.encode() in body:
            break
        time.sleep(0.5)
    assert status == 200, "a failed reload must not make the worker unready"
    assert b"sha256" in body.lower()
    events = build_events(300, seed=51)
    produce(stream_settings, events)
    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(events),
        timeout=90,
    )
    assert accounted(records, stream_settings) == {e.event_id for e in events}
    versions = {
        r.json()["model_version"]
        for r in records
        if r.topic == stream_settings.topic("moderation.decisions")
    }
    assert versions == {good}


def test_a_worker_killed_during_a_rebalance_loses_nothing(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    events = build_events(6_000, malformed_share=0.05, seed=61)
    first = start_worker()
    first.wait_ready()
    producer = threading.Thread(
        target=produce, args=(stream_settings, events), kwargs={"rate": 1_500}, daemon=True
    )
    producer.start()
    time.sleep(1.0)
    second = start_worker()  # its join starts a rebalance ...
    time.sleep(1.5)
    first.kill()  # ... and the first member dies in the middle of it
    second.wait_ready(timeout=120)
    producer.join(timeout=120)
    ids = {e.event_id for e in events}
    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=240,
    )
    outcomes = accounted(records, stream_settings)
    assert outcomes == ids, f"{len(ids - outcomes)} events without an outcome"


def test_a_poison_event_goes_to_the_dead_letter_topic_and_its_partition_goes_on(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
) -> None:
    poisoned_version = promote_poisoned_copy(ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"])))
    worker = start_worker(
        env={"CHATGUARD_TOPIC_PARTITIONS": "1"}
    )  # one partition: nothing can route around
    worker.wait_ready()
    before, after = (
        build_events(200, malformed_share=0.0, seed=81),
        build_events(200, malformed_share=0.0, seed=82),
    )
    poison = [
        OutgoingEvent(
            "chat.messages",
            f"poison-{i}".encode(),
            orjson.dumps(
                {
                    "type": "chat.message",
                    "event_id": f"poison-{i}",
                    "conversation_id": "c",
                    "sender_id": "s",
                    "text": f"hello {MARKER} {i}",
                    "sent_at": time.time(),
                }
            ),
            f"poison-{i}",
            "poison",
        )
        for i in range(3)
    ]
    settings = Settings.from_env({**stream_env, "CHATGUARD_TOPIC_PARTITIONS": "1"})
    produce(settings, [*before, *poison, *after])
    ids = {e.event_id for e in before + poison + after}
    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, settings)) >= len(ids),
        timeout=90,
    )
    assert accounted(records, settings) == ids
    dead = [r.json() for r in records if r.topic == settings.topic("moderation.deadletter")]
    assert sorted((d["event_id"], d["error_kind"]) for d in dead) == [
        (f"poison-{i}", "scoring_failed") for i in range(3)
    ]
    decided = [r.json() for r in records if r.topic == settings.topic("moderation.decisions")]
    assert {d["model_version"] for d in decided} == {poisoned_version}
    assert {e.event_id for e in after} <= {d["event_id"] for d in decided}  # the partition went on
    assert worker.get("/health")[0] == 200


@pytest.mark.parametrize("ingest", ["batch", "faust"])
def test_an_event_near_kafkas_record_limit_becomes_a_dead_letter_that_fits(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, ingest: str
) -> None:
    """A 900 KB message is over the text limit; its dead letter, base64 and all, must still fit
    under the broker's 1 MB record limit, or producing it would fail and stall the partition."""
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    huge_value = orjson.dumps(
        {
            "type": "chat.message",
            "event_id": "huge",
            "conversation_id": "c",
            "sender_id": "s",
            "text": "a" * 900_000,
            "sent_at": time.time(),
        }
    )
    huge = OutgoingEvent("chat.messages", b"huge", huge_value, "huge", "oversize_text")
    after = build_events(50, malformed_share=0.0, seed=91)
    produce(stream_settings, [huge, *after])
    ids = {"huge"} | {e.event_id for e in after}
    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=90,
    )
    assert accounted(records, stream_settings) == ids
    [dead] = [
        r.json() for r in records if r.topic == stream_settings.topic("moderation.deadletter")
    ]
    assert dead["error_kind"] == "oversize_text"
    assert dead["raw_size"] == len(huge_value) and dead["raw_truncated"] is True
    assert len(base64.b64decode(dead["raw"])) < len(huge_value)
    assert worker.get("/health")[0] == 200
    # stored zstd-compressed by the broker, whatever codec the worker sent it with: a dead
    # letter copies up to 512 KB of its input, which an attacker sends as a few bytes of zstd
    # (30 such dead letters: 20.5 MB on disk stored as sent, 28 KB stored as zstd)
    dead_letters = stream_settings.topic("moderation.deadletter")
    assert topic_configs(stream_settings, dead_letters)["compression.type"] == "zstd"


def test_partitions_added_to_an_input_topic_are_read_within_a_metadata_refresh(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """An operator doubles ``chat.messages``' partitions under a running worker and producers
    start writing to the new ones: their events are decided after the batch reader's next
    metadata refresh (30 s), not the clients' default 5 minutes (240 s measured before)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewPartitions

    from streams.kafka_options import rdkafka_connection

    settings = stream_settings
    worker = start_worker()
    worker.wait_ready()
    topic = settings.topic("chat.messages")
    before = settings.topic_partitions
    admin = AdminClient(rdkafka_connection(settings))
    for future in admin.create_partitions([NewPartitions(topic, 2 * before)]).values():
        future.result(timeout=60)
    producer = Producer(rdkafka_connection(settings))
    events = {}
    for partition in range(before, 2 * before):
        event_id = f"new-partition-{partition}"
        value = orjson.dumps(
            {
                "type": "chat.message",
                "event_id": event_id,
                "conversation_id": "c1",
                "sender_id": f"acct-{partition}",
                "text": "see you at the station at six",
                "sent_at": time.time(),
            }
        )
        producer.produce(topic, value, key=event_id.encode(), partition=partition)
        events[event_id] = partition
    assert producer.flush(60) == 0
    records = consume(
        settings,
        ["moderation.decisions"],
        until=lambda rs: set(events) <= {r.json()["event_id"] for r in rs},
        timeout=150,
    )
    assert set(events) <= {r.json()["event_id"] for r in records}
