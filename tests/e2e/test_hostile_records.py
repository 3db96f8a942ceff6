"""Hostile records against a real worker on the real broker: huge ids and keys, a record too large
to produce, bad reports, labels and strike signals, a full disk under the label store, the registry
removed. Each hostile record ends as exactly one decision or dead letter, and the worker goes on
deciding new events."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatguard.settings import Settings
from devtools.produce import build_events
from streams import moderators
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import Record, consume, produce, strike_signal

pytestmark = pytest.mark.e2e

KAFKA_RECORD_LIMIT = 1_000_000
DECIDED_OR_DEAD = ["moderation.decisions", "moderation.deadletter"]


def _chat(event_id: str, **fields: Any) -> bytes:
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": "c1",
        "sender_id": "s1",
        "text": "see you at the gym tonight",
        "sent_at": time.time(),
        **fields,
    }
    return orjson.dumps(data)


def _on(records: list[Record], settings: Settings, logical: str) -> list[Record]:
    return [r for r in records if r.topic == settings.topic(logical)]


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f}s"
        time.sleep(0.3)


def _metric(worker: WorkerProcess, name: str) -> float:
    """The value of an unlabelled metric on ``/metrics``, or the sum over its labels."""
    text = worker.get("/metrics")[1].decode()
    values = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return sum(float(v) for v in values)


def _still_deciding(worker: WorkerProcess, settings: Settings, seed: int) -> None:
    """New events after the hostile ones are decided, and the worker is healthy."""
    after = build_events(30, malformed_share=0.0, seed=seed)
    produce(settings, after)
    ids = {e.event_id for e in after}
    records = consume(
        settings,
        ["moderation.decisions"],
        until=lambda rs: ids <= {r.json()["event_id"] for r in rs},
        timeout=90,
    )
    assert ids <= {r.json()["event_id"] for r in records}
    assert worker.get("/health")[0] == 200 and worker.returncode is None


@pytest.mark.parametrize("ingest", ["batch", "faust"])
def test_huge_ids_and_keys_become_compact_dead_letters(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, ingest: str
) -> None:
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    huge_key = b"k" * 900_000
    hostile = [
        OutgoingEvent(
            "chat.messages",
            b"huge-sender",
            _chat("huge-sender", sender_id="s" * 700_000),
            "huge-sender",
            "oversize_id",
        ),
        OutgoingEvent("chat.messages", b"huge-id", _chat("e" * 600_000), "huge-id", "oversize_id"),
        OutgoingEvent("chat.messages", huge_key, _chat("huge-key"), "huge-key", "oversize_key"),
    ]
    good = build_events(50, malformed_share=0.0, seed=101)
    produce(stream_settings, [*hostile, *good])
    good_ids = {e.event_id for e in good}

    def complete(rs: list[Record]) -> bool:
        decided = {r.json()["event_id"] for r in _on(rs, stream_settings, "moderation.decisions")}
        return good_ids <= decided and len(_on(rs, stream_settings, "moderation.deadletter")) >= 3

    records = consume(stream_settings, DECIDED_OR_DEAD, until=complete, timeout=120, quiet_for=3)
    decided = [r.json()["event_id"] for r in _on(records, stream_settings, "moderation.decisions")]
    assert sorted(decided) == sorted(good_ids)  # each once, none for the hostile ones
    dead = _on(records, stream_settings, "moderation.deadletter")
    assert sorted((d.json()["error_kind"], d.json()["event_id"]) for d in dead) == [
        ("oversize_id", "e" * stream_settings.max_id_chars),
        ("oversize_id", "huge-sender"),
        ("oversize_key", "huge-key"),
    ]
    for record in dead:
        assert len(record.value) + len(record.key or b"") < KAFKA_RECORD_LIMIT
    [keyed] = [d for d in dead if d.json()["error_kind"] == "oversize_key"]
    assert keyed.key == huge_key[: stream_settings.max_key_bytes]
    assert keyed.json()["key_size"] == len(huge_key) and keyed.json()["key_truncated"] is True
    _still_deciding(worker, stream_settings, seed=102)


# these tests write straight to internal topics, as on an open broker without a fleet key
# (tests/e2e/test_fleet_signing.py: with one, every such record is an `unsigned` dead letter)
UNSIGNED = {"CHATGUARD_FLEET_KEY": ""}


def _strike(account: str, event_id: str, **fields: Any) -> OutgoingEvent:
    data = strike_signal(account, event_id, **fields)
    return OutgoingEvent("account.strikes", account.encode(), orjson.dumps(data), event_id, "valid")


def test_an_output_over_the_record_limit_becomes_a_dead_letter(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    """Ids within their limit can still add up: an account action's evidence and categories
    here are over the record limit, so it becomes an ``output_too_large`` dead letter, not a
    producer error. (The account's state keeps 48,000 characters of ids a list, and 64
    categories: each within 64 KiB, not both.)"""
    env = {
        **UNSIGNED,
        "CHATGUARD_MAX_RECORD_BYTES": "65536",
        "CHATGUARD_MAX_ID_CHARS": "1000",
        "CHATGUARD_RESTRICT_STRIKES": "70",
        "CHATGUARD_SUSPEND_STRIKES": "1000",
    }
    settings = Settings.from_env({**stream_env, **env})
    worker = start_worker(env=env)
    worker.wait_ready()
    categories = [f"{j:02d}" + "c" * 998 for j in range(64)]
    signals = [
        _strike("acct-big", f"{i:04d}" + "e" * 990, categories=categories) for i in range(70)
    ]
    produce(settings, signals)
    records = consume(
        settings, ["moderation.deadletter"], until=lambda rs: len(rs) >= 1, timeout=90, quiet_for=2
    )
    [dead] = [r.json() for r in records]
    assert dead["error_kind"] == "output_too_large"
    assert "account.actions" in dead["error"] and "65536" in dead["error"]
    assert dead["source_topic"] == settings.topic("account.strikes")
    assert not consume(settings, ["account.actions"], until=lambda rs: False, timeout=5)
    _still_deciding(worker, settings, seed=103)


def _report(report_id: str, **fields: Any) -> OutgoingEvent:
    data = {
        "type": "user.report",
        "report_id": report_id,
        "reporter_id": "u1",
        "event_id": f"evt-{report_id}",
        "account_id": "acct-reported",
        "reason": "fraud",
        "reported_at": time.time(),
        **fields,
    }
    return OutgoingEvent("user.reports", report_id.encode(), orjson.dumps(data), report_id, "x")


def _label(event_id: str, categories: Any, key: bytes, **fields: Any) -> OutgoingEvent:
    """A label as the moderation tool sends it, signed with the moderators' ``key``."""
    data = {
        "type": "moderator.label",
        "event_id": event_id,
        "text": f"text of {event_id}",
        "categories": categories,
        "moderator_id": "m1",
        "labelled_at": time.time(),
        **fields,
    }
    value = orjson.dumps(moderators.sign(data, key))
    return OutgoingEvent("moderator.labels", event_id.encode(), value, event_id, "x")


