"""Sender behaviour on a live fleet of two workers: an account pasting one ordinary text into
many conversations is sent to review as spam once, however its text scores; varied texts and
fewer conversations are not; the counts survive killed workers (recovered from the changelog);
forged activity records are dead letters and counting goes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from chatguard.settings import Settings
from models.senders import reason
from streams import topics
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import UniqueNames, WorkerProcess
from tests.e2e.kafka_helpers import Record, consume, produce, produce_bytes
from tests.e2e.test_campaigns import _baseline, _decided, _of

pytestmark = pytest.mark.e2e

TEXT = "are you coming to the meeting at 3 pm today? bring the slides please"
OTHERS = [
    "the train is late again, I'll be there in twenty minutes",
    "did you see the match last night? what a finish",
    "can you send me the recipe for that soup you made",
    "my sister is visiting this weekend, want to join us for dinner",
    "the printer on the third floor is broken again",
]


def _chat(event_id: str, account: str, conversation: str, text: str) -> OutgoingEvent:
    data = {
        "type": "chat.message",
        "event_id": event_id,
        "conversation_id": conversation,
        "sender_id": account,
        "text": text,
        "sent_at": time.time(),
    }
    value = orjson.dumps(data)
    return OutgoingEvent("chat.messages", event_id.encode(), value, event_id, "valid", (), account)


def _start_fleet(
    start_worker: Callable[..., WorkerProcess], env: dict[str, str]
) -> list[WorkerProcess]:
    workers = [start_worker(env=env), start_worker(env=env)]
    for worker in workers:
        worker.wait_ready()
    return workers


def _states(bootstrap: str, changelog: str) -> dict[str, dict[str, Any]]:
    """Each account's latest state in the sender-activity changelog now (read to its end; its
    keys are windowed keys that name the account, and an account's are all on one partition)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(changelog, p)
                for p in sorted(consumer.partitions_for_topic(changelog) or ())
            ]
            if not partitions:
                return []
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            messages = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    messages.extend(batch)
            return messages
        finally:
            await consumer.stop()

    states: dict[str, dict[str, Any]] = {}
    for message in sorted(asyncio.run(read()), key=lambda m: (m.partition, m.offset)):
        key = orjson.loads(message.key or b"null")
        account = key[0] if isinstance(key, list) else key
        if isinstance(account, str) and message.value is not None:
            states[account] = orjson.loads(message.value)
    return states


def _messages(state: dict[str, Any]) -> int:
    return sum(counts[0] for counts in state.get("buckets", {}).values())


def _counted(
    settings: Settings, unique_names: UniqueNames, expected: dict[str, int], timeout: float = 180
) -> dict[str, dict[str, Any]]:
    """The changelog's states once each account in ``expected`` has that many messages
    counted (every message was handled by ``count_senders``)."""
    changelog = f"{unique_names.app_id}-sender-activity-changelog"
    deadline = time.monotonic() + timeout
    states: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        states = _states(settings.bootstrap_servers, changelog)
        if all(_messages(states.get(a, {})) >= n for a, n in expected.items()):
            return states
        time.sleep(0.5)  # poll interval
    counted = {a: _messages(states.get(a, {})) for a in expected}
    pytest.fail(f"messages counted per account: {counted}, expected {expected}")


def _reviews(records: Sequence[Record], settings: Settings) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for action in _of(list(records), settings, topics.ACCOUNT_ACTIONS):
        out.setdefault(action["account_id"], []).append(action)
    return out


