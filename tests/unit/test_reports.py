"""Reports as evidence: reason mapping, the seen check, reporter reliability, and the rule that
unconfirmed reports lead at most to review while confirmed ones strike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from streams.enforcement import action_record, apply_strike
from streams.partitioning import partition_for
from streams.records import ReporterStats, StrikeSignal
from streams.reporters import apply_outcome, count_report, reliability, stats_record
from streams.reports import (
    UNMAPPED,
    category_for,
    check_report,
    confirmed_strike,
    most_seen,
    report_record,
    report_strike,
    seen_entries,
    seen_records,
)


def user_report(n: int, *, reporter: str | None = None, reason: str = "fraud") -> dict[str, Any]:
    return {
        "report_id": f"r{n}",
        "reporter_id": reporter or f"reporter-{n}",
        "event_id": f"evt-{n}",
        "account_id": "acct-x",
        "reason": reason,
        "reported_at": 1.0,
        "confirmed": True,  # a user's claim: must not matter
    }


def wire(record: object) -> dict[str, Any]:
    """``record`` as the next hop reads it from its topic."""
    value: dict[str, Any] = orjson.loads(orjson.dumps(record))
    return value


def run(strikes: Sequence[StrikeSignal | dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Feed ``strikes`` to the strikes table's rule as the enforcement agent reads them: JSON."""
    state: dict[str, Any] = {}
    actions = []
    for signal in strikes:
        strike = orjson.loads(orjson.dumps(signal))
        state, action = apply_strike(state, strike, restrict_at=3, suspend_at=6, review_at=1.0)
        if action is not None:
            actions.append(action)
    return state, actions


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("fraud", "fraud"),
        ("Scam", "fraud"),
        ("hate speech", "hate"),
        ("赌博", "gambling"),
        ("porn", "sexual"),
        ("my ex is annoying", UNMAPPED),
        ("", UNMAPPED),
    ],
)
def test_reasons_map_onto_the_taxonomy(reason: str, category: str) -> None:
    assert category_for(reason) == category


def test_a_report_record_drops_the_users_confirmed_claim() -> None:
    record = wire(report_record(user_report(1, reason="spam")))
    assert "confirmed" not in record and record["category"] == "spam"


def test_a_report_counts_only_for_a_seen_event_of_the_named_account() -> None:
    report = wire(report_record(user_report(1)))
    assert check_report(report, "acct-x") is None
    unseen = check_report(report, None)
    assert unseen is not None and unseen.kind == "unknown_event"
    elsewhere = check_report(report, "acct-y")
    assert elsewhere is not None and elsewhere.kind == "account_mismatch"


def test_seen_records_land_on_the_partition_of_every_event_they_carry() -> None:
    events = [(f"event-{i}", f"acct-{i % 7}") for i in range(500)]
    records = seen_records(events, 8, at=5.0)
    assert len(records) == 8  # one per partition, not one per event
    carried: list[Any] = []
    for key, value in records:
        entries = seen_entries(orjson.loads(value))
        partition = partition_for(key, 8)
        assert {partition_for(e.encode(), 8) for e, _ in entries} == {partition}
        carried.extend(entries)
    assert sorted(carried) == sorted(events)


def test_a_seen_record_of_more_events_than_a_batch_is_refused() -> None:
    """A worker's seen record holds one batch's events of one partition; a forged one of
    80,000 held report verification 242 ms."""
    most = most_seen(256)
    [(_, value)] = seen_records([(f"e{i}", "a") for i in range(most + 1)], 1, at=5.0)
    with pytest.raises(ValueError, match="limit"):
        seen_entries(orjson.loads(value), most)
    assert len(seen_entries(orjson.loads(value), most + 1)) == most + 1


