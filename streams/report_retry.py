"""Reports that overtake their event: held and checked again before they are refused.

A report reaches ``verify_reports`` through ``events.by_id``, in the partition that also carries
the ``seen`` records of the events it may name. Under lag a platform shows a message, and a user
reports it, before chatguard has decided it, so the report can arrive before its event's
``seen`` record. Instead of refusing it at once (``unknown_event``), the worker sends it to
``reports.retry`` with its attempt count and the time before which it is not checked again; the
``retry_reports`` agent waits for that time and puts it back on ``events.by_id``. After
``CHATGUARD_REPORT_RETRIES`` attempts, ``CHATGUARD_REPORT_RETRY_S`` apart, it is refused as
before. The waiting reports are in Kafka, so a worker that stops or dies loses none.

The attempts count only once the fleet's moderation has passed the time the report was first
checked (``streams.moderation_progress``): until then its event may be in the backlog, not
missing, and the report waits, up to ``CHATGUARD_REPORT_BACKLOG_WAIT_S``. An attempt counted so
was sent back after every event before that time had its ``seen`` record delivered, so the
record is ahead of it in the partition: a refusal then means the event was never moderated.

``reports.retry`` can be written by whoever can write the broker's topics, like every internal
topic: a forged record waits at most one retry interval whatever time it names, and an attempt
count outside ``[1, CHATGUARD_REPORT_RETRIES]`` is refused, so no record circulates for ever.
The topic is created with the broker's append time as each record's timestamp
(``LogAppendTime``), which no producer sets: a record is due one interval after the broker
took it, so a flood of forged records naming a time far ahead waits one interval in all,
not one interval each, in front of the real reports behind it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import orjson

from chatguard.settings import Settings
from streams import topics
from streams.decoding import Rejected
from streams.pipeline import Outgoing, RawMessage
from streams.records import (
    ConfirmedReport,
    RetriedConfirmation,
    RetriedReport,
    Waiting,
    WeighedReport,
)
from streams.reports import confirmation_problem

# what waits on reports.retry: a user's report, or a moderator's confirmation of one
RETRIED_KINDS = ("report", "confirmation")


def waiting_of(record: dict[str, Any], now: float) -> Waiting:
    """How long ``record`` has waited: its counts, and when it was first checked (``now`` for a
    report on its first pass, never later than ``now``). Raises ``ValueError`` for values no
    worker writes."""
    since = record.get("waiting_since", 0.0)
    if isinstance(since, bool) or not isinstance(since, int | float) or not math.isfinite(since):
        msg = f"waiting_since={since!r:.40} is not a time"
        raise ValueError(msg)
    first_check = now if since <= 0 else min(float(since), now)
    return Waiting(_count(record, "attempt"), _count(record, "waited"), first_check)


def longest_wait(settings: Settings) -> float:
    """How long a report waits for moderation to pass its first check, at most:
    ``report_backlog_wait_s``, and never past the strike window (its event would be gone)."""
    return min(settings.report_backlog_wait_s, settings.strike_window_s)


def most_waits(settings: Settings) -> int:
    """How many times a report is sent back while moderation is behind, at most: once per
    ``report_retry_s`` of :func:`longest_wait` (the retry agent holds it while moderation is
    behind, so it is sent back far fewer times)."""
    return math.ceil(longest_wait(settings) / settings.report_retry_s)


class WaitingRoom:
    """The reports of each partition of ``events.by_id`` that are checked again after the
    fleet's moderation passed them, at most ``report_waiting_max`` at a time.

    Such a report waits for an event its platform sent late, and is checked up to
    ``report_retries`` more times. An outside probe's 200,000 reports of events that never
    existed were each checked 21 times: 767,631 records on ``events.by_id`` after 7.5 min, and
    an honest report waited 72 s behind them, not 0.2 s. Past the room's capacity, a report
    whose event is unknown is refused at its first check (its dead letter keeps it), so a flood
    costs about one check per report. A report leaves when it is verified or refused, or, if
    its partition moved to another worker meanwhile, once its retries would have ended."""

    def __init__(self, settings: Settings) -> None:
        self.capacity = settings.report_waiting_max
        self.stay_s = (settings.report_retries + 2) * settings.report_retry_s * 2
        self._rooms: dict[int, dict[tuple[str, str], float]] = {}

    def enter(self, partition: int, record: dict[str, Any], now: float) -> bool:
        """Seat ``record`` (a report or confirmation checked again from now), or False if its
        partition's room is full."""
        room = self._rooms.setdefault(partition, {})
        key = _seat(record)
        if key not in room and len(room) >= self.capacity:
            for stale in [k for k, until in room.items() if until <= now]:
                del room[stale]
            if len(room) >= self.capacity:
                return False
        room[key] = now + self.stay_s
        return True

    def leave(self, partition: int, record: dict[str, Any]) -> None:
        """``record`` was verified or refused: its seat is free."""
        self._rooms.get(partition, {}).pop(_seat(record), None)

    def waiting(self) -> int:
        """How many reports hold a seat, in every room."""
        return sum(len(room) for room in self._rooms.values())


def _seat(record: dict[str, Any]) -> tuple[str, str]:
    return (str(record.get("report_id"))[:512], str(record.get("event_id"))[:512])