def test_one_text_to_many_conversations_is_reviewed_once_and_ordinary_senders_are_not(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    unique_names: UniqueNames,
) -> None:
    settings = stream_settings
    n = settings.sender_conversations
    _start_fleet(start_worker, {"CHATGUARD_SENDERS": "on"})
    # one text to n + 3 conversations; n different texts to n conversations; one text to n - 1
    # conversations, twice each. Keyed by event id: they spread over every partition.
    burst = [_chat(f"burst-{i}", "burst-acct", f"burst-conv-{i}", TEXT) for i in range(n + 3)]
    varied = [_chat(f"varied-{i}", "varied-acct", f"varied-conv-{i}", OTHERS[i]) for i in range(n)]
    few = [
        _chat(f"few-{i}", "few-acct", f"few-conv-{i % (n - 1)}", TEXT) for i in range(2 * (n - 1))
    ]
    events = burst + varied + few
    produce(settings, events)

    states = _counted(
        settings,
        unique_names,
        {"burst-acct": len(burst), "varied-acct": len(varied), "few-acct": len(few)},
    )
    records = consume(
        settings,
        [topics.DECISIONS, topics.ACCOUNT_ACTIONS],
        until=lambda rs: (
            {e.event_id for e in events} <= set(_decided(rs, settings))
            and "burst-acct" in _reviews(rs, settings)
        ),
        timeout=120,
        quiet_for=3.0,
    )
    # the text alone is allowed: the review comes from the behaviour
    decided = _decided(records, settings)
    alone = _baseline(settings, burst)
    assert {alone[e.event_id] for e in burst} == {"allow"}
    assert {decided[e.event_id]["action"] for e in events} == {"allow"}

    reviews = _reviews(records, settings)
    assert set(reviews) == {"burst-acct"}, reviews
    [review] = reviews["burst-acct"]  # once per window, not once per message
    assert review["action"] == "review_account" and review["categories"] == {"spam": 1.0}
    assert review["reason"] == reason(n, settings.sender_window_s)
    assert review["reason"] == "same text to 5 conversations within 60 s"
    assert len(review["evidence"]) == n
    assert set(review["evidence"]) <= {e.event_id for e in burst}
    assert review["sender"]["conversations"] >= n
    # the others' counts are complete and never crossed
    assert "reviewed_at" in states["burst-acct"]
    assert "reviewed_at" not in states["varied-acct"]
    assert "reviewed_at" not in states["few-acct"]
    assert len(states["few-acct"]["conversations"]) == n - 1


def test_counts_survive_killed_workers_recovered_from_the_changelog(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    unique_names: UniqueNames,
) -> None:
    """n - 1 conversations are counted, every worker is killed, and two new workers (empty data
    dirs: state from the changelog alone) see the n-th: only with the first ones is it n."""
    settings = stream_settings
    n = settings.sender_conversations
    # a long window: the restart must not outlast it on a busy machine
    env = {"CHATGUARD_SENDERS": "on", "CHATGUARD_SENDER_WINDOW_S": "600"}
    first = _start_fleet(start_worker, env)
    sent = [_chat(f"kept-{i}", "kept-acct", f"kept-conv-{i}", TEXT) for i in range(n)]
    produce(settings, sent[: n - 1])
    _counted(settings, unique_names, {"kept-acct": n - 1})
    for worker in first:
        worker.kill()
    _start_fleet(start_worker, env)
    produce(settings, sent[n - 1 :])
    records = consume(
        settings,
        [topics.ACCOUNT_ACTIONS],
        until=lambda rs: "kept-acct" in _reviews(rs, settings),
        timeout=180,
    )
    [review] = _reviews(records, settings)["kept-acct"]
    assert review["reason"] == "same text to 5 conversations within 600 s"
    assert sorted(review["evidence"]) == sorted(e.event_id for e in sent)


def test_forged_activity_records_are_dead_letters_and_counting_goes_on(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    settings = stream_settings
    n = settings.sender_conversations
    # written straight to the topic, as on an open broker without a fleet key (with one, each
    # is an `unsigned` dead letter: tests/e2e/test_fleet_signing.py)
    start_worker(env={"CHATGUARD_SENDERS": "on", "CHATGUARD_FLEET_KEY": ""}).wait_ready()
    good = ["e1", "acct-f", "conv-1", "0123456789abcdef", False]
    forged = [
        b"not json",
        orjson.dumps({"kind": "campaign", "messages": [good], "at": 1.0}),
        orjson.dumps({"kind": "sender_activity", "messages": [[*good[:4], "yes"]], "at": 1.0}),
        orjson.dumps({"kind": "sender_activity", "messages": [[1, 2, 3]], "at": 1.0}),
        orjson.dumps({"kind": "sender_activity", "messages": [[*good[:3], "x" * 17, False]]}),
    ]
    produce_bytes(
        settings.bootstrap_servers,
        settings.topic(topics.SENDER_ACTIVITY),
        [(b"acct-f", value) for value in forged],
    )
    burst = [_chat(f"after-{i}", "after-acct", f"after-conv-{i}", TEXT) for i in range(n)]
    produce(settings, burst)
    records = consume(
        settings,
        [topics.DEAD_LETTER, topics.ACCOUNT_ACTIONS],
        until=lambda rs: (
            len(_of(list(rs), settings, topics.DEAD_LETTER)) >= len(forged)
            and "after-acct" in _reviews(rs, settings)
        ),
        timeout=120,
    )
    dead = _of(records, settings, topics.DEAD_LETTER)
    assert len(dead) == len(forged), dead
    assert {d["source_topic"] for d in dead} == {settings.topic(topics.SENDER_ACTIVITY)}
    assert sorted(d["error_kind"] for d in dead) == ["invalid_field"] * 4 + ["malformed_json"]
    assert set(_reviews(records, settings)) == {"after-acct"}
