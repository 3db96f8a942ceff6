"""The moderation agents in Faust's test_context: routing by action and every dead-letter path.

The pipeline's Kafka sink is replaced by a recorder (each output topic's send, in effect); the
model is the default one trained from the seed corpus.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest

from models.policy import Policy, Thresholds
from models.registry import ModelRegistry
from streams import agents
from streams.app import app, settings
from streams.model_holder import ServingModel
from streams.pipeline import DEAD_LETTER_RAW_BYTES, Outgoing


class RecordingSink:
    """Collects what the pipeline would send, per topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, Any]]] = []

    async def send_all(self, records: Sequence[Outgoing]) -> None:
        self.sent.extend((r.topic, r.key, orjson.loads(r.value)) for r in records)

    def on(self, logical: str) -> list[dict[str, Any]]:
        return [value for topic, _, value in self.sent if topic == settings.topic(logical)]


@pytest.fixture
def sink(default_model_registry: ModelRegistry) -> Iterator[RecordingSink]:
    recorder = RecordingSink()
    original_sink = agents.pipeline.sink
    agents.pipeline.sink = recorder
    model = default_model_registry.load_current()
    # fixed thresholds make routing independent of the seed model's tuning: only fraud blocks
    thresholds = {label: Thresholds(review=0.5, block=None) for label in model.labels}
    thresholds["fraud"] = Thresholds(review=0.5, block=0.5)
    policy = Policy(model.labels, thresholds)
    agents.holder.use(ServingModel(model, policy))
    yield recorder
    agents.pipeline.sink = original_sink


def chat(event_id: str, text: Any, **extra: Any) -> bytes:
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": "c1",
        "sender_id": f"acct-{event_id}",
        "text": text,
        "sent_at": 1_700_000_000.0,
        **extra,
    }
    return orjson.dumps(data)


async def put_all(sink: RecordingSink, values: list[bytes], timeout: float = 5.0) -> None:
    """Put ``values`` on the agent's stream and wait until each has an outcome."""
    app.finalize()
    assert agents.moderate_events is not None, "CHATGUARD_INGEST must be faust (conftest.py)"
    async with agents.moderate_events.test_context() as agent:
        # the agent reads two topics; Faust's test wrapper names such a channel "<internal>"
        agent._get_strtopic = lambda _channel: settings.topic("chat.messages")
        for i, value in enumerate(values):
            await agent.put(value, key=f"k{i}".encode())
        # the batch is handed over when take_events' window closes
        deadline = asyncio.get_running_loop().time() + timeout
        while len(sink.on("moderation.decisions")) + len(sink.on("moderation.deadletter")) < len(
            values
        ):
            assert asyncio.get_running_loop().time() < deadline, (
                "the agent did not process every event"
            )
            await asyncio.sleep(0.02)


async def test_actions_are_routed_to_their_topics(sink: RecordingSink) -> None:
    serving = agents.holder.current
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

    await put_all(sink, [chat(name, text) for name, text in texts.items()])

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
    ("oversize_text", chat("e6", "x" * (settings.max_text_chars + 1))),
    ("oversize_event", b"{" + b" " * (settings.max_event_bytes + 1) + b"}"),
]


@pytest.mark.parametrize(
    ("kind", "raw"), DEAD_LETTER_CASES, ids=[c[0] + str(i) for i, c in enumerate(DEAD_LETTER_CASES)]
)
async def test_bad_input_becomes_a_dead_letter_and_the_agent_goes_on(
    sink: RecordingSink, kind: str, raw: bytes
) -> None:
    await put_all(sink, [raw, chat("after", "thanks, see you tomorrow")])

    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == [kind]
    # nothing lost: the raw bytes are kept, cut only where a dead letter would outgrow a record
    kept = base64.b64decode(dead[0]["raw"])
    assert dead[0]["raw_size"] == len(raw)
    assert dead[0]["raw_truncated"] == (len(raw) > DEAD_LETTER_RAW_BYTES)
    assert kept == raw[:DEAD_LETTER_RAW_BYTES]
    assert dead[0]["error"]
    assert dead[0]["source_topic"] == settings.topic("chat.messages")
    # the next event is still decided
    assert [d["event_id"] for d in sink.on("moderation.decisions")] == ["after"]


async def test_a_poison_event_that_makes_scoring_raise_is_isolated(sink: RecordingSink) -> None:
    serving = agents.holder.current
    real_score = serving.model.score

    class PoisonedModel:
        """The real model, except that it raises on one text (as a model bug would)."""

        labels = serving.model.labels
        version = serving.model.version

        def score(self, texts: list[str]) -> Any:
            if any("POISON" in t for t in texts):
                raise ValueError("cannot score this")
            return real_score(texts)

    agents.holder.use(ServingModel(PoisonedModel(), serving.policy))  # type: ignore[arg-type]
    await put_all(
        sink, [chat("a", "good morning"), chat("b", "POISON text"), chat("c", "lunch at noon?")]
    )

    assert sorted(d["event_id"] for d in sink.on("moderation.decisions")) == ["a", "c"]
    dead = sink.on("moderation.deadletter")
    assert [(d["event_id"], d["error_kind"]) for d in dead] == [("b", "scoring_failed")]
    assert "cannot score this" in dead[0]["error"]
