"""Account enforcement and hot model reload, against the real broker and a worker subprocess."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatguard.cli import main as chatguard_main
from chatguard.settings import Settings
from devtools.produce import build_events
from models.registry import ModelRegistry
from streams import topics
from streams.moderators import decision_record, moderator_key, sign
from streams.outgoing import OutgoingEvent
from tests.e2e.conftest import WorkerProcess
from tests.e2e.kafka_helpers import (
    accounted,
    consume,
    produce,
    produce_signed,
    strike_signal,
    window_start,
)
from tests.e2e.test_report_trust import _moderated, _post
from tests.e2e.test_rules import RULES_V1, TERM, _use_env
from training.labelled_data import read_labelled, read_many

pytestmark = pytest.mark.e2e


def _confirmation(settings: Settings, account: str, report_id: str) -> OutgoingEvent:
    """A moderator's signed confirmation of a report of ``evt-<report_id>``."""
    key = moderator_key(settings)
    assert key is not None
    report = {
        "report_id": report_id,
        "reporter_id": f"reporter-{report_id}",
        "event_id": f"evt-{report_id}",
        "account_id": account,
        "reason": "fraud",
    }
    data = decision_record(key, report, outcome="confirm", moderator_id="m1", at=time.time())
    return OutgoingEvent(
        "moderator.decisions", report_id.encode(), orjson.dumps(data), report_id, "valid"
    )


def test_an_account_crossing_the_threshold_gets_exactly_one_action(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    worker = start_worker(env={"CHATGUARD_RESTRICT_STRIKES": "3", "CHATGUARD_SUSPEND_STRIKES": "6"})
    worker.wait_ready()
    # a confirmation counts only for a message the account sent (test_report_trust.py)
    sent = {"acct-a": 5, "acct-b": 7, "acct-c": 2}
    _moderated(
        stream_settings,
        [_post(f"evt-{a[-1]}{i}", a) for a, count in sent.items() for i in range(count)],
    )
    # acct-a: 5 confirmed reports (+ one replayed) = 5 strikes: restrict once, at the third,
    # and no suspend
    confirmations = [_confirmation(stream_settings, "acct-a", f"a{i}") for i in range(5)]
    confirmations += [confirmations[0]]  # the same confirmation delivered twice counts once
    # acct-b: 7 confirmed reports → restrict, then suspend; acct-c: 2 → nothing
    confirmations += [_confirmation(stream_settings, "acct-b", f"b{i}") for i in range(7)]
    confirmations += [_confirmation(stream_settings, "acct-c", f"c{i}") for i in range(2)]
    produce(stream_settings, confirmations)
    records = consume(
        stream_settings,
        ["account.actions"],
        until=lambda rs: len(rs) >= 3,
        timeout=60,
        quiet_for=5,
    )
    actions = sorted((r.json()["account_id"], r.json()["action"]) for r in records)
    assert actions == [("acct-a", "restrict"), ("acct-b", "restrict"), ("acct-b", "suspend")]
    restrict_a = next(r.json() for r in records if r.json()["account_id"] == "acct-a")
    # emitted when the confirmations (arriving in any order) first crossed 3, with them as evidence
    assert restrict_a["strikes"] == 3.0
    all_a = {f"evt-a{i}" for i in range(5)}
    assert len(restrict_a["evidence"]) == 3 and set(restrict_a["evidence"]) <= all_a
    assert all(r.key == r.json()["account_id"].encode() for r in records)


def _first_actions_of(settings: Settings, account: str) -> list[dict[str, Any]]:
    """The account actions of ``account`` read once the first of them is there."""
    records = consume(
        settings,
        [topics.ACCOUNT_ACTIONS],
        until=lambda rs: any(r.json()["account_id"] == account for r in rs),
        timeout=90,
    )
    return [r.json() for r in records if r.json()["account_id"] == account]


def test_strikes_on_both_sides_of_a_windows_end_add_up_to_one_restrict(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """Two blocked events of an account just before the strike window ends (00:00 UTC) and one
    just after: three strikes within a day, one restrict (counted per window alone, neither
    window reached three)."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_RESTRICT_STRIKES": "3", "CHATGUARD_SUSPEND_STRIKES": "6"})
    worker.wait_ready()
    window = settings.strike_window_s
    boundary = window_start(window)

    def strikes(account: str, ids: list[str], at: float) -> list[tuple[None, bytes, bytes]]:
        return [
            (None, account.encode(), orjson.dumps(strike_signal(account, i, at=at))) for i in ids
        ]

    produce_signed(
        settings,
        topics.ACCOUNT_STRIKES,
        strikes("edge", ["e1", "e2"], boundary - 20),
        boundary - 20,
    )
    produce_signed(settings, topics.ACCOUNT_STRIKES, strikes("edge", ["e3"], boundary), boundary)
    restrict = _first_actions_of(settings, "edge")
    assert [a["action"] for a in restrict] == ["restrict"], restrict
    assert restrict[0]["strikes"] == 3.0
    assert set(restrict[0]["evidence"]) == {"e1", "e2", "e3"}


def test_reports_on_both_sides_of_a_windows_end_add_up_to_one_review(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """One reporter (reliability 0.6) just before the strike window ends and another just
    after: 1.2 within a day, over the review threshold of 1.0, so one review_account (counted
    per window alone, neither window reached it)."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_REVIEW_REPORTS": "1.0"})
    worker.wait_ready()
    window = settings.strike_window_s
    boundary = window_start(window)

    def reported(reporter: str, at: float) -> list[tuple[None, bytes, bytes]]:
        signal = strike_signal(
            "reported-edge",
            f"e-{reporter}",
            signal_id=f"report:{reporter}",
            kind="report",
            categories=["spam"],
            weight=0.6,
            at=at,
            report_id=reporter,
            reporter_id=reporter,
        )
        return [(None, b"reported-edge", orjson.dumps(signal))]

    produce_signed(settings, topics.ACCOUNT_STRIKES, reported("r1", boundary - 20), boundary - 20)
    produce_signed(settings, topics.ACCOUNT_STRIKES, reported("r2", boundary), boundary)
    actions = _first_actions_of(settings, "reported-edge")
    assert [a["action"] for a in actions] == ["review_account"], actions