def _raw(topic: str, key: str, value: bytes) -> OutgoingEvent:
    return OutgoingEvent(topic, key.encode(), value, key, "x")


def test_bad_reports_labels_and_strike_signals_are_dead_letters_and_the_good_ones_count(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
) -> None:
    worker = start_worker(env=UNSIGNED)
    worker.wait_ready()
    key = stream_env["CHATGUARD_MODERATOR_HMAC_KEY"].encode()
    reports = [
        _report("r-good"),
        _report("r-text", text=123),  # a stray field of the wrong type is ignored
        _report("r-confirmed", confirmed="yes"),  # ignored too: only moderators confirm
        _report("r-account", account_id=5),
        _report("r-huge-reason", reason="x" * 1_000),
        _raw("user.reports", "r-json", b'{"type": "user.report", "report_id"'),
    ]
    labels = [
        _label("l-good", ["fraud"], key),
        _label("l-clean", [], key),
        _label("l-typo", ["frad"], key),
        _label("l-string", "fraud", key),
        _label("l-huge-moderator", ["spam"], key, moderator_id="m" * 10_000),
        _raw("moderator.labels", "l-bytes", b"\xff\xfe"),
    ]
    strikes = [
        # three valid signals: one restrict for acct-s
        *(_strike("acct-s", f"s{i}") for i in range(3)),
        _raw("account.strikes", "acct-s", b"not json"),
        _raw("account.strikes", "acct-s", orjson.dumps({"signal_id": "x", "account_id": "acct-s"})),
        _strike("acct-s", "s-heavy", weight="heavy"),
        _strike("acct-s", "s-huge", weight=1e12),
        _strike("acct-s", "s-cats", categories="fraud"),
        OutgoingEvent(  # keyed to one account, naming another: the table is keyed by account
            "account.strikes",
            b"acct-other",
            orjson.dumps({**orjson.loads(_strike("acct-s", "s-key").value)}),
            "s-key",
            "x",
        ),
    ]
    produce(stream_settings, [*reports, *labels, *strikes])
    expected_dead = [
        # the valid reports name events this worker never moderated: they do not count
        ("events.by_id", b"evt-r-good", "unknown_event"),
        ("events.by_id", b"evt-r-text", "unknown_event"),
        ("events.by_id", b"evt-r-confirmed", "unknown_event"),
        ("user.reports", b"r-account", "wrong_type"),
        ("user.reports", b"r-huge-reason", "oversize_field"),
        ("user.reports", b"r-json", "malformed_json"),
        ("moderator.labels", b"l-typo", "unknown_category"),
        ("moderator.labels", b"l-string", "wrong_type"),
        ("moderator.labels", b"l-huge-moderator", "oversize_id"),
        ("moderator.labels", b"l-bytes", "invalid_utf8"),
        ("account.strikes", b"acct-s", "malformed_json"),
        ("account.strikes", b"acct-s", "missing_field"),
        ("account.strikes", b"acct-s", "wrong_type"),
        ("account.strikes", b"acct-s", "invalid_value"),
        ("account.strikes", b"acct-s", "wrong_type"),
        ("account.strikes", b"acct-other", "invalid_value"),
    ]
    records = consume(
        stream_settings,
        ["moderation.deadletter", "account.actions", "reports.by_reporter"],
        until=lambda rs: (
            len(_on(rs, stream_settings, "moderation.deadletter")) >= len(expected_dead)
            and len(_on(rs, stream_settings, "account.actions")) >= 1
        ),
        timeout=120,
        quiet_for=3,
    )
    dead = [
        (r.json()["source_topic"], r.key, r.json()["error_kind"])
        for r in _on(records, stream_settings, "moderation.deadletter")
    ]
    # each bad record once, and nothing else
    assert sorted(dead) == sorted(
        (stream_settings.topic(t), k, kind) for t, k, kind in expected_dead
    )
    # the valid reports in the same batches went on to be weighed by their reporter
    report_ids = {
        r.json()["report_id"] for r in _on(records, stream_settings, "reports.by_reporter")
    }
    assert report_ids == {"r-good", "r-text", "r-confirmed"}
    actions = [r.json() for r in _on(records, stream_settings, "account.actions")]
    assert [(a["account_id"], a["action"]) for a in actions] == [("acct-s", "restrict")]
    assert sorted(actions[0]["evidence"]) == ["s0", "s1", "s2"]
    store = Path(stream_env["CHATGUARD_LABEL_STORE"])
    _wait_until(lambda: store.exists() and len(store.read_bytes().splitlines()) >= 2, "labels")
    assert sorted(orjson.loads(line)["event_id"] for line in store.read_bytes().splitlines()) == [
        "l-clean",
        "l-good",
    ]
    _still_deciding(worker, stream_settings, seed=104)


