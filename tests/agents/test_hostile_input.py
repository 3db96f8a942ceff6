"""Hostile input to every agent in Faust's test_context: huge ids and keys, bad reports and labels,
records too large to produce, a bug for one event. Each ends as one outcome; the agent goes on."""

from __future__ import annotations

import asyncio
import base64
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from chatguard.settings import Settings
from models.policy import Policy, Verdict
from streams import metrics, table_values
from streams.agents import MAX_SENDER_MESSAGES, Worker
from streams.model_holder import ServingModel
from streams.moderators import decision_record
from streams.pipeline import ModerationPipeline, Outgoing, RawMessage
from tests.agents.harness import (
    MODERATOR_KEY,
    RecordingSink,
    chat,
    put_all,
    put_to,
    signed_label,
    store_labels,
)

KAFKA_RECORD_LIMIT = 1_000_000


def _compact(record: tuple[str, bytes | None, dict[str, Any]]) -> int:
    """The size of a recorded record as it would be produced."""
    _, key, value = record
    return len(key or b"") + len(orjson.dumps(value))


async def test_huge_ids_and_keys_become_compact_dead_letters(
    worker: Worker, sink: RecordingSink
) -> None:
    huge_sender = chat("huge-sender", "hello", sender_id="s" * 700_000)
    huge_id = chat("e" * 600_000, "hello", sender_id="s1")
    await put_all(worker, sink, [huge_sender, huge_id, chat("after", "thanks, see you tomorrow")])
    dead = sink.on("moderation.deadletter")
    assert [(d["error_kind"], d["event_id"]) for d in dead] == [
        ("oversize_id", "huge-sender"),
        (
            "oversize_id",
            "e" * worker.settings.max_id_chars,
        ),  # cut, and the error says how long it was
    ]
    assert "600000" in dead[1]["error"]
    assert all(_compact(r) < KAFKA_RECORD_LIMIT for r in sink.sent)
    assert [d["event_id"] for d in sink.on("moderation.decisions")] == ["after"]


async def test_a_huge_key_is_dead_lettered_with_the_key_cut(
    worker: Worker, sink: RecordingSink
) -> None:
    settings = worker.settings
    huge_key = b"k" * 900_000
    done = lambda: len(sink.sent) >= 2  # noqa: E731
    assert worker.moderate_events is not None
    await put_to(
        worker.moderate_events,
        settings.topic("chat.messages"),
        [(huge_key, chat("big-key", "hello")), (b"ok", chat("ok", "thanks, see you tomorrow"))],
        done,
    )
    [dead] = sink.on("moderation.deadletter")
    assert dead["error_kind"] == "oversize_key"
    assert dead["key_size"] == len(huge_key) and dead["key_truncated"] is True
    assert base64.b64decode(dead["key"]) == huge_key[: settings.max_key_bytes]
    dead_key = next(k for t, k, _ in sink.sent if t == settings.topic("moderation.deadletter"))
    assert dead_key == huge_key[: settings.max_key_bytes]
    assert [d["event_id"] for d in sink.on("moderation.decisions")] == ["ok"]


def _report(report_id: str, **fields: Any) -> bytes:
    data = {
        "type": "user.report",
        "report_id": report_id,
        "reporter_id": "u1",
        "event_id": f"evt-{report_id}",
        "account_id": "acct-r",
        "reason": "fraud",
        "reported_at": 1_700_000_000.0,
        **fields,
    }
    return orjson.dumps(data)


async def test_bad_reports_are_dead_letters_and_the_valid_ones_in_their_batch_count(
    worker: Worker, sink: RecordingSink
) -> None:
    settings = worker.settings
    records = [
        (b"r1", _report("r1")),
        (b"r2", _report("r2", text=123)),  # a stray field of the wrong type: ignored
        (b"r3", _report("r3", reported_at="yesterday")),
        (b"r4", b'{"type": "user.report", '),
        (b"r5", _report("r" * 1_000)),
        (b"r6", _report("r6")),
    ]
    reports = settings.topic("user.reports")
    await put_to(worker.collect_reports, reports, records, lambda: len(sink.sent) >= 6)
    # valid reports go on to be weighed by their reporter's reliability (streams.reporters)
    weighed = sink.on("reports.by_reporter")
    assert sorted(r["report_id"] for r in weighed) == ["r1", "r2", "r6"]
    dead = {
        key: value["error_kind"]
        for topic, key, value in sink.sent
        if topic == settings.topic("moderation.deadletter")
    }
    assert dead == {b"r3": "wrong_type", b"r4": "malformed_json", b"r5": "oversize_id"}
    assert all(
        d["source_topic"] == settings.topic("user.reports")
        for d in sink.on("moderation.deadletter")
    )


