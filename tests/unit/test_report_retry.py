"""A report that overtook its event is checked again a bounded number of times, a bounded time
apart, whatever a forged ``reports.retry`` record says; its tries count only once the fleet's
moderation has passed the time it was first checked."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from chatguard.settings import Settings
from streams import topics
from streams.decoding import Rejected
from streams.pipeline import RawMessage
from streams.report_retry import WaitingRoom, due_in, most_waits, retry_or_refuse, sent_back

SETTINGS = Settings(report_retries=3, report_retry_s=10.0, report_backlog_wait_s=60.0)
NOW = 1_000.0


def caught_up(since: float) -> bool:
    """Moderation has passed every time a test asks about."""
    return True


def behind(since: float) -> bool:
    return False


REFUSAL = Rejected(
    "unknown_event", "report r1 names event 'evt-1', which was not moderated", "evt-1"
)


def weighed(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "report",
        "report_id": "r1",
        "reporter_id": "reporter-1",
        "event_id": "evt-1",
        "account_id": "acct-1",
        "reason": "fraud",
        "category": "fraud",
        "reported_at": 990.0,
        "weight": 0.5,
        **fields,
    }


def raw(record: dict[str, Any], topic: str = topics.EVENTS_BY_ID) -> RawMessage:
    return RawMessage(SETTINGS.topic(topic), 0, 7, b"evt-1", orjson.dumps(record))


def test_an_unknown_report_waits_one_interval_and_keeps_everything_it_said() -> None:
    report = weighed()
    [retry] = retry_or_refuse(  # type: ignore[misc]
        raw(report), report, REFUSAL, SETTINGS, NOW, caught_up
    )
    assert retry.topic == SETTINGS.topic(topics.REPORTS_RETRY)
    assert retry.key == b"evt-1"
    value = orjson.loads(retry.value)
    waiting = {"attempt": 1, "waited": 0, "waiting_since": NOW}
    assert value == {**report, **waiting, "not_before": NOW + 10.0}
    assert due_in(value, SETTINGS, NOW) == 10.0
    assert due_in(value, SETTINGS, NOW + 4.0) == 6.0
    assert due_in(value, SETTINGS, NOW + 60.0) == 0.0
    back = sent_back(raw(value, topics.REPORTS_RETRY), value, SETTINGS, NOW + 10.0)
    assert back.topic == SETTINGS.topic(topics.EVENTS_BY_ID) and back.key == b"evt-1"
    assert orjson.loads(back.value) == {**report, **waiting}


def test_after_its_retries_a_report_is_refused_and_says_how_often_it_was_checked() -> None:
    report = weighed()
    for attempt in range(SETTINGS.report_retries):
        result = retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, NOW, caught_up)
        assert isinstance(result, list)
        report = {k: v for k, v in orjson.loads(result[0].value).items() if k != "not_before"}
        assert report["attempt"] == attempt + 1
    refused = retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, NOW, caught_up)
    assert isinstance(refused, Rejected)
    assert refused.kind == "unknown_event" and refused.event_id == "evt-1"
    assert "checked 4 times" in refused.error


def test_while_moderation_is_behind_a_report_waits_without_spending_its_retries() -> None:
    """Under a moderation backlog the event may be waiting to be decided: an outside probe's
    honest reports of a scam were refused after 5 minutes, the scam decided after 21. The
    report waits (``waited``) while moderation has not passed its first check, then has all
    its retries; its first check stays the time it was first seen."""
    report, now = weighed(), NOW
    asked: list[float] = []

    def behind_until_the_fifth_check(since: float) -> bool:
        asked.append(since)
        return len(asked) > 5

    for _ in range(5 + SETTINGS.report_retries):
        result = retry_or_refuse(
            raw(report), report, REFUSAL, SETTINGS, now, behind_until_the_fifth_check
        )
        assert isinstance(result, list)
        report = {k: v for k, v in orjson.loads(result[0].value).items() if k != "not_before"}
        now += SETTINGS.report_retry_s
    assert (report["waited"], report["attempt"]) == (5, 5 + SETTINGS.report_retries)
    assert set(asked) == {NOW}
    refused = retry_or_refuse(
        raw(report), report, REFUSAL, SETTINGS, now, behind_until_the_fifth_check
    )
    assert isinstance(refused, Rejected) and "checked 9 times" in refused.error


def test_a_report_waits_for_a_backlog_no_longer_than_its_setting() -> None:
    report = weighed()
    for _ in range(most_waits(SETTINGS)):
        result = retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, NOW, behind)
        assert isinstance(result, list)
        report = {k: v for k, v in orjson.loads(result[0].value).items() if k != "not_before"}
    assert most_waits(SETTINGS) == 6  # 60 s of waiting, 10 s apart
    refused = retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, NOW, behind)
    assert isinstance(refused, Rejected) and refused.kind == "unknown_event"
    assert "moderation still behind" in refused.error


def test_a_report_held_through_the_whole_backlog_wait_is_refused_at_its_next_check() -> None:
    """The retry agent holds a report while moderation is behind (``Worker._hold_while_behind``)
    rather than sending it round every interval, so it comes back once, not 480 times: its
    wait is measured from its first check, not counted in trips."""
    report = weighed()
    [first] = retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, NOW, behind)  # type: ignore[misc]
    report = orjson.loads(first.value)
    assert report["waited"] == 1
    later = NOW + SETTINGS.report_backlog_wait_s - 1
    assert isinstance(retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, later, behind), list)
    refused = retry_or_refuse(raw(report), report, REFUSAL, SETTINGS, later + 1, behind)
    assert isinstance(refused, Rejected)
    assert "moderation still behind after 60 s" in refused.error


def test_a_backlog_wait_never_outlasts_the_strike_window() -> None:
    """After a strike window the recent-events store has dropped the event: waiting longer
    could only end in a refusal."""
    short = Settings(report_retry_s=10.0, report_backlog_wait_s=7_200.0, strike_window_s=120.0)
    assert most_waits(short) == 12


def test_with_no_retries_an_unknown_report_is_refused_at_once() -> None:
    report = weighed()
    refused = retry_or_refuse(raw(report), report, REFUSAL, Settings(report_retries=0), NOW, behind)
    assert isinstance(refused, Rejected) and refused.kind == "unknown_event"


def test_a_forged_time_far_ahead_waits_no_longer_than_one_interval() -> None:
    assert due_in(weighed(attempt=1, not_before=1e300), SETTINGS, NOW) == 10.0


def test_a_record_is_due_one_interval_after_the_broker_took_it_whatever_it_names() -> None:
    """With the broker's append time, a flood of forged far-ahead times waits one interval in
    all: each record is due one interval after it was appended, not after it is read."""
    forged = weighed(attempt=1, not_before=1e300)
    assert due_in(forged, SETTINGS, NOW, appended_at=NOW - 4.0) == 6.0
    assert due_in(forged, SETTINGS, NOW, appended_at=NOW - 60.0) == 0.0
    honest = weighed(attempt=1, not_before=NOW + 3.0)  # written 7 s before the broker took it
    assert due_in(honest, SETTINGS, NOW, appended_at=NOW) == 3.0


@pytest.mark.parametrize(
    "forged",
    [
        weighed(attempt=0, not_before=NOW),  # never sent back by a worker
        weighed(attempt=0, waited=0, not_before=NOW),
        weighed(attempt=4, not_before=NOW),  # more than the retries
        weighed(attempt=7, waited=7, not_before=NOW),  # waited longer than the setting allows
        weighed(attempt=2, waited=3, not_before=NOW),  # waited more often than sent back
        weighed(attempt=9, waited=5, not_before=NOW),  # 4 retries after catching up
        weighed(waited=-1, attempt=1, not_before=NOW),
        weighed(waited=1, waiting_since=float("nan"), not_before=NOW),
        weighed(waited=1, waiting_since="then", not_before=NOW),
        weighed(attempt=-1, not_before=NOW),
        weighed(attempt=1.5, not_before=NOW),
        weighed(attempt=True, not_before=NOW),
        weighed(attempt="1", not_before=NOW),
        weighed(attempt=1),  # no time
        weighed(attempt=1, not_before="soon"),
        weighed(attempt=1, not_before=None),
        weighed(attempt=1, not_before=NOW, event_id=7),
        {**weighed(attempt=1, not_before=NOW), "kind": "seen"},
    ],
)
def test_a_forged_retry_record_is_refused(forged: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        due_in(forged, SETTINGS, NOW)


def test_a_forged_attempt_count_on_events_by_id_is_refused() -> None:
    with pytest.raises(ValueError):
        retry_or_refuse(raw({}), weighed(attempt="many"), REFUSAL, SETTINGS, NOW, caught_up)
    with pytest.raises(ValueError):
        retry_or_refuse(raw({}), weighed(waiting_since=True), REFUSAL, SETTINGS, NOW, behind)


def test_a_forged_first_check_in_the_future_is_read_as_now() -> None:
    """A time ahead would have a report wait for moderation to pass it: bounded by the
    setting anyway, but read as the time of the check."""
    report = weighed(waiting_since=1e300)
    [retry] = retry_or_refuse(  # type: ignore[misc]
        raw(report), report, REFUSAL, SETTINGS, NOW, behind
    )
    assert orjson.loads(retry.value)["waiting_since"] == NOW


def test_settings_refuse_retry_values_outside_their_range() -> None:
    with pytest.raises(Exception, match="report_retries"):
        Settings.from_env({"CHATGUARD_REPORT_RETRY_S": "0"})
    with pytest.raises(Exception, match="report_retries"):
        Settings.from_env({"CHATGUARD_REPORT_RETRIES": "-1"})
    with pytest.raises(Exception, match="report_backlog_wait_s"):
        Settings.from_env({"CHATGUARD_REPORT_BACKLOG_WAIT_S": "-5"})


def test_a_confirmation_before_its_event_waits_like_a_report_and_comes_back_whole() -> None:
    """A moderator's confirmation is checked against the recent-events store too; one that
    reaches it before its event's ``seen`` record waits instead of being refused."""
    strike = {"signal_id": "confirmed:evt-1", "kind": "confirmed", "weight": 1.0}
    confirmation = {
        "kind": "confirmation",
        "report_id": "r1",
        "event_id": "evt-1",
        "account_id": "acct-1",
        "strike": strike,
        "attempt": 0,
        "extra": "left behind",
    }
    for attempt in range(SETTINGS.report_retries):
        [retry] = retry_or_refuse(  # type: ignore[misc]
            raw(confirmation), confirmation, REFUSAL, SETTINGS, NOW, caught_up
        )
        value = orjson.loads(retry.value)
        kept = {k: v for k, v in confirmation.items() if k != "extra"}
        waiting = {"attempt": attempt + 1, "waited": 0, "waiting_since": NOW}
        assert value == kept | waiting | {"not_before": NOW + 10.0}
        assert due_in(value, SETTINGS, NOW) == 10.0
        back = sent_back(raw(value, topics.REPORTS_RETRY), value, SETTINGS, NOW)
        confirmation = orjson.loads(back.value)
        assert confirmation["kind"] == "confirmation" and confirmation["strike"] == strike
        assert confirmation["attempt"] == attempt + 1
    refused = retry_or_refuse(raw(confirmation), confirmation, REFUSAL, SETTINGS, NOW, caught_up)
    assert isinstance(refused, Rejected) and refused.kind == "unknown_event"
    with pytest.raises(ValueError, match="strike"):
        malformed = {**confirmation, "strike": "x", "attempt": 0}
        retry_or_refuse(raw(malformed), malformed, REFUSAL, SETTINGS, NOW, caught_up)


