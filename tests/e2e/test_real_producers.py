"""Records as real producers send them: Kafka's Java console producer with every compression codec,
headers and a record near 1 MB, and a transactional producer that aborts.

One worker takes all of it on every input topic (chat messages and posts through the batch reader,
reports and labels through Faust's consumer); each record must end as exactly one outcome (a
decision, a strike signal, a stored label, or a dead letter), aborted records as none, and the
worker must go on deciding new events afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from chatguard.settings import Settings
from devtools.tail import tail
from streams import moderators
from streams.kafka_options import connection as client_options
from streams.outgoing import OutgoingEvent
from streams.topics import ensure_topics
from tests.e2e.conftest import WorkerProcess
from tests.e2e.java_producer import CODECS, JavaRecord, java_produce
from tests.e2e.kafka_helpers import (
    Record,
    consume,
    end_offsets_total,
    produce,
    produce_batches,
    wait_committed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NEAR_1MB = 1_050_000  # just over the worker's 1 MiB event limit, under the producer's 2 MB
ABUSIVE = (  # blocked by the default model (gambling): a block adds a strike
    "Tonight only: 500% reload bonus on every deposit, live dealers, instant crypto withdrawals. "
    "Join thousands of winners at https://pkq477.cc and claim your free spins now."
)


def _chat(event_id: str, text: str = "see you at lunch tomorrow", sender: str = "user-1") -> dict:
    return {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": "conv-1",
        "sender_id": sender,
        "text": text,
        "sent_at": time.time(),
    }


def _post(event_id: str) -> dict:
    return {
        "type": "post",
        "event_id": event_id,
        "account_id": "acct-post",
        "account_type": "public",
        "post_kind": "moment",
        "title": "",
        "text": "first snow of the year",
        "created_at": time.time(),
    }


def _report(report_id: str, account: str = "acct-reported") -> dict:
    return {
        "type": "user.report",
        "report_id": report_id,
        "reporter_id": "user-2",
        "event_id": f"ev-{report_id}",
        "account_id": account,
        "reason": "spam",
        "reported_at": time.time(),
    }


# the worker accepts labels only when signed by the moderation tool (``streams.moderators``)
MODERATOR_KEY = "java-producer-test-moderators"


def _label(event_id: str) -> dict:
    label = {
        "type": "moderator.label",
        "event_id": event_id,
        "text": "buy cheap followers now",
        "categories": ["spam"],
        "moderator_id": "mod-1",
        "labelled_at": time.time(),
    }
    return moderators.sign(label, MODERATOR_KEY.encode())


BUILDERS: dict[str, Callable[[str], dict]] = {
    "chat.messages": _chat,
    "posts": _post,
    "user.reports": _report,
    "moderator.labels": _label,
}


@dataclass
class Plan:
    """What was sent with the Java producer, and which outcome each record must end as."""

    jobs: list[tuple[str, str, list[JavaRecord]]] = field(default_factory=list)
    decided: set[str] = field(default_factory=set)  # chat messages and posts: event ids
    reported: set[str] = field(default_factory=set)  # reports: report ids (strike signals)
    labelled: set[str] = field(default_factory=set)  # labels: event ids in the label store
    dead: dict[str, str] = field(default_factory=dict)  # record key -> dead letter kind


def _hostile_plan() -> Plan:
    """Per codec and input topic: valid records with headers, malformed ones, and on chat
    messages and reports one record just over the event size limit."""
    plan = Plan()
    for codec in CODECS:
        for topic, build in BUILDERS.items():
            records: list[JavaRecord] = []
            outcome = {
                "chat.messages": plan.decided,
                "posts": plan.decided,
                "user.reports": plan.reported,
                "moderator.labels": plan.labelled,
            }[topic]
            for i in range(4):
                key = f"{codec}-{topic}-ok-{i}"
                headers = (("trace-id", f"t{i}"), ("origin", "java-console"), ("lang", "中文"))
                records.append(JavaRecord(key, orjson.dumps(build(key)).decode(), headers))
                outcome.add(key)
            valid = build(f"{codec}-{topic}-broken")
            without_id = {k: v for k, v in valid.items() if k != "event_id"}
            malformed = {
                "malformed_json": orjson.dumps(valid)[:-5],
                "not_an_object": orjson.dumps([valid]),
                "missing_field": orjson.dumps(without_id),
            }
            for kind, value in malformed.items():
                key = f"{codec}-{topic}-{kind}"
                records.append(JavaRecord(key, value.decode()))
                plan.dead[key] = kind
            if topic in ("chat.messages", "user.reports"):
                key = f"{codec}-{topic}-near-1mb"
                huge = {**build(key), "padding": "a" * NEAR_1MB}
                records.append(JavaRecord(key, orjson.dumps(huge).decode()))
                plan.dead[key] = "oversize_event"
            plan.jobs.append((codec, topic, records))
    return plan


def _outcomes(
    records: list[Record], settings: Settings
) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """Decided event ids, ids of valid reports (passed on to be weighed by their reporter),
    and dead letters by key. A valid report here names an event no worker moderated, so its
    next hop dead-letters it as ``unknown_event`` (tests/e2e/test_report_trust.py covers that);
    those are left out: this test is about reading what real producers send."""
    decided = [
        r.json()["event_id"] for r in records if r.topic == settings.topic("moderation.decisions")
    ]
    reported = [
        r.json()["report_id"]
        for r in records
        if r.topic == settings.topic("reports.by_reporter") and r.json()["kind"] == "report"
    ]
    dead: dict[str, list[str]] = {}
    for r in records:
        if r.topic == settings.topic("moderation.deadletter"):
            letter = r.json()
            if letter["source_topic"] != settings.topic("events.by_id"):
                dead.setdefault((r.key or b"").decode(), []).append(letter["error_kind"])
    return decided, reported, dead


def _unreadable_letters(records: list[Record], settings: Settings) -> list[dict]:
    """The ``unreadable_batch`` dead letters among ``records``."""
    return [
        letter
        for r in records
        if r.topic == settings.topic("moderation.deadletter")
        and (letter := r.json())["error_kind"] == "unreadable_batch"
    ]


def _stored_labels(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [orjson.loads(line)["event_id"] for line in path.read_bytes().splitlines()]


def _wait_for_labels(path: Path, expected: set[str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not expected <= set(_stored_labels(path)):
        time.sleep(0.5)
    return _stored_labels(path)


async def _send_transactions(
    settings: Settings,
    aborted: list[tuple[str, bytes, bytes]],
    committed: list[tuple[str, bytes, bytes]],
) -> None:
    """One transaction with ``aborted`` (topic, key, value) records rolled back, then one with
    ``committed`` committed; all on partition 0, so the committed ones come after the others."""
    producer = AIOKafkaProducer(
        transactional_id=f"{settings.app_id}-test-tx", acks="all", **client_options(settings)
    )
    await producer.start()
    try:
        for records, commit in ((aborted, False), (committed, True)):
            await producer.begin_transaction()
            for topic, key, value in records:
                await producer.send_and_wait(settings.topic(topic), value, key=key, partition=0)
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_java_producer_records_with_every_codec_and_an_aborted_transaction_each_end_once(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    broker: str,
    ingest: str,
) -> None:
    settings = stream_settings
    worker = start_worker(
        env={"CHATGUARD_MODERATOR_HMAC_KEY": MODERATOR_KEY, "CHATGUARD_INGEST": ingest}
    )
    asyncio.run(ensure_topics(settings))
    worker.wait_ready()

    # every codec on every input topic, four producers at a time (each is a JVM)
    plan = _hostile_plan()
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda job: java_produce(
                    broker,
                    settings.topic(job[1]),
                    job[2],
                    codec=job[0],
                    max_request_size=2_000_000,
                ),
                plan.jobs,
            )
        )

    # a transaction aborted, then one committed: blocked chat messages and a report in each
    aborted_ids = [f"tx-aborted-{i}" for i in range(3)]
    committed_ids = [f"tx-committed-{i}" for i in range(3)]

    def tx_records(ids: list[str], account: str) -> list[tuple[str, bytes, bytes]]:
        chats = [
            ("chat.messages", i.encode(), orjson.dumps(_chat(i, ABUSIVE, account))) for i in ids
        ]
        report = ("user.reports", ids[0].encode(), orjson.dumps(_report(ids[0], account)))
        return [*chats, report]

    asyncio.run(
        _send_transactions(
            settings,
            tx_records(aborted_ids, "acct-aborted"),
            tx_records(committed_ids, "acct-committed"),
        )
    )

    expected_dead = set(plan.dead)

    def complete(records: list[Record]) -> bool:
        decided, reported, dead = _outcomes(records, settings)
        return (
            plan.decided | set(committed_ids) <= set(decided)
            and plan.reported | {committed_ids[0]} <= set(reported)
            and expected_dead <= set(dead)
        )

    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter", "account.strikes", "reports.by_reporter"],
        until=complete,
        timeout=180,
        quiet_for=2.0,
    )
    decided, reported, dead = _outcomes(records, settings)
    assert Counter(decided) == Counter(plan.decided | set(committed_ids))  # each exactly once
    assert Counter(reported) == Counter(plan.reported | {committed_ids[0]})
    assert dead == {key: [kind] for key, kind in plan.dead.items()}
    labels = _wait_for_labels(Path(stream_env["CHATGUARD_LABEL_STORE"]), plan.labelled, 60)
    assert Counter(labels) == Counter(plan.labelled)

    # the aborted transaction: no decision, no dead letter, no strike (block or report)
    strikes = [r.json() for r in records if r.topic == settings.topic("account.strikes")]
    assert {s["account_id"] for s in strikes} >= {"acct-committed"}
    assert not [s for s in strikes if s["account_id"] == "acct-aborted"]
    assert not set(aborted_ids) & (set(decided) | set(dead))
    blocked = {d["event_id"] for d in map(Record.json, records) if d.get("action") == "block"}
    assert set(committed_ids) <= blocked  # the test's abusive text is blocked, so strikes count

    # the worker is alive and still decides new events
    fresh = OutgoingEvent("chat.messages", b"fresh", orjson.dumps(_chat("fresh")), "fresh", "valid")
    produce(settings, [fresh])
    after = consume(
        settings,
        ["moderation.decisions"],
        until=lambda rs: "fresh" in _outcomes(rs, settings)[0],
        timeout=60,
    )
    assert "fresh" in _outcomes(after, settings)[0]
    assert worker.returncode is None
    assert worker.get("/health")[0] == 200


def test_tail_shows_committed_records_only(stream_settings: Settings) -> None:
    """``chatguard tail`` reads committed records: a decision in an aborted transaction (an
    exactly-once worker that failed mid-batch) is not shown."""
    settings = stream_settings

    def decision(event_id: str) -> bytes:
        return orjson.dumps(
            {
                "event_id": event_id,
                "action": "allow",
                "account_id": "acct-1",
                "model_version": "v1",
                "scores": {"spam": 0.1},
                "triggered": [],
                "excerpt": event_id,
            }
        )

    asyncio.run(ensure_topics(settings))
    asyncio.run(
        _send_transactions(
            settings,
            [("moderation.decisions", b"k", decision("aborted-decision"))],
            [("moderation.decisions", b"k", decision("committed-decision"))],
        )
    )

    class Lines(list[str]):
        def write(self, text: str) -> int:
            self.extend(line for line in text.splitlines() if line)
            return len(text)

        def flush(self) -> None:
            pass

    out = Lines()
    # the aborted record comes first in the partition: a read_uncommitted tail would show it
    seen = asyncio.run(
        tail(settings, ["moderation.decisions"], from_beginning=True, count=1, timeout=60, out=out)  # type: ignore[arg-type]  # only the write/flush tail uses
    )
    assert seen == 1
    assert "committed-decision" in out[0]


def _send_batches(
    settings: Settings,
    topic: str,
    batches: list[tuple[str, list[str]]],
    build: Callable[[str], dict] | None = None,
) -> list[int]:
    """Each ``(codec, ids)`` as one record batch of ``topic`` events (made by ``build``, by
    default the topic's builder) on its partition 0, in order; the base offset of each."""
    make = build or BUILDERS[topic]
    return produce_batches(
        settings.bootstrap_servers,
        settings.topic(topic),
        0,
        batches,
        lambda key: orjson.dumps(make(key)),
    )


def test_a_batch_the_worker_cannot_decompress_is_dead_lettered_and_the_partition_goes_on(
    worker_process: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
) -> None:
    """A worker whose client lacks a codec (here: snappy) gets one dead letter naming the batch's
    partition and offsets, handles the records around it, and neither exits nor loops: on the
    batch reader (chat messages), on Faust's consumer (user reports) and on the campaign fold
    (campaign fingerprints, here unsigned, so each readable one is a dead letter of its own)."""
    settings = stream_settings
    command = [sys.executable, "-m", "tests.e2e.codecless_worker", "-l", "info"]
    worker = worker_process(command, {**stream_env, "CHATGUARD_CAMPAIGNS": "true"})
    asyncio.run(ensure_topics(settings))
    worker.wait_ready()
    sent: dict[str, tuple[list[str], tuple[int, int]]] = {}
    fingerprints = "campaign.fingerprints"
    for topic in ("chat.messages", "user.reports", fingerprints):
        before, snappy, after = (
            [f"{topic}-{part}-{i}" for i in range(5)] for part in ("a", "b", "c")
        )
        build = (lambda key: {"events": [{"event_id": key}]}) if topic == fingerprints else None
        batches = [("gzip", before), ("snappy", snappy), ("gzip", after)]
        offsets = _send_batches(settings, topic, batches, build)
        sent[topic] = (before + after, (offsets[1], offsets[2] - 1))

    def complete(records: list[Record]) -> bool:
        decided, reported, dead = _outcomes(records, settings)
        return (
            set(sent["chat.messages"][0]) <= set(decided)
            and set(sent["user.reports"][0]) <= set(reported)
            and set(sent[fingerprints][0]) <= set(dead)
            and len(dead.get("", [])) >= 3
        )

    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter", "account.strikes", "reports.by_reporter"],
        until=complete,
        timeout=120,
        quiet_for=2.0,
    )
    decided, reported, _ = _outcomes(records, settings)
    assert Counter(decided) == Counter(sent["chat.messages"][0])
    assert set(reported) == set(sent["user.reports"][0])  # a replayed signal counts once anyway
    _, _, dead_by_key = _outcomes(records, settings)
    assert {key: dead_by_key[key] for key in sent[fingerprints][0]} == {
        key: ["unsigned"] for key in sent[fingerprints][0]
    }
    dead = _unreadable_letters(records, settings)
    assert sorted((d["source_topic"], d["source_partition"], d["source_offset"]) for d in dead) == [
        (settings.topic(topic), 0, sent[topic][1][0])
        for topic in sorted(("chat.messages", "user.reports", fingerprints))
    ]
    for d in dead:
        first, last = sent[d["source_topic"].removeprefix(settings.topic_prefix)][1]
        assert d["error_kind"] == "unreadable_batch"
        assert f"offsets {first}-{last} of {d['source_topic']}[0]" in d["error"]

    fresh = OutgoingEvent("chat.messages", b"fresh", orjson.dumps(_chat("fresh")), "fresh", "valid")
    report = OutgoingEvent(
        "user.reports", b"fresh-report", orjson.dumps(_report("fresh-report")), "r", "valid"
    )
    produce(settings, [fresh, report])
    after_records = consume(
        settings,
        ["moderation.decisions", "reports.by_reporter"],
        until=lambda rs: (
            "fresh" in _outcomes(rs, settings)[0] and "fresh-report" in _outcomes(rs, settings)[1]
        ),
        timeout=60,
    )
    assert "fresh" in _outcomes(after_records, settings)[0]
    assert "fresh-report" in _outcomes(after_records, settings)[1]
    # the fold commits past the batch and whatever the fresh events fingerprinted
    topic = settings.topic(fingerprints)
    written = end_offsets_total(settings.bootstrap_servers, topic)
    group = f"{settings.app_id}.campaigns"
    assert wait_committed(settings.bootstrap_servers, group, topic, written, 60) == written
    assert worker.returncode is None
    assert worker.get("/health")[0] == 200