async def test_a_report_longer_than_its_ids_allow_is_a_dead_letter_and_the_longest_real_one_counts(
    worker: Worker, sink: RecordingSink
) -> None:
    """A report has no free text: its limit is what its ids can take (64 bytes per id
    character), not the 1 MiB of a message. Every id and the reason at their longest, in
    JSON escapes, still pass."""
    settings = worker.settings
    longest = "\\u00e9" * settings.max_id_chars  # é, written the longest way JSON allows
    escaped = (
        b'{"type": "user.report", "report_id": "%s", "reporter_id": "%s", "event_id": "%s", '
        b'"account_id": "%s", "reason": "%s", "reported_at": 1700000000.0}'
        % ((longest.encode(),) * 5)
    )
    limit = 64 * settings.max_id_chars
    assert 5 * 6 * settings.max_id_chars < len(escaped) <= limit
    records = [
        (b"long", escaped),
        (b"padded", _report("padded", evidence=" " * limit)),
        (b"flood", _report("flood", evidence=" " * 1_000_000)),
    ]
    reports = settings.topic("user.reports")
    await put_to(worker.collect_reports, reports, records, lambda: len(sink.sent) >= 3)
    assert [r["report_id"] for r in sink.on("reports.by_reporter")] == ["\u00e9" * 256]
    dead = {key: value for topic, key, value in sink.sent if topic.endswith("deadletter")}
    assert {key: d["error_kind"] for key, d in dead.items()} == {
        b"padded": "oversize_event",
        b"flood": "oversize_event",
    }
    assert f"the limit is {limit}" in dead[b"flood"]["error"]


async def test_labels_outside_the_taxonomy_are_dead_letters(
    worker: Worker, sink: RecordingSink
) -> None:
    settings = worker.settings
    known = worker.holder.current.model.labels[0]
    records = [
        (b"l1", signed_label("l1", [known])),
        (b"l2", signed_label("l2", ["no-such-category"])),
        (b"l3", signed_label("l3", known)),  # a string, not a list
        (b"l4", signed_label("l4", [])),
    ]
    # at the settings' label_store, signed with the settings' key
    rows = await store_labels(worker, sink, records, stored=2, sent=2)
    assert sorted(r["event_id"] for r in rows) == ["l1", "l4"]
    dead = {
        k: v["error_kind"] for t, k, v in sink.sent if t == settings.topic("moderation.deadletter")
    }
    assert dead == {b"l2": "unknown_category", b"l3": "wrong_type"}


async def test_a_label_signed_long_ago_or_in_the_future_is_a_dead_letter(
    worker: Worker, sink: RecordingSink
) -> None:
    """A signature does not expire: an outside probe stored signed labels dated 90 days ago
    and 10 years ahead, so a new label store took any label ever signed (the wrong one a
    moderator later corrected, say), and the future one would outrank every correction."""
    settings = worker.settings
    known = worker.holder.current.model.labels[0]
    now = time.time()
    records = [
        (b"old", signed_label("old", [known], at=now - 90 * 86_400)),
        (b"ahead", signed_label("ahead", [known], at=now + 10 * 365 * 86_400)),
        (b"slack", signed_label("slack", [known], at=now + 60)),  # a clock a little ahead
        (b"week", signed_label("week", [known], at=now - settings.label_max_age_s + 600)),
    ]
    rows = await store_labels(worker, sink, records, stored=2, sent=2)
    assert sorted(r["event_id"] for r in rows) == ["slack", "week"]
    dead = {d["event_id"]: d for d in sink.on("moderation.deadletter")}
    assert dead["old"]["error_kind"] == "stale_signal"
    assert "CHATGUARD_LABEL_MAX_AGE_S" in dead["old"]["error"]
    assert dead["ahead"]["error_kind"] == "invalid_value"
    assert "in the future" in dead["ahead"]["error"]


async def test_labels_wait_while_the_disk_is_full_and_land_once_it_has_room(
    worker: Worker, sink: RecordingSink, tmp_path: Path
) -> None:
    path = worker.settings.label_store
    path.symlink_to("/dev/full")
    known = worker.holder.current.model.labels[0]
    records = [(f"l{i}".encode(), signed_label(f"l{i}", [known])) for i in range(3)]
    room = tmp_path / "room.jsonl"

    async def the_disk_fills_then_has_room() -> bool:
        deadline = asyncio.get_running_loop().time() + 10
        while worker.label_store_problem is None:
            assert asyncio.get_running_loop().time() < deadline, "the full disk went unnoticed"
            await asyncio.sleep(0.02)
        assert "ENOSPC" in worker.label_store_problem
        assert str(tmp_path) not in worker.label_store_problem
        # room again: the same path now leads to a regular file
        room.touch()
        (tmp_path / "next").symlink_to(room)
        (tmp_path / "next").replace(path)
        return True

    waiting = asyncio.ensure_future(the_disk_fills_then_has_room())
    labels_topic = worker.settings.topic("moderator.labels")
    done = lambda: waiting.done() and worker.label_store_problem is None  # noqa: E731
    await put_to(worker.store_labels, labels_topic, records, done, timeout=30)
    assert waiting.result()
    rows = [orjson.loads(line) for line in room.read_bytes().splitlines()]
    assert [r["event_id"] for r in rows] == ["l0", "l1", "l2"]