def test_a_flood_of_forged_report_signals_leaves_enforcement_working(
    start_worker: Callable[..., WorkerProcess], stream_settings: Settings
) -> None:
    """600 report signals against one account, each with 256-character ids and 64 made-up
    256-character categories (what anyone who can write ``account.strikes`` may send): the
    account's state would have grown past 10 MB, more than a changelog record holds. Its state
    stays bounded, and three blocks of the same account still make one restrict."""
    settings = stream_settings
    worker = start_worker(env={"CHATGUARD_RESTRICT_STRIKES": "3"})
    worker.wait_ready()
    now = time.time()

    def long_id(prefix: str, i: int) -> str:
        return f"{prefix}{i}-".ljust(256, "x")

    flood = []
    for i in range(600):
        signal = strike_signal(
            "flooded",
            long_id("e", i),
            signal_id=long_id("s", i),
            kind="report",
            categories=[long_id(f"c{i}-", j) for j in range(64)],
            weight=0.0,
            at=now,
            report_id=long_id("p", i),
            reporter_id=long_id("r", i),
        )
        flood.append((None, b"flooded", orjson.dumps(signal)))
    produce_signed(settings, topics.ACCOUNT_STRIKES, flood, now)
    blocks = [
        (None, b"flooded", orjson.dumps(strike_signal("flooded", f"blocked-{i}", at=now)))
        for i in range(3)
    ]
    produce_signed(settings, topics.ACCOUNT_STRIKES, blocks, now)
    actions = _first_actions_of(settings, "flooded")
    assert [a["action"] for a in actions] == ["restrict"], actions
    assert set(actions[0]["evidence"]) == {f"blocked-{i}" for i in range(3)}
    assert worker.process.poll() is None


