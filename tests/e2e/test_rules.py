"""Rules on a live fleet: published while traffic flows, refused when invalid, rolled back."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chatguard.cli import main as chatguard_main
from chatguard.settings import Settings
from models.signing import sign_payload
from streams.control_topics import COMPACTED, ensure_control_topic, topic_configs
from streams.metrics import REGISTRY
from streams.outgoing import OutgoingEvent
from streams.rules_holder import (
    RULES_MAX_BYTES,
    PublishedRules,
    RulesHolder,
    encode_record,
    read_history,
    signed_payload,
)
from tests.conftest import ModelKeys
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import Record, accounted, consume, produce, produce_bytes

pytestmark = pytest.mark.e2e

TERM = "zebracorn"
RULES_V1 = f"""\
version: fleet-1
rules:
  - id: zebracorn-scam
    description: a new scam script, answered by a term list
    category: fraud
    match:
      terms: [{TERM}]
    effect: block
"""
RULES_V2 = RULES_V1.replace("fleet-1", "fleet-2").replace("effect: block", "effect: review")
INVALID = """\
version: fleet-bad
rules:
  - id: fine
    category: spam
    match: {terms: [harmless]}
    effect: review
  - id: broken-regex
    category: spam
    match: {regex: "(a)\\\\1"}
    effect: block