def test_past_the_rooms_capacity_an_unknown_events_report_is_refused_at_its_first_check() -> None:
    """200,000 reports of events that never existed were each checked 21 times, and an honest
    report waited 72 s behind them. A partition seats ``report_waiting_max`` reports checked
    again after moderation passed them; the others are refused at once, and a seat is free
    again when its report is refused or verified."""
    settings = Settings(report_retries=3, report_retry_s=10.0, report_waiting_max=2)
    room = WaitingRoom(settings)
    reports = [weighed(report_id=f"r{i}", event_id=f"ghost-{i}") for i in range(3)]
    outcomes = [
        retry_or_refuse(raw(r), r, REFUSAL, settings, NOW, caught_up, room) for r in reports
    ]
    assert [isinstance(o, list) for o in outcomes] == [True, True, False]
    refused = outcomes[2]
    assert isinstance(refused, Rejected) and refused.kind == "unknown_event"
    assert "2 reports already wait" in refused.error
    assert room.waiting() == 2
    # another partition has a room of its own
    other = RawMessage(SETTINGS.topic(topics.EVENTS_BY_ID), 1, 7, b"evt-1", b"{}")
    assert isinstance(
        retry_or_refuse(other, reports[2], REFUSAL, settings, NOW, caught_up, room), list
    )
    # a seat stays with its report through its checks, and is free once it is refused
    again = orjson.loads(outcomes[0][0].value)  # type: ignore[index]
    for _ in range(settings.report_retries - 1):
        [back] = retry_or_refuse(raw(again), again, REFUSAL, settings, NOW, caught_up, room)  # type: ignore[misc]
        again = orjson.loads(back.value)
    assert isinstance(
        retry_or_refuse(raw(again), again, REFUSAL, settings, NOW, caught_up, room), Rejected
    )
    assert isinstance(
        retry_or_refuse(raw(reports[2]), reports[2], REFUSAL, settings, NOW, caught_up, room), list
    )
    # while moderation is behind, reports wait without a seat (they may not be late at all)
    assert isinstance(
        retry_or_refuse(
            raw(weighed(report_id="r9")),
            weighed(report_id="r9"),
            REFUSAL,
            settings,
            NOW,
            behind,
            room,
        ),
        list,
    )
    assert room.waiting() == 3


def test_a_seat_whose_report_went_to_another_worker_is_free_once_its_retries_would_have_ended() -> (
    None
):
    settings = Settings(report_retries=3, report_retry_s=10.0, report_waiting_max=1)
    room = WaitingRoom(settings)
    assert room.enter(0, weighed(report_id="moved"), NOW)
    assert not room.enter(0, weighed(report_id="next"), NOW + 1)
    assert room.enter(0, weighed(report_id="next"), NOW + room.stay_s + 1)