def _read_past_unreadable(settings: Settings, expected: dict[str, list[str]]) -> list[Record]:
    """Outputs until the ``expected`` chat messages are decided, the ``expected`` user reports
    passed on, and two unreadable batches dead-lettered (then 2 s of quiet)."""

    def complete(records: list[Record]) -> bool:
        decided, reported, _ = _outcomes(records, settings)
        return (
            set(expected["chat.messages"]) <= set(decided)
            and set(expected["user.reports"]) <= set(reported)
            and len(_unreadable_letters(records, settings)) >= 2
        )

    return consume(
        settings,
        ["moderation.decisions", "moderation.deadletter", "reports.by_reporter"],
        until=complete,
        timeout=120,
        quiet_for=2.0,
    )


def _peak_rss_mb(pid: int) -> float:
    """The most resident memory ``pid`` ever had (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


BOMB_MB = 300


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_a_compression_bomb_is_dead_lettered_at_the_cost_of_the_bound(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, ingest: str
) -> None:
    """A record of 300 MB that zstd sends in a few KB (the broker checks its limits on the
    compressed batch) costs a worker the decompression bound, not 300 MB: one 900 MB record
    took 1.45 GB, and under a memory cap the reader raised MemoryError on every restart. On
    either ingest path (chat messages) and on Faust's consumer (user reports), each bomb is one
    ``unreadable_batch`` dead letter, and the records before and after it are handled
    (librdkafka refused the bomb but did not step over it: its partition stalled, a new dead
    letter every 0.55 s)."""
    import confluent_kafka

    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "compression.type": "zstd",
            "message.max.bytes": 1_000_000_000,
            "batch.size": 1_000_000_000,
        }
    )
    peak_before = _peak_rss_mb(worker.pid)
    pad = b" " * (BOMB_MB * 1_000_000)
    offsets: dict[str, int] = {}

    def on_delivery(err: object, message: confluent_kafka.Message) -> None:
        assert err is None, err
        offsets[(message.key() or b"").decode()] = int(message.offset() or 0)

    kept: dict[str, list[str]] = {}
    for topic, make in (("chat.messages", _chat), ("user.reports", _report)):
        kept[topic] = [f"{topic}-before", f"{topic}-after"]
        bomb = orjson.dumps(make(f"{topic}-bomb"))[:-1] + b', "pad": "' + pad + b'"}'
        for key, value in (
            (kept[topic][0], orjson.dumps(make(kept[topic][0]))),
            (f"{topic}-bomb", bomb),
            (kept[topic][1], orjson.dumps(make(kept[topic][1]))),
        ):
            producer.produce(settings.topic(topic), value, key.encode(), 0, on_delivery)
            producer.flush(60)  # each record in a batch of its own
    del pad
    bombs = {topic: offsets[f"{topic}-bomb"] for topic in kept}

    records = _read_past_unreadable(settings, kept)
    grown = _peak_rss_mb(worker.pid) - peak_before
    print(f"two {BOMB_MB} MB bombs: worker peak RSS +{grown:.0f} MB")
    dead = _unreadable_letters(records, settings)
    assert sorted((d["source_topic"], d["source_offset"]) for d in dead) == sorted(
        (settings.topic(topic), offset) for topic, offset in bombs.items()
    )
    for d in dead:
        by_librdkafka = ingest == "rdkafka" and d["source_topic"].endswith("chat.messages")
        said = "librdkafka could not read" if by_librdkafka else "decompresses to more than"
        assert said in d["error"], d
    assert grown < 200, f"peak RSS grew {grown:.0f} MB for two {BOMB_MB} MB bombs"
    assert worker.returncode is None and worker.get("/health")[0] == 200


TINY_IN_BOMB = 5_000


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_a_bomb_batch_of_thousands_of_records_is_stepped_over_at_once(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, ingest: str
) -> None:
    """One zstd batch of a few KB: a 70 MB record and 5,000 tiny ones. Stepped over one offset
    per fetch, an outside probe's batch of 1,001 held its partition 562 s on librdkafka and
    every partition of the worker 70 s on aiokafka (2,000 took 115 s here); the reader now
    seeks past the batch its header describes, so it is one dead letter and the message after
    it is decided."""
    import confluent_kafka

    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    worker.wait_ready()
    topic = settings.topic("chat.messages")
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "compression.type": "zstd",
            "message.max.bytes": 1_000_000_000,
            "batch.size": 1_000_000_000,
            "batch.num.messages": 100_000,
            "linger.ms": 5_000,
        }
    )
    delivered: list[int] = []

    def on_delivery(err: object, message: confluent_kafka.Message) -> None:
        assert err is None, err
        delivered.append(int(message.offset() or 0))

    bomb = orjson.dumps(_chat("bomb"))[:-1] + b', "pad": "' + b" " * 70_000_000 + b'"}'
    producer.produce(topic, bomb, b"bomb", 0, on_delivery)
    for i in range(TINY_IN_BOMB):
        producer.produce(topic, orjson.dumps(_chat(f"tiny-{i}")), b"tiny", 0, on_delivery)
    producer.flush(120)  # one batch: linger holds them all
    del bomb
    assert len(delivered) == TINY_IN_BOMB + 1
    assert max(delivered) - min(delivered) == TINY_IN_BOMB
    after = orjson.dumps(_chat("after-the-bomb"))
    produce(settings, [OutgoingEvent("chat.messages", b"after", after, "after-the-bomb", "valid")])

    def complete(records: list[Record]) -> bool:
        decided, _, _ = _outcomes(records, settings)
        return "after-the-bomb" in decided and bool(_unreadable_letters(records, settings))

    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=complete,
        timeout=120,
        quiet_for=2.0,
    )
    decided, _, _ = _outcomes(records, settings)
    assert "after-the-bomb" in decided
    # the tiny records were in the bomb's batch: none of them was read
    assert not [event_id for event_id in decided if event_id.startswith("tiny-")]
    [dead] = _unreadable_letters(records, settings)
    assert dead["source_offset"] == min(delivered)
    assert worker.returncode is None and worker.get("/health")[0] == 200


def _encoded(make: Callable[[str], dict], key: str) -> bytes:
    return orjson.dumps(make(key))


def test_a_record_whose_header_key_is_not_utf8_is_dead_lettered_and_the_partition_goes_on(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """A header key the broker passed on unchecked made aiokafka raise UnicodeDecodeError from
    ``getmany``: the worker exited, and again on every restart, with nothing decided behind the
    record. Now it is an ``unreadable_batch`` dead letter naming its offset, on the batch reader
    (chat messages) and on Faust's consumer (user reports), and the records around it count."""
    settings = stream_settings
    worker = start_worker()
    asyncio.run(ensure_topics(settings))
    worker.wait_ready()
    env = {**os.environ, "AIOKAFKA_NO_EXTENSIONS": "1"}
    bad: dict[str, int] = {}
    good: dict[str, list[str]] = {}
    for topic in ("chat.messages", "user.reports"):
        ids = [f"{topic}-hdr-before", f"{topic}-hdr-bad", f"{topic}-hdr-after"]
        make = BUILDERS[topic]
        produce_batches(
            settings.bootstrap_servers,
            settings.topic(topic),
            0,
            [("gzip", ids[:1])],
            partial(_encoded, make),
        )
        written = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.e2e.bad_header_producer",
                settings.bootstrap_servers,
                settings.topic(topic),
                ids[1],
                orjson.dumps(make(ids[1])).decode(),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        bad[topic] = int(written.stdout.split()[-1])
        produce_batches(
            settings.bootstrap_servers,
            settings.topic(topic),
            0,
            [("gzip", ids[2:])],
            partial(_encoded, make),
        )
        good[topic] = [ids[0], ids[2]]

    records = _read_past_unreadable(settings, good)
    decided, reported, _ = _outcomes(records, settings)
    assert sorted(decided) == sorted(good["chat.messages"])
    assert set(reported) == set(good["user.reports"])
    dead = _unreadable_letters(records, settings)
    assert sorted((d["source_topic"], d["source_offset"]) for d in dead) == sorted(
        (settings.topic(topic), offset) for topic, offset in bad.items()
    )
    assert all("UnicodeDecodeError" in d["error"] for d in dead)
    assert worker.returncode is None
    assert worker.get("/health")[0] == 200