"""


def _chat(i: int, tag: str) -> OutgoingEvent:
    event_id = f"{tag}-{i}"
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": f"c{i % 7}",
        "sender_id": f"user-{i % 50}",
        # plain chat that the model allows, carrying the term the rule lists, obfuscated half
        # of the time so the rule must match on the normalized text
        "text": f"{i}: see you at lunch, bring the {'z e b r a c o r n' if i % 2 else TERM} please",
        "sent_at": time.time(),
    }
    return OutgoingEvent("chat.messages", event_id.encode(), orjson.dumps(data), event_id, "valid")


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The ``chatguard rules`` commands read the same settings as the workers."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _announcements(settings: Settings, version: str, workers: int, timeout: float) -> list[dict]:
    records = consume(
        settings,
        ["model.updates"],
        until=lambda rs: len(_announced(rs, version)) >= workers,
        timeout=timeout,
    )
    return [r for r in (rec.json() for rec in records) if r.get("rules_version") == version]


def _announced(records: list[Record], version: str) -> set[str]:
    return {
        update["worker"]
        for update in (r.json() for r in records)
        if update.get("rules_version") == version
    }


def _decisions(records: list[Record], settings: Settings) -> list[dict]:
    topic = settings.topic("moderation.decisions")
    return [r.json() for r in records if r.topic == topic]


def test_a_rule_published_while_traffic_flows_switches_every_worker_without_loss(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    _use_env(monkeypatch, stream_env)
    workers = [start_worker(), start_worker()]
    for worker in workers:
        worker.wait_ready()
    events = [_chat(i, "flow") for i in range(3_000)]
    ids = {e.event_id for e in events}
    producer = threading.Thread(
        target=produce, args=(stream_settings, events), kwargs={"rate": 250}, daemon=True
    )
    producer.start()
    # traffic is flowing: decisions under no rules have arrived
    consume(
        stream_settings,
        ["moderation.decisions"],
        until=lambda rs: len(rs) >= 200,
        timeout=120,
    )
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES_V1)
    published_at = time.time()
    assert chatguard_main(["rules", "publish", str(rules_file)]) == 0

    updates = _announcements(stream_settings, "fleet-1", workers=2, timeout=60)
    assert len({u["worker"] for u in updates}) == 2, "every worker announces the version it serves"
    # The switch time is a figure, not a pass mark (CI machines are shared and busy): it is
    # printed and kept in the JUnit properties; only a reload that never comes fails the test.
    lag = max(u["switched_at"] for u in updates) - published_at
    record_property("rules_switch_lag_s", round(lag, 2))
    print(f"the last of 2 workers switched {lag:.2f}s after publishing")
    producer.join(timeout=120)
    assert not producer.is_alive()

    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=180,
        quiet_for=2,
    )
    decisions = _decisions(records, stream_settings)
    decided = [d["event_id"] for d in decisions]
    assert set(decided) == ids, "an event was lost in the switch"
    assert len(decided) == len(ids), "an event was decided twice in the switch"
    by_partition: dict[int, list[dict]] = defaultdict(list)
    for decision in decisions:
        by_partition[decision["source_partition"]].append(decision)
        if decision["rules_version"] == "fleet-1":
            assert decision["action"] == "block", decision
            assert "rule:zebracorn-scam" in decision["reasons"]
        else:
            assert decision["rules_version"] == "none", decision
            assert not any(r.startswith("rule:") for r in decision["reasons"]), decision
    # on every partition (so on both workers) the version moves once, from none to fleet-1
    for partition, ordered in by_partition.items():
        versions = [d["rules_version"] for d in sorted(ordered, key=lambda d: d["source_offset"])]
        switch = versions.index("fleet-1") if "fleet-1" in versions else len(versions)
        assert set(versions[switch:]) == {"fleet-1"}, f"partition {partition} went back"
        assert set(versions[:switch]) <= {"none"}
        assert "fleet-1" in versions, f"partition {partition} never served the rule"
    assert {d["rules_version"] for d in decisions} == {"none", "fleet-1"}
    assert all(worker.returncode is None for worker in workers)  # no restart


def _produce_rules(
    settings: Settings, version: str, text: str, key: Ed25519PrivateKey | None
) -> None:
    """A rules record written straight to the topic, around ``chatguard rules publish``."""
    sha = hashlib.sha256(text.encode()).hexdigest()
    record = PublishedRules(-1, version, text, sha, time.time(), "someone")
    if key is not None:
        signed = signed_payload(version, sha, record.published_at)
        record = dataclasses.replace(record, signature=sign_payload(signed, key))
    produce_bytes(
        settings.bootstrap_servers,
        settings.topic("moderation.rules"),
        [(version.encode(), encode_record(record))],
    )


def test_an_invalid_file_is_refused_and_the_fleet_keeps_serving_then_rolls_back(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    model_keys: ModelKeys,
) -> None:
    _use_env(monkeypatch, stream_env)
    (tmp_path / "v1.yaml").write_text(RULES_V1)
    (tmp_path / "v2.yaml").write_text(RULES_V2)
    (tmp_path / "bad.yaml").write_text(INVALID)
    # published before the worker starts: it serves it from its first event
    assert chatguard_main(["rules", "publish", str(tmp_path / "v1.yaml")]) == 0
    worker = start_worker()
    worker.wait_ready()
    worker.wait_for_log("rules fleet-1")

    capsys.readouterr()
    assert chatguard_main(["rules", "publish", str(tmp_path / "bad.yaml")]) == 1
    error = capsys.readouterr().err
    assert "rule 'broken-regex' (line 7)" in error and "nothing applied" in error

    # signed but published around the command's validation: every worker refuses it on its own
    _produce_rules(stream_settings, "fleet-bad", INVALID, model_keys.private_key)
    worker.wait_for_log("refused rules, keeping fleet-1")
    _, body = worker.get("/ready")
    ready = orjson.loads(body)
    assert ready["rules_version"] == "fleet-1"
    assert "rule 'broken-regex' (line 7)" in ready["last_rules_error"]

    produce(stream_settings, [_chat(i, "after-bad") for i in range(20)])
    records = consume(
        stream_settings,
        ["moderation.decisions"],
        until=lambda rs: len(rs) >= 20,
        timeout=120,
    )
    for decision in _decisions(records, stream_settings):
        assert decision["rules_version"] == "fleet-1" and decision["action"] == "block"

    # a newer version, then rollback to the one before it
    assert chatguard_main(["rules", "publish", str(tmp_path / "v2.yaml")]) == 0
    _announcements(stream_settings, "fleet-2", workers=1, timeout=60)
    assert chatguard_main(["rules", "rollback"]) == 0
    assert "rolled back rules from fleet-2 to fleet-1" in capsys.readouterr().out
    worker.wait_for_log("rules switched from fleet-2 to fleet-1")
    assert chatguard_main(["rules", "show"]) == 0
    shown = capsys.readouterr().out
    assert "serving rules fleet-1" in shown and "zebracorn-scam" in shown
    assert "earlier versions (newest first): fleet-2" in shown

    # fleet-2's signed record re-sent by whoever can write the topic rolls nothing back
    history, _ = asyncio.run(read_history(stream_settings))
    fleet_2 = next(r for r in history if r.version == "fleet-2")
    produce_bytes(
        stream_settings.bootstrap_servers,
        stream_settings.topic("moderation.rules"),
        [(b"fleet-2", encode_record(fleet_2))],
    )
    worker.wait_for_log("rules 'fleet-2' were published at")
    _, body = worker.get("/ready")
    assert orjson.loads(body)["rules_version"] == "fleet-1"
    assert chatguard_main(["rules", "show"]) == 0  # what a worker starting now would serve
    assert "serving rules fleet-1" in capsys.readouterr().out


ALLOW_ALL = """\
version: forged
rules:
  - id: allow-everything
    category: spam
    match: {regex: "."}
    effect: allow
"""


def test_forged_rules_records_do_not_change_what_workers_serve(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whoever can write the rules topic, without the signing key, cannot allow-list spam."""
    _use_env(monkeypatch, stream_env)
    (tmp_path / "v1.yaml").write_text(RULES_V1)
    assert chatguard_main(["rules", "publish", str(tmp_path / "v1.yaml")]) == 0
    worker = start_worker()
    worker.wait_ready()
    worker.wait_for_log("rules fleet-1")

    _produce_rules(stream_settings, "forged", ALLOW_ALL, None)
    worker.wait_for_log("rules 'forged' is not signed")
    _produce_rules(stream_settings, "forged", ALLOW_ALL, Ed25519PrivateKey.generate())
    worker.wait_for_log("rules 'forged' has a bad signature (signed by key")
    _, body = worker.get("/ready")
    assert orjson.loads(body)["rules_version"] == "fleet-1"
    _, metrics_body = worker.get("/metrics")
    assert b'chatguard_rule_reloads_total{result="unsigned"} 1.0' in metrics_body
    assert b'chatguard_rule_reloads_total{result="bad_signature"} 1.0' in metrics_body

    produce(stream_settings, [_chat(i, "after-forged") for i in range(20)])
    records = consume(
        stream_settings, ["moderation.decisions"], until=lambda rs: len(rs) >= 20, timeout=120
    )
    decisions = _decisions(records, stream_settings)
    assert len(decisions) == 20
    for decision in decisions:
        assert decision["rules_version"] == "fleet-1" and decision["action"] == "block"