async def test_a_record_over_the_limit_becomes_an_output_too_large_dead_letter(
    worker: Worker,
) -> None:
    small = Settings(max_record_bytes=65_536, max_id_chars=1_000)
    recorder = RecordingSink(small)
    pipeline = ModerationPipeline(small, worker.holder, recorder)
    source = RawMessage("chat.messages", 3, 42, b"evt-1", b'{"event_id": "evt-1"}')
    await pipeline.send(
        [
            Outgoing(
                "account.actions", b"acct", orjson.dumps({"evidence": ["x" * 70_000]}), source
            ),
            Outgoing("account.actions", b"acct", orjson.dumps({"evidence": ["y"]}), source),
        ]
    )
    topics = [topic for topic, _, _ in recorder.sent]
    assert topics == ["moderation.deadletter", "account.actions"]
    dead = recorder.sent[0][2]
    assert dead["error_kind"] == "output_too_large"
    assert "account.actions" in dead["error"] and "70" in dead["error"]
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == (
        "chat.messages",
        3,
        42,
    )
    assert base64.b64decode(dead["raw"]) == source.value


# a score no real model gives: the marker of the event that triggers the bug below
BUG_MARKER = 0.123456789


class BuggyPolicy(Policy):
    """The worker's policy, except for a bug that only one event's scores trigger."""

    def decide_batch(self, scores: Any, sources: Any = None) -> list[Verdict]:
        if (np.asarray(scores)[:, 0] == BUG_MARKER).any():
            raise KeyError("a bug")
        return super().decide_batch(scores, sources)


async def test_an_exception_for_one_event_is_its_internal_error_dead_letter(
    worker: Worker, sink: RecordingSink
) -> None:
    serving = worker.holder.current
    real_score = serving.model.score

    class MarkingModel:
        """The real model, except that it gives the TRIGGER event the bug's marker score."""

        labels = serving.model.labels
        version = serving.model.version

        def score(self, texts: list[str]) -> Any:
            scores = np.array(real_score(texts), dtype=np.float64)
            for i, text in enumerate(texts):
                if "TRIGGER" in text:
                    scores[i, 0] = BUG_MARKER
            return scores

    policy = BuggyPolicy(serving.policy.labels, serving.policy.thresholds)
    # a stand-in for the LoadedModel it wraps: same labels, version and score()
    worker.holder.use(ServingModel(MarkingModel(), policy))  # type: ignore[arg-type]
    await put_all(
        worker, sink, [chat("a", "good morning"), chat("b", "TRIGGER"), chat("c", "lunch?")]
    )
    assert sorted(d["event_id"] for d in sink.on("moderation.decisions")) == ["a", "c"]
    dead = sink.on("moderation.deadletter")
    assert [(d["event_id"], d["error_kind"]) for d in dead] == [("b", "internal_error")]
    assert "KeyError" in dead[0]["error"]


async def test_a_sender_activity_record_of_too_many_messages_is_a_dead_letter(
    worker: Worker, sink: RecordingSink
) -> None:
    """A forged ``sender.activity`` record of tens of thousands of messages (each a table
    update on the event loop) is refused whole; the record before it counts."""

    def record(messages: int) -> bytes:
        entries = [[f"e{i}", "acct", f"c{i}", "0123456789abcdef", False] for i in range(messages)]
        return orjson.dumps({"kind": "sender_activity", "at": time.time(), "messages": entries})

    counted = metrics.SENDER_MESSAGES._value.get()
    topic = worker.settings.topic("sender.activity")
    records = [(b"p0", record(3)), (b"p0", record(20 * MAX_SENDER_MESSAGES))]
    await put_to(worker.count_senders, topic, records, lambda: bool(sink.sent))
    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == ["oversize_field"]
    assert metrics.SENDER_MESSAGES._value.get() - counted == 3


async def test_sender_activity_re_sent_from_the_past_sends_no_account_to_review(
    worker: Worker, sink: RecordingSink
) -> None:
    """Signed ``sender.activity`` records are re-sendable by whoever can write the topic. One
    text sent to one conversation an hour, re-sent newest first, added up to a burst and sent
    its account to review; a record from beyond the strike window, or filed under a timestamp
    far from its own time, is refused. A real burst still sends its account to review, once."""
    n, now = worker.settings.sender_conversations, time.time()
    day = worker.settings.strike_window_s

    def record(account: str, conversation: str, at: float) -> bytes:
        entry = [f"{account}-{conversation}", account, conversation, "0123456789abcdef", False]
        return orjson.dumps({"kind": "sender_activity", "at": at, "messages": [entry]})

    hourly = [(b"p0", record("hourly", f"c{i}", now - i * 3_600)) for i in range(n)]
    refused = [(b"p0", record("old", "c0", now - 2 * day)), (b"p0", record("moved", "c0", now))]
    burst = [(b"p0", record("burst", f"c{i}", now)) for i in range(n)]
    records = hourly + refused + burst + burst  # the real burst re-sent as well
    stamps = [now] * len(hourly) + [now, now - 2 * day] + [now] * 2 * len(burst)
    counted = metrics.SENDER_MESSAGES._value.get()
    await put_to(
        worker.count_senders,
        worker.settings.topic("sender.activity"),
        records,
        lambda: (
            len(sink.on("moderation.deadletter")) >= 2
            and metrics.SENDER_MESSAGES._value.get() - counted >= 3 * n
        ),
        timestamps=stamps,
    )
    dead = sink.on("moderation.deadletter")
    assert sorted(d["error_kind"] for d in dead) == ["invalid_value", "stale_signal"]
    actions = sink.on("account.actions")
    assert [a["account_id"] for a in actions] == ["burst"], actions