def test_a_new_reporter_weighs_half_and_outcomes_move_it() -> None:
    stats: dict[str, Any] = {}
    assert reliability(stats) == 0.5
    for i in range(8):
        stats = apply_outcome(stats, f"bad{i}", "reject")
    assert reliability(stats) == pytest.approx(1 / 10)
    honest: dict[str, Any] = {}
    for i in range(8):
        honest = apply_outcome(honest, f"good{i}", "confirm")
    assert reliability(honest) == pytest.approx(9 / 10)


def test_an_outcome_counts_once_per_report() -> None:
    stats = apply_outcome({}, "r1", "confirm")
    assert apply_outcome(stats, "r1", "confirm") is stats
    assert apply_outcome(stats, "r1", "reject") is stats  # a second opinion does not flip it
    assert apply_outcome(stats, "r2", "maybe") is stats
    stats = count_report(count_report(stats))
    record = stats_record("u1", stats, at=3.0)
    assert record == ReporterStats("u1", 2, 1, 0, round(2 / 3, 4), 3.0)


def test_twelve_reporters_put_an_account_into_review_once_and_never_restrict() -> None:
    strikes = [report_strike(wire(report_record(user_report(i))), 0.5) for i in range(12)]
    state, actions = run(strikes)
    assert actions == ["review_account"]
    assert state.get("strikes", 0.0) == 0.0 and state["report_score"] == 6.0
    record = action_record("acct-x", "review_account", state, 0.0, 1.0)
    assert record.reports == tuple(f"r{i}" for i in range(12))
    assert record.reporters == tuple(f"reporter-{i}" for i in range(12))
    assert record.evidence == tuple(f"evt-{i}" for i in range(12))
    assert record.categories == {"fraud": 6.0}


def test_one_reporter_counts_once_per_account_however_many_report_ids() -> None:
    strikes = [
        report_strike(wire(report_record(user_report(i, reporter="sock"))), 0.5) for i in range(12)
    ]
    state, actions = run(strikes)
    assert actions == [] and state["report_score"] == 0.5 and state["reporters"] == ["sock"]


def test_unreliable_reporters_weigh_less() -> None:
    weight = reliability({"rejected": 10})  # 1/12
    strikes = [report_strike(wire(report_record(user_report(i))), weight) for i in range(11)]
    _, actions = run(strikes)
    assert actions == []  # 11 reporters whose reports keep being rejected: under 1.0
    _, actions = run([*strikes, report_strike(wire(report_record(user_report(99))), 0.5)])
    assert actions == ["review_account"]  # one new reporter more tips it


def decision(n: int, *, event: str | None = None, categories: list[str] | None = None) -> Any:
    return {
        **user_report(n),
        "event_id": event or f"evt-{n}",
        "outcome": "confirm",
        "moderator_id": "mod-1",
        "decided_at": 2.0,
        "categories": categories or [],
    }


def test_confirmed_reports_strike_and_restrict_once_even_after_review() -> None:
    reports = [report_strike(wire(report_record(user_report(i))), 0.5) for i in range(2)]
    confirmed = [confirmed_strike(decision(i), 1.0) for i in range(4)]
    state, actions = run([*reports, *confirmed])
    assert actions == ["review_account", "restrict"]
    assert state["strikes"] == 4.0 and state["categories"] == {"fraud": 4.0}


def test_an_event_counts_once_however_it_is_struck() -> None:
    block = {
        "signal_id": "block:evt-1",
        "kind": "block",
        "event_id": "evt-1",
        "categories": ["fraud"],
        "weight": 1.0,
    }
    state, _ = run(
        [
            block,
            confirmed_strike(decision(1), 1.0),
            confirmed_strike(decision(2, event="evt-1"), 1.0),
        ]
    )
    assert state["strikes"] == 1.0 and state["evidence"] == ["evt-1"]


def test_made_up_reasons_never_become_enforcement_categories() -> None:
    strike = confirmed_strike({**decision(1), "reason": "drop table accounts"}, 1.0)
    assert strike.categories == ()
    strike = confirmed_strike(decision(2, categories=["scam", "nonsense"]), 1.0)
    assert strike.categories == ("fraud",)
