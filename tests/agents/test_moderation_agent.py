"""The moderation agents in Faust's test_context: routing by action and every dead-letter path.

The worker's sink is a recorder (each output topic's send, in effect); the model is the default
one trained from the seed corpus.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, cast

import orjson
import pytest

from chatguard.settings import Guarantee, Settings
from streams.agents import Worker, build_worker
from streams.model_holder import ServingModel
from streams.pipeline import DEAD_LETTER_RAW_BYTES, ModerationPipeline, RawMessage
from tests.agents.harness import RecordingSink, chat, put_all, put_to

DEFAULTS = Settings()


async def test_actions_are_routed_to_their_topics(worker: Worker, sink: RecordingSink) -> None:
    settings = worker.settings
    serving = worker.holder.current
    texts = {
        "clean": "thanks, see you tomorrow",
        "gambling": "澳门葡京线上赌场，首充送100%彩金，天天返水，加微信 abc888",
        "fraud": "Your bank account is locked, verify now at http://secure-bank.top or lose your money",
    }
    scores = serving.model.score(list(texts.values()))
    expected = dict(
        zip(texts, (v.action for v in serving.policy.decide_batch(scores)), strict=True)
    )
    assert set(expected.values()) == {"allow", "review", "block"}  # every route is exercised

    await put_all(worker, sink, [chat(name, text) for name, text in texts.items()])

    decisions = {d["event_id"]: d for d in sink.on("moderation.decisions")}
    assert {name: d["action"] for name, d in decisions.items()} == expected
    assert {d["event_id"] for d in sink.on("moderation.review")} == {
        n for n, a in expected.items() if a == "review"
    }
    assert {d["event_id"] for d in sink.on("moderation.enforcement")} == {
        n for n, a in expected.items() if a == "block"
    }
    assert {d["event_id"] for d in sink.on("account.strikes")} == {
        n for n, a in expected.items() if a == "block"
    }
    assert not sink.on("moderation.deadletter")
    for name, decision in decisions.items():
        assert decision["model_version"] == serving.version
        assert decision["policy_version"] == serving.policy.version
        assert decision["account_id"] == f"acct-{name}"
        assert decision["source_topic"] == settings.topic("chat.messages")
        assert (decision["action"] == "allow") == (decision["triggered"] == [])
    # decisions are keyed by account
    keys = {key for topic, key, _ in sink.sent if topic == settings.topic("moderation.decisions")}
    assert keys == {f"acct-{name}".encode() for name in texts}


DEAD_LETTER_CASES = [
    ("malformed_json", b'{"type": "chat.message", "event_id": "x"'),
    ("invalid_utf8", b'{"text": "\xff\xfe"}'),
    ("not_an_object", b"[1, 2, 3]"),
    ("unknown_type", chat("e1", "hello", type="video.call")),
    ("missing_field", orjson.dumps({"type": "chat.message", "event_id": "e2", "text": "hi"})),
    ("wrong_type", chat("e3", 12345)),
    ("wrong_type", chat("e4", "hi", sent_at="yesterday")),
    ("empty_text", chat("e5", "   ")),
    ("oversize_text", chat("e6", "x" * (DEFAULTS.max_text_chars + 1))),
    ("oversize_event", b"{" + b" " * (DEFAULTS.max_event_bytes + 1) + b"}"),
]


@pytest.mark.parametrize(
    ("kind", "raw"), DEAD_LETTER_CASES, ids=[c[0] + str(i) for i, c in enumerate(DEAD_LETTER_CASES)]
)
async def test_bad_input_becomes_a_dead_letter_and_the_agent_goes_on(
    worker: Worker, sink: RecordingSink, kind: str, raw: bytes
) -> None:
    await put_all(worker, sink, [raw, chat("after", "thanks, see you tomorrow")])

    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == [kind]
    # nothing lost: the raw bytes are kept, cut only where a dead letter would outgrow a record
    kept = base64.b64decode(dead[0]["raw"])
    assert dead[0]["raw_size"] == len(raw)
    assert dead[0]["raw_truncated"] == (len(raw) > DEAD_LETTER_RAW_BYTES)
    assert kept == raw[:DEAD_LETTER_RAW_BYTES]
    assert dead[0]["error"]
    assert dead[0]["source_topic"] == worker.settings.topic("chat.messages")
    # the next event is still decided
    assert [d["event_id"] for d in sink.on("moderation.decisions")] == ["after"]


async def test_a_poison_event_that_makes_scoring_raise_is_isolated(
    worker: Worker, sink: RecordingSink
) -> None:
    serving = worker.holder.current
    real_score = serving.model.score

    class PoisonedModel:
        """The real model, except that it raises on one text (as a model bug would)."""

        labels = serving.model.labels
        version = serving.model.version

        def score(self, texts: list[str]) -> Any:
            if any("POISON" in t for t in texts):
                raise ValueError("cannot score this")
            return real_score(texts)

    # a stand-in for the LoadedModel it wraps: same labels, version and score()
    worker.holder.use(ServingModel(PoisonedModel(), serving.policy))  # type: ignore[arg-type]
    await put_all(
        worker,
        sink,
        [chat("a", "good morning"), chat("b", "POISON text"), chat("c", "lunch at noon?")],
    )

    assert sorted(d["event_id"] for d in sink.on("moderation.decisions")) == ["a", "c"]
    dead = sink.on("moderation.deadletter")
    assert [(d["event_id"], d["error_kind"]) for d in dead] == [("b", "scoring_failed")]
    assert "cannot score this" in dead[0]["error"]


async def test_posts_on_their_own_topic_are_decided_too(
    worker: Worker, sink: RecordingSink
) -> None:
    post = {
        "type": "post",
        "event_id": "p1",
        "account_id": "acct-p",
        "account_type": "public",
        "post_kind": "moment",
        "title": "weekend",
        "text": "thanks, see you tomorrow",
        "created_at": 1_700_000_000.0,
    }
    assert worker.moderate_events is not None
    topic = worker.settings.topic("posts")
    await put_to(
        worker.moderate_events,
        topic,
        [(b"p1", orjson.dumps(post))],
        lambda: bool(sink.on("moderation.decisions")),
    )
    [decision] = sink.on("moderation.decisions")
    assert (decision["event_id"], decision["event_type"]) == ("p1", "post")
    assert decision["account_id"] == "acct-p" and decision["source_topic"] == topic


class BrokenSink(RecordingSink):
    """A sink that cannot send: the one failure that stops an agent (before its ack)."""

    async def send_all(self, records: Any) -> None:
        raise RuntimeError("the producer is gone")


async def test_an_agent_that_stops_is_reported_by_health(
    worker: Worker, agent_settings: Settings
) -> None:
    assert worker.health() == (
        {
            "status": "ok",
            "worker": worker.health()[0]["worker"],
            "crashed_agents": {},
            "stalled_producers": {},
            "stalled_partitions": [],
        },
        200,
    )
    broken = build_worker(agent_settings, BrokenSink(agent_settings))
    broken.holder.use(worker.holder.current)
    broken.app.finalize()
    assert broken.moderate_events is not None
    topic = agent_settings.topic("chat.messages")
    await put_to(
        broken.moderate_events, topic, [(b"k", chat("a", "hi"))], lambda: bool(broken.crashed)
    )
    body, status = broken.health()
    assert status == 503 and body["status"] == "crashed"
    assert "the producer is gone" in body["crashed_agents"]["moderate_events"]
    assert worker.health()[1] == 200  # another worker in the same process is not affected
    # Faust starts a crashed agent again, but does not feed it (faust-streaming #175): the
    # restart must not clear the crash from /health
    restarted = cast(Any, broken.moderate_events).fun
    await restarted(_EndedStream())
    assert broken.health()[1] == 503


class _EndedStream:
    """A stream with nothing more in it: what a restarted agent that is never fed sees."""

    def noack_take(self, *_: Any, **__: Any) -> Any:
        async def nothing() -> Any:
            return
            yield

        return nothing()


def test_workers_are_built_from_their_settings_alone(agent_settings: Settings) -> None:
    """Nothing is chosen at import: each worker takes its ingest path from its own settings."""
    batch = build_worker(Settings(ingest="batch", app_id="batch-app"))
    faust_path = build_worker(agent_settings)
    assert batch.batch_reader is not None and batch.moderate_events is None
    assert faust_path.batch_reader is None and faust_path.moderate_events is not None
    assert "moderate_events" not in batch.app.agents and "moderate_events" in faust_path.app.agents
    assert batch.app.conf.id == "batch-app" and faust_path.app.conf.id == agent_settings.app_id
    assert batch.pipeline.rules is batch.batch_reader.rules  # one rules holder per worker
    assert batch.rules is not faust_path.rules


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
async def test_every_output_names_the_input_partition_it_answers(
    worker: Worker, sink: RecordingSink, guarantee: Guarantee
) -> None:
    """Under exactly-once an output goes out in its input partition's transaction, which is
    committed with that partition's offsets: so every output must carry its input, and a record
    that speaks for several events (``events.by_id``) only for events of one input partition.
    At least once, such a record speaks for the whole batch (fewer records to fold)."""
    settings = dataclasses.replace(worker.settings, processing_guarantee=guarantee)
    pipeline = ModerationPipeline(settings, worker.holder, sink)
    texts = ["see you at 8", "加微信 abc888 领红包", "free money http://x.top"]
    batch = [
        RawMessage(
            settings.topic("chat.messages"),
            n % 3,
            10 + n,
            None,
            b"{not json" if n == 2 else chat(f"e{n}", texts[n % 3]),
        )
        for n in range(12)
    ]

    await pipeline.moderate(batch)

    assert sink.records and all(record.source is not None for record in sink.records)
    where = {f"e{n}": m.partition for n, m in enumerate(batch)}
    seen = [r for r in sink.records if r.topic == settings.topic("events.by_id")]
    assert {e[0] for r in seen for e in orjson.loads(r.value)["events"]} == set(where) - {"e2"}
    for record in seen:
        assert record.source is not None
        events = orjson.loads(record.value)["events"]
        if guarantee == "exactly_once":
            assert {where[event_id] for event_id, _ in events} == {record.source.partition}
    if guarantee == "at_least_once":  # one record per partition of events.by_id
        assert len(seen) <= settings.topic_partitions