async def test_internal_records_stamped_in_the_future_are_dead_letters_not_windows(
    worker: Worker, sink: RecordingSink
) -> None:
    """Windowed tables file a change under the record's timestamp, which its producer picks:
    each copy of one record stamped a window further ahead opened a window entry that no
    clean-up expires. Stamped more than a few minutes ahead, a record is refused; the same
    record stamped now counts."""
    entries = [[f"e{i}", "acct", f"c{i}", "0123456789abcdef", False] for i in range(3)]
    value = orjson.dumps({"kind": "sender_activity", "at": time.time(), "messages": entries})
    counted = metrics.SENDER_MESSAGES._value.get()
    now, window = time.time(), worker.settings.sender_window_s
    stamps = [now + (k + 2) * window + 600 for k in range(5)] + [now]
    await put_to(
        worker.count_senders,
        worker.settings.topic("sender.activity"),
        [(b"p0", value)] * len(stamps),
        lambda: (
            len(sink.on("moderation.deadletter")) >= 5
            and metrics.SENDER_MESSAGES._value.get() - counted >= 3
        ),
        timestamps=stamps,
    )
    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == ["invalid_value"] * 5
    assert "in the future" in dead[0]["error"]
    assert metrics.SENDER_MESSAGES._value.get() - counted == 3  # the one stamped now


async def test_a_state_too_large_for_its_changelog_is_a_dead_letter_and_the_agent_goes_on(
    worker: Worker, sink: RecordingSink, monkeypatch: Any
) -> None:
    """Faust writes each table change to its changelog after the agent moved on, and one over
    the producer's limit crashed the worker (and again after each restart). A state over the
    limit is not written: the signal that would make it is a dead letter, and the next
    account's strikes still make a restrict. The limit is lowered so that a few strikes pass it."""
    monkeypatch.setattr(table_values, "MAX_STATE_BYTES", 1_500)

    def strike(account: str, i: int) -> tuple[bytes, bytes]:
        signal = {
            "signal_id": f"block:{account}-{i}".ljust(250 if account == "big" else 0, "x"),
            "kind": "block",
            "event_id": f"{account}-{i}".ljust(250 if account == "big" else 0, "x"),
            "account_id": account,
            "categories": ["fraud"],
            "weight": 1.0,
        }
        return account.encode(), orjson.dumps(signal)

    records = [strike("big", i) for i in range(4)] + [strike("small", i) for i in range(3)]
    topic = worker.settings.topic("account.strikes")

    def done() -> bool:
        return bool(sink.on("account.actions")) and bool(sink.on("moderation.deadletter"))

    await put_to(worker.enforce_accounts, topic, records, done)
    dead = sink.on("moderation.deadletter")
    assert {d["error_kind"] for d in dead} == {"state_too_large"}
    assert {d["event_id"][:5] for d in dead} == {"big-2", "big-3"}  # two fitted
    assert "account-strikes" in dead[0]["error"]
    actions = sink.on("account.actions")
    assert [(a["account_id"], a["action"]) for a in actions] == [("small", "restrict")]