def _big_rules(version: str, terms: int) -> str:
    words = "\n".join(f"      - scam{i:06d}word" for i in range(terms))
    return (
        f"version: {version}\nrules:\n  - id: big-list\n    category: spam\n    effect: block\n"
        f"    match:\n      terms:\n{words}\n"
    )


def test_a_rules_file_above_kafkas_default_record_limit_is_published_and_served(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """100,000 terms make a 2.6 MB record: the rules topic and the publisher must take it."""
    _use_env(monkeypatch, stream_env)
    # a rules topic made before the limit was raised (an older deployment): publish raises it
    asyncio.run(
        ensure_control_topic(stream_settings, stream_settings.topic("moderation.rules"), COMPACTED)
    )
    text = _big_rules("big-1", 100_000)
    assert len(text.encode()) > 2 * 1024 * 1024
    (tmp_path / "big.yaml").write_text(text)
    worker = start_worker()
    worker.wait_ready()
    assert chatguard_main(["rules", "publish", str(tmp_path / "big.yaml")]) == 0
    assert _announcements(stream_settings, "big-1", workers=1, timeout=120), "never served"

    data = {
        "type": "chat.message",
        "event_id": "big-rules-1",
        "conversation_id": "c1",
        "sender_id": "user-1",
        "text": "hey, try s c a m 0 9 8 7 6 5 w o r d tonight",  # the 98,765th term, spaced
        "sent_at": time.time(),
    }
    produce(
        stream_settings,
        [
            OutgoingEvent(
                "chat.messages", b"big-rules-1", orjson.dumps(data), "big-rules-1", "valid"
            )
        ],
    )
    records = consume(
        stream_settings, ["moderation.decisions"], until=lambda rs: len(rs) >= 1, timeout=120
    )
    (decision,) = _decisions(records, stream_settings)
    assert decision["rules_version"] == "big-1"
    assert decision["action"] == "block" and "rule:big-list" in decision["reasons"]


def test_the_rules_topic_deletes_no_record_and_publish_keeps_the_operators_settings(
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compacted by version, the topic let anyone delete a signed version: the log cleaner keeps
    the last record of a key, and a forged one written under the served version's key became it
    (an outside probe's workers then served the version before). A publish makes a topic created
    compacted keep every record, and leaves what an operator set on it alone."""
    _use_env(monkeypatch, stream_env)
    name = stream_settings.topic("moderation.rules")
    asyncio.run(ensure_control_topic(stream_settings, name, COMPACTED))  # an older deployment's
    asyncio.run(ensure_control_topic(stream_settings, name, {"segment.ms": "3600000"}, 0, True))
    (tmp_path / "v1.yaml").write_text(RULES_V1)
    assert chatguard_main(["rules", "publish", str(tmp_path / "v1.yaml")]) == 0
    configs = topic_configs(stream_settings, name)
    assert configs["cleanup.policy"] == "delete"
    assert configs["retention.ms"] == "-1" and configs["retention.bytes"] == "-1"
    assert configs["max.message.bytes"] == str(RULES_MAX_BYTES)
    assert configs["segment.ms"] == "3600000"  # an AlterConfigs call reset it to the default


def test_a_starting_worker_checks_each_rules_record_as_it_reads_it(
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unsigned records were all decoded and held before any signature was checked (40 records
    of 60 MB of text, 60 KB each on the broker, took a starting worker to 3.6 GB): each is now
    checked as it is read and dropped if it does not verify."""
    _use_env(monkeypatch, stream_env)
    (tmp_path / "v1.yaml").write_text(RULES_V1)
    assert chatguard_main(["rules", "publish", str(tmp_path / "v1.yaml")]) == 0
    junk = ALLOW_ALL + "#" + "x" * 600_000
    for i in range(3):
        _produce_rules(stream_settings, f"junk-{i}", junk.replace("forged", f"junk-{i}"), None)
    _produce_tombstone(stream_settings, b"fleet-1")

    def refused() -> float:
        return (
            REGISTRY.get_sample_value("chatguard_rule_reloads_total", {"result": "unsigned"}) or 0
        )

    before = refused()
    holder = RulesHolder()
    # the worker's settings: the environment's, keys included
    assert asyncio.run(holder.catch_up(Settings.from_env())) == "fleet-1", holder.last_error
    # each refused as it was read (before, the signed version was found first and the unsigned
    # ones were held unchecked: none was counted, all were in memory)
    assert refused() - before == 3


def _produce_tombstone(settings: Settings, key: bytes) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(settings.topic("moderation.rules"), None, key)
    assert producer.flush(30) == 0