OVERSIZE_MB = 60
OVERSIZE_REPORTS = 40
OVERSIZE_RULES = 10


def _padded(record: dict, field: str, pad: bytes) -> bytes:
    """``record`` as JSON with one more string field, ``pad``."""
    return orjson.dumps(record)[:-1] + b', "' + field.encode() + b'": "' + pad + b'"}'


def _dead_letters_of_a_backlog(
    start_worker: Callable[..., WorkerProcess], settings: Settings, count: int
) -> tuple[WorkerProcess, list[dict]]:
    """A worker started on a backlog already there, and the dead letters until ``count``
    positions have one."""
    worker = start_worker()
    worker.wait_ready()

    def all_dead_lettered(records: list[Record]) -> bool:
        return len({r.json()["source_offset"] for r in records}) >= count

    records = consume(settings, ["moderation.deadletter"], until=all_dead_lettered, timeout=300)
    return worker, [r.json() for r in records]


def test_a_backlog_of_records_far_over_every_limit_costs_the_limit_not_their_size(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """An outside probe's records of 60 MB of padding, one per 2 KB zstd batch (under the
    64 MB decompression bound), were each refused, but only after aiokafka had unpacked them
    all: Faust's consumer unpacks every record of a fetched partition, and a starting worker
    reads the rules topic whole. 60 on the reports topic took a worker to 3.9 GB, 50 on the
    rules topic a starting one to 3.2 GB. Cut as they are unpacked (``streams.oversize``),
    they cost one byte over the largest record a reader takes."""
    import confluent_kafka

    settings = stream_settings
    asyncio.run(ensure_topics(settings))
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "compression.type": "zstd",
            "message.max.bytes": 1_000_000_000,
            "batch.size": 1_000_000_000,
        }
    )
    pad = b" " * (OVERSIZE_MB * 1_000_000)
    offsets: list[int] = []

    def on_delivery(err: object, message: confluent_kafka.Message) -> None:
        assert err is None, err
        if message.topic() == settings.topic("user.reports"):
            offsets.append(int(message.offset() or 0))

    for topic, count, make in (
        ("user.reports", OVERSIZE_REPORTS, _report),
        ("moderation.rules", OVERSIZE_RULES, lambda name: {"version": name}),
    ):
        for i in range(count):
            value = _padded(make(f"oversize-{i}"), "pad", pad)
            producer.produce(settings.topic(topic), value, f"oversize-{i}".encode(), 0, on_delivery)
            producer.flush(60)  # each record in a batch of its own
    del pad
    assert len(offsets) == OVERSIZE_REPORTS
    worker, letters = _dead_letters_of_a_backlog(start_worker, settings, OVERSIZE_REPORTS)
    reports = settings.topic("user.reports")
    letters = [d for d in letters if d["source_topic"] == reports]
    assert {d["source_offset"] for d in letters} == set(offsets)
    # each says the size it arrived with, not the size it was cut to
    assert all(d["raw_size"] > OVERSIZE_MB * 1_000_000 for d in letters), letters[0]["raw_size"]
    peak = _peak_rss_mb(worker.pid)
    print(
        f"{OVERSIZE_REPORTS + OVERSIZE_RULES} records of {OVERSIZE_MB} MB: worker peak RSS {peak:.0f} MB"
    )
    assert peak < 1_200, f"peak RSS {peak:.0f} MB for {OVERSIZE_REPORTS} + {OVERSIZE_RULES} records"
    assert worker.returncode is None and worker.get("/health")[0] == 200