async def test_a_strike_signal_re_sent_a_window_later_does_not_count_again(
    worker: Worker, sink: RecordingSink
) -> None:
    """A signed strike signal re-sent byte for byte passes the fleet signature. Sent back
    three blocks of an account, a strike window after each was made (one a day: never three
    in a window), restricted it. Each is refused as stale now; three fresh ones restrict."""
    window = worker.settings.strike_window_s
    now = time.time()

    def strike(account: str, i: int, at: float) -> tuple[bytes, bytes]:
        signal = {
            "signal_id": f"block:{account}-{i}",
            "kind": "block",
            "event_id": f"{account}-{i}",
            "account_id": account,
            "categories": ["fraud"],
            "weight": 1.0,
            "at": at,
        }
        return account.encode(), orjson.dumps(signal)

    replayed = [strike("replayed", i, now - (i + 1) * window - 60) for i in range(3)]
    # fresh signals of another account re-sent under timestamps of windows to come, where
    # nothing remembers them either
    ahead = [strike("ahead", i, now - 60) for i in range(3)]
    fresh = [strike("fresh", i, now - 60) for i in range(3)]
    stamps = [now] * 3 + [now + (i + 2) * window for i in range(3)] + [now] * 3

    def done() -> bool:
        return bool(sink.on("account.actions")) and len(sink.on("moderation.deadletter")) >= 6

    await put_to(
        worker.enforce_accounts,
        worker.settings.topic("account.strikes"),
        [*replayed, *ahead, *fresh],
        done,
        timestamps=stamps,
    )
    dead = sink.on("moderation.deadletter")
    assert sorted((d["error_kind"], d["event_id"]) for d in dead) == [
        *(("invalid_value", f"ahead-{i}") for i in range(3)),
        *(("stale_signal", f"replayed-{i}") for i in range(3)),
    ]
    actions = sink.on("account.actions")
    assert [(a["account_id"], a["action"]) for a in actions] == [("fresh", "restrict")]


async def test_forged_internal_records_with_huge_ids_are_dead_letters_not_state(
    worker: Worker, sink: RecordingSink
) -> None:
    """Without a fleet key the internal topics are writable by anyone with access. A report id
    of 500 KB in a reporter's outcome, or a campaign id of 200 KB in a campaign member, went
    into a table state (four of the first made a 2 MB state, over a changelog record); both are
    refused, and a well-formed record after them is still counted."""
    huge_outcome = {
        "kind": "outcome",
        "reporter_id": "r1",
        "report_id": "x" * 500_000,
        "outcome": "confirm",
    }
    fine_outcome = huge_outcome | {"report_id": "rep-1"}
    await put_to(
        worker.weigh_reports,
        worker.settings.topic("reports.by_reporter"),
        [(b"r1", orjson.dumps(huge_outcome)), (b"r1", orjson.dumps(fine_outcome))],
        lambda: len(sink.on("reporter.stats") + sink.on("moderation.deadletter")) >= 2,
    )
    assert [s["confirmed"] for s in sink.on("reporter.stats")] == [1]
    assert [d["error_kind"] for d in sink.on("moderation.deadletter")] == ["invalid_field"]

    def member(campaign_id: str, at: float | None = None) -> tuple[bytes, bytes]:
        record = {
            "kind": "campaign_member",
            "account_id": "acct-1",
            "campaign_id": campaign_id,
            "event_id": "e1",
            "category": "spam",
            "at": time.time() if at is None else at,
        }
        return b"acct-1", orjson.dumps(record)

    # the last: a member record re-sent after the window that remembers its campaign's
    # accounts (it would restrict the account for the campaign again)
    # and one filed under a window to come, which remembers no campaign
    now, window = time.time(), worker.settings.strike_window_s
    await put_to(
        worker.escalate_members,
        worker.settings.topic("campaign.members"),
        [
            member("cmp-" + "f" * 200_000),
            member("cmp-00112233aabbccdd"),
            member("cmp-00112233aabbccdd", at=now - window - 60),
            member("cmp-00112233aabbccdd"),
        ],
        lambda: len(sink.on("account.actions") + sink.on("moderation.deadletter")) >= 5,
        timestamps=[now, now, now, now + 3 * window],
    )
    actions = sink.on("account.actions")
    assert [a["evidence"][0] for a in actions] == ["campaign:cmp-00112233aabbccdd"]
    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == [
        "invalid_field",
        "invalid_field",
        "stale_signal",
        "invalid_value",
    ]


async def test_forged_retried_reports_are_dead_letters_and_a_real_one_goes_back(
    worker: Worker, sink: RecordingSink
) -> None:
    """``reports.retry`` is read by its own loop, which caught only ValueError: a record
    without a weight (KeyError), or with a reason nested 500 deep (orjson refuses to write
    it), stopped the agent, and again on every restart since it was never acked."""
    worker.moderation.until = math.inf  # caught up: a due report is not held
    retried = _retried_report()
    no_weight = {k: v for k, v in retried.items() if k != "weight"}
    records = [orjson.dumps(no_weight), _nested_json(retried, 500), orjson.dumps(retried)]
    await put_to(
        worker.retry_reports,
        worker.settings.topic("reports.retry"),
        [(b"evt-1", value) for value in records],
        lambda: bool(sink.on("events.by_id")),
    )
    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == ["invalid_field", "invalid_field"]
    assert "weight" in dead[0]["error"] and "reason" in dead[1]["error"]
    [back] = sink.on("events.by_id")
    assert back["report_id"] == "rep-1" and back["attempt"] == 1