def test_forged_report_retries_are_dead_letters_and_none_stalls_the_agent(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """``reports.retry`` is writable by anyone with access: a record that is not JSON or names an
    attempt no worker writes is a dead letter, and one due in the far future waits one retry
    interval (0.5 s here), is checked again and refused like any report of an unseen event."""
    worker = start_worker(env=UNSIGNED)
    worker.wait_ready()
    report = {
        "kind": "report",
        "report_id": "r-forged",
        "reporter_id": "u1",
        "event_id": "evt-forged",
        "account_id": "acct-reported",
        "reason": "fraud",
        "category": "fraud",
        "reported_at": time.time(),
        "weight": 0.5,
    }
    forged = [
        _raw("reports.retry", "evt-forged", b"not json"),
        _raw("reports.retry", "evt-forged", orjson.dumps({**report, "attempt": 999})),
        _raw("reports.retry", "evt-forged", orjson.dumps({**report, "attempt": 1})),
        _raw(
            "reports.retry",
            "evt-forged",
            orjson.dumps({**report, "attempt": 1, "not_before": 1e300}),
        ),
    ]
    produce(stream_settings, forged)
    expected = [
        ("reports.retry", "malformed_json"),
        ("reports.retry", "invalid_field"),
        ("reports.retry", "invalid_field"),
        ("events.by_id", "unknown_event"),
    ]
    records = consume(
        stream_settings,
        ["moderation.deadletter"],
        until=lambda rs: len(rs) >= len(expected),
        timeout=120,
        quiet_for=3,
    )
    dead = [(r.json()["source_topic"], r.json()["error_kind"]) for r in records]
    assert sorted(dead) == sorted((stream_settings.topic(t), kind) for t, kind in expected)
    _still_deciding(worker, stream_settings, seed=105)


def test_input_records_carry_the_brokers_time_whatever_time_their_producer_names(
    stream_settings: Settings,
) -> None:
    """A producer may stamp a record with any time; on a topic keeping producers' times, one
    record from the year 9999 stopped its partition's log from rolling or being deleted by
    retention. chatguard creates its input topics (and ``reports.retry``) with the broker's
    append time."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka_options import connection as client_options
    from streams.kinds import INPUT_TOPICS
    from streams.topics import ensure_topics
    from tests.e2e.kafka_helpers import consume_all

    asyncio.run(ensure_topics(stream_settings))
    year_9999_ms = 253_370_764_800_000
    topics = [*INPUT_TOPICS, "reports.retry"]

    async def send() -> None:
        producer = AIOKafkaProducer(acks="all", **client_options(stream_settings))
        await producer.start()
        try:
            for topic in topics:
                await producer.send_and_wait(
                    stream_settings.topic(topic), b"{}", key=b"k", timestamp_ms=year_9999_ms
                )
        finally:
            await producer.stop()

    before_ms = time.time() * 1000
    asyncio.run(send())
    for topic in topics:
        [record] = consume_all(stream_settings.bootstrap_servers, stream_settings.topic(topic), 1)
        assert before_ms - 60_000 <= record.timestamp <= time.time() * 1000 + 60_000, topic


def test_a_flood_of_forged_report_retries_waits_one_interval_in_all(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """Each forged ``reports.retry`` record naming a time far ahead used to hold the agent one
    full retry interval, one after the other: 20 of them at 8 s held every real report behind
    them for 160 s. The topic keeps the broker's append time, so all 20 are due 8 s after they
    were written, and come back refused (unknown event) well inside the timeout."""
    worker = start_worker(
        env={**UNSIGNED, "CHATGUARD_REPORT_RETRY_S": "8", "CHATGUARD_REPORT_RETRIES": "1"}
    )
    worker.wait_ready()
    forged = [
        _raw(
            "reports.retry",
            f"evt-flood-{i}",
            orjson.dumps(
                {
                    "kind": "report",
                    "report_id": f"r-flood-{i}",
                    "reporter_id": "u1",
                    "event_id": f"evt-flood-{i}",
                    "account_id": "acct-reported",
                    "reason": "fraud",
                    "category": "fraud",
                    "reported_at": time.time(),
                    "weight": 0.5,
                    "attempt": 1,
                    "not_before": 1e300,
                }
            ),
        )
        for i in range(20)
    ]
    produce(stream_settings, forged)
    records = consume(
        stream_settings,
        ["moderation.deadletter"],
        until=lambda rs: len(rs) >= len(forged),
        timeout=100,  # 160 s before; about 8 s now
    )
    assert len(records) == len(forged)
    assert {r.json()["error_kind"] for r in records} == {"unknown_event"}
    _still_deciding(worker, stream_settings, seed=106)


def test_labels_wait_in_kafka_while_the_disk_is_full_and_land_exactly_once(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
) -> None:
    store = Path(stream_env["CHATGUARD_LABEL_STORE"])
    store.symlink_to("/dev/full")  # the real kernel: every write fails with ENOSPC
    worker = start_worker()
    worker.wait_ready()
    key = stream_env["CHATGUARD_MODERATOR_HMAC_KEY"].encode()
    first = [_label(f"l{i}", ["spam"] if i % 2 else [], key) for i in range(5)]
    produce(stream_settings, first)

    def unready_for_the_store() -> bool:
        status, body = worker.get("/ready")
        return status == 503 and b"label store" in body

    _wait_until(unready_for_the_store, "/ready reporting the full disk")
    body = worker.get("/ready")[1].decode()
    assert "ENOSPC" in body and str(tmp_path) not in body
    _wait_until(lambda: _metric(worker, "chatguard_label_store_errors_total") >= 3, "retries")
    assert _metric(worker, "chatguard_label_store_ok") == 0
    # the log says it when it starts (and once a minute), not on every retry
    logged = worker.log_tail(400).count("the label store cannot be written")
    assert 1 <= logged < _metric(worker, "chatguard_label_store_errors_total")
    _still_deciding(worker, stream_settings, seed=105)  # moderation goes on meanwhile

    room = tmp_path / "labels-room.jsonl"
    room.touch()
    (tmp_path / "next-link").symlink_to(room)
    (tmp_path / "next-link").replace(store)  # atomically: the disk has room again
    _wait_until(lambda: len(room.read_bytes().splitlines()) >= 5, "the waiting labels landing")
    _wait_until(lambda: worker.get("/ready")[0] == 200, "/ready recovering")
    assert _metric(worker, "chatguard_label_store_ok") == 1
    later = [_label("l-later", ["fraud"], key)]
    produce(stream_settings, later)
    _wait_until(lambda: len(room.read_bytes().splitlines()) >= 6, "a later label landing")
    time.sleep(1.0)  # a duplicate append would come right after
    rows = [orjson.loads(line) for line in room.read_bytes().splitlines()]  # no cut line
    assert sorted(r["event_id"] for r in rows) == sorted([*(f"l{i}" for i in range(5)), "l-later"])


def test_a_registry_removed_under_a_running_worker_shows_and_clears(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
) -> None:
    registry = Path(stream_env["CHATGUARD_REGISTRY"])
    worker = start_worker()
    worker.wait_ready()
    version = orjson.loads(worker.get("/ready")[1])["model_version"]
    moved = tmp_path / "registry-elsewhere"
    registry.rename(moved)

    def unready_for(reason: str) -> Callable[[], bool]:
        def check() -> bool:
            status, body = worker.get("/ready")
            return status == 503 and reason.encode() in body

        return check

    _wait_until(unready_for("registry folder is missing"), "/ready reporting the registry")
    assert str(tmp_path) not in worker.get("/ready")[1].decode()
    assert _metric(worker, "chatguard_registry_ok") == 0
    # several polls later (1 s apart here), it was logged once
    _wait_until(lambda: _metric(worker, "chatguard_registry_problems_total") >= 4, "polls")
    logged = worker.log_tail(400).count("registry folder is missing")
    assert 1 <= logged < _metric(worker, "chatguard_registry_problems_total")
    # the loaded model keeps deciding
    events = build_events(20, malformed_share=0.0, seed=106)
    produce(stream_settings, events)
    ids = {e.event_id for e in events}
    records = consume(
        stream_settings,
        ["moderation.decisions"],
        until=lambda rs: ids <= {r.json()["event_id"] for r in rs},
        timeout=90,
    )
    assert {r.json()["model_version"] for r in records} == {version}

    moved.rename(registry)
    _wait_until(lambda: worker.get("/ready")[0] == 200, "/ready recovering")
    assert _metric(worker, "chatguard_registry_ok") == 1
    worker.wait_for_log("the model registry is readable again")
    # CURRENT alone vanishing shows too
    current = registry / "CURRENT"
    kept = current.read_bytes()
    current.unlink()
    _wait_until(unready_for("no CURRENT pointer"), "/ready reporting CURRENT")
    current.write_bytes(kept)
    _wait_until(lambda: worker.get("/ready")[0] == 200, "/ready recovering again")
    assert worker.get("/health")[0] == 200