FLOOD_REPORTS = 1_000
FLOOD_REPORT_BYTES = 1_000_000
FLOOD_PER_BATCH = 50


def test_a_backlog_of_reports_as_large_as_a_message_costs_what_a_report_can_be(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """An outside probe's 1,200 reports of 1 MB each (under the 1 MiB event limit), 60 per
    zstd batch, held a worker at 1.5 GB: Faust's consumer unpacked every record of each fetch
    and buffered thousands of them, each refused only then. A report has no free text, so it
    is cut where its ids end (``streams.kinds.most_bytes``), and Faust hands out at most
    ``MAX_POLL_RECORDS`` at a time: the backlog costs a few MB, and each report is still a
    dead letter that says the size it came with."""
    import confluent_kafka

    settings = stream_settings
    asyncio.run(ensure_topics(settings))
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "compression.type": "zstd",
            "message.max.bytes": 1_000_000_000,
            "batch.size": 1_000_000_000,
            "linger.ms": 60_000,
        }
    )
    pad = b" " * FLOOD_REPORT_BYTES
    delivered: list[int] = []

    def on_delivery(err: object, message: confluent_kafka.Message) -> None:
        assert err is None, err
        delivered.append(int(message.offset() or 0))

    for i in range(FLOOD_REPORTS):
        value = _padded(_report(f"flood-{i}"), "evidence", pad)
        producer.produce(settings.topic("user.reports"), value, b"flood", 0, on_delivery)
        if (i + 1) % FLOOD_PER_BATCH == 0:
            producer.flush(60)  # FLOOD_PER_BATCH reports in each batch
    producer.flush(60)
    del pad
    assert len(delivered) == FLOOD_REPORTS
    worker, letters = _dead_letters_of_a_backlog(start_worker, settings, FLOOD_REPORTS)
    assert {d["source_offset"] for d in letters} == set(delivered)
    assert {d["error_kind"] for d in letters} == {"oversize_event"}
    assert all(d["raw_size"] > FLOOD_REPORT_BYTES for d in letters), letters[0]["raw_size"]
    peak = _peak_rss_mb(worker.pid)
    print(f"{FLOOD_REPORTS} reports of {FLOOD_REPORT_BYTES:,} bytes: worker peak RSS {peak:.0f} MB")
    assert peak < 700, f"peak RSS {peak:.0f} MB for {FLOOD_REPORTS} reports of 1 MB"
    assert worker.returncode is None and worker.get("/health")[0] == 200