async def test_a_strike_signal_with_a_null_time_does_not_stop_enforcement(
    worker: Worker, sink: RecordingSink
) -> None:
    """An optional field that is null passed the checks as absent, but ``"at": null`` then
    reached ``float(None)``: the agent crashed, Faust restarted it and never fed it again, and
    no account was restricted after it, while /health said 200. Null reads as absent now, and
    whatever else one signal raises is its dead letter."""

    def strike(i: int, **fields: Any) -> tuple[bytes, bytes]:
        signal = {
            "signal_id": f"block:acct-{i}",
            "kind": "block",
            "event_id": f"acct-{i}",
            "account_id": "acct",
            "categories": ["fraud"],
            "weight": 1.0,
            "at": time.time() - 60,
            **fields,
        }
        return b"acct", orjson.dumps(signal)

    records = [strike(0, at=None, kind=None), strike(1), strike(2)]
    await put_to(
        worker.enforce_accounts,
        worker.settings.topic("account.strikes"),
        records,
        lambda: bool(sink.on("account.actions")),
    )
    actions = sink.on("account.actions")
    assert [(a["account_id"], a["action"]) for a in actions] == [("acct", "restrict")]
    assert sink.on("moderation.deadletter") == []


async def test_a_report_with_a_null_time_is_refused_before_it_becomes_a_strike(
    worker: Worker, sink: RecordingSink
) -> None:
    """A report read back from ``reports.retry`` or ``events.by_id`` with ``reported_at``
    null (or a string) was sent on, and became a strike signal with ``"at": null``."""
    worker.moderation.until = math.inf  # caught up: a due report is not held
    retried = _retried_report(reported_at=None)
    records = [retried, retried | {"reported_at": "yesterday"}, retried | {"reported_at": 1.0}]
    await put_to(
        worker.retry_reports,
        worker.settings.topic("reports.retry"),
        [(b"evt-1", orjson.dumps(record)) for record in records],
        lambda: bool(sink.on("events.by_id")),
    )
    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == ["invalid_field", "invalid_field"]
    assert all("reported_at" in d["error"] for d in dead)
    [back] = sink.on("events.by_id")
    assert back["reported_at"] == 1.0


def _nested_json(record: dict[str, Any], depth: int) -> bytes:
    """``record`` with its reason nested ``depth`` lists deep, as raw JSON (orjson reads at
    most 1,024 levels, and writes at most 255)."""
    text = orjson.dumps(record).decode()
    return text.replace(
        '"reason":"fraud"', '"reason":' + "[" * depth + '"fraud"' + "]" * depth
    ).encode()


async def test_re_sent_blocked_contact_evidence_teaches_nothing(
    worker: Worker, sink: RecordingSink
) -> None:
    """Three accounts each had one blocked message naming a domain: below the five events
    needed. Two of their signed records re-sent made it five, and the fleet blocked the
    domain for a day. Each event counts once now, and evidence older than the learn window
    is refused."""
    now = time.time()

    def blocked(account: str, event_id: str, at: float) -> tuple[bytes, bytes]:
        record = {
            "kind": "blocked_contact",
            "token": "mybank-help.com",
            "token_kind": "domains",
            "account_id": account,
            "event_id": event_id,
            "category": "fraud",
            "at": at,
        }
        return b"mybank-help.com", orjson.dumps(record)

    events = [blocked(f"acct-{i}", f"evt-{i}", now - 10 + i) for i in range(3)]
    stale = blocked("acct-9", "evt-9", now - worker.settings.learn_window_s - 60)
    records = [*events, events[1], events[2], events[1], stale]
    await put_to(
        worker.learn_contacts,
        worker.settings.topic("contacts.blocked"),
        records,
        lambda: bool(sink.on("moderation.deadletter") or sink.on("moderation.learned")),
    )
    assert sink.on("moderation.learned") == []
    assert [d["error_kind"] for d in sink.on("moderation.deadletter")] == ["stale_signal"]


async def test_internal_records_of_the_wrong_shape_are_dead_letters_that_name_the_field(
    worker: Worker, sink: RecordingSink
) -> None:
    """A ``seen`` record whose events or time are of the wrong type, and an outcome without its
    outcome, were ``internal_error`` dead letters (a TypeError, a KeyError): a reason an
    operator could not act on. A good ``seen`` record after them is still folded."""
    seen = {"kind": "seen", "events": [["evt-1", "acct-1"]], "at": time.time()}
    forged = [seen | {"events": 5}, seen | {"events": [["evt-1", 7]]}, seen | {"at": None}]
    await put_to(
        worker.verify_reports,
        worker.settings.topic("events.by_id"),
        [(b"evt-1", orjson.dumps(record)) for record in [*forged, seen]],
        lambda: len(sink.on("moderation.deadletter")) >= 3,
    )
    dead = sink.on("moderation.deadletter")
    assert [d["error_kind"] for d in dead] == ["invalid_field"] * 3
    assert "events" in dead[0]["error"] and "at" in dead[2]["error"]
    assert worker.recent_events.account("evt-1", claimed="acct-1") == "acct-1"
    no_outcome = {"kind": "outcome", "reporter_id": "r1", "report_id": "rep-1"}
    await put_to(
        worker.weigh_reports,
        worker.settings.topic("reports.by_reporter"),
        [(b"r1", orjson.dumps(no_outcome))],
        lambda: len(sink.on("moderation.deadletter")) >= 4,
    )
    assert sink.on("moderation.deadletter")[3]["error_kind"] == "invalid_field"


