"""With a fleet key, a record on an internal topic counts only if a worker of the fleet wrote it.

Against the real broker and a worker subprocess with ``CHATGUARD_FLEET_KEY``, an outside
tester writes straight to the internal topics of an open broker: block-weight strike signals
against an innocent account (unsigned, and signed with a guessed key), and a ``seen`` record that
claims a message the innocent account never sent, followed by reports of it. None of it acts:
each forged record is an ``unsigned`` dead letter, the reports of the made-up message are refused
as ``unknown_event``, and the innocent account gets no action. The worker's own internal records
(seen events, reports, weighed reports, strike signals) carry its signature and still act:
honest reports confirmed by a moderator restrict the account that earned it, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from chatguard.settings import Settings
from streams import fleet_signing, kafka_options
from streams.moderators import decision_record, moderator_key
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import Record, consume, produce, strike_signal
from tests.e2e.test_report_trust import _moderated, _of, _outgoing, _post, _report

pytestmark = pytest.mark.e2e

FLEET_KEY = "the fleet's own key"


def _internal(topic: str, key: str, record: dict[str, Any]) -> OutgoingEvent:
    return OutgoingEvent(topic, key.encode(), orjson.dumps(record), key, "forged")


def test_with_a_fleet_key_forged_internal_records_count_for_nothing_and_its_own_do(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    env = {
        "CHATGUARD_FLEET_KEY": FLEET_KEY,  # (every e2e worker has one; this test names it)
        "CHATGUARD_RESTRICT_STRIKES": "3",
        "CHATGUARD_SUSPEND_STRIKES": "6",
    }
    settings = Settings.from_env({**stream_env, **env})
    worker = start_worker(env=env)
    worker.wait_ready()

    # the forger writes straight to account.strikes: 4 unsigned signals, 4 signed with a guess
    unsigned = [
        _internal("account.strikes", "innocent", strike_signal("innocent", f"u{i}"))
        for i in range(4)
    ]
    produce(settings, unsigned)
    _produce_signed(
        settings, b"a guessed key", [strike_signal("innocent", f"g{i}") for i in range(4)]
    )
    # a made-up message of the innocent account on events.by_id, then reports of it
    seen = {"kind": "seen", "events": [["phantom", "innocent"]], "at": time.time()}
    produce(settings, [_internal("events.by_id", "phantom", seen)])
    phantom_reports = [
        _report(f"ph-{i}", f"witness-ph-{i}", "phantom", "innocent") for i in range(3)
    ]
    produce(settings, _outgoing("user.reports", phantom_reports, "report_id"))

    # the fleet's own records: honest reports of real messages, confirmed by a moderator
    _moderated(settings, [_post(f"scam-{i}", "scammer") for i in range(3)])
    honest = [_report(f"honest-{i}", f"witness-{i}", f"scam-{i}", "scammer") for i in range(3)]
    key = moderator_key(settings)
    assert key is not None
    decisions = [
        decision_record(key, r, outcome="confirm", moderator_id="mod-1", at=time.time())
        for r in honest
    ]
    produce(settings, _outgoing("user.reports", honest, "report_id"))
    produce(settings, _outgoing("moderator.decisions", decisions, "report_id"))

    actions, dead = _restrict_and_dead_letters(settings, 4 + 4 + 1 + 3)
    assert {a["account_id"] for a in actions} == {"scammer"}  # the innocent account: nothing
    [restrict] = [a for a in actions if a["action"] == "restrict"]
    assert sorted(restrict["evidence"]) == ["scam-0", "scam-1", "scam-2"]

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for letter in dead:
        by_kind.setdefault(letter["error_kind"], []).append(letter)
    assert sorted(by_kind) == ["unknown_event", "unsigned"]
    forged = by_kind["unsigned"]
    assert len(forged) == 9
    assert sorted(d["source_topic"] for d in forged) == sorted(
        [settings.topic("account.strikes")] * 8 + [settings.topic("events.by_id")]
    )
    assert sum("does not match" in d["error"] for d in forged) == 4
    assert {d["event_id"] for d in by_kind["unknown_event"]} == {"phantom"}
    assert len(by_kind["unknown_event"]) == 3


def _restrict_and_dead_letters(
    settings: Settings, dead_letters: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The account actions and dead letters, read until a restrict and ``dead_letters`` dead
    letters have arrived and nothing more comes for a while."""

    def settled(records: list[Record]) -> bool:
        dead = _of(records, settings, "moderation.deadletter")
        actions = _of(records, settings, "account.actions")
        return len(dead) >= dead_letters and any(a["action"] == "restrict" for a in actions)

    records = consume(
        settings,
        ["account.actions", "moderation.deadletter"],
        until=settled,
        timeout=120,
        quiet_for=8,
    )
    return _of(records, settings, "account.actions"), _of(
        records, settings, "moderation.deadletter"
    )


def _produce_signed(settings: Settings, secret: bytes, strikes: list[dict[str, Any]]) -> None:
    """Produce ``strikes`` on ``account.strikes`` with a fleet signature made with ``secret``."""
    topic = settings.topic("account.strikes")

    async def send() -> None:
        producer = AIOKafkaProducer(**kafka_options.producer(settings, "forger"))
        await producer.start()
        try:
            for strike in strikes:
                key, value = strike["account_id"].encode(), orjson.dumps(strike)
                mac = fleet_signing.mac(fleet_signing.mac_key(secret), topic, key, value)
                await producer.send_and_wait(
                    topic, value, key=key, headers=[(fleet_signing.HEADER, mac)]
                )
        finally:
            await producer.stop()

    asyncio.run(send())


def test_mid_rotation_a_worker_reads_records_signed_with_the_key_it_also_accepts(
    start_worker: Callable[..., WorkerProcess], stream_env: dict[str, str]
) -> None:
    """The second step of a rotation: the worker signs with the new key and accepts the old one,
    so strike signals a worker still on the old key wrote count; a guessed key's do not."""
    env = {
        "CHATGUARD_FLEET_KEY": "the new fleet key",
        "CHATGUARD_FLEET_KEY_ACCEPTED": FLEET_KEY,
        "CHATGUARD_RESTRICT_STRIKES": "3",
        "CHATGUARD_SUSPEND_STRIKES": "6",
    }
    settings = Settings.from_env({**stream_env, **env})
    worker = start_worker(env=env)
    worker.wait_ready()
    _produce_signed(
        settings, FLEET_KEY.encode(), [strike_signal("spammer", f"o{i}") for i in range(4)]
    )
    _produce_signed(
        settings, b"a guessed key", [strike_signal("innocent", f"g{i}") for i in range(4)]
    )

    actions, dead = _restrict_and_dead_letters(settings, 4)
    assert [(a["account_id"], a["action"]) for a in actions] == [("spammer", "restrict")]
    assert [d["error_kind"] for d in dead] == ["unsigned"] * 4
    assert all("does not match" in d["error"] for d in dead)