def test_an_event_id_reused_for_every_message_does_not_escape_strikes(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that sends three blocked texts under one event id: strikes used to be counted
    once per event id, so they were one strike and the account was never restricted. Each text
    is an event now. An account whose one blocked message is delivered three times (a producer's
    retry: same id, same text) still has one strike for it: its restrict comes only with two
    more blocked messages, and names the retried one once."""
    _use_env(monkeypatch, stream_env)
    (tmp_path / "rules.yaml").write_text(RULES_V1)
    assert chatguard_main(["rules", "publish", str(tmp_path / "rules.yaml")]) == 0
    worker = start_worker(env={"CHATGUARD_RESTRICT_STRIKES": "3", "CHATGUARD_SUSPEND_STRIKES": "9"})
    worker.wait_ready()
    tag = uuid.uuid4().hex[:6]
    reuser, retried = f"reuser-{tag}", f"retried-{tag}"

    def chat(sender: str, event_id: str, text: str) -> OutgoingEvent:
        """Keyed by the sender, so that one account's messages are decided in order."""
        data = {
            "type": "chat.message",
            "event_id": event_id,
            "conversation_id": "c1",
            "sender_id": sender,
            "text": text,
            "sent_at": time.time(),
        }
        return OutgoingEvent(
            "chat.messages", sender.encode(), orjson.dumps(data), event_id, "valid"
        )

    same_id = [chat(reuser, "msg-1", f"{TERM} offer number {i}") for i in range(3)]
    retry = chat(retried, "retry-1", f"{TERM} offer")
    later = [chat(retried, f"retry-{i}", f"{TERM} offer number {i}") for i in (2, 3)]
    produce(stream_settings, [*same_id, retry, retry, retry, *later])
    actions = {
        account: _first_actions_of(stream_settings, account) for account in (reuser, retried)
    }
    assert [a["action"] for a in actions[reuser]] == ["restrict"], actions
    assert actions[reuser][0]["strikes"] == 3.0
    assert actions[reuser][0]["evidence"] == ["msg-1"] * 3
    assert [a["action"] for a in actions[retried]] == ["restrict"], actions
    assert actions[retried][0]["evidence"] == ["retry-1", "retry-2", "retry-3"], actions


def test_promoting_a_model_switches_decisions_without_restart(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
) -> None:
    registry = ModelRegistry(Path(stream_env["CHATGUARD_REGISTRY"]))
    old_version = registry.current_version()
    worker = start_worker()
    worker.wait_ready()
    pid = worker.process.pid

    # traffic flows before, during and after the switch; training may take any time
    before, after = build_events(2_000, malformed_share=0.02, seed=21), build_events(500, seed=22)
    ids = {e.event_id for e in before + after}
    producer = threading.Thread(
        target=produce, args=(stream_settings, before), kwargs={"rate": 300}, daemon=True
    )
    producer.start()
    consume(stream_settings, ["moderation.decisions"], until=lambda rs: len(rs) > 0, timeout=60)
    # a new version, trained and promoted while the worker runs
    assert (
        chatguard_main(["train", "--registry", str(registry.root), "--seed", "5", "--quiet"]) == 0
    )
    new_version = registry.versions()[-1]
    assert new_version != old_version
    assert (
        chatguard_main(["promote", new_version, "--registry", str(registry.root), "--force"]) == 0
    )
    updates = consume(stream_settings, ["model.updates"], until=lambda rs: len(rs) >= 1, timeout=60)
    assert updates[0].json()["version"] == new_version  # the worker announced the switch
    produce(stream_settings, after)
    producer.join(timeout=60)

    records = consume(
        stream_settings,
        ["moderation.decisions", "moderation.deadletter"],
        until=lambda rs: len(accounted(rs, stream_settings)) >= len(ids),
        timeout=120,
        quiet_for=2,
    )
    assert accounted(records, stream_settings) == ids  # nothing unscored during the switch
    decisions = sorted(
        (r.json() for r in records if r.topic == stream_settings.topic("moderation.decisions")),
        key=lambda d: d["decided_at"],
    )
    versions = [d["model_version"] for d in decisions]
    assert versions[0] == old_version and versions[-1] == new_version
    switch = versions.index(new_version)
    assert set(versions[switch:]) == {new_version}, "an old-model decision after the switch"
    after_ids = {e.event_id for e in after}
    assert {d["model_version"] for d in decisions if d["event_id"] in after_ids} == {new_version}
    assert worker.process.poll() is None and worker.process.pid == pid  # no restart


def test_moderator_labels_reach_the_store_that_training_reads(
    start_worker: Callable[..., WorkerProcess],
    stream_settings: Settings,
    stream_env: dict[str, str],
) -> None:
    worker = start_worker()
    worker.wait_ready()
    labels: list[dict[str, Any]] = [
        {
            "event_id": "l1",
            "text": "加微信 abc888 领红包",
            "categories": ["fraud", "spam"],
            "moderator_id": "m1",
            "labelled_at": time.time(),
        },
        {
            "event_id": "l2",
            "text": "see you at the gym",
            "categories": [],
            "moderator_id": "m2",
            "labelled_at": time.time(),
        },
        {
            "event_id": "l3",
            "text": "澳门赌场 首充送彩金",
            "categories": ["gambling"],
            "moderator_id": "m1",
            "labelled_at": time.time(),
        },
    ]
    key = moderator_key(stream_settings)
    assert key is not None
    events = [
        OutgoingEvent(
            "moderator.labels",
            label["event_id"].encode(),
            orjson.dumps(sign({"type": "moderator.label", **label}, key)),
            label["event_id"],
            "valid",
        )
        for label in labels
    ]
    # the same kind of row from someone without the moderators' key: not a label
    forged_label = {**labels[1], "event_id": "l5", "text": "see you at 7 at the library"}
    forged = OutgoingEvent(
        "moderator.labels",
        b"l5",
        orjson.dumps(
            sign({"type": "moderator.label", **forged_label, "categories": ["hate"]}, b"guess")
        ),
        "l5",
        "valid",
    )
    broken = OutgoingEvent(
        "moderator.labels",
        b"l4",
        orjson.dumps({"type": "moderator.label", "event_id": "l4", "text": "x"}),
        "l4",
        "missing_field",
    )
    # signed, but a replay from 90 days ago, and from a clock 10 years ahead (an outside probe
    # had both stored): refused by their signed time
    untimely = [
        OutgoingEvent(
            "moderator.labels",
            event_id.encode(),
            orjson.dumps(
                sign(
                    {
                        "type": "moderator.label",
                        **labels[0],
                        "event_id": event_id,
                        "labelled_at": at,
                    },
                    key,
                )
            ),
            event_id,
            "valid",
        )
        for event_id, at in (
            ("l6", time.time() - 90 * 86_400),
            ("l7", time.time() + 10 * 365 * 86_400),
        )
    ]
    produce(stream_settings, [*events, broken, forged, *untimely])
    dead = consume(
        stream_settings, ["moderation.deadletter"], until=lambda rs: len(rs) >= 4, timeout=60
    )
    assert sorted((r.key, r.json()["error_kind"]) for r in dead) == [
        (b"l4", "missing_field"),
        (b"l5", "bad_signature"),
        (b"l6", "stale_signal"),
        (b"l7", "invalid_value"),
    ]

    store = Path(stream_env["CHATGUARD_LABEL_STORE"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        not store.exists() or len(store.read_text().splitlines()) < 3
    ):
        time.sleep(0.2)
    rows = read_labelled(store)  # the reader `chatguard train --data` uses
    assert sorted(
        (row.text, tuple(sorted(k for k, v in row.labels.items() if v == 1))) for row in rows
    ) == sorted((label["text"], tuple(sorted(label["categories"]))) for label in labels)
    # provenance: each row names its moderator, so training can leave one out after the fact
    assert sorted(row.moderator or "" for row in rows) == ["m1", "m1", "m2"]
    kept = read_many([store], exclude_moderators=["m1"])
    assert [row.text for row in kept] == ["see you at the gym"]