async def test_report_verification_waits_out_a_broker_that_is_away(
    worker: Worker, sink: RecordingSink, monkeypatch: Any
) -> None:
    """Before a report is checked, the agent reads back what other workers folded; with the
    broker away that read timed out after 40 s and crashed the agent, which Faust restarted but
    never fed again (CI's two-minute outage test saw it once the crash stayed on /health). It
    waits and reads again now."""
    from aiokafka.errors import KafkaTimeoutError

    from streams import agents

    tries: list[int] = []
    real = agents.catch_up

    async def away_once(*args: Any, **kwargs: Any) -> int:
        tries.append(1)
        if len(tries) == 1:
            raise KafkaTimeoutError("Failed to get offsets by times in 40000 ms")
        return await real(*args, **kwargs)

    monkeypatch.setattr(agents, "catch_up", away_once)
    seen = {"kind": "seen", "events": [["evt-9", "acct-9"]], "at": time.time()}
    await put_to(
        worker.verify_reports,
        worker.settings.topic("events.by_id"),
        [(b"evt-9", orjson.dumps(seen))],
        lambda: worker.recent_events.account("evt-9", claimed="acct-9") == "acct-9",
    )
    assert len(tries) == 2
    assert worker.health()[1] == 200


def _retried_report(**fields: Any) -> dict[str, Any]:
    """A report as a worker sends it back on ``reports.retry``, with ``fields`` changed."""
    return {
        "kind": "report",
        "report_id": "rep-1",
        "reporter_id": "r1",
        "event_id": "evt-1",
        "account_id": "acct-1",
        "reason": "fraud",
        "category": "fraud",
        "reported_at": 1.0,
        "weight": 0.5,
        "attempt": 1,
        "not_before": 0.0,
        **fields,
    }


async def test_a_signed_decision_older_than_the_strike_window_is_a_replay_and_counts_nowhere(
    worker: Worker, sink: RecordingSink
) -> None:
    """The reporters' records remember their last 1,000 decided reports, so an old signed
    decision re-sent moved a prolific reporter's reliability again (1,001 rejections replayed
    twice counted 3,003; found by an outside probe). A decision older than the strike window is
    a ``stale_signal`` dead letter; a fresh one still counts."""
    report = {
        "report_id": "rep-old",
        "reporter_id": "prolific",
        "event_id": "evt-1",
        "account_id": "acct-1",
        "reason": "spam",
    }
    window = worker.settings.strike_window_s
    old = decision_record(
        MODERATOR_KEY, report, outcome="reject", moderator_id="m1", at=time.time() - 2 * window
    )
    fresh = decision_record(
        MODERATOR_KEY,
        report | {"report_id": "rep-new"},
        outcome="reject",
        moderator_id="m1",
        at=time.time(),
    )
    await put_to(
        worker.collect_moderator_decisions,
        worker.settings.topic("moderator.decisions"),
        [(b"rep-old", orjson.dumps(old)), (b"rep-new", orjson.dumps(fresh))],
        lambda: len(sink.on("moderation.deadletter") + sink.on("reports.by_reporter")) >= 2,
    )
    assert [d["error_kind"] for d in sink.on("moderation.deadletter")] == ["stale_signal"]
    assert [r["report_id"] for r in sink.on("reports.by_reporter")] == ["rep-new"]


async def test_a_signed_decision_dated_in_the_future_counts_nowhere(
    worker: Worker, sink: RecordingSink
) -> None:
    """Only an age past the strike window was refused, so a decision from a clock that ran
    ahead never grew stale: replayable for as long as the topic kept it."""
    report = {
        "report_id": "rep-ahead",
        "reporter_id": "prolific",
        "event_id": "evt-1",
        "account_id": "acct-1",
        "reason": "spam",
    }
    ahead = decision_record(
        MODERATOR_KEY, report, outcome="reject", moderator_id="m1", at=time.time() + 86_400
    )
    await put_to(
        worker.collect_moderator_decisions,
        worker.settings.topic("moderator.decisions"),
        [(b"rep-ahead", orjson.dumps(ahead))],
        lambda: len(sink.on("moderation.deadletter") + sink.on("reports.by_reporter")) >= 1,
    )
    [dead] = sink.on("moderation.deadletter")
    assert dead["error_kind"] == "invalid_value" and "in the future" in dead["error"]
    assert sink.on("reports.by_reporter") == []