def retry_or_refuse(
    raw: RawMessage,
    record: dict[str, Any],
    refusal: Rejected,
    settings: Settings,
    now: float,
    moderation_passed: Callable[[float], bool],
    room: WaitingRoom | None = None,
) -> list[Outgoing] | Rejected:
    """A report whose event is not known yet, sent to ``reports.retry`` to be checked again
    after ``report_retry_s``; ``refusal`` once it has had its ``report_retries`` since the
    fleet's moderation passed its first check (``moderation_passed(time)``), once it has
    waited ``report_backlog_wait_s`` for moderation to get there, or when its partition's
    ``room`` has no seat for it."""
    waiting = waiting_of(record, now)
    attempt, waited = waiting.attempt, waiting.waited
    if settings.report_retries == 0:
        return refusal
    if moderation_passed(waiting.waiting_since):
        if attempt - waited >= settings.report_retries:
            if room is not None:
                room.leave(raw.partition, record)
            checks = f"checked {attempt + 1} times"
            return Rejected(refusal.kind, f"{refusal.error} ({checks})", refusal.event_id)
        if room is not None and not room.enter(raw.partition, record, now):
            full = f"{room.capacity} reports already wait to be checked again on its partition"
            return Rejected(refusal.kind, f"{refusal.error} ({full})", refusal.event_id)
    elif waited >= most_waits(settings) or now - waiting.waiting_since >= longest_wait(settings):
        behind = f"moderation still behind after {now - waiting.waiting_since:.0f} s"
        return Rejected(refusal.kind, f"{refusal.error} ({behind})", refusal.event_id)
    else:
        waited += 1
    attempt += 1
    waiting = Waiting(attempt, waited, waiting.waiting_since)
    not_before = now + settings.report_retry_s
    retry: RetriedReport | RetriedConfirmation
    if record.get("kind") == "confirmation":
        retry = RetriedConfirmation(**vars(_confirmation(record, waiting)), not_before=not_before)
    else:
        weighed = WeighedReport.of(record, record.get("weight"), waiting)
        retry = RetriedReport(**vars(weighed), not_before=not_before)
    topic = settings.topic(topics.REPORTS_RETRY)
    return [Outgoing(topic, raw.key, orjson.dumps(retry), raw)]


def _count(record: dict[str, Any], name: str) -> int:
    value = record.get(name, 0)
    if type(value) is not int or value < 0:
        msg = f"{name}={value!r:.40} is not a retry count"
        raise ValueError(msg)
    return value


def due_in(
    record: dict[str, Any], settings: Settings, now: float, appended_at: float | None = None
) -> float:
    """Seconds until a ``reports.retry`` record is due: never more than one retry interval,
    whatever time a forged record names, and never later than one interval after
    ``appended_at``, the broker's append time when the topic keeps it. Raises ``ValueError``
    for a record that is not a report sent back by a worker."""
    if record.get("kind") not in RETRIED_KINDS:
        msg = f"kind={record.get('kind')!r}: only reports and confirmations are retried"
        raise ValueError(msg)
    waiting = waiting_of(record, now)
    attempt, waited = waiting.attempt, waiting.waited
    if not (
        attempt >= 1
        and waited <= min(attempt, most_waits(settings))
        and attempt - waited <= settings.report_retries
    ):
        msg = (
            f"attempt={attempt}, waited={waited}: not a report sent back at most "
            f"{settings.report_retries} times after moderation caught up and "
            f"{most_waits(settings)} times before"
        )
        raise ValueError(msg)
    if not isinstance(record.get("event_id"), str):
        msg = "a report names its event_id"
        raise ValueError(msg)
    not_before = record.get("not_before")
    if not isinstance(not_before, int | float) or not math.isfinite(not_before):
        msg = f"not_before={not_before!r} is not a time"
        raise ValueError(msg)
    due = min(float(not_before), now + settings.report_retry_s)
    if appended_at is not None:
        due = min(due, appended_at + settings.report_retry_s)
    return max(due - now, 0.0)


def sent_back(raw: RawMessage, record: dict[str, Any], settings: Settings, now: float) -> Outgoing:
    """A due ``reports.retry`` record (checked by :func:`due_in`), back on ``events.by_id``
    keyed by the event it names, so it lands beside that event's ``seen`` record."""
    report: WeighedReport | ConfirmedReport
    waiting = waiting_of(record, now)
    if record.get("kind") == "confirmation":
        report = _confirmation(record, waiting)
    else:
        report = WeighedReport.of(record, record.get("weight"), waiting)
    key = report.event_id.encode()
    return Outgoing(settings.topic(topics.EVENTS_BY_ID), key, orjson.dumps(report), raw)


def _confirmation(record: dict[str, Any], waiting: Waiting) -> ConfirmedReport:
    """A confirmation (as read back from a topic) with how long it waited; fields that are not a
    confirmation's are left behind. Raises ``ValueError`` for one of the wrong shape."""
    problem = confirmation_problem(record)
    if problem is not None:
        raise ValueError(problem)
    return ConfirmedReport(
        "confirmation",
        record["report_id"],
        record["event_id"],
        record["account_id"],
        cast(Any, record["strike"]),  # as read back: its fields are checked where it counts
        **vars(waiting),
    )