BOMB_HEADERS = 4_000_000  # 8 MB of empty headers in one record, a few KB once compressed
BOMBS_PER_TOPIC = 3


@pytest.mark.parametrize("ingest", ["batch", "rdkafka"])
def test_a_record_with_millions_of_empty_headers_is_an_unreadable_batch_not_gigabytes(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings, ingest: str
) -> None:
    """An empty header is 2 bytes of a batch and about 64 bytes once aiokafka has parsed it,
    all of a record's headers at once, before any reader sees the record: 64 MB of them (the
    decompression bound) compress to a few KB and parse to 2 GB, and neither the batch budget
    nor the oversize cut counted them (they have no bytes). A record with more than
    ``MAX_HEADERS`` headers now makes its batch unreadable as it is decompressed: a dead letter
    naming its offsets, on the batch reader (chat messages) and on Faust's consumer (user
    reports), and the records around it count."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_INGEST": ingest})
    asyncio.run(ensure_topics(settings))
    worker.wait_ready()
    bomb = [("", None)] * BOMB_HEADERS
    bombs: dict[str, list[int]] = {}
    good: dict[str, list[str]] = {}
    for topic in ("chat.messages", "user.reports"):
        make = BUILDERS[topic]
        before, after = f"{topic}-hb-before", f"{topic}-hb-after"
        produce_batches(
            settings.bootstrap_servers, settings.topic(topic), 0, [("zstd", [before])],
            partial(_encoded, make),
        )  # fmt: skip
        bombs[topic] = produce_batches(
            settings.bootstrap_servers,
            settings.topic(topic),
            0,
            [("zstd", [f"{topic}-hb-{i}"]) for i in range(BOMBS_PER_TOPIC)],
            partial(_encoded, make),
            headers=lambda _: bomb,  # type: ignore[arg-type,return-value]
        )
        produce_batches(
            settings.bootstrap_servers, settings.topic(topic), 0, [("zstd", [after])],
            partial(_encoded, make),
        )  # fmt: skip
        good[topic] = [before, after]

    def skipped(records: list[Record]) -> set[tuple[str, int]]:
        """The offsets the unreadable-batch dead letters cover (one may cover several)."""
        found = set()
        for letter in _unreadable_letters(records, settings):
            first, last = map(int, re.findall(r"offsets (\d+)-(\d+)", letter["error"])[0])
            found |= {(letter["source_topic"], offset) for offset in range(first, last + 1)}
        return found

    def unreadable(topic: str) -> bool:
        """aiokafka's readers refuse such a batch; librdkafka (chat on the rdkafka path) reads
        it without making an object of each header."""
        return ingest != "rdkafka" or topic != "chat.messages"

    def complete(records: list[Record]) -> bool:
        decided, reported, _ = _outcomes(records, settings)
        return (
            set(good["chat.messages"]) <= set(decided)
            and set(good["user.reports"]) <= set(reported)
            and len(skipped(records)) >= sum(map(unreadable, bombs)) * BOMBS_PER_TOPIC
        )

    records = consume(
        settings,
        ["moderation.decisions", "reports.by_reporter", "moderation.deadletter"],
        until=complete,
        timeout=180,
    )
    assert skipped(records) == {
        (settings.topic(topic), offset)
        for topic, offsets in bombs.items()
        for offset in offsets
        if unreadable(topic)
    }
    if not unreadable("chat.messages"):  # librdkafka read them: decided, headers unread
        decided = set(_outcomes(records, settings)[0])
        assert {f"chat.messages-hb-{i}" for i in range(BOMBS_PER_TOPIC)} <= decided
    dead = _unreadable_letters(records, settings)
    assert all(f"{BOMB_HEADERS} headers" in d["error"] for d in dead), dead[0]["error"]
    peak = _peak_rss_mb(worker.pid)
    print(
        f"{2 * BOMBS_PER_TOPIC} records of {BOMB_HEADERS:,} empty headers ({ingest}): peak {peak:.0f} MB"
    )
    assert peak < 700, f"peak RSS {peak:.0f} MB"
    assert worker.returncode is None and worker.get("/health")[0] == 200