async def test_a_report_dated_far_from_now_is_refused_before_it_counts_for_its_reporter(
    worker: Worker, sink: RecordingSink
) -> None:
    """An outside probe's reports dated 1e300, -1e300 and the year 9999 were verified and
    counted for their reporters; only their strikes were refused, later, at enforcement. A
    report more than a strike window from now, either way, is a dead letter before that (a
    reporter's clock an hour off still counts)."""
    seen = {"kind": "seen", "events": [["evt-1", "acct-1"]], "at": time.time()}
    now = time.time()
    dates = {"far-future": 1e300, "far-past": -1e300, "year-9999": 253_402_300_799.0}
    dates |= {"an-hour-ahead": now + 3_600, "now": now}
    reports = [
        _retried_report(report_id=name, reporter_id=name, reported_at=at)
        for name, at in dates.items()
    ]
    records = [(b"evt-1", orjson.dumps(seen))]
    records += [(b"evt-1", orjson.dumps(report)) for report in reports]
    await put_to(
        worker.verify_reports,
        worker.settings.topic("events.by_id"),
        records,
        lambda: len(sink.on("account.strikes")) >= 2,
    )
    dead = sink.on("moderation.deadletter")
    assert sorted(d["error_kind"] for d in dead) == ["stale_report"] * 3
    assert all(len(d["error"]) < 200 for d in dead)  # no 300-digit number
    counted = {r["reporter_id"] for r in sink.on("reports.by_reporter")}
    assert counted == {"an-hour-ahead", "now"}
    assert {s["report_id"] for s in sink.on("account.strikes")} == {"an-hour-ahead", "now"}


async def test_a_flood_of_reports_of_events_that_never_existed_is_checked_about_once_each(
    worker: Worker, sink: RecordingSink
) -> None:
    """An outside probe's 200,000 reports of made-up events were each sent back 20 times after
    moderation had passed them, 21 checks a report, and an honest report waited 72 s behind
    them. Each partition seats ``report_waiting_max`` of them; past that they are refused at
    their first check, and a report of a moderated event counts as before."""
    worker.moderation.until = math.inf  # moderation has passed every report's first check
    capacity = worker.settings.report_waiting_max
    flood = 3 * capacity
    now = time.time()
    seen = {"kind": "seen", "events": [["evt-real", "acct-1"]], "at": now}
    records = [(b"evt-real", orjson.dumps(seen))]
    for i in range(flood):
        ghost = _retried_report(
            report_id=f"ghost-{i}", event_id=f"ghost-{i}", reported_at=now, attempt=0
        )
        records.append((b"ghost", orjson.dumps(ghost)))
    honest = _retried_report(report_id="honest", event_id="evt-real", reported_at=now, attempt=0)
    records.append((b"evt-real", orjson.dumps(honest)))
    await put_to(
        worker.verify_reports,
        worker.settings.topic("events.by_id"),
        records,
        lambda: len(sink.sent) >= flood + 2,
    )
    assert len(sink.on("reports.retry")) == capacity
    dead = sink.on("moderation.deadletter")
    assert len(dead) == flood - capacity
    assert {d["error_kind"] for d in dead} == {"unknown_event"}
    assert f"{capacity} reports already wait" in dead[0]["error"]
    assert [s["report_id"] for s in sink.on("account.strikes")] == ["honest"]
    assert metrics.REPORTS_WAITING._value.get() == capacity


async def test_a_report_waiting_for_a_backlog_is_held_until_moderation_passes_it(
    worker: Worker, sink: RecordingSink
) -> None:
    """While the fleet's moderation is behind, a due report is held rather than sent back
    every ``report_retry_s``: going round once per interval, each waiting report of a two-hour
    backlog was checked 480 times. Once moderation passes its first check it goes back once."""
    worker.moderation.until = -math.inf  # behind
    waiting = _retried_report(waiting_since=time.time(), waited=1)
    while_behind: list[list[dict[str, Any]]] = []

    async def moderation_catches_up() -> None:
        await asyncio.sleep(1.0)
        while_behind.append(sink.on("events.by_id"))
        worker.moderation.until = math.inf

    catching_up = asyncio.create_task(moderation_catches_up())
    await put_to(
        worker.retry_reports,
        worker.settings.topic("reports.retry"),
        [(b"evt-1", orjson.dumps(waiting))],
        lambda: bool(sink.on("events.by_id")),
    )
    await catching_up
    assert while_behind == [[]]
    [back] = sink.on("events.by_id")
    assert back["report_id"] == "rep-1" and back["waited"] == 1


async def test_a_held_batch_goes_back_before_faust_would_call_its_partition_stuck(
    worker: Worker,
) -> None:
    """Faust logs a partition whose stream took nothing, or committed nothing, for 300 s as
    stuck: a batch is held at most ``MOST_HOLD_S`` (then sent back, and held again on its
    next trip), whatever the backlog wait allows."""
    from streams.agents import MOST_HOLD_S

    assert MOST_HOLD_S < 300
    worker.moderation.until = -math.inf  # behind, and stays behind
    waiting = _retried_report(waiting_since=time.time(), waited=1)
    await asyncio.wait_for(worker._hold_while_behind(waiting, time.time() + 0.5), timeout=60)
