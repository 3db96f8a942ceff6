"""Hostile chat text against a real broker and worker: messages that once held the CPU for
minutes, and a model stuck on one event. Each event ends as exactly one decision or dead letter,
the worker answers ``/health`` meanwhile, and its single partition goes on to newer events."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from chatguard.cli import main as chatguard_main
from chatguard.settings import Settings
from devtools.produce import build_events
from models.registry import ModelRegistry
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import accounted, consume, outcome_keys, produce
from tests.e2e.slow_model import MARKER, promote_slow_copy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ONE_PARTITION = {"CHATGUARD_TOPIC_PARTITIONS": "1"}  # nothing can route around a stuck event

HOSTILE_TEXTS = {
    "contact-spaces": "微信" + " " * 19_990 + "!",
    "contact-spaces-id": "微信" + " " * 19_980 + "abc123",
    # a digit or a dot at the end sends the text on to the contact search (models.rules)
    "contact-spaces-digit": "微信" + " " * 19_990 + "1",
    "qq-spaces-dot": "qq" + " " * 19_990 + "号.",
    "money-commas": "1," * 10_000,
    "loose-spaces": " \u1680" * 9_999 + "x",
    "combining-marks": "a" + "\u0301\u0316" * 9_999,
    "url-spaces": "http" + " " * 19_000 + "x.com",
    "cut-words-digit": "vx" + ".com" * 4_990 + "1",
    "phones": ",".join(str(2_000_000 + i) for i in range(2_400)),
    "host-of-dots": "http://" + "." * 19_000 + "x",
}


def _chat(event_id: str, text: str) -> OutgoingEvent:
    value = orjson.dumps(
        {
            "type": "chat.message",
            "event_id": event_id,
            "conversation_id": "c",
            "sender_id": f"acct-{event_id}",
            "text": text,
            "sent_at": time.time(),
        }
    )
    return OutgoingEvent("chat.messages", event_id.encode(), value, event_id, "valid")


def _outcomes(settings: Settings, ids: set[str]) -> tuple[Counter[str], list[dict[str, object]]]:
    """Outcomes per event id once every id has one (plus a quiet second for duplicates)."""
    records = consume(
        settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, settings)) >= len(ids),
        timeout=120,
        quiet_for=1.0,
    )
    decided, dead = outcome_keys(records, settings)
    dead_letters = [r.json() for r in records if r.topic == settings.topic("moderation.deadletter")]
    return Counter(decided + dead), dead_letters


def test_hostile_messages_are_decided_and_the_worker_goes_on(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    worker = start_worker(env=ONE_PARTITION)
    worker.wait_ready()
    settings = Settings.from_env({**stream_env, **ONE_PARTITION})
    _assert_each_decided_once(worker, settings)


# Rules that make the worker search every text for contacts (a list of each kind) and block the bait
# words, so each hostile message is also searched as a blocked one for the learned lists.
CONTACT_RULES = """\
version: contacts-1
rules:
  - id: known-scam-wechat
    category: fraud
    match: {wechat: [scam_id_12345]}
    effect: block
  - id: known-scam-contacts
    category: fraud
    match: {domains: [evil-pay.top], urls: ["https://evil-pay.top/claim"], phones: ["13900001234"]}
    effect: block
  - id: contact-bait
    category: spam
    match: {terms: [微信, qq, http]}
    effect: block
"""


def test_hostile_messages_pass_every_contact_search_and_the_worker_goes_on(
    start_worker: Callable[..., WorkerProcess],
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The contact search (``models.rules.extract_contacts``) runs in the worker's own process
    for rules, learned lists and sender behaviour, and in the scoring child for campaigns: the
    hostile messages go through all of them."""
    env = {**ONE_PARTITION, "CHATGUARD_CAMPAIGNS": "on", "CHATGUARD_SENDERS": "on"}
    for key, value in {**stream_env, **env}.items():
        monkeypatch.setenv(key, value)  # `chatguard rules publish` reads the workers' settings
    worker = start_worker(env=env)
    worker.wait_ready()
    settings = Settings.from_env({**stream_env, **env})
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(CONTACT_RULES)
    assert chatguard_main(["rules", "publish", str(rules_file)]) == 0
    consume(
        settings,
        ["model.updates"],
        until=lambda rs: any(r.json().get("rules_version") == "contacts-1" for r in rs),
        timeout=120,
    )
    _assert_each_decided_once(worker, settings)


def _assert_each_decided_once(worker: WorkerProcess, settings: Settings) -> None:
    hostile = [_chat(name, text) for name, text in HOSTILE_TEXTS.items()]
    after = build_events(100, malformed_share=0.0, seed=111)
    produce(settings, hostile)
    assert worker.get("/health")[0] == 200
    produce(settings, after)

    ids = {e.event_id for e in hostile + after}
    outcomes, dead = _outcomes(settings, ids)
    assert set(outcomes) == ids
    assert all(count == 1 for count in outcomes.values()), outcomes
    assert dead == []  # each hostile message is an ordinary decision now
    assert worker.get("/health")[0] == 200


def test_an_event_over_the_scoring_budget_is_a_dead_letter_and_the_partition_goes_on(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    promote_slow_copy(ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"])))
    env = {**ONE_PARTITION, "CHATGUARD_SCORING_BUDGET_S": "2"}
    worker = start_worker(env=env)
    worker.wait_ready()
    settings = Settings.from_env({**stream_env, **env})
    before = build_events(100, malformed_share=0.0, seed=121)
    stuck = _chat("stuck", f"hello {MARKER}")
    after = build_events(100, malformed_share=0.0, seed=122)
    produce(settings, [*before, stuck])

    # the model is stuck on a batch now; the worker must still answer
    worker.wait_for_log("took over the 2.0 s scoring budget")
    assert worker.get("/health")[0] == 200
    produce(settings, after)

    ids = {e.event_id for e in [*before, stuck, *after]}
    outcomes, dead = _outcomes(settings, ids)
    assert set(outcomes) == ids
    assert all(count == 1 for count in outcomes.values()), outcomes
    assert [(d["event_id"], d["error_kind"]) for d in dead] == [("stuck", "scoring_timeout")]
    status, body = worker.get("/health")
    assert status == 200, body
    # a thread is still stuck in the model: SIGTERM must stop the worker all the same
    assert worker.stop(timeout=30) != -signal.SIGKILL, worker.log_tail()
