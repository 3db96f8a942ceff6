"""Reports that overtake their event: held and checked again before they are refused.

A report reaches ``verify_reports`` through ``events.by_id``, in the partition that also carries
the ``seen`` records of the events it may name. Under lag a platform shows a message, and a user
reports it, before chatguard has decided it, so the report can arrive before its event's
``seen`` record. Instead of refusing it at once (``unknown_event``), the worker sends it to
``reports.retry`` with its attempt count and the time before which it is not checked again; the
``retry_reports`` agent waits for that time and puts it back on ``events.by_id``. After
``CHATGUARD_REPORT_RETRIES`` attempts, ``CHATGUARD_REPORT_RETRY_S`` apart, it is refused as
before. The waiting reports are in Kafka, so a worker that stops or dies loses none.

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
    WeighedReport,
)
from streams.reports import confirmation_problem

# what waits on reports.retry: a user's report, or a moderator's confirmation of one
RETRIED_KINDS = ("report", "confirmation")


def attempt_of(record: dict[str, Any]) -> int:
    """How many times ``record`` (a weighed report on ``events.by_id``) was already sent back;
    0 for a report on its first pass. Raises ``ValueError`` for a value no worker writes."""
    attempt = record.get("attempt", 0)
    if type(attempt) is not int or attempt < 0:
        msg = f"attempt={attempt!r} is not a retry count"
        raise ValueError(msg)
    return attempt


def retry_or_refuse(
    raw: RawMessage, record: dict[str, Any], refusal: Rejected, settings: Settings, now: float
) -> list[Outgoing] | Rejected:
    """A report whose event is not known yet, sent to ``reports.retry`` to be checked again
    after ``report_retry_s``; ``refusal`` once it has had its ``report_retries``."""
    attempt = attempt_of(record)
    if attempt >= settings.report_retries:
        return Rejected(
            refusal.kind, f"{refusal.error} (checked {attempt + 1} times)", refusal.event_id
        )
    not_before = now + settings.report_retry_s
    retry: RetriedReport | RetriedConfirmation
    if record.get("kind") == "confirmation":
        retry = RetriedConfirmation(
            **vars(_confirmation(record, attempt + 1)), not_before=not_before
        )
    else:
        weighed = WeighedReport.of(record, record.get("weight"), attempt + 1)
        retry = RetriedReport(**vars(weighed), not_before=not_before)
    topic = settings.topic(topics.REPORTS_RETRY)
    return [Outgoing(topic, raw.key, orjson.dumps(retry), raw)]


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
    if not 1 <= attempt_of(record) <= settings.report_retries:
        msg = f"attempt={record.get('attempt')!r} outside [1, {settings.report_retries}]"
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


def sent_back(raw: RawMessage, record: dict[str, Any], settings: Settings) -> Outgoing:
    """A due ``reports.retry`` record (checked by :func:`due_in`), back on ``events.by_id``
    keyed by the event it names, so it lands beside that event's ``seen`` record."""
    report: WeighedReport | ConfirmedReport
    if record.get("kind") == "confirmation":
        report = _confirmation(record, record["attempt"])
    else:
        report = WeighedReport.of(record, record.get("weight"), record["attempt"])
    key = report.event_id.encode()
    return Outgoing(settings.topic(topics.EVENTS_BY_ID), key, orjson.dumps(report), raw)


def _confirmation(record: dict[str, Any], attempt: int) -> ConfirmedReport:
    """A confirmation (as read back from a topic) with ``attempt``; fields that are not a
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
        attempt,
    )
